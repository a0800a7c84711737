// nginx variables ($host, $uri, $http_*, captures, set/map …) evaluated lazily from a per-request
// context, and "complex values" (text with $var / ${var} / $1) compiled once per template.
import { hostname as osHostname } from 'node:os';
import type { TLSSocket } from 'node:tls';
import type { TlsSettings } from '../config/state.ts';
import { NGINX_VERSION } from './responses.ts';
import { SSL_VARIABLES, sslVariable } from './tls-peer.ts';

type HeaderValue = string | string[] | number | undefined;

/** The per-request state variables read. The pipeline owns it and mutates uri/args/captures. */
export interface VarContext {
  method: string;
  /** The request line as received: `GET /x?y HTTP/1.1`. */
  requestLine: string;
  /** `HTTP/1.1`. */
  protocol: string;
  /** $request_uri: the raw target. */
  rawUri: string;
  /** $uri: normalised, may be changed by rewrite / internal redirects. */
  uri: string;
  /** $args: may be changed by rewrite or `set $args`. */
  args: string;
  /** Request headers, lowercase names (node's headersDistinct shape is fine). */
  headers: Record<string, HeaderValue>;
  scheme: 'http' | 'https';
  /** The TLS connection ($ssl_*), and the TLS settings of its address's default server (no SNI). */
  tls?: { socket: TLSSocket; fallback: TlsSettings | undefined };
  remoteAddr: string;
  remotePort: number;
  serverAddr: string;
  serverPort: number;
  /** Validated host from the request line or Host header, lowercased, no port; '' if none. */
  host: string;
  /** The selected server{}'s primary server_name. */
  serverName: string;
  /** Date.now() when the request line arrived. */
  startMs: number;
  connection: number;
  connectionRequests: number;
  /** nginx's r->pipeline: the head was already read with the previous request's bytes ($pipe "p"). */
  pipelined: boolean;
  requestLength: number;
  /** Last successful regex match: index 0 is the whole match. */
  captures: readonly (string | undefined)[];
  namedCaptures: Record<string, string | undefined>;
  /** `set` variables (and named captures nginx stores as variables). */
  userVars: VarStore;
  /** The peer's address and port once realip replaced them ($realip_remote_addr, _port). */
  realipRemoteAddr?: string;
  realipRemotePort?: number;
  /** $request_body: the body read for proxy_pass when it stayed in memory. */
  requestBody?: Buffer;
  /** $request_body_file: the temporary file the body was read to otherwise. */
  requestBodyFile?: string;
  /** The length of the body read whole (for $content_length of a chunked one). */
  requestBodyLength?: number;
  /**
   * Variables that depend on the request's location ($invalid_referer, $secure_link,
   * $secure_link_expires): the pipeline sets it where a configuration uses them.
   */
  locationVariable?: (name: string) => string | undefined;
  /** The limits already applied to this request (limit-phase.ts: nginx's limit_req_set, limit_conn_status). */
  limitsApplied?: number;
  response: {
    /** 0 until a status is chosen. */
    status: number;
    headers: Record<string, HeaderValue>;
    bodyBytesSent: number;
    bytesSent: number;
  };
  /** root/alias dependent values, supplied by the content phase. */
  paths?: { documentRoot(): string; realpathRoot(): string; requestFilename(): string };
  /** Map variables and anything else the config defines; undefined = not handled. */
  extra?: (name: string, ctx: VarContext) => string | undefined;
  /** Told of a defined variable read without a value (the pipeline logs nginx's warning for `set` ones). */
  uninitialized?: (name: string) => void;
}

const HOSTNAME = osHostname();

function firstHeader(v: HeaderValue): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v[0];
  return String(v);
}

/** $http_NAME: the first header, except Cookie (joined with "; ") and X-Forwarded-For (", "), as 1.22 does. */
export function requestHeader(ctx: VarContext, lowerName: string): string | undefined {
  const v = ctx.headers[lowerName];
  if (Array.isArray(v)) {
    if (lowerName === 'cookie') return v.join('; ');
    if (lowerName === 'x-forwarded-for') return v.join(', ');
    return v[0];
  }
  return v === undefined ? undefined : String(v);
}

/**
 * $http_x_y for a header sent as `X_Y` (kept under underscores_in_headers or ignore_invalid_headers
 * off): nginx compares a header's name with its '-' read as '_', so both spellings match.
 */
function headerSentWithUnderscores(ctx: VarContext, varName: string): string | undefined {
  for (const k in ctx.headers) if (k.includes('_') && k.replaceAll('-', '_') === varName) return requestHeader(ctx, k);
  return undefined;
}

/** ngx_http_arg: the raw value of `name=` in args, matching the name case-insensitively. */
export function argValue(args: string, name: string): string | undefined {
  if (!args || !name) return undefined;
  const lowerArgs = args.toLowerCase();
  const lowerName = name.toLowerCase();
  let from = 0;
  for (;;) {
    const i = lowerArgs.indexOf(lowerName, from);
    if (i < 0) return undefined;
    const after = i + lowerName.length;
    if ((i === 0 || args.charCodeAt(i - 1) === 0x26) && args.charCodeAt(after) === 0x3d) {
      const end = args.indexOf('&', after + 1);
      return args.slice(after + 1, end < 0 ? args.length : end);
    }
    from = i + 1;
  }
}

/** ngx_http_parse_multi_header_lines with `;`: the value of cookie `name` (case-insensitive). */
export function cookieValue(cookieHeaders: string[], name: string): string | undefined {
  const lname = name.toLowerCase();
  for (const h of cookieHeaders) {
    let p = 0;
    const end = h.length;
    while (p < end) {
      if (h.slice(p, p + lname.length).toLowerCase() === lname) {
        let s = p + lname.length;
        while (s < end && h[s] === ' ') s++;
        if (s < end && h[s] === '=') {
          s++;
          while (s < end && h[s] === ' ') s++;
          const e = h.indexOf(';', s);
          return h.slice(s, e < 0 ? end : e);
        }
      }
      // skip to the next item
      while (p < end && h[p++] !== ';');
      while (p < end && (h[p] === ' ' || h[p] === ';')) p++;
    }
  }
  return undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;

function tzOffset(d: Date, sep: string): string {
  const off = -d.getTimezoneOffset();
  const a = Math.abs(off);
  return (off < 0 ? '-' : '+') + pad2(Math.floor(a / 60)) + sep + pad2(a % 60);
}

/** $time_local: `25/Nov/2026:03:29:41 +0000` in the process's local zone. */
export function formatTimeLocal(ms: number): string {
  return perSecond(timeLocalCache, ms, (d) =>
    `${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${tzOffset(d, '')}`);
}

/**
 * The text of the current second, formatted once (local-time getters cost microseconds each, and an
 * access log line asks on every request); nginx too keeps its log times per second.
 */
interface SecondCache { sec: number; text: string }
const timeLocalCache: SecondCache = { sec: NaN, text: '' };
const timeIsoCache: SecondCache = { sec: NaN, text: '' };
function perSecond(cache: SecondCache, ms: number, format: (d: Date) => string): string {
  const sec = Math.floor(ms / 1000);
  if (cache.sec !== sec) {
    cache.text = format(new Date(sec * 1000));
    cache.sec = sec;
  }
  return cache.text;
}

/** $time_iso8601: `2026-11-25T03:29:41+00:00`. */
export function formatTimeIso8601(ms: number): string {
  return perSecond(timeIsoCache, ms, (d) =>
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}${tzOffset(d, ':')}`);
}

/** Seconds with millisecond precision, as nginx prints $msec / $request_time. */
export function formatMsec(ms: number): string {
  return (Math.floor(ms) / 1000).toFixed(3);
}

function remoteUser(ctx: VarContext): string | undefined {
  const auth = firstHeader(ctx.headers['authorization']);
  if (!auth) return undefined;
  const m = /^basic +(\S+)/i.exec(auth);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(0, colon);
}

type Getter = (ctx: VarContext) => string | undefined;

const BUILTIN: Record<string, Getter> = {
  host: (c) => c.host || c.serverName,
  hostname: () => HOSTNAME,
  uri: (c) => c.uri,
  document_uri: (c) => c.uri,
  request_uri: (c) => c.rawUri,
  // Empty args are "not found" (logged as "-"), even after a bare `?`.
  args: (c) => c.args || undefined,
  query_string: (c) => c.args || undefined,
  is_args: (c) => (c.args ? '?' : ''),
  request: (c) => c.requestLine,
  request_method: (c) => c.method,
  scheme: (c) => c.scheme,
  https: (c) => (c.scheme === 'https' ? 'on' : ''),
  server_name: (c) => c.serverName,
  server_port: (c) => String(c.serverPort),
  server_addr: (c) => c.serverAddr,
  server_protocol: (c) => c.protocol,
  remote_addr: (c) => c.remoteAddr,
  // Empty when there is none (a unix socket, or realip's address without a port).
  remote_port: (c) => (c.remotePort ? String(c.remotePort) : ''),
  realip_remote_addr: (c) => c.realipRemoteAddr ?? c.remoteAddr,
  realip_remote_port: (c) => {
    const port = c.realipRemotePort ?? c.remotePort;
    return port ? String(port) : '';
  },
  binary_remote_addr: (c) => c.remoteAddr,
  remote_user: remoteUser,
  content_type: (c) => requestHeader(c, 'content-type'),
  // A chunked body has none until it is read whole (then its length, as nginx counts it).
  content_length: (c) => requestHeader(c, 'content-length') ?? (c.requestBodyLength === undefined ? undefined : String(c.requestBodyLength)),
  request_time: (c) => formatMsec(Math.max(0, Date.now() - c.startMs)),
  msec: () => formatMsec(Date.now()),
  time_local: () => formatTimeLocal(Date.now()),
  time_iso8601: () => formatTimeIso8601(Date.now()),
  status: (c) => String(c.response.status).padStart(3, '0'),
  body_bytes_sent: (c) => String(c.response.bodyBytesSent),
  bytes_sent: (c) => String(c.response.bytesSent),
  request_length: (c) => String(c.requestLength),
  // Not found for an empty body (nginx has no buffer then), as for one in a file.
  request_body: (c) => (c.requestBody?.length ? c.requestBody.toString('latin1') : undefined),
  request_body_file: (c) => c.requestBodyFile,
  connection: (c) => String(c.connection),
  connection_requests: (c) => String(c.connectionRequests),
  document_root: (c) => c.paths?.documentRoot(),
  realpath_root: (c) => c.paths?.realpathRoot(),
  request_filename: (c) => c.paths?.requestFilename(),
  nginx_version: () => NGINX_VERSION,
  pid: () => String(process.pid),
  pipe: (c) => (c.pipelined ? 'p' : '.'),
  sent_http_content_type: (c) => firstHeader(c.response.headers['content-type']),
  sent_http_content_length: (c) => firstHeader(c.response.headers['content-length']),
  invalid_referer: (c) => c.locationVariable?.('invalid_referer') ?? '',
  secure_link: (c) => c.locationVariable?.('secure_link'),
  secure_link_expires: (c) => c.locationVariable?.('secure_link_expires'),
  // Without any fastcgi_* directive in the configuration: the URI, unsplit.
  fastcgi_script_name: (c) => c.locationVariable?.('fastcgi_script_name') ?? c.uri,
  fastcgi_path_info: (c) => c.locationVariable?.('fastcgi_path_info') ?? '',
};
for (const name of SSL_VARIABLES) BUILTIN[`ssl_${name}`] = (c) => (c.tls ? sslVariable(c.tls.socket, name, c.tls.fallback) : undefined);

const PREFIXES: [string, (c: VarContext, rest: string) => string | undefined][] = [
  ['http_', (c, rest) => {
    const lower = rest.toLowerCase();
    const v = requestHeader(c, lower.replaceAll('_', '-'));
    return v !== undefined || !lower.includes('_') ? v : headerSentWithUnderscores(c, lower);
  }],
  ['sent_http_', (c, rest) => firstHeader(c.response.headers[rest.toLowerCase().replaceAll('_', '-')])],
  ['arg_', (c, rest) => argValue(c.args, rest)],
  ['cookie_', (c, rest) => {
    const v = c.headers['cookie'];
    if (v === undefined) return undefined;
    return cookieValue(Array.isArray(v) ? v : [String(v)], rest);
  }],
];

/** Names the evaluator knows without a user definition (for config validation of `$unknown`). */
export function isKnownVariable(name: string): boolean {
  const n = name.toLowerCase();
  return n in BUILTIN || PREFIXES.some(([p]) => n.startsWith(p) && n.length > p.length);
}

/** The value of `$name` (without the `$`), or undefined when it is not set / not found. */
export function getVariable(ctx: VarContext, name: string): string | undefined {
  const user = ctx.userVars.get(name);
  if (user !== undefined) return user;
  if (name in ctx.namedCaptures) return ctx.namedCaptures[name];
  const lower = name.toLowerCase();
  const getter = BUILTIN[lower];
  if (getter) return getter(ctx);
  if (ctx.extra) {
    const v = ctx.extra(name, ctx);
    if (v !== undefined) return v;
  }
  for (const [prefix, fn] of PREFIXES) {
    if (lower.startsWith(prefix)) return fn(ctx, name.slice(prefix.length));
  }
  ctx.uninitialized?.(lower);
  return undefined;
}

/** `set $name value`: `$args`/`$query_string` write through to the request, others are user variables. */
export function setVariable(ctx: VarContext, name: string, value: string): void {
  const lower = name.toLowerCase();
  if (lower === 'args' || lower === 'query_string') ctx.args = value;
  else ctx.userVars.set(name, value);
}

// ---- complex values ----

export type ValuePart = string | { v: string } | { cap: number };

/** A template compiled to literal and variable parts. */
export interface CompiledValue {
  readonly source: string;
  readonly parts: readonly ValuePart[];
  /** True when the template has no variables: `parts` is one literal (or none). */
  readonly isStatic: boolean;
  /** Highest $N capture referenced (0 when none). */
  readonly maxCapture: number;
}

export class ComplexValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComplexValueError';
  }
}

const isNameChar = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;

/**
 * Compiles text with `$name`, `${name}` and `$1`..`$9` the way ngx_http_script_compile reads it: a
 * digit right after `$` is one capture digit (`$10` is capture 1 then "0"); names are [A-Za-z0-9_].
 * Throws nginx's messages for `$` alone and a missing `}`.
 */
export function compileComplexValue(source: string): CompiledValue {
  const parts: ValuePart[] = [];
  let lit = '';
  let maxCapture = 0;
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source.charCodeAt(i);
    if (c !== 0x24) { lit += source[i++]; continue; }
    i++;
    if (i === n) throw new ComplexValueError(`invalid variable name in "${source}"`);
    const d = source.charCodeAt(i);
    if (d >= 0x31 && d <= 0x39) {
      if (lit) { parts.push(lit); lit = ''; }
      const num = d - 0x30;
      parts.push({ cap: num });
      maxCapture = Math.max(maxCapture, num);
      i++;
      continue;
    }
    let bracket = false;
    if (d === 0x7b) {
      bracket = true;
      i++;
      if (i === n) throw new ComplexValueError(`invalid variable name in "${source}"`);
    }
    const start = i;
    let end = -1;
    for (; i < n; i++) {
      const ch = source.charCodeAt(i);
      if (ch === 0x7d && bracket) { end = i; i++; bracket = false; break; }
      if (isNameChar(ch)) continue;
      break;
    }
    if (bracket) throw new ComplexValueError(`the closing bracket in "${source.slice(start)}" variable is missing`);
    const name = source.slice(start, end < 0 ? i : end);
    if (!name) throw new ComplexValueError(`invalid variable name in "${source}"`);
    if (lit) { parts.push(lit); lit = ''; }
    parts.push({ v: name });
  }
  if (lit) parts.push(lit);
  return { source, parts, isStatic: parts.every((p) => typeof p === 'string'), maxCapture };
}

const compiledCache = new Map<string, CompiledValue>();

/** compileComplexValue with a process-wide cache (templates come from config, so the set is bounded). */
export function compiled(template: string): CompiledValue {
  let cv = compiledCache.get(template);
  if (!cv) {
    cv = compileComplexValue(template);
    if (compiledCache.size > 10000) compiledCache.clear();
    compiledCache.set(template, cv);
  }
  return cv;
}

/** Evaluates a compiled value; unknown variables and missing captures are empty, as in nginx. */
export function evaluate(cv: CompiledValue, ctx: VarContext, captureFilter?: (s: string) => string): string {
  if (cv.isStatic) return cv.parts.length ? (cv.parts[0] as string) : '';
  let out = '';
  for (const p of cv.parts) {
    if (typeof p === 'string') out += p;
    else if ('v' in p) out += getVariable(ctx, p.v) ?? '';
    else {
      const s = ctx.captures[p.cap] ?? '';
      out += captureFilter ? captureFilter(s) : s;
    }
  }
  return out;
}

/** Expands `template` for this request (compiled once per distinct template). */
export function expandComplexValue(template: string, ctx: VarContext): string {
  return evaluate(compiled(template), ctx);
}

/** What the pipeline reads and writes of the user variables (a Map does). */
export interface VarStore {
  get(name: string): string | undefined;
  has(name: string): boolean;
  set(name: string, value: string): unknown;
}

/** User variables whose Map is made with the first one set: most requests set none. */
export class UserVars implements VarStore {
  private map: Map<string, string> | undefined = undefined;
  get(name: string): string | undefined {
    return this.map === undefined ? undefined : this.map.get(name);
  }
  has(name: string): boolean {
    return this.map !== undefined && this.map.has(name);
  }
  set(name: string, value: string): this {
    (this.map ??= new Map()).set(name, value);
    return this;
  }
  /** A copy (a subrequest's: what it sets stays its own). */
  copy(): UserVars {
    const c = new UserVars();
    if (this.map) c.map = new Map(this.map);
    return c;
  }
}

/** A fresh context with neutral defaults, for tests and for contexts built piecemeal. */
export function newVarContext(init: Partial<VarContext> = {}): VarContext {
  return {
    method: 'GET', requestLine: 'GET / HTTP/1.1', protocol: 'HTTP/1.1', rawUri: '/', uri: '/', args: '',
    headers: {}, scheme: 'http', remoteAddr: '127.0.0.1', remotePort: 0, serverAddr: '127.0.0.1',
    serverPort: 80, host: '', serverName: '', startMs: Date.now(), connection: 1, connectionRequests: 1, pipelined: false,
    requestLength: 0, captures: [], namedCaptures: {}, userVars: new Map(),
    response: { status: 0, headers: {}, bodyBytesSent: 0, bytesSent: 0 },
    ...init,
  };
}
