// A reload brings a new RoutingState: balancing state starts afresh and the old state's idle
// keep-alive connections are closed, while the upstreams keep serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEcho, startOurs, send } from './harness.ts';

test('a reload starts upstream state afresh and closes old pools', async () => {
  const [e1, e2] = [await startEcho(), await startEcho()];
  const conf = (extra: string) => `
    upstream two { server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; keepalive 2; }
    server {
      listen 127.0.0.1:PORT;
      ${extra}
      location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://two; }
    }`;
  const ours = await startOurs(conf(''));
  try {
    const get = async () => {
      const h = (await send(ours.port, 'GET', '/x')).headers;
      return { port: Number(h['x-port']), conn: h['x-remote-port'], added: h['x-new'] };
    };
    const [a, b, c] = [await get(), await get(), await get()];
    assert.deepEqual([a.port, b.port, c.port], [e1.port, e2.port, e1.port]);
    assert.equal(c.conn, a.conn, 'keepalive reuses the connection to E1');
    ours.reload(conf('add_header X-New 1;'));
    const r = await get();
    assert.equal(r.added, '1');
    assert.equal(r.port, e1.port, 'round-robin restarts with the new state');
    assert.notEqual(r.conn, a.conn, 'a new pool, a new connection');
    assert.equal(Number((await send(ours.port, 'GET', '/x')).headers['x-port']), e2.port);
  } finally {
    await ours.stop();
    await e1.stop();
    await e2.stop();
  }
});
