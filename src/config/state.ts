// The shape of a converted configuration: plain data plus compiled regexes, built whole by
// convert.ts and never mutated afterwards (a reload builds a new one).
import type { SocketOptions } from '../nginx/listen.ts';
import type { ConfNode } from '../nginx/types.ts';
import type { GeoBlock } from '../nginx/geo.ts';
import type { RegexIndex } from './regex.ts';
import type { LeadingIndex, TrieNode } from './trie.ts';

export type { GeoBlock };

// ---------- main context ----------

export interface MainSettings {
  /** `user USER [GROUP]`; undefined when the directive is absent (nginx then uses nobody when root). */
  user?: { user: string; group?: string };
  /** A count, or 'auto' (one per core). */
  workerProcesses: number | 'auto';
  /** Absolute pid file path (Debian default /run/nginx.pid). */
  pid: string;
  daemon: boolean;
  masterProcess: boolean;
  errorLogs: LogTarget[];
  /** events { worker_connections } (512 by default): each worker's connection slots. */
  workerConnections: number;
}

export interface LogTarget {
  /** Absolute path, `stderr`, `syslog:…` or `memory:…` as written. */
  path: string;
  level?: string;
}

// ---------- listen sockets ----------

export interface ListenSocket extends SocketOptions {
  /** nginx's own text for it: `0.0.0.0:80`, `[::]:443`, `127.0.0.1:8080`, `unix:/run/x.sock`. */
  key: string;
  family: 'ipv4' | 'ipv6' | 'unix';
  /** Address to bind: `0.0.0.0`, `::`, an IP literal, or the unix path. */
  host: string;
  port: number;
  wildcard: boolean;
  /**
   * Whether nginx binds a socket of its own for this address. A specific address without `bind`
   * on a port that also has the wildcard is served by the wildcard socket (the server table is
   * still this address's: see addressKeyFor).
   */
  bound: boolean;
  ssl: boolean;
  http2: boolean;
  proxyProtocol: boolean;
  defaultServer: boolean;
  /** Only meaningful for IPv6 wildcard sockets; nginx's default is on. */
  ipv6only: boolean;
  /** Where the socket options were given (or the first listen for it). */
  file: string;
  line: number;
}

// ---------- server selection ----------

export interface ServerTable {
  /** The ListenSocket key this table belongs to. */
  key: string;
  /** Servers listening on this address, in configuration order. */
  servers: readonly ServerConf[];
  defaultServer: ServerConf;
  exact: ReadonlyMap<string, ServerConf>;
  /** `*.example.com` / `.example.com`, most specific first; `suffix` includes the leading dot. */
  leadingWildcards: readonly { suffix: string; matchesBare: boolean; server: ServerConf }[];
  /** `www.example.*`, most specific first; `prefix` includes the trailing dot. */
  trailingWildcards: readonly { prefix: string; server: ServerConf }[];
  /** `~regex` names in configuration order. */
  regexes: readonly { name: string; regex: RegExp; server: ServerConf }[];
  /** Prefilter over `regexes` (absent: try them all). */
  regexIndex?: RegexIndex;
  /** `leadingWildcards` as a suffix trie (absent: scan the list). */
  leadingIndex?: LeadingIndex<ServerTable['leadingWildcards'][number]>;
  /** `trailingWildcards` as a prefix trie (absent: scan the list). */
  trailingIndex?: TrieNode<ServerTable['trailingWildcards'][number]>;
}

export interface ServerName {
  /** As written (lowercased unless a regex). */
  name: string;
  kind: 'exact' | 'leading' | 'trailing' | 'regex';
  regex?: RegExp;
}

// ---------- per-level settings ----------

/** valid_referers: what $invalid_referer accepts (ngx_http_referer_module). */
export interface ValidReferers {
  /** `none`: no Referer header. */
  none: boolean;
  /** `blocked`: a Referer without http:// or https:// (removed by a firewall or proxy). */
  blocked: boolean;
  /** `server_names`: the names of the request's server. */
  serverNames: boolean;
  /** Host names (lowercased) and, where one was given, the URI prefix the rest must start with. */
  exact: ReadonlyMap<string, string | undefined>;
  /** `*.example.com` / `.example.com`, longest first. */
  leading: readonly { suffix: string; matchesBare: boolean; uri?: string }[];
  /** `www.example.*`, longest first. */
  trailing: readonly { prefix: string; uri?: string }[];
  /** `~regex`, matched (caselessly) against the referer after its scheme. */
  regexes: readonly RegExp[];
}

/** sub_filter and its settings (http/sub-filter.ts). */
export interface SubFilterSettings {
  /** The strings and their replacements (both may hold variables). */
  pairs: readonly { match: string; replacement: string }[];
  once: boolean;
  /** text/html and sub_filter_types', lowercased; `*` for all. */
  types: readonly string[];
  lastModified: boolean;
}

/** A proxy_cookie_domain / proxy_cookie_path rule (http/proxy-cookie.ts). */
export interface CookieRule {
  /** Text (variables allowed), or a regex. */
  pattern: string | RegExp;
  replacement: string;
}

export interface CookieFlagsRule {
  cookie: string | RegExp;
  flags: readonly string[];
}

/** What one location does to Set-Cookie (absent parts: nothing). */
export interface CookieRewrite {
  domains?: readonly CookieRule[];
  paths?: readonly CookieRule[];
  flags?: readonly CookieFlagsRule[];
}

/** How an https upstream is checked, and the name it is checked against and sent (SNI). */
export interface ProxySsl {
  verify: boolean;
  /** CA certificates the upstream's chain must lead to (full path). */
  trustedCertificate?: string;
  /** Intermediate CAs allowed (the verified chain is at most depth + 2 long). */
  verifyDepth: number;
  /** proxy_ssl_name (variables allowed); absent: the proxy_pass host. */
  name?: string;
  /** proxy_ssl_server_name: send the name as SNI (never an IP address). */
  serverName: boolean;
  /** proxy_ssl_certificate and _key: the client certificate presented to the upstream (full paths). */
  certificate?: string;
  certificateKey?: string;
}

export interface ProxyPass {
  /** As written. */
  raw: string;
  scheme: 'http' | 'https' | 'unix' | 'variable';
  /** Upstream group name or host[:port] (with port when given); '' when the whole URL is variable. */
  host: string;
  port?: number;
  /** The upstream{} group this refers to, when one of that name exists. */
  upstream?: string;
  /** Text after host[:port], e.g. `/v1/`; undefined when the URL has no URI part. */
  uri?: string;
  hasVariables: boolean;
}

/** *_pass: an address (`host:port`, `unix:/path`), an upstream{} name, or text with variables. */
export interface FastcgiPass {
  raw: string;
  hasVariables: boolean;
}

export interface FastcgiParam {
  name: string;
  value: string;
  /** `if_not_empty`: the parameter is left out when its value is empty. */
  ifNotEmpty: boolean;
}

/** The fastcgi_*, uwsgi_* or scgi_* directives bext models (the rest are read from the levels per location). */
export interface CgiSettings {
  /** Not inherited (but by `if` and `limit_except` blocks), as proxy_pass. */
  pass?: FastcgiPass;
  /** *_param, inherited as a whole: a level with any replaces its parent's. */
  params: readonly FastcgiParam[];
  connectTimeoutMs: number;
  readTimeoutMs: number;
  sendTimeoutMs: number;
  nextUpstream: readonly string[];
  interceptErrors: boolean;
  /** fastcgi_keep_conn (always off for uwsgi and SCGI). */
  keepConn: boolean;
}

export interface FastcgiSettings extends CgiSettings {
  /** fastcgi_index: appended to $fastcgi_script_name when it ends with `/`. */
  index: string;
  /** fastcgi_split_path_info: the regex and its source (for error lines). */
  split?: { source: string; regex: RegExp };
}

export interface HeaderSetting {
  name: string;
  value: string;
  always: boolean;
}

export interface ErrorPage {
  codes: number[];
  /** `=code` → that code; `=` alone → 'upstream' (the response's own code); undefined = keep. */
  overwrite?: number | 'upstream';
  uri: string;
}

export interface AccessRule {
  allow: boolean;
  /** `all`, an address, a CIDR, or `unix:`. */
  what: string;
}

export interface AccessLog {
  path: string;
  format: string;
  ifCondition?: string;
  buffer?: number;
  flush?: number;
  gzip?: number;
}

export interface LimitReqRef {
  zone: string;
  burst: number;
  nodelay: boolean;
  delay?: number;
}

export interface GzipSettings {
  enabled: boolean;
  types: string[];
  minLength: number;
  compLevel: number;
  vary: boolean;
  proxied: string[];
  httpVersion: string;
  disable: string[];
}

export type IfCondition =
  | { kind: 'value'; value: string }
  | { kind: 'compare'; op: '=' | '!='; left: string; right: string }
  | { kind: 'regex'; op: '~' | '~*' | '!~' | '!~*'; left: string; source: string; regex: RegExp }
  | { kind: 'file'; op: '-f' | '!-f' | '-d' | '!-d' | '-e' | '!-e' | '-x' | '!-x'; operand: string };

/** The rewrite module's directives of one level, in order (they run as one program). */
export type RewriteOp =
  | { op: 'rewrite'; source: string; regex: RegExp; replacement: string; flag: 'last' | 'break' | 'redirect' | 'permanent' | null; file: string; line: number }
  | { op: 'return'; code: number; text?: string; file: string; line: number }
  | { op: 'set'; variable: string; value: string; file: string; line: number }
  | { op: 'break'; file: string; line: number }
  | { op: 'if'; condition: IfCondition; block: LocationConf; file: string; line: number };

export interface Expires {
  /** `off`, `epoch`, `max`, or a time (modified: relative to the file's mtime; daily: `@` time of day). */
  kind: 'off' | 'epoch' | 'max' | 'time' | 'variable';
  seconds?: number;
  modified?: boolean;
  daily?: boolean;
  raw: string[];
}

/** Everything the request pipeline needs at one location (server/http values merged down). */
/** ngx_http_realip_module's settings at a level (set_real_ip_from, real_ip_header, real_ip_recursive). */
export interface RealIpSettings {
  /** Trusted peers: addresses, CIDRs, `unix:`. Empty: the module does nothing here. */
  from: readonly string[];
  /** The header's name in lower case (`x-real-ip` by default), or `proxy_protocol`. */
  header: string;
  recursive: boolean;
}

/** Where a request body read for proxy_pass is kept (client_body_buffer_size, _temp_path, _in_file_only). */
export interface ClientBodySettings {
  /** client_body_buffer_size: bodies that fit stay in memory. */
  bufferSize: number;
  /** client_body_temp_path, prefix-resolved, without a trailing slash. */
  tempPath: string;
  /** Its levels: digits of the file name taken, from the end, for each subdirectory. */
  levels: readonly number[];
  /** client_body_in_file_only: `on` keeps the file, `clean` removes it after the request. */
  inFileOnly: 'off' | 'on' | 'clean';
}

export interface LocationConf {
  root: { path: string; alias: boolean; hasVariables: boolean };
  index: readonly string[];
  /** Not inherited: try_files only acts in the level that has it. */
  tryFiles?: readonly string[];
  rewrite: readonly RewriteOp[];
  errorPages: readonly ErrorPage[];
  addHeaders: readonly HeaderSetting[];
  expires?: Expires;
  proxyPass?: ProxyPass;
  /** fastcgi_pass and the fastcgi_* settings in effect (http/fastcgi.ts). */
  fastcgi: FastcgiSettings;
  /** uwsgi_pass and its settings (http/uwsgi.ts). */
  uwsgi: CgiSettings;
  /** scgi_pass and its settings (http/scgi.ts). */
  scgi: CgiSettings;
  /** memcached_pass and its timeouts and next_upstream (http/memcached.ts; no parameters). */
  memcached: CgiSettings;
  /** grpc_pass and its timeouts, next_upstream and intercept_errors (http/grpc.ts; no parameters). */
  grpc: CgiSettings;
  /** grpc_ssl_verify, _trusted_certificate, _verify_depth, _name, _server_name, _certificate(_key). */
  grpcSsl: ProxySsl;
  /**
   * A content handler bext does not implement (none today): such a location answers
   * 502, never the files under its root (a script's source).
   */
  unservedPass?: string;
  /** limit_rate (variables allowed; absent or 0: none) and limit_rate_after, in bytes. */
  limitRate?: string;
  limitRateAfter: number;
  /** secure_link and secure_link_md5 (each inherited on its own). */
  secureLink?: { variable?: string; md5?: string };
  /** secure_link_secret (the older form). */
  secureLinkSecret?: string;
  /** disable_symlinks (absent: off); `from` may hold variables. */
  disableSymlinks?: { mode: 'on' | 'if_not_owner'; from?: string };
  /** sub_filter and the rest (always there; without strings it does nothing). */
  subFilter: SubFilterSettings;
  /** empty_gif: the location answers with a 1×1 transparent GIF. */
  emptyGif?: boolean;
  /** valid_referers (absent: none at this level or above; $invalid_referer is then empty). */
  validReferers?: ValidReferers;
  /** auth_request's URI (absent: off): the subrequest whose status lets the request in (http/auth-request.ts). */
  authRequest?: string;
  /** auth_request_set: variables set from the authorization subrequest (inherited as a whole). */
  authRequestSet: readonly { name: string; value: string }[];
  proxySetHeaders: readonly { name: string; value: string }[];
  proxyHttpVersion: string;
  /** proxy_ssl_verify, _trusted_certificate, _verify_depth, _name, _server_name. */
  proxySsl: ProxySsl;
  /** proxy_cookie_domain, _path, _flags (each inherited on its own; absent: off). */
  proxyCookie: CookieRewrite;
  /** `default`, `off`, or explicit pairs (with `~`/`~*` regexes compiled). */
  proxyRedirect: 'default' | 'off' | readonly { from: string; regex?: RegExp; to: string }[];
  proxyBuffering: boolean;
  proxyConnectTimeoutMs: number;
  proxyReadTimeoutMs: number;
  proxySendTimeoutMs: number;
  proxyNextUpstream: readonly string[];
  proxyInterceptErrors: boolean;
  clientMaxBodySize: number;
  clientBody: ClientBodySettings;
  realIp?: RealIpSettings;
  access: readonly AccessRule[];
  /** realm `off` means auth_basic is switched off at this level. */
  authBasic?: { realm: string; userFile?: string };
  limitReq: readonly LimitReqRef[];
  limitConn: readonly { zone: string; conn: number }[];
  limitReqStatus: number;
  limitConnStatus: number;
  gzip: GzipSettings;
  /** `off` turns logging off at this level. */
  accessLog: 'off' | readonly AccessLog[];
  errorLog: readonly LogTarget[];
  defaultType: string;
  /** Lowercase extension → MIME type. */
  types: ReadonlyMap<string, string>;
  autoindex: boolean;
  serverTokens: 'on' | 'off' | 'build';
  absoluteRedirect: boolean;
  portInRedirect: boolean;
  serverNameInRedirect: boolean;
  keepaliveTimeoutMs: number;
  /** keepalive_requests: the request that reaches it on a connection is its last (keep-alive off). */
  keepaliveRequests: number;
  /** keepalive_timeout's second argument: `Keep-Alive: timeout=N` (seconds) when given. */
  keepaliveHeaderSec?: number;
  /** client_header_timeout (http/server only: the default server of a socket decides). */
  clientHeaderTimeoutMs: number;
  clientBodyTimeoutMs: number;
  sendTimeoutMs: number;
  /** `etag on|off`. */
  etag: boolean;
  ifModifiedSince: 'off' | 'exact' | 'before';
  /** `max_ranges N`; undefined = unlimited. */
  maxRanges?: number;
  autoindexExactSize: boolean;
  autoindexFormat: 'html' | 'json' | 'xml' | 'jsonp';
  autoindexLocaltime: boolean;
  /** `charset NAME` (spelled as the config first spelled it); undefined = off. */
  charset?: string;
  /** Lowercase MIME types the charset applies to (text/html always), or ['*']. */
  charsetTypes: readonly string[];
  sourceCharset?: string;
  /** `log_not_found off` drops the error-log line of a missing file. */
  logNotFound: boolean;
  /** uninitialized_variable_warn: a `set` variable read before anything set it is logged. */
  uninitializedVariableWarn: boolean;
  recursiveErrorPages: boolean;
  chunkedTransferEncoding: boolean;
  stubStatus: boolean;
  internal: boolean;
  /** `limit_except METHODS { … }`: methods allowed freely (GET implies HEAD), and the block's conf. */
  limitExcept?: { methods: readonly string[]; conf: LocationConf };
  /** This level's own directives, for whatever is not modelled. */
  directives: readonly ConfNode[];
}

// ---------- locations ----------

export type LocationKind = 'exact' | 'prefix' | 'prefix-noregex' | 'regex' | 'regex-caseless' | 'named';

export interface Location {
  kind: LocationKind;
  /** The URI, regex source, or @name as written. */
  name: string;
  regex?: RegExp;
  /** Redirect `/x` to `/x/` (a prefix ending in `/` whose handler is an upstream *_pass). */
  autoRedirect: boolean;
  conf: LocationConf;
  nested: LocationLevel;
  file: string;
  line: number;
}

/** The locations of one block (server or location), ready for nginx's search order. */
export interface LocationLevel {
  exact: ReadonlyMap<string, Location>;
  /** Prefix locations (plain and ^~), longest first. */
  prefixes: readonly Location[];
  /** Regex locations in configuration order. */
  regexes: readonly Location[];
  /** Prefilter over `regexes` (absent: try them all). */
  regexIndex?: RegexIndex;
  /** `prefixes` as a trie: the deepest entry on a URI's path is its longest prefix (absent: scan). */
  prefixIndex?: TrieNode<Location>;
  /** Auto-redirect locations by name, the exact one first (absent: search exact and prefixes). */
  redirects?: ReadonlyMap<string, Location>;
}

// ---------- servers ----------

export interface TlsSettings {
  certificates: readonly { certificate: string; key: string }[];
  protocols: readonly string[];
  ciphers: string;
  preferServerCiphers: boolean;
  sessionCache?: string[];
  sessionTimeoutSec: number;
  sessionTickets: boolean;
  /** ssl_session_ticket_key files (full paths): the first makes and reads tickets (see secure-contexts.ts). */
  ticketKeyFiles?: readonly string[];
  dhparam?: string;
  /** ssl_trusted_certificate: CA certificates client certificates are verified with (not sent as names). */
  trustedCertificate?: string;
  stapling: boolean;
  /** ssl_verify_client (absent: off): client certificates are asked for, verified, and checked per request. */
  verifyClient?: 'on' | 'optional' | 'optional_no_ca';
  /** ssl_verify_depth: how many intermediate CAs a client chain may have (verified chain ≤ depth + 2). */
  verifyDepth: number;
  /** ssl_client_certificate: CA certificates to verify with, whose names are sent to clients. */
  clientCertificate?: string;
  /** ssl_crl: revocation lists checked for every certificate of a client chain. */
  crl?: string;
  /** ssl_reject_handshake on: handshakes that pick this server are refused (no certificate needed). */
  rejectHandshake?: boolean;
}

export interface ServerConf {
  /** Index in configuration order across the whole config. */
  index: number;
  names: readonly ServerName[];
  /** `$server_name`: the first name ('' if none). */
  primaryName: string;
  /** ListenSocket keys this server listens on. */
  listenKeys: readonly string[];
  /** The server-level conf (used when no location matches, and for server-level rewrite). */
  conf: LocationConf;
  locations: LocationLevel;
  named: ReadonlyMap<string, Location>;
  mergeSlashes: boolean;
  /** ignore_invalid_headers and underscores_in_headers (read from the server the head is parsed under). */
  ignoreInvalidHeaders: boolean;
  underscoresInHeaders: boolean;
  /** max_headers (Debian's backport; 1000 by default): a request with more header lines is refused, 400. */
  maxHeaders: number;
  /** Set when any of the server's listens has `ssl`. */
  tls?: TlsSettings;
  file: string;
  line: number;
}

// ---------- http-level tables ----------

export interface UpstreamServer {
  address: string;
  weight: number;
  maxFails: number;
  failTimeoutMs: number;
  backup: boolean;
  down: boolean;
  maxConns: number;
  file: string;
  line: number;
}

export interface UpstreamGroup {
  name: string;
  servers: readonly UpstreamServer[];
  method: { kind: 'round-robin' } | { kind: 'least_conn' } | { kind: 'ip_hash' } | { kind: 'hash'; key: string; consistent: boolean } | { kind: 'random'; twoChoices: boolean };
  keepalive?: number;
  keepaliveTimeoutMs: number;
  keepaliveRequests: number;
  /** Implicit groups are made from proxy_pass host:port without an upstream block. */
  implicit: boolean;
  file: string;
  line: number;
}

export interface LimitReqZone {
  name: string;
  key: string;
  size: number;
  /** Requests per second (r/m converted). */
  ratePerSecond: number;
  file: string;
  line: number;
}

export interface LimitConnZone {
  name: string;
  key: string;
  size: number;
  file: string;
  line: number;
}

/** A split_clients block: parts in order, each up to a hash bound (0: `*`, the rest). */
export interface SplitClientsBlock {
  key: string;
  /** Without the `$`. */
  variable: string;
  parts: readonly { upTo: number; value: string }[];
}

export interface MapBlock {
  source: string;
  /** Without the `$`. */
  variable: string;
  hostnames: boolean;
  volatile: boolean;
  default: string;
  /** Keys lowercased: nginx matches exact keys case-insensitively (look up the lowercased value). */
  exact: ReadonlyMap<string, string>;
  /** hostnames wildcards, most specific first. */
  leadingWildcards: readonly { suffix: string; matchesBare: boolean; value: string }[];
  trailingWildcards: readonly { prefix: string; value: string }[];
  regexes: readonly { source: string; regex: RegExp; value: string }[];
  /** `leadingWildcards` as a suffix trie (absent: scan the list). */
  leadingIndex?: LeadingIndex<MapBlock['leadingWildcards'][number]>;
  /** `trailingWildcards` as a prefix trie (absent: scan the list). */
  trailingIndex?: TrieNode<MapBlock['trailingWildcards'][number]>;
  /** Prefilter over `regexes` (absent: try them all). */
  regexIndex?: RegexIndex;
  file: string;
  line: number;
}

export interface LogFormat {
  name: string;
  escape: 'default' | 'json' | 'none';
  format: string;
}

export interface TlsCertificateEntry {
  /** ServerConf.index. */
  server: number;
  names: readonly ServerName[];
  listenKeys: readonly string[];
  tls: TlsSettings;
}

export interface RoutingState {
  main: MainSettings;
  paths: { prefix: string; confPrefix: string; confFile: string };
  listens: readonly ListenSocket[];
  /** Server table per ListenSocket key. */
  tables: ReadonlyMap<string, ServerTable>;
  servers: readonly ServerConf[];
  upstreams: ReadonlyMap<string, UpstreamGroup>;
  limitReqZones: ReadonlyMap<string, LimitReqZone>;
  limitConnZones: ReadonlyMap<string, LimitConnZone>;
  maps: readonly MapBlock[];
  geos: readonly GeoBlock[];
  splitClients: readonly SplitClientsBlock[];
  logFormats: ReadonlyMap<string, LogFormat>;
  /** Every server with TLS, in configuration order (the first per address is the SNI default). */
  tls: readonly TlsCertificateEntry[];
  /** The http{} block's own directives (undefined if there is no http block). */
  httpDirectives?: readonly ConfNode[];
}
