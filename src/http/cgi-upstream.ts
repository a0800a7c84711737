// The content handler of the upstreams that answer with a CGI head (ngx_http_upstream with the
// fastcgi, uwsgi and scgi modules): the request as parameters (*_param, then the client's headers
// as HTTP_*) framed by the protocol (fastcgi.ts, uwsgi.ts, scgi.ts), the peers of the upstream
// group walked per *_next_upstream, the response head (an HTTP status line where uwsgi and SCGI
// allow one, Status, Location), the body streamed to the client, FastCGI's STDERR logged as nginx
// logs it, and FastCGI connections kept under fastcgi_keep_conn with an upstream `keepalive`.
import { connect as netConnect, type Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CgiSettings, LocationConf } from '../config/state.ts';
import type { ErrorLogEntry } from './access-log.ts';
import { headSource, logError, writeHead, type ContentOutcome, type RequestState } from './pipeline.ts';
import { confLevels, directiveArgs, flagDirective } from './proxy-headers.ts';
import { classifyUpstreamError, type Failure } from './proxy-errors.ts';
import type { ProxyTarget } from './proxy-uri.ts';
import { afterFlush, GroupError, IdleSockets, SendClock, sendProgress, UpstreamRegistry, type GroupRuntime } from './upstream-groups.ts';
import type { Peer } from './upstream-peers.ts';
import { accelRedirect, carryAccelHeaders, nonIdempotent, PeerTry, planMemo, publish, upstreamRequestBody, upstreamVarName, UpstreamRun, type FailedTry } from './upstream-attempts.ts';
import { BodyError, SpooledBody, type RequestBody } from './request-body.ts';
import { compiled, evaluate, type CompiledValue } from './variables.ts';
import { accelLimitRate, rateLimitOf, writeLimited } from './limit-rate.ts';
import { RecordReader, type RecordSink } from './fastcgi-records.ts';
import { clientHeaderLines } from './request-headers.ts';

export interface CgiHandlerOptions {
  errorLog?: (entry: ErrorLogEntry) => void;
}

export type CgiHook = ((req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>) & { close(): Promise<void> };

/** What one protocol brings: its settings, the request's framing, how its answer arrives. */
export interface CgiProtocol {
  /** The directives' prefix, and the scheme in error lines. */
  name: 'fastcgi' | 'uwsgi' | 'scgi';
  settings(conf: LocationConf): CgiSettings;
  /** Answer headers hidden by default (lower case): ngx_http_*_hide_headers. */
  hidden: readonly string[];
  /** The address *_pass names, its scheme prefix (uwsgi://) taken off. */
  address?(raw: string): string;
  /** Called as the handler starts (FastCGI splits the URI anew). */
  start?(r: RequestState): void;
  /** The request's head from its parameters, or nginx's alert when they do not fit. */
  head(pairs: readonly (readonly [string, string])[], r: RequestState, bodyLength: number): Buffer | { tooBig: string };
  /** A piece of the body as it is sent, and what ends it (FastCGI's STDIN records). */
  bodyPiece(chunk: Buffer): Buffer;
  bodyEnd: Buffer;
  /** FastCGI answers in records; uwsgi and SCGI with the bytes themselves, a status line allowed first. */
  records: boolean;
}

const NOT_COPIED = ['connection', 'keep-alive', 'transfer-encoding'];
type Failed = FailedTry;

const CONNECTING = 'while connecting to upstream';
const READING_HEADER = 'while reading response header from upstream';
const SENDING = 'while sending request to upstream';
const READING_BODY = 'while reading upstream';

interface Param {
  name: string;
  value: CompiledValue;
  ifNotEmpty: boolean;
}

/** A location's settings worked out on its first request (a reload brings new conf objects). */
interface Plan {
  location: RequestState['location'];
  serverConf: LocationConf;
  httpDirectives: RequestState['state']['httpDirectives'];
  params: Param[];
  /** Client headers an HTTP_* parameter stands for (lower case, `-` as `_`): not passed again. */
  replacedHeaders: ReadonlySet<string>;
  passHeaders: boolean;
  passBody: boolean;
  hidden: ReadonlySet<string>;
  next: ReadonlySet<string>;
  maxTries: number;
  accelRedirects: boolean;
  /** X-Accel-Limit-Rate is obeyed (not in *_ignore_headers). */
  accelLimitRate: boolean;
  /** fastcgi_catch_stderr: text in STDERR before the head that makes the answer invalid. */
  catchStderr: readonly string[];
  /** *_pass without variables: its address, parsed once, and its group once resolved. */
  target?: ProxyTarget;
  group?: GroupRuntime;
}

function buildPlan(r: RequestState, protocol: CgiProtocol): Plan {
  const levels = confLevels(r);
  const settings = protocol.settings(r.conf);
  const name = protocol.name;
  const params: Param[] = [];
  const replacedHeaders = new Set<string>();
  // ngx_http_*_init_params: an HTTP_* parameter replaces the client's header of that name,
  // and one with an empty value only removes it.
  for (const p of settings.params) {
    if (p.name.length > 5 && p.name.startsWith('HTTP_')) {
      replacedHeaders.add(p.name.slice(5).replace(/[A-Z]+/g, lower));
      if (p.value === '') continue;
    }
    params.push({ name: p.name, value: compiled(p.value), ifNotEmpty: p.ifNotEmpty });
  }
  const hidden = new Set(protocol.hidden);
  for (const [n] of directiveArgs(levels, `${name}_hide_header`)) if (n) hidden.add(n.toLowerCase());
  for (const [n] of directiveArgs(levels, `${name}_pass_header`)) if (n) hidden.delete(n.toLowerCase());
  for (const h of NOT_COPIED) hidden.add(h);
  const ignored = new Set(directiveArgs(levels, `${name}_ignore_headers`).flat().map((h) => h.toLowerCase()));
  const pass = settings.pass!;
  const target = pass.hasVariables ? undefined : upstreamTarget(protocol.address?.(pass.raw) ?? pass.raw);
  return {
    location: r.location, serverConf: r.server.conf, httpDirectives: r.state.httpDirectives,
    params, replacedHeaders,
    passHeaders: flagDirective(levels, `${name}_pass_request_headers`, true),
    passBody: flagDirective(levels, `${name}_pass_request_body`, true),
    hidden,
    next: new Set(settings.nextUpstream),
    maxTries: Number(directiveArgs(levels, `${name}_next_upstream_tries`).pop()?.[0] ?? 0),
    accelRedirects: !ignored.has('x-accel-redirect'),
    accelLimitRate: !ignored.has('x-accel-limit-rate'),
    catchStderr: directiveArgs(levels, `${name}_catch_stderr`).map((a) => a[0]!),
    ...(target ? { target } : {}),
  };
}

/** *_pass's address as a target the upstream registry resolves: `unix:/path`, `host:port`, or a group name. */
function upstreamTarget(address: string): ProxyTarget | undefined {
  if (address.slice(0, 5).toLowerCase() === 'unix:') {
    return { scheme: 'http', host: address.slice(5), port: 0, portGiven: false, unix: true, proxyHost: 'localhost', proxyPort: '' };
  }
  const m = /^(.*):(\d+)$/.exec(address);
  const host = m ? m[1]! : address;
  if (!host || /[/?]/.test(address)) return undefined;
  const port = m ? Number(m[2]) : 80;
  return { scheme: 'http', host: host.replace(/^\[(.*)\]$/, '$1'), port, portGiven: m !== null, unix: false, proxyHost: host, proxyPort: String(port) };
}

/** Builds the pipeline's hook for one protocol; groups and idle connections live as long as their RoutingState. */
export function createCgiHandler(protocol: CgiProtocol, opts: CgiHandlerOptions = {}): CgiHook {
  const registry = new UpstreamRegistry();
  const idle = new IdleSockets();
  const planFor = planMemo((r) => buildPlan(r, protocol));

  const hook = async (req: IncomingMessage, res: ServerResponse, r: RequestState): Promise<ContentOutcome> => {
    const plan = planFor(r);
    const settings = protocol.settings(r.conf);
    const pass = settings.pass!;
    protocol.start?.(r);
    let target = plan.target;
    if (pass.hasVariables) {
      const evaluated = evaluate(compiled(pass.raw), r.ctx);
      const address = protocol.address?.(evaluated) ?? evaluated;
      target = upstreamTarget(address);
      if (!target) {
        logError(r, opts, 'error', `invalid host in upstream "${address}"`);
        return { kind: 'status', status: 500 };
      }
    }
    let group = pass.hasVariables ? undefined : plan.group;
    if (!group) {
      try {
        group = await registry.group(r.state, target!, pass.hasVariables);
      } catch (e) {
        logError(r, opts, 'error', e instanceof GroupError ? e.message : `host not found in upstream "${target!.host}"`);
        return { kind: 'status', status: 502 };
      }
      if (!pass.hasVariables) plan.group = group;
    }
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined || req.httpVersionMajor >= 2;
    let body: RequestBody | undefined;
    if (hasBody) {
      try {
        body = await upstreamRequestBody(req, res, r, opts);
      } catch (err) {
        if (!(err instanceof BodyError)) throw err;
        logError(r, opts, err.level, err.message);
        return { kind: 'status', status: err.status };
      }
    }
    const passed = plan.passBody ? body : undefined;
    // SCGI's CONTENT_LENGTH is the body's length even when *_pass_request_body is off.
    const head = protocol.head(parameters(plan, r, req), r, body?.length ?? 0);
    if (!Buffer.isBuffer(head)) {
      logError(r, opts, 'alert', head.tooBig);
      return { kind: 'status', status: 500 };
    }
    const run = new CgiRun(protocol, settings, plan, r, res, group, head, passed, idle, opts);
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

const lower = (m: string): string => m.toLowerCase();
const upper = (m: string): string => m.toUpperCase();

/** The parameters of one request: *_param in order, then the client's headers. */
function parameters(plan: Plan, r: RequestState, req: IncomingMessage): [string, string][] {
  const pairs: [string, string][] = [];
  for (const p of plan.params) {
    const v = evaluate(p.value, r.ctx);
    if (p.ifNotEmpty && v === '') continue;
    pairs.push([p.name, v]);
  }
  if (plan.passHeaders) {
    const raw = clientHeaderLines(req);
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      // nginx changes the case of ASCII letters only.
      if (plan.replacedHeaders.size > 0 && plan.replacedHeaders.has(name.replace(/[A-Z]+/g, lower).replaceAll('-', '_'))) continue;
      pairs.push([`HTTP_${name.replace(/[a-z]+/g, upper).replaceAll('-', '_')}`, raw[i + 1]!]);
    }
  }
  return pairs;
}


/** One request over the group's peers (*_next_upstream). */
class CgiRun extends UpstreamRun {
  constructor(
    readonly protocol: CgiProtocol,
    readonly settings: CgiSettings,
    readonly plan: Plan,
    r: RequestState,
    readonly res: ServerResponse,
    group: GroupRuntime,
    readonly head: Buffer,
    readonly body: RequestBody | undefined,
    readonly idle: IdleSockets,
    log: CgiHandlerOptions,
  ) {
    super(r, group, plan.next, plan.maxTries, log);
  }

  /** A peer in error lines: `fastcgi://` (or uwsgi, scgi) and its name, with a `:` after a unix socket's (ngx_http_upstream_log_error). */
  upstream(peer: Peer): string {
    return `${this.protocol.name}://${peer.name}${peer.socketPath ? ':' : ''}`;
  }

  next(): void {
    const peer = this.nextPeer((name) => `${this.protocol.name}://${name}`);
    if (peer) new Attempt(this, peer).start();
  }

  onAttempt(outcome: ContentOutcome | Failed): void {
    const { plan, r } = this;
    this.tryEnded(outcome, this.upstream(this.peer!), (f) => plan.next.has(f.type) && !(f.requestSent && nonIdempotent(r.method) && !plan.next.has('non_idempotent')));
  }
}

const ERRNO: Record<string, string> = {
  ECONNREFUSED: '111: Connection refused', ENOENT: '2: No such file or directory', EACCES: '13: Permission denied',
  ECONNRESET: '104: Connection reset by peer', EPIPE: '32: Broken pipe', ENOTSOCK: '88: Socket operation on non-socket',
};

/** One try on one peer: connect (or reuse), send, read the answer, pass it on or report why not. */
class Attempt extends PeerTry<CgiRun> implements RecordSink {
  /** FastCGI's records; the other protocols' bytes are the answer itself. */
  private readonly reader: { push(d: Buffer): void };
  /** Body bytes a Content-Length still announces (uwsgi and SCGI end there; -1: until the close). */
  private remaining = -1;
  private headerBytes: Buffer[] = [];
  private ended = false;
  /** Body pieces still going out under limit_rate, in order. */
  private limited: Promise<void> | undefined;

  constructor(run: CgiRun, peer: Peer) {
    super(run, peer);
    this.reader = run.protocol.records ? new RecordReader(this) : { push: (d) => this.stdout(d) };
  }

  start(): void {
    const { run, peer } = this;
    const reused = run.settings.keepConn && run.group.keepalive > 0 ? run.idle.take(peer) : undefined;
    run.res.on('close', this.onClientClose);
    if (reused) {
      this.cached = true;
      this.socket = reused;
      this.listen(reused);
      this.connected();
      return;
    }
    const s = peer.socketPath ? netConnect({ path: peer.socketPath }) : netConnect({ host: peer.host, port: peer.port });
    this.socket = s;
    this.listen(s);
    this.arm(run.settings.connectTimeoutMs, () => this.fail({
      type: 'timeout', status: 504, requestSent: false, message: `upstream timed out (110: Connection timed out) ${CONNECTING}`, action: CONNECTING,
    }));
    s.once('connect', () => this.connected());
  }

  private listen(s: Socket): void {
    s.on('data', (d: Buffer) => {
      this.gotData = true;
      this.armRead();
      this.reader.push(d);
    });
    s.on('error', (e) => this.onSocketError(e));
    s.on('close', () => this.onSocketClose());
  }

  private armRead(): void {
    if (this.settled && this.ended) return;
    this.arm(this.run.settings.readTimeoutMs, () => {
      const during = this.headSent ? READING_BODY : READING_HEADER;
      this.fail({ type: 'timeout', status: 504, requestSent: true, message: `upstream timed out (110: Connection timed out) ${during}`, action: during });
    });
  }

  /** The application has sent something: its read timer runs. */
  private gotData = false;
  /** Body pieces written (sendProgress). */
  private chunks = 0;
  private readonly sendClock = new SendClock(() => sendProgress(this.socket!, this.chunks));

  /**
   * *_send_timeout while the request is being written: it restarts whenever the application takes
   * more of it, as nginx's write timer (SendClock); once all of it is sent (or an answer comes),
   * *_read_timeout.
   */
  private armSend(): void {
    this.arm(this.sendClock.start(this.run.settings.sendTimeoutMs), this.lookAtSend);
  }

  private readonly lookAtSend = (): void => {
    const next = this.sendClock.look(this.run.settings.sendTimeoutMs);
    if (next > 0) this.arm(next, this.lookAtSend);
    else this.fail({ type: 'timeout', status: 504, requestSent: true, message: `upstream timed out (110: Connection timed out) ${SENDING}`, action: SENDING });
  };

  /** The request is all written: the wait for the answer begins (unless it has begun). */
  private sent(): void {
    afterFlush(this.socket!, () => this.gotData || this.armRead());
  }

  private connected(): void {
    const { run } = this;
    run.tries.connect.push(this.elapsed());
    this.armSend();
    const s = this.socket!;
    const { protocol } = run;
    s.write(run.head);
    const body = run.body;
    if (body instanceof SpooledBody) {
      const stream = body.stream();
      stream.on('data', (chunk: Buffer) => {
        this.chunks++;
        if (!s.write(protocol.bodyPiece(chunk))) {
          stream.pause();
          s.once('drain', () => stream.resume());
        }
      });
      stream.once('end', () => {
        if (protocol.bodyEnd.length) s.write(protocol.bodyEnd);
        this.sent();
      });
      stream.once('error', (e) => this.onSocketError(e));
      return;
    }
    const pieces = body && body.length > 0 ? [protocol.bodyPiece(body), protocol.bodyEnd] : [protocol.bodyEnd];
    const bytes = Buffer.concat(pieces);
    if (bytes.length) s.write(bytes);
    this.sent();
  }

  private readonly onClientClose = (): void => {
    if (this.run.res.writableFinished) return;
    // The client went away: nginx closes the upstream connection too (*_ignore_client_abort off).
    this.settle({ kind: 'done' });
    this.socket?.destroy();
  };

  private onSocketError(e: Error): void {
    if (this.settled) {
      this.socket?.destroy();
      return;
    }
    const code = (e as { code?: string }).code ?? '';
    if (this.peer.socketPath && ERRNO[code] && !this.run.tries.connect.length) {
      // A unix socket fails in connect() itself: nginx names the peer.
      // ngx_event_connect_peer: a refused connection is an error, a missing or forbidden socket critical.
      const level = code === 'ECONNREFUSED' ? 'error' : 'crit';
      this.fail({ type: 'error', status: 502, requestSent: false, message: `connect() to ${this.peer.name} failed (${ERRNO[code]}) ${CONNECTING}`, action: CONNECTING, level });
      return;
    }
    this.fail(classifyUpstreamError(e, this.headSent));
  }

  private onSocketClose(): void {
    if (this.settled) return;
    if (!this.headSent) {
      const action = this.run.tries.connect.length ? READING_HEADER : CONNECTING;
      this.fail({ type: 'error', status: 502, requestSent: true, message: `upstream prematurely closed connection ${action}`, action });
      return;
    }
    // Without fastcgi_keep_conn the application's close ends the response (nginx reads to EOF);
    // so it does for uwsgi and SCGI without a Content-Length.
    this.finish(false);
  }

  protected override onSettle(): void {
    this.run.res.removeListener('close', this.onClientClose);
  }

  // ---- RecordSink

  stdout(data: Buffer): void {
    if (this.settled && !this.headSent) return;
    if (this.headSent) {
      this.body(data);
      return;
    }
    this.headerBytes.push(data);
    const all = this.headerBytes.length === 1 ? data : Buffer.concat(this.headerBytes);
    const end = headerEnd(all);
    if (end === undefined) {
      this.headerBytes = [all];
      return;
    }
    this.headerBytes = [];
    this.onHead(all.subarray(0, end.head), all.subarray(end.body));
  }

  stdoutEnd(): void {
    if (this.headSent || this.settled) return;
    this.invalid('upstream prematurely closed FastCGI stdout');
  }

  stderr(data: Buffer): void {
    // nginx drops trailing newlines, dots and spaces from what it logs.
    let end = data.length;
    while (end > 1 && (data[end - 1] === 0x0a || data[end - 1] === 0x0d || data[end - 1] === 0x2e || data[end - 1] === 0x20)) end--;
    const text = data.subarray(0, end).toString('latin1');
    const during = this.headSent ? READING_BODY : READING_HEADER;
    logError(this.run.r, this.run.log, 'error', `FastCGI sent in stderr: "${text}" ${during}`, this.run.upstream(this.peer));
    // fastcgi_catch_stderr: before the head, such text makes the answer invalid (next upstream or 502).
    if (!this.headSent && this.run.plan.catchStderr.some((p) => text.includes(p))) {
      this.fail({ type: 'invalid_header', status: 502, requestSent: true, message: '', action: READING_HEADER });
    }
  }

  end(): void {
    if (!this.headSent) {
      this.invalid(`upstream sent unexpected FastCGI record: 3`);
      return;
    }
    this.finish(true);
  }

  invalid(message: string): void {
    this.fail({ type: 'invalid_header', status: 502, requestSent: true, message: `${message} ${this.headSent ? READING_BODY : READING_HEADER}`, action: READING_HEADER });
  }

  // ---- the response

  private onHead(headBytes: Buffer, rest: Buffer): void {
    const { run } = this;
    const { r, res, tries, plan } = run;
    let text = headBytes.toString('latin1');
    // uwsgi and SCGI may begin with an HTTP status line (ngx_http_parse_status_line), else CGI headers.
    const line = this.run.protocol.records ? null : /^HTTP\/\d\.\d (\d{3})(?: ([^\r\n]*))?\r?\n/.exec(text);
    if (line) text = text.slice(line[0].length);
    const fields = parseHead(text);
    if (typeof fields === 'string') {
      this.invalid(fields);
      return;
    }
    let status = 200;
    let reason: string | undefined = 'OK';
    const statusField = line ? undefined : fields.find(([, l]) => l === 'status');
    if (line) {
      status = Number(line[1]);
      reason = line[2] ?? '';
    } else if (statusField) {
      const v = statusField[2];
      if (!/^\d{3}/.test(v)) {
        this.invalid(`upstream sent invalid status "${v}"`);
        return;
      }
      status = Number(v.slice(0, 3));
      reason = v.length > 4 ? v.slice(4) : undefined;
    } else if (fields.some(([, l]) => l === 'location')) {
      status = 302;
      reason = 'Moved Temporarily';
    }
    tries.status.push(String(status));
    tries.header.push(this.elapsed());
    if (run.canRetry(status)) {
      this.socket?.destroy();
      this.settle({ kind: 'failed', failure: { type: `http_${status}` as Failure['type'], status, requestSent: true, message: '', action: READING_HEADER } });
      return;
    }
    if (this.run.settings.interceptErrors && status >= 300 && r.conf.errorPages.some((e) => e.codes.includes(status))) {
      this.socket?.destroy();
      this.settle({ kind: 'status', status });
      return;
    }
    if (plan.accelLimitRate) {
      for (const [, l, v] of fields) if (l === 'x-accel-limit-rate') accelLimitRate(res, v, r.conf.limitRateAfter, r.ctx.startMs, r.ctx.response);
    }
    const accel = plan.accelRedirects ? fields.find(([, l]) => l === 'x-accel-redirect')?.[2] : undefined;
    if (accel) {
      this.socket?.destroy();
      carryAccelHeaders(r, fields);
      this.settle(accelRedirect(r, accel));
      return;
    }
    if (tries.used) for (const [, l, v] of fields) r.ctx.userVars.set(upstreamVarName(l), v);
    if (r.conf.addHeaders.length > 0) publish(r, tries, true);
    const out: [string, string][] = [];
    for (const [k, l, v] of fields) if (!plan.hidden.has(l)) out.push([CANONICAL[l] ?? k, v]);
    // nginx's own Server and Date go out unless the application sent its own (these modules hide neither).
    const passed = headSource(!plan.hidden.has('server') && fields.some(([, l]) => l === 'server'), !plan.hidden.has('date') && fields.some(([, l]) => l === 'date'), true);
    writeHead(r, res, r.errStatus ?? status, out, undefined, r.errStatus ? undefined : reason, passed);
    this.headSent = true;
    r.ctx.response.bodyBytesSent = 0;
    if (!this.run.protocol.records) {
      // ngx_http_uwsgi_input_filter_init: no body after 204 and 304, to the close for HEAD.
      const length = fields.find(([, l]) => l === 'content-length')?.[2];
      if (status === 204 || status === 304) this.remaining = 0;
      else if (r.method !== 'HEAD' && length !== undefined && /^\d+$/.test(length)) this.remaining = Number(length);
      if (this.remaining === 0) {
        this.finish(false);
        return;
      }
    }
    if (rest.length) this.body(rest);
  }

  private body(data: Buffer): void {
    const { r, res } = this.run;
    if (this.settled) return;
    let done = false;
    if (this.remaining >= 0) {
      if (data.length >= this.remaining) {
        data = data.subarray(0, this.remaining);
        done = true;
      }
      this.remaining -= data.length;
    }
    if (r.method === 'HEAD') {
      if (done) this.finish(false);
      return;
    }
    r.ctx.response.bodyBytesSent += data.length;
    r.ctx.response.bytesSent += data.length;
    const limit = rateLimitOf(res);
    if (limit) {
      // limit_rate: the application waits while what it sent goes out at the rate.
      this.disarm();
      this.socket?.pause();
      this.limited = (this.limited ?? Promise.resolve()).then(() => writeLimited(res, data, limit, false)).then(() => {
        if (this.ended) return;
        this.armRead();
        this.socket?.resume();
      });
      if (done) this.finish(false);
      return;
    }
    if (done) {
      res.write(data);
      this.finish(false);
      return;
    }
    if (!res.write(data)) {
      // The client is slow: the application waits, and no read timeout runs meanwhile.
      this.disarm();
      this.socket?.pause();
      res.once('drain', () => {
        this.armRead();
        this.socket?.resume();
      });
    }
  }

  /** The response is complete: the client's ends, and the connection is kept when it can be. */
  private finish(endRequest: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.disarm();
    const { run } = this;
    const s = this.socket!;
    if (this.limited) void this.limited.then(() => run.res.end());
    else run.res.end();
    const keep = endRequest && run.settings.keepConn && run.group.keepalive > 0 && !s.destroyed;
    if (keep) run.idle.put(this.peer, run.group, s);
    else s.destroy();
    this.settle({ kind: 'done' });
  }
}

/** The names nginx's header filter writes itself, whatever the case the application used (the rest keep theirs). */
const CANONICAL: Record<string, string> = {
  'content-type': 'Content-Type', 'content-length': 'Content-Length',
};

/** Where the CGI head ends (an empty line, CRLF or LF), and where the body starts. */
function headerEnd(b: Buffer): { head: number; body: number } | undefined {
  let lineStart = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] !== 0x0a) continue;
    const len = i - lineStart - (i > lineStart && b[i - 1] === 0x0d ? 1 : 0);
    if (len === 0) return { head: lineStart, body: i + 1 };
    lineStart = i + 1;
  }
  return undefined;
}

/**
 * The head's lines as ngx_http_parse_header_line reads them: `name: value` with spaces around the
 * value dropped, a line without a colon a name with an empty value. Returns [name, lower, value]
 * per line, or the error-log text of a line nginx refuses.
 */
function parseHead(text: string): [string, string, string][] | string {
  const out: [string, string, string][] = [];
  for (let line of text.split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    // nginx names the line up to the first byte it refuses: "Bad\x20...".
    const bad = name === '' ? 0 : name.search(/[\x00-\x20\x7f]/);
    if (bad >= 0) return `upstream sent invalid header: "${name.slice(0, bad)}\\x${(line.charCodeAt(bad)).toString(16).padStart(2, '0')}..."`;
    if (line.includes('\0')) return `upstream sent invalid header: "${line.slice(0, line.indexOf('\0'))}\\x00..."`;
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ +| +$/g, '');
    out.push([name, name.toLowerCase(), value]);
  }
  return out;
}
