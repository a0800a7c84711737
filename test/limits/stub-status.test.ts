// stub_status against real nginx: the exact template (the Prometheus exporter scans it with
// fmt.Fscanf) and the same numbers for the same sequence of connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { haveNginx, startNginx, get } from '../http/oracle.ts';
import { startOurs } from './harness.ts';

const TEMPLATE = /^Active connections: (\d+) \nserver accepts handled requests\n (\d+) (\d+) (\d+) \nReading: (\d+) Writing: (\d+) Waiting: (\d+) \n$/;

const conf = `server { listen 127.0.0.1:PORT; server_name localhost;
  location = /status { stub_status; }
  location / { return 200 "hi"; } }`;

const settle = () => new Promise((r) => setTimeout(r, 150));

test('differential: stub_status text and counters', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const nginx = await startNginx(conf);
  const ours = await startOurs(conf);
  try {
    const seen: string[][] = [[], []];
    // The oracle's readiness probe was one connection: make the same one here.
    await new Promise((res) => connect(ours.port, '127.0.0.1').once('connect', function (this: import('node:net').Socket) { this.destroy(); res(undefined); }));
    for (const [i, port] of [nginx.port, ours.port].entries()) {
      for (let k = 0; k < 3; k++) await get(port, '/');
      await settle();
      const r = await get(port, '/status');
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'text/plain');
      assert.match(r.body.toString('latin1'), TEMPLATE);
      seen[i]!.push(r.body.toString('latin1'));
      // An idle keep-alive connection is Waiting, and so is one that has sent nothing yet.
      const idle = connect(port, '127.0.0.1');
      await new Promise((res) => idle.once('connect', res));
      idle.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
      const silent = connect(port, '127.0.0.1');
      await new Promise((res) => silent.once('connect', res));
      await settle();
      seen[i]!.push((await get(port, '/status')).body.toString('latin1'));
      idle.destroy();
      silent.destroy();
      await settle();
      seen[i]!.push((await get(port, '/status')).body.toString('latin1'));
    }
    assert.deepEqual(seen[1], seen[0]);
    for (const port of [nginx.port, ours.port]) {
      assert.equal((await get(port, '/status', [], 'POST')).status, 405);
      const head = await get(port, '/status', [], 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
    }
  } finally {
    await nginx.stop();
    await ours.stop();
  }
});
