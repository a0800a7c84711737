// limit_req's leaky bucket (ngx_http_limit_req_module), as nginx computes it: integers in
// milli-requests (1000 = one request), `ms` since the key's last accounted request, the zone's rate
// in milli-requests per second, and burst/delay in milli-requests. Pure: the clock is an argument.

/** One key's bucket (nginx's ngx_http_limit_req_node_t). */
interface Bucket {
  /** Milli-requests over the rate, already leaked up to `last`. */
  excess: number;
  /** ms timestamp of the last accounted request (0 for a node created by a non-last limit). */
  last: number;
  /** Requests holding this node between lookup and account (a non-last limit in the list). */
  count: number;
}

/** A limit_req_zone's table: keys in least-recently-used order (the first is the oldest). */
export class LimitReqTable {
  readonly buckets = new Map<string, Bucket>();

  constructor(
    /** Milli-requests per second, as nginx stores it (`30r/m` → 500). */
    public rate: number,
    /** How many keys fit in the zone's shared memory. */
    readonly capacity: number,
  ) {}

  /** Moves a key to the young end, as nginx's queue_insert_head does on every lookup. */
  touch(key: string, b: Bucket): void {
    if (key === this.youngest) return; // already there: a Map delete and set would only make garbage
    this.buckets.delete(key);
    this.buckets.set(key, b);
    this.youngest = key;
  }

  /** The key at the young end (undefined: not known). */
  youngest: string | undefined;

  /**
   * ngx_http_limit_req_expire: `force` drops the oldest key whatever it holds, then up to two old
   * keys that have fully leaked (idle ≥ 60 s) go; a key held by a request stops the sweep.
   */
  expire(now: number, force: boolean): void {
    let n = force ? 0 : 1;
    while (n < 3) {
      const first = this.buckets.entries().next();
      if (first.done) return;
      const [key, b] = first.value;
      if (b.count) return;
      if (n++ !== 0) {
        const ms = Math.abs(now - b.last);
        if (ms < 60_000) return;
        if (b.excess - Math.trunc((this.rate * ms) / 1000) > 0) return;
      }
      this.buckets.delete(key);
    }
  }
}

/** Milli-requests per second from a zone's rate (nginx truncates `N r/m` to N*1000/60). */
export function milliRate(ratePerSecond: number): number {
  return Math.floor(ratePerSecond * 1000 + 1e-6);
}

/** How many keys a zone of `size` bytes holds: nginx's docs give ~16 000 states per megabyte. */
export function reqZoneCapacity(size: number): number {
  return Math.max(1, Math.floor(size / 64));
}

/** One limit_req of a location, resolved: its table, its key value, burst and delay in requests. */
export interface LimitReqStep {
  zone: string;
  table: LimitReqTable;
  key: string;
  burst: number;
  /** Requests passed without delay: `nodelay` = everything in the burst, else `delay=N` (default 0). */
  delay: number;
}

export type LimitReqDecision =
  /** Nothing applied (every key empty). */
  | { kind: 'declined' }
  | { kind: 'pass'; excess: number; zone: string }
  | { kind: 'delay'; ms: number; excess: number; zone: string }
  | { kind: 'reject'; excess: number; zone: string };

/** nginx treats `nodelay` as an unreachable delay threshold. */
export const NODELAY = Number.MAX_SAFE_INTEGER / 1000;

/** Leaked excess of a bucket at `now`, plus this request (ms clamped as nginx does for clock jumps). */
function leaked(b: Bucket, rate: number, now: number): { excess: number; ms: number } {
  let ms = now - b.last;
  if (ms < -60_000) ms = 1;
  else if (ms < 0) ms = 0;
  const excess = b.excess - Math.trunc((rate * ms) / 1000) + 1000;
  return { excess: excess < 0 ? 0 : excess, ms };
}

type Lookup = { rc: 'ok' | 'again' | 'busy' | 'error'; excess: number; bucket?: Bucket };

/** ngx_http_limit_req_lookup. */
function lookup(step: LimitReqStep, now: number, account: boolean): Lookup {
  const t = step.table;
  const b = t.buckets.get(step.key);
  if (b) {
    t.touch(step.key, b);
    const { excess, ms } = leaked(b, t.rate, now);
    if (excess > step.burst * 1000) return { rc: 'busy', excess };
    if (account) {
      b.excess = excess;
      if (ms) b.last = now;
      return { rc: 'ok', excess };
    }
    b.count++;
    return { rc: 'again', excess, bucket: b };
  }
  t.expire(now, false);
  if (t.buckets.size >= t.capacity) {
    t.expire(now, true);
    if (t.buckets.size >= t.capacity) return { rc: 'error', excess: 0 };
  }
  const nb: Bucket = account ? { excess: 0, last: now, count: 0 } : { excess: 0, last: 0, count: 1 };
  t.buckets.set(step.key, nb);
  t.youngest = step.key;
  return account ? { rc: 'ok', excess: 0 } : { rc: 'again', excess: 0, bucket: nb };
}

/**
 * ngx_http_limit_req_handler + _account for one request: every limit with a non-empty key is looked
 * up in order, the last one accounts; a key over its burst rejects (held nodes are released); else
 * the longest delay of the limits that are over their `delay` threshold wins.
 */
export function limitReqDecide(steps: readonly LimitReqStep[], now: number): LimitReqDecision {
  const held: { step: LimitReqStep; bucket: Bucket }[] = [];
  let last: Lookup | undefined;
  let lastStep: LimitReqStep | undefined;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    // An empty key skips the limit, but only the list's last limit accounts (nginx's `n == nelts - 1`).
    if (step.key === '') continue;
    last = lookup(step, now, i === steps.length - 1);
    lastStep = step;
    if (last.rc !== 'again') break;
    held.push({ step, bucket: last.bucket! });
  }
  if (!last || !lastStep) return { kind: 'declined' };
  if (last.rc === 'busy' || last.rc === 'error') {
    for (const h of held) h.bucket.count--;
    return { kind: 'reject', excess: last.excess, zone: lastStep.zone };
  }
  // ngx_http_limit_req_account
  let excess = last.rc === 'again' ? 0 : last.excess;
  let zone = lastStep.zone;
  let maxDelay = excess <= lastStep.delay * 1000 ? 0 : Math.trunc(((excess - lastStep.delay * 1000) * 1000) / lastStep.table.rate);
  for (let i = held.length - 1; i >= 0; i--) {
    const { step, bucket } = held[i]!;
    const r = leaked(bucket, step.table.rate, now);
    if (r.ms) bucket.last = now;
    bucket.excess = r.excess;
    bucket.count--;
    if (r.excess <= step.delay * 1000) continue;
    const d = Math.trunc(((r.excess - step.delay * 1000) * 1000) / step.table.rate);
    if (d > maxDelay) {
      maxDelay = d;
      excess = r.excess;
      zone = step.zone;
    }
  }
  return maxDelay ? { kind: 'delay', ms: maxDelay, excess, zone } : { kind: 'pass', excess, zone };
}

/** `2.000` from 2000 milli-requests, as nginx prints excess. */
export function formatExcess(excess: number): string {
  return `${Math.floor(excess / 1000)}.${String(excess % 1000).padStart(3, '0')}`;
}
