// The shared limit_req log without processes: a ZoneLogKeeper (the master's side) and LogZoneClients
// (the workers' side) in one process, on the keeper's real files, joined by in-memory channels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import { ZoneStore, type LimitReqQuery } from '../../src/http/limit-zones.ts';
import { milliRate, NODELAY, type LimitReqDecision } from '../../src/http/limit-req.ts';
import { ZoneLogKeeper, isZoneLogMessage, SEGMENTS } from '../../src/server/zone-log.ts';
import { zoneLogRig as rig } from './harness.ts';

/** 1r/m, burst 3, nodelay: four requests pass for a key, then every one is refused. */
const q = (key = 'k', burst = 3): LimitReqQuery[] => [{ zone: 'one', size: 1 << 20, rate: milliRate(1 / 60), key, burst, delay: NODELAY }];

const kinds = async (ds: (LimitReqDecision | Promise<LimitReqDecision>)[]) => (await Promise.all(ds)).map((d) => d.kind);

test('workers take turns on one key and are limited as one nginx: 1 + burst pass, whoever asks', async () => {
  const r = rig();
  try {
    const a = await r.worker(1);
    const b = await r.worker(2);
    const ds = [];
    for (let i = 0; i < 8; i++) ds.push((i % 2 ? b : a).limitReq(q()));
    // A worker decides at once (no promise): the log is read synchronously.
    assert.ok(!(ds[0] instanceof Promise));
    assert.deepEqual(await kinds(ds), ['pass', 'pass', 'pass', 'pass', 'reject', 'reject', 'reject', 'reject']);
    // Other keys are their own buckets.
    assert.equal((await a.limitReq(q('other'))).kind, 'pass');
    // The excess nginx reports: the fourth request of a 1r/m key is 3 requests over the rate.
    const c = await r.worker(3);
    const d = await c.limitReq(q('third', 5));
    assert.deepEqual(d, { kind: 'pass', excess: 0, zone: 'one' });
  } finally {
    r.close();
  }
});

test('the same sequence decides the same as one ZoneStore (mixed keys, bursts and delays)', async () => {
  const r = rig();
  try {
    let now = 1_000_000;
    const clock = () => now;
    const ws = [await r.worker(1, undefined, undefined, clock), await r.worker(2, undefined, undefined, clock), await r.worker(3, undefined, undefined, clock)];
    const ref = new ZoneStore(clock);
    const got: string[] = [];
    const want: string[] = [];
    for (let i = 0; i < 200; i++) {
      const queries: LimitReqQuery[] = [
        { zone: 'a', size: 1 << 20, rate: 2000, key: `k${i % 7}`, burst: 4, delay: 2 },
        { zone: 'b', size: 1 << 20, rate: 500, key: i % 3 ? 'x' : '', burst: 9, delay: 0 },
      ];
      now += (i * 37) % 400; // 0 to 399 ms apart
      got.push(JSON.stringify(await ws[i % 3]!.limitReq(queries)));
      want.push(JSON.stringify(ref.limitReq(queries)));
    }
    assert.deepEqual(got, want);
    // The sequence exercises every outcome.
    for (const kind of ['pass', 'delay', 'reject']) assert.ok(got.some((g) => g.includes(`"kind":"${kind}"`)), kind);
  } finally {
    r.close();
  }
});

test('a worker joining later starts from the master\'s snapshot', async () => {
  const r = rig();
  try {
    const a = await r.worker(1);
    for (let i = 0; i < 4; i++) assert.equal((await a.limitReq(q('busy'))).kind, 'pass');
    const late = await r.worker(2);
    assert.equal((await late.limitReq(q('busy'))).kind, 'reject');
    assert.equal((await late.limitReq(q('fresh'))).kind, 'pass');
  } finally {
    r.close();
  }
});

test('segments turn over: records appended after a SWITCH are appended again, no decision is lost or doubled', async () => {
  const r = rig(256); // a few records per segment
  try {
    const a = await r.worker(1);
    const b = await r.worker(2);
    const results: string[] = [];
    for (let i = 0; i < 120; i++) {
      results.push((await (i % 2 ? b : a).limitReq(q('k', 50))).kind);
      // The keeper turns the segments over between requests: a worker that has not read the SWITCH
      // yet appends behind it and must append again in the new segment.
      if (i % 5 === 0) r.keeper.tick();
    }
    assert.deepEqual(results, [...Array(51).fill('pass'), ...Array(69).fill('reject')]);
    // A worker joining now agrees with them.
    const c = await r.worker(3);
    assert.equal((await c.limitReq(q('k', 50))).kind, 'reject');
    assert.equal((await c.limitReq(q('k2', 50))).kind, 'pass');
  } finally {
    r.close();
  }
});

test('a segment a worker still reads is not emptied: the turnover waits for it', async () => {
  const r = rig(64);
  try {
    const a = await r.worker(1);
    const slow = await r.worker(2); // reads segment 0 and then stays idle
    for (let turn = 0; turn < SEGMENTS + 2; turn++) {
      await a.limitReq(q(`k${turn}`));
      r.keeper.tick();
    }
    // The keeper went 0 → 1 → 2 and stopped there: segment 0 is still `slow`'s.
    assert.equal((await slow.limitReq(q('k0'))).kind, 'pass'); // catches up through every segment
    assert.equal((await slow.limitReq(q('k0'))).kind, 'pass');
    assert.equal((await slow.limitReq(q('k0'))).kind, 'pass');
    assert.equal((await slow.limitReq(q('k0'))).kind, 'reject'); // k0: a's one + three here
  } finally {
    r.close();
  }
});

test('a log that fails is reported once and the worker asks the master from then on', async () => {
  const r = rig();
  try {
    const errors: Error[] = [];
    // fds that are not open: the first append fails.
    const a = await r.worker(1, (e) => errors.push(e), [999_997, 999_998, 999_999]);
    const d = await a.limitReq(q());
    assert.equal(d.kind, 'pass'); // the master's (here: a LocalZoneClient's) decision
    assert.equal((await a.limitReq(q())).kind, 'pass');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /^limit_req zones: .*EBADF.*; this worker now asks the master for every decision$/);
  } finally {
    r.close();
  }
});

test('a damaged log: each side says so once, and the workers ask the master from then on', async () => {
  const keeperErrors: Error[] = [];
  const workerErrors: Error[] = [];
  const r = rig(undefined, (e) => keeperErrors.push(e));
  try {
    const a = await r.worker(1, (e) => workerErrors.push(e));
    writeSync(r.keeper.fds[0]!, Buffer.from([2, 0, 0, 0, 1])); // a record 2 bytes long
    assert.equal((await a.limitReq(q())).kind, 'pass'); // decided by the master (here a LocalZoneClient)
    assert.match(workerErrors[0]!.message, /^limit_req zones: zone log: bad record at 0:\d+; this worker now asks the master/);
    // A worker starting now is told at once that there is no log to join.
    const late = await r.worker(2, (e) => workerErrors.push(e));
    assert.equal((await late.limitReq(q())).kind, 'pass');
    assert.match(workerErrors[1]!.message, /the master keeps no zone log/);
    assert.equal(workerErrors.length, 2);
    assert.equal(keeperErrors.length, 1);
    assert.match(keeperErrors[0]!.message, /^limit_req zones: zone log: bad record .*; the zone log is no longer turned over$/);
  } finally {
    r.close();
  }
});

test('a directory the log cannot be made in: open() says why, and no fds are handed to workers', () => {
  const keeper = new ZoneLogKeeper({ dir: '/nonexistent/bext' });
  assert.match(String(keeper.open()?.message), /ENOENT/);
  assert.deepEqual(keeper.workerEnv(), {});
  assert.equal(keeper.fds.length, 0);
});

test('only the keeper\'s own messages are its business', () => {
  assert.ok(isZoneLogMessage({ type: 'bext-zone-log', op: 'at', seg: 1 }));
  assert.ok(!isZoneLogMessage({ type: 'bext-zones', op: 'batch', b: [] }));
  assert.ok(!isZoneLogMessage(null));
});
