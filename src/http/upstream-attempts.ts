// What proxy_pass and fastcgi_pass share about one request's tries over an upstream group: the
// walk over its peers with nginx's retry rules, the $upstream_* variables (one entry per try), and
// X-Accel-Redirect's internal redirect.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ConfNode } from '../nginx/types.ts';
import type { ErrorLogEntry } from './access-log.ts';
import { readRequestBody, SpooledBody, type RequestBody } from './request-body.ts';
import { logError, type ContentOutcome, type RequestState } from './pipeline.ts';
import { NEXT_STATUS, type Failure } from './proxy-errors.ts';
import { selectorFor, type GroupRuntime } from './upstream-groups.ts';
import { freePeer, getPeer, startWalk, type Peer, type PeerWalk, type Selector } from './upstream-peers.ts';
import { formatMsec } from './variables.ts';

const NON_IDEMPOTENT = new Set(['POST', 'LOCK', 'PATCH']);

/** Whether nginx would not send this method to another peer once the request went out. */
export const nonIdempotent = (method: string): boolean => NON_IDEMPOTENT.has(method);

/**
 * One request's walk over a group's peers (proxy_next_upstream, fastcgi_next_upstream): the
 * handlers extend it with how they talk to a peer.
 */
export abstract class UpstreamRun {
  readonly walk: PeerWalk;
  readonly select: Selector;
  readonly tries: Tries;
  resolve!: (o: ContentOutcome) => void;
  /** The peer of the try under way. */
  peer: Peer | undefined;

  constructor(
    readonly r: RequestState,
    readonly group: GroupRuntime,
    /** *_next_upstream's conditions, *_next_upstream_tries (0: no limit). */
    readonly conditions: ReadonlySet<string>,
    maxTries: number,
    readonly log: { errorLog?: (entry: ErrorLogEntry) => void },
  ) {
    this.tries = { addr: [], status: [], time: [], connect: [], header: [], used: usesUpstreamVars(r.state) };
    this.walk = startWalk(group.peers);
    if (maxTries > 0 && this.walk.tries > maxTries) this.walk.tries = maxTries;
    this.select = selectorFor(group, r.ctx);
  }

  /** Whether an upstream status may go to the next peer (next_upstream http_NNN). */
  canRetry(status: number): boolean {
    const ft = NEXT_STATUS.get(status);
    if (!ft || !this.conditions.has(ft) || this.walk.tries <= 1) return false;
    return !NON_IDEMPOTENT.has(this.r.method) || this.conditions.has('non_idempotent');
  }

  /** Sends the request to the next peer, or answers once none is left. */
  abstract next(): void;

  /**
   * A try ended: an answer resolves the request; a failure is logged, counts against its peer
   * (not a 403 or 404), and goes to the next peer when `retry` allows it and tries are left.
   */
  tryEnded(outcome: ContentOutcome | { kind: 'failed'; failure: Failure & { level?: ErrorLogEntry['level'] } }, upstream: string, retry: (f: Failure) => boolean): void {
    const { r, tries, walk } = this;
    if (outcome.kind !== 'failed') {
      freePeer(walk, false);
      publish(r, tries);
      this.resolve(outcome);
      return;
    }
    const f = outcome.failure;
    if (f.message) logError(r, this.log, f.level ?? 'error', f.message, upstream);
    this.countFailure(f, upstream);
    if (walk.tries === 0 || !retry(f)) {
      publish(r, tries);
      this.resolve({ kind: 'status', status: f.status });
      return;
    }
    this.next();
  }

  /**
   * ngx_http_upstream_next's bookkeeping of a failed try: it counts against its peer (not a 403 or
   * 404), and an error on a cached connection gives the request one more try: the upstream may
   * have closed that connection just as it was reused (its own idle timeout), which says nothing
   * about a fresh one. nginx still counts the failure (its "TODO: inform balancer instead").
   */
  countFailure(f: Failure, upstream: string): void {
    freePeer(this.walk, f.type !== 'http_403' && f.type !== 'http_404', () => {
      logError(this.r, this.log, 'warn', `upstream server temporarily disabled${f.action ? ` ${f.action}` : ''}`, upstream);
    });
    if (f.cached && f.type === 'error') this.walk.tries++;
  }

  /** The next peer to try, or undefined once none is left (logged and answered 502, as nginx does). */
  nextPeer(upstream: (groupName: string) => string): Peer | undefined {
    const { r, tries, group } = this;
    const peer = getPeer(this.walk, this.select);
    if (!peer) {
      logError(r, this.log, 'error', 'no live upstreams while connecting to upstream', upstream(group.name));
      tries.addr.push(group.name);
      tries.status.push('502');
      tries.time.push('0.000');
      publish(r, tries);
      this.resolve({ kind: 'status', status: 502 });
      return undefined;
    }
    this.peer = peer;
    tries.addr.push(peer.name);
    return peer;
  }
}

/** What a location's plan was built for: a reload brings new objects, and so a new plan. */
export interface PlanKey {
  location: RequestState['location'];
  serverConf: RequestState['server']['conf'];
  httpDirectives: RequestState['state']['httpDirectives'];
}

/** A handler's per-location plan, worked out on the location's first request and kept per conf. */
export function planMemo<P extends PlanKey>(build: (r: RequestState) => P): (r: RequestState) => P {
  const plans = new WeakMap<RequestState['conf'], P>();
  return (r) => {
    let plan = plans.get(r.conf);
    if (!plan || plan.location !== r.location || plan.serverConf !== r.server.conf || plan.httpDirectives !== r.state.httpDirectives) {
      plan = build(r);
      plans.set(r.conf, plan);
    }
    return plan;
  };
}

/**
 * Per-request record behind $upstream_addr / $upstream_status / $upstream_response_time; `used`:
 * whether the configuration names any $upstream_* variable at all (else none is set).
 */
export interface Tries { addr: string[]; status: string[]; time: string[]; connect: string[]; header: string[]; used: boolean }

/** Whether any directive of the configuration mentions an $upstream_* variable, per state. */
const upstreamVarUse = new WeakMap<RequestState['state'], boolean>();

export function usesUpstreamVars(state: RequestState['state']): boolean {
  let used = upstreamVarUse.get(state);
  if (used === undefined) {
    const scan = (nodes: readonly ConfNode[]): boolean => nodes.some((n) => /upstream_/i.test(n.directive) || n.args.some((a) => /upstream_/i.test(a)) || (n.block !== undefined && scan(n.block)));
    used = scan(state.httpDirectives ?? []);
    upstreamVarUse.set(state, used);
  }
  return used;
}

/** formatMsec for a whole number of milliseconds, without toFixed (three times a request). */
export function msec(ms: number): string {
  if (!(ms >= 0 && ms < 1e9 && Number.isInteger(ms))) return formatMsec(ms);
  const frac = ms % 1000;
  return `${(ms - frac) / 1000}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

const joined = (a: string[]): string => (a.length === 1 ? a[0]! : a.join(', '));

/** Sets the $upstream_* variables; `pending` adds this try's response time as "-" (the body is still to come). */
export function publish(r: RequestState, t: Tries, pending = false): void {
  if (!t.used) return;
  const v = r.ctx.userVars;
  v.set('upstream_addr', joined(t.addr));
  v.set('upstream_status', joined(t.status));
  v.set('upstream_response_time', pending ? (t.time.length ? `${t.time.join(', ')}, -` : '-') : joined(t.time));
  v.set('upstream_connect_time', joined(t.connect));
  v.set('upstream_header_time', joined(t.header));
}

/** $upstream_http_NAME for a header name (lower case): built once per distinct name. */
const varNames = new Map<string, string>();
export function upstreamVarName(lower: string): string {
  let n = varNames.get(lower);
  if (n === undefined) {
    n = `upstream_http_${lower.replaceAll('-', '_')}`;
    if (varNames.size > 1000) varNames.clear();
    varNames.set(lower, n);
  }
  return n;
}

/** X-Accel-Redirect: an internal redirect (GET unless HEAD) to the URI or named location. */
/** The upstream headers an X-Accel-Redirect response keeps (their `redirect` flag in ngx_http_upstream_headers_in). */
const CARRIED = new Set(['content-type', 'set-cookie', 'content-disposition', 'cache-control', 'expires', 'accept-ranges']);

/**
 * Keeps what nginx copies from an X-Accel-Redirect answer to the response the redirect makes: its
 * Content-Type (the static module sets none then) and those headers, in the upstream's order.
 * `fields`: name, lower-case name, value.
 */
export function carryAccelHeaders(r: RequestState, fields: Iterable<readonly [string, string, string]>): void {
  let type: string | undefined;
  const list: [string, string][] = [];
  for (const [k, l, v] of fields) {
    if (!CARRIED.has(l)) continue;
    if (l === 'content-type') type ??= v;
    else list.push([k, v]);
  }
  if (type !== undefined || list.length > 0) r.accelCarried = { ...(type !== undefined ? { type } : {}), list };
}

export function accelRedirect(r: RequestState, target: string): ContentOutcome {
  if (target.startsWith('@')) return { kind: 'named', name: target };
  if (r.method !== 'HEAD') r.method = 'GET';
  const q = target.indexOf('?');
  let uri = q < 0 ? target : target.slice(0, q);
  try {
    uri = decodeURIComponent(uri);
  } catch { /* kept as sent */ }
  if (!uri.startsWith('/') || /(^|\/)\.\.?(\/|$)/.test(uri)) return { kind: 'status', status: 404 };
  return { kind: 'redirect-internal', uri, args: q < 0 ? '' : target.slice(q + 1) };
}

const bodies = new WeakMap<IncomingMessage, Promise<RequestBody>>();

/**
 * The request body an upstream handler passes on, read once per request as nginx reads it (in
 * memory, else a temporary file that goes with the request): an internal redirect to another
 * upstream location (X-Accel-Redirect, error_page) sends it again.
 */
export function upstreamRequestBody(req: IncomingMessage, res: ServerResponse, r: RequestState, log: { errorLog?: (entry: ErrorLogEntry) => void }): Promise<RequestBody> {
  let b = bodies.get(req);
  if (!b) {
    const cl = req.headers['content-length'];
    b = readRequestBody(req, r.conf.clientBody, cl === undefined ? undefined : Number(cl), r.conf.clientMaxBodySize, (level, message) => logError(r, log, level, message));
    b.then((body) => {
      // $content_length of a chunked body, once read (ngx_http_variable_content_length); an
      // HTTP/2 request without DATA has none.
      if (body.length > 0 || req.headers['transfer-encoding'] !== undefined) r.ctx.requestBodyLength = body.length;
      if (body instanceof SpooledBody) {
        r.ctx.requestBodyFile = body.path;
        // HTTP/2's compatibility response has no `closed`; its stream does.
        if (res.closed || (res as unknown as { stream?: { closed?: boolean } }).stream?.closed) body.release();
        else res.once('close', () => body.release());
      } else r.ctx.requestBody = body;
    }, () => {});
    bodies.set(req, b);
  }
  return b;
}

/** A failed try, with the level nginx logs it at when not `error`. */
export type FailedTry = { kind: 'failed'; failure: Failure & { level?: ErrorLogEntry['level'] } };

/** What a try needs of its run. */
interface TryRun {
  r: RequestState;
  res: ServerResponse;
  tries: Tries;
  log: { errorLog?: (entry: ErrorLogEntry) => void };
  upstream(peer: Peer): string;
  onAttempt(outcome: ContentOutcome | FailedTry): void;
}

/**
 * One try on one peer over a socket of its own (the CGI modules, memcached): its timer (connect,
 * then read timeout), and how it ends: once, with its $upstream_* entries completed.
 */
export abstract class PeerTry<R extends TryRun> {
  protected readonly started = Date.now();
  protected socket: Socket | undefined;
  protected settled = false;
  /** The response head went to the client: a failure now cuts the client's connection. */
  protected headSent = false;
  /** The socket came from the keepalive cache (an error on it earns one more try). */
  protected cached = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(protected readonly run: R, protected readonly peer: Peer) {}

  protected elapsed(): string {
    return this.run.tries.used ? msec(Date.now() - this.started) : '';
  }

  protected arm(ms: number, fire: () => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(fire, ms);
  }

  protected disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A failure: before the head, the run tries the next peer or answers; after it, the client's connection is cut. */
  protected fail(f: FailedTry['failure']): void {
    if (this.settled) return;
    this.disarm();
    this.socket?.destroy();
    if (this.headSent) {
      logError(this.run.r, this.run.log, 'error', f.message, this.run.upstream(this.peer));
      this.run.res.destroy();
      this.settle({ kind: 'done' });
      return;
    }
    this.settle({ kind: 'failed', failure: this.cached ? { ...f, cached: true } : f });
  }

  /** Called once as the try ends (listeners to drop). */
  protected onSettle(): void {}

  protected settle(outcome: ContentOutcome | FailedTry): void {
    if (this.settled) return;
    this.settled = true;
    this.disarm();
    this.onSettle();
    const tries = this.run.tries;
    // A status is pushed when the head is read; a try that ended before has its failure's.
    if (tries.status.length < tries.addr.length) tries.status.push(outcome.kind === 'failed' ? String(outcome.failure.upstreamStatus ?? outcome.failure.status) : '');
    tries.time.push(this.elapsed());
    if (tries.header.length < tries.time.length) tries.header.push('-');
    if (tries.connect.length < tries.time.length) tries.connect.push('-');
    this.run.onAttempt(outcome);
  }
}
