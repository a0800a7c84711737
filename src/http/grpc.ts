// grpc_pass (ngx_http_grpc_module): the request goes to the upstream as an HTTP/2 stream over a
// connection of its own (node:http2 on a socket we open, TLS with ALPN h2 for grpcs://), one request
// per connection at a time as nginx does; the body streams both ways unbuffered (gRPC streaming),
// the upstream's trailers reach the client (HTTP/2 trailers, or the chunked end over HTTP/1.1).
// With `keepalive N` in the upstream block an idle session goes to the block's keepalive cache.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorLogEntry } from './access-log.ts';
import { headSource, logError, writeHead, type ContentOutcome, type RequestState } from './pipeline.ts';
import { confLevels, directiveArgs, flagDirective } from './proxy-headers.ts';
import { classifyUpstreamError } from './proxy-errors.ts';
import type { ProxyTarget } from './proxy-uri.ts';
import { GroupError, PeerIdle, UpstreamRegistry, type GroupRuntime } from './upstream-groups.ts';
import type { Peer } from './upstream-peers.ts';
import { nonIdempotent, PeerTry, planMemo, publish, upstreamVarName, UpstreamRun, type FailedTry } from './upstream-attempts.ts';
import { openTls, sslName, upstreamTlsKey, type UpstreamTls } from './upstream-tls.ts';
import { compiled, evaluate, requestHeader, type CompiledValue, type VarContext } from './variables.ts';
import { clientHeaderLines } from './request-headers.ts';
import { escapeUri } from './uri.ts';

export interface GrpcHandlerOptions {
  errorLog?: (entry: ErrorLogEntry) => void;
  /** PEM texts by full path (grpc_ssl_trusted_certificate, grpc_ssl_certificate and _key). */
  pems?: () => Record<string, string>;
}

export type GrpcHook = ((req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>) & { close(): Promise<void> };

const CONNECTING = 'while connecting to upstream';
const READING_HEADER = 'while reading response header from upstream';
const READING_BODY = 'while reading upstream';
const SENDING = 'while sending request to upstream';

/** ngx_http_grpc_headers: after grpc_set_header's own entries, unless one of these names is set there. */
const DEFAULT_HEADERS: readonly [string, string][] = [
  ['Content-Length', '$content_length'], ['TE', '$grpc_internal_trailers'], ['Host', ''], ['Connection', ''],
  ['Proxy-Connection', ''], ['Transfer-Encoding', ''], ['Keep-Alive', ''], ['Expect', ''], ['Upgrade', ''],
];
/** ngx_http_grpc_hide_headers. */
const HIDDEN_BY_DEFAULT = ['date', 'server', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'];
/** Fields node:http2 refuses to send (nginx would send them if grpc_set_header names them). */
const H2_REFUSED = new Set(['connection', 'proxy-connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'http2-settings']);
/** The names nginx's header filter writes itself. */
const CANONICAL: Record<string, string> = { 'content-type': 'Content-Type', 'content-length': 'Content-Length' };

/** grpc_pass's address: grpc:// or grpcs://, then host[:port], an upstream name or unix:/path. */
interface Address {
  ssl: boolean;
  target: ProxyTarget;
  /** :authority: the address as written (port kept when given), `localhost` for a unix socket. */
  authority: string;
}

function parseAddress(raw: string): Address | undefined {
  let ssl = false;
  let rest = raw;
  if (/^grpc:\/\//i.test(raw)) rest = raw.slice(7);
  else if (/^grpcs:\/\//i.test(raw)) {
    ssl = true;
    rest = raw.slice(8);
  }
  if (rest.slice(0, 5).toLowerCase() === 'unix:') {
    return { ssl, authority: 'localhost', target: { scheme: 'http', host: rest.slice(5), port: 0, portGiven: false, unix: true, proxyHost: 'localhost', proxyPort: '' } };
  }
  const m = /^(.*):(\d+)$/.exec(rest);
  const host = m ? m[1]! : rest;
  if (!host || /[/?]/.test(rest)) return undefined;
  const port = m ? Number(m[2]) : ssl ? 443 : 80;
  return {
    ssl, authority: rest,
    target: { scheme: ssl ? 'https' : 'http', host: host.replace(/^\[(.*)\]$/, '$1'), port, portGiven: m !== null, unix: false, proxyHost: rest, proxyPort: String(port) },
  };
}

interface HeaderTemplate { lower: string; cv: CompiledValue }

/** A location's settings worked out on its first request (a reload brings new conf objects). */
interface Plan {
  location: RequestState['location'];
  serverConf: RequestState['server']['conf'];
  httpDirectives: RequestState['state']['httpDirectives'];
  templates: readonly HeaderTemplate[];
  /** Every template's name: the client's headers of these names are not passed. */
  names: ReadonlySet<string>;
  /** grpc_set_header Host: its value goes as a `host` field and no :authority is sent. */
  hostSet: boolean;
  hidden: ReadonlySet<string>;
  next: ReadonlySet<string>;
  maxTries: number;
  sslName?: CompiledValue;
  sessionReuse: boolean;
  address?: Address;
  group?: GroupRuntime;
}

function buildPlan(r: RequestState): Plan {
  const levels = confLevels(r);
  const configured = directiveArgs(levels, 'grpc_set_header').map(([name = '', value = '']) => [name, value] as [string, string]);
  const own = new Set(configured.map(([n]) => n.toLowerCase()));
  const all = [...configured, ...DEFAULT_HEADERS.filter(([n]) => !own.has(n.toLowerCase()))];
  const templates = all.map(([name, value]) => ({ lower: name.toLowerCase(), cv: compiled(value) }));
  const hidden = new Set(HIDDEN_BY_DEFAULT);
  for (const [n] of directiveArgs(levels, 'grpc_hide_header')) if (n) hidden.add(n.toLowerCase());
  for (const [n] of directiveArgs(levels, 'grpc_pass_header')) if (n) hidden.delete(n.toLowerCase());
  for (const h of ['connection', 'keep-alive', 'transfer-encoding']) hidden.add(h);
  const settings = r.conf.grpc;
  const pass = settings.pass!;
  const address = pass.hasVariables ? undefined : parseAddress(pass.raw);
  return {
    location: r.location, serverConf: r.server.conf, httpDirectives: r.state.httpDirectives,
    templates, names: new Set(templates.map((t) => t.lower)), hostSet: own.has('host'),
    hidden,
    next: new Set(settings.nextUpstream),
    maxTries: Number(directiveArgs(levels, 'grpc_next_upstream_tries').pop()?.[0] ?? 0),
    ...(r.conf.grpcSsl.name !== undefined ? { sslName: compiled(r.conf.grpcSsl.name) } : {}),
    sessionReuse: flagDirective(levels, 'grpc_ssl_session_reuse', true),
    ...(address ? { address } : {}),
  };
}

export function createGrpcHandler(opts: GrpcHandlerOptions = {}): GrpcHook {
  const registry = new UpstreamRegistry();
  const idle = new IdleSessions();
  const planFor = planMemo(buildPlan);

  const upstreamTls = (r: RequestState, plan: Plan, target: ProxyTarget): UpstreamTls => {
    const ssl = r.conf.grpcSsl;
    const name = sslName(plan.sslName ? evaluate(plan.sslName, r.ctx) : target.host);
    const pems = opts.pems?.() ?? {};
    const ca = ssl.verify && ssl.trustedCertificate !== undefined ? pems[ssl.trustedCertificate] : undefined;
    const cert = ssl.certificate !== undefined ? pems[ssl.certificate] : undefined;
    const key = ssl.certificateKey !== undefined ? pems[ssl.certificateKey] : undefined;
    return { ssl, name, ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined && key !== undefined ? { cert: { cert, key } } : {}), sessionReuse: plan.sessionReuse };
  };

  const hook = async (req: IncomingMessage, res: ServerResponse, r: RequestState): Promise<ContentOutcome> => {
    const plan = planFor(r);
    const pass = r.conf.grpc.pass!;
    let address = plan.address;
    if (pass.hasVariables) {
      const evaluated = evaluate(compiled(pass.raw), r.ctx);
      address = parseAddress(evaluated);
      if (!address) {
        logError(r, opts, 'error', `invalid host in upstream "${evaluated.replace(/^grpcs?:\/\//i, '')}"`);
        return { kind: 'status', status: 500 };
      }
    } else if (!address) {
      logError(r, opts, 'error', `invalid host in upstream "${pass.raw}"`);
      return { kind: 'status', status: 500 };
    }
    let group = pass.hasVariables ? undefined : plan.group;
    if (!group) {
      try {
        group = await registry.group(r.state, address!.target, pass.hasVariables);
      } catch (e) {
        logError(r, opts, 'error', e instanceof GroupError ? e.message : `host not found in upstream "${address!.target.host}"`);
        return { kind: 'status', status: 502 };
      }
      if (!pass.hasVariables) plan.group = group;
    }
    const chunked = req.headers['transfer-encoding'] !== undefined;
    // Let the parser finish the packet the head came in: a body that came with it is whole now.
    if (chunked && !req.complete) await new Promise((resolve) => setImmediate(resolve));
    // $content_length of a chunked body that came whole with the head (nginx has read it by now).
    if (chunked && req.complete) r.ctx.requestBodyLength = req.readableLength;
    const length = req.headers['content-length'];
    const hasBody = req.httpVersionMajor >= 2 ? !req.readableEnded : chunked || (length !== undefined && length !== '0');
    const tlsConf = address!.ssl ? upstreamTls(r, plan, address!.target) : undefined;
    const run = new GrpcRun(plan, r, req, res, group, address!, requestFields(plan, r, req, address!), hasBody, tlsConf, idle, opts);
    return new Promise<ContentOutcome>((resolve) => {
      run.resolve = resolve;
      run.next();
    });
  };

  return Object.assign(hook, {
    close: async () => {
      idle.closeAll();
      await registry.close();
    },
  });
}

/** The HEADERS nginx sends: pseudo-headers, grpc_set_header with its defaults, the client's lines. */
function requestFields(plan: Plan, r: RequestState, req: IncomingMessage, address: Address): OutgoingHttpHeaders {
  const { ctx } = r;
  const path = r.validUnparsedUri ? ctx.rawUri : escapeUri(ctx.uri) + (ctx.args ? `?${ctx.args}` : '');
  const out: Record<string, string | string[]> = { ':method': r.method, ':scheme': address.ssl ? 'https' : 'http', ':path': path };
  if (!plan.hostSet) out[':authority'] = address.authority;
  const add = (lower: string, value: string): void => {
    if (H2_REFUSED.has(lower) || (lower === 'te' && value.toLowerCase() !== 'trailers')) return;
    const had = out[lower];
    if (had === undefined) out[lower] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[lower] = [had, value];
  };
  const te = requestHeader(ctx, 'te');
  const vars: VarContext = {
    ...ctx,
    extra: (name, c) => (name.toLowerCase() === 'grpc_internal_trailers' ? (te !== undefined && /trailers/i.test(te) ? 'trailers' : '') : ctx.extra?.(name, c)),
  };
  for (const t of plan.templates) {
    const v = t.cv.isStatic ? evaluate(t.cv, ctx) : evaluate(t.cv, vars);
    if (v !== '') add(t.lower, v);
  }
  // nginx 1.22 has no grpc_pass_request_headers: the client's lines always follow.
  const raw = clientHeaderLines(req);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (!plan.names.has(lower)) add(lower, raw[i + 1]!);
  }
  return out;
}

/** Idle sessions per peer (and TLS settings), in the group's keepalive cache. */
class IdleSessions {
  private readonly byPeer = new WeakMap<Peer, Map<string, PeerIdle<IdleSession>>>();
  private readonly all = new Set<PeerIdle<IdleSession>>();

  take(peer: Peer, key: string): IdleSession | undefined {
    const idle = this.byPeer.get(peer)?.get(key);
    let e: IdleSession | undefined;
    while (idle && (e = idle.pop()) !== undefined) {
      e.session.removeListener('close', e.drop);
      e.session.removeListener('goaway', e.drop);
      e.session.removeListener('error', e.drop);
      e.session.setTimeout(0);
      if (!e.session.destroyed && !e.session.closed) return e;
    }
    return undefined;
  }

  put(peer: Peer, key: string, group: GroupRuntime, session: ClientHttp2Session, socket: Socket, requests: number): void {
    let byKey = this.byPeer.get(peer);
    if (!byKey) this.byPeer.set(peer, (byKey = new Map()));
    let idle = byKey.get(key);
    if (!idle) {
      byKey.set(key, (idle = new PeerIdle<IdleSession>(group.cache, (e) => e.socket.destroy())));
      this.all.add(idle);
    }
    const list = idle;
    const e: IdleSession = { session, socket, requests, stamp: 0, drop: () => undefined };
    e.drop = () => {
      socket.destroy();
      list.remove(e);
    };
    // The upstream may close an idle session; keepalive_timeout closes it on our side.
    session.once('close', e.drop);
    session.once('goaway', e.drop);
    session.once('error', e.drop);
    session.setTimeout(group.keepaliveTimeoutMs, e.drop);
    idle.push(e);
  }

  closeAll(): void {
    for (const idle of this.all) idle.clear();
    this.all.clear();
  }
}

interface IdleSession { session: ClientHttp2Session; socket: Socket; requests: number; stamp: number; drop: () => void }

/** One request over the group's peers (grpc_next_upstream). */
class GrpcRun extends UpstreamRun {
  /** Body bytes went upstream: the request cannot be sent again (nginx reads it unbuffered). */
  bodySent = false;
  readonly tlsKey: string;

  constructor(
    readonly plan: Plan,
    r: RequestState,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    group: GroupRuntime,
    readonly address: Address,
    readonly fields: OutgoingHttpHeaders,
    readonly hasBody: boolean,
    readonly tls: UpstreamTls | undefined,
    readonly idle: IdleSessions,
    log: GrpcHandlerOptions,
  ) {
    super(r, group, plan.next, plan.maxTries, log);
    this.tlsKey = tls ? upstreamTlsKey(tls) : '';
  }

  get scheme(): string {
    return this.address.ssl ? 'grpcs' : 'grpc';
  }

  upstream(peer: Peer): string {
    return `${this.scheme}://${peer.name}${peer.socketPath ? ':' : ''}`;
  }

  next(): void {
    const peer = this.nextPeer((name) => `${this.scheme}://${name}`);
    if (peer) new Attempt(this, peer).start();
  }

  onAttempt(outcome: ContentOutcome | FailedTry): void {
    const { plan, r } = this;
    this.tryEnded(outcome, this.upstream(this.peer!), (f) => plan.next.has(f.type) && !this.bodySent
      && !(f.requestSent && nonIdempotent(r.method) && !plan.next.has('non_idempotent')));
  }
}

/** Requests made on each session, for the upstream block's keepalive_requests. */
const requestsOn = new WeakMap<ClientHttp2Session, number>();

/** One try on one peer: a session (new or kept), one stream, the answer passed on as it comes. */
class Attempt extends PeerTry<GrpcRun> {
  private session: ClientHttp2Session | undefined;
  private stream: ClientHttp2Stream | undefined;
  private trailers: string[] | undefined;
  /** Our side of the stream is ended (the whole request body went). */
  private requestEnded = false;
  private goaway = false;
  /**
   * grpc_send_timeout: runs while the upstream holds the request body back (its flow-control window
   * is shut, or the socket is full), as nginx's write timer with request_body_blocked; it restarts
   * whenever the upstream takes another piece.
   */
  private sendTimer: NodeJS.Timeout | undefined;
  /** When the upstream last took a piece of the body (performance.now()). */
  private lastTaken = 0;
  private readonly onFlushed = (): void => {
    this.lastTaken = performance.now();
  };

  private readonly onReqData = (d: Buffer): void => {
    const s = this.stream!;
    this.run.bodySent = true;
    if (!s.write(d, this.onFlushed)) {
      this.blocked();
      this.run.req.pause();
      s.once('drain', () => {
        this.unblocked();
        this.run.req.resume();
      });
    }
  };

  private blocked(): void {
    if (this.sendTimer !== undefined) return;
    this.lastTaken = performance.now();
    const check = (): void => {
      if (this.settled) return;
      const left = this.lastTaken + this.run.r.conf.grpc.sendTimeoutMs - performance.now();
      if (left >= 1) {
        this.sendTimer = setTimeout(check, left);
        return;
      }
      this.sendTimer = undefined;
      this.fail({ type: 'timeout', status: 504, requestSent: true, message: `upstream timed out (110: Connection timed out) ${SENDING}`, action: SENDING });
    };
    this.sendTimer = setTimeout(check, this.run.r.conf.grpc.sendTimeoutMs);
  }

  private unblocked(): void {
    if (this.sendTimer !== undefined) clearTimeout(this.sendTimer);
    this.sendTimer = undefined;
  }

  private readonly onReqEnd = (): void => {
    // An HTTP/2 client's stream that went away ends the request too: that is an abort, not an end.
    if (this.clientGone()) this.onClientClose();
    else {
      this.stream?.end();
      // What is still held back keeps the send timer running until it has all gone ('finish').
      if (this.stream !== undefined && this.stream.writableLength > 0) this.blocked();
    }
  };

  private clientGone(): boolean {
    const { req, res } = this.run;
    const h2 = (res as unknown as { stream?: http2.ServerHttp2Stream }).stream;
    return (req as { aborted?: boolean }).aborted === true || (h2 !== undefined ? h2.destroyed : res.destroyed && !res.writableFinished);
  }

  start(): void {
    const { run, peer } = this;
    run.res.on('close', this.onClientClose);
    const kept = run.group.keepalive > 0 ? run.idle.take(peer, run.tlsKey) : undefined;
    if (kept) {
      this.cached = true;
      this.socket = kept.socket;
      this.session = kept.session;
      this.listen(kept.session);
      run.tries.connect.push(this.elapsed());
      this.send();
      return;
    }
    const connectFailed = this.connectFailed;
    let s: Socket;
    if (run.tls) {
      s = openTls(run.tls, peer.host, peer.port, (err) => (err ? connectFailed(err) : this.connected()), ['h2']);
    } else {
      s = peer.socketPath ? netConnect({ path: peer.socketPath }) : netConnect({ host: peer.host, port: peer.port });
      s.once('connect', () => this.connected());
    }
    this.socket = s;
    s.on('error', connectFailed);
    this.arm(run.r.conf.grpc.connectTimeoutMs, () => this.fail({
      type: 'timeout', status: 504, requestSent: false, message: `upstream timed out (110: Connection timed out) ${CONNECTING}`, action: CONNECTING,
    }));
  }

  private readonly connectFailed = (e: Error): void => this.fail(classifyUpstreamError(e, false));

  private connected(): void {
    if (this.settled) return;
    const { run } = this;
    const s = this.socket!;
    s.removeListener('error', this.connectFailed);
    s.setNoDelay(true);
    run.tries.connect.push(this.elapsed());
    // The fields name :authority themselves: the URL only has to parse, whatever the address.
    const session = http2.connect(run.address.ssl ? 'https://localhost' : 'http://localhost', {
      createConnection: () => s,
      settings: { enablePush: false },
    });
    this.session = session;
    this.listen(session);
    this.send();
  }

  private listen(session: ClientHttp2Session): void {
    session.on('error', this.onSessionError);
    session.on('close', this.onSessionClose);
    session.on('goaway', this.onGoaway);
  }

  private readonly onSessionError = (e: Error): void => {
    if (this.settled) return;
    this.fail(classifyUpstreamError(e, this.headSent));
  };

  private readonly onSessionClose = (): void => {
    if (this.settled) return;
    this.prematureClose();
  };

  private readonly onGoaway = (): void => {
    this.goaway = true;
  };

  private prematureClose(): void {
    const action = this.headSent ? READING_BODY : READING_HEADER;
    this.fail({ type: 'error', status: 502, requestSent: true, message: `upstream prematurely closed connection ${action}`, action });
  }

  private armRead(): void {
    this.arm(this.run.r.conf.grpc.readTimeoutMs, () => {
      const action = this.headSent ? READING_BODY : READING_HEADER;
      this.fail({ type: 'timeout', status: 504, requestSent: true, message: `upstream timed out (110: Connection timed out) ${action}`, action });
    });
  }

  private send(): void {
    const { run } = this;
    const session = this.session!;
    requestsOn.set(session, (requestsOn.get(session) ?? 0) + 1);
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(run.fields, { endStream: false });
    } catch (e) {
      this.fail({ type: 'error', status: 502, requestSent: false, message: `${(e as Error).message} ${CONNECTING}`, action: CONNECTING });
      return;
    }
    this.stream = stream;
    this.armRead();
    stream.on('response', (headers: IncomingHttpHeaders, flags: number, raw?: string[]) => this.onHead(headers, flags, raw));
    stream.on('trailers', (headers: IncomingHttpHeaders, _flags: number, raw?: string[]) => {
      this.trailers = raw ?? flatten(headers);
    });
    stream.on('data', (d: Buffer) => this.onData(d));
    stream.on('end', () => this.onEnd());
    stream.on('error', (e: Error) => this.onStreamError(e));
    stream.on('close', () => this.onStreamClose());
    stream.once('finish', () => {
      this.requestEnded = true;
      this.unblocked();
    });
    const { req } = run;
    if (!run.hasBody || req.readableEnded) {
      stream.end();
      return;
    }
    req.on('data', this.onReqData);
    req.on('end', this.onReqEnd);
    req.resume();
  }

  private onHead(headers: IncomingHttpHeaders, flags: number, raw: string[] | undefined): void {
    if (this.settled) return;
    const { run } = this;
    const { r, res, tries, plan } = run;
    const status = Number(headers[':status']);
    tries.status.push(String(status));
    tries.header.push(this.elapsed());
    if (run.canRetry(status)) {
      this.socket?.destroy();
      this.settle({ kind: 'failed', failure: { type: `http_${status}` as FailedTry['failure']['type'], status, requestSent: true, message: '', action: READING_HEADER } });
      return;
    }
    if (r.conf.grpc.interceptErrors && status >= 300 && r.conf.errorPages.some((e) => e.codes.includes(status))) {
      this.socket?.destroy();
      this.settle({ kind: 'status', status });
      return;
    }
    const lines = raw ?? flatten(headers);
    // A HEADERS frame that ends the stream (gRPC's trailers-only answer): no body, Content-Length 0.
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const out: [string, string][] = [];
    let server = false;
    let date = false;
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const l = lines[i]!.toLowerCase();
      if (l.charCodeAt(0) === 0x3a) continue;
      const v = lines[i + 1]!;
      if (tries.used) r.ctx.userVars.set(upstreamVarName(l), v);
      if (plan.hidden.has(l) || (endStream && l === 'content-length')) continue;
      if (l === 'server') server = true;
      else if (l === 'date') date = true;
      out.push([CANONICAL[l] ?? l, v]);
    }
    if (endStream) out.push(['Content-Length', '0']);
    if (r.conf.addHeaders.length > 0) publish(r, tries, true);
    writeHead(r, res, r.errStatus ?? status, out, undefined, undefined, headSource(server, date, true));
    this.headSent = true;
    r.ctx.response.bodyBytesSent = 0;
  }

  private onData(d: Buffer): void {
    if (this.settled) return;
    const { r, res } = this.run;
    if (r.method === 'HEAD') return;
    r.ctx.response.bodyBytesSent += d.length;
    r.ctx.response.bytesSent += d.length;
    if (!res.write(d)) {
      // A slow client: the upstream waits (flow control), and no read timeout runs meanwhile.
      this.disarm();
      this.stream!.pause();
      res.once('drain', () => {
        if (this.settled) return;
        this.armRead();
        this.stream!.resume();
      });
      return;
    }
    this.armRead();
  }

  /** END_STREAM from the upstream: the answer is whole; its trailers go to the client. */
  private onEnd(): void {
    if (this.settled || !this.headSent) return;
    // node:http2 ends the stream's readable side when the connection goes too: no END_STREAM came.
    if (this.session?.destroyed && this.stream?.rstCode === http2.constants.NGHTTP2_CANCEL) {
      this.prematureClose();
      return;
    }
    if (this.clientGone()) {
      this.onClientClose();
      return;
    }
    const { run } = this;
    const { r, res, plan } = run;
    const trailers = this.trailers;
    if (trailers && trailers.length > 0) {
      const h2 = r.ctx.protocol.startsWith('HTTP/2');
      const list: [string, string][] = [];
      const obj: Record<string, string | string[]> = {};
      for (let i = 0; i + 1 < trailers.length; i += 2) {
        const l = trailers[i]!.toLowerCase();
        if (l.charCodeAt(0) === 0x3a || plan.hidden.has(l)) continue;
        const v = trailers[i + 1]!;
        list.push([l, v]);
        const had = obj[l];
        obj[l] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
      }
      if (list.length > 0) res.addTrailers(h2 ? obj : list);
    }
    res.end();
    this.release();
    this.settle({ kind: 'done' });
  }

  /** The session goes back to the keepalive cache when nothing else is under way on it. */
  private release(): void {
    const { run } = this;
    const session = this.session!;
    const keep = run.group.keepalive > 0 && this.requestEnded && !this.goaway && !session.destroyed && !session.closed
      && (requestsOn.get(session) ?? 0) < run.group.keepaliveRequests;
    this.unlisten();
    if (keep) run.idle.put(this.peer, run.tlsKey, run.group, session, this.socket!, requestsOn.get(session) ?? 0);
    else this.socket!.destroy();
  }

  private unlisten(): void {
    const session = this.session;
    if (!session) return;
    session.removeListener('error', this.onSessionError);
    session.removeListener('close', this.onSessionClose);
    session.removeListener('goaway', this.onGoaway);
    // A late error on a closed session must not go unhandled.
    if (session.listenerCount('error') === 0) session.on('error', () => undefined);
  }

  /** After the head, an HTTP/2 client's stream is reset with INTERNAL_ERROR, as nginx resets it. */
  protected override fail(f: FailedTry['failure']): void {
    if (this.headSent && !this.settled) {
      const stream = (this.run.res as unknown as { stream?: http2.ServerHttp2Stream }).stream;
      if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
    super.fail(f);
  }

  private onStreamError(e: Error): void {
    if (this.settled) return;
    const code = (e as { code?: string }).code;
    if (code === 'ERR_HTTP2_STREAM_ERROR') {
      this.rejected(this.stream?.rstCode ?? 0);
      return;
    }
    if (this.session?.destroyed || this.session?.closed || code === 'ERR_HTTP2_STREAM_CANCEL' || code === 'ERR_HTTP2_GOAWAY_SESSION') {
      this.prematureClose();
      return;
    }
    this.fail(classifyUpstreamError(e, this.headSent));
  }

  private onStreamClose(): void {
    if (this.settled) return;
    // Closed without an error: a RST_STREAM with NO_ERROR before the end, or the session went.
    if (this.session?.destroyed || this.session?.closed) this.prematureClose();
    else this.rejected(this.stream?.rstCode ?? 0);
  }

  private rejected(rstCode: number): void {
    const action = this.headSent ? READING_BODY : READING_HEADER;
    this.fail({ type: 'invalid_header', status: 502, requestSent: true, message: `upstream rejected request with error ${rstCode} ${action}`, action });
  }

  private readonly onClientClose = (): void => {
    if (this.settled || (this.run.res.writableFinished && !this.clientGone())) return;
    // The client went away: nginx closes the upstream connection too.
    this.settle({ kind: 'done' });
    this.socket?.destroy();
  };

  protected override onSettle(): void {
    this.unblocked();
    const { req, res } = this.run;
    res.removeListener('close', this.onClientClose);
    req.removeListener('data', this.onReqData);
    req.removeListener('end', this.onReqEnd);
    // The rest of a body that had started to go (no other peer gets it) is read and dropped, as
    // nginx discards it: a client held back by the upstream would otherwise never finish its stream.
    if (this.run.bodySent && !req.readableEnded) req.resume();
    if (!this.socket?.destroyed) return;
    this.unlisten();
  }
}

/** A header object as name/value lines (duplicates kept in their order). */
function flatten(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(k, x);
    else out.push(k, String(v));
  }
  return out;
}
