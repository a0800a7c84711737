// The proxy_pass content handler: picks peers of the upstream group as nginx does, sends the
// request over our own lean HTTP/1 connections, plain or TLS (undici for upgrades and streamed bodies),
// retries per proxy_next_upstream, streams the response back through the pipeline's header
// writer, tunnels websockets, and answers 502/504 with nginx's log lines.
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { LocationConf } from '../config/state.ts';
import type { ErrorLogEntry } from './access-log.ts';
import { headSource, logError, redirectContext, writeHead, type ContentOutcome, type HeadSource, type RequestState } from './pipeline.ts';
import { absoluteLocation } from './responses.ts';
import { upstreamUri, parseProxyUrl, proxyTarget, redirectRules, rewriteRedirect, rewriteRedirectMatch, rewriteRefresh, type ProxyTarget } from './proxy-uri.ts';
import {
  confLevels, directiveArgs, flagDirective, hiddenResponseHeaders, proxyVarContext, proxyVarValue, rawPairs, requestHeaderPlan,
  type ConfLevels, type RequestHeaderPlan,
} from './proxy-headers.ts';
import {
  GroupError, LeanConn, poolFor, SendClock, UpstreamRegistry, type GroupRuntime, type LeanSink, type PeerConns, type UpstreamConn,
} from './upstream-groups.ts';
import { freePeer, type Peer } from './upstream-peers.ts';
import { classifyUpstreamError, type Failure } from './proxy-errors.ts';
import { accelRedirect, carryAccelHeaders, msec, nonIdempotent, planMemo, publish, upstreamRequestBody, upstreamVarName, UpstreamRun } from './upstream-attempts.ts';
import { sslName, type UpstreamTls } from './upstream-tls.ts';
import { accelLimitRate, rateLimitOf, type RateLimit } from './limit-rate.ts';
import { rewriteSetCookie } from './proxy-cookie.ts';
import { clientHeaderLines } from './request-headers.ts';
import { compiled, evaluate, type CompiledValue, type VarContext } from './variables.ts';
import { BodyError, SpooledBody, type RequestBody } from './request-body.ts';

export interface ProxyHandlerOptions {
  errorLog?: (entry: ErrorLogEntry) => void;
  /** The certificate files the master read (proxy_ssl_trusted_certificate), by full path. */
  pems?: () => Record<string, string>;
}

/** The pipeline's proxy hook, plus close() to drop idle upstream connections at shutdown. */
export type ProxyHook = ((req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>) & { close(): Promise<void> };

/** Requests that arrived through the server's 'upgrade' event: their raw socket and early bytes. */
const upgrades = new WeakMap<IncomingMessage, Upgrade>();

/**
 * The listener for http.Server's 'upgrade' event: runs the normal request handler on a response
 * bound to the raw socket, so a proxied location can tunnel it (websockets) and any other
 * location answers as usual and closes.
 */
export function createUpgradeListener(handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    upgrades.set(req, { socket, head });
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as import('node:net').Socket);
    res.on('finish', () => socket.end());
    socket.on('error', () => socket.destroy());
    handler(req, res);
  };
}


/** What one attempt on one peer came to. */
type Attempt =
  | { kind: 'done' }
  | { kind: 'failed'; failure: Failure }
  | { kind: 'intercept'; status: number }
  | { kind: 'accel'; target: string };

/**
 * What a location's proxying needs from its configuration, worked out on its first request and
 * kept for the life of the configuration (a reload brings new conf objects, hence new plans).
 */
interface Plan {
  // The request's levels are made of these: a plan is only reused for the same ones.
  location: RequestState['location'];
  serverConf: LocationConf;
  httpDirectives: RoutingStateDirectives;
  levels: ConfLevels;
  setBody?: CompiledValue;
  /** proxy_method: the upstream request's method instead of the client's. */
  method?: CompiledValue;
  requestBuffering: boolean;
  /** proxy_ssl_name with variables, evaluated per request. */
  sslName?: CompiledValue;
  /** proxy_ssl_session_reuse. */
  sslSessionReuse: boolean;
  /** proxy_pass_request_body: off reads the body (as nginx does) but sends none. */
  passBody: boolean;
  maxTries: number;
  next: ReadonlySet<string>;
  retryNonIdempotent: boolean;
  hidden: ReadonlySet<string>;
  accelRedirects: boolean;
  /** X-Accel-Limit-Rate is obeyed (not in proxy_ignore_headers). */
  accelLimitRate: boolean;
  passed: HeadSource;
  /** The same for an upstream's answer: its headers are a list kept in order. */
  listed: HeadSource;
  headers: RequestHeaderPlan;
  locationIsPrefix: boolean;
  rules: ReturnType<typeof redirectRules>;
  /** proxy_pass without variables: its URL, parsed once (undefined: not a URL). */
  target?: ProxyTarget;
  /** …and its upstream group, once resolved. */
  group?: GroupRuntime;
}

type RoutingStateDirectives = RequestState['state']['httpDirectives'];

function buildPlan(r: RequestState): Plan {
  const conf = r.conf;
  const levels = confLevels(r);
  const loc = r.location;
  const locationIsPrefix = !!loc && (loc.kind === 'prefix' || loc.kind === 'prefix-noregex' || loc.kind === 'exact');
  const setBody = directiveArgs(levels, 'proxy_set_body').pop()?.[0];
  const method = directiveArgs(levels, 'proxy_method').pop()?.[0];
  const hidden = hiddenResponseHeaders(levels);
  const ignored = new Set(directiveArgs(levels, 'proxy_ignore_headers').flat().map((h) => h.toLowerCase()));
  const next = new Set(conf.proxyNextUpstream);
  const pp = conf.proxyPass!;
  const target = pp.hasVariables ? undefined : parseProxyUrl(pp.raw);
  return {
    location: loc, serverConf: r.server.conf, httpDirectives: r.state.httpDirectives, levels,
    ...(setBody !== undefined ? { setBody: compiled(setBody) } : {}),
    ...(method !== undefined ? { method: compiled(method) } : {}),
    requestBuffering: flagDirective(levels, 'proxy_request_buffering', true),
    passBody: flagDirective(levels, 'proxy_pass_request_body', true),
    ...(conf.proxySsl.name !== undefined ? { sslName: compiled(conf.proxySsl.name) } : {}),
    sslSessionReuse: flagDirective(levels, 'proxy_ssl_session_reuse', true),
    maxTries: Number(directiveArgs(levels, 'proxy_next_upstream_tries').pop()?.[0] ?? 0),
    next, retryNonIdempotent: next.has('non_idempotent'),
    hidden, accelRedirects: !ignored.has('x-accel-redirect'), accelLimitRate: !ignored.has('x-accel-limit-rate'),
    passed: headSource(!hidden.has('server'), !hidden.has('date')), listed: headSource(!hidden.has('server'), !hidden.has('date'), true),
    headers: requestHeaderPlan(conf, levels),
    locationIsPrefix, rules: redirectRules(conf, loc?.name ?? '', locationIsPrefix),
    ...(target ? { target } : {}),
  };
}

/** Builds the pipeline's proxy hook; per-group state (peers, pools) lives as long as its RoutingState. */
export function createProxyHandler(opts: ProxyHandlerOptions = {}): ProxyHook {
  const registry = new UpstreamRegistry();
  const planFor = planMemo(buildPlan);

  const hook = (req: IncomingMessage, res: ServerResponse, r: RequestState): Promise<ContentOutcome> => {
    const plan = planFor(r);
    const pp = r.conf.proxyPass!;
    const target = pp.hasVariables ? proxyTarget(pp, r.ctx) : plan.target;
    if (!target) {
      logError(r, opts, 'error', `invalid URL prefix in "${pp.hasVariables ? evaluate(compiled(pp.raw), r.ctx) : pp.raw}"`);
      return Promise.resolve({ kind: 'status', status: 500 });
    }
    // A resolved group is used at once: no promise to wait for on the common path.
    if (plan.group && !pp.hasVariables) return proxy(req, res, r, plan, target, plan.group);
    return registry.group(r.state, target, pp.hasVariables).then(
      (group) => {
        if (!pp.hasVariables) plan.group = group;
        return proxy(req, res, r, plan, target, group);
      },
      (e: unknown): ContentOutcome => {
        logError(r, opts, 'error', e instanceof GroupError ? e.message : `host not found in upstream "${target.host}"`);
        return { kind: 'status', status: 502 };
      },
    );
  };

  /**
   * Reads the request body if it is to be buffered, then runs the attempts. Without a body to
   * wait for, no promise is made but the one the pipeline waits on.
   */
  /** ngx_http_upstream_ssl_name, and the proxy_ssl_* settings in effect for this request. */
  function upstreamTls(r: RequestState, plan: Plan, target: ProxyTarget): UpstreamTls {
    const ssl = r.conf.proxySsl;
    const name = sslName(plan.sslName ? evaluate(plan.sslName, proxyVarContext(r.ctx, target, undefined)) : target.host);
    const pems = opts.pems?.() ?? {};
    const ca = ssl.verify && ssl.trustedCertificate !== undefined ? pems[ssl.trustedCertificate] : undefined;
    const cert = ssl.certificate !== undefined ? pems[ssl.certificate] : undefined;
    const key = ssl.certificateKey !== undefined ? pems[ssl.certificateKey] : undefined;
    return { ssl, name, ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined && key !== undefined ? { cert: { cert, key } } : {}), sessionReuse: plan.sslSessionReuse };
  }

  function proxy(req: IncomingMessage, res: ServerResponse, r: RequestState, plan: Plan, target: ProxyTarget, group: GroupRuntime): Promise<ContentOutcome> {
    const conf = r.conf;
    const upgrade = upgrades.get(req);
    const clientLength = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    // proxy_request_buffering off streams the body when the upstream can take it as it comes:
    // with a known length, or chunked to an HTTP/1.1 upstream. Then no retry once it is sent.
    const streaming = plan.setBody === undefined && plan.passBody && !upgrade && !plan.requestBuffering
      && (clientLength !== undefined || (chunked && conf.proxyHttpVersion === '1.1'));
    // The common case first, without a closure: an HTTP/1 request with neither Content-Length
    // nor Transfer-Encoding has no body to read (an upgrade's included).
    if (plan.setBody === undefined && clientLength === undefined && !chunked && req.httpVersionMajor === 1) {
      return start(req, res, r, plan, target, group, EMPTY, upgrade, clientLength, chunked, false);
    }
    const go = (body: RequestBody | IncomingMessage): Promise<ContentOutcome> =>
      start(req, res, r, plan, target, group, body, upgrade, clientLength, chunked, streaming);
    if (plan.setBody !== undefined) {
      const setBody = plan.setBody;
      const made = (): Buffer => Buffer.from(evaluate(setBody, r.ctx), 'latin1');
      if (upgrade) return go(made());
      return readBody(req, res, r).then(() => go(made()), bodyFailed(r)); // read and dropped, as nginx discards it
    }
    if (upgrade) return go(EMPTY);
    if (streaming) return go(req);
    // An HTTP/1 request with neither Content-Length nor Transfer-Encoding has no body to read.
    if (clientLength === undefined && !chunked && req.httpVersionMajor === 1) return go(EMPTY);
    if (!plan.passBody) return readBody(req, res, r).then(() => start(req, res, r, plan, target, group, EMPTY, upgrade, clientLength, chunked, false, false), bodyFailed(r));
    return readBody(req, res, r).then(go, bodyFailed(r));
  }

  /** A body refused while read (too large) or its temporary file failing: nginx's line and status. */
  const bodyFailed = (r: RequestState) => (err: unknown): ContentOutcome => {
    if (!(err instanceof BodyError)) throw err;
    logError(r, opts, err.level, err.message);
    return { kind: 'status', status: err.status };
  };

  const readBody = (req: IncomingMessage, res: ServerResponse, r: RequestState): Promise<RequestBody> => upstreamRequestBody(req, res, r, opts);

  function start(
    req: IncomingMessage, res: ServerResponse, r: RequestState, plan: Plan, target: ProxyTarget, group: GroupRuntime,
    body: RequestBody | IncomingMessage, upgrade: Upgrade | undefined, clientLength: string | undefined, chunked: boolean, streaming: boolean,
    passBody = true,
  ): Promise<ContentOutcome> {
    const pp = r.conf.proxyPass!;
    const hasBody = passBody && (plan.setBody !== undefined || (Buffer.isBuffer(body) && body.length > 0) || body instanceof SpooledBody
      || clientLength !== undefined || chunked);
    const bodyLength = Buffer.isBuffer(body) ? body.length : body instanceof SpooledBody ? body.length : clientLength !== undefined ? Number(clientLength) : undefined;
    const loc = r.location;
    const ctx = r.ctx;
    const uri = !target.uri && !pp.hasVariables && r.validUnparsedUri
      ? ctx.rawUri // the request target as received: nothing to replace or escape
      : upstreamUri(target, pp.hasVariables, {
        uri: ctx.uri, args: ctx.args, rawUri: ctx.rawUri, validUnparsedUri: r.validUnparsedUri, // kept by named locations
        validLocation: r.validLocation, locationName: plan.locationIsPrefix ? loc!.name : '',
        escape: r.internal || !r.validUnparsedUri || /%/.test(ctx.rawUri.split('?')[0] ?? ''),
      });
    // Content-Length ($proxy_internal_body_length): a body in memory gets it from the lean client or
    // undici; one in a file, streamed from it, from the header list. proxy_pass_request_body off sends
    // the client's announced length without the body, as nginx does.
    const length = hasBody ? bodyLength : !passBody && clientLength !== undefined ? Number(clientLength) : undefined;
    const headers = upstreamHeaders(plan.headers, ctx, target, length, clientHeaderLines(req), passBody && Buffer.isBuffer(body));
    const method = plan.method ? evaluate(plan.method, ctx) : r.method;
    const tls = target.scheme === 'https' ? upstreamTls(r, plan, target) : undefined;
    const run = new ProxyRun(plan, r, req, res, group, target.scheme, tls, method, uri, body, hasBody, headers, upgrade, streaming, opts);
    return new Promise<ContentOutcome>((resolve) => {
      run.resolve = resolve;
      run.next();
    });
  }

  return Object.assign(hook, { close: () => registry.close() });
}

const EMPTY = Buffer.alloc(0);

/** The request's headers for undici, with what undici takes as options instead. */
interface UpstreamHeaders {
  /** Flat name/value list. */
  list: string[];
  /** The Connection value sent (lower case), '' for none. */
  connection: string;
  upgrade: string;
}

/**
 * The header lines nginx sends upstream, in its order: proxy_set_header (configured, then the
 * defaults not overridden) with empty values dropped, then the client's headers whose names are
 * not in that set (unless proxy_pass_request_headers off). Connection and Upgrade become undici
 * options; undici frames a Buffer body itself, while a streamed body needs its announced length
 * (else it goes chunked); Transfer-Encoding, Keep-Alive and Expect are undici's to write.
 */
function upstreamHeaders(
  plan: RequestHeaderPlan, ctx: VarContext, target: ProxyTarget, bodyLength: number | undefined, raw: readonly string[], bufferedBody: boolean,
): UpstreamHeaders {
  const out: UpstreamHeaders = { list: [], connection: '', upgrade: '' };
  let pctx: VarContext | undefined;
  for (const t of plan.templates) {
    let v: string | undefined;
    if (t.cv.isStatic) v = evaluate(t.cv, ctx);
    else {
      if (t.proxyVar !== undefined) v = proxyVarValue(t.proxyVar, ctx, target, bodyLength);
      v ??= evaluate(t.cv, pctx ??= proxyVarContext(ctx, target, bodyLength));
    }
    if (v !== '') addHeader(out, t.name, t.lower, v, bufferedBody);
  }
  if (plan.passClient) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.toLowerCase();
      if (!plan.names.has(lower)) addHeader(out, name, lower, raw[i + 1]!, bufferedBody);
    }
  }
  return out;
}

function addHeader(out: UpstreamHeaders, name: string, lower: string, value: string, bufferedBody: boolean): void {
  switch (lower) {
    case 'connection': out.connection = value.toLowerCase(); return;
    case 'upgrade': out.upgrade = value; return;
    case 'content-length': if (!bufferedBody) out.list.push(name, value); return;
    case 'transfer-encoding': case 'keep-alive': case 'expect': return;
  }
  out.list.push(name, value);
}

type Upgrade = { socket: Duplex; head: Buffer };

/**
 * One proxied request: what every attempt sends, and the walk over the group's peers
 * (proxy_next_upstream). An attempt's end comes back to onAttempt, which answers or tries the
 * next peer.
 */
class ProxyRun extends UpstreamRun {
  constructor(
    readonly plan: Plan,
    r: RequestState,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    group: GroupRuntime,
    readonly scheme: 'http' | 'https',
    /** How the connections to an https upstream are made and checked. */
    readonly tls: UpstreamTls | undefined,
    /** The upstream request's method (proxy_method, else the client's). */
    readonly method: string,
    readonly uri: string,
    readonly body: RequestBody | IncomingMessage,
    readonly hasBody: boolean,
    readonly headers: UpstreamHeaders,
    readonly upgrade: Upgrade | undefined,
    readonly streaming: boolean,
    log: ProxyHandlerOptions,
  ) {
    super(r, group, plan.next, plan.maxTries, log);
  }

  /** Picks a peer and sends the request to it (or answers 502 when none is left). */
  next(): void {
    const peer = this.nextPeer((name) => `${this.scheme}://${name}${this.uri}`);
    if (peer) attemptPeer(this, peer);
  }

  onAttempt(attempt: Attempt): void {
    const { r, plan, tries, walk } = this;
    if (attempt.kind !== 'failed') {
      freePeer(walk, false);
      publish(r, tries);
      if (attempt.kind === 'done') this.resolve(DONE);
      else if (attempt.kind === 'intercept') this.resolve({ kind: 'status', status: attempt.status });
      else this.resolve(accelRedirect(r, attempt.target));
      return;
    }
    // A failure may come from inside undici's callbacks: the next peer is tried once they are over.
    queueMicrotask(() => {
      const f = attempt.failure;
      const upstreamUrl = `${this.scheme}://${this.peer!.name}${this.uri}`;
      if (f.message) logError(r, this.log, 'error', f.message, upstreamUrl);
      this.countFailure(f, upstreamUrl);
      const blocked = f.requestSent && ((nonIdempotent(r.method) && !plan.retryNonIdempotent) || this.streaming);
      if (walk.tries === 0 || !plan.next.has(f.type) || blocked) {
        publish(r, tries);
        this.resolve({ kind: 'status', status: f.status });
        return;
      }
      this.next();
    });
  }
}

const DONE: ContentOutcome = { kind: 'done' };


function attemptPeer(inp: ProxyRun, peer: Peer): void {
  const { headers } = inp;
  const wantsUpgrade = inp.upgrade !== undefined && headers.upgrade !== '' && headers.connection.includes('upgrade');
  // nginx keeps an upstream connection only with `keepalive` in the upstream and a request that
  // does not say `Connection: close` (HTTP/1.1 with `proxy_set_header Connection ""`).
  const reset = !wantsUpgrade && (inp.group.keepalive === 0 || headers.connection === 'close');
  const conns = poolFor(inp.group, peer, inp.scheme, inp.r.conf.proxyConnectTimeoutMs, inp.tls);
  // The common case (no upgrade, a body in hand, in a file, of known length, or none) goes over our
  // own lean HTTP/1 connection, plain or TLS; upgrades and chunked streamed bodies over undici.
  if (inp.upgrade === undefined && conns.lean !== undefined && (inp.scheme === 'http' || conns.lean.tls !== undefined) && leanBody(inp)) {
    let head: string;
    try {
      head = leanHead(inp, conns.lean.hostHeader, reset);
    } catch (e) {
      // What settle() records for a try that never reached the upstream.
      const t = inp.tries;
      t.status.push('502');
      t.time.push('0.000');
      t.header.push('-');
      t.connect.push('-');
      inp.onAttempt(failedAttempt(e));
      return;
    }
    const conn = conns.acquireLean();
    if (reset) conn.dead = true; // `connection: close` sent: not reused
    const handler = new AttemptHandler(inp, peer, conns, conn);
    const body = !inp.hasBody ? null : inp.body instanceof SpooledBody ? inp.body.stream() : inp.body;
    conn.send(head, body, inp.method === 'HEAD', handler);
    return;
  }
  const conn = conns.acquire();
  const handler = new AttemptHandler(inp, peer, conns, conn);
  try {
    const opts: Dispatcher.DispatchOptions & { servername?: string } = {
      path: inp.uri,
      method: inp.method as Dispatcher.HttpMethod,
      headers: headers.list,
      // A body in a file is read from its start by every attempt.
      body: !inp.hasBody ? null : inp.body instanceof SpooledBody ? inp.body.stream() : inp.body,
      reset,
      upgrade: wantsUpgrade ? headers.upgrade : null,
      headersTimeout: 0,
      bodyTimeout: 0,
      // undici takes the TLS server name from the Host header unless told; a plain connection
      // uses none, so spare it that parsing (and an IP-address test) on every request.
      servername: inp.scheme === 'http' ? 'plain' : undefined,
    };
    conn.client.dispatch(opts, handler);
  } catch (e) {
    handler.handBack(false);
    handler.settle(failedAttempt(e));
  }
}

/** Whether the lean client can send the body: none, in memory, in a file, or streamed with its length. */
function leanBody(inp: ProxyRun): boolean {
  if (!inp.hasBody || Buffer.isBuffer(inp.body) || inp.body instanceof SpooledBody) return true;
  return inp.req.headers['content-length'] !== undefined;
}

/** A request undici would refuse to send: nginx's 502 with the reason logged. */
function failedAttempt(e: unknown): Attempt {
  return { kind: 'failed', failure: { type: 'error', status: 502, requestSent: false, message: `invalid upstream request: ${(e as Error).message}` } };
}

const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);
const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const BAD_PATH = /[^\u0021-\u00ff]/;

/**
 * The request head undici writes for these options (request line, host, connection, the headers
 * in order, content-length), with the checks by which undici refuses a request (their messages);
 * HTTP/1.0 under nginx's default proxy_http_version, which undici cannot write.
 */
function leanHead(inp: ProxyRun, defaultHost: string, reset: boolean): string {
  const { uri } = inp;
  const method = inp.method;
  if (uri.charCodeAt(0) !== 47 && !uri.startsWith('http://') && !uri.startsWith('https://')) {
    throw new Error('path must be an absolute URL or start with a slash');
  }
  if (BAD_PATH.test(uri)) throw new Error('invalid request path');
  if (!HEADER_TOKEN.test(method)) throw new Error('invalid request method');
  const list = inp.headers.list;
  let host: string | undefined;
  let lines = '';
  for (let i = 0; i + 1 < list.length; i += 2) {
    const k = list[i]!;
    const v = list[i + 1]!;
    if (!HEADER_TOKEN.test(k)) throw new Error('invalid header key');
    if (BAD_HEADER_VALUE.test(v)) throw new Error(`invalid ${k} header`);
    if (k.length === 4 && k.toLowerCase() === 'host') {
      if (host !== undefined) throw new Error('duplicate host header');
      host = v;
      continue;
    }
    lines += `${k}: ${v}\r\n`;
  }
  // A body in memory is framed here (as undici frames it); a streamed one's length is in `lines`.
  const body = inp.hasBody && Buffer.isBuffer(inp.body) ? inp.body : null;
  let tail = '\r\n';
  if (body !== null && body.length > 0) tail = `content-length: ${body.length}\r\n\r\n`;
  else if (body !== null && EXPECTS_PAYLOAD.has(method)) tail = 'content-length: 0\r\n\r\n';
  // proxy_http_version: nginx's default 1.0 goes with its Connection header as configured (none when
  // cleared: the upstream closes after answering); for 1.1 the lean client writes undici's keep-alive.
  if (inp.r.conf.proxyHttpVersion !== '1.1') {
    const connection = reset ? 'connection: close\r\n' : inp.headers.connection ? `connection: ${inp.headers.connection}\r\n` : '';
    return `${method} ${uri} HTTP/1.0\r\nhost: ${host ?? defaultHost}\r\n${connection}${lines}${tail}`;
  }
  return `${method} ${uri} HTTP/1.1\r\nhost: ${host ?? defaultHost}\r\nconnection: ${reset ? 'close' : 'keep-alive'}\r\n${lines}${tail}`;
}

/** The handler of one attempt (undici's or a LeanConn's): streams the response to the client, or reports why not. */
class AttemptHandler implements Dispatcher.DispatchHandlers, LeanSink {
  private readonly started = Date.now();
  private abort: ((err?: Error) => void) | undefined;
  // proxy_read_timeout, kept by the connection (undici's own timers are coarse, about a second late).
  private timerCode = '';
  private resumeUpstream: (() => void) | undefined;
  private drainHooked = false;
  /** Body bytes the upstream's Content-Length still announces (-1: not known). */
  private remaining = -1;
  /** The body's last chunk, kept for res.end(): one write for the tail and the end. */
  private last: Buffer | undefined;
  private listening = true;
  private headSent = false;
  private settled = false;
  private statusPushed = false;
  /** The connection, until it is handed back (response complete) or dropped (failure). */
  private conn: UpstreamConn | LeanConn | undefined;

  /** The connection came from the keepalive cache (nginx's peer.cached). */
  private readonly cached: boolean;

  constructor(private readonly inp: ProxyRun, private readonly peer: Peer, private readonly conns: PeerConns, conn: UpstreamConn | LeanConn) {
    this.conn = conn;
    this.cached = conn.reused;
    inp.res.on('close', this.onClientClose);
  }

  /** The connection is done with this request: reusable after a complete response, else dropped. */
  handBack(reuse: boolean): void {
    const c = this.conn;
    if (!c) return;
    this.conn = undefined;
    if (reuse) this.conns.release(c);
    else this.conns.discard(c);
  }

  private elapsed(): string {
    return this.inp.tries.used ? msec(Date.now() - this.started) : '';
  }

  private readonly onTimeout = (): void => {
    this.abort?.(Object.assign(new Error('upstream timed out'), { code: this.timerCode }));
  };

  private armRead(code: string): void {
    this.timerCode = code;
    this.conn?.arm(this.inp.r.conf.proxyReadTimeoutMs, this.onTimeout);
  }

  private disarm(): void {
    this.conn?.disarm();
  }

  private detach(): void {
    if (!this.listening) return;
    this.listening = false;
    this.inp.res.removeListener('close', this.onClientClose);
  }

  settle(a: Attempt): void {
    if (this.settled) return;
    this.settled = true;
    this.disarm();
    this.detach();
    this.unwatchBody?.();
    const tries = this.inp.tries;
    if (!this.statusPushed) tries.status.push(a.kind === 'failed' && a.failure.upstreamStatus ? String(a.failure.upstreamStatus) : a.kind === 'failed' ? String(a.failure.status) : '');
    tries.time.push(this.elapsed());
    if (tries.header.length < tries.time.length) tries.header.push('-');
    if (tries.connect.length < tries.time.length) tries.connect.push('-');
    if (tries.connect.length !== tries.time.length) tries.connect.length = tries.time.length;
    this.inp.onAttempt(a);
  }

  // The client went away (nginx logs 499): stop the upstream request, and do not try another peer.
  private readonly onClientClose = (): void => {
    if (this.inp.res.writableFinished) return;
    this.settle({ kind: 'done' });
    this.abort?.(new Error('client closed'));
  };

  private readonly onDrain = (): void => {
    if (this.settled) return;
    this.armRead('UND_ERR_BODY_TIMEOUT');
    this.resumeUpstream?.();
  };

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    // undici hands the request to a connected socket: the connection is made by now.
    this.inp.tries.connect.push(this.elapsed());
    // Until the request is sent, proxy_send_timeout (nginx's write timer); proxy_read_timeout
    // from then on. A lean connection says when the request is sent (onSent); undici carrying a
    // streamed body (chunked, proxy_request_buffering off) has sent it when the body has ended.
    if (this.conn instanceof LeanConn) this.armSend();
    else if (this.inp.streaming && !this.inp.req.readableEnded) this.watchStreamedBody();
    else this.armRead('UND_ERR_HEADERS_TIMEOUT');
  }

  /** The send's progress: sendProgress, or streamed body pieces undici took. */
  private readonly sendClock = new SendClock(() => this.progress());
  /** Pieces of a streamed body undici has taken (the undici path's sendProgress). */
  private bodyPieces = 0;
  /** Drops watchStreamedBody's listeners. */
  private unwatchBody: (() => void) | undefined;

  private progress(): number {
    return this.conn instanceof LeanConn ? this.conn.sendProgress() : this.bodyPieces;
  }

  private armSend(): void {
    this.armSendLook(this.sendClock.start(this.inp.r.conf.proxySendTimeoutMs));
  }

  private armSendLook(ms: number): void {
    this.timerCode = 'BEXT_SEND_TIMEOUT';
    this.conn?.arm(ms, this.onSendTimeout);
  }

  /**
   * proxy_send_timeout as nginx's write timer (SendClock). A request waiting for the client's next
   * piece of body is not held back by the upstream (that wait is client_body_timeout's), so the
   * timer runs on.
   */
  private readonly onSendTimeout = (): void => {
    const conn = this.conn;
    if (conn === undefined || this.settled) return;
    const blocked = conn instanceof LeanConn ? conn.sendBlocked() : this.inp.req.readableFlowing === false;
    const next = this.sendClock.look(this.inp.r.conf.proxySendTimeoutMs, !blocked);
    if (next > 0) this.armSendLook(next);
    else this.onTimeout();
  };

  /** undici streams the client's body (it pauses the request while the socket is full). */
  private watchStreamedBody(): void {
    // Listeners made here, not as fields: most requests carry no streamed body.
    const onPiece = (): void => {
      this.bodyPieces++;
    };
    const onEnd = (): void => {
      this.unwatchBody?.();
      if (!this.settled && !this.statusPushed) this.armRead('UND_ERR_HEADERS_TIMEOUT');
    };
    const req = this.inp.req;
    req.on('data', onPiece);
    req.once('end', onEnd);
    this.unwatchBody = () => {
      this.unwatchBody = undefined;
      req.removeListener('data', onPiece);
      req.removeListener('end', onEnd);
    };
    this.armSend();
  }

  onSent(): void {
    // An upstream that answered before taking the whole body already has its read timer.
    if (!this.settled && !this.statusPushed) this.armRead('UND_ERR_HEADERS_TIMEOUT');
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    const { inp } = this;
    const { r, res, tries } = inp;
    this.disarm();
    tries.status.push(String(statusCode));
    tries.header.push(this.elapsed());
    this.statusPushed = true;
    const hidden = inp.plan.hidden;
    const pairs = rawPairs((rawHeaders ?? []) as (Buffer | string)[]).filter(([k]) => !hidden.has(k.toLowerCase()) || k.toLowerCase() === 'connection');
    const out: [string, string][] = [];
    for (const [k, v] of pairs) if (k.toLowerCase() !== 'connection') out.push(clientHeader(inp, k, k.toLowerCase(), v));
    out.push(['Connection', 'upgrade']);
    writeHead(r, res, 101, out, undefined, 'Switching Protocols', inp.plan.passed);
    res.flushHeaders();
    // undici has let go of the socket: its Client connects anew for the next request.
    this.disarm();
    this.handBack(true);
    tunnel(inp.upgrade!.socket, inp.upgrade!.head, socket, r.conf.proxyReadTimeoutMs, () => {
      this.detach();
      this.settle({ kind: 'done' });
    });
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    const n = rawHeaders.length >> 1;
    const fields: string[] = new Array<string>(3 * n);
    for (let i = 0; i < n; i++) {
      const k = rawHeaders[2 * i]!.toString('latin1');
      fields[3 * i] = k;
      fields[3 * i + 1] = k.toLowerCase();
      fields[3 * i + 2] = rawHeaders[2 * i + 1]!.toString('latin1');
    }
    this.onHead(statusCode, fields, resume, statusText);
    return !this.settled;
  }

  onHead(statusCode: number, fields: string[], resume: () => void, statusText: string): void {
    const { inp } = this;
    const { r, res, tries } = inp;
    const conf = r.conf;
    tries.status.push(String(statusCode));
    tries.header.push(this.elapsed());
    this.statusPushed = true;
    if (inp.canRetry(statusCode)) {
      const ft = `http_${statusCode}` as Failure['type'];
      this.settle({ kind: 'failed', failure: { type: ft, status: statusCode, requestSent: true, message: '' } });
      this.abort?.(new Error('next upstream'));
      return;
    }
    if (conf.proxyInterceptErrors && statusCode >= 300 && conf.errorPages.some((e) => e.codes.includes(statusCode))) {
      this.settle({ kind: 'intercept', status: statusCode });
      this.abort?.(new Error('intercepted'));
      return;
    }
    const n = fields.length;
    let accel: string | undefined;
    let length = -1;
    let chunkedBody = false;
    for (let i = 0; i < n; i += 3) {
      const l = fields[i + 1]!;
      const v = fields[i + 2]!;
      if (accel === undefined && l === 'x-accel-redirect') accel = v;
      else if (l === 'content-length' && length < 0) length = v !== '' && Number.isSafeInteger(Number(v)) ? Number(v) : -2;
      else if (l === 'transfer-encoding') chunkedBody = true;
      else if (l === 'x-accel-limit-rate' && inp.plan.accelLimitRate) accelLimitRate(res, v, conf.limitRateAfter, r.ctx.startMs, r.ctx.response);
    }
    if (accel && inp.plan.accelRedirects) {
      const triples: [string, string, string][] = [];
      for (let i = 0; i < n; i += 3) triples.push([fields[i]!, fields[i + 1]!, fields[i + 2]!]);
      carryAccelHeaders(r, triples);
      this.settle({ kind: 'accel', target: accel });
      this.abort?.(new Error('x-accel-redirect'));
      return;
    }
    if (tries.used) {
      const vars = r.ctx.userVars;
      for (let i = 0; i < n; i += 3) vars.set(upstreamVarName(fields[i + 1]!), fields[i + 2]!);
    }
    // add_header may name $upstream_* variables: they are set before the head is written, with
    // this try's response time still "-" (it ends with the body), as nginx shows it then.
    // Nothing else reads them before the attempt settles (the access log comes after).
    if (conf.addHeaders.length > 0) publish(r, tries, true);
    const hidden = inp.plan.hidden;
    const out: [string, string][] = [];
    let ownLocation: string | undefined;
    for (let i = 0; i < n; i += 3) {
      const l = fields[i + 1]!;
      if (hidden.has(l)) continue;
      if (l === 'location') {
        // ngx_http_upstream_rewrite_location: a Location proxy_redirect rewrote to a relative one is
        // nginx's own (made absolute by the header filter); any other stays in the list as it is.
        const rewritten = rewriteRedirectMatch(fields[i + 2]!, inp.plan.rules, r.ctx);
        if (rewritten !== undefined && ownLocation === undefined && rewritten.startsWith('/') && conf.absoluteRedirect) ownLocation = rewritten;
        else out.push([fields[i]!, rewritten ?? fields[i + 2]!]);
        continue;
      }
      out.push(clientHeader(inp, fields[i]!, l, fields[i + 2]!));
    }
    // The upstream's headers in its order, then expires and add_header (nginx's filter order);
    // nginx's own Server and Date unless proxy_pass_header passes the upstream's (sent or not).
    const passed = ownLocation === undefined ? inp.plan.listed : headSource(inp.plan.passed.server, inp.plan.passed.date, true, ownLocation);
    writeHead(r, res, r.errStatus ?? statusCode, out, undefined, r.errStatus ? undefined : statusText || undefined, passed);
    this.headSent = true;
    r.ctx.response.bodyBytesSent = 0;
    this.resumeUpstream = resume;
    if (!chunkedBody && length > 0) this.remaining = length;
    this.armRead('UND_ERR_BODY_TIMEOUT');
  }

  onData(chunk: Buffer): boolean {
    const { r, res } = this.inp;
    if (r.method === 'HEAD') return true;
    r.ctx.response.bodyBytesSent += chunk.length;
    r.ctx.response.bytesSent += chunk.length;
    const limit = rateLimitOf(res);
    if (limit) return this.queueLimited(chunk, limit);
    if (this.remaining > 0) {
      this.remaining -= chunk.length;
      // The length is reached: undici's onComplete follows at once, and writes this with the end.
      if (this.remaining === 0) {
        this.last = chunk;
        return true;
      }
    }
    const more = res.write(chunk);
    if (more) this.armRead('UND_ERR_BODY_TIMEOUT');
    else {
      this.disarm(); // the client is slow: nginx would be writing, not waiting on the upstream
      if (!this.drainHooked) {
        this.drainHooked = true;
        res.on('drain', this.onDrain);
      }
    }
    return more;
  }

  /** limit_rate: what the upstream sent and the client has not been given yet, and whether it is all. */
  private limited: { queue: Buffer[]; limit: RateLimit; timer?: NodeJS.Timeout; complete: boolean } | undefined;

  /** A body chunk under limit_rate: queued, sent as fast as the limit lets; the upstream waits meanwhile. */
  private queueLimited(chunk: Buffer, limit: RateLimit): boolean {
    this.limited ??= { queue: [], limit, complete: false };
    this.limited.queue.push(chunk);
    // A pump waiting on its timer goes on when it fires; a second one would not wait.
    if (!this.limited.timer) this.pumpLimited();
    return this.limited.queue.length === 0;
  }

  /** ngx_http_write_filter under a rate: what is allowed, then the delay those bytes take. */
  private readonly pumpLimited = (): void => {
    const l = this.limited!;
    const res = this.inp.res;
    l.timer = undefined;
    while (l.queue.length > 0) {
      if (res.destroyed) return;
      const wait = l.limit.waitMs();
      if (wait > 0) {
        this.disarm();
        l.timer = setTimeout(this.pumpLimited, wait);
        return;
      }
      const head = l.queue[0]!;
      const n = Math.min(head.length, l.limit.allowance());
      if (n < head.length) l.queue[0] = head.subarray(n);
      else l.queue.shift();
      res.write(n < head.length ? head.subarray(0, n) : head);
      const delay = l.limit.wrote(n);
      if (delay > 0 && (l.queue.length > 0 || !l.complete)) {
        this.disarm();
        l.timer = setTimeout(this.pumpLimited, delay);
        return;
      }
    }
    if (l.complete) {
      res.end();
      this.settle({ kind: 'done' });
    } else this.onDrain();
  };

  onComplete(): void {
    this.disarm();
    this.detach();
    if (this.limited) {
      // limit_rate: the response ends once what waits to go has gone (the upstream is free now).
      this.limited.complete = true;
      this.handBack(true);
      if (!this.limited.timer) this.pumpLimited();
      return;
    }
    if (this.last) this.inp.res.end(this.last);
    else this.inp.res.end();
    this.settle({ kind: 'done' });
    // Handed back last: a request that res.end() lets start at once takes another connection.
    this.handBack(true);
  }

  onError(err: Error): void {
    this.disarm();
    this.detach();
    this.handBack(false);
    if (this.settled) return;
    const { inp } = this;
    const failure = classifyUpstreamError(err, this.headSent);
    failure.cached = this.cached;
    if (!this.headSent) {
      this.settle({ kind: 'failed', failure });
      return;
    }
    // The response is under way: nginx logs and cuts the client connection.
    logError(inp.r, inp.log, 'error', failure.message, `${inp.scheme}://${this.peer.name}${inp.uri}`);
    inp.res.destroy();
    this.settle({ kind: 'done' });
  }
}

/** An upstream header for the client: Location/Refresh rewritten by proxy_redirect. */
function clientHeader(inp: ProxyRun, k: string, l: string, v: string): [string, string] {
  switch (l) {
    // A relative Location is made absolute by the header filter, as nginx's own redirects are.
    case 'location': return ['Location', absoluteLocation(rewriteRedirect(v, inp.plan.rules, inp.r.ctx), redirectContext(inp.r))];
    case 'refresh': return [k, rewriteRefresh(v, inp.plan.rules, inp.r.ctx)];
    case 'content-type': return ['Content-Type', v];
    case 'content-length': return ['Content-Length', v];
    case 'set-cookie': {
      const rw = inp.r.conf.proxyCookie;
      return rw.domains || rw.paths || rw.flags ? [k, rewriteSetCookie(v, rw, inp.r.ctx)] : [k, v];
    }
  }
  return [k, v];
}

/** Joins client and upstream sockets after a 101; proxy_read_timeout is the idle limit. */
function tunnel(client: Duplex, head: Buffer, upstream: Duplex, idleMs: number, done: () => void): void {
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    client.destroy();
    upstream.destroy();
    done();
  };
  if (head.length) upstream.write(head);
  client.pipe(upstream);
  upstream.pipe(client);
  for (const s of [client, upstream]) {
    s.on('close', finish);
    s.on('error', finish);
    s.on('end', finish);
    const sock = s as Duplex & { setTimeout?: (ms: number, cb: () => void) => void };
    sock.setTimeout?.(idleMs, finish);
  }
}

