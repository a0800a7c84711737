// The master/worker zone protocol without processes: two IpcZoneClients and a ZoneRegistry joined
// by in-memory channels (messages pass through JSON, as over the cluster IPC pipe).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZoneRegistry, IpcZoneClient, type ZoneReply, type ZoneRequest, type ZoneWorker } from '../../src/server/zones.ts';
import { ZoneStore, LocalZoneClient, type LimitConnQuery, type LimitReqQuery } from '../../src/http/limit-zones.ts';
import { LimitConnTable, limitConnAcquire, limitConnRelease } from '../../src/http/limit-conn.ts';
import { StubStatusCounters, formatStubStatus, sumSnapshots } from '../../src/http/stub-status.ts';

function cluster(now: () => number) {
  const sent: ZoneRequest[] = [];
  const workers: (ZoneWorker & { client: IpcZoneClient; counters: StubStatusCounters })[] = [];
  const registry = new ZoneRegistry(new ZoneStore(now), () => workers);
  for (let id = 1; id <= 2; id++) {
    const listeners: ((m: unknown) => void)[] = [];
    const counters = new StubStatusCounters();
    const worker = {
      id,
      send: (msg: ZoneReply) => setImmediate(() => listeners.forEach((l) => l(JSON.parse(JSON.stringify(msg))))),
    } as ZoneWorker & { client: IpcZoneClient; counters: StubStatusCounters };
    worker.counters = counters;
    worker.client = new IpcZoneClient(counters, {
      send: (msg: ZoneRequest) => {
        sent.push(msg);
        setImmediate(() => registry.handle(worker, JSON.parse(JSON.stringify(msg))));
      },
      onMessage: (l) => listeners.push(l),
    });
    workers.push(worker);
  }
  return { registry, workers, sent };
}

const req: LimitReqQuery = { zone: 'one', size: 1 << 20, rate: 1000, key: '10.0.0.1', burst: 1, delay: 1e12 };
const conn: LimitConnQuery = { zone: 'addr', size: 1 << 20, key: '10.0.0.1', conn: 1 };

test('limit_req counts the same whichever worker asks', async () => {
  const { workers: [a, b] } = cluster(() => 1_000_000);
  assert.equal((await a!.client.limitReq([req])).kind, 'pass');
  assert.equal((await b!.client.limitReq([req])).kind, 'pass');
  const third = await a!.client.limitReq([req]);
  assert.deepEqual(third, { kind: 'reject', excess: 2000, zone: 'one' });
});

test('queries raised in one event-loop turn go in one message and are decided in order', async () => {
  const { workers: [a], sent } = cluster(() => 1_000_000);
  const decisions = await Promise.all([a!.client.limitReq([req]), a!.client.limitReq([req]), a!.client.limitReq([req])]);
  assert.deepEqual(decisions.map((d) => d.kind), ['pass', 'pass', 'reject']);
  assert.equal(sent.filter((m) => m.op === 'batch').length, 1);
  // Acquire, release and acquire again in one turn: the release goes between them.
  const first = await a!.client.limitConn([conn]);
  assert.equal(first.kind, 'pass');
  const refused = a!.client.limitConn([conn]);
  if (first.kind === 'pass') first.release();
  const again = a!.client.limitConn([conn]);
  assert.deepEqual(await refused, { kind: 'reject', zone: 'addr', full: false });
  assert.equal((await again).kind, 'pass');
  assert.equal(sent.filter((m) => m.op === 'batch').length, 3);
  // Several limits and an empty key travel and come back as nginx decides them.
  const two = [{ ...req, zone: 'two', key: '' }, { ...req, zone: 'three', burst: 0, delay: 0, rate: 500 }];
  assert.deepEqual(await a!.client.limitReq(two), { kind: 'pass', excess: 0, zone: 'three' });
  assert.deepEqual(await a!.client.limitReq(two), { kind: 'reject', excess: 1000, zone: 'three' });
  assert.deepEqual(await a!.client.limitReq([{ ...req, key: '' }]), { kind: 'declined' });
  const delayed = { ...req, zone: 'four', burst: 2, delay: 0 };
  assert.equal((await a!.client.limitReq([delayed])).kind, 'pass');
  assert.deepEqual(await a!.client.limitReq([delayed]), { kind: 'delay', ms: 1000, excess: 1000, zone: 'four' });
});

test('limit_conn holds are shared, released by the holder, and dropped when a worker exits', async () => {
  const { registry, workers: [a, b] } = cluster(() => 0);
  const first = await a!.client.limitConn([conn]);
  assert.equal(first.kind, 'pass');
  assert.deepEqual(await b!.client.limitConn([conn]), { kind: 'reject', zone: 'addr', full: false });
  if (first.kind === 'pass') first.release();
  await new Promise((r) => setImmediate(r));
  const second = await b!.client.limitConn([conn]);
  assert.equal(second.kind, 'pass');
  registry.workerGone(b!.id);
  assert.equal((await a!.client.limitConn([conn])).kind, 'pass');
});

test('stub_status totals add every worker, and keep the counts of workers gone', async () => {
  const { registry, workers } = cluster(() => 0);
  const [a, b] = workers;
  const fake = (c: StubStatusCounters, accepts: number, requests: number) => {
    const s = c as unknown as { s: Record<string, number> };
    s.s = { accepts, handled: accepts, requests, active: 1, reading: 0, writing: 1 };
  };
  fake(a!.counters, 3, 7);
  fake(b!.counters, 2, 5);
  assert.deepEqual(await a!.client.stubStatus(), { accepts: 5, handled: 5, requests: 12, active: 2, reading: 0, writing: 2, waiting: 0 });
  // b exits: cluster.workers no longer lists it, its cumulative counts stay in the totals.
  workers.splice(1, 1);
  registry.workerGone(b!.id);
  fake(a!.counters, 4, 9);
  assert.deepEqual(await a!.client.stubStatus(), { accepts: 6, handled: 6, requests: 14, active: 1, reading: 0, writing: 1, waiting: 0 });
});

test('limit_conn tables: a key at its limit refuses and frees what this request took', () => {
  const a = new LimitConnTable(100);
  const b = new LimitConnTable(100);
  const steps = [{ zone: 'a', table: a, key: 'k', conn: 2 }, { zone: 'b', table: b, key: 'k', conn: 1 }];
  const one = limitConnAcquire(steps);
  assert.equal(one.kind, 'pass');
  assert.deepEqual(limitConnAcquire(steps), { kind: 'reject', zone: 'b', full: false });
  assert.equal(a.counts.get('k'), 1);
  if (one.kind === 'pass') limitConnRelease(one.held);
  assert.equal(a.counts.size + b.counts.size, 0);
  const tiny = new LimitConnTable(1);
  limitConnAcquire([{ zone: 't', table: tiny, key: 'x', conn: 5 }]);
  assert.deepEqual(limitConnAcquire([{ zone: 't', table: tiny, key: 'y', conn: 5 }]), { kind: 'reject', zone: 't', full: true });
});

test('the local client releases once, and reports its own counters', async () => {
  const c = new LocalZoneClient();
  const p = await c.limitConn([conn]);
  assert.equal(p.kind, 'pass');
  assert.equal((await c.limitConn([conn])).kind, 'reject');
  if (p.kind === 'pass') { p.release(); p.release(); }
  assert.equal((await c.limitConn([conn])).kind, 'pass');
  assert.equal((await c.limitConn([{ ...conn, conn: 2 }])).kind, 'pass');
  assert.deepEqual(await c.stubStatus(), { active: 0, accepts: 0, handled: 0, requests: 0, reading: 0, writing: 0, waiting: 0 });
});

test('stub_status text is nginx\'s template, trailing spaces included', () => {
  const text = formatStubStatus(sumSnapshots([{ accepts: 10, handled: 10, requests: 25, active: 3, reading: 1, writing: 1 }]));
  assert.equal(text, 'Active connections: 3 \nserver accepts handled requests\n 10 10 25 \nReading: 1 Writing: 1 Waiting: 1 \n');
});
