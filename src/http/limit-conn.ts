// limit_conn (ngx_http_limit_conn_module): a counter per key of requests in progress; a request
// that finds its key at the limit is refused. Counters drop when the request ends.

/** A limit_conn_zone's table of counters. */
export class LimitConnTable {
  readonly counts = new Map<string, number>();
  constructor(readonly capacity: number) {}
}

/** How many keys a zone of `size` bytes holds (nginx's node is about 32 bytes plus the key). */
export function connZoneCapacity(size: number): number {
  return Math.max(1, Math.floor(size / 64));
}

export interface LimitConnStep {
  zone: string;
  table: LimitConnTable;
  key: string;
  conn: number;
}

/** A counter a request holds until it ends. */
export interface ConnHold {
  table: LimitConnTable;
  key: string;
}

export type LimitConnDecision =
  | { kind: 'pass'; held: ConnHold[] }
  /** `full` is nginx's "could not allocate node" (the zone is out of room). */
  | { kind: 'reject'; zone: string; full: boolean };

/** ngx_http_limit_conn_handler: every limit in order; the first at its limit refuses and releases the rest. */
export function limitConnAcquire(steps: readonly LimitConnStep[]): LimitConnDecision {
  const held: ConnHold[] = [];
  for (const s of steps) {
    if (s.key === '') continue;
    const n = s.table.counts.get(s.key);
    if (n === undefined) {
      if (s.table.counts.size >= s.table.capacity) {
        limitConnRelease(held);
        return { kind: 'reject', zone: s.zone, full: true };
      }
      s.table.counts.set(s.key, 1);
    } else if (n >= s.conn) {
      limitConnRelease(held);
      return { kind: 'reject', zone: s.zone, full: false };
    } else {
      s.table.counts.set(s.key, n + 1);
    }
    held.push({ table: s.table, key: s.key });
  }
  return { kind: 'pass', held };
}

/** The request's cleanup: a counter at zero frees its key. */
export function limitConnRelease(held: readonly ConnHold[]): void {
  for (const h of held) {
    const n = (h.table.counts.get(h.key) ?? 1) - 1;
    if (n <= 0) h.table.counts.delete(h.key);
    else h.table.counts.set(h.key, n);
  }
}
