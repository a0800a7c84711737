// Differential: split_clients (MurmurHash2 of the key, parts by share, `*` for the rest), over 200
// keys and two blocks: every key lands where nginx puts it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { haveNginx, makeSite, send, startPair, wrapConfig, type Pair } from './harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  pair = await startPair(wrapConfig(`
  split_clients "\${arg_k}salt" $variant {
    0.5% tiny;
    33.33% a;
    33.33% b;
    * rest;
  }
  split_clients $arg_k $half {
    50% first;
  }
  server {
    listen 127.0.0.1:@P1@;
    location / { return 200 "$variant $half\\n"; }
  }`), makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
});

test('split_clients puts 200 keys where nginx does', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const p = pair!;
  const get = async (port: number, k: string) => (await send(port, `GET /?k=${k} HTTP/1.0\r\nHost: x\r\n\r\n`)).body.toString('latin1');
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const k = `user${i}${'x'.repeat(i % 5)}`;
    const [n, b] = [await get(p.nginx.ports.P1!, k), await get(p.bext.ports.P1!, k)];
    assert.equal(b, n, k);
    seen.add(n.trim());
  }
  // Every part was chosen for some key, and the 50% block left some keys without a value.
  for (const v of ['a', 'b', 'rest']) assert.ok([...seen].some((s) => s.startsWith(`${v} `)), v);
  assert.ok([...seen].some((s) => !s.endsWith('first')));
});
