// Upstream groups as the workers use them: peers resolved from upstream{} blocks (or made
// implicitly from a proxy_pass host:port), their balancing state, and one set of connections per
// peer (our own LeanConns, undici Clients where those do not serve). Everything is keyed by the
// RoutingState, so a reload starts with fresh state.
import { lookup } from 'node:dns/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { finished, type Readable } from 'node:stream';
import { Client } from 'undici';
import type { RoutingState, UpstreamGroup, UpstreamServer } from '../config/state.ts';
import { makePeer, makePeerList, roundRobinSelector, type Peer, type PeerList, type Selector } from './upstream-peers.ts';
import { chashSelector, hashSelector, ipHashSelector, leastConnSelector, randomSelector } from './upstream-balance.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';
import type { ProxyTarget } from './proxy-uri.ts';
import { openTls, tlsConnector, upstreamTlsKey, type UpstreamTls } from './upstream-tls.ts';
import { owned, READ_BUFFER, readIntoShared } from '../server/read-buffer.ts';

/** The pool a peer's last request used, and what it was made for. */
interface LastPool { scheme: string; connectTimeoutMs: number; tlsKey: string; pool: PeerConns }

export interface GroupRuntime {
  /** The upstream{} name, or `host:port` for an implicit group ($upstream_addr on "no live upstreams"). */
  name: string;
  peers: PeerList;
  method: UpstreamGroup['method'];
  /** Cached idle connections (upstream `keepalive N`); 0 means a new connection per request. */
  keepalive: number;
  /** The group's keepalive cache in this worker: `keepalive N` idle connections over all its peers. */
  cache: KeepaliveCache;
  keepaliveTimeoutMs: number;
  keepaliveRequests: number;
  pools: Map<string, PeerConns>;
  /** The pool each peer used last, with what it was made for: most requests find theirs here. */
  lastPool: Map<Peer, LastPool>;
}

/**
 * An upstream connection's proxy_read_timeout (and, idle, its keepalive_timeout). The timeout is a
 * deadline moved on every read, watched by one timer per connection that is set again only when it
 * would fire late: no timer is made, refreshed or cleared per request.
 */
/** A list of idle connections the keepalive cache can take its oldest from. */
export interface IdleStack {
  /** The admission stamp of its connection idle longest (Infinity when it holds none). */
  oldestStamp(): number;
  /** Closes that connection and takes it out. */
  evictOldest(): void;
}

/**
 * ngx_http_upstream_keepalive's cache of one upstream block in one worker: at most `keepalive N`
 * idle connections over all the block's peers. A connection freed into a full cache takes the
 * place of the one idle longest, which is closed: the cache keeps the freshest connections, the
 * least likely to meet an upstream's own idle timeout.
 */
export class KeepaliveCache {
  idle = 0;
  private seq = 0;
  private readonly stacks = new Set<IdleStack>();

  constructor(readonly max: number) {}

  add(stack: IdleStack): void {
    this.stacks.add(stack);
  }

  /** Room for one more idle connection (the oldest closed if needed); returns its stamp. */
  admit(): number {
    if (this.idle >= this.max) {
      let oldest: IdleStack | undefined;
      let at = Infinity;
      for (const st of this.stacks) {
        const t = st.oldestStamp();
        if (t < at) {
          at = t;
          oldest = st;
        }
      }
      oldest?.evictOldest();
    }
    this.idle++;
    return ++this.seq;
  }
}

/**
 * One peer's idle connections of a module with its own sockets (FastCGI, gRPC sessions) in the
 * group's keepalive cache: oldest first, the newest reused first; `close` closes an evicted one.
 */
export class PeerIdle<E extends { stamp: number }> implements IdleStack {
  readonly list: E[] = [];

  constructor(readonly cache: KeepaliveCache, private readonly close: (e: E) => void) {
    cache.add(this);
  }

  /** Into the cache (the oldest of the group's idle connections may leave it for this one). */
  push(e: E): void {
    e.stamp = this.cache.admit();
    this.list.push(e);
  }

  /** The newest, out of the cache. */
  pop(): E | undefined {
    const e = this.list.pop();
    if (e !== undefined) this.cache.idle--;
    return e;
  }

  /** Out of the cache: it closed or failed while idle. */
  remove(e: E): void {
    const i = this.list.indexOf(e);
    if (i < 0) return;
    this.list.splice(i, 1);
    this.cache.idle--;
  }

  /** Closes them all (the handler's state is gone). */
  clear(): void {
    this.cache.idle -= this.list.length;
    for (const e of this.list.splice(0)) this.close(e);
  }

  oldestStamp(): number {
    return this.list[0]?.stamp ?? Infinity;
  }

  evictOldest(): void {
    const e = this.list.shift();
    if (e === undefined) return;
    this.cache.idle--;
    this.close(e);
  }
}

/**
 * Idle connections of the modules that hold one plain socket per request (FastCGI, uwsgi and SCGI
 * under *_keep_conn, memcached), per peer, in the group's keepalive cache, as
 * ngx_http_upstream_keepalive keeps them: closed after keepalive_timeout idle, or by the peer, and
 * not kept once they carried keepalive_requests requests.
 */
export class IdleSockets {
  private readonly byPeer = new Map<Peer, PeerIdle<IdleSocket>>();
  /** Requests each connection carried so far. */
  private readonly served = new WeakMap<Socket, number>();

  take(peer: Peer): Socket | undefined {
    const idle = this.byPeer.get(peer);
    let e: IdleSocket | undefined;
    while (idle && (e = idle.pop()) !== undefined) {
      const s = e.s;
      if (!s.destroyed) {
        for (const event of ['close', 'error', 'data', 'timeout']) s.removeAllListeners(event);
        s.setTimeout(0);
        return s;
      }
    }
    return undefined;
  }

  /** `s` finished a request and can carry another: kept, or closed when it has carried its share. */
  put(peer: Peer, group: GroupRuntime, s: Socket): void {
    const served = (this.served.get(s) ?? 0) + 1;
    if (served >= group.keepaliveRequests) {
      s.destroy();
      return;
    }
    this.served.set(s, served);
    let idle = this.byPeer.get(peer);
    if (!idle) this.byPeer.set(peer, (idle = new PeerIdle<IdleSocket>(group.cache, (e) => e.s.destroy())));
    for (const event of ['close', 'error', 'data', 'end', 'timeout']) s.removeAllListeners(event);
    const e: IdleSocket = { s, stamp: 0 };
    const list = idle;
    const drop = (): void => {
      s.destroy();
      list.remove(e);
    };
    // The peer may close an idle connection; keepalive_timeout closes it on our side.
    s.once('close', drop);
    s.once('error', drop);
    s.once('data', drop);
    s.setTimeout(group.keepaliveTimeoutMs, drop);
    s.resume(); // it may have been paused by a slow client or limit_rate
    idle.push(e);
  }

  closeAll(): void {
    for (const idle of this.byPeer.values()) idle.clear();
    this.byPeer.clear();
  }
}

interface IdleSocket { s: Socket; stamp: number }

export class TimedConn {
  /** Taken from the keepalive cache for the request it carries (nginx's peer.cached). */
  reused = false;
  /** Its KeepaliveCache stamp while idle. */
  idleStamp = 0;
  private deadline = 0;
  private fireAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private onTimeout: (() => void) | undefined;

  /** Calls `onTimeout` unless arm() or disarm() is called again within `ms`. */
  arm(ms: number, onTimeout: () => void): void {
    const now = Date.now();
    this.deadline = now + ms;
    this.onTimeout = onTimeout;
    if (this.timer === undefined || this.deadline < this.fireAt) this.schedule(ms, now);
  }

  /** No deadline: the timer, if set, lapses without effect. */
  disarm(): void {
    this.onTimeout = undefined;
  }

  dispose(): void {
    this.onTimeout = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number, now: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.fireAt = now + ms;
    // Unreferenced: a request under way keeps its sockets (and so the process) alive.
    this.timer = setTimeout(this.fire, ms).unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const cb = this.onTimeout;
    if (cb === undefined) return;
    const now = Date.now();
    if (now >= this.deadline) {
      this.onTimeout = undefined;
      cb();
    } else this.schedule(this.deadline - now, now);
  };
}

/** One upstream connection through undici (TLS, upgrades, streamed request bodies). */
export class UpstreamConn extends TimedConn {
  constructor(readonly client: Client) {
    super();
  }
}

/** What a LeanConn reports to the request it carries (the proxy's attempt handler). */
export interface LeanSink {
  /** The request is about to be written on a connected socket; `abort` ends it with onError. */
  onConnect(abort: (err?: Error) => void): void;
  /** The whole request is in the kernel's hands (from here nginx waits with proxy_read_timeout). */
  onSent(): void;
  /** The response head (1xx skipped); `fields` holds name, name in lower case, value for each header. */
  onHead(status: number, fields: string[], resume: () => void, reason: string): void;
  /** A piece of the body (chunked framing removed); false asks for a pause until resume(). */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

const S_IDLE = 0;
const S_HEAD = 1;
const S_LENGTH = 2;
const S_EOF = 3;
const S_CHUNK_SIZE = 4;
const S_CHUNK_DATA = 5;
const S_CHUNK_END = 6;
const S_TRAILER = 7;

/** undici's (llhttp's) limit on a response head; beyond it the upstream "sent invalid header". */
const HEAD_MAX = 16 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_HEAD = /[^\t\r\n\x20-\x7e\x80-\xff]|\r(?!\n)/;
/** Response header names seen, to their lower case (valid tokens only). */
const headerNames = new Map<string, string>();

const EMPTY = Buffer.alloc(0);

/**
 * Calls `done` once everything written to `socket` so far is in the kernel's buffer: at once in the
 * usual case, else after the queued writes (an empty write's callback comes after those before it).
 */
export function afterFlush(socket: Socket, done: () => void): void {
  if (socket.writableLength === 0) done();
  else socket.write(EMPTY, (err) => err || done());
}

/**
 * A number that grows whenever the upstream has taken request bytes: libuv's write queue shrank
 * or another of `chunks` (pieces of a streamed body) was written. nginx's *_send_timeout runs
 * between two such steps, not over the whole request.
 */
export function sendProgress(socket: Socket, chunks: number): number {
  const queued = (socket as Socket & { _handle?: { writeQueueSize?: number } | null })._handle?.writeQueueSize ?? 0;
  return chunks * 2 ** 32 - queued;
}

/**
 * nginx's write timer for *_send_timeout: it runs while the upstream holds the request back and
 * starts again whenever the upstream takes more. Libuv tells nothing while it writes a queued
 * request bit by bit, so the progress (sendProgress) is looked at every tenth of the timeout: the
 * timeout is declared 1 to 1.1 timeouts after the last write went through.
 */
export class SendClock {
  private mark = 0;
  private movedAt = 0;

  constructor(private readonly progress: () => number) {}

  /** Counts from now; the ms until the first look. */
  start(timeoutMs: number): number {
    this.mark = this.progress();
    this.movedAt = Date.now();
    return lookEvery(timeoutMs);
  }

  /**
   * At a look: the ms until the next one, or 0 once the timeout has passed with no progress.
   * `notHeld`: the send is not the upstream's to hold back now (it waits for the client's body).
   */
  look(timeoutMs: number, notHeld = false): number {
    const now = Date.now();
    const progress = this.progress();
    if (progress > this.mark || notHeld) {
      this.mark = progress;
      this.movedAt = now;
    }
    const left = this.movedAt + timeoutMs - now;
    return left <= 0 ? 0 : Math.min(left, lookEvery(timeoutMs));
  }
}

const lookEvery = (timeoutMs: number): number => Math.max(1, Math.ceil(timeoutMs / 10));

/** Errors named as undici's, so proxy-errors.ts classifies both alike. */
function codeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Optional whitespace (SP, HTAB) off both ends, as HTTP strips it around a header value. */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * A plain HTTP/1 upstream connection on a net.Socket, one request at a time: the proxy's common
 * path (http, body buffered or none, no upgrade) without undici's per-request Request object,
 * header validation passes, wasm parser callbacks and setImmediate hops. It writes the request
 * undici would write (HTTP/1.0 under proxy_http_version 1.0, which undici cannot) and parses the
 * response with llhttp's strictness where the tests look (status line, header tokens,
 * Content-Length / chunked framing), failing with undici's error codes.
 */
export class LeanConn extends TimedConn {
  readonly socket: Socket;
  private sink: LeanSink | undefined;
  private connected = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private pendingHead = '';
  private pendingBody: Buffer | Readable | null = null;
  /** A body of known length still being streamed in (from the client or a temporary file). */
  private bodyStream: Readable | undefined;
  private state: number = S_IDLE;
  /** Head bytes so far (S_HEAD), or a chunk-size / trailer line in progress. */
  private partial: Buffer | undefined;
  private line = '';
  private remaining = 0;
  /** The response lets the connection carry another request. */
  private keep = false;
  private noBody = false;
  /** Requests written on this connection (keepalive_requests). */
  requests = 0;
  /** Chunks of a streamed body written so far (sendProgress). */
  private bodyChunks = 0;
  /** Not to be reused: closed, failed, or its last response said so. */
  dead = false;
  /** Sitting in its pool's idle list. */
  idle = false;
  /** Reads arrive in READ_BUFFER: nothing of it may be kept beyond onBytes without a copy. */
  private shared = false;

  constructor(t: LeanTarget, private readonly onClose: (c: LeanConn) => void) {
    super();
    const { host, port, socketPath, connectTimeoutMs } = t;
    let s: Socket;
    if (t.tls) {
      // https: the request goes out once the handshake and nginx's checks are done (upstream-tls.ts).
      s = openTls(t.tls, host, port, (err) => (err ? this.fail(err) : this.onConnected()));
      s.setKeepAlive(true, 60_000);
    } else {
      // As undici connects: no Nagle delay, TCP keep-alive probes after a minute. Reads land in
      // the worker's one read buffer (server/read-buffer.ts), not in a new Buffer per read.
      const onread = { buffer: READ_BUFFER, callback: this.onRead };
      s = socketPath
        ? netConnect({ path: socketPath, onread })
        : netConnect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000, onread });
      s.on('connect', this.onConnected);
      this.shared = true;
    }
    this.socket = s;
    if (connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => {
        this.connectTimer = undefined;
        this.fail(codeError('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error'));
      }, connectTimeoutMs).unref();
    }
    // A TLS socket's reads are hooked once its handshake is done (onConnected).
    s.on('end', this.onEnd);
    s.on('error', this.onSocketError);
    s.on('close', this.onSocketClose);
  }

  /**
   * Writes a request (head as built by the proxy, body already counted in it) for `sink`. A stream
   * body is piped after the head; its length is in the head (Content-Length).
   */
  send(head: string, body: Buffer | Readable | null, noBody: boolean, sink: LeanSink): void {
    this.sink = sink;
    this.state = S_HEAD;
    this.noBody = noBody;
    this.requests++;
    if (!this.connected) {
      this.pendingHead = head;
      this.pendingBody = body;
      return;
    }
    sink.onConnect(this.abort);
    if (this.sink === sink) this.write(head, body);
  }

  private write(head: string, body: Buffer | Readable | null): void {
    const s = this.socket;
    if (body !== null && !Buffer.isBuffer(body)) {
      s.write(head, 'latin1');
      this.pipeBody(body);
      return;
    }
    if (body !== null && body.length > 0) {
      s.cork();
      s.write(head, 'latin1');
      s.write(body);
      s.uncork();
    } else s.write(head, 'latin1');
    this.whenSent();
  }

  /**
   * Tells the sink once the request is all in the kernel's buffer: at once in the usual case, else
   * when what is queued has been written (an empty write's callback comes after the writes before it).
   */
  private whenSent(): void {
    const sink = this.sink;
    if (sink !== undefined) afterFlush(this.socket, () => this.sink === sink && sink.onSent());
  }

  /** Grows whenever the upstream has taken more of the request (sendProgress). */
  sendProgress(): number {
    return sendProgress(this.socket, this.bodyChunks);
  }

  /** Request bytes wait for the upstream to take them (else any wait is for the client's body). */
  sendBlocked(): boolean {
    return this.socket.writableLength > 0;
  }

  private pipeBody(body: Readable): void {
    this.bodyStream = body;
    // A client gone mid-body (or a file read failing) ends the request under way.
    finished(body, { writable: false }, (err) => {
      if (this.bodyStream !== body) return;
      this.bodyStream = undefined;
      if (err) this.fail(err);
      else this.whenSent();
    });
    body.on('data', () => this.bodyChunks++);
    body.pipe(this.socket, { end: false });
  }

  /** Stops streaming a body the upstream no longer reads (it answered, or the connection failed). */
  private stopBody(): void {
    const body = this.bodyStream;
    if (body === undefined) return;
    this.bodyStream = undefined;
    body.unpipe(this.socket);
    // The connection is mid-request: it cannot carry another one.
    this.dead = true;
  }

  readonly abort = (err?: Error): void => {
    this.fail(err ?? new Error('aborted'));
  };

  /** Closes the connection (its keepalive_timeout passed while idle). */
  readonly close = (): void => {
    this.dead = true;
    this.socket.destroy();
  };

  /** Ends the request under way with `err` (once) and closes the connection. */
  private fail(err: Error): void {
    this.dead = true;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const sink = this.sink;
    this.sink = undefined;
    this.state = S_IDLE;
    this.stopBody();
    this.socket.destroy();
    sink?.onError(err);
  }

  private complete(): void {
    const sink = this.sink!;
    this.sink = undefined;
    this.state = S_IDLE;
    this.partial = undefined;
    // An answer before the whole body was sent (an early 413, say): the rest is not sent.
    this.stopBody();
    if (!this.keep) this.dead = true;
    // A paused body leaves the socket paused: idle, it must see the upstream's close.
    if (this.socket.isPaused()) this.socket.resume();
    sink.onComplete();
  }

  private readonly resume = (): void => {
    if (this.sink !== undefined) this.socket.resume();
  };

  private readonly onConnected = (): void => {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.connected = true;
    // TLS: the decrypted bytes go to the worker's read buffer too when the socket allows it.
    if (!this.shared) {
      this.shared = readIntoShared(this.socket, this.onRead);
      if (!this.shared) this.socket.on('data', this.onBytes);
    }
    const sink = this.sink;
    if (sink === undefined) return;
    const head = this.pendingHead;
    const body = this.pendingBody;
    this.pendingHead = '';
    this.pendingBody = null;
    sink.onConnect(this.abort);
    if (this.sink === sink) this.write(head, body);
  };

  private readonly onEnd = (): void => {
    this.dead = true;
    if (this.sink === undefined) {
      this.socket.destroy();
      return;
    }
    if (this.state === S_EOF) this.complete();
    else this.fail(codeError('UND_ERR_SOCKET', 'other side closed'));
    this.socket.destroy();
  };

  private readonly onSocketError = (err: Error): void => {
    this.dead = true;
    if (this.sink !== undefined) this.fail(err);
  };

  private readonly onSocketClose = (): void => {
    this.dead = true;
    if (this.sink !== undefined) this.fail(codeError('UND_ERR_SOCKET', 'other side closed'));
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.dispose();
    this.onClose(this);
  };

  /** net's onread callback; onBytes pauses the socket itself when the client is slow. */
  private readonly onRead = (n: number, buf: Uint8Array): boolean => {
    this.onBytes((buf as Buffer).subarray(0, n));
    return true;
  };

  /** `chunk` itself when it is the connection's own, else a copy of it (see `shared`). */
  private own(chunk: Buffer): Buffer {
    return this.shared ? owned(chunk) : chunk;
  }

  private readonly onBytes = (chunk: Buffer): void => {
    const sink = this.sink;
    if (sink === undefined) {
      // Bytes nobody asked for: the connection cannot be trusted with another request.
      this.dead = true;
      this.socket.destroy();
      return;
    }
    let buf = chunk;
    let pos = 0;
    while (this.state === S_HEAD) {
      if (this.partial !== undefined) {
        buf = Buffer.concat([this.partial, buf.subarray(pos)]);
        pos = 0;
        this.partial = undefined;
      }
      const crlf = buf.indexOf('\r\n\r\n', pos, 'latin1');
      const lf = buf.indexOf('\n\n', pos, 'latin1');
      const end = crlf < 0 ? lf : lf < 0 || crlf < lf ? crlf : lf;
      if (end < 0) {
        if (buf.length - pos > HEAD_MAX) return this.fail(codeError('HPE_HEADER_OVERFLOW', 'Header overflow'));
        this.partial = this.own(pos === 0 ? buf : buf.subarray(pos));
        return;
      }
      const next = end + (end === crlf ? 4 : 2);
      if (end - pos > HEAD_MAX) return this.fail(codeError('HPE_HEADER_OVERFLOW', 'Header overflow'));
      // A head ended by CR LF LF leaves its last CR behind.
      const head = buf.toString('latin1', pos, end > pos && buf[end - 1] === 13 ? end - 1 : end);
      pos = next;
      if (!this.parseHead(head, sink)) return;
      if (this.sink !== sink) return; // the sink ended the request (retry, intercept, X-Accel-Redirect)
      if ((this.state as number) === S_IDLE) {
        // No body: complete now. Bytes beyond the response are not trusted on a kept connection.
        if (pos < buf.length) this.keep = false;
        this.complete();
        return;
      }
    }
    if (pos < buf.length) this.body(buf, pos, sink);
  };

  /** Parses one response head; false when it failed the request. Sets the body state. */
  private parseHead(head: string, sink: LeanSink): boolean {
    let eol = head.indexOf('\n');
    if (eol < 0) eol = head.length;
    const statusLine = head.charCodeAt(eol - 1) === 13 ? head.slice(0, eol - 1) : head.slice(0, eol);
    if (!statusLine.startsWith('HTTP/')) return this.bad('HPE_INVALID_CONSTANT', 'Expected HTTP/');
    const major = statusLine.charCodeAt(5) - 48;
    const minor = statusLine.charCodeAt(7) - 48;
    if (major !== 1 || statusLine.charCodeAt(6) !== 46 || minor < 0 || minor > 9 || statusLine.charCodeAt(8) !== 32) {
      return this.bad('HPE_INVALID_VERSION', 'Invalid HTTP version');
    }
    const d0 = statusLine.charCodeAt(9) - 48;
    const d1 = statusLine.charCodeAt(10) - 48;
    const d2 = statusLine.charCodeAt(11) - 48;
    if (!(d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || (statusLine.length > 12 && statusLine.charCodeAt(12) !== 32)) {
      return this.bad('HPE_INVALID_STATUS', 'Invalid status code');
    }
    const status = d0 * 100 + d1 * 10 + d2;
    const reason = statusLine.length > 13 ? statusLine.slice(13) : '';
    const fields: string[] = [];
    let length = -1;
    let chunked = false;
    let te = false;
    let close = false;
    let keepAlive = false;
    // One pass for the characters no header may hold (CTLs but HTAB, a CR not ending a line).
    if (BAD_HEAD.test(head)) return this.bad('HPE_INVALID_HEADER_TOKEN', 'Invalid header value char');
    let start = eol + 1;
    while (start < head.length) {
      let e = head.indexOf('\n', start);
      if (e < 0) e = head.length;
      const le = head.charCodeAt(e - 1) === 13 ? e - 1 : e;
      const colon = head.indexOf(':', start);
      if (colon <= start || colon >= le) return this.bad('HPE_INVALID_HEADER_TOKEN', 'Invalid header token');
      const name = head.slice(start, colon);
      start = e + 1;
      // Names recur from response to response: each is checked and lower-cased once.
      let lower = headerNames.get(name);
      if (lower === undefined) {
        if (!TOKEN.test(name)) return this.bad('HPE_INVALID_HEADER_TOKEN', 'Invalid header token');
        lower = name.toLowerCase();
        if (headerNames.size >= 1000) headerNames.clear();
        headerNames.set(name, lower);
      }
      let a = colon + 1;
      let b = le;
      while (a < b && (head.charCodeAt(a) === 32 || head.charCodeAt(a) === 9)) a++;
      while (b > a && (head.charCodeAt(b - 1) === 32 || head.charCodeAt(b - 1) === 9)) b--;
      const value = head.slice(a, b);
      fields.push(name, lower, value);
      switch (lower) {
        case 'content-length':
          if (length >= 0) return this.bad('HPE_UNEXPECTED_CONTENT_LENGTH', 'Duplicate Content-Length');
          if (!/^\d{1,15}$/.test(value)) return this.bad('HPE_INVALID_CONTENT_LENGTH', 'Invalid character in Content-Length');
          length = Number(value);
          break;
        case 'transfer-encoding': {
          te = true;
          const c = value.lastIndexOf(',');
          chunked = trimOws(c < 0 ? value : value.slice(c + 1)).toLowerCase() === 'chunked';
          break;
        }
        case 'connection': {
          const v = value.toLowerCase();
          if (v.includes('close')) close = true;
          if (v.includes('keep-alive')) keepAlive = true;
          break;
        }
      }
    }
    if (status < 200) {
      this.state = S_HEAD; // informational: the real head follows
      return true;
    }
    if (te && length >= 0) return this.bad('HPE_UNEXPECTED_CONTENT_LENGTH', 'Content-Length can\'t be present with Transfer-Encoding');
    this.keep = !close && (minor >= 1 || keepAlive);
    if (this.noBody || status === 204 || status === 304 || (length === 0 && !chunked)) this.state = S_IDLE;
    else if (chunked) {
      this.state = S_CHUNK_SIZE;
      this.line = '';
    } else if (length > 0) {
      this.state = S_LENGTH;
      this.remaining = length;
    } else {
      // Neither length nor chunked: the body ends with the connection.
      this.state = S_EOF;
      this.keep = false;
    }
    sink.onHead(status, fields, this.resume, reason);
    return true;
  }

  private bad(code: string, message: string): false {
    this.fail(codeError(code, message));
    return false;
  }

  /** Body bytes from `pos` on, per the framing the head announced. */
  private body(buf: Buffer, pos: number, sink: LeanSink): void {
    while (pos < buf.length && this.sink === sink) {
      switch (this.state) {
        case S_LENGTH: case S_CHUNK_DATA: {
          const n = Math.min(this.remaining, buf.length - pos);
          const piece = pos === 0 && n === buf.length ? buf : buf.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = this.state === S_LENGTH ? S_IDLE : S_CHUNK_END;
          if (!sink.onData(this.own(piece))) this.socket.pause();
          if (this.sink !== sink) return;
          if (this.state === S_IDLE) {
            if (pos < buf.length) this.keep = false;
            this.complete();
            return;
          }
          break;
        }
        case S_EOF: {
          const piece = pos === 0 ? buf : buf.subarray(pos);
          pos = buf.length;
          if (!sink.onData(this.own(piece))) this.socket.pause();
          break;
        }
        default: {
          // Chunk-size line, the CRLF after a chunk's data, or trailer lines.
          const nl = buf.indexOf(10, pos);
          if (nl < 0) {
            this.line += buf.toString('latin1', pos, buf.length);
            if (this.line.length > 4096) return void this.fail(codeError('HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size'));
            return;
          }
          let line = this.line + buf.toString('latin1', pos, nl);
          this.line = '';
          pos = nl + 1;
          if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
          if (this.state === S_CHUNK_END) {
            if (line !== '') return void this.fail(codeError('HPE_STRICT', 'Expected LF after chunk data'));
            this.state = S_CHUNK_SIZE;
          } else if (this.state === S_TRAILER) {
            if (line === '') {
              if (pos < buf.length) this.keep = false;
              this.complete();
              return;
            }
          } else {
            const m = /^([0-9a-fA-F]{1,15})[\t ]*(;.*)?$/.exec(line);
            if (!m) return void this.fail(codeError('HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size'));
            const size = parseInt(m[1]!, 16);
            if (size === 0) this.state = S_TRAILER;
            else {
              this.state = S_CHUNK_DATA;
              this.remaining = size;
            }
          }
        }
      }
    }
  }
}

/** Where and how a peer's lean connections connect, and how long they are kept. */
export interface LeanTarget {
  host: string;
  port: number;
  socketPath?: string;
  connectTimeoutMs: number;
  /** undici's Host line when the request has none: the origin's host[:port]. */
  hostHeader: string;
  /** upstream keepalive_timeout / keepalive_requests. */
  keepaliveTimeoutMs: number;
  keepaliveRequests: number;
  /** https: how the connection is made and checked. */
  tls?: UpstreamTls;
}

/**
 * One peer's upstream connections, the idle ones reused last in, first out (nginx's keepalive
 * cache). A Pool would do the same with a search of its clients and 'drain' events on every
 * request; here the proxy hands a connection back itself when its response is complete.
 * Lean connections (plain HTTP/1, see LeanConn) and undici Clients are cached side by side,
 * `keepalive N` counting both.
 */
export class PeerConns implements IdleStack {
  private readonly idle: UpstreamConn[] = [];
  private readonly leanIdle: LeanConn[] = [];
  private readonly all = new Set<UpstreamConn>();
  private readonly leanAll = new Set<LeanConn>();
  private leanWaiters: (() => void)[] = [];
  closed = false;

  /** `cache`: the upstream block's keepalive cache, shared by the pools of all its peers. */
  constructor(
    private readonly origin: string, private readonly options: Client.Options, private readonly cache: KeepaliveCache,
    readonly lean?: LeanTarget,
  ) {
    cache.add(this);
  }

  /** An idle connection (its socket may have closed meanwhile: undici connects again), or a new one. */
  acquire(): UpstreamConn {
    let c: UpstreamConn | undefined;
    while ((c = this.idle.pop()) !== undefined) {
      this.cache.idle--;
      if (!c.client.closed && !c.client.destroyed) {
        c.reused = true;
        return c;
      }
      this.drop(c);
    }
    c = new UpstreamConn(new Client(this.origin, this.options));
    this.all.add(c);
    return c;
  }

  /** The newest idle lean connection still open (a closed one has seen its FIN by now), or a new one. */
  acquireLean(): LeanConn {
    const t = this.lean!;
    let c: LeanConn | undefined;
    while ((c = this.leanIdle.pop()) !== undefined) {
      this.cache.idle--;
      c.idle = false;
      c.disarm();
      if (!c.dead && !c.socket.destroyed && c.socket.readyState === 'open') {
        c.reused = true;
        return c;
      }
      c.socket.destroy();
    }
    c = new LeanConn(t, this.onLeanClose);
    this.leanAll.add(c);
    return c;
  }

  oldestStamp(): number {
    return Math.min(this.idle[0]?.idleStamp ?? Infinity, this.leanIdle[0]?.idleStamp ?? Infinity);
  }

  evictOldest(): void {
    const u = this.idle[0];
    const l = this.leanIdle[0];
    if (l !== undefined && (u === undefined || l.idleStamp < u.idleStamp)) {
      // Its close event takes it out of leanIdle (onLeanClose): out now, so it is not counted twice.
      this.leanIdle.shift();
      this.cache.idle--;
      l.idle = false;
      l.close();
    } else if (u !== undefined) {
      this.idle.shift();
      this.cache.idle--;
      this.drop(u);
      if (!u.client.closed && !u.client.destroyed) u.client.close().catch(() => {});
    }
  }

  private readonly onLeanClose = (c: LeanConn): void => {
    this.leanAll.delete(c);
    if (c.idle) {
      c.idle = false;
      const i = this.leanIdle.indexOf(c);
      if (i >= 0) {
        this.leanIdle.splice(i, 1);
        this.cache.idle--;
      }
    }
    if (this.leanAll.size === 0 && this.leanWaiters.length) {
      const w = this.leanWaiters;
      this.leanWaiters = [];
      for (const f of w) f();
    }
  };

  /** A connection whose response is complete: for the next request. */
  release(c: UpstreamConn | LeanConn): void {
    c.disarm();
    if (c instanceof LeanConn) {
      const t = this.lean!;
      if (!this.closed && !c.dead && c.requests < t.keepaliveRequests && this.cache.max > 0) {
        c.idleStamp = this.cache.admit();
        c.idle = true;
        this.leanIdle.push(c);
        // keepalive_timeout: the idle connection is closed when it passes.
        c.arm(t.keepaliveTimeoutMs, c.close);
        return;
      }
      c.dead = true;
      c.socket.destroy();
      return;
    }
    if (!this.closed && !c.client.closed && !c.client.destroyed && this.cache.max > 0) {
      c.idleStamp = this.cache.admit();
      this.idle.push(c);
      return;
    }
    this.drop(c);
    // Beyond the cache's size the connection is closed, as nginx closes it.
    if (!c.client.closed && !c.client.destroyed) c.client.close().catch(() => {});
  }

  /** A connection whose request failed: not reused (its socket is gone or going). */
  discard(c: UpstreamConn | LeanConn): void {
    if (c instanceof LeanConn) {
      c.dead = true;
      c.socket.destroy();
      return;
    }
    this.drop(c);
    if (!c.client.destroyed) c.client.destroy().catch(() => {});
  }

  private drop(c: UpstreamConn): void {
    c.dispose();
    this.all.delete(c);
  }

  /** Closes every connection once its request is over (graceful). */
  async close(): Promise<void> {
    this.closed = true;
    this.cache.idle -= this.idle.length + this.leanIdle.length;
    this.idle.length = 0;
    for (const c of this.leanIdle.splice(0)) {
      c.idle = false;
      c.socket.destroy();
    }
    // A busy lean connection is closed by release() when its response is complete.
    const leanDone = this.leanAll.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.leanWaiters.push(resolve));
    const all = [...this.all];
    this.all.clear();
    await Promise.allSettled([leanDone, ...all.map(async (c) => {
      await c.client.close();
      c.dispose();
    })]);
  }
}

export class GroupError extends Error {}

/** `host[:port]`, `[v6]:port` or `unix:/path` → where to connect (hosts resolved, all addresses). */
async function resolveAddress(address: string, defaultPort: number): Promise<{ host: string; port: number; socketPath?: string }[]> {
  if (address.toLowerCase().startsWith('unix:')) return [{ host: 'localhost', port: 0, socketPath: address.slice(5) }];
  let host = address;
  let port = defaultPort;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) {
    host = v6[1]!;
    if (v6[2]) port = Number(v6[2]);
  } else {
    const m = /^(.*):(\d+)$/.exec(address);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
  }
  if (isIP(host)) return [{ host, port }];
  // nginx resolves names once, when it reads the configuration (getaddrinfo, every address).
  const addrs = await lookup(host, { all: true });
  return addrs.map((a) => ({ host: a.address, port }));
}

async function buildPeers(servers: readonly UpstreamServer[]): Promise<PeerList> {
  const primary: Peer[] = [];
  const backup: Peer[] = [];
  for (const s of servers) {
    for (const addr of await resolveAddress(s.address, 80)) (s.backup ? backup : primary).push(makePeer(s, s.address, addr));
  }
  return makePeerList(primary, backup);
}

const IMPLICIT_SERVER = { weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, down: false };

/** Resolves and caches groups per RoutingState. */
export class UpstreamRegistry {
  private readonly byState = new WeakMap<RoutingState, Map<string, Promise<GroupRuntime>>>();
  /** The newest state's groups: when a reload brings another state, the old pools are closed. */
  private current?: { state: RoutingState; groups: Promise<GroupRuntime>[] };

  /** Closes every pool of the current state (graceful: requests under way finish first). */
  async close(): Promise<void> {
    const cur = this.current;
    this.current = undefined;
    if (cur) await closeGroups(cur.groups);
  }

  /** The group a proxy_pass target names; rejects with GroupError when the host cannot be used. */
  group(state: RoutingState, target: ProxyTarget, hasVariables: boolean): Promise<GroupRuntime> {
    let groups = this.byState.get(state);
    if (!groups) {
      groups = new Map();
      this.byState.set(state, groups);
    }
    const explicit = !target.portGiven && !target.unix ? state.upstreams.get(target.host) : undefined;
    const key = explicit ? `upstream ${explicit.name}` : target.unix ? `unix:${target.host}` : `${target.host}:${target.port}`;
    let g = groups.get(key);
    if (!g) {
      g = this.build(target, explicit, hasVariables);
      groups.set(key, g);
      g.catch(() => groups!.delete(key));
      if (this.current?.state !== state) {
        // Old pools close once their requests finish; a reload's in-flight requests keep working.
        if (this.current) void closeGroups(this.current.groups);
        this.current = { state, groups: [] };
      }
      this.current.groups.push(g);
    }
    return g;
  }

  private async build(target: ProxyTarget, explicit: UpstreamGroup | undefined, hasVariables: boolean): Promise<GroupRuntime> {
    const common = { pools: new Map<string, PeerConns>(), lastPool: new Map<Peer, LastPool>() };
    if (explicit) {
      return {
        name: explicit.name, peers: await buildPeers(explicit.servers), method: explicit.method,
        keepalive: explicit.keepalive ?? 0, cache: new KeepaliveCache(explicit.keepalive || Infinity), keepaliveTimeoutMs: explicit.keepaliveTimeoutMs,
        keepaliveRequests: explicit.keepaliveRequests, ...common,
      };
    }
    // Without a resolver nginx cannot look up a name that only appears at run time.
    if (hasVariables && !target.unix && !isIP(target.host) && target.host !== 'localhost') {
      throw new GroupError(`no resolver defined to resolve ${target.host}`);
    }
    const address = target.unix ? `unix:${target.host}` : `${target.host}:${target.port}`;
    const peers = target.unix
      ? [makePeer(IMPLICIT_SERVER, address, { host: 'localhost', port: 0, socketPath: target.host })]
      : (await resolveAddress(`${target.host}:${target.port}`, target.port)).map((a) => makePeer(IMPLICIT_SERVER, address, a));
    return {
      name: target.unix ? address : target.portGiven ? `${target.host}:${target.port}` : target.host,
      peers: makePeerList(peers, []), method: { kind: 'round-robin' }, keepalive: 0, cache: new KeepaliveCache(Infinity),
      keepaliveTimeoutMs: 60_000, keepaliveRequests: 1000, ...common,
    };
  }
}

async function closeGroups(groups: Promise<GroupRuntime>[]): Promise<void> {
  const settled = await Promise.allSettled(groups);
  const pools = settled.flatMap((s) => (s.status === 'fulfilled' ? [...s.value.pools.values()] : []));
  await Promise.allSettled(pools.map((p) => p.close()));
}

/** The peer selector for one request (hash methods evaluate their key per request). */
export function selectorFor(g: GroupRuntime, ctx: VarContext): Selector {
  const m = g.method;
  switch (m.kind) {
    case 'round-robin': return roundRobinSelector;
    case 'least_conn': return leastConnSelector;
    case 'ip_hash': return ipHashSelector(ctx.remoteAddr);
    case 'hash': {
      const key = evaluate(compiled(m.key), ctx);
      return m.consistent ? chashSelector(key) : hashSelector(key);
    }
    case 'random': return randomSelector(m.twoChoices);
  }
}

/** The connections to a peer; without `keepalive` every request closes its connection. */
export function poolFor(g: GroupRuntime, peer: Peer, scheme: 'http' | 'https', connectTimeoutMs: number, upstreamTls?: UpstreamTls): PeerConns {
  const last = g.lastPool.get(peer);
  const tlsKey = upstreamTls ? upstreamTlsKey(upstreamTls) : '';
  if (last && last.scheme === scheme && last.connectTimeoutMs === connectTimeoutMs && last.tlsKey === tlsKey && !last.pool.closed) return last.pool;
  const key = `${scheme}|${peer.name}|${connectTimeoutMs}|${tlsKey}`;
  let pool = g.pools.get(key);
  // A request that began before a reload may outlive its state's pools: it gets a fresh one.
  if (!pool || pool.closed) {
    const host = peer.host.includes(':') ? `[${peer.host}]` : peer.host;
    pool = new PeerConns(`${scheme}://${peer.socketPath ? 'localhost' : host}:${peer.port || (scheme === 'https' ? 443 : 80)}`, {
      ...(peer.socketPath ? { socketPath: peer.socketPath } : {}),
      // TLS as nginx makes it (SNI, verification: upstream-tls.ts).
      connect: scheme === 'https' && upstreamTls ? tlsConnector(upstreamTls, connectTimeoutMs) : { timeout: connectTimeoutMs },
      pipelining: 1,
      keepAliveTimeout: g.keepalive ? g.keepaliveTimeoutMs : 1,
      keepAliveMaxTimeout: g.keepalive ? g.keepaliveTimeoutMs : 1,
      maxRequestsPerClient: g.keepaliveRequests,
      headersTimeout: 0,
      bodyTimeout: 0,
    }, g.cache, {
      host: peer.host, port: peer.port || (scheme === 'https' ? 443 : 80), ...(peer.socketPath ? { socketPath: peer.socketPath } : {}),
      connectTimeoutMs,
      // What undici writes as Host without one: URL's host (no default port).
      hostHeader: new URL(`${scheme}://${peer.socketPath ? 'localhost' : host}:${peer.port || (scheme === 'https' ? 443 : 80)}`).host,
      keepaliveTimeoutMs: g.keepalive ? g.keepaliveTimeoutMs : 1,
      keepaliveRequests: g.keepaliveRequests,
      ...(scheme === 'https' && upstreamTls ? { tls: upstreamTls } : {}),
    });
    g.pools.set(key, pool);
  }
  g.lastPool.set(peer, { scheme, connectTimeoutMs, tlsKey, pool });
  return pool;
}
