import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, utimesSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addHeaders, expiresHeaders, addHeaderApplies } from '../../src/http/headers.ts';
import { accessAllowed, addressMatches, unmapIPv4 } from '../../src/http/access.ts';
import { newVarContext } from '../../src/http/variables.ts';
import { haveNginx, startNginx, get } from './oracle.ts';

test('addresses and allow/deny order', () => {
  assert.equal(addressMatches('10.0.0.0/8', '10.2.3.4'), true);
  assert.equal(addressMatches('10.0.0.0/8', '11.2.3.4'), false);
  assert.equal(addressMatches('192.168.1.5', '192.168.1.5'), true);
  assert.equal(addressMatches('0.0.0.0/0', '8.8.8.8'), true);
  assert.equal(addressMatches('2001:db8::/32', '2001:db8:1::5'), true);
  assert.equal(addressMatches('2001:db8::/32', '2001:db9::5'), false);
  assert.equal(addressMatches('::1', '::1'), true);
  assert.equal(addressMatches('127.0.0.1', '::ffff:127.0.0.1'), true);
  assert.equal(unmapIPv4('::ffff:1.2.3.4'), '1.2.3.4');
  const rules = [{ allow: true, what: '127.0.0.1' }, { allow: false, what: 'all' }];
  assert.equal(accessAllowed(rules, '127.0.0.1'), true);
  assert.equal(accessAllowed(rules, '10.0.0.1'), false);
  assert.equal(accessAllowed([], '10.0.0.1'), true);
});

test('add_header status rule and empty values', () => {
  const ctx = newVarContext({ uri: '/u' });
  const hs = [{ name: 'A', value: '1', always: false }, { name: 'B', value: '$uri', always: true }, { name: 'C', value: '$nothing', always: true }];
  assert.deepEqual(addHeaders(hs, 200, ctx), [['A', '1'], ['B', '/u']]);
  assert.deepEqual(addHeaders(hs, 404, ctx), [['B', '/u']]);
  assert.equal(addHeaderApplies(304, false), true);
  assert.equal(addHeaderApplies(500, false), false);
});

test('expires values', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  assert.deepEqual(expiresHeaders({ kind: 'time', seconds: 3600, raw: ['1h'] }, 200, now), [['Expires', 'Thu, 01 Jan 2026 13:00:00 GMT'], ['Cache-Control', 'max-age=3600']]);
  assert.deepEqual(expiresHeaders({ kind: 'time', seconds: -1, raw: ['-1'] }, 200, now), [['Expires', 'Thu, 01 Jan 2026 11:59:59 GMT'], ['Cache-Control', 'no-cache']]);
  assert.deepEqual(expiresHeaders({ kind: 'epoch', raw: ['epoch'] }, 200, now), [['Expires', 'Thu, 01 Jan 1970 00:00:01 GMT'], ['Cache-Control', 'no-cache']]);
  assert.deepEqual(expiresHeaders({ kind: 'max', raw: ['max'] }, 200, now), [['Expires', 'Thu, 31 Dec 2037 23:55:55 GMT'], ['Cache-Control', 'max-age=315360000']]);
  assert.deepEqual(expiresHeaders({ kind: 'time', seconds: 3600, raw: ['1h'] }, 404, now), []);
  assert.deepEqual(expiresHeaders({ kind: 'off', raw: ['off'] }, 200, now), []);
});

test('differential: expires headers match real nginx', { skip: !haveNginx }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-exp-'));
  writeFileSync(join(dir, 'f.txt'), 'x');
  utimesSync(join(dir, 'f.txt'), 1700000000, 1700000000);
  const o = await startNginx(`server { listen 127.0.0.1:PORT; server_name localhost; root ${dir};
    location /h/ { alias ${dir}/; expires 1h; }
    location /n/ { alias ${dir}/; expires -1; }
    location /e/ { alias ${dir}/; expires epoch; }
    location /m/ { alias ${dir}/; expires max; }
    location /mod/ { alias ${dir}/; expires modified 1d; } }`);
  try {
    const cases: [string, Parameters<typeof expiresHeaders>[0]][] = [
      ['/h/f.txt', { kind: 'time', seconds: 3600, raw: [] }],
      ['/n/f.txt', { kind: 'time', seconds: -1, raw: [] }],
      ['/e/f.txt', { kind: 'epoch', raw: [] }],
      ['/m/f.txt', { kind: 'max', raw: [] }],
      ['/mod/f.txt', { kind: 'time', seconds: 86400, modified: true, raw: [] }],
    ];
    for (const [path, exp] of cases) {
      const r = await get(o.port, path);
      const now = Date.parse(r.headers['date']!);
      const ours = Object.fromEntries(expiresHeaders(exp, 200, now, 1700000000));
      assert.equal(r.headers['expires'], ours['Expires'], path);
      assert.equal(r.headers['cache-control'], ours['Cache-Control'], path);
    }
  } finally {
    await o.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
