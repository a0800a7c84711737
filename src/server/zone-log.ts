// limit_req zones shared by the workers through an append-only log: what nginx does with a shared
// memory zone and a mutex, done with what Node has. Asking the master for each decision cost three
// process wake-ups per request (worker → master → worker), which on a busy machine put the p99 of a
// limited request at 8× nginx's whatever the transport (cluster channel or a plain pipe alike).
//
// The master opens SEGMENTS unlinked files (tmpfs when there is one) and every worker inherits them
// as fds 4, 5, 6. A worker appends each request's queries (O_APPEND: the kernel orders concurrent
// appends, as nginx's mutex orders lookups), then reads the log up to its own records, applying every
// record in order to its replica of the zones: every replica sees the same records in the same order
// with the writer's clock reading, so every worker reaches the same decision nginx would have.
// No other process runs. The master keeps a replica too, to give starting workers a snapshot and to
// turn the segments over: when the current one is big it empties the next one (one no worker is still
// reading, by the workers' reports) and appends a SWITCH record; records appended after the SWITCH
// count for nothing, and their writers append them again in the new segment.
// limit_conn and stub_status still go through the master (src/server/zones.ts): limit_conn holds
// must be released when a worker dies, which the master sees.
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import cluster from 'node:cluster';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { limitReqDecide, type LimitReqDecision, type LimitReqStep, type LimitReqTable } from '../http/limit-req.ts';
import {
  ZoneStore, type LimitConnOutcome, type LimitConnQuery, type LimitReqQuery, type ReqZoneDump, type ZoneClient,
} from '../http/limit-zones.ts';
import type { StatusNumbers } from '../http/stub-status.ts';
import { processChannel, type WorkerChannel } from './zones.ts';

export const SEGMENTS = 3;
/** The first segment's fd in a worker: 0-2 are stdio, 3 is the cluster channel. */
const FIRST_FD = 4;
/** Tells a worker the log's fds (absent: limit_req goes through the master). */
export const ZONE_LOG_ENV = 'BEXT_ZONE_LOG';
export const ZONE_LOG_MESSAGE = 'bext-zone-log';
const ROTATE_BYTES = 4 << 20;
const KEEPER_TICK_MS = 250;
const SNAPSHOT_TIMEOUT_MS = 5000;
/** Far above any real record (keys are at most 65535 bytes): a larger length is a damaged log. */
const MAX_RECORD = 1 << 24;

// Records: u32 length (the whole record), u8 op, then
//   REQ:    u32 writer, u32 seq, f64 time (ms), u16 n, n × (f64 size, rate, burst, delay; u32 len + zone; u32 len + key)
//   SWITCH: u32 next segment, u32 generation    (the rest of this segment counts for nothing)
//   HEADER: u32 generation                      (first record of a segment)
const OP_REQ = 1;
const OP_SWITCH = 2;
const OP_HEADER = 3;

export interface LogPosition {
  seg: number;
  gen: number;
  offset: number;
}

/** Worker → master and back over the cluster channel: a starting worker's snapshot, and where each worker reads. */
export type ZoneLogMessage =
  | { type: typeof ZONE_LOG_MESSAGE; op: 'snapshot' }
  | { type: typeof ZONE_LOG_MESSAGE; op: 'at'; seg: number }
  | { type: typeof ZONE_LOG_MESSAGE; op: 'state'; pos: LogPosition; zones: ReqZoneDump[] }
  /** No snapshot to give: the worker asks the master for limit_req. */
  | { type: typeof ZONE_LOG_MESSAGE; op: 'unavailable' };

export function isZoneLogMessage(msg: unknown): msg is ZoneLogMessage {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === ZONE_LOG_MESSAGE;
}

/** Records appended together (one write: the kernel keeps them contiguous). */
class RecordBuffer {
  buf = Buffer.allocUnsafe(4096);
  len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  req(writer: number, seq: number, time: number, queries: readonly LimitReqQuery[]): void {
    let size = 23;
    for (const q of queries) size += 40 + Buffer.byteLength(q.zone) + Buffer.byteLength(q.key);
    this.room(size);
    const b = this.buf;
    let p = this.len;
    b.writeUInt32LE(size, p);
    b[p + 4] = OP_REQ;
    b.writeUInt32LE(writer, p + 5);
    b.writeUInt32LE(seq, p + 9);
    b.writeDoubleLE(time, p + 13);
    b.writeUInt16LE(queries.length, p + 21);
    p += 23;
    for (const q of queries) {
      b.writeDoubleLE(q.size, p);
      b.writeDoubleLE(q.rate, p + 8);
      b.writeDoubleLE(q.burst, p + 16);
      b.writeDoubleLE(q.delay, p + 24);
      p += 32;
      let n = b.write(q.zone, p + 4, 'utf8');
      b.writeUInt32LE(n, p);
      p += 4 + n;
      n = b.write(q.key, p + 4, 'utf8');
      b.writeUInt32LE(n, p);
      p += 4 + n;
    }
    this.len = p;
  }

  control(op: typeof OP_SWITCH | typeof OP_HEADER, ...words: number[]): void {
    const size = 5 + 4 * words.length;
    this.room(size);
    this.buf.writeUInt32LE(size, this.len);
    this.buf[this.len + 4] = op;
    words.forEach((w, i) => this.buf.writeUInt32LE(w, this.len + 5 + 4 * i));
    this.len += size;
  }

  /** Appends everything to `fd` and empties the buffer. */
  appendTo(fd: number): void {
    const n = writeSync(fd, this.buf, 0, this.len);
    if (n !== this.len) throw new Error(`zone log: short write (${n} of ${this.len} bytes)`);
    this.len = 0;
  }
}

/** One process's copy of the zones, kept by applying the log's records in order. */
export class ZoneReplica {
  readonly store = new ZoneStore();
  private buf = Buffer.allocUnsafe(64 * 1024);
  /** This process's own REQ records, as they are decided. */
  onOwn: (seq: number, d: LimitReqDecision) => void = () => {};
  /** Moved to another segment. */
  onSwitch: (seg: number) => void = () => {};

  constructor(
    readonly fds: readonly number[],
    public pos: LogPosition,
    /** This process's writer id (its own records are reported to onOwn). */
    readonly writer = 0,
  ) {}

  /** Applies every complete record after the position (a record still being written waits for the next call). */
  replay(): void {
    for (;;) {
      const b = this.buf;
      const n = readSync(this.fds[this.pos.seg]!, b, 0, b.length, this.pos.offset);
      let p = 0;
      let again = false;
      while (p + 4 <= n) {
        const len = b.readUInt32LE(p);
        if (len < 5 || len > MAX_RECORD) throw new Error(`zone log: bad record at ${this.pos.seg}:${this.pos.offset + p}`);
        if (p + len > n) {
          // Larger than what is left of the buffer: read again from it (with a larger buffer if need be).
          if (len > b.length) this.buf = Buffer.allocUnsafe(len);
          again = p > 0 || len > b.length;
          break;
        }
        const op = b[p + 4];
        if (op === OP_SWITCH) {
          this.pos = { seg: b.readUInt32LE(p + 5), gen: b.readUInt32LE(p + 9), offset: 0 };
          this.onSwitch(this.pos.seg);
          p = -1;
          break;
        }
        if (op === OP_HEADER) {
          if (b.readUInt32LE(p + 5) !== this.pos.gen) throw new Error(`zone log: segment ${this.pos.seg} is not generation ${this.pos.gen}`);
        } else if (op === OP_REQ) this.apply(b, p);
        p += len;
      }
      if (p < 0) continue; // switched: read the new segment from its start
      this.pos.offset += p;
      if (!again && n < b.length) return;
    }
  }

  private apply(b: Buffer, at: number): void {
    const writer = b.readUInt32LE(at + 5);
    const seq = b.readUInt32LE(at + 9);
    const time = b.readDoubleLE(at + 13);
    const n = b.readUInt16LE(at + 21);
    const steps = this.steps;
    while (steps.length < n) steps.push({ zone: '', table: undefined!, key: '', burst: 0, delay: 0 });
    steps.length = n;
    let p = at + 23;
    for (let i = 0; i < n; i++) {
      const step = steps[i]!;
      const size = b.readDoubleLE(p);
      const rate = b.readDoubleLE(p + 8);
      step.burst = b.readDoubleLE(p + 16);
      step.delay = b.readDoubleLE(p + 24);
      p += 32;
      const zl = b.readUInt32LE(p);
      step.zone = this.zones.get(b, p + 4, p + 4 + zl);
      p += 4 + zl;
      const kl = b.readUInt32LE(p);
      step.key = this.keys.get(b, p + 4, p + 4 + kl);
      p += 4 + kl;
      step.table = this.table(step.zone, size, rate);
    }
    const d = limitReqDecide(steps, time);
    if (writer === this.writer) this.onOwn(seq, d);
  }

  /** The zone's table: the last one found is kept, records mostly name the same zone. */
  private table(zone: string, size: number, rate: number): LimitReqTable {
    const last = this.lastTable;
    if (last && last.zone === zone && last.size === size) {
      last.table.rate = rate; // the writer's configuration's rate, as reqTable sets it
      return last.table;
    }
    const table = this.store.reqTable(zone, size, rate);
    this.lastTable = { zone, size, table };
    return table;
  }

  private lastTable?: { zone: string; size: number; table: LimitReqTable };

  /** Reused for every record: replaying allocates as little as it can (every worker replays every record). */
  private readonly steps: LimitReqStep[] = [];
  private readonly zones = new LastString();
  private readonly keys = new LastString();
}

/** Bytes as a string, the last one remembered: a log's records mostly repeat the zone, often the key. */
class LastString {
  private bytes = Buffer.alloc(256);
  private len = -1;
  private str = '';

  get(b: Buffer, start: number, end: number): string {
    const n = end - start;
    if (n === this.len) {
      let i = 0;
      while (i < n && b[start + i] === this.bytes[i]) i++;
      if (i === n) return this.str;
    }
    this.str = b.toString('utf8', start, end);
    if (n <= this.bytes.length) {
      b.copy(this.bytes, 0, start, end);
      this.len = n;
    } else this.len = -1;
    return this.str;
  }
}

/**
 * The master's side: opens the segments, answers starting workers with a snapshot and turns the
 * segments over. When `open()` fails (no writable /dev/shm or temporary directory) the workers ask
 * the master over IPC.
 */
export class ZoneLogKeeper {
  readonly fds: number[] = [];
  private replica?: ZoneReplica;
  /** The segment each worker last said it reads (a segment in this map is never emptied). */
  private readonly at = new Map<number, number>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: { dir?: string; rotateBytes?: number; onError?: (err: Error) => void } = {}) {}

  /** Creates the segments (in /dev/shm, else the temporary directory); the error if neither works. */
  open(): Error | undefined {
    let failure: Error | undefined;
    for (const dir of this.opts.dir ? [this.opts.dir] : ['/dev/shm', tmpdir()]) {
      try {
        for (let i = 0; i < SEGMENTS; i++) {
          const file = path.join(dir, `bext-zones-${process.pid}-${i}`);
          // Unlinked at once: nothing to clean up, and only the processes given the fd can reach it.
          const fd = openSync(file, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL, 0o600);
          unlinkSync(file);
          this.fds.push(fd);
        }
        const first = new RecordBuffer();
        first.control(OP_HEADER, 1);
        first.appendTo(this.fds[0]!);
        this.replica = new ZoneReplica(this.fds, { seg: 0, gen: 1, offset: 0 });
        return undefined;
      } catch (err) {
        this.close();
        failure = err as Error;
      }
    }
    return failure;
  }

  close(): void {
    clearInterval(this.timer);
    for (const fd of this.fds) closeSync(fd);
    this.fds.length = 0;
    this.replica = undefined;
  }

  /** cluster.setupPrimary's stdio for workers that share the log, and the env that tells them. */
  workerStdio(): (string | number)[] {
    return ['inherit', 'inherit', 'inherit', 'ipc', ...this.fds];
  }

  workerEnv(): Record<string, string> {
    return this.fds.length ? { [ZONE_LOG_ENV]: this.fds.map((_, i) => FIRST_FD + i).join(',') } : {};
  }

  /** Serves every worker of the cluster: forks after this inherit the segments (see workerEnv). */
  attach(): void {
    if (this.fds.length === 0) return;
    cluster.setupPrimary({ stdio: this.workerStdio() });
    cluster.on('message', (worker, msg) => {
      // A dead worker's last message can arrive after its 'exit': it must not pin a segment.
      if (isZoneLogMessage(msg) && !worker.isDead()) this.handle(worker.id, msg, (m) => worker.send(m));
    });
    cluster.on('exit', (worker) => this.workerGone(worker.id));
    this.timer = setInterval(() => {
      try {
        this.tick();
      } catch (err) {
        this.fail(err as Error);
      }
    }, KEEPER_TICK_MS);
    this.timer.unref();
  }

  handle(worker: number, msg: ZoneLogMessage, reply: (m: ZoneLogMessage) => void): void {
    if (msg.op === 'at') this.at.set(worker, msg.seg);
    else if (msg.op === 'snapshot') {
      try {
        if (!this.replica || this.failed) throw new Error('the zone log is not kept');
        this.replica.replay();
        this.at.set(worker, this.replica.pos.seg);
        reply({ type: ZONE_LOG_MESSAGE, op: 'state', pos: { ...this.replica.pos }, zones: this.replica.store.exportReq() });
      } catch (err) {
        this.fail(err as Error);
        reply({ type: ZONE_LOG_MESSAGE, op: 'unavailable' });
      }
    }
  }

  private failed = false;

  /**
   * The master's replica is broken (it should never be): the running workers go on with the segment
   * they are in, which then only grows, and starting workers ask the master for limit_req.
   */
  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    clearInterval(this.timer);
    this.opts.onError?.(new Error(`limit_req zones: ${err.message}; the zone log is no longer turned over`));
  }

  workerGone(worker: number): void {
    this.at.delete(worker);
  }

  /** Catches up, then turns the segments over when the current one is big and the next one is free. */
  tick(): void {
    const r = this.replica;
    if (!r) return;
    r.replay();
    const cur = r.pos.seg;
    if (fstatSync(this.fds[cur]!).size < (this.opts.rotateBytes ?? ROTATE_BYTES)) return;
    const next = (cur + 1) % SEGMENTS;
    for (const seg of this.at.values()) if (seg === next) return; // a slow reader: try again later
    const gen = r.pos.gen + 1;
    ftruncateSync(this.fds[next]!, 0);
    const rec = new RecordBuffer();
    rec.control(OP_HEADER, gen);
    rec.appendTo(this.fds[next]!);
    rec.control(OP_SWITCH, next, gen);
    rec.appendTo(this.fds[cur]!);
  }
}

/** How a worker reaches the master for its snapshot. */
export type ZoneLogChannel = WorkerChannel<ZoneLogMessage>;

interface Asked {
  queries: readonly LimitReqQuery[];
  resolve: (d: LimitReqDecision | Promise<LimitReqDecision>) => void;
}

/**
 * A worker's side. A request's limit_req queries are appended as one record, then the log is read up
 * to it: the decision is made here and now, no other process wakes. limit_conn and
 * stub_status go to `master`. Should the log ever fail (it should not), the error is logged and
 * limit_req goes to `master` as well from then on.
 */
export class LogZoneClient implements ZoneClient {
  private replica?: ZoneReplica;
  private seq = 0;
  /** Asked before the snapshot came. */
  private queue: Asked[] = [];
  /** The decision of this process's latest record, once the log reached it. */
  private decided?: LimitReqDecision;
  /** Decided since the last idle tick (then the log was read anyway). */
  private active = false;
  private failed = false;
  private readonly rec = new RecordBuffer();
  private snapshotTimer?: NodeJS.Timeout;
  private readonly idleTimer: NodeJS.Timeout;

  constructor(
    private readonly fds: readonly number[],
    /** Unique among the master's workers (cluster worker id; 0 is the master's own replica). */
    private readonly writer: number,
    private readonly master: ZoneClient,
    private readonly channel: ZoneLogChannel = processChannel(),
    private readonly onError: (err: Error) => void = () => {},
    /** The zones' clock in ms; the record carries its reading to every replica. */
    private readonly clock: () => number = Date.now,
  ) {
    channel.onMessage((msg) => {
      if (!isZoneLogMessage(msg)) return;
      if (msg.op === 'state') this.begin(msg.pos, msg.zones);
      else if (msg.op === 'unavailable') this.fail(new Error('the master keeps no zone log'));
    });
    this.snapshotTimer = setTimeout(() => this.fail(new Error('the master sent no limit_req zones')), SNAPSHOT_TIMEOUT_MS);
    this.snapshotTimer.unref();
    channel.send({ type: ZONE_LOG_MESSAGE, op: 'snapshot' });
    // An idle worker still reads the log now and then: it must not keep the master from reusing a segment.
    this.idleTimer = setInterval(() => this.catchUp(), KEEPER_TICK_MS);
    this.idleTimer.unref();
  }

  private begin(pos: LogPosition, zones: ReqZoneDump[]): void {
    if (this.replica || this.failed) return;
    clearTimeout(this.snapshotTimer);
    const r = new ZoneReplica(this.fds, pos, this.writer);
    r.store.importReq(zones);
    r.onOwn = (seq, d) => {
      if (seq === this.seq) this.decided = d;
    };
    r.onSwitch = (seg) => this.channel.send({ type: ZONE_LOG_MESSAGE, op: 'at', seg });
    this.replica = r;
    const asked = this.queue;
    this.queue = [];
    for (const a of asked) a.resolve(this.decide(a.queries));
  }

  limitReq(queries: readonly LimitReqQuery[]): LimitReqDecision | Promise<LimitReqDecision> {
    if (this.failed) return this.master.limitReq(queries);
    if (!this.replica) return new Promise<LimitReqDecision>((resolve) => this.queue.push({ queries, resolve }));
    return this.decide(queries);
  }

  /**
   * Appends the request's record and reads the log up to it. One write and one read per request:
   * batching a turn's requests saves syscalls under full load, but the wait for the end of the turn
   * and the promise cost more at ordinary load.
   */
  private decide(queries: readonly LimitReqQuery[]): LimitReqDecision | Promise<LimitReqDecision> {
    const r = this.replica!;
    this.active = true;
    try {
      for (let round = 0; round < SEGMENTS; round++) {
        this.seq = (this.seq + 1) >>> 0;
        this.rec.req(this.writer, this.seq, this.clock(), queries);
        this.rec.appendTo(this.fds[r.pos.seg]!);
        this.decided = undefined;
        r.replay();
        // Not seen: appended after a SWITCH, so it counts for nothing; append it to the new segment.
        if (this.decided) return this.decided;
      }
      throw new Error('a record appended to the zone log was not found in it');
    } catch (err) {
      this.fail(err as Error);
      return this.master.limitReq(queries);
    }
  }

  private catchUp(): void {
    if (!this.active && this.replica && !this.failed) {
      try {
        this.replica.replay();
      } catch (err) {
        this.fail(err as Error);
      }
    }
    this.active = false;
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    clearTimeout(this.snapshotTimer);
    clearInterval(this.idleTimer);
    this.onError(new Error(`limit_req zones: ${err.message}; this worker now asks the master for every decision`));
    const asked = this.queue;
    this.queue = [];
    for (const a of asked) a.resolve(this.master.limitReq(a.queries));
  }

  limitConn(queries: readonly LimitConnQuery[]): Promise<LimitConnOutcome> {
    return this.master.limitConn(queries);
  }

  stubStatus(): Promise<StatusNumbers> {
    return this.master.stubStatus();
  }
}

/** The fds a worker was given for the log (from ZONE_LOG_ENV), or undefined. */
export function zoneLogFds(env: NodeJS.ProcessEnv = process.env): number[] | undefined {
  const v = env[ZONE_LOG_ENV];
  if (!v) return undefined;
  const fds = v.split(',').map(Number);
  return fds.length === SEGMENTS && fds.every((fd) => Number.isInteger(fd) && fd > 2) ? fds : undefined;
}
