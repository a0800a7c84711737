// limit_req and limit_conn against real nginx: the same burst of simultaneous requests must be
// refused in the same numbers, with the same statuses and error-log lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haveNginx, startNginx, get } from '../http/oracle.ts';
import { startOurs, zoneLogRig, type Ours } from './harness.ts';

const BIG = 48 << 20; // larger than loopback socket buffers: a client that does not read stalls it

function site(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bext-limits-'));
  for (const d of ['nodelay', 'delay', 'status', 'conn', 'two', 'dry']) {
    mkdirSync(join(dir, d));
    writeFileSync(join(dir, d, 'index.html'), `${d}\n`);
  }
  writeFileSync(join(dir, 'conn', 'big.bin'), Buffer.alloc(BIG, 120));
  return dir;
}

const conf = (dir: string) => `
  limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
  limit_req_zone $binary_remote_addr zone=two:1m rate=2r/s;
  limit_req_zone $binary_remote_addr zone=three:1m rate=1r/m;
  limit_req_zone $server_name zone=srv:1m rate=1r/m;
  limit_req_zone $binary_remote_addr zone=four:1m rate=1r/m;
  limit_conn_zone $binary_remote_addr zone=addr:1m;
  server { listen 127.0.0.1:PORT; server_name localhost; root ${dir};
    location /nodelay/ { limit_req zone=one burst=3 nodelay; }
    location /delay/ { limit_req zone=two burst=2; }
    location /status/ { limit_req zone=three; limit_req_status 429; limit_req_log_level warn; }
    location /two/ { limit_req zone=srv burst=1 nodelay; limit_req zone=three burst=5 nodelay; }
    location /dry/ { limit_req zone=four; limit_req_dry_run on; limit_req_log_level info; }
    location /conn/ { limit_conn addr 1; limit_conn_status 409; }
  }`;

interface Burst { statuses: number[]; slow: number }

/** n simultaneous requests, spread over the ports in turn (bext's workers, or nginx's one port). */
async function burst(ports: number[], path: string, n: number): Promise<Burst> {
  const t0 = Date.now();
  const times: number[] = [];
  const rs = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const r = await get(ports[i % ports.length]!, path);
    times.push(Date.now() - t0);
    return r.status;
  }));
  return { statuses: rs.sort(), slow: times.filter((t) => t >= 400).length };
}

/** Opens a connection that asks for the big file and never reads. */
function stall(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write('GET /conn/big.bin HTTP/1.0\r\nHost: localhost\r\n\r\n');
      s.pause();
      setTimeout(() => resolve(s), 300);
    });
    s.on('error', () => {});
  });
}

const LINE = /limiting requests, excess: (\d+\.\d{3}) by zone "(\w+)", client: 127\.0\.0\.1, server: localhost, request: "GET \/([a-z]+)\/ HTTP\/1\.0", host: "localhost"/g;

test('differential: limit_req bursts and limit_conn with stalled clients', { skip: !haveNginx, timeout: 50_000 }, async () => {
  await differential(async (body) => [await startOurs(body)]);
});

test('differential: the same bursts over two workers sharing the zone log', { skip: !haveNginx, timeout: 50_000 }, async () => {
  const rig = zoneLogRig();
  try {
    await differential(async (body) => [
      await startOurs(body, { zones: await rig.worker(1) }),
      await startOurs(body, { zones: await rig.worker(2) }),
    ]);
  } finally {
    rig.close();
  }
});

/** bext on one or more ports (its workers) against nginx; limit_conn is checked on the first port. */
async function differential(startBext: (httpBody: string) => Promise<Ours[]>): Promise<void> {
  const dir = site();
  const nginx = await startNginx(conf(dir));
  const all = await startBext(conf(dir));
  const ours = all[0]!;
  const ourText = () => all.map((o) => o.errorText()).join('');
  try {
    for (const [path, n] of [['/nodelay/', 8], ['/delay/', 6], ['/status/', 3], ['/two/', 4], ['/dry/', 3]] as const) {
      const [a, b] = await Promise.all([burst([nginx.port], path, n), burst(all.map((o) => o.port), path, n)]);
      assert.deepEqual(b.statuses, a.statuses, path);
      assert.equal(b.slow, a.slow, `${path}: delayed requests`);
    }

    const nginxLog = readFileSync(join(nginx.prefix, 'logs', 'error.log'), 'latin1');
    const ourLog = ourText();
    // Zone two leaks 2 milli-requests per ms: its excess depends on arrival times, in nginx too.
    const excess = (zone: string, e: string) => (zone === 'two' ? String(Math.round(Number(e))) : e);
    const lines = (text: string) => [...text.matchAll(LINE)].map((m) => `${m[3]} ${m[2]} ${excess(m[2]!, m[1]!)}`).sort();
    assert.deepEqual(lines(ourLog), lines(nginxLog));
    const dry = (text: string) => text.split('\n').filter((l) => l.includes('dry run'))
      .map((l) => /\[(\w+)\] .*(limiting requests, dry run, excess: \d\.\d{3} by zone "four")/.exec(l)?.slice(1).join(' '));
    assert.deepEqual(dry(ourLog), dry(nginxLog));
    assert.equal(dry(ourLog).length, 2);
    // /status/ logs at warn (its limit_req_log_level), the rest at error; delays one level lower.
    const levels = (text: string) => text.split('\n').filter((l) => /limiting|delaying/.test(l))
      .map((l) => `${/\[(\w+)\]/.exec(l)![1]} ${/request: "GET (\S+)/.exec(l)![1]} ${l.includes('delaying') ? 'delay' : 'limit'}`).sort();
    assert.deepEqual(levels(ourLog), levels(nginxLog));

    for (const port of [nginx.port, ours.port]) {
      const s = await stall(port);
      const refused = await get(port, '/conn/');
      assert.equal(refused.status, 409, `port ${port}`);
      assert.equal((await get(port, '/nodelay/')).status, 503, 'other locations are not limited by addr');
      s.destroy();
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await get(port, '/conn/')).status, 200);
    }
    assert.match(readFileSync(join(nginx.prefix, 'logs', 'error.log'), 'latin1'), /\[error\] .*limiting connections by zone "addr"/);
    assert.match(ours.errorText(), /\[error\] .*limiting connections by zone "addr", client: 127\.0\.0\.1/);
  } finally {
    await nginx.stop();
    for (const o of all) await o.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
