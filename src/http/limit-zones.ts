// Shared limit zones as the pipeline sees them: a ZoneClient answers limit_req and limit_conn for a
// request. The tables live in a ZoneStore: in this process (LocalZoneClient: single process and
// tests); for workers, limit_req's in a replica each keeps of the log they share
// (src/server/zone-log.ts) and limit_conn's in the master, reached over IPC (src/server/zones.ts),
// so every worker counts alike.
import { LimitReqTable, limitReqDecide, reqZoneCapacity, type LimitReqDecision, type LimitReqStep } from './limit-req.ts';
import { LimitConnTable, connZoneCapacity, limitConnAcquire, limitConnRelease, type ConnHold } from './limit-conn.ts';
import { sumSnapshots, type CounterSnapshot, type StatusNumbers, StubStatusCounters } from './stub-status.ts';

/** One limit_req of a location, with its zone's definition and the evaluated key (plain data: it crosses IPC). */
export interface LimitReqQuery {
  zone: string;
  size: number;
  /** Milli-requests per second. */
  rate: number;
  key: string;
  burst: number;
  /** Requests passed at once; NODELAY for `nodelay`. */
  delay: number;
}

/** A limit_req zone's table as plain data (between decisions no key is held, so counts are 0). */
export interface ReqZoneDump {
  zone: string;
  size: number;
  rate: number;
  /** key, excess, last: oldest first. */
  buckets: [string, number, number][];
}

export interface LimitConnQuery {
  zone: string;
  size: number;
  key: string;
  conn: number;
}

export type LimitConnOutcome =
  | { kind: 'pass'; release: () => void }
  | { kind: 'reject'; zone: string; full: boolean };

export interface ZoneClient {
  /** A decision now when this process can make it, else a promise of one. */
  limitReq(queries: readonly LimitReqQuery[]): LimitReqDecision | Promise<LimitReqDecision>;
  limitConn(queries: readonly LimitConnQuery[]): Promise<LimitConnOutcome>;
  /** stub_status numbers over every process serving. */
  stubStatus(): Promise<StatusNumbers>;
}

/**
 * The zone tables. A zone is identified by name and size: a reload that keeps both keeps the
 * zone's state (nginx reuses such a shared memory zone), with the new configuration's rate.
 */
export class ZoneStore {
  private readonly req = new Map<string, LimitReqTable>();
  private readonly conn = new Map<string, LimitConnTable>();

  constructor(private readonly clock: () => number = Date.now) {}

  /** The zones' clock, in ms. */
  now(): number {
    return this.clock();
  }

  reqTable(zone: string, size: number, rate: number): LimitReqTable {
    const id = `${zone}\0${size}`;
    let t = this.req.get(id);
    if (!t) this.req.set(id, (t = new LimitReqTable(rate, reqZoneCapacity(size))));
    t.rate = rate;
    return t;
  }

  /** Every limit_req zone's keys, oldest first: what a worker joining the shared log starts from. */
  exportReq(): ReqZoneDump[] {
    return [...this.req].map(([id, t]) => {
      const cut = id.indexOf('\0');
      return { zone: id.slice(0, cut), size: Number(id.slice(cut + 1)), rate: t.rate, buckets: [...t.buckets].map(([k, b]) => [k, b.excess, b.last]) };
    });
  }

  importReq(dump: readonly ReqZoneDump[]): void {
    for (const z of dump) {
      const t = this.reqTable(z.zone, z.size, z.rate);
      t.buckets.clear();
      t.youngest = undefined;
      for (const [key, excess, last] of z.buckets) t.buckets.set(key, { excess, last, count: 0 });
    }
  }

  connTable(zone: string, size: number): LimitConnTable {
    const id = `${zone}\0${size}`;
    let t = this.conn.get(id);
    if (!t) this.conn.set(id, (t = new LimitConnTable(connZoneCapacity(size))));
    return t;
  }

  limitReq(queries: readonly LimitReqQuery[]): LimitReqDecision {
    const steps: LimitReqStep[] = queries.map((q) => ({
      zone: q.zone, table: this.reqTable(q.zone, q.size, q.rate), key: q.key, burst: q.burst, delay: q.delay,
    }));
    return limitReqDecide(steps, this.clock());
  }

  connAcquire(queries: readonly LimitConnQuery[]): { kind: 'pass'; held: ConnHold[] } | { kind: 'reject'; zone: string; full: boolean } {
    return limitConnAcquire(queries.map((q) => ({ zone: q.zone, table: this.connTable(q.zone, q.size), key: q.key, conn: q.conn })));
  }

  connRelease(held: readonly ConnHold[]): void {
    limitConnRelease(held);
  }
}

/** Everything in this process. */
export class LocalZoneClient implements ZoneClient {
  constructor(
    readonly store: ZoneStore = new ZoneStore(),
    readonly counters: StubStatusCounters = new StubStatusCounters(),
  ) {}

  limitReq(queries: readonly LimitReqQuery[]): LimitReqDecision {
    return this.store.limitReq(queries);
  }

  async limitConn(queries: readonly LimitConnQuery[]): Promise<LimitConnOutcome> {
    const d = this.store.connAcquire(queries);
    if (d.kind === 'reject') return d;
    return {
      kind: 'pass',
      release: releaseOnce(() => this.store.connRelease(d.held)),
    };
  }

  async stubStatus(): Promise<StatusNumbers> {
    const snaps: CounterSnapshot[] = [this.counters.snapshot()];
    return sumSnapshots(snaps);
  }
}

/** A limit_conn hold is given back once, however many paths (finish, close, error) call release. */
export function releaseOnce(release: () => void): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
  };
}
