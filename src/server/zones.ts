// Shared zones across workers: the master holds every limit_conn table (one ZoneStore) and the
// stub_status totals; workers ask over the cluster IPC channel with numbered queries, batched per
// event-loop turn. limit_req goes through the log the workers share (zone-log.ts), and through here
// only when there is none (no writable temporary directory, or the log failed).
// Both ends of that small protocol live here: ZoneRegistry (master) and IpcZoneClient (worker).
import cluster from 'node:cluster';
import { limitReqDecide, type LimitReqDecision, type LimitReqStep } from '../http/limit-req.ts';
import type { ConnHold } from '../http/limit-conn.ts';
import {
  releaseOnce, ZoneStore, type LimitConnOutcome, type LimitConnQuery, type LimitReqQuery, type ZoneClient,
} from '../http/limit-zones.ts';
import { sumSnapshots, type CounterSnapshot, type StatusNumbers, type StubStatusCounters } from '../http/stub-status.ts';

export const ZONE_MESSAGE = 'bext-zones';

// Every limit_req/limit_conn query and release a worker raises in one event-loop turn travels in one
// `batch` message, and the master answers the whole batch in one `replies` message: a message per
// request was a pipe write and a JSON parse on each side, most of a limited request's cost.
// Both are flat arrays (no per-item objects or key names to serialise):
//   batch:   OP_REQ, id, n, (zone, size, rate, key, burst, delay) × n
//          | OP_CONN, id, n, (zone, size, key, conn) × n
//          | OP_RELEASE, hold
//   replies: id, code, excess|hold|full, ms, zone   (one 5-slot record per OP_REQ/OP_CONN)
const OP_REQ = 1;
const OP_CONN = 2;
const OP_RELEASE = 3;
const R_DECLINED = 0;
const R_PASS = 1;
const R_DELAY = 2;
const R_REJECT = 3;
const C_PASS = 4;
const C_REJECT = 5;

/** Worker → master. */
export type ZoneRequest =
  | { type: typeof ZONE_MESSAGE; op: 'batch'; b: (string | number)[] }
  | { type: typeof ZONE_MESSAGE; op: 'status'; id: number }
  /** The worker's counters: pushed now and then, and in answer to `collect` (with its id). */
  | { type: typeof ZONE_MESSAGE; op: 'counters'; snapshot: CounterSnapshot; collect?: number };

/** Master → worker. */
export type ZoneReply =
  | { type: typeof ZONE_MESSAGE; op: 'replies'; r: (string | number)[] }
  | { type: typeof ZONE_MESSAGE; op: 'reply'; id: number; result: StatusNumbers }
  | { type: typeof ZONE_MESSAGE; op: 'collect'; id: number };

export function isZoneMessage(msg: unknown): msg is ZoneRequest | ZoneReply {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === ZONE_MESSAGE;
}

/** What the registry needs of a worker (a cluster Worker fits). */
export interface ZoneWorker {
  id: number;
  send(msg: ZoneReply): unknown;
}

const COLLECT_TIMEOUT_MS = 1000;

/**
 * The master's side. Zone tables outlive reloads (they are keyed by zone name and size), counters
 * of workers that exit are kept, and a worker's limit_conn holds are dropped when it exits.
 */
export class ZoneRegistry {
  private readonly holds = new Map<number, { worker: number; held: ConnHold[] }>();
  private nextHold = 1;
  private readonly lastSeen = new Map<number, CounterSnapshot>();
  private retired: CounterSnapshot = { accepts: 0, handled: 0, requests: 0, active: 0, reading: 0, writing: 0 };
  private nextCollect = 1;
  private readonly collecting = new Map<number, { waiting: Set<number>; done: () => void }>();

  constructor(
    readonly store: ZoneStore = new ZoneStore(),
    private readonly liveWorkers: () => ZoneWorker[] = () => Object.values(cluster.workers ?? {}).filter((w) => !!w) as ZoneWorker[],
  ) {}

  /** Serves every worker of the cluster: one call in the master. */
  attach(): void {
    cluster.on('message', (worker, msg) => {
      if (isZoneMessage(msg)) this.handle(worker, msg as ZoneRequest);
    });
    cluster.on('exit', (worker) => this.workerGone(worker.id));
  }

  handle(worker: ZoneWorker, msg: ZoneRequest): void {
    switch (msg.op) {
      case 'batch': {
        const r = this.answer(worker.id, msg.b);
        if (r.length > 0) worker.send({ type: ZONE_MESSAGE, op: 'replies', r });
        return;
      }
      case 'counters':
        this.lastSeen.set(worker.id, msg.snapshot);
        if (msg.collect !== undefined) {
          const c = this.collecting.get(msg.collect);
          if (c && c.waiting.delete(worker.id) && c.waiting.size === 0) c.done();
        }
        return;
      case 'status':
        void this.totals().then((result) => worker.send({ type: ZONE_MESSAGE, op: 'reply', id: msg.id, result }));
        return;
    }
  }

  /** Decides a worker's batch in order, on one clock reading (nginx too reads the time once per event loop turn). */
  private answer(worker: number, b: readonly (string | number)[]): (string | number)[] {
    const out: (string | number)[] = [];
    const now = this.store.now();
    let i = 0;
    while (i < b.length) {
      const op = b[i++];
      if (op === OP_REQ) {
        const id = b[i++] as number;
        const n = b[i++] as number;
        const steps: LimitReqStep[] = new Array(n);
        for (let k = 0; k < n; k++, i += 6) {
          const zone = b[i] as string;
          steps[k] = { zone, table: this.store.reqTable(zone, b[i + 1] as number, b[i + 2] as number), key: b[i + 3] as string, burst: b[i + 4] as number, delay: b[i + 5] as number };
        }
        const d = limitReqDecide(steps, now);
        if (d.kind === 'declined') out.push(id, R_DECLINED, 0, 0, '');
        else out.push(id, d.kind === 'pass' ? R_PASS : d.kind === 'delay' ? R_DELAY : R_REJECT, d.excess, d.kind === 'delay' ? d.ms : 0, d.zone);
      } else if (op === OP_CONN) {
        const id = b[i++] as number;
        const n = b[i++] as number;
        const queries: LimitConnQuery[] = new Array(n);
        for (let k = 0; k < n; k++, i += 4) {
          queries[k] = { zone: b[i] as string, size: b[i + 1] as number, key: b[i + 2] as string, conn: b[i + 3] as number };
        }
        const d = this.store.connAcquire(queries);
        if (d.kind === 'reject') out.push(id, C_REJECT, d.full ? 1 : 0, 0, d.zone);
        else {
          const hold = this.nextHold++;
          this.holds.set(hold, { worker, held: d.held });
          out.push(id, C_PASS, hold, 0, '');
        }
      } else if (op === OP_RELEASE) {
        const hold = b[i++] as number;
        const h = this.holds.get(hold);
        if (h) {
          this.holds.delete(hold);
          this.store.connRelease(h.held);
        }
      } else return out; // not this protocol: drop the rest rather than misread it
    }
    return out;
  }

  /** Asks every live worker for fresh counters, then adds them to those of workers gone. */
  async totals(): Promise<StatusNumbers> {
    const workers = this.liveWorkers();
    const id = this.nextCollect++;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
      const waiting = new Set(workers.map((w) => w.id));
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      if (waiting.size === 0) return finish();
      this.collecting.set(id, { waiting, done: finish });
      for (const w of workers) w.send({ type: ZONE_MESSAGE, op: 'collect', id });
    });
    this.collecting.delete(id);
    const live = new Set(workers.map((w) => w.id));
    const snaps = [...this.lastSeen].filter(([w]) => live.has(w)).map(([, s]) => s);
    return sumSnapshots([this.retired, ...snaps]);
  }

  /** A worker exited: its connections are gone, its counts stay in the totals. */
  workerGone(workerId: number): void {
    for (const [id, h] of this.holds) {
      if (h.worker !== workerId) continue;
      this.holds.delete(id);
      this.store.connRelease(h.held);
    }
    const s = this.lastSeen.get(workerId);
    if (s) {
      this.retired = {
        ...this.retired,
        accepts: this.retired.accepts + s.accepts,
        handled: this.retired.handled + s.handled,
        requests: this.retired.requests + s.requests,
      };
      this.lastSeen.delete(workerId);
    }
    for (const c of this.collecting.values()) if (c.waiting.delete(workerId) && c.waiting.size === 0) c.done();
  }
}

const REPLY_TIMEOUT_MS = 5000;
const PUSH_INTERVAL_MS = 1000;

/** How a worker talks to its master (process.send / process.on('message') by default). */
export interface WorkerChannel<M> {
  send(msg: M): void;
  onMessage(listener: (msg: unknown) => void): void;
}

export type ZoneChannel = WorkerChannel<ZoneRequest>;

export function processChannel<M>(): WorkerChannel<M> {
  return {
    send: (msg) => void process.send?.(msg),
    onMessage: (l) => void process.on('message', l),
  };
}

/** A query waiting for the master: `settle` reads its record of a `replies` array, or gets the fallback. */
interface Pending {
  deadline: number;
  settle(r: readonly (string | number)[] | undefined, at: number): void;
}

/**
 * The worker's side. If the master does not answer in time the request passes (nginx's limits never
 * fail a request for their own sake) and the conn hold, if any, is forgotten.
 */
export class IpcZoneClient implements ZoneClient {
  private nextId = 1;
  /** By id, so in the order asked: the expiry sweep stops at the first one still in time. */
  private readonly pending = new Map<number, Pending>();
  private readonly statusPending = new Map<number, (r: StatusNumbers) => void>();
  private batch: (string | number)[] = [];
  private flushing = false;
  private pushed = '';

  constructor(
    private readonly counters: StubStatusCounters,
    private readonly channel: ZoneChannel = processChannel(),
  ) {
    channel.onMessage((msg) => {
      if (!isZoneMessage(msg)) return;
      const m = msg as ZoneReply;
      if (m.op === 'replies') this.settle(m.r);
      else if (m.op === 'reply') {
        const p = this.statusPending.get(m.id);
        this.statusPending.delete(m.id);
        p?.(m.result);
      } else if (m.op === 'collect') {
        this.channel.send({ type: ZONE_MESSAGE, op: 'counters', snapshot: counters.snapshot(), collect: m.id });
      }
    });
    // Keeps the master's totals close even for a worker that exits between two stub_status requests.
    setInterval(() => this.push(), PUSH_INTERVAL_MS).unref();
    // One timer for every query instead of one each.
    setInterval(() => this.expire(Date.now()), REPLY_TIMEOUT_MS / 5).unref();
  }

  private settle(r: readonly (string | number)[]): void {
    for (let i = 0; i + 5 <= r.length; i += 5) {
      const p = this.pending.get(r[i] as number);
      if (!p) {
        // Answered after its request gave up waiting: a hold nobody will release.
        if (r[i + 1] === C_PASS) this.queued().push(OP_RELEASE, r[i + 2] as number);
        continue;
      }
      this.pending.delete(r[i] as number);
      p.settle(r, i + 1);
    }
  }

  private push(): void {
    const snap = this.counters.snapshot();
    const text = JSON.stringify(snap);
    if (text === this.pushed) return;
    this.pushed = text;
    this.channel.send({ type: ZONE_MESSAGE, op: 'counters', snapshot: snap });
  }

  private expire(now: number): void {
    for (const [id, p] of this.pending) {
      if (p.deadline > now) return;
      this.pending.delete(id);
      p.settle(undefined, 0);
    }
  }

  /**
   * Everything queued in this turn of the event loop (every socket that was readable) goes in one
   * message. (Holding the next batch until the previous one is answered made no difference: the
   * requests' own round trips already pace the batches.)
   */
  private readonly flush = (): void => {
    this.flushing = false;
    const b = this.batch;
    this.batch = [];
    if (b.length > 0) this.channel.send({ type: ZONE_MESSAGE, op: 'batch', b });
  };

  private queued(): (string | number)[] {
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(this.flush);
    }
    return this.batch;
  }

  limitReq(queries: readonly LimitReqQuery[]): Promise<LimitReqDecision> {
    const id = this.nextId++;
    const b = this.queued();
    b.push(OP_REQ, id, queries.length);
    for (const q of queries) b.push(q.zone, q.size, q.rate, q.key, q.burst, q.delay);
    return new Promise<LimitReqDecision>((resolve) => {
      this.pending.set(id, {
        deadline: Date.now() + REPLY_TIMEOUT_MS,
        settle: (r, at) => resolve(r ? reqDecision(r, at) : { kind: 'declined' }),
      });
    });
  }

  limitConn(queries: readonly LimitConnQuery[]): Promise<LimitConnOutcome> {
    const id = this.nextId++;
    const b = this.queued();
    b.push(OP_CONN, id, queries.length);
    for (const q of queries) b.push(q.zone, q.size, q.key, q.conn);
    return new Promise<LimitConnOutcome>((resolve) => {
      this.pending.set(id, {
        deadline: Date.now() + REPLY_TIMEOUT_MS,
        settle: (r, at) => {
          if (!r) return resolve({ kind: 'pass', release: () => {} });
          if (r[at] === C_REJECT) return resolve({ kind: 'reject', zone: r[at + 3] as string, full: r[at + 1] === 1 });
          const hold = r[at + 1] as number;
          resolve({ kind: 'pass', release: releaseOnce(() => this.queued().push(OP_RELEASE, hold)) });
        },
      });
    });
  }

  stubStatus(): Promise<StatusNumbers> {
    const id = this.nextId++;
    return new Promise<StatusNumbers>((resolve) => {
      const timer = setTimeout(() => {
        this.statusPending.delete(id);
        resolve(sumSnapshots([this.counters.snapshot()]));
      }, REPLY_TIMEOUT_MS);
      this.statusPending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.channel.send({ type: ZONE_MESSAGE, op: 'status', id });
    });
  }
}

/** A `replies` record (code, excess, ms, zone at `at`) as the decision it encodes. */
function reqDecision(r: readonly (string | number)[], at: number): LimitReqDecision {
  const excess = r[at + 1] as number;
  const zone = r[at + 3] as string;
  switch (r[at]) {
    case R_PASS: return { kind: 'pass', excess, zone };
    case R_DELAY: return { kind: 'delay', ms: r[at + 2] as number, excess, zone };
    case R_REJECT: return { kind: 'reject', excess, zone };
    default: return { kind: 'declined' };
  }
}
