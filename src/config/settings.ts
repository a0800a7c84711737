// Per-level settings (http → server → location → nested location / if / limit_except), merged the
// way nginx's merge_loc_conf callbacks do: a scalar not set here takes the parent's; array
// directives (add_header, proxy_set_header, error_page, access_log, allow/deny, limit_req …) are
// inherited only when this level defines none of that directive.
import type { ConfNode } from '../nginx/types.ts';
import { parseIfCondition } from '../nginx/if-condition.ts';
import { parseFlag, parseOffset, parseSize, parseTime, parseUrl, upstreamUrl } from '../nginx/values.ts';
import { confError, fullPath, hasVariables, warn, type ConvertContext } from './context.ts';
import { captureCount, compileRegex } from './regex.ts';
import type {
  AccessLog, CgiSettings, ClientBodySettings, ErrorPage, Expires, FastcgiSettings, GzipSettings, HeaderSetting, IfCondition, LimitReqRef, CookieRewrite, CookieRule, LocationConf, LogTarget, ProxyPass, ProxySsl, RewriteOp, ValidReferers,
} from './state.ts';

export type LevelKind = 'http' | 'server' | 'location' | 'if' | 'limit_except';

export interface LevelInfo {
  kind: LevelKind;
  /** For locations: regex or named ones cannot have a proxy_pass URI part. */
  regexOrNamed?: boolean;
}

/** Debian's compiled-in access log (--http-log-path). */
export const DEFAULT_ACCESS_LOG = '/var/log/nginx/access.log';

/** Debian's compiled-in --http-client-body-temp-path. */
export const DEFAULT_CLIENT_BODY_TEMP_PATH = '/var/lib/nginx/body';

/** client_body_buffer_size's default: two memory pages (4 KiB on x86-64 and arm64 Linux). */
const DEFAULT_CLIENT_BODY_BUFFER = 2 * 4096;

/** nginx's built-in types when no `types {}` is configured anywhere. */
const BUILTIN_TYPES: ReadonlyMap<string, string> = new Map([
  ['html', 'text/html'],
  ['gif', 'image/gif'],
  ['jpg', 'image/jpeg'],
]);

/** ngx_http_charset_default_types. */
const CHARSET_DEFAULT_TYPES: readonly string[] = [
  'text/html', 'text/xml', 'text/plain', 'text/vnd.wap.wml', 'application/javascript', 'application/rss+xml',
];

/** Directives whose handler is an upstream pass: a location ending in `/` then auto-redirects. */
export const PASS_DIRECTIVES = new Set(['proxy_pass', 'fastcgi_pass', 'uwsgi_pass', 'scgi_pass', 'memcached_pass', 'grpc_pass']);
/** The pass directives bext has no client for (none today; the 502 guard stays for new ones). */
const UNSERVED_PASS: string[] = [];

/** *_param's defaults and the rest of a CGI-style module's settings at http level. */
const CGI_DEFAULTS: CgiSettings = {
  params: [], connectTimeoutMs: 60_000, readTimeoutMs: 60_000, sendTimeoutMs: 60_000,
  nextUpstream: ['error', 'timeout'], interceptErrors: false, keepConn: false,
};

/** The values nginx uses when nothing is configured (http level's parent). */
export function rootDefaults(prefix: string): LocationConf {
  return {
    root: { path: prefix + 'html', alias: false, hasVariables: false },
    index: ['index.html'],
    rewrite: [],
    errorPages: [],
    addHeaders: [],
    proxySetHeaders: [],
    proxyHttpVersion: '1.0',
    proxySsl: { verify: false, verifyDepth: 1, serverName: false },
    proxyCookie: {},
    authRequestSet: [],
    subFilter: { pairs: [], once: true, types: ['text/html'], lastModified: false },
    limitRateAfter: 0,
    proxyRedirect: 'default',
    proxyBuffering: true,
    proxyConnectTimeoutMs: 60_000,
    proxyReadTimeoutMs: 60_000,
    proxySendTimeoutMs: 60_000,
    proxyNextUpstream: ['error', 'timeout'],
    proxyInterceptErrors: false,
    fastcgi: { ...CGI_DEFAULTS, index: '' },
    uwsgi: CGI_DEFAULTS,
    scgi: CGI_DEFAULTS,
    memcached: CGI_DEFAULTS,
    grpc: CGI_DEFAULTS,
    grpcSsl: { verify: false, verifyDepth: 1, serverName: false },
    clientMaxBodySize: 1024 * 1024,
    clientBody: { bufferSize: DEFAULT_CLIENT_BODY_BUFFER, tempPath: DEFAULT_CLIENT_BODY_TEMP_PATH, levels: [], inFileOnly: 'off' },
    access: [],
    limitReq: [],
    limitConn: [],
    limitReqStatus: 503,
    limitConnStatus: 503,
    gzip: { enabled: false, types: ['text/html'], minLength: 20, compLevel: 1, vary: false, proxied: ['off'], httpVersion: '1.1', disable: [] },
    accessLog: [{ path: DEFAULT_ACCESS_LOG, format: 'combined' }],
    errorLog: [],
    defaultType: 'text/plain',
    types: BUILTIN_TYPES,
    autoindex: false,
    serverTokens: 'on',
    absoluteRedirect: true,
    portInRedirect: true,
    serverNameInRedirect: false,
    keepaliveTimeoutMs: 75_000,
    keepaliveRequests: 1000,
    clientHeaderTimeoutMs: 60_000,
    clientBodyTimeoutMs: 60_000,
    sendTimeoutMs: 60_000,
    etag: true,
    ifModifiedSince: 'exact',
    autoindexExactSize: true,
    autoindexFormat: 'html',
    autoindexLocaltime: false,
    charsetTypes: CHARSET_DEFAULT_TYPES,
    logNotFound: true,
    uninitializedVariableWarn: true,
    recursiveErrorPages: false,
    chunkedTransferEncoding: true,
    stubStatus: false,
    internal: false,
    directives: [],
  };
}

const DEFAULT_PROXY_HEADERS = [
  { name: 'Host', value: '$proxy_host' },
  { name: 'Connection', value: 'close' },
];

/** proxy_set_header as nginx sends it: the configured ones, then the defaults not overridden. */
export function effectiveProxyHeaders(configured: readonly { name: string; value: string }[]): { name: string; value: string }[] {
  const names = new Set(configured.map((h) => h.name.toLowerCase()));
  return [...configured, ...DEFAULT_PROXY_HEADERS.filter((h) => !names.has(h.name.toLowerCase()))];
}

/**
 * ngx_conf_set_path_slot: a directory (prefix-relative, trailing slash dropped) and up to three
 * levels of 1+ digits, 10 digits in all at most.
 */
export function tempPath(node: ConfNode, prefix: string): { tempPath: string; levels: number[] } {
  let name = node.args[0]!;
  if (name.length > 1 && name.endsWith('/')) name = name.slice(0, -1);
  const levels = node.args.slice(1).map((a) => (/^[0-9]+$/.test(a) ? Number(a) : 0));
  if (levels.some((l) => l === 0) || levels.reduce((a, b) => a + b, 0) > 10) {
    throw confError(node, `"${node.directive}" directive invalid value`);
  }
  return { tempPath: fullPath(prefix, name), levels };
}

/** A time in milliseconds (ngx_conf_set_msec_slot). */
const time = (node: ConfNode, text: string): number => {
  const v = parseTime(text, false);
  if (v === undefined) throw confError(node, `"${node.directive}" directive invalid value`);
  return v;
};

const flag = (node: ConfNode): boolean => {
  const v = parseFlag(node.args[0] ?? '');
  if (v === undefined) {
    throw confError(node, `invalid value "${node.args[0]}" in "${node.directive}" directive, it must be "on" or "off"`);
  }
  return v;
};

const MSEC_SLOTS = [
  ['proxy_connect_timeout', 'proxyConnectTimeoutMs'],
  ['proxy_read_timeout', 'proxyReadTimeoutMs'],
  ['proxy_send_timeout', 'proxySendTimeoutMs'],
  ['keepalive_timeout', 'keepaliveTimeoutMs'],
  ['client_header_timeout', 'clientHeaderTimeoutMs'],
  ['client_body_timeout', 'clientBodyTimeoutMs'],
  ['send_timeout', 'sendTimeoutMs'],
] as const;
const FLAG_SLOTS = [
  ['autoindex_exact_size', 'autoindexExactSize'],
  ['autoindex_localtime', 'autoindexLocaltime'],
  ['etag', 'etag'],
  ['log_not_found', 'logNotFound'],
  ['uninitialized_variable_warn', 'uninitializedVariableWarn'],
  ['recursive_error_pages', 'recursiveErrorPages'],
  ['chunked_transfer_encoding', 'chunkedTransferEncoding'],
] as const;
const REDIRECT_FLAG_SLOTS = [
  ['absolute_redirect', 'absoluteRedirect'],
  ['port_in_redirect', 'portInRedirect'],
  ['server_name_in_redirect', 'serverNameInRedirect'],
] as const;
const NO_NODES: ConfNode[] = [];
const NO_REWRITE: readonly RewriteOp[] = Object.freeze([]);

/** A level's directives called `name`, in order (buildConf's one-pass grouping). */
function own(byName: ReadonlyMap<string, ConfNode[]>, name: string): ConfNode[] {
  return byName.get(name) ?? NO_NODES;
}

/** The last directive called `name` (the one a slot setter keeps). */
function last(byName: ReadonlyMap<string, ConfNode[]>, name: string): ConfNode | undefined {
  const all = byName.get(name);
  return all === undefined ? undefined : all[all.length - 1];
}

/**
 * `{ ...parent }` with the same keys in the same order, but built by an object literal compiled once
 * per key list: a spread of a ~50-key object through the generic path leaves it in dictionary mode,
 * which made every later read, and deepFreeze over 50,000 locations, several times slower.
 */
const cloners = new Map<number, { keys: string[]; clone: (p: LocationConf) => LocationConf }[]>();
function cloneConf(parent: LocationConf): LocationConf {
  const keys = Object.keys(parent);
  // Looked up by key count, then compared key by key (cheaper than joining ~50 names per call).
  let bucket = cloners.get(keys.length);
  if (bucket === undefined) cloners.set(keys.length, (bucket = []));
  for (const c of bucket) if (sameKeys(c.keys, keys)) return c.clone(parent);
  let clone: (p: LocationConf) => LocationConf;
  clone = (p) => ({ ...p });
  if (!keys.some((k) => k === '__proto__' || /^[0-9]/.test(k))) {
    const body = keys.map((k) => `${JSON.stringify(k)}: p[${JSON.stringify(k)}]`).join(',');
    try {
      clone = new Function('p', `return {${body}};`) as (p: LocationConf) => LocationConf;
    } catch {
      // --disallow-code-generation-from-strings: the spread gives the same object, only slower.
    }
  }
  bucket.push({ keys, clone });
  return clone(parent);
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Builds the merged conf of one level from its parent's merged conf and the level's own directives.
 * Nested `location` blocks are not handled here (locations.ts does); `if` and `limit_except` are.
 */
export function buildConf(parent: LocationConf, nodes: readonly ConfNode[], level: LevelInfo, ctx: ConvertContext): LocationConf {
  // One pass over the level's directives, grouped by name in order (a lookup per directive name
  // below instead of a filter over the whole list each time).
  const byName = new Map<string, ConfNode[]>();
  const directives: ConfNode[] = [];
  for (const n of nodes) {
    if (n.directive === 'location') continue;
    directives.push(n);
    const list = byName.get(n.directive);
    if (list) list.push(n);
    else byName.set(n.directive, [n]);
  }
  const prefix = ctx.paths.prefix;
  const conf: LocationConf = cloneConf(parent);
  // Not inherited: each level runs its own rewrite program and try_files, and handlers stay put.
  conf.rewrite = NO_REWRITE;
  conf.tryFiles = undefined;
  conf.stubStatus = false;
  conf.internal = false;
  conf.limitExcept = undefined;
  conf.directives = directives;
  // proxy_pass reaches `if` and `limit_except` blocks from the enclosing location, nowhere else.
  if (level.kind !== 'if' && level.kind !== 'limit_except') {
    conf.proxyPass = undefined;
    conf.unservedPass = undefined;
    if (conf.fastcgi.pass) conf.fastcgi = { ...conf.fastcgi, pass: undefined };
    if (conf.uwsgi.pass) conf.uwsgi = { ...conf.uwsgi, pass: undefined };
    if (conf.scgi.pass) conf.scgi = { ...conf.scgi, pass: undefined };
    if (conf.memcached.pass) conf.memcached = { ...conf.memcached, pass: undefined };
    if (conf.grpc.pass) conf.grpc = { ...conf.grpc, pass: undefined };
  }

  for (const node of [last(byName, 'root'), last(byName, 'alias')]) {
    if (!node) continue;
    const alias = node.directive === 'alias';
    let path = node.args[0]!;
    // nginx drops a trailing slash from root (not from alias).
    if (!alias && path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    conf.root = { path: fullPath(prefix, path), alias, hasVariables: hasVariables(path) };
  }

  const idx = own(byName, 'index');
  if (idx.length) conf.index = idx.flatMap((n) => n.args);
  const tf = last(byName, 'try_files');
  if (tf) conf.tryFiles = tf.args;

  const ep = own(byName, 'error_page');
  if (ep.length) conf.errorPages = ep.map(errorPage);

  const ah = own(byName, 'add_header');
  if (ah.length) {
    conf.addHeaders = ah.map((n): HeaderSetting => ({ name: n.args[0]!, value: n.args[1] ?? '', always: n.args[2] === 'always' }));
  }
  const ex = last(byName, 'expires');
  if (ex) conf.expires = expires(ex);

  const pp = last(byName, 'proxy_pass');
  if (pp) conf.proxyPass = proxyPass(pp, level, ctx);
  const rateNode = last(byName, 'limit_rate');
  if (rateNode) conf.limitRate = rateNode.args[0]!;
  const lra = last(byName, 'limit_rate_after');
  if (lra) conf.limitRateAfter = parseSize(lra.args[0]!) ?? 0;
  const dsl = last(byName, 'disable_symlinks');
  if (dsl) {
    const mode = dsl.args[0]!;
    const from = dsl.args.find((a) => a.startsWith('from='))?.slice(5);
    conf.disableSymlinks = mode === 'off' ? undefined : { mode: mode as 'on' | 'if_not_owner', ...(from !== undefined ? { from } : {}) };
  }
  const sfPairs = own(byName, 'sub_filter');
  const sfOnce = last(byName, 'sub_filter_once');
  const sfTypes = last(byName, 'sub_filter_types');
  const sfLast = last(byName, 'sub_filter_last_modified');
  if (sfPairs.length || sfOnce || sfTypes || sfLast) {
    conf.subFilter = {
      pairs: sfPairs.length ? sfPairs.map((n) => ({ match: n.args[0]!, replacement: n.args[1] ?? '' })) : conf.subFilter.pairs,
      once: sfOnce ? flag(sfOnce) : conf.subFilter.once,
      types: sfTypes ? ['text/html', ...sfTypes.args.map((t) => t.toLowerCase())] : conf.subFilter.types,
      lastModified: sfLast ? flag(sfLast) : conf.subFilter.lastModified,
    };
  }
  const sl = last(byName, 'secure_link');
  const slm = last(byName, 'secure_link_md5');
  if (sl || slm) {
    const variable = sl?.args[0] ?? conf.secureLink?.variable;
    const md5 = slm?.args[0] ?? conf.secureLink?.md5;
    conf.secureLink = { ...(variable !== undefined ? { variable } : {}), ...(md5 !== undefined ? { md5 } : {}) };
  }
  const sls = last(byName, 'secure_link_secret');
  if (sls) conf.secureLinkSecret = sls.args[0]!;
  const vr = own(byName, 'valid_referers');
  if (vr.length) conf.validReferers = validReferers(vr);
  const ar = last(byName, 'auth_request');
  if (ar) conf.authRequest = ar.args[0] === 'off' ? undefined : ar.args[0];
  const ars = own(byName, 'auth_request_set');
  if (ars.length) conf.authRequestSet = ars.map((n) => ({ name: n.args[0]!.slice(1), value: n.args[1]! }));
  const fastcgi = fastcgiSettings(conf.fastcgi, byName);
  if (fastcgi) conf.fastcgi = fastcgi;
  const uwsgi = cgiSettings('uwsgi', conf.uwsgi, byName);
  if (uwsgi) conf.uwsgi = uwsgi;
  const scgi = cgiSettings('scgi', conf.scgi, byName);
  if (scgi) conf.scgi = scgi;
  const memcached = cgiSettings('memcached', conf.memcached, byName);
  if (memcached) conf.memcached = memcached;
  const grpc = cgiSettings('grpc', conf.grpc, byName);
  if (grpc) conf.grpc = grpc;
  const grpcSslNodes = GRPC_SSL.map((d) => last(byName, d));
  if (grpcSslNodes.some((n) => n)) conf.grpcSsl = proxySsl(conf.grpcSsl, grpcSslNodes, ctx.paths.confPrefix);
  const unserved = UNSERVED_PASS.find((d) => last(byName, d));
  if (unserved) conf.unservedPass = unserved;
  const psh = own(byName, 'proxy_set_header');
  if (psh.length) conf.proxySetHeaders = psh.map((n) => ({ name: n.args[0]!, value: n.args[1] ?? '' }));
  const sslNodes = PROXY_SSL.map((d) => last(byName, d));
  if (sslNodes.some((n) => n)) conf.proxySsl = proxySsl(conf.proxySsl, sslNodes, ctx.paths.confPrefix);
  const cookie = proxyCookie(conf.proxyCookie, own(byName, 'proxy_cookie_domain'), own(byName, 'proxy_cookie_path'), own(byName, 'proxy_cookie_flags'));
  if (cookie) conf.proxyCookie = cookie;
  const phv = last(byName, 'proxy_http_version');
  if (phv) conf.proxyHttpVersion = phv.args[0]!;
  const pr = own(byName, 'proxy_redirect');
  if (pr.length) conf.proxyRedirect = proxyRedirect(pr);
  const pb = last(byName, 'proxy_buffering');
  if (pb) conf.proxyBuffering = flag(pb);
  // ngx_conf_set_msec_slot: milliseconds; the first argument of keepalive_timeout is one too.
  for (const [directive, key] of MSEC_SLOTS) {
    const n = last(byName, directive);
    if (n) conf[key] = time(n, n.args[0]!);
  }
  // keepalive_timeout's second argument (seconds) is sent as `Keep-Alive: timeout=N`; merged on its
  // own (a level giving only the first argument keeps the parent's header).
  const kh = last(byName, 'keepalive_timeout')?.args[1];
  if (kh !== undefined) conf.keepaliveHeaderSec = parseTime(kh, true) ?? 0;
  const pnu = last(byName, 'proxy_next_upstream');
  if (pnu) conf.proxyNextUpstream = pnu.args;
  const pie = last(byName, 'proxy_intercept_errors');
  if (pie) conf.proxyInterceptErrors = flag(pie);

  const cmbs = last(byName, 'client_max_body_size');
  if (cmbs) {
    const v = parseOffset(cmbs.args[0]!);
    if (v === undefined) throw confError(cmbs, `"client_max_body_size" directive invalid value`);
    conf.clientMaxBodySize = v;
  }
  // realip: set_real_ip_from is inherited only by levels without one; the header and flag as slots.
  const rif = own(byName, 'set_real_ip_from');
  const rih = last(byName, 'real_ip_header');
  const rir = last(byName, 'real_ip_recursive');
  if (rif.length || rih || rir) {
    conf.realIp = {
      from: rif.length ? rif.map((n) => n.args[0]!) : parent.realIp?.from ?? [],
      header: rih ? rih.args[0]!.toLowerCase() : parent.realIp?.header ?? 'x-real-ip',
      recursive: rir ? flag(rir) : parent.realIp?.recursive ?? false,
    };
  }
  const cbbs = last(byName, 'client_body_buffer_size');
  const cbtp = last(byName, 'client_body_temp_path');
  const cbfo = last(byName, 'client_body_in_file_only');
  if (cbbs || cbtp || cbfo) {
    const body = { ...conf.clientBody };
    if (cbbs) {
      const v = parseSize(cbbs.args[0]!);
      if (v === undefined) throw confError(cbbs, `"client_body_buffer_size" directive invalid value`);
      body.bufferSize = v;
    }
    if (cbtp) Object.assign(body, tempPath(cbtp, prefix));
    if (cbfo) body.inFileOnly = cbfo.args[0]!.toLowerCase() as ClientBodySettings['inFileOnly'];
    conf.clientBody = body;
  }

  const rules = nodes.filter((n) => n.directive === 'allow' || n.directive === 'deny');
  if (rules.length) conf.access = rules.map((n) => ({ allow: n.directive === 'allow', what: n.args[0]! }));

  const ab = last(byName, 'auth_basic');
  const abf = last(byName, 'auth_basic_user_file');
  if (ab || abf) {
    const realm = ab ? ab.args[0]! : parent.authBasic?.realm ?? 'off';
    const userFile = abf ? fullPath(ctx.paths.confPrefix, abf.args[0]!) : parent.authBasic?.userFile;
    conf.authBasic = { realm, userFile };
  }

  const lr = own(byName, 'limit_req');
  if (lr.length) conf.limitReq = lr.map((n) => limitReq(n, ctx));
  const lc = own(byName, 'limit_conn');
  if (lc.length) {
    conf.limitConn = lc.map((n) => {
      ctx.zoneRefs.push({ kind: 'conn', zone: n.args[0]! });
      return { zone: n.args[0]!, conn: Number(n.args[1]) };
    });
  }
  const lrs = last(byName, 'limit_req_status');
  if (lrs) conf.limitReqStatus = Number(lrs.args[0]);
  const lcs = last(byName, 'limit_conn_status');
  if (lcs) conf.limitConnStatus = Number(lcs.args[0]);

  conf.gzip = gzip(parent.gzip, nodes);

  const al = own(byName, 'access_log');
  if (al.length) conf.accessLog = accessLogs(al, ctx);
  const el = own(byName, 'error_log');
  if (el.length) conf.errorLog = el.map((n) => logTarget(n, prefix));

  const dt = last(byName, 'default_type');
  if (dt) conf.defaultType = dt.args[0]!;
  const types = own(byName, 'types');
  if (types.length) conf.types = typesMap(types);

  const ai = last(byName, 'autoindex');
  if (ai) conf.autoindex = flag(ai);
  const aif = last(byName, 'autoindex_format');
  if (aif) conf.autoindexFormat = aif.args[0]!.toLowerCase() as LocationConf['autoindexFormat'];
  for (const [directive, key] of FLAG_SLOTS) {
    const n = last(byName, directive);
    if (n) conf[key] = flag(n);
  }
  const ims = last(byName, 'if_modified_since');
  if (ims) conf.ifModifiedSince = ims.args[0]!.toLowerCase() as LocationConf['ifModifiedSince'];
  const kr = last(byName, 'keepalive_requests');
  if (kr) {
    if (!/^[0-9]+$/.test(kr.args[0]!)) throw confError(kr, `invalid number "${kr.args[0]}"`);
    conf.keepaliveRequests = Number(kr.args[0]);
  }
  const mr = last(byName, 'max_ranges');
  if (mr) {
    const v = Number(mr.args[0]);
    if (!/^[0-9]+$/.test(mr.args[0]!)) throw confError(mr, `invalid number "${mr.args[0]}"`);
    conf.maxRanges = v;
  }
  charsetSettings(conf, last(byName, 'charset'), last(byName, 'source_charset'), last(byName, 'charset_types'), ctx);
  const st = last(byName, 'server_tokens');
  if (st) conf.serverTokens = st.args[0]!.toLowerCase() as LocationConf['serverTokens'];
  for (const [directive, key] of REDIRECT_FLAG_SLOTS) {
    const n = last(byName, directive);
    if (n) conf[key] = flag(n);
  }
  if (last(byName, 'stub_status')) conf.stubStatus = true;
  conf.emptyGif = last(byName, 'empty_gif') !== undefined || undefined;
  if (last(byName, 'internal')) conf.internal = true;

  // The rewrite program, and `if` blocks as pseudo-locations merged from this level.
  const rewrite: RewriteOp[] = [];
  for (const n of nodes) {
    const op = REWRITE_DIRECTIVES.has(n.directive) ? rewriteOp(n, conf, ctx) : undefined;
    if (op) rewrite.push(op);
  }
  // Most levels have no rewrite program: they share one frozen empty array.
  conf.rewrite = rewrite.length ? rewrite : NO_REWRITE;

  const le = last(byName, 'limit_except');
  if (le) {
    conf.limitExcept = {
      methods: le.args.map((m) => m.toUpperCase()),
      conf: buildConf(conf, le.block ?? [], { kind: 'limit_except' }, ctx),
    };
  }
  return conf;
}

const REWRITE_DIRECTIVES = new Set(['rewrite', 'return', 'set', 'break', 'if']);

function rewriteOp(n: ConfNode, conf: LocationConf, ctx: ConvertContext): RewriteOp | undefined {
  const at = { file: n.file, line: n.line };
  switch (n.directive) {
    case 'rewrite': {
      const f = n.args[2];
      if (f !== undefined && !['last', 'break', 'redirect', 'permanent'].includes(f)) {
        throw confError(n, `invalid parameter "${f}"`);
      }
      return {
        op: 'rewrite', source: n.args[0]!, regex: compileRegex(n.args[0]!, false, n), replacement: n.args[1]!,
        flag: (f ?? null) as 'last' | 'break' | 'redirect' | 'permanent' | null, ...at,
      };
    }
    case 'return':
      return { op: 'return', ...returnArgs(n), ...at };
    case 'set': {
      const v = n.args[0]!;
      if (!v.startsWith('$') || v.length < 2) throw confError(n, `invalid variable name "${v}"`);
      return { op: 'set', variable: v.slice(1), value: n.args[1] ?? '', ...at };
    }
    case 'break':
      return { op: 'break', ...at };
    case 'if':
      return { op: 'if', condition: ifCondition(n), block: buildConf(conf, n.block ?? [], { kind: 'if' }, ctx), ...at };
  }
  return undefined;
}

function returnArgs(n: ConfNode): { code: number; text?: string } {
  const [a, b] = n.args as [string, string | undefined];
  if (/^[0-9]+$/.test(a)) {
    const code = Number(a);
    if (code > 999) throw confError(n, `invalid return code "${a}"`);
    return b === undefined ? { code } : { code, text: b };
  }
  if (b === undefined && (a.startsWith('http://') || a.startsWith('https://') || a.startsWith('$scheme'))) {
    return { code: 302, text: a };
  }
  throw confError(n, `invalid return code "${a}"`);
}

/** ngx_http_rewrite_if_condition, with the regex compiled. */
export function ifCondition(n: ConfNode): IfCondition {
  const parts = parseIfCondition(n.args);
  if ('error' in parts) throw confError(n, parts.error);
  if (parts.kind !== 'regex') return parts;
  const { op, left, right } = parts;
  return { kind: 'regex', op, left, source: right, regex: compileRegex(right, op.endsWith('*'), n) };
}

function errorPage(n: ConfNode): ErrorPage {
  const args = [...n.args];
  const uri = args.pop()!;
  const codes: number[] = [];
  let overwrite: ErrorPage['overwrite'];
  for (const a of args) {
    if (a.startsWith('=')) {
      overwrite = a === '=' ? 'upstream' : Number(a.slice(1));
      if (overwrite !== 'upstream' && !Number.isInteger(overwrite)) throw confError(n, `invalid value "${a}"`);
      continue;
    }
    const code = Number(a);
    if (!/^[0-9]+$/.test(a)) throw confError(n, `invalid value "${a}"`);
    if (code < 300 || code > 599) throw confError(n, `value "${a}" must be between 300 and 599`);
    codes.push(code);
  }
  return overwrite === undefined ? { codes, uri } : { codes, overwrite, uri };
}

function expires(n: ConfNode): Expires {
  const raw = n.args;
  let args = [...raw];
  let modified = false;
  if (args[0] === 'modified') {
    modified = true;
    args = args.slice(1);
  }
  const v = args[0]!;
  if (v === 'off' || v === 'epoch' || v === 'max') return { kind: v, raw };
  if (hasVariables(v)) return { kind: 'variable', raw };
  const daily = v.startsWith('@');
  const negative = v.startsWith('-');
  const t = parseTime(v.replace(/^[@+-]/, ''), true);
  if (t === undefined) throw confError(n, `invalid value "${v}"`);
  return { kind: 'time', seconds: negative ? -t : t, modified, daily, raw };
}

const PROXY_URI_FORBIDDEN =
  '"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block';

/** Parses `proxy_pass URL` like ngx_http_proxy_pass (no DNS: hosts are resolved when serving). */
/** ngx_http_valid_referers: every valid_referers of a level together. */
function validReferers(nodes: readonly ConfNode[]): ValidReferers {
  const v = { none: false, blocked: false, serverNames: false, exact: new Map<string, string | undefined>(), leading: [] as { suffix: string; matchesBare: boolean; uri?: string }[], trailing: [] as { prefix: string; uri?: string }[], regexes: [] as RegExp[] };
  for (const n of nodes) {
    for (const arg of n.args) {
      if (arg === 'none') v.none = true;
      else if (arg === 'blocked') v.blocked = true;
      else if (arg === 'server_names') v.serverNames = true;
      else if (arg.startsWith('~')) v.regexes.push(compileRegex(arg.slice(1), true, n));
      else {
        const slash = arg.indexOf('/');
        const host = (slash < 0 ? arg : arg.slice(0, slash)).toLowerCase();
        const uri = slash < 0 ? undefined : arg.slice(slash);
        // ngx_hash_add_key's wildcard forms, as for server_name.
        if (host.startsWith('*.')) v.leading.push({ suffix: host.slice(1), matchesBare: false, ...(uri ? { uri } : {}) });
        else if (host.startsWith('.')) v.leading.push({ suffix: host, matchesBare: true, ...(uri ? { uri } : {}) });
        else if (host.endsWith('.*')) v.trailing.push({ prefix: host.slice(0, -1), ...(uri ? { uri } : {}) });
        else if (host.includes('*')) throw confError(n, `invalid hostname or wildcard "${arg.slice(0, slash < 0 ? undefined : slash)}"`);
        else v.exact.set(host, uri);
      }
    }
  }
  v.leading.sort((a, b) => b.suffix.length - a.suffix.length);
  v.trailing.sort((a, b) => b.prefix.length - a.prefix.length);
  return v;
}

/**
 * ngx_http_proxy_cookie_domain/_path/_flags: each replaces what it inherits when the level has it;
 * `off` clears. A leading dot of a domain pattern or replacement is dropped (the cookie's stays).
 */
function proxyCookie(parent: CookieRewrite, domains: readonly ConfNode[], paths: readonly ConfNode[], flags: readonly ConfNode[]): CookieRewrite | undefined {
  if (!domains.length && !paths.length && !flags.length) return undefined;
  const out: { -readonly [K in keyof CookieRewrite]: CookieRewrite[K] } = { ...parent };
  const rules = (nodes: readonly ConfNode[], domain: boolean): CookieRule[] | undefined => {
    if (nodes.some((n) => n.args[0] === 'off')) return undefined;
    return nodes.map((n) => {
      const [pattern = '', replacement = ''] = n.args;
      if (pattern.startsWith('~')) {
        const caseless = domain || pattern.startsWith('~*');
        return { pattern: compileRegex(pattern.slice(pattern.startsWith('~*') ? 2 : 1), caseless, n), replacement };
      }
      return domain ? { pattern: pattern.replace(/^\./, ''), replacement: replacement.replace(/^\./, '') } : { pattern, replacement };
    });
  };
  if (domains.length) out.domains = rules(domains, true);
  if (paths.length) out.paths = rules(paths, false);
  if (flags.length) {
    out.flags = flags.some((n) => n.args[0] === 'off') ? undefined : flags.map((n) => {
      const [cookie = '', ...rest] = n.args;
      return { cookie: cookie.startsWith('~') ? compileRegex(cookie.slice(cookie.startsWith('~*') ? 2 : 1), cookie.startsWith('~*'), n) : cookie, flags: rest };
    });
  }
  return out;
}

const PROXY_SSL = [
  'proxy_ssl_verify', 'proxy_ssl_trusted_certificate', 'proxy_ssl_verify_depth', 'proxy_ssl_name', 'proxy_ssl_server_name',
  'proxy_ssl_certificate', 'proxy_ssl_certificate_key',
] as const;
const GRPC_SSL = PROXY_SSL.map((d) => d.replace('proxy_', 'grpc_'));

function proxySsl(parent: ProxySsl, [verify, trusted, depth, name, serverName, cert, key]: (ConfNode | undefined)[], confPrefix: string): ProxySsl {
  const s: ProxySsl = { ...parent };
  if (verify) s.verify = flag(verify);
  if (trusted) s.trustedCertificate = fullPath(confPrefix, trusted.args[0]!);
  if (depth) s.verifyDepth = Number(depth.args[0]);
  if (name) s.name = name.args[0]!;
  if (serverName) s.serverName = flag(serverName);
  // An empty proxy_ssl_certificate turns an inherited one off.
  if (cert) s.certificate = cert.args[0] ? fullPath(confPrefix, cert.args[0]) : undefined;
  if (key) s.certificateKey = fullPath(confPrefix, key.args[0]!);
  return s;
}

/** The *_* directives of one CGI-style module at one level merged onto the parent's (undefined: none here). */
type CgiModule = 'fastcgi' | 'uwsgi' | 'scgi' | 'memcached' | 'grpc';

/**
 * Each module's directive names, made once: a name built per call is a new string whose hash the
 * Map lookup computes again (5 modules × 7 names for every location made `last` a sixth of a
 * 50,000-location conversion).
 */
const CGI_NAMES = Object.fromEntries(
  (['fastcgi', 'uwsgi', 'scgi', 'memcached', 'grpc'] as const).map((p) => [p, {
    pass: `${p}_pass`, param: `${p}_param`, connect: `${p}_connect_timeout`, read: `${p}_read_timeout`,
    send: `${p}_send_timeout`, next: `${p}_next_upstream`, intercept: `${p}_intercept_errors`,
  }]),
) as Record<CgiModule, Record<'pass' | 'param' | 'connect' | 'read' | 'send' | 'next' | 'intercept', string>>;

function cgiSettings<T extends CgiSettings>(prefix: CgiModule, parent: T, byName: ReadonlyMap<string, ConfNode[]>): T | undefined {
  const names = CGI_NAMES[prefix];
  const pass = last(byName, names.pass);
  const params = own(byName, names.param);
  const connect = last(byName, names.connect);
  const read = last(byName, names.read);
  const send = last(byName, names.send);
  const next = last(byName, names.next);
  const intercept = last(byName, names.intercept);
  const keepConn = prefix === 'fastcgi' ? last(byName, 'fastcgi_keep_conn') : undefined;
  if (!pass && !params.length && !connect && !read && !send && !next && !intercept && !keepConn) return undefined;
  const s: T = { ...parent };
  if (pass) s.pass = { raw: pass.args[0]!, hasVariables: hasVariables(pass.args[0]!) };
  if (params.length) s.params = params.map((n) => ({ name: n.args[0]!, value: n.args[1]!, ifNotEmpty: n.args[2] === 'if_not_empty' }));
  if (connect) s.connectTimeoutMs = time(connect, connect.args[0]!);
  if (read) s.readTimeoutMs = time(read, read.args[0]!);
  if (send) s.sendTimeoutMs = time(send, send.args[0]!);
  if (next) s.nextUpstream = next.args;
  if (intercept) s.interceptErrors = flag(intercept);
  if (keepConn) s.keepConn = flag(keepConn);
  return s;
}

/** The fastcgi_* directives of one level: the common ones, fastcgi_index and fastcgi_split_path_info. */
function fastcgiSettings(parent: FastcgiSettings, byName: ReadonlyMap<string, ConfNode[]>): FastcgiSettings | undefined {
  const common = cgiSettings('fastcgi', parent, byName);
  const index = last(byName, 'fastcgi_index');
  const split = last(byName, 'fastcgi_split_path_info');
  if (!common && !index && !split) return undefined;
  const s: FastcgiSettings = common ?? { ...parent };
  if (index) s.index = index.args[0]!;
  if (split) {
    const regex = compileRegex(split.args[0]!, false, split);
    if (captureCount(regex) !== 2) throw confError(split, `pattern "${split.args[0]}" must have 2 captures`);
    s.split = { source: split.args[0]!, regex };
  }
  return s;
}

export function proxyPass(n: ConfNode, level: LevelInfo, ctx: ConvertContext): ProxyPass {
  const raw = n.args[0]!;
  const target = upstreamUrl(raw);
  if (target === undefined) {
    if (hasVariables(raw)) return { raw, scheme: 'variable', host: '', hasVariables: true };
    throw confError(n, 'invalid URL prefix');
  }
  const scheme = raw.slice(0, 5).toLowerCase() === 'https' ? 'https' : 'http';
  if (hasVariables(raw)) {
    // Resolved per request: only split off the URI part here.
    const unix = target.slice(0, 5).toLowerCase() === 'unix:';
    const end = unix ? target.indexOf(':', 5) : target.search(/[/?]/);
    const host = end < 0 ? target : target.slice(0, end);
    const uri = end < 0 ? undefined : target.slice(unix ? end + 1 : end);
    return { raw, scheme: unix ? 'unix' : scheme, host, ...(uri === undefined ? {} : { uri }), hasVariables: true };
  }
  const url = parseUrl(target, { uriPart: true });
  if ('error' in url) throw confError(n, `${url.error} in upstream "${target}"`);
  const { uri } = url;
  if ((uri ?? '') !== '' && (level.regexOrNamed || level.kind === 'if' || level.kind === 'limit_except')) {
    throw confError(n, PROXY_URI_FORBIDDEN);
  }
  const host = url.authority;
  const upstream = ctx.upstreamNames.has(host) ? host : undefined;
  return {
    raw, scheme: url.unix ? 'unix' : scheme, host, ...(url.noPort ? {} : { port: url.port }),
    ...(upstream ? { upstream } : {}), ...(uri === undefined ? {} : { uri }), hasVariables: false,
  };
}

function proxyRedirect(nodes: ConfNode[]): LocationConf['proxyRedirect'] {
  const lastNode = nodes[nodes.length - 1]!;
  if (nodes.length === 1 && (lastNode.args[0] === 'off' || lastNode.args[0] === 'default') && lastNode.args.length === 1) {
    return lastNode.args[0] as 'off' | 'default';
  }
  return nodes
    .filter((n) => n.args.length === 2)
    .map((n) => {
      const from = n.args[0]!;
      if (from.startsWith('~')) {
        const caseless = from.startsWith('~*');
        const src = from.slice(caseless ? 2 : 1);
        return { from, regex: compileRegex(src, caseless, n), to: n.args[1]! };
      }
      return { from, to: n.args[1]! };
    });
}

function limitReq(n: ConfNode, ctx: ConvertContext): LimitReqRef {
  let zone = '';
  let burst = 0;
  let nodelay = false;
  let delay: number | undefined;
  for (const a of n.args) {
    if (a.startsWith('zone=')) zone = a.slice(5);
    else if (a.startsWith('burst=')) burst = Number(a.slice(6));
    else if (a === 'nodelay') nodelay = true;
    else if (a.startsWith('delay=')) delay = Number(a.slice(6));
    else throw confError(n, `invalid parameter "${a}"`);
    if (Number.isNaN(burst) || (delay !== undefined && Number.isNaN(delay))) throw confError(n, `invalid parameter "${a}"`);
  }
  if (zone === '') throw confError(n, `"limit_req" must have "zone" parameter`);
  ctx.zoneRefs.push({ kind: 'req', zone });
  return delay === undefined ? { zone, burst, nodelay } : { zone, burst, nodelay, delay };
}

function gzip(parent: GzipSettings, nodes: readonly ConfNode[]): GzipSettings {
  const g = { ...parent };
  for (const n of nodes) {
    switch (n.directive) {
      case 'gzip': g.enabled = flag(n); break;
      // text/html is always compressed when gzip is on.
      case 'gzip_types': g.types = n.args.includes('*') ? ['*'] : ['text/html', ...n.args.filter((t) => t !== 'text/html')]; break;
      case 'gzip_min_length': g.minLength = parseSize(n.args[0]!) ?? g.minLength; break;
      case 'gzip_comp_level': g.compLevel = Number(n.args[0]); break;
      case 'gzip_vary': g.vary = flag(n); break;
      case 'gzip_proxied': g.proxied = n.args; break;
      case 'gzip_http_version': g.httpVersion = n.args[0]!; break;
      case 'gzip_disable': g.disable = n.args; break;
    }
  }
  return g;
}

function accessLogs(nodes: ConfNode[], ctx: ConvertContext): 'off' | AccessLog[] {
  if (nodes.some((n) => n.args[0] === 'off')) return 'off';
  return nodes.map((n) => {
    const [path, format = 'combined', ...opts] = n.args as [string, string | undefined, ...string[]];
    if (!ctx.logFormatNames.has(format)) throw confError(n, `unknown log format "${format}"`);
    const log: AccessLog = { path: fullPath(ctx.paths.prefix, path), format };
    for (const o of opts) {
      if (o.startsWith('if=')) log.ifCondition = o.slice(3);
      else if (o.startsWith('buffer=')) log.buffer = parseSize(o.slice(7));
      else if (o.startsWith('flush=')) log.flush = parseTime(o.slice(6), false);
      else if (o === 'gzip' || o.startsWith('gzip=')) log.gzip = o === 'gzip' ? 1 : Number(o.slice(5));
      else throw confError(n, `invalid parameter "${o}"`);
    }
    if (log.buffer !== undefined || log.gzip !== undefined) warn(ctx, n, 'buffered and gzip access logs are written unbuffered and uncompressed');
    return log;
  });
}

export function logTarget(n: ConfNode, prefix: string): LogTarget {
  const p = n.args[0]!;
  const path = p === 'stderr' || p.startsWith('syslog:') || p.startsWith('memory:') ? p : fullPath(prefix, p);
  return n.args[1] === undefined ? { path } : { path, level: n.args[1] };
}

/**
 * ngx_http_charset_filter_module's settings: only the `; charset=X` part of Content-Type is served
 * (no recoding). Charset names share one table, so the first spelling in the config wins.
 */
function charsetSettings(conf: LocationConf, cs: ConfNode | undefined, src: ConfNode | undefined, types: ConfNode | undefined, ctx: ConvertContext): void {
  if (cs) {
    if (hasVariables(cs.args[0]!)) {
      warn(ctx, cs, 'a charset given by a variable is not applied');
      delete conf.charset;
    } else {
      const v = charsetName(cs, ctx);
      if (v === undefined) delete conf.charset;
      else conf.charset = v;
    }
  }
  if (src) {
    const v = hasVariables(src.args[0]!) ? src.args[0]! : charsetName(src, ctx);
    if (v === undefined) delete conf.sourceCharset;
    else conf.sourceCharset = v;
  }
  if (types) {
    conf.charsetTypes = types.args.includes('*') ? ['*'] : ['text/html', ...types.args.map((t) => t.toLowerCase()).filter((t) => t !== 'text/html')];
  }
  // Warned once, where the mismatch is configured: the response keeps its bytes.
  if ((cs || src) && conf.charset !== undefined && conf.sourceCharset !== undefined && conf.charset.toLowerCase() !== conf.sourceCharset.toLowerCase()) {
    warn(ctx, (src ?? cs)!, `no recoding from "${conf.sourceCharset}" to "${conf.charset}": only the Content-Type charset is sent`);
  }
}

/** A charset's name as first spelt in the config; undefined for `off`. */
function charsetName(n: ConfNode, ctx: ConvertContext): string | undefined {
  const v = n.args[0]!;
  if (v.toLowerCase() === 'off') return undefined;
  const key = v.toLowerCase();
  ctx.orderDependent = true;
  ctx.charsetNames ??= new Map();
  if (!ctx.charsetNames.has(key)) ctx.charsetNames.set(key, v);
  return ctx.charsetNames.get(key);
}

function typesMap(nodes: ConfNode[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const t of nodes) {
    for (const entry of t.block ?? []) {
      // Extensions match case-insensitively; a repeated extension takes the later type (nginx warns).
      for (const ext of entry.args) map.set(ext.toLowerCase(), entry.directive);
    }
  }
  return map;
}
