// The request pipeline: select server → server rewrite → find location → location rewrite (with
// internal redirects, at most 10) → access → content (try_files, index, autoindex, static, return)
// → error_page → response headers (Server, Date, add_header, expires) → access log.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { realpathSync } from 'node:fs';
import type { Location, LocationConf, RewriteOp, RoutingState, ServerConf, ServerTable, SubFilterSettings } from '../config/state.ts';
import { parseRequestTarget, BadUriError, escapeUri, type ParsedUri } from './uri.ts';
import { validateHost, selectServer, findLocation } from './select.ts';
import { newVarContext, compiled, evaluate, requestHeader, setVariable, UserVars, type VarContext } from './variables.ts';
import type { ConfNode } from '../nginx/types.ts';
import { parseTime } from '../nginx/values.ts';
import { setOnlyVariables } from '../nginx/variables.ts';
import {
  applyRewrite, compileIfCondition, compileRewrite, evaluateIf, evaluateReturn, type IfCondition, type ReturnOutcome, type ReturnDirective,
} from './rewrite.ts';
import {
  absoluteLocation, detectBrowser, serverHeader, specialResponse, statusReason, closesWithoutResponse,
} from './responses.ts';
import { serveStaticSync, sendBody, mapUriToPath, isUnderRoot, documentRoot, httpDate, mimeTypeFor, conditionalStatus, type DocRoot } from './static.ts';
import { scriptNameOf, splitPath, type FastcgiSplit } from './fastcgi-split.ts';
import { resolveIndex, readAutoindexEntries, tryFiles, compileTryFiles } from './static-dir.ts';
import { autoindexListing } from './autoindex-formats.ts';
import { applyRealIp } from './realip.ts';
import { accessAllowed, unmapIPv4 } from './access.ts';
import { headStatus, transferEncodingStatus, LARGE_HEADER_BUFFER } from './request-limits.ts';
import { isPlainOnTls } from './plain-on-tls.ts';
import { invalidReferer } from './referer.ts';
import { secureLink, secureLinkExpires } from './secure-link.ts';
import { setRateLimit } from './limit-rate.ts';
import { SubrequestResponse } from './subrequest-response.ts';
import { installSubFilter, subFilterApplies, subFilterHeaders } from './sub-filter.ts';
import { symlinkRefusal } from './symlinks.ts';
import { clientRefusal, sniNameOf } from './tls-peer.ts';
import { matchServerName } from '../config/select.ts';
import { addHeaders, expiresHeaders } from './headers.ts';
import { createMapResolver } from './maps.ts';
import { checkBasicAuth } from './auth-basic.ts';
import { preaccess, inheritedDirective } from './limit-phase.ts';
import { LocalZoneClient, type ZoneClient } from './limit-zones.ts';
import { formatStubStatus } from './stub-status.ts';
import { gzipPlan, gzipHeaders, gzipResponseBody, gzipRatio, type GzipRequest } from './gzip.ts';
import {
  compileLogFormat, formatLogLine, logCondition, COMBINED, LogFiles, type LogFormat, type ErrorLogEntry,
} from './access-log.ts';
import type { IfCondition as ConfIfCondition } from '../config/state.ts';
import { whenDone, setKeepAliveAfter, isFastRequest } from '../server/http1-connection.ts';

/** nginx allows 10 URI changes (NGX_HTTP_MAX_URI_CHANGES) before "rewrite or internal redirection cycle". */
const MAX_URI_CHANGES = 10;

export interface PipelineOptions {
  /** Shared access log files (reopen() them on SIGUSR1). */
  logFiles?: LogFiles;
  /** Error log sink; lines are formatted by the caller's logger. */
  errorLog?: (entry: ErrorLogEntry) => void;
  /** Content handler for proxy_pass locations; without it such locations answer 502. */
  proxy?: (req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>;
  /** Content handlers for fastcgi_pass, uwsgi_pass and scgi_pass (http/cgi-upstream.ts); without one they answer 502. */
  fastcgi?: (req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>;
  uwsgi?: (req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>;
  scgi?: (req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>;
  /** Content handler for memcached_pass (http/memcached.ts). */
  memcached?: (req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>;
  /** Content handler for grpc_pass (http/grpc.ts). */
  grpc?: (req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>;
  /** stub_status text (default: the zones' totals in nginx's format). */
  stubStatus?: () => string | Promise<string>;
  /** Shared limit_req/limit_conn zones and stub_status totals (default: this process only). */
  zones?: ZoneClient;
}

/** What a content handler leaves for the pipeline to do. */
export type ContentOutcome =
  | { kind: 'done' }
  | { kind: 'status'; status: number; headers?: [string, string][] }
  | { kind: 'redirect-internal'; uri: string; args: string }
  | { kind: 'named'; name: string };

/** Per-request state the phases share. */
export interface RequestState {
  state: RoutingState;
  ctx: VarContext;
  server: ServerConf;
  location?: Location;
  /** Effective conf: the location's, or an `if` block's inside it, or the server's. */
  conf: LocationConf;
  method: string;
  internal: boolean;
  uriChanges: number;
  /** error_page status override (nginx's r->err_status). */
  errStatus?: number;
  errorPageDone: boolean;
  /** try_files hit on a regex alias: the alias gets the URI appended. */
  addUriToAlias: boolean;
  /** Headers a phase wants on the response (e.g. Content-Range on 416). */
  extraHeaders: [string, string][];
  localPort: number;
  localAddress: string;
  logFiles: LogFiles;
  /** nginx's r->valid_unparsed_uri: cleared when rewrite or an internal redirect changes the URI. */
  validUnparsedUri: boolean;
  /** nginx's r->valid_location: cleared by `rewrite … break` (proxy_pass then keeps the whole URI). */
  validLocation: boolean;
  /** The status logged when the connection is dropped before a response (408 on client_body_timeout). */
  closeStatus?: number;
  /** The access log lines were written. */
  logged?: boolean;
  /** The access log lines are being written (nginx's "while logging request" on an error line). */
  logging?: boolean;
  /** A subrequest's URI (auth_request's): its error lines name it, as nginx's do. */
  subrequest?: string;
  /** $fastcgi_script_name's split, kept as nginx keeps its module context (fastcgi-split.ts). */
  fastcgiSplit?: FastcgiSplit;
  /** What an X-Accel-Redirect answer leaves on the file response it leads to (upstream-attempts.ts). */
  accelCarried?: { type?: string; list: [string, string][] };
}

/** $request_length before the body: request line and header lines as received. */
function requestHeadLength(req: IncomingMessage, target: string, protocol: string): number {
  // Counted where it was read (http1-connection.ts); node:http gives only the parsed parts.
  const read = (req as { headLength?: number }).headLength;
  if (read) return read;
  let n = req.method!.length + target.length + protocol.length + 4;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) n += raw[i]!.length + raw[i + 1]!.length + 4;
  return n + 2;
}

/** What a connection keeps across its requests: its numbers, addresses and server table. */
interface ConnInfo {
  id: number;
  requests: number;
  localAddress: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  scheme: 'http' | 'https';
  /** The table for the local address, looked up once per state (a reload brings a new state). */
  tableState?: RoutingState;
  table?: ServerTable;
}
const connections = new WeakMap<Socket, ConnInfo>();
let connectionCounter = 0;

/** The request's header lines (HTTP/2's pseudo-headers are its request line). */
function headerLines(req: IncomingMessage): number {
  if (req.httpVersionMajor < 2) return req.rawHeaders.length / 2;
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.charCodeAt(0) !== 0x3a) n++;
  return n;
}

/**
 * Where a head's headers come from, for writeHead (every field always present: one object shape
 * for the hot path). `server`/`date`: the caller supplies its own; `list`: an upstream's list
 * (FastCGI, proxied), kept in its order; `location`: a Location the header filter makes its own;
 * `accel`: a file answered after X-Accel-Redirect.
 */
export interface HeadSource {
  server: boolean;
  date: boolean;
  list: boolean;
  location: string | undefined;
  accel: boolean;
}

export function headSource(server: boolean, date: boolean, list = false, location?: string, accel = false): HeadSource {
  return { server, date, list, location, accel };
}

/** The connection's number in the error log (`*N`). */
export const connectionIdOf = (socket: Socket): number => connInfo(socket).id;

function connInfo(socket: Socket): ConnInfo {
  let c = connections.get(socket);
  if (!c) {
    c = {
      id: ++connectionCounter, requests: 0,
      localAddress: unmapIPv4(socket.localAddress ?? ''), localPort: socket.localPort ?? 0,
      remoteAddr: unmapIPv4(socket.remoteAddress ?? ''), remotePort: socket.remotePort ?? 0,
      scheme: (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    };
    connections.set(socket, c);
  }
  c.requests++;
  return c;
}

/** The connection's server table under `state`. */
function connTable(conn: ConnInfo, state: RoutingState): ServerTable | undefined {
  if (conn.tableState !== state) {
    conn.table = tableFor(state, conn.localAddress, conn.localPort);
    conn.tableState = state;
  }
  return conn.table;
}

/**
 * Request headers by lowercase name. Node's joined `req.headers` is exact when no name comes twice
 * (the common case, and cheaper); otherwise each value is kept apart, as nginx keeps them.
 */
function requestHeaders(req: IncomingMessage, fast: boolean): Record<string, string | string[] | undefined> {
  // http1-connection.ts takes no head with a name twice.
  if (fast) return req.headers;
  // HTTP/2's object also holds the pseudo-headers: its adapter's headersDistinct leaves them out.
  if (req.httpVersionMajor >= 2) return req.headersDistinct as Record<string, string[]>;
  const joined = req.headers;
  let n = 0;
  for (const _ in joined) n++;
  return n * 2 === req.rawHeaders.length ? joined : (req.headersDistinct as Record<string, string[]>);
}

// ngx_http_parse_header_line: a header name is letters, digits and '-' ('_' too under
// underscores_in_headers); with ignore_invalid_headers on (the default) any other header line is
// skipped as if not sent — no $http_ variable, not proxied — and logged at info. It still counts in
// $request_length. Each line is judged by the server in effect when nginx reads it: the TLS SNI
// name's or the address's default one, then the request line's host, else the Host header's from
// the line after it on ("the host header could change the server configuration context").
// HTTP/2 (ngx_http_v2_validate_header): lowercase names, judged by the connection's server.
const VALID_NAME = /^[A-Za-z0-9-]+$/;
const VALID_NAME_UNDERSCORES = /^[A-Za-z0-9_-]+$/;
const VALID_H2_NAME = /^(:|[a-z0-9-]+$)/;
const VALID_H2_NAME_UNDERSCORES = /^(:|[a-z0-9_-]+$)/;

/** Removes the header lines nginx would skip from `req`; the error log's lines for them, or undefined. */
function dropInvalidHeaders(req: IncomingMessage, table: ServerTable, socket: Socket, uriHost: string | undefined): string[] | undefined {
  const h2 = req.httpVersionMajor >= 2;
  const raw = req.rawHeaders;
  let i = 0;
  const plain = h2 ? VALID_H2_NAME : VALID_NAME;
  while (i < raw.length && plain.test(raw[i]!)) i += 2;
  if (i >= raw.length) return undefined; // the common case: nothing to judge
  const sni = (socket as { servername?: unknown }).servername;
  let server = typeof sni === 'string' && sni !== '' ? selectServer(table, sni) : table.defaultServer;
  const fromUri = !h2 && uriHost !== undefined ? validateHost(uriHost) : undefined;
  if (fromUri) server = selectServer(table, fromUri);
  // node builds headers and headersDistinct from rawHeaders and its own count of them: build both
  // from the lines as read, then take the skipped names out (no valid name equals a skipped one).
  const joined = req.headers;
  const distinct = req.headersDistinct;
  const kept: string[] = [];
  let lines: string[] | undefined;
  const dropped = new Set<string>();
  let hostSeen = h2;
  for (i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (plain.test(name) || (server.underscoresInHeaders && (h2 ? VALID_H2_NAME_UNDERSCORES : VALID_NAME_UNDERSCORES).test(name)) || !server.ignoreInvalidHeaders) {
      kept.push(name, raw[i + 1]!);
      if (!hostSeen && !fromUri && name.length === 4 && name.toLowerCase() === 'host') {
        hostSeen = true;
        const host = validHost(raw[i + 1]!);
        if (host !== undefined) server = selectServer(table, host);
      }
      continue;
    }
    (lines ??= []).push(h2 ? `client sent invalid header: "${name}" while reading client request headers` : `client sent invalid header line: "${name}: ${raw[i + 1]!}" while reading client request headers`);
    dropped.add(name.toLowerCase());
  }
  if (!lines) return undefined;
  // An own property: HTTP/2's request has rawHeaders as a getter only.
  Object.defineProperty(req, 'rawHeaders', { value: kept, writable: true, configurable: true });
  // The same name can be skipped before the Host line and kept after it (another server's flags):
  // its values are the kept lines' (joined with ", ", as node joins any name that is not special).
  for (const lower of dropped) {
    delete joined[lower];
    delete distinct[lower];
    for (let k = 0; k < kept.length; k += 2) {
      if (kept[k]!.toLowerCase() !== lower) continue;
      const v = kept[k + 1]!;
      joined[lower] = joined[lower] === undefined ? v : `${joined[lower] as string}, ${v}`;
      (distinct[lower] ??= []).push(v);
    }
  }
  return lines;
}

/** The server table for the socket that accepted the connection: exact address, else the wildcard. */
export function tableFor(state: RoutingState, localAddress: string, localPort: number): ServerTable | undefined {
  const addr = unmapIPv4(localAddress);
  const v6 = addr.includes(':');
  const candidates = v6 ? [`[${addr}]:${localPort}`, `[::]:${localPort}`] : [`${addr}:${localPort}`, `0.0.0.0:${localPort}`, `*:${localPort}`];
  for (const k of candidates) {
    const t = state.tables.get(k);
    if (t) return t;
  }
  // A v4 client on a dual-stack [::] socket.
  return state.tables.get(`[::]:${localPort}`) ?? state.tables.get(`0.0.0.0:${localPort}`);
}

// Conditions and ops arrive as text from config/; compile them once per op object.
const ifCache = new WeakMap<ConfIfCondition, IfCondition>();
function compiledIf(c: ConfIfCondition): IfCondition {
  let v = ifCache.get(c);
  if (!v) ifCache.set(c, (v = compileIfCondition(c)));
  return v;
}
const rewriteCache = new WeakMap<object, ReturnType<typeof compileRewrite>>();
const returnCache = new WeakMap<object, ReturnDirective>();

type RewriteResult =
  | { kind: 'done'; uriChanged: boolean }
  | { kind: 'break' }
  | { kind: 'last' }
  | { kind: 'return'; outcome: ReturnOutcome }
  | { kind: 'status'; status: number };

// The results that carry nothing of their own are shared (runRewrite runs twice per request).
const REWRITE_DONE: RewriteResult = { kind: 'done', uriChanged: false };
const REWRITE_DONE_CHANGED: RewriteResult = { kind: 'done', uriChanged: true };
const REWRITE_BREAK: RewriteResult = { kind: 'break' };
const REWRITE_LAST: RewriteResult = { kind: 'last' };

/** Runs one level's rewrite-module program (rewrite/return/set/break/if, `if` bodies inline). */
function runRewrite(ops: readonly RewriteOp[], r: RequestState, quotedOrPlus: boolean, setConf: boolean): RewriteResult {
  // Most levels have no rewrite program at all.
  if (ops.length === 0) return REWRITE_DONE;
  let uriChanged = false;
  for (const op of ops) {
    switch (op.op) {
      case 'set':
        setVariable(r.ctx, op.variable, evaluate(compiled(op.value), r.ctx));
        break;
      case 'break':
        return REWRITE_BREAK;
      case 'return': {
        let ret = returnCache.get(op);
        if (!ret) {
          ret = { code: op.code, ...(op.text !== undefined ? { text: compiled(op.text) } : {}) };
          returnCache.set(op, ret);
        }
        return { kind: 'return', outcome: evaluateReturn(ret, r.ctx) };
      }
      case 'rewrite': {
        let rule = rewriteCache.get(op);
        if (!rule) {
          rule = compileRewrite(op.regex, op.replacement, op.flag);
          rewriteCache.set(op, rule);
        }
        const out = applyRewrite(rule, r.ctx, { quotedOrPlus });
        if (out.kind === 'nomatch') break;
        if (out.kind === 'error') return { kind: 'status', status: 500 };
        if (out.kind === 'redirect') return { kind: 'return', outcome: { kind: 'redirect', status: out.status, location: out.location } };
        r.ctx.uri = out.uri;
        r.ctx.args = out.args;
        uriChanged = true;
        // ngx_http_script_regex_start_code: a rewritten URI makes the request internal (`internal;` locations open).
        r.internal = true;
        r.validUnparsedUri = false;
        if (out.flag === 'break') {
          r.validLocation = false;
          return REWRITE_BREAK;
        }
        if (out.flag === 'last') return REWRITE_LAST;
        break;
      }
      case 'if': {
        if (!evaluateIf(compiledIf(op.condition), r.ctx)) break;
        if (setConf) r.conf = op.block;
        const inner = runRewrite(op.block.rewrite, r, quotedOrPlus, setConf);
        if (inner.kind !== 'done') return inner;
        uriChanged ||= inner.uriChanged;
        break;
      }
    }
  }
  return uriChanged ? REWRITE_DONE_CHANGED : REWRITE_DONE;
}

// The DocRoot of the last `root` without variables, for the next request under the same directive
// (DocRoots are never changed; the same object lets filePath() reuse its last answer).
let lastRootConf: LocationConf['root'] | undefined;
let lastPlainRoot: DocRoot | undefined;

function docRootFor(r: RequestState): DocRoot {
  const root = r.conf.root;
  if (!root.hasVariables && !root.alias) {
    if (root !== lastRootConf) {
      lastPlainRoot = { kind: 'root', path: root.path };
      lastRootConf = root;
    }
    return lastPlainRoot!;
  }
  const path = root.hasVariables ? evaluate(compiled(root.path), r.ctx) : root.path;
  if (!root.alias) return { kind: 'root', path };
  const loc = r.location;
  if (loc && (loc.kind === 'regex' || loc.kind === 'regex-caseless')) return { kind: 'regexAlias', path };
  return { kind: 'alias', path, locationPrefix: loc?.name ?? '' };
}

/** Whether a configuration has valid_referers or secure_link anywhere (else those variables need no request). */
const locationVariableUse = new WeakMap<RoutingState, boolean>();
const LOCATION_VARIABLE_DIRECTIVES = new Set(['valid_referers', 'secure_link', 'secure_link_md5', 'secure_link_secret']);
function usesLocationVariables(state: RoutingState): boolean {
  let uses = locationVariableUse.get(state);
  if (uses === undefined) {
    const scan = (nodes: readonly ConfNode[]): boolean => nodes.some((n) => LOCATION_VARIABLE_DIRECTIVES.has(n.directive) || n.directive.startsWith('fastcgi_') || (n.block !== undefined && scan(n.block)));
    locationVariableUse.set(state, (uses = scan(state.httpDirectives ?? [])));
  }
  return uses;
}

const setOnlyCache = new WeakMap<RoutingState, ReadonlySet<string>>();
function setOnly(state: RoutingState): ReadonlySet<string> {
  let names = setOnlyCache.get(state);
  if (names === undefined) setOnlyCache.set(state, (names = setOnlyVariables(state.httpDirectives ?? [])));
  return names;
}

/**
 * ngx_http_rewrite_var: a `set` variable read before anything set it is empty, with a warning
 * (unless uninitialized_variable_warn is off where it is read). nginx keeps that empty value for
 * the rest of the request, so each name is logged once per request.
 */
function uninitializedWarner(r: RequestState, opts: PipelineOptions, names: ReadonlySet<string>): (name: string) => void {
  let logged: Set<string> | undefined;
  return (name) => {
    if (!names.has(name) || logged?.has(name)) return;
    (logged ??= new Set()).add(name);
    if (r.conf.uninitializedVariableWarn) logError(r, opts, 'warn', `using uninitialized "${name}" variable${r.logging ? ' while logging request' : ''}`);
  };
}

function locationVariable(r: RequestState, name: string): string | undefined {
  switch (name) {
    case 'invalid_referer': return invalidReferer(r.conf.validReferers, r.server.names, requestHeader(r.ctx, 'referer'));
    case 'secure_link': return secureLink(r.conf, r.ctx, r.ctx.rawUri);
    case 'secure_link_expires': return secureLinkExpires(r.conf, r.ctx);
    case 'fastcgi_script_name': return scriptNameOf(r.conf.fastcgi, (r.fastcgiSplit = splitPath(r.conf.fastcgi, r.ctx.uri, r.fastcgiSplit)));
    case 'fastcgi_path_info': return (r.fastcgiSplit = splitPath(r.conf.fastcgi, r.ctx.uri, r.fastcgiSplit)).pathInfo;
  }
  return undefined;
}

const mapResolvers = new WeakMap<RoutingState, ReturnType<typeof createMapResolver>>();
function mapResolver(state: RoutingState): ReturnType<typeof createMapResolver> {
  let m = mapResolvers.get(state);
  if (!m) {
    m = createMapResolver(state.maps, state.geos, state.splitClients);
    mapResolvers.set(state, m);
  }
  return m;
}

const logFormatCache = new WeakMap<RoutingState, Map<string, LogFormat>>();
function logFormat(state: RoutingState, name: string): LogFormat | undefined {
  if (name === 'combined') return COMBINED;
  let m = logFormatCache.get(state);
  if (!m) { m = new Map(); logFormatCache.set(state, m); }
  let f = m.get(name);
  if (!f) {
    const def = state.logFormats.get(name);
    if (!def) return undefined;
    f = compileLogFormat(name, [def.format], def.escape);
    m.set(name, f);
  }
  return f;
}

/** Builds the node:http request listener serving whatever state getState() returns at arrival. */
export function createRequestHandler(getState: () => RoutingState, opts: PipelineOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const logFiles = opts.logFiles ?? new LogFiles();
  if (!opts.zones) opts = { ...opts, zones: new LocalZoneClient() };
  const options = opts;
  return (req, res) => {
    // Most requests (a static file from memory) are answered synchronously: no promise is made
    // for them. A throw there and a rejection of an asynchronous path get the same answer.
    let pending: Promise<void> | void;
    try {
      pending = handle(getState(), req, res, options, logFiles);
    } catch (err) {
      internalError(err, req, res, options);
      return;
    }
    if (pending) pending.catch((err) => internalError(err, req, res, options));
  };
}

/** An exception from the request path: logged as an alert, then a 500 or a dropped connection. */
function internalError(err: unknown, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions): void {
  // The connection was dropped while the body was read (client gone, client_body_timeout).
  if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' && req.socket?.destroyed) return;
  opts.errorLog?.({ level: 'alert', message: `internal error: ${(err as Error).stack ?? String(err)}` });
  if (!res.headersSent) {
    res.statusCode = 500;
    res.end();
  } else {
    res.destroy();
  }
}

const NO_CAPTURES: readonly (string | undefined)[] = [];

/**
 * What a response sent, for $status, $bytes_sent and $sent_http_*. The header names are lowercased
 * only when a variable asks for them: most requests never do.
 */
class ResponseInfo {
  status = 0;
  bodyBytesSent = 0;
  bytesSent = 0;
  /** [name, value, …] as writeHead sent them, until `headers` is read. */
  private sentFlat: readonly string[] | undefined = undefined;
  private sentMap: Record<string, string> | undefined = undefined;

  get headers(): Record<string, string> {
    const map = (this.sentMap ??= {});
    if (this.sentFlat !== undefined) {
      addFlat(map, this.sentFlat);
      this.sentFlat = undefined;
    }
    return map;
  }

  record(flat: readonly string[]): void {
    if (this.sentFlat === undefined && this.sentMap === undefined) this.sentFlat = flat;
    else addFlat(this.headers, flat);
  }
}

function addFlat(map: Record<string, string | string[] | number | undefined>, flat: readonly string[]): void {
  for (let i = 0; i < flat.length; i += 2) map[flat[i]!.toLowerCase()] = flat[i + 1]!;
}

/** Keeps the sent headers for $sent_http_* (the context may come from newVarContext in tests). */
function recordSentHeaders(response: VarContext['response'], flat: readonly string[]): void {
  if (response instanceof ResponseInfo) response.record(flat);
  else addFlat(response.headers, flat);
}

/** $document_root, $realpath_root, $request_filename: computed only when a variable asks. */
class RequestPaths {
  constructor(private readonly r: RequestState) {}
  documentRoot(): string {
    return documentRoot(docRootFor(this.r));
  }
  realpathRoot(): string {
    const d = documentRoot(docRootFor(this.r));
    try { return realpathSync(Buffer.from(d, 'latin1'), { encoding: 'buffer' }).toString('latin1'); } catch { return d; }
  }
  requestFilename(): string {
    return mapUriToPath(docRootFor(this.r), this.r.ctx.uri, this.r.addUriToAlias);
  }
}

/**
 * The response is done: flushed, or closed before that (the client went away: nginx logs 499).
 * One shared function (no closure per request), called through whenDone.
 */
function onResponseDone(r: RequestState, finished: boolean, res: ServerResponse): void {
  if (!finished && !res.headersSent) r.ctx.response.status = r.closeStatus ?? 499;
  r.logging = true;
  writeAccessLog(r);
  r.logging = false;
}

// The last request's derived values, kept for the next one (most requests repeat the previous
// one's target and Host): no parsing again, and the very same strings go on (a Map lookup with a
// string that was looked up before does not hash it again). Each is a pure function of its input.
let lastTarget: string | undefined;
let lastParsed: ParsedUri | undefined;
let lastQuotedOrPlus = false;
/** parseRequestTarget(target) (merge_slashes on); throws BadUriError as it does. */
function parseTarget(target: string): ParsedUri {
  if (target === lastTarget) return lastParsed!;
  const parsed = parseRequestTarget(target);
  const q = parsed.rawUri.indexOf('?');
  lastQuotedOrPlus = /[%+]/.test(q < 0 ? parsed.rawUri : parsed.rawUri.slice(0, q));
  lastTarget = target;
  lastParsed = parsed;
  return parsed;
}
/** The path of `parsed.rawUri` holds `%` or `+` (ngx_http_parse_complex_uri's quoted_uri / plus_in_uri). */
function quotedOrPlusOf(parsed: ParsedUri): boolean {
  if (parsed === lastParsed) return lastQuotedOrPlus;
  const rawUri = parsed.rawUri;
  const q = rawUri.indexOf('?');
  return /[%+]/.test(q < 0 ? rawUri : rawUri.slice(0, q));
}
let lastLine = { method: '', target: '', protocol: '', line: '' };
/** $request: the last one again when its parts are the same. */
function requestLineOf(method: string, target: string, protocol: string): string {
  const l = lastLine;
  if (target === l.target && method === l.method && protocol === l.protocol) return l.line;
  const line = protocol ? `${method} ${target} ${protocol}` : `${method} ${target}`;
  lastLine = { method, target, protocol, line };
  return line;
}
let lastHostIn: string | undefined;
let lastHostOut: string | undefined;
function validHost(value: string): string | undefined {
  if (value === lastHostIn) return lastHostOut;
  const v = validateHost(value);
  lastHostIn = value;
  lastHostOut = v;
  return v;
}

/** $server_protocol: the strings of nearly every request are not built again for each. */
function protocolOf(version: string): string {
  return version === '1.1' ? 'HTTP/1.1' : version === '1.0' ? 'HTTP/1.0' : `HTTP/${version}`;
}

/** The request through the phases; a promise only where a phase has to wait. */
function handle(state: RoutingState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, logFiles: LogFiles): Promise<void> | void {
  const startMs = Date.now();
  const socket = req.socket;
  const conn = connInfo(socket);
  const { localAddress, localPort, scheme } = conn;
  const method = req.method ?? 'GET';
  // HTTP/0.9 (only from http1-connection.ts) has no protocol in its request line.
  const protocol = req.httpVersionMajor === 0 ? '' : protocolOf(req.httpVersion);
  const target = req.url ?? '/';
  const table = connTable(conn, state);
  if (!table) {
    res.destroy();
    return;
  }

  let parsed: ParsedUri | undefined;
  let badRequest = false;
  try {
    parsed = parseTarget(target);
  } catch (e) {
    if (!(e instanceof BadUriError)) throw e;
    badRequest = true;
  }
  const fast = isFastRequest(req);
  const requestLength = requestHeadLength(req, target, protocol);
  // bext's own reader (fast) takes only names nginx calls valid.
  const invalidLines = fast ? undefined : dropInvalidHeaders(req, table, socket, parsed?.host);
  const headers = requestHeaders(req, fast);
  const hostValues = headers.host;
  if (Array.isArray(hostValues) && hostValues.length > 1) badRequest = true; // "client sent duplicate host header"
  const hostHeader = Array.isArray(hostValues) ? hostValues[0] : hostValues;
  let host = '';
  if (parsed?.host !== undefined) host = validateHost(parsed.host) ?? '';
  else if (typeof hostHeader === 'string') {
    const v = validHost(hostHeader);
    if (v === undefined) badRequest = true;
    else host = v;
  } else if (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
    badRequest = true; // HTTP/1.1 without Host
  }

  // A whole literal (not newVarContext's defaults spread over): one object shape for every request.
  const ctx: VarContext = {
    method,
    requestLine: requestLineOf(method, target, protocol),
    protocol,
    rawUri: parsed?.rawUri ?? target,
    uri: parsed?.uri ?? '',
    args: parsed?.args ?? '',
    headers,
    scheme,
    tls: scheme === 'https' ? { socket: socket as TLSSocket, fallback: table.defaultServer.tls } : undefined,
    remoteAddr: conn.remoteAddr,
    remotePort: conn.remotePort,
    serverAddr: localAddress,
    serverPort: localPort,
    host,
    serverName: '',
    startMs,
    connection: conn.id,
    connectionRequests: conn.requests,
    // Known where bext reads the connection itself (http1-connection.ts); node:http does not say.
    pipelined: (req as { pipelined?: boolean }).pipelined === true,
    requestLength,
    // Replaced, never changed in place, by a regex match: an empty one can be shared.
    captures: NO_CAPTURES,
    // Own properties, not lazy getters: proxy-headers.ts copies the context with a spread.
    namedCaptures: {},
    userVars: new UserVars(),
    limitsApplied: 0,
    response: new ResponseInfo(),
    paths: undefined,
    extra: mapResolver(state),
  };
  // Refused while reading the head (414, 494, 505): nginx has not chosen a server by name yet.
  // A head http1-connection.ts parsed has no line too long and is HTTP/1.x or 0.9.
  const refused = fast ? undefined : headStatus(req, target);
  const server = badRequest || refused ? table.defaultServer : selectServer(table, host, ctx);
  ctx.serverName = server.primaryName;
  // nginx logs a too long request line as far as its buffer held it.
  if (refused === 414) ctx.requestLine = ctx.requestLine.slice(0, LARGE_HEADER_BUFFER);
  if (parsed && !server.mergeSlashes) {
    try {
      parsed = parseRequestTarget(target, false);
      ctx.uri = parsed.uri;
    } catch { badRequest = true; }
  }

  const r: RequestState = {
    state, ctx, server, conf: server.conf, method, internal: false, uriChanges: MAX_URI_CHANGES + 1,
    errorPageDone: false, logged: false, logging: false, addUriToAlias: false, extraHeaders: [], localPort, localAddress,
    logFiles, validUnparsedUri: true, validLocation: true,
  };
  ctx.paths = new RequestPaths(r);
  if (usesLocationVariables(state)) ctx.locationVariable = (name) => locationVariable(r, name);
  const setNames = setOnly(state);
  if (setNames.size > 0) ctx.uninitialized = uninitializedWarner(r, opts, setNames);

  whenDone(res, onResponseDone, r);
  if (invalidLines) for (const line of invalidLines) logError(r, opts, 'info', line);

  if (refused || badRequest) return sendSpecial(r, res, refused ?? 400);
  // max_headers (Debian's nginx): more header lines than that is refused as a head too large (494).
  if (req.rawHeaders.length > 2 * server.maxHeaders && headerLines(req) > server.maxHeaders) {
    logError(r, opts, 'info', 'client sent too many header lines while reading client request headers');
    return sendSpecial(r, res, 494);
  }
  const te = transferEncodingStatus(req);
  if (te) {
    logError(r, opts, 'info', 'client sent unknown "Transfer-Encoding"');
    return sendSpecial(r, res, te);
  }
  const quotedOrPlus = quotedOrPlusOf(parsed!);
  // ngx_http_process_request: plain HTTP on an ssl port is 497, after the server was chosen by Host.
  if (isPlainOnTls(socket)) {
    logError(r, opts, 'info', 'client sent plain HTTP request to HTTPS port while reading client request headers');
    return finalize(r, req, res, opts, quotedOrPlus, 497);
  }
  // ssl_verify_client: the handshake asked for a certificate and verified it; the server Host chose
  // decides (421 when the name differs from the SNI one the handshake was made for).
  if (r.server.tls?.verifyClient && r.ctx.tls) {
    const sni = sniNameOf(r.ctx.tls.socket);
    // ngx_http_set_virtual_server: only a request that names a host, on a connection whose SNI name matched a server.
    const sniServer = sni && host ? matchServerName(table, sni)?.server : undefined;
    const refusal = clientRefusal(r.ctx.tls.socket, r.server.tls, table.defaultServer.tls, sniServer ? sni : undefined, host);
    if (refusal) {
      // A 421 is answered (and logged) under the server the handshake chose: Host never took effect.
      if (refusal.status === 421 && sniServer) {
        r.server = sniServer;
        r.conf = sniServer.conf;
        r.ctx.serverName = sniServer.primaryName;
      }
      logError(r, opts, 'info', `${refusal.line} while reading client request headers`);
      return finalize(r, req, res, opts, quotedOrPlus, refusal.status);
    }
  }
  // POST_READ: realip with the server's settings (a location's are applied in preaccess).
  if (r.server.conf.realIp) applyRealIp(r.ctx, r.server.conf.realIp);
  return runPhases(r, req, res, opts, quotedOrPlus, true);
}

/**
 * From server rewrite (fromServerRewrite) or find-location, until a response is sent. Synchronous
 * as long as every phase is (a static file from memory): a promise only where one has to wait.
 */
function runPhases(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, quotedOrPlus: boolean, fromServerRewrite: boolean): Promise<void> | void {
  let doServerRewrite = fromServerRewrite;
  for (;;) {
    if (doServerRewrite) {
      r.conf = r.server.conf;
      r.location = undefined;
      const sr = runRewrite(r.server.conf.rewrite, r, quotedOrPlus, false);
      if (sr.kind === 'return') return sendReturn(r, res, sr.outcome, req, opts, quotedOrPlus);
      if (sr.kind === 'status') return finalize(r, req, res, opts, quotedOrPlus, sr.status);
      doServerRewrite = false;
    }

    // find config
    const match = findLocation(r.server, r.ctx.uri, r.ctx);
    if (match.kind === 'auto-redirect') {
      r.location = match.location;
      r.conf = match.location.conf;
      const loc = escapeUri(r.ctx.uri) + '/' + (r.ctx.args ? '?' + r.ctx.args : '');
      return sendSpecial(r, res, 301, loc);
    }
    r.location = match.kind === 'found' ? match.location : undefined;
    r.conf = r.location ? r.location.conf : r.server.conf;
    if (r.conf.internal && !r.internal) return finalize(r, req, res, opts, quotedOrPlus, 404);
    const contentLength = req.headers['content-length'];
    const bodyLength = contentLength === undefined ? 0 : Number(contentLength);
    if (r.conf.clientMaxBodySize && bodyLength > r.conf.clientMaxBodySize) {
      logError(r, opts, 'error', `client intended to send too large body: ${bodyLength} bytes`);
      return finalize(r, req, res, opts, quotedOrPlus, 413);
    }

    // location rewrite
    const lr = runRewrite(r.conf.rewrite, r, quotedOrPlus, true);
    if (lr.kind === 'return') return sendReturn(r, res, lr.outcome, req, opts, quotedOrPlus);
    if (lr.kind === 'status') return finalize(r, req, res, opts, quotedOrPlus, lr.status);
    if (lr.kind === 'last' || (lr.kind === 'done' && lr.uriChanged)) {
      if (--r.uriChanges === 0) {
        logError(r, opts, 'error', `rewrite or internal redirection cycle while processing "${r.ctx.uri}"`);
        return finalize(r, req, res, opts, quotedOrPlus, 500);
      }
      continue;
    }

    // preaccess: realip with the location's settings, when the server's found no address.
    if (r.conf.realIp) applyRealIp(r.ctx, r.conf.realIp);
    // preaccess (limit_req, limit_conn) and access wait on zones or files: the rest goes async.
    if (hasPreaccess(r.conf) || hasAccessRules(r.conf)) return accessThenContent(r, req, res, opts, quotedOrPlus);

    // content
    const outcome = content(r, req, res, opts);
    if (outcome instanceof Promise) return outcome.then((o) => afterContentThenPhases(r, req, res, opts, quotedOrPlus, o));
    const after = afterContent(r, req, res, opts, quotedOrPlus, outcome);
    if (after !== AGAIN) return after;
    doServerRewrite = true;
  }
}

/** afterContent's "go through the phases again from server rewrite" (an internal redirect). */
const AGAIN = Symbol('again');

/** What the content phase's outcome leads to: done, an error page, or the phases again. */
function afterContent(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, quotedOrPlus: boolean, outcome: ContentOutcome): Promise<void> | void | typeof AGAIN {
  switch (outcome.kind) {
    case 'done':
      return;
    case 'status':
      if (outcome.headers) r.extraHeaders.push(...outcome.headers);
      return finalize(r, req, res, opts, quotedOrPlus, outcome.status);
    case 'redirect-internal':
      if (!internalRedirect(r, outcome.uri, outcome.args, opts)) return finalize(r, req, res, opts, quotedOrPlus, 500);
      return AGAIN;
    case 'named': {
      const named = r.server.named.get(outcome.name);
      if (!named) return finalize(r, req, res, opts, quotedOrPlus, 500);
      return runNamed(r, named, req, res, opts, quotedOrPlus);
    }
  }
}

function afterContentThenPhases(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, quotedOrPlus: boolean, outcome: ContentOutcome): Promise<void> | void {
  const after = afterContent(r, req, res, opts, quotedOrPlus, outcome);
  return after === AGAIN ? runPhases(r, req, res, opts, quotedOrPlus, true) : after;
}

/** preaccess, access and content for a location that has limits or access rules. */
function accessThenContent(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, quotedOrPlus: boolean): Promise<void> | void {
  // preaccess: limit_req, then limit_conn (synchronous when the zones answer at once)
  if (!hasPreaccess(r.conf)) return accessPhaseThenContent(r, req, res, opts, quotedOrPlus);
  const out = runPreaccess(r, res, opts);
  if (out instanceof Promise) return out.then((o) => afterPreaccess(r, req, res, opts, quotedOrPlus, o.status));
  return afterPreaccess(r, req, res, opts, quotedOrPlus, out.status);
}

function afterPreaccess(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, quotedOrPlus: boolean, limited: number | undefined): Promise<void> | void {
  if (limited !== undefined) return finalize(r, req, res, opts, quotedOrPlus, limited);
  if (hasAccessRules(r.conf)) return accessPhaseThenContent(r, req, res, opts, quotedOrPlus);
  const outcome = content(r, req, res, opts);
  if (outcome instanceof Promise) return outcome.then((o) => afterContentThenPhases(r, req, res, opts, quotedOrPlus, o));
  return afterContentThenPhases(r, req, res, opts, quotedOrPlus, outcome);
}

/** limit_req and limit_conn: a refusal's status in the result, or none to go on. */
function runPreaccess(r: RequestState, res: ServerResponse, opts: PipelineOptions): ReturnType<typeof preaccess> {
  const log = (level: ErrorLogEntry['level'], message: string) => logError(r, opts, level, message);
  return preaccess(r, opts.zones!, log, (release) => res.once('close', release));
}

/** access (allow/deny, auth_basic), then content. */
async function accessPhaseThenContent(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, quotedOrPlus: boolean): Promise<void> {
  const denied = hasAccessRules(r.conf) ? await accessPhase(r, req, opts) : undefined;
  if (denied !== undefined) return refuse(r, req, res, opts, quotedOrPlus, denied);
  const pending = content(r, req, res, opts);
  const outcome = pending instanceof Promise ? await pending : pending;
  return afterContentThenPhases(r, req, res, opts, quotedOrPlus, outcome);
}

// Most locations have neither limits nor access rules: those phases are skipped without a promise.
const hasPreaccess = (conf: LocationConf) => conf.limitReq.length > 0 || conf.limitConn.length > 0;
const hasAccessRules = (conf: LocationConf) => conf.access.length > 0 || conf.limitExcept !== undefined || !!conf.authBasic?.userFile || conf.authRequest !== undefined;

/**
 * The access phase: allow/deny (and limit_except's), then auth_basic. With `satisfy all` the first
 * refusal answers; with `satisfy any` one handler letting the request in is enough, and when all
 * refuse a 401 (with its challenge) wins over a 403 (ngx_http_core_access_phase).
 */
/** The access phase's refusal; a 401 waits auth_delay first (ngx_http_core_auth_delay). */
async function refuse(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, quotedOrPlus: boolean, status: number): Promise<void> {
  if (status === 401) {
    const delay = inheritedDirective(r, 'auth_delay');
    const ms = delay ? parseTime(delay.args[0]!, false) ?? 0 : 0;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }
  return finalize(r, req, res, opts, quotedOrPlus, status);
}

async function accessPhase(r: RequestState, req: IncomingMessage, opts: PipelineOptions): Promise<number | undefined> {
  const any = inheritedDirective(r, 'satisfy')?.args[0] === 'any';
  let code: number | undefined;
  let addrRule = r.conf.access.length > 0;
  let addrOk = accessAllowed(r.conf.access, r.ctx.remoteAddr);
  const le = r.conf.limitExcept;
  if (le && !le.methods.includes(r.method) && !(r.method === 'HEAD' && le.methods.includes('GET'))) {
    addrRule ||= le.conf.access.length > 0;
    addrOk &&= accessAllowed(le.conf.access, r.ctx.remoteAddr);
  }
  if (addrRule) {
    if (!addrOk && !any) return 403;
    if (addrOk && any) return undefined;
    if (!addrOk) code = 403;
  }

  // auth_request: the subrequest's status decides (2xx in; 401 and 403 as they are; else 500).
  if (r.conf.authRequest !== undefined) {
    const auth = await authRequest(r, req, opts);
    if (auth === 500 || (!any && auth !== undefined)) return auth;
    if (auth === undefined && any) return undefined;
    // satisfy any: when every handler refuses, a 401 (with its challenge) wins over a 403.
    if (auth !== undefined && (code === undefined || auth === 401)) code = auth;
  }

  const ab = r.conf.authBasic;
  if (ab && ab.userFile) {
    const realm = evaluate(compiled(ab.realm), r.ctx);
    if (realm !== 'off') {
      const auth = await checkBasicAuth(req.headers.authorization, evaluate(compiled(ab.userFile), r.ctx));
      if (auth.kind === 'ok') return any ? undefined : code;
      if (auth.log) logError(r, opts, 'error', auth.log);
      if (auth.kind === 'status') return auth.status;
      r.extraHeaders.push(['WWW-Authenticate', `Basic realm="${realm}"`]);
      return 401;
    }
  }
  return code;
}

/**
 * ngx_http_auth_request_handler: a GET subrequest to the auth_request URI, with the client's
 * headers and no body, through that location's handler (proxy_pass, return, files); its head is
 * kept, its body dropped. auth_request_set's variables are set from it whatever its status. 2xx
 * lets the request in (undefined); 401 (with the subrequest's WWW-Authenticate) and 403 refuse it;
 * anything else is logged and answered 500.
 */
async function authRequest(r: RequestState, req: IncomingMessage, opts: PipelineOptions): Promise<number | undefined> {
  const target = r.conf.authRequest!;
  const q = target.indexOf('?');
  const ctx: VarContext = {
    ...r.ctx, uri: q < 0 ? target : target.slice(0, q), args: q < 0 ? '' : target.slice(q + 1),
    userVars: (r.ctx.userVars as UserVars).copy(), response: new ResponseInfo(), captures: NO_CAPTURES, namedCaptures: {},
  };
  // Its URI is its own (nginx's valid_unparsed_uri is 0 for a subrequest): proxy_pass without a URI sends it.
  const sub: RequestState = {
    ...r, ctx, method: 'GET', internal: true, extraHeaders: [], errStatus: undefined, errorPageDone: true, logged: true, subrequest: ctx.uri, validUnparsedUri: false,
  };
  ctx.paths = new RequestPaths(sub);
  // Its warnings name the subrequest, as nginx's lines do.
  if (ctx.uninitialized !== undefined) ctx.uninitialized = uninitializedWarner(sub, opts, setOnly(r.state));
  const fake = new SubrequestResponse();
  const res = fake as unknown as ServerResponse;
  let status: number;
  const match = findLocation(r.server, ctx.uri, ctx);
  if (match.kind !== 'found') status = match.kind === 'auto-redirect' ? 301 : 404;
  else {
    sub.location = match.location;
    sub.conf = match.location.conf;
    const rw = runRewrite(sub.conf.rewrite, sub, false, true);
    if (rw.kind === 'return') status = rw.outcome.kind === 'close' ? 444 : rw.outcome.status;
    else if (rw.kind === 'status') status = rw.status;
    else {
      const out = await content(sub, req, res, opts);
      status = out.kind === 'status' ? out.status : fake.statusCode || 500;
    }
  }
  for (const s of r.conf.authRequestSet) setVariable(r.ctx, s.name, evaluate(compiled(s.value), ctx));
  if (status === 403) return 403;
  if (status === 401) {
    // 1.22 passes one WWW-Authenticate on, the first (later nginx, all).
    const challenge = fake.values('WWW-Authenticate')[0];
    if (challenge !== undefined) r.extraHeaders.push(['WWW-Authenticate', challenge]);
    return 401;
  }
  if (status >= 200 && status < 300) return undefined;
  // After an upstream, nginx's log action is still the upstream module's last one.
  logError(r, opts, 'error', `auth request unexpected status: ${status}${sub.conf.proxyPass ? ' while sending to client' : ''}`);
  return 500;
}

/** Logs an error-log entry with nginx's request context (client, server, request, upstream, host, referrer). */
export function logError(r: RequestState, opts: Pick<PipelineOptions, 'errorLog'>, level: ErrorLogEntry['level'], message: string, upstream?: string): void {
  if (!opts.errorLog) return;
  const referrer = r.ctx.headers['referer'];
  // nginx prints the Host header as sent (port and case kept), and no host without one.
  const hostHeader = r.ctx.headers['host'];
  const host = hostHeader === undefined ? undefined : Array.isArray(hostHeader) ? String(hostHeader[0]) : String(hostHeader);
  opts.errorLog({
    level, message, connection: r.ctx.connection, client: r.ctx.remoteAddr, server: r.server.primaryName,
    request: r.ctx.requestLine, ...(r.subrequest !== undefined ? { subrequest: r.subrequest } : {}),
    ...(upstream !== undefined ? { upstream } : {}), ...(host !== undefined ? { host } : {}),
    ...(referrer !== undefined ? { referrer: Array.isArray(referrer) ? String(referrer[0]) : String(referrer) } : {}),
  });
}

function internalRedirect(r: RequestState, uri: string, args: string, opts: PipelineOptions): boolean {
  if (--r.uriChanges === 0) {
    logError(r, opts, 'error', `rewrite or internal redirection cycle while internally redirecting to "${uri}"`);
    return false;
  }
  r.ctx.uri = uri;
  r.ctx.args = args;
  r.fastcgiSplit = undefined; // nginx clears every module's context
  r.internal = true;
  r.addUriToAlias = false;
  r.validUnparsedUri = false;
  r.validLocation = true;
  return true;
}

async function runNamed(r: RequestState, named: Location, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, quotedOrPlus: boolean): Promise<void> {
  if (--r.uriChanges === 0) return finalize(r, req, res, opts, quotedOrPlus, 500);
  r.internal = true;
  r.fastcgiSplit = undefined;
  r.location = named;
  r.conf = named.conf;
  const lr = runRewrite(r.conf.rewrite, r, quotedOrPlus, true);
  if (lr.kind === 'return') return sendReturn(r, res, lr.outcome, req, opts, quotedOrPlus);
  if (lr.kind === 'status') return finalize(r, req, res, opts, quotedOrPlus, lr.status);
  if (lr.kind === 'last' || (lr.kind === 'done' && lr.uriChanged)) return runPhases(r, req, res, opts, quotedOrPlus, false);
  // A named location runs nginx's phases from location rewrite on: preaccess and access too.
  if (r.conf.realIp) applyRealIp(r.ctx, r.conf.realIp);
  const limited = hasPreaccess(r.conf) ? (await runPreaccess(r, res, opts)).status : undefined;
  if (limited !== undefined) return finalize(r, req, res, opts, quotedOrPlus, limited);
  const denied = hasAccessRules(r.conf) ? await accessPhase(r, req, opts) : undefined;
  if (denied !== undefined) return refuse(r, req, res, opts, quotedOrPlus, denied);
  const outcome = await content(r, req, res, opts);
  if (outcome.kind === 'done') return;
  if (outcome.kind === 'status') return finalize(r, req, res, opts, quotedOrPlus, outcome.status);
  if (outcome.kind === 'redirect-internal') {
    if (!internalRedirect(r, outcome.uri, outcome.args, opts)) return finalize(r, req, res, opts, quotedOrPlus, 500);
    return runPhases(r, req, res, opts, quotedOrPlus, true);
  }
  const next = r.server.named.get(outcome.name);
  return next ? runNamed(r, next, req, res, opts, quotedOrPlus) : finalize(r, req, res, opts, quotedOrPlus, 500);
}

const DONE: ContentOutcome = { kind: 'done' };

/**
 * The content phase of the selected location. A static file from memory is answered without a
 * promise (most requests, try_files and index files included); proxying, stub_status, listings
 * and streamed files return one.
 */
function content(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions): ContentOutcome | Promise<ContentOutcome> {
  const conf = r.conf;
  // limit_rate, or `set $limit_rate` (which wins), for the body about to go out.
  const rate = r.ctx.userVars.get('limit_rate') ?? (conf.limitRate === undefined ? undefined : evaluate(compiled(conf.limitRate), r.ctx));
  if (rate !== undefined) setRateLimit(res, rate, conf.limitRateAfter, r.ctx.startMs, r.ctx.response);
  const cgi = conf.fastcgi.pass ? 'fastcgi' : conf.uwsgi.pass ? 'uwsgi' : conf.scgi.pass ? 'scgi' : conf.memcached.pass ? 'memcached' : conf.grpc.pass ? 'grpc' : undefined;
  if (conf.proxyPass || cgi) {
    // nginx's try_files phase comes before every content handler: a file found becomes the URI.
    if (conf.tryFiles && conf.tryFiles.length > 0) {
      const tried = tryFilesPhase(r, opts, docRootFor(r));
      if (tried) return tried;
    }
    // The listeners leave `Expect: 100-continue` to the handler: nginx answers 100 only when it reads the body.
    if (req.headers.expect !== undefined && /^100-continue$/i.test(req.headers.expect)) res.writeContinue();
    bodyTimeout(r, req, res);
    if (conf.proxyPass) {
      if (opts.proxy) return opts.proxy(req, res, r);
      logError(r, opts, 'error', 'proxy_pass is not served by this build');
      return { kind: 'status', status: 502 };
    }
    const handler = opts[cgi!];
    if (handler) return handler(req, res, r);
    logError(r, opts, 'error', `${cgi}_pass is not served by this build`);
    return { kind: 'status', status: 502 };
  }
  // A handler bext cannot run: 502, as nginx answers when its backend cannot be used. Falling
  // through to the files would send a script's source (and whatever secrets it holds).
  if (conf.unservedPass) {
    logError(r, opts, 'error', `${conf.unservedPass} is not supported by bext-masquerade: the request was not passed`);
    return { kind: 'status', status: 502 };
  }
  if (conf.stubStatus) return stubStatusContent(r, res, opts);
  if (conf.emptyGif) return emptyGifContent(r, req, res);
  const root = docRootFor(r);
  if (conf.tryFiles && conf.tryFiles.length > 0) return tryFilesContent(r, req, res, opts, root);
  return fileContent(r, req, res, opts, root);
}

async function stubStatusContent(r: RequestState, res: ServerResponse, opts: PipelineOptions): Promise<ContentOutcome> {
  if (r.method !== 'GET' && r.method !== 'HEAD') return { kind: 'status', status: 405 };
  const text = opts.stubStatus ? await opts.stubStatus() : formatStubStatus(await opts.zones!.stubStatus());
  sendBuffer(r, res, 200, 'text/plain', Buffer.from(text, 'latin1'));
  return DONE;
}

/** A 1×1 transparent GIF (43 bytes), as nginx's empty_gif sends it. */
const EMPTY_GIF = Buffer.from('R0lGODlhAQABAIABAAAAAP///yH5BAEAAAEALAAAAAABAAEAAAICTAEAOw==', 'base64');
/** ngx_http_empty_gif_handler's fixed Last-Modified (Mon, 28 Sep 1970 06:00:00 GMT). */
const EMPTY_GIF_MODIFIED_SEC = 23349600;

function emptyGifContent(r: RequestState, req: IncomingMessage, res: ServerResponse): ContentOutcome {
  if (r.method !== 'GET' && r.method !== 'HEAD') return { kind: 'status', status: 405 };
  const lastModified: [string, string] = ['Last-Modified', httpDate(EMPTY_GIF_MODIFIED_SEC * 1000)];
  // The not-modified filter sees its Last-Modified as any other response's.
  const cond = conditionalStatus(req.headers, { lastModifiedSec: EMPTY_GIF_MODIFIED_SEC }, r.conf.ifModifiedSince);
  if (cond === 412) return { kind: 'status', status: 412 };
  if (cond === 304) {
    writeHead(r, res, 304, [lastModified], EMPTY_GIF_MODIFIED_SEC);
    res.end();
    return DONE;
  }
  writeHead(r, res, 200, [['Content-Type', 'image/gif'], ['Content-Length', String(EMPTY_GIF.length)], lastModified], EMPTY_GIF_MODIFIED_SEC);
  r.ctx.response.bodyBytesSent = r.method === 'HEAD' ? 0 : EMPTY_GIF.length;
  r.ctx.response.bytesSent += r.ctx.response.bodyBytesSent;
  res.end(r.method === 'HEAD' ? undefined : EMPTY_GIF);
  return DONE;
}

function tryFilesContent(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, root: DocRoot): ContentOutcome | Promise<ContentOutcome> {
  return tryFilesPhase(r, opts, root) ?? fileContent(r, req, res, opts, root);
}

/** try_files: the outcome when no file was found, else undefined with the file's URI in effect. */
function tryFilesPhase(r: RequestState, opts: PipelineOptions, root: DocRoot): ContentOutcome | undefined {
  const ds = r.conf.disableSymlinks;
  const refused = ds && ((path: string): boolean => {
    const why = symlinkRefusal(r.conf, path, r.ctx);
    // try_files logs a link it may not follow at crit (a missing directory, not at all).
    if (why?.errno === 40) logError(r, opts, 'crit', `openat() "${path}" failed (40: ${why.text})`);
    return why !== undefined;
  });
  const tf = tryFiles(compileTryFiles(r.conf.tryFiles!, compiled), root, r.ctx, refused || undefined);
  if (tf.kind === 'status') return { kind: 'status', status: tf.status };
  if (tf.kind === 'named') return { kind: 'named', name: tf.name };
  if (tf.kind === 'redirect') return { kind: 'redirect-internal', uri: tf.uri, args: tf.args };
  r.ctx.uri = tf.uri;
  r.addUriToAlias = tf.addUriToAlias ?? false;
  return undefined;
}

/**
 * max_ranges as the range filter applies it to a 200 with these headers: 0 (it steps aside) when the
 * gzip filter will compress the response or the sub filter rewrite it, as both take the length away
 * before the range filter looks (nginx's filter order).
 */
export function rangeFilterMax(r: RequestState, headers: [string, string][]): number | undefined {
  const conf = r.conf;
  const type = headers.find(([k]) => k === 'Content-Type')?.[1];
  if (gzipPlan(conf.gzip, gzipRequest(r), 200, headers).compress) return 0;
  if (conf.subFilter.pairs.length > 0 && subFilterApplies(conf.subFilter, type)) return 0;
  return conf.maxRanges;
}

/**
 * What a 416 keeps of the 200 it was: nginx's range filter turns the 200 into 416 after the headers
 * filter ran on it, so add_header and expires are already there as for a 200 (and `always` ones come
 * again with the error page).
 */
export function headersAsFor200(r: RequestState): [string, string][] {
  return [...expiresHeaders(r.conf.expires, 200, Date.now()), ...addHeaders(r.conf.addHeaders, 200, r.ctx)];
}

/** The static module: a directory's index or listing, or a file. */
function fileContent(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, root: DocRoot): ContentOutcome | Promise<ContentOutcome> {
  const conf = r.conf;
  const uri = r.ctx.uri;
  // index, autoindex and static all decline other methods; static then answers 405.
  if (r.method !== 'GET' && r.method !== 'HEAD' && r.method !== 'POST') return { kind: 'status', status: 405 };
  if (uri.endsWith('/')) return indexContent(r, res, opts, root);
  const file = filePath(root, uri, r.addUriToAlias);
  if (file === undefined) return { kind: 'status', status: 404 };
  if (conf.disableSymlinks) {
    const refused = symlinkRefusal(conf, file, r.ctx);
    if (refused) {
      const status = refused.errno === 40 ? 403 : 404;
      if (status !== 404 || conf.logNotFound) logError(r, opts, 'error', `openat() "${file}" failed (${refused.errno}: ${refused.text})`);
      return { kind: 'status', status };
    }
  }
  const result = serveStaticSync(file, { method: r.method, uri, args: r.ctx.args, headers: req.headers }, {
    etag: conf.etag, ifModifiedSince: conf.ifModifiedSince,
    maxRanges: req.headers.range !== undefined ? rangeFilterMax(r, [['Content-Type', mimeTypeFor(uri, conf.types, conf.defaultType)]]) : conf.maxRanges,
    types: conf.types, defaultType: conf.defaultType, httpVersion: req.httpVersionMajor * 1000 + req.httpVersionMinor,
    errorStatus: r.errStatus !== undefined && r.errStatus !== 200,
  });
  if (result.kind === 'error') {
    // log_not_found off: a missing file (ENOENT, ENOTDIR, ENAMETOOLONG: the 404s) is not logged.
    if (result.reason && (conf.logNotFound || result.status !== 404)) logError(r, opts, 'error', result.reason);
    return { kind: 'status', status: result.status, headers: [...(result.status === 416 ? headersAsFor200(r) : []), ...result.headers] };
  }
  if (result.kind === 'redirect') {
    sendSpecial(r, res, 301, result.location);
    return DONE;
  }
  const status = result.status === 200 && r.errStatus !== undefined ? r.errStatus : result.status;
  // max_ranges 0: the range filter steps aside before it would add Accept-Ranges. (A copy: results
  // may be shared, see static.ts.)
  const headers = conf.maxRanges === 0 ? result.headers.filter(([k]) => k !== 'Accept-Ranges') : result.headers;
  writeHead(r, res, status, headers, result.lastModifiedSec, undefined, r.accelCarried ? CARRIED : undefined);
  const len = contentLengthOf(headers);
  r.ctx.response.bodyBytesSent = r.method === 'HEAD' || status === 304 ? 0 : len;
  r.ctx.response.bytesSent += r.ctx.response.bodyBytesSent;
  const streaming = sendBody(res, result.body);
  return streaming ? streaming.then(() => DONE) : DONE;
}

/** writeHead's marker for a file answered after X-Accel-Redirect: the upstream's headers it keeps come first. */
const CARRIED = headSource(false, false, false, undefined, true);

let lastRoot: DocRoot | undefined;
let lastUri = '';
let lastAddUri = false;
let lastFile: string | undefined;
/** mapUriToPath, or undefined when the path leaves its root (isUnderRoot); the last one is kept. */
function filePath(root: DocRoot, uri: string, addUriToAlias: boolean): string | undefined {
  if (root === lastRoot && uri === lastUri && addUriToAlias === lastAddUri) return lastFile;
  const file = mapUriToPath(root, uri, addUriToAlias);
  const ok = isUnderRoot(root, file) ? file : undefined;
  lastRoot = root;
  lastUri = uri;
  lastAddUri = addUriToAlias;
  lastFile = ok;
  return ok;
}

/** The Content-Length a handler's headers announce (0 without one). */
function contentLengthOf(headers: readonly [string, string][]): number {
  for (const h of headers) if (h[0] === 'Content-Length') return Number(h[1]);
  return 0;
}

/** A URI ending in '/': the index file (an internal redirect), the autoindex listing, or 403. */
function indexContent(r: RequestState, res: ServerResponse, opts: PipelineOptions, root: DocRoot): ContentOutcome | Promise<ContentOutcome> {
  const conf = r.conf;
  const uri = r.ctx.uri;
  const names = conf.index.map((n) => evaluate(compiled(n), r.ctx));
  const idx = resolveIndex(root, uri, r.method, names);
  if (idx.kind === 'redirect') return { kind: 'redirect-internal', uri: idx.uri, args: r.ctx.args };
  if (idx.kind === 'error') return { kind: 'status', status: idx.status };
  if (conf.autoindex && (r.method === 'GET' || r.method === 'HEAD')) return autoindexContent(r, res, root);
  logError(r, opts, 'error', `directory index of "${mapUriToPath(root, uri)}" is forbidden`);
  return { kind: 'status', status: 403 };
}

async function autoindexContent(r: RequestState, res: ServerResponse, root: DocRoot): Promise<ContentOutcome> {
  const conf = r.conf;
  const uri = r.ctx.uri;
  const entries = await readAutoindexEntries(mapUriToPath(root, uri));
  if ('status' in entries) return { kind: 'status', status: entries.status };
  const listing = autoindexListing(conf.autoindexFormat, r.ctx.args, uri, entries, {
    exactSize: conf.autoindexExactSize, localtime: conf.autoindexLocaltime,
    // Names are measured in characters when the charset filter made the page utf-8.
    utf8: responseCharset(conf, 'text/html', 200)?.toLowerCase() === 'utf-8',
  });
  if ('status' in listing) return { kind: 'status', status: listing.status };
  // nginx streams listings without a Content-Length (chunked on 1.1, close on 1.0).
  sendBuffer(r, res, 200, listing.type, Buffer.from(listing.body, 'latin1'), [], false);
  return DONE;
}

const NO_HEADERS: readonly [string, string][] = [];
const SERVER_TOKENS_ON: readonly [string, string] = ['Server', serverHeader(true)];
const SERVER_TOKENS_OFF: readonly [string, string] = ['Server', serverHeader(false)];

// The Date header of the current second, made once per second (tuples are never changed in place).
let dateHeader: [string, string] = ['Date', ''];
function dateTuple(now: number): [string, string] {
  const d = httpDate(now);
  if (dateHeader[1] !== d) dateHeader = ['Date', d];
  return dateHeader;
}

/** The handler headers writeHead puts in its list in their own order (the core ones are taken apart). */
function listed(name: string, status: number): boolean {
  switch (name) {
    case 'Content-Type': case 'Content-Length': case 'Last-Modified': case 'Location': case 'ETag': return false;
    case 'Accept-Ranges': return status === 200;
    default: return true;
  }
}

/** Written by ngx_http_header_filter before Transfer-Encoding and Connection. */
function isCore(k: string, ownLocation: boolean): boolean {
  return k === 'Server' || k === 'Date' || k === 'Content-Type' || k === 'Content-Length' || k === 'Last-Modified' || (ownLocation && k === 'Location');
}

/** The index of the first header that is not a core one (nor Transfer-Encoding when asked), or -1. */
function firstNonCore(all: readonly [string, string][], ownLocation: boolean, skipTransferEncoding: boolean): number {
  for (let i = 0; i < all.length; i++) {
    const k = all[i]![0];
    if (!isCore(k, ownLocation) && !(skipTransferEncoding && k === 'Transfer-Encoding')) return i;
  }
  return -1;
}

/**
 * writeHead with nginx's header order (ngx_http_header_filter): Server, Date, Content-Type,
 * Content-Length, Last-Modified, a Location it made absolute, Transfer-Encoding, Connection, then
 * the header list (another Location, ETag, expires, add_header, Accept-Ranges/Content-Range …).
 * Last-Modified survives only on 200/206/304 and Accept-Ranges only on 200, as in nginx.
 */
export function writeHead(
  r: RequestState, res: ServerResponse, status: number, headers: [string, string][], lastModifiedSec?: number, reason?: string,
  /**
   * Server/Date the caller supplies itself (proxy_pass_header), so nginx's own are not added;
   * `list`: the headers are an upstream's list (FastCGI), kept in their order with Location,
   * Last-Modified and ETag among them (ngx_http_upstream_rewrite_location leaves a relative
   * Location as sent; only Content-Type and Content-Length are the header filter's own);
   * `location`: an upstream Location proxy_redirect rewrote, the header filter's own; `accel`: a
   * file after X-Accel-Redirect, with the upstream's Content-Type and the headers it kept first.
   */
  passed?: HeadSource,
): void {
  let compress = false;
  r.ctx.response.status = status;
  const now = Date.now();
  const conf = r.conf;
  // Without add_header, expires, gzip and the caller's own Server/Date/reason, the header list
  // depends only on what HeadListMemo compares: the last one is used again when all match.
  const memoable = passed === undefined && reason === undefined && conf.addHeaders.length === 0 && !conf.expires && !conf.gzip.enabled && conf.subFilter.pairs.length === 0;
  const closingReq = r.ctx.connectionRequests >= conf.keepaliveRequests;
  if (memoable) {
    const m = headListMemo;
    if (m !== undefined && m.headers === headers && m.conf === conf && m.status === status && m.date === dateTuple(now)
      && m.isHead === (r.method === 'HEAD') && m.closingReq === closingReq && m.shouldKeepAlive === res.shouldKeepAlive
      && m.chunkedDefault === res.useChunkedEncodingByDefault) {
      if (!conf.chunkedTransferEncoding) res.useChunkedEncodingByDefault = false;
      if (m.keepAlive) idleAfter(res, conf.keepaliveTimeoutMs);
      sendHead(r, res, status, m.phrase, m.flat, m.bytes, m.length);
      return;
    }
  }
  const memoIn = memoable ? { chunkedDefault: res.useChunkedEncodingByDefault, shouldKeepAlive: res.shouldKeepAlive } : undefined;
  // The first of each core name (later ones are dropped); ETags and the rest keep their order and
  // are taken in later passes (no arrays of their own).
  let type: [string, string] | undefined;
  let contentLength: [string, string] | undefined;
  let modified: [string, string] | undefined;
  let location: [string, string] | undefined;
  let hasEtag = false;
  const asList = passed?.list === true;
  if (passed?.location !== undefined) location = ['Location', passed.location];
  const carried = passed?.accel ? r.accelCarried : undefined;
  if (carried?.type !== undefined) type = ['Content-Type', carried.type];
  for (const h of headers) {
    switch (h[0]) {
      case 'Content-Type': type ??= h; break;
      case 'Content-Length': contentLength ??= h; break;
      case 'Last-Modified': if (!asList) modified ??= h; break;
      case 'Location': if (!asList) location ??= h; break;
      case 'ETag': if (!asList) hasEtag = true; break;
    }
  }
  let all: [string, string][] = [];
  if (!passed?.server) all.push((r.conf.serverTokens !== 'off' ? SERVER_TOKENS_ON : SERVER_TOKENS_OFF) as [string, string]);
  if (!passed?.date) all.push(dateTuple(now));
  const firstStart = all.length;
  if (type) {
    const cs = responseCharset(r.conf, type[1], status);
    all.push(cs === undefined ? type : ['Content-Type', `${type[1]}; charset=${cs}`]);
  }
  if (contentLength) all.push(contentLength);
  if (modified && (status === 200 || status === 206 || status === 304)) all.push(modified);
  // A relative Location is made absolute by the header filter itself and written with the core
  // headers; any other Location stays first in the header list.
  const ownLocation = location !== undefined && r.conf.absoluteRedirect && location[1].startsWith('/');
  if (location && ownLocation) all.push(['Location', absoluteLocation(location[1], redirectContext(r))]);
  const firstCount = all.length - firstStart;
  if (location && !ownLocation) all.push(location);
  if (carried) for (const h of carried.list) all.push(h);
  if (hasEtag) for (const h of headers) if (h[0] === 'ETag') all.push(h);
  const expires = r.conf.expires ? expiresHeaders(r.conf.expires, status, now, lastModifiedSec) : NO_HEADERS;
  const added = r.conf.addHeaders.length > 0 ? addHeaders(r.conf.addHeaders, status, r.ctx) : NO_HEADERS;
  // A 416 went through the header filters once as a 200 (see content()): Content-Range and those
  // headers come before the ones the error page's own pass adds.
  if (asList) for (const h of headers) if (h[0] !== 'Content-Type' && h[0] !== 'Content-Length') all.push(h);
  if (status === 416 && !asList) for (const h of headers) if (listed(h[0], status)) all.push(h);
  // A challenge the access phase set (auth_basic, auth_request) is in the list before add_header's.
  if (status === 401 && !asList) for (const h of headers) if (h[0] === 'WWW-Authenticate') all.push(h);
  for (const h of expires) all.push(h);
  for (const h of added) all.push(h);
  if (status !== 416 && !asList) for (const h of headers) if (listed(h[0], status) && !(status === 401 && h[0] === 'WWW-Authenticate')) all.push(h);
  // The sub filter (before gzip, as in nginx's filter chain): its head changes, its body rewrite.
  let sub: SubFilterSettings | undefined;
  if (conf.subFilter.pairs.length > 0 && status !== 204 && status !== 304 && contentLength?.[1] !== '0' && subFilterApplies(conf.subFilter, type?.[1])) {
    sub = conf.subFilter;
    all = subFilterHeaders(sub, all);
  }
  const subBody = sub && r.method !== 'HEAD'
    ? () => installSubFilter(res, sub!, r.ctx, (out) => {
      if (compress) return; // gzip counts what it sends
      r.ctx.response.bodyBytesSent = out;
      r.ctx.response.bytesSent = (r.ctx.protocol === '' ? 0 : r.ctx.response.bytesSent - r.ctx.response.bodyBytesSent) + out;
    })
    : undefined;
  // The gzip filter: Vary after the core headers, then the compressed response's own header changes.
  if (r.conf.gzip.enabled) {
    const gz = gzipPlan(r.conf.gzip, gzipRequest(r), status, all);
    if (gz.vary) all.splice(2 + firstCount, 0, ['Vary', 'Accept-Encoding']);
    if (gz.compress) all = gzipHeaders(all);
    compress = gz.compress;
  }
  // ngx_http_header_filter writes Server, Date, Content-Type, Content-Length, Last-Modified, its
  // own Location, then Transfer-Encoding and Connection, then the header list. Left to itself Node
  // appends a chunked Transfer-Encoding last and adds `Keep-Alive: timeout=65` (which nginx never
  // sends): both are named here, and only as Node would do anyway (chunk, keep the connection).
  // chunked_transfer_encoding off: a response without a length ends with the connection instead.
  if (!r.conf.chunkedTransferEncoding) res.useChunkedEncodingByDefault = false;
  let hasLength = false;
  let hasTransferEncoding = false;
  let connectionHeader = false;
  // keepalive_timeout 0 at this location switches keep-alive off, and so does the request that
  // reaches keepalive_requests on its connection (ngx_http_update_location_config).
  let closing = r.conf.keepaliveTimeoutMs === 0 || r.ctx.connectionRequests >= r.conf.keepaliveRequests;
  for (let i = 0; i < all.length; i++) {
    const k = all[i]![0];
    if (k === 'Content-Length') hasLength = true;
    else if (k.length === 10 && k.toLowerCase() === 'connection') {
      connectionHeader = true;
      if (/close/i.test(all[i]![1])) closing = true;
    } else if (k.length === 17 && k.toLowerCase() === 'transfer-encoding') hasTransferEncoding = true;
  }
  const canDelimit = res.useChunkedEncodingByDefault || hasLength;
  if (connectionHeader) all = all.filter(([k]) => k.toLowerCase() !== 'connection');
  const hasBody = r.method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
  if (hasBody && res.useChunkedEncodingByDefault && !hasLength && !hasTransferEncoding) {
    const coreEnd = firstNonCore(all, ownLocation, false);
    all.splice(coreEnd < 0 ? all.length : coreEnd, 0, ['Transfer-Encoding', 'chunked']);
  }
  const listStart = firstNonCore(all, ownLocation, true);
  // A 101 (proxied websocket) says `Connection: upgrade`, as nginx's header filter does.
  const keepAlive = status !== 101 && !closing && res.shouldKeepAlive && canDelimit;
  const at = listStart < 0 ? all.length : listStart;
  const connection = status === 101 ? 'upgrade' : keepAlive ? 'keep-alive' : 'close';
  // keepalive_timeout's second argument, right after Connection as ngx_http_header_filter writes it.
  const keepAliveValue = keepAlive && r.conf.keepaliveHeaderSec ? `timeout=${r.conf.keepaliveHeaderSec}` : undefined;
  if (keepAlive) idleAfter(res, r.conf.keepaliveTimeoutMs);
  // The flat [name, value, …] list for res.writeHead, with Connection (and Keep-Alive) at `at`.
  // Made at its final size (growing it by push costs a few backing stores per response).
  const flat: string[] = new Array(2 * (all.length + (keepAliveValue === undefined ? 1 : 2)));
  let n = 0;
  let length: string | undefined;
  let bytes = 17 + 10 + connection.length + 4 + (keepAliveValue === undefined ? 0 : 10 + keepAliveValue.length + 4);
  for (let i = 0; i <= all.length; i++) {
    if (i === at) {
      flat[n++] = 'Connection';
      flat[n++] = connection;
      if (keepAliveValue !== undefined) {
        flat[n++] = 'Keep-Alive';
        flat[n++] = keepAliveValue;
      }
    }
    if (i === all.length) break;
    const h = all[i]!;
    if (length === undefined && h[0] === 'Content-Length') length = h[1];
    flat[n++] = h[0];
    flat[n++] = h[1];
    bytes += h[0].length + h[1].length + 4;
  }
  const phrase = reason ?? (statusReason(status) || ' ');
  // The status line's reason phrase (none for a code nginx has none for: the blank one goes, sendHead).
  if (phrase !== ' ') bytes += phrase.length;
  if (compress) {
    sendHead(r, res, status, phrase, flat, bytes, length, () => {
      gzipResponseBody(res, r.conf.gzip.compLevel, (out, into) => {
        r.ctx.response.bodyBytesSent = r.method === 'HEAD' ? 0 : out; // Node sends no body on HEAD
        // The head and the compressed body (a content handler may have counted the plain one).
        r.ctx.response.bytesSent = (r.ctx.protocol === '' ? 0 : bytes) + r.ctx.response.bodyBytesSent;
        r.ctx.userVars.set('gzip_ratio', gzipRatio(into, out));
      });
      // Installed last, so it rewrites before gzip compresses.
      subBody?.();
    });
    return;
  }
  // A Location made absolute depends on the request's Host: such a list is not kept.
  if (memoIn !== undefined && !(location && ownLocation)) {
    headListMemo = {
      headers, conf, status, date: dateTuple(now), isHead: r.method === 'HEAD', closingReq, ...memoIn,
      keepAlive, phrase, flat, bytes, length,
    };
  }
  sendHead(r, res, status, phrase, flat, bytes, length, subBody);
}

/** The last header list writeHead built without add_header, expires and gzip, with what it came from. */
interface HeadListMemo {
  headers: readonly [string, string][];
  conf: LocationConf;
  status: number;
  date: [string, string];
  isHead: boolean;
  closingReq: boolean;
  chunkedDefault: boolean;
  shouldKeepAlive: boolean;
  keepAlive: boolean;
  phrase: string;
  flat: string[];
  bytes: number;
  length: string | undefined;
}
let headListMemo: HeadListMemo | undefined;

/** writeHead's end: the head handed to the response (the flat list is never changed once made). */
function sendHead(
  r: RequestState, res: ServerResponse, status: number, phrase: string, flat: string[], bytes: number, length: string | undefined,
  /** The gzip filter, set up right after the head. */
  afterHead?: () => void,
): void {
  recordSentHeaders(r.ctx.response, flat);
  res.sendDate = false;
  res.writeHead(status, phrase, flat);
  // nginx sends "HTTP/1.1 418 " for a code it has no phrase for; Node refuses an empty phrase (it
  // would put its own), so the blank one we gave is taken back out of the head before it is sent.
  const pending = res as unknown as { _header?: unknown };
  if (phrase === ' ' && typeof pending._header === 'string') pending._header = pending._header.replace(/^(HTTP\/1\.\d \d{3}) {2}\r\n/, '$1 \r\n');
  afterHead?.();
  r.ctx.response.bytesSent = r.ctx.protocol === '' ? 0 : bytes; // HTTP/0.9: no head is sent
  // A body that fits the socket buffers is handed over at once; only longer ones can stall on the client.
  if (status !== 101 && r.method !== 'HEAD' && (length === undefined || Number(length) > SEND_TIMEOUT_MIN_BYTES)) sendTimeout(r, res);
}

/** Bodies up to this size never wait on the client (they fit the kernel's socket buffers). */
const SEND_TIMEOUT_MIN_BYTES = 64 * 1024;

/** The socket under an HTTP/1 exchange (HTTP/2 streams have their own session timeouts). */
function h1Socket(req: IncomingMessage | undefined, res: ServerResponse): Socket | undefined {
  if (req && req.httpVersionMajor >= 2) return undefined;
  const socket = res.socket;
  return socket && typeof socket.setTimeout === 'function' && !socket.destroyed ? socket : undefined;
}

/**
 * client_body_timeout, where the body is read (proxy_pass): the client may stay silent between two
 * reads at most that long. nginx then drops the connection without an answer and logs 408.
 */
function bodyTimeout(r: RequestState, req: IncomingMessage, res: ServerResponse): void {
  const socket = h1Socket(req, res);
  if (!socket || req.complete) return;
  socket.setTimeout(r.conf.clientBodyTimeoutMs);
  const onTimeout = () => {
    if (req.complete) return;
    r.closeStatus = 408;
    socket.destroy();
  };
  req.on('timeout', onTimeout);
  req.once('end', () => {
    req.off('timeout', onTimeout);
    if (!res.headersSent && !socket.destroyed) socket.setTimeout(0);
  });
}

/**
 * send_timeout: while the response is written, a client that takes nothing for that long is dropped.
 * Node keeps the timer quiet while writes progress; a quiet moment with nothing queued (waiting for
 * an upstream) is not the client's fault and is let pass, as nginx arms this timer only when a
 * write is blocked.
 */
function sendTimeout(r: RequestState, res: ServerResponse): void {
  if (r.ctx.protocol.startsWith('HTTP/2')) return;
  const socket = h1Socket(undefined, res);
  if (!socket || r.conf.sendTimeoutMs <= 0) return;
  const ms = r.conf.sendTimeoutMs;
  socket.setTimeout(ms);
  res.on('timeout', () => {
    const queued = (socket as Socket & { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0;
    if (socket.writableLength > 0 || res.writableLength > 0 || queued > 0 || res.writableNeedDrain) socket.destroy();
    // Nothing waits on the client: the timer fired between two writes. Arm it again (Node does
    // only on activity, and a write that then blocks is no activity).
    else if (!socket.destroyed) socket.setTimeout(ms);
  });
}

/**
 * ngx_http_charset_filter_module's header part: the charset `conf` adds to a response of this
 * Content-Type, or undefined. Not on 301/302, nor when the type already names a charset.
 */
export function responseCharset(conf: LocationConf, contentType: string, status: number): string | undefined {
  if (conf.charset === undefined || status === 301 || status === 302 || contentType === '') return undefined;
  if (/;\s*charset\s*=/i.test(contentType)) return undefined;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (conf.charsetTypes[0] !== '*' && !conf.charsetTypes.includes(type)) return undefined;
  return conf.charset;
}

/**
 * A per-location keepalive_timeout: once the response is finished Node arms the server-wide idle
 * timer on the socket (if it stays open); this location's value replaces it.
 */
function idleAfter(res: ServerResponse, ms: number): void {
  const socket = res.socket;
  // The same as the server's own (the default server's): Node arms exactly that already.
  if ((socket as (Socket & { server?: { keepAliveTimeout?: number } }) | null)?.server?.keepAliveTimeout === ms) return;
  // bext's own HTTP/1 connections take it from the response (no listener).
  if (setKeepAliveAfter(res, ms)) return;
  res.once('finish', () => {
    if (socket && !socket.destroyed && (socket as Socket & { timeout?: number }).timeout) socket.setTimeout(ms);
  });
}

function gzipRequest(r: RequestState): GzipRequest {
  const v = /^HTTP\/(\d)\.(\d)$/.exec(r.ctx.protocol);
  return {
    method: r.method,
    httpVersion: v ? Number(v[1]) * 1000 + Number(v[2]) : r.ctx.protocol === '' ? 9 : 1000, // '': HTTP/0.9
    header: (name) => {
      const h = r.ctx.headers[name];
      return Array.isArray(h) ? h[0] : h === undefined ? undefined : String(h);
    },
  };
}

function sendBuffer(r: RequestState, res: ServerResponse, status: number, type: string | undefined, body: Buffer, extra: [string, string][] = [], withLength = true): void {
  const headers: [string, string][] = [];
  if (type !== undefined && status !== 204) headers.push(['Content-Type', type]);
  if (withLength && status !== 204 && status !== 304) headers.push(['Content-Length', String(body.length)]);
  headers.push(...extra);
  writeHead(r, res, status, headers);
  const head = r.method === 'HEAD' || status === 204 || status === 304;
  // $body_bytes_sent counts the chunked framing too: one chunk ("<hex>\r\n" … "\r\n") and "0\r\n\r\n".
  const framing = !head && res.chunkedEncoding && body.length > 0 ? body.length.toString(16).length + 4 + 5 : 0;
  r.ctx.response.bodyBytesSent = head ? 0 : body.length + framing;
  r.ctx.response.bytesSent += r.ctx.response.bodyBytesSent;
  res.end(head ? undefined : body);
}

export function redirectContext(r: RequestState) {
  return {
    absoluteRedirect: r.conf.absoluteRedirect, serverNameInRedirect: r.conf.serverNameInRedirect,
    portInRedirect: r.conf.portInRedirect, scheme: r.ctx.scheme, host: r.ctx.host, serverName: r.server.primaryName,
    localAddress: r.localAddress, localPort: r.localPort,
  };
}

// 494 and 505 are refused while the head is read, before keep-alive is decided: they close too.
const CLOSING_STATUSES = new Set([400, 413, 414, 494, 495, 496, 497, 500, 501, 505]);

/** nginx's generated page for `status` (with an optional Location), no error_page lookup. */
function sendSpecial(r: RequestState, res: ServerResponse, status: number, location?: string): void {
  const ua = r.ctx.headers['user-agent'];
  const browser = detectBrowser(Array.isArray(ua) ? ua[0] : ua === undefined ? undefined : String(ua));
  const sp = specialResponse(status, { serverTokens: r.conf.serverTokens !== 'off', browser });
  if (sp === null) {
    r.ctx.response.status = status;
    res.destroy();
    writeAccessLog(r);
    return;
  }
  const extra: [string, string][] = [...r.extraHeaders];
  // Made absolute (absolute_redirect) where nginx does it: in writeHead, as the header filter.
  if (location !== undefined) extra.push(['Location', location]);
  // These errors end keep-alive in nginx (ngx_http_special_response_handler).
  if (CLOSING_STATUSES.has(status)) extra.push(['Connection', 'close']);
  sendBuffer(r, res, sp.status, sp.contentType, sp.body, extra);
}

function sendReturn(r: RequestState, res: ServerResponse, outcome: ReturnOutcome, req?: IncomingMessage, opts?: PipelineOptions, quotedOrPlus = false): Promise<void> | void {
  switch (outcome.kind) {
    case 'close':
      r.ctx.response.status = 444;
      res.destroy();
      writeAccessLog(r);
      return;
    case 'redirect':
      return sendSpecial(r, res, outcome.status, outcome.location);
    case 'text':
      // ngx_http_send_header: an error_page's status (r->err_status) replaces the handler's.
      // ngx_http_send_response sets no type of its own: the URI's extension picks it, as for a file.
      sendBuffer(r, res, r.errStatus ?? outcome.status, mimeTypeFor(r.ctx.uri, r.conf.types, r.conf.defaultType), Buffer.from(outcome.body, 'latin1'));
      return;
    case 'status':
      if (req && opts) return finalize(r, req, res, opts, quotedOrPlus, outcome.status);
      return sendSpecial(r, res, outcome.status);
  }
}

/** ngx_http_special_response_handler: error_page first (once), else the built-in page. */
function finalize(r: RequestState, req: IncomingMessage, res: ServerResponse, opts: PipelineOptions, quotedOrPlus: boolean, status: number): Promise<void> | void {
  if (!r.errorPageDone && status >= 300 && r.uriChanges !== 0) {
    const ep = r.conf.errorPages.find((e) => e.codes.includes(status));
    if (ep) {
      // recursive_error_pages on lets the error page's own errors use error_page again.
      r.errorPageDone = !r.conf.recursiveErrorPages;
      r.errStatus = ep.overwrite === undefined ? status : ep.overwrite === 'upstream' ? undefined : ep.overwrite;
      const target = evaluate(compiled(ep.uri), r.ctx);
      if (target.startsWith('/')) {
        const q = target.indexOf('?');
        const uri = q < 0 ? target : target.slice(0, q);
        // ngx_http_send_error_page: the arguments are the error_page URI's own (none without `?`).
        const args = q < 0 ? '' : target.slice(q + 1);
        if (r.method !== 'HEAD') r.method = 'GET';
        r.extraHeaders = [];
        if (!internalRedirect(r, uri, args, opts)) return sendSpecial(r, res, 500);
        return runPhases(r, req, res, opts, quotedOrPlus, true);
      }
      if (target.startsWith('@')) {
        const named = r.server.named.get(target);
        if (!named) return sendSpecial(r, res, 500);
        return runNamed(r, named, req, res, opts, quotedOrPlus);
      }
      const code = typeof ep.overwrite === 'number' && [301, 302, 303, 307, 308].includes(ep.overwrite) ? ep.overwrite : 302;
      return sendSpecial(r, res, code, target);
    }
  }
  if (closesWithoutResponse(status)) {
    r.ctx.response.status = status;
    res.destroy();
    writeAccessLog(r);
    return;
  }
  return sendSpecial(r, res, status);
}

function writeAccessLog(r: RequestState): void {
  if (r.logged) return; // 'finish' and 'close' both come for a finished response
  r.logged = true;
  writeLogLines(r.state, r.conf, r.ctx, r.logFiles);
}

function writeLogLines(state: RoutingState, conf: LocationConf, ctx: VarContext, files: LogFiles): void {
  const logs = conf.accessLog;
  if (logs === 'off') return;
  for (const l of logs) {
    if (l.ifCondition !== undefined && !logCondition(evaluate(compiled(l.ifCondition.replace(/^if=/, '')), ctx))) continue;
    const fmt = logFormat(state, l.format);
    if (!fmt || l.path === 'off') continue;
    files.get(l.path, { bufferSize: l.buffer ?? 0, ...(l.flush !== undefined ? { flushMs: l.flush } : {}) }).write(formatLogLine(fmt, ctx));
  }
}

/** A request refused before it reached the pipeline (Node's parser gave up on it). */
export interface Refusal {
  /** The request line as far as it was read. */
  requestLine: string;
  status: number;
  bodyBytes: number;
  bytes: number;
}

/** nginx access-logs refused requests too, with the default server's access_log. */
export function logRefused(state: RoutingState, socket: Socket, refusal: Refusal, files: LogFiles): void {
  const localAddress = unmapIPv4(socket.localAddress ?? '');
  const localPort = socket.localPort ?? 0;
  const table = tableFor(state, localAddress, localPort);
  if (!table) return;
  const [method = '', target = '', protocol = ''] = refusal.requestLine.split(' ');
  const ctx = newVarContext({
    method, requestLine: refusal.requestLine, protocol, rawUri: target, uri: target,
    scheme: (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    remoteAddr: unmapIPv4(socket.remoteAddress ?? ''), remotePort: socket.remotePort ?? 0,
    serverAddr: localAddress, serverPort: localPort, serverName: table.defaultServer.primaryName,
    connection: connInfo(socket).id, requestLength: refusal.requestLine.length,
  });
  ctx.response.status = refusal.status;
  ctx.response.bodyBytesSent = refusal.bodyBytes;
  ctx.response.bytesSent = refusal.bytes;
  writeLogLines(state, table.defaultServer.conf, ctx, files);
}
