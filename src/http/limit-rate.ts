// limit_rate and limit_rate_after (and `set $limit_rate`), as ngx_http_write_filter applies them:
// once the first limit_rate_after bytes are out, a response may have sent limit_rate bytes per
// second counted from the second it began in (so one second's worth goes at once), and waits when
// it is ahead. Static bodies and proxied ones go through here; small answers of bext's own do not.
import type { ServerResponse } from 'node:http';
import { parseSize } from '../nginx/values.ts';

/** What the pipeline counts of a response: its head is bytesSent less bodyBytesSent. */
interface Counted { bytesSent: number; bodyBytesSent: number }

export class RateLimit {
  /** Body bytes handed to the socket so far. */
  sent = 0;
  private readonly startSec: number;

  constructor(readonly rate: number, readonly after: number, startMs: number, private readonly counted: Counted) {
    this.startSec = Math.floor(startMs / 1000);
  }

  /** All bytes out so far: nginx counts the head too (c->sent). */
  private total(): number {
    return this.counted.bytesSent - this.counted.bodyBytesSent + this.sent;
  }

  /** Bytes that may go now (0 or less: none): a second's worth per second begun, after the first `after`. */
  allowance(): number {
    const sec = Math.floor(Date.now() / 1000) - this.startSec;
    return this.rate * (sec + 1) - (this.total() - this.after);
  }

  /** How long to wait before more may go (0: now). */
  waitMs(): number {
    const a = this.allowance();
    return a > 0 ? 0 : Math.floor((-a * 1000) / this.rate) + 1;
  }

  /**
   * `n` more bytes went out: how long the next write waits (ngx_http_write_filter's delay, the
   * time those bytes take at the rate, not counting the first `after`).
   */
  wrote(n: number): number {
    const before = Math.max(0, this.total() - this.after);
    this.sent += n;
    const now = Math.max(0, this.total() - this.after);
    return Math.floor(((now - before) * 1000) / this.rate);
  }
}

const limits = new WeakMap<ServerResponse, RateLimit>();
/** Responses whose limit an upstream's X-Accel-Limit-Rate set: limit_rate no longer applies to them. */
const fromUpstream = new WeakSet<ServerResponse>();

/** The limit in effect for this response: $limit_rate when set, else limit_rate. */
export function setRateLimit(res: ServerResponse, value: string | undefined, after: number, startMs: number, counted: Counted): void {
  if (fromUpstream.has(res)) return;
  const rate = value === undefined ? 0 : parseSize(value) ?? 0;
  if (rate > 0) limits.set(res, new RateLimit(rate, after, startMs, counted));
}

/**
 * An upstream's X-Accel-Limit-Rate, as ngx_http_upstream_process_limit_rate takes it (unless
 * *_ignore_headers names it): a plain number of bytes per second (ngx_atoi: digits only) replaces
 * whatever limit_rate or $limit_rate gave the response, 0 lifting it, and the location's limit_rate
 * no longer applies (nginx's limit_rate_set), after an X-Accel-Redirect too; anything else is
 * ignored. limit_rate_after stays the location's. The header itself is hidden by default.
 */
export function accelLimitRate(res: ServerResponse, value: string, after: number, startMs: number, counted: Counted): void {
  if (!/^[0-9]+$/.test(value)) return;
  const rate = Number(value);
  if (!Number.isSafeInteger(rate)) return;
  fromUpstream.add(res);
  if (rate > 0) limits.set(res, new RateLimit(rate, after, startMs, counted));
  else limits.delete(res);
}

export function rateLimitOf(res: ServerResponse): RateLimit | undefined {
  return limits.get(res);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The response's socket took what was written, or the response closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Writes `data` within the limit: what is allowed, then the delay those bytes take, until all is out. */
export async function writeLimited(res: ServerResponse, data: Buffer, limit: RateLimit, end: boolean): Promise<void> {
  let pos = 0;
  while (pos < data.length) {
    if (res.destroyed) return;
    const wait = limit.waitMs();
    if (wait > 0) {
      await sleep(wait);
      continue;
    }
    const n = Math.min(data.length - pos, limit.allowance());
    const piece = data.subarray(pos, pos + n);
    pos += n;
    const delay = limit.wrote(n);
    if (pos >= data.length) {
      if (end) res.end(piece);
      else res.write(piece);
      return;
    }
    if (!res.write(piece)) await drained(res);
    if (delay > 0) await sleep(delay);
  }
  if (end) res.end();
}
