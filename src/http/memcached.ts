// memcached_pass (ngx_http_memcached_module): `get $memcached_key` to memcached, its VALUE as a
// 200 (Content-Type by the URI, as for a file; Content-Encoding: gzip when memcached_gzip_flag's
// bit is in the flags), END as nginx's own 404; GET and HEAD only, errors intercepted by error_page
// (the module's intercept_errors is always on), the peers walked per memcached_next_upstream.
// With `keepalive` in the upstream block, a connection whose answer ended as it should (END, or the
// value and its END trailer) is kept for the next request, as the module sets u->keepalive then.
import { connect as netConnect } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorLogEntry } from './access-log.ts';
import { headersAsFor200, logError, rangeFilterMax, writeHead, type ContentOutcome, type RequestState } from './pipeline.ts';
import { confLevels, directiveArgs } from './proxy-headers.ts';
import { classifyUpstreamError, type Failure } from './proxy-errors.ts';
import type { ProxyTarget } from './proxy-uri.ts';
import { GroupError, IdleSockets, UpstreamRegistry, type GroupRuntime } from './upstream-groups.ts';
import type { Peer } from './upstream-peers.ts';
import { PeerTry, publish, UpstreamRun, type FailedTry } from './upstream-attempts.ts';
import { getVariable } from './variables.ts';
import { mimeTypeFor, rangesFor, type ByteRange, type RangeResult } from './static.ts';

const NO_RANGE: RangeResult = { kind: 'none' };

export interface MemcachedHandlerOptions {
  errorLog?: (entry: ErrorLogEntry) => void;
}

export type MemcachedHook = ((req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>) & { close(): Promise<void> };

const CONNECTING = 'while connecting to upstream';
const READING_HEADER = 'while reading response header from upstream';
const READING_BODY = 'while reading upstream';
const END = Buffer.from('\r\nEND\r\n', 'latin1');

/** NGX_ESCAPE_MEMCACHED: space, `%` and the control characters as %XX. */
function escapeKey(key: string): string {
  return key.replace(/[\x00-\x20%\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function target(address: string): ProxyTarget | undefined {
  if (address.slice(0, 5).toLowerCase() === 'unix:') {
    return { scheme: 'http', host: address.slice(5), port: 0, portGiven: false, unix: true, proxyHost: 'localhost', proxyPort: '' };
  }
  const m = /^(.*):(\d+)$/.exec(address);
  const host = m ? m[1]! : address;
  if (!host) return undefined;
  const port = m ? Number(m[2]) : 80;
  return { scheme: 'http', host: host.replace(/^\[(.*)\]$/, '$1'), port, portGiven: m !== null, unix: false, proxyHost: host, proxyPort: String(port) };
}

export function createMemcachedHandler(opts: MemcachedHandlerOptions = {}): MemcachedHook {
  const registry = new UpstreamRegistry();
  const groups = new WeakMap<object, GroupRuntime>();
  const idle = new IdleSockets();

  const hook = async (req: IncomingMessage, res: ServerResponse, r: RequestState): Promise<ContentOutcome> => {
    if (r.method !== 'GET' && r.method !== 'HEAD') return { kind: 'status', status: 405 };
    const settings = r.conf.memcached;
    const pass = settings.pass!;
    let group = groups.get(settings);
    if (!group) {
      const t = target(pass.raw);
      if (!t) {
        logError(r, opts, 'error', `invalid host in upstream "${pass.raw}"`);
        return { kind: 'status', status: 500 };
      }
      try {
        group = await registry.group(r.state, t, false);
      } catch (e) {
        logError(r, opts, 'error', e instanceof GroupError ? e.message : `host not found in upstream "${t.host}"`);
        return { kind: 'status', status: 502 };
      }
      groups.set(settings, group);
    }
    const key = getVariable(r.ctx, 'memcached_key');
    if (!key) {
      logError(r, opts, 'error', 'the "$memcached_key" variable is not set');
      return { kind: 'status', status: 500 };
    }
    const levels = confLevels(r);
    const gzipFlag = Number(directiveArgs(levels, 'memcached_gzip_flag').pop()?.[0] ?? 0);
    const maxTries = Number(directiveArgs(levels, 'memcached_next_upstream_tries').pop()?.[0] ?? 0);
    const run = new MemcachedRun(r, req, res, group, new Set(settings.nextUpstream), maxTries, escapeKey(key), gzipFlag, idle, opts);
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

class MemcachedRun extends UpstreamRun {
  constructor(
    r: RequestState,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    group: GroupRuntime,
    conditions: ReadonlySet<string>,
    maxTries: number,
    readonly key: string,
    readonly gzipFlag: number,
    readonly idle: IdleSockets,
    log: MemcachedHandlerOptions,
  ) {
    super(r, group, conditions, maxTries, log);
  }

  upstream(peer: Peer): string {
    return `memcached://${peer.name}${peer.socketPath ? ':' : ''}`;
  }

  next(): void {
    const peer = this.nextPeer((name) => `memcached://${name}`);
    if (peer) new Attempt(this, peer).start();
  }

  onAttempt(outcome: ContentOutcome | FailedTry): void {
    // not_found and invalid_response are memcached_next_upstream's names for http_404 and invalid_header.
    const condition = (f: Failure): string => (f.type === 'http_404' ? 'not_found' : f.type === 'invalid_header' ? 'invalid_response' : f.type);
    this.tryEnded(outcome, this.upstream(this.peer!), (f) => this.conditions.has(condition(f)));
  }
}

/** One `get` on one peer. */
class Attempt extends PeerTry<MemcachedRun> {
  private buffer: Buffer = Buffer.alloc(0);
  /** Value bytes still to come, then the END trailer. */
  private remaining = 0;
  /** Value bytes read so far. */
  private valueRead = 0;
  /** The byte range sent (206), if the request asked for one. */
  private range: ByteRange | undefined;

  start(): void {
    const { peer, run } = this;
    const settings = run.r.conf.memcached;
    const reused = run.group.keepalive > 0 ? run.idle.take(peer) : undefined;
    const s = reused ?? (peer.socketPath ? netConnect({ path: peer.socketPath }) : netConnect({ host: peer.host, port: peer.port }));
    this.socket = s;
    const send = (): void => {
      run.tries.connect.push(this.elapsed());
      this.armRead();
      s.write(`get ${run.key}\r\n`, 'latin1');
    };
    if (reused) {
      this.cached = true;
      send();
    } else {
      this.arm(settings.connectTimeoutMs, () => this.fail({ type: 'timeout', status: 504, requestSent: false, message: `upstream timed out (110: Connection timed out) ${CONNECTING}`, action: CONNECTING }));
      s.once('connect', send);
    }
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('error', (e) => {
      if (!this.settled) this.fail(classifyUpstreamError(e, this.headSent));
    });
    s.on('close', () => {
      if (this.settled) return;
      const action = this.headSent ? READING_BODY : this.run.tries.connect.length ? READING_HEADER : CONNECTING;
      this.fail({ type: 'error', status: 502, requestSent: true, message: `upstream prematurely closed connection ${action}`, action });
    });
    run.res.once('close', () => {
      if (!this.settled) {
        this.settle({ kind: 'done' });
        s.destroy();
      }
    });
  }

  private armRead(): void {
    this.arm(this.run.r.conf.memcached.readTimeoutMs, () => {
      const action = this.headSent ? READING_BODY : READING_HEADER;
      this.fail({ type: 'timeout', status: 504, requestSent: true, message: `upstream timed out (110: Connection timed out) ${action}`, action });
    });
  }

  private invalid(message: string): void {
    this.fail({ type: 'invalid_header', status: 502, requestSent: true, message: `${message} ${READING_HEADER}`, action: READING_HEADER });
  }

  private onData(d: Buffer): void {
    if (this.settled) return;
    this.armRead();
    if (this.headSent) return this.body(d);
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, d]) : d;
    const lf = this.buffer.indexOf(0x0a);
    if (lf < 0) return;
    const { run } = this;
    const { r } = run;
    const raw = this.buffer.subarray(0, lf).toString('latin1');
    const rest = this.buffer.subarray(lf + 1);
    if (raw === '' || !raw.endsWith('\r')) return this.invalid(`memcached sent invalid response: "${raw}"`);
    const line = raw.slice(0, -1);
    if (line === 'END') {
      logError(r, run.log, 'info', `key: "${run.key}" was not found by memcached ${READING_HEADER}`, run.upstream(this.peer));
      run.tries.status.push('404');
      run.tries.header.push(this.elapsed());
      this.release(rest.length === 0);
      // The module's intercept_404: nginx's own 404 page (or error_page), unless not_found goes on.
      this.settle({ kind: 'failed', failure: { type: 'http_404', status: 404, requestSent: true, message: '', upstreamStatus: 404 } });
      return;
    }
    if (!line.startsWith('VALUE ')) return this.invalid(`memcached sent invalid response: "${line}"`);
    const after = line.slice(6);
    if (!after.startsWith(run.key)) return this.invalid(`memcached sent invalid key in response "${line}" for key "${run.key}"`);
    const m = / (\d+) (\d+)(?: \d+)?$/.exec(after.slice(run.key.length));
    if (!m || after[run.key.length] !== ' ') return this.invalid(`memcached sent invalid response: "${line}"`);
    const flags = Number(m[1]);
    const length = Number(m[2]);
    run.tries.status.push('200');
    run.tries.header.push(this.elapsed());
    const headers: [string, string][] = [['Content-Type', mimeTypeFor(r.ctx.uri, r.conf.types, r.conf.defaultType)], ['Content-Length', String(length)]];
    if (run.gzipFlag && flags & run.gzipFlag) headers.push(['Content-Encoding', 'gzip']);
    if (r.conf.addHeaders.length > 0) publish(r, run.tries, true);
    const status = r.errStatus ?? 200;
    const range = status === 200 ? this.rangeOf(length, headers) : undefined;
    if (range === 'unsatisfiable') {
      // Refused before the value is read: the connection is not kept, as nginx finalizes it with 416.
      this.release(false);
      this.settle({ kind: 'status', status: 416, headers: [...headersAsFor200(r), ['Content-Range', `bytes */${length}`]] });
      return;
    }
    this.range = range;
    writeHead(r, run.res, range ? 206 : status, headers);
    this.headSent = true;
    this.remaining = length;
    r.ctx.response.bodyBytesSent = 0;
    this.buffer = Buffer.alloc(0);
    if (rest.length) this.body(rest);
  }

  /**
   * The module sets force_ranges (and so single_range): the range filter takes the value as it
   * would a file, one range at most; a value has no ETag or Last-Modified for If-Range to match.
   * Adds the headers it sends (Accept-Ranges, or Content-Range with the range's length) to `headers`.
   */
  private rangeOf(length: number, headers: [string, string][]): ByteRange | 'unsatisfiable' | undefined {
    const { r, req } = this.run;
    const max = req.httpVersionMajor >= 1 ? rangeFilterMax(r, headers) : 0;
    if (max === 0) return undefined;
    const result = req.headers.range !== undefined ? rangesFor(req.headers, length, {}, 1) : NO_RANGE;
    if (result.kind === 'unsatisfiable') return 'unsatisfiable';
    if (result.kind === 'none') {
      headers.push(['Accept-Ranges', 'bytes']);
      return undefined;
    }
    const range = result.ranges[0]!;
    const i = headers.findIndex(([k]) => k === 'Content-Length');
    headers[i] = ['Content-Length', String(range.end - range.start)];
    headers.push(['Content-Range', `bytes ${range.start}-${range.end - 1}/${length}`]);
    return range;
  }

  /** The answer is over: its connection is kept when it ended as it should (and nothing followed). */
  private release(clean: boolean): void {
    const s = this.socket;
    if (!s) return;
    const { run } = this;
    if (clean && run.group.keepalive > 0 && !s.destroyed) run.idle.put(this.peer, run.group, s);
    else s.destroy();
  }

  /** The value, then the END trailer (checked as nginx checks it). */
  private body(d: Buffer): void {
    const { r, res } = this.run;
    if (this.remaining > 0) {
      const piece = d.subarray(0, this.remaining);
      // The part of the value this piece holds, and of that what the range keeps.
      const at = this.valueRead;
      this.valueRead += piece.length;
      this.remaining -= piece.length;
      const range = this.range;
      const out = range === undefined ? piece : piece.subarray(Math.max(0, range.start - at), Math.max(0, range.end - at));
      if (r.method !== 'HEAD' && out.length > 0) {
        r.ctx.response.bodyBytesSent += out.length;
        r.ctx.response.bytesSent += out.length;
        res.write(out);
      }
      d = d.subarray(piece.length);
    }
    if (this.remaining > 0) return;
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, d]) : d;
    if (this.buffer.length < END.length && END.subarray(0, this.buffer.length).equals(this.buffer)) return;
    const valid = this.buffer.subarray(0, END.length).equals(END);
    if (!valid) logError(r, this.run.log, 'error', `memcached sent invalid trailer ${READING_BODY}`, this.run.upstream(this.peer));
    this.release(valid && this.buffer.length === END.length);
    res.end();
    this.settle({ kind: 'done' });
  }
}
