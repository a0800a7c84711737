// Shared zones across workers: the master holds every limit_req/limit_conn table (one ZoneStore)
// and the stub_status totals; workers ask over the cluster IPC channel with numbered requests.
// Both ends of that small protocol live here: ZoneRegistry (master) and IpcZoneClient (worker).
import cluster from 'node:cluster';
import type { LimitReqDecision } from '../http/limit-req.ts';
import type { ConnHold } from '../http/limit-conn.ts';
import {
  releaseOnce, ZoneStore, type LimitConnOutcome, type LimitConnQuery, type LimitReqQuery, type ZoneClient,
} from '../http/limit-zones.ts';
import { sumSnapshots, type CounterSnapshot, type StatusNumbers, type StubStatusCounters } from '../http/stub-status.ts';

export const ZONE_MESSAGE = 'bext-zones';

/** Worker → master. */
export type ZoneRequest =
  | { type: typeof ZONE_MESSAGE; op: 'req'; id: number; queries: LimitReqQuery[] }
  | { type: typeof ZONE_MESSAGE; op: 'conn'; id: number; queries: LimitConnQuery[] }
  | { type: typeof ZONE_MESSAGE; op: 'release'; hold: number }
  | { type: typeof ZONE_MESSAGE; op: 'status'; id: number }
  /** The worker's counters: pushed now and then, and in answer to `collect` (with its id). */
  | { type: typeof ZONE_MESSAGE; op: 'counters'; snapshot: CounterSnapshot; collect?: number };

type ConnReply = { kind: 'pass'; hold: number } | { kind: 'reject'; zone: string; full: boolean };

/** Master → worker. */
export type ZoneReply =
  | { type: typeof ZONE_MESSAGE; op: 'reply'; id: number; result: LimitReqDecision | ConnReply | StatusNumbers }
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
      case 'req':
        worker.send({ type: ZONE_MESSAGE, op: 'reply', id: msg.id, result: this.store.limitReq(msg.queries) });
        return;
      case 'conn': {
        const d = this.store.connAcquire(msg.queries);
        let result: ConnReply;
        if (d.kind === 'reject') result = d;
        else {
          const hold = this.nextHold++;
          this.holds.set(hold, { worker: worker.id, held: d.held });
          result = { kind: 'pass', hold };
        }
        worker.send({ type: ZONE_MESSAGE, op: 'reply', id: msg.id, result });
        return;
      }
      case 'release': {
        const h = this.holds.get(msg.hold);
        if (h) {
          this.holds.delete(msg.hold);
          this.store.connRelease(h.held);
        }
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
export interface ZoneChannel {
  send(msg: ZoneRequest): void;
  onMessage(listener: (msg: unknown) => void): void;
}

const processChannel: ZoneChannel = {
  send: (msg) => void process.send?.(msg),
  onMessage: (l) => void process.on('message', l),
};

/**
 * The worker's side. If the master does not answer in time the request passes (nginx's limits never
 * fail a request for their own sake) and the conn hold, if any, is forgotten.
 */
export class IpcZoneClient implements ZoneClient {
  private nextId = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();
  private pushed = '';

  constructor(
    private readonly counters: StubStatusCounters,
    private readonly channel: ZoneChannel = processChannel,
  ) {
    channel.onMessage((msg) => {
      if (!isZoneMessage(msg)) return;
      const m = msg as ZoneReply;
      if (m.op === 'reply') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.(m.result);
      } else if (m.op === 'collect') {
        this.channel.send({ type: ZONE_MESSAGE, op: 'counters', snapshot: counters.snapshot(), collect: m.id });
      }
    });
    // Keeps the master's totals close even for a worker that exits between two stub_status requests.
    setInterval(() => this.push(), PUSH_INTERVAL_MS).unref();
  }

  private push(): void {
    const snap = this.counters.snapshot();
    const text = JSON.stringify(snap);
    if (text === this.pushed) return;
    this.pushed = text;
    this.channel.send({ type: ZONE_MESSAGE, op: 'counters', snapshot: snap });
  }

  private ask<T>(build: (id: number) => ZoneRequest, fallback: T): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(fallback);
      }, REPLY_TIMEOUT_MS);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r as T);
      });
      this.channel.send(build(id));
    });
  }

  limitReq(queries: readonly LimitReqQuery[]): Promise<LimitReqDecision> {
    return this.ask((id) => ({ type: ZONE_MESSAGE, op: 'req', id, queries: [...queries] }), { kind: 'declined' } as LimitReqDecision);
  }

  async limitConn(queries: readonly LimitConnQuery[]): Promise<LimitConnOutcome> {
    const r = await this.ask<ConnReply | undefined>((id) => ({ type: ZONE_MESSAGE, op: 'conn', id, queries: [...queries] }), undefined);
    if (!r) return { kind: 'pass', release: () => {} };
    if (r.kind === 'reject') return r;
    return {
      kind: 'pass',
      release: releaseOnce(() => this.channel.send({ type: ZONE_MESSAGE, op: 'release', hold: r.hold })),
    };
  }

  stubStatus(): Promise<StatusNumbers> {
    const own = this.counters.snapshot();
    return this.ask((id) => ({ type: ZONE_MESSAGE, op: 'status', id }), sumSnapshots([own]));
  }
}
