import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LimitReqTable, limitReqDecide, formatExcess, milliRate, NODELAY, type LimitReqStep } from '../../src/http/limit-req.ts';
import { ZoneStore } from '../../src/http/limit-zones.ts';

/** A realistic clock: nodes made by a non-last limit start at time 0, long ago. */
const T = 1_700_000_000_000;

const step = (table: LimitReqTable, over: Partial<LimitReqStep> = {}): LimitReqStep =>
  ({ zone: 'one', table, key: '127.0.0.1', burst: 0, delay: 0, ...over });

test('rate 1r/s, no burst: the second request in the same second is refused with excess 1.000', () => {
  const t = new LimitReqTable(1000, 100);
  assert.deepEqual(limitReqDecide([step(t)], 10_000), { kind: 'pass', excess: 0, zone: 'one' });
  assert.deepEqual(limitReqDecide([step(t)], 10_000), { kind: 'reject', excess: 1000, zone: 'one' });
  // 500 ms later half a request has leaked: 0 - 500 + 1000 = 500 > burst 0.
  assert.deepEqual(limitReqDecide([step(t)], 10_500), { kind: 'reject', excess: 500, zone: 'one' });
  assert.deepEqual(limitReqDecide([step(t)], 11_000), { kind: 'pass', excess: 0, zone: 'one' });
});

test('burst with nodelay: burst+1 pass at once, then excess grows by one request each', () => {
  const t = new LimitReqTable(1000, 100);
  const s = step(t, { burst: 2, delay: NODELAY });
  const kinds = [0, 1, 2, 3, 4].map(() => limitReqDecide([s], 5000));
  assert.deepEqual(kinds.map((d) => d.kind), ['pass', 'pass', 'pass', 'reject', 'reject']);
  assert.deepEqual(kinds.map((d) => (d as { excess: number }).excess), [0, 1000, 2000, 3000, 3000]);
});

test('burst without nodelay: excess over delay=0 is waited out at the zone rate', () => {
  const t = new LimitReqTable(2000, 100); // 2r/s
  const s = step(t, { burst: 2 });
  assert.deepEqual(limitReqDecide([s], 0), { kind: 'pass', excess: 0, zone: 'one' });
  assert.deepEqual(limitReqDecide([s], 0), { kind: 'delay', ms: 500, excess: 1000, zone: 'one' });
  // 10 ms later 20 milli-requests leaked: excess 1980 → 990 ms.
  assert.deepEqual(limitReqDecide([s], 10), { kind: 'delay', ms: 990, excess: 1980, zone: 'one' });
  assert.equal(limitReqDecide([s], 10).kind, 'reject');
});

test('delay=N passes N excess requests at once and delays the rest', () => {
  const t = new LimitReqTable(1000, 100);
  const s = step(t, { burst: 3, delay: 1 });
  const d = [0, 1, 2, 3, 4].map(() => limitReqDecide([s], 0));
  assert.deepEqual(d.map((x) => x.kind), ['pass', 'pass', 'delay', 'delay', 'reject']);
  assert.equal((d[2] as { ms: number }).ms, 1000);
  assert.equal((d[3] as { ms: number }).ms, 2000);
});

test('r/m rates truncate like nginx and leak in integer milli-requests', () => {
  assert.equal(milliRate(30 / 60), 500);
  assert.equal(milliRate(1 / 60), 16);
  assert.equal(milliRate(7 / 60), 116);
  const t = new LimitReqTable(16, 100);
  assert.equal(limitReqDecide([step(t)], 0).kind, 'pass');
  // 62 ms leak 0 (16*62/1000 < 1); 63 ms leak 1.
  assert.deepEqual(limitReqDecide([step(t)], 62), { kind: 'reject', excess: 1000, zone: 'one' });
  assert.deepEqual(limitReqDecide([step(t)], 63), { kind: 'reject', excess: 999, zone: 'one' });
  assert.equal(formatExcess(999), '0.999');
  assert.equal(formatExcess(2000), '2.000');
  assert.equal(formatExcess(12345), '12.345');
});

test('a clock that steps back a little counts as no time; far back as 1 ms', () => {
  const t = new LimitReqTable(1000, 100);
  const s = step(t, { burst: 5, delay: NODELAY });
  limitReqDecide([s], 100_000);
  assert.deepEqual(limitReqDecide([s], 99_000), { kind: 'pass', excess: 1000, zone: 'one' });
  // The last time stays 100 000 (ms was 0); 70 s back → ms = 1 → leak 1.
  assert.deepEqual(limitReqDecide([s], 30_000), { kind: 'pass', excess: 1999, zone: 'one' });
});

test('several limits: all are looked up, the last accounts, the longest delay wins', () => {
  const a = new LimitReqTable(1000, 100);
  const b = new LimitReqTable(10_000, 100);
  const steps = [step(a, { zone: 'a', burst: 5 }), step(b, { zone: 'b', burst: 5, key: 'srv' })];
  assert.deepEqual(limitReqDecide(steps, T), { kind: 'pass', excess: 0, zone: 'b' });
  // a: excess 1000 at 1 r/s = 1000 ms; b: 1000 at 10 r/s = 100 ms.
  assert.deepEqual(limitReqDecide(steps, T), { kind: 'delay', ms: 1000, excess: 1000, zone: 'a' });
  assert.equal(a.buckets.get('127.0.0.1')!.count, 0);
  // A refusal by the last limit releases the first's hold without accounting it.
  const full = [step(a, { zone: 'a', burst: 5 }), step(b, { zone: 'b', burst: 0, key: 'srv' })];
  assert.equal(limitReqDecide(full, T).kind, 'reject');
  assert.equal(a.buckets.get('127.0.0.1')!.count, 0);
  assert.equal(a.buckets.get('127.0.0.1')!.excess, 1000);
});

test('empty keys are skipped; when only the last has one the request is not limited', () => {
  const t = new LimitReqTable(1000, 100);
  assert.deepEqual(limitReqDecide([step(t, { key: '' })], T), { kind: 'declined' });
  // The last limit has an empty key: nobody accounts in lookup, the first is accounted afterwards.
  const u = new LimitReqTable(1000, 100);
  const steps = [step(t, { zone: 'a' }), step(u, { zone: 'b', key: '' })];
  assert.equal(limitReqDecide(steps, T).kind, 'pass');
  assert.equal(t.buckets.get('127.0.0.1')!.last, T);
  assert.equal(limitReqDecide(steps, T).kind, 'reject');
});

test('a full zone forgets its oldest idle key; old idle keys are swept on insert', () => {
  const t = new LimitReqTable(1000, 2);
  limitReqDecide([step(t, { key: 'a' })], 0);
  limitReqDecide([step(t, { key: 'b' })], 0);
  limitReqDecide([step(t, { key: 'c' })], 0);
  assert.deepEqual([...t.buckets.keys()], ['b', 'c']);
  const big = new LimitReqTable(1000, 100);
  limitReqDecide([step(big, { key: 'old' })], 0);
  limitReqDecide([step(big, { key: 'new' })], 61_000);
  assert.deepEqual([...big.buckets.keys()], ['new']);
});

test('zones survive a reload with the same name and size, with the new rate', () => {
  let now = 0;
  const store = new ZoneStore(() => now);
  const q = { zone: 'one', size: 1 << 20, rate: 1000, key: 'k', burst: 0, delay: 0 };
  assert.equal(store.limitReq([q]).kind, 'pass');
  assert.equal(store.limitReq([{ ...q, rate: 500 }]).kind, 'reject');
  assert.equal(store.reqTable('one', 1 << 20, 500).rate, 500);
  // A different size is a new zone: fresh state.
  assert.equal(store.limitReq([{ ...q, size: 2 << 20 }]).kind, 'pass');
  now = 1;
});
