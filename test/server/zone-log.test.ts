// limit_req across real worker processes sharing the zone log (src/server/zone-log.ts): concurrent
// requests spread over two workers are limited as by one nginx; the zone survives a reload and a
// killed worker's replacement joins it. As root the workers run as www-data: the inherited log works
// after they drop root.
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { alive, ensureBuilt, get, makePrefix, readPid, run, SERVER, SHIM, waitFor, workerPids, type Prefix } from './helpers.ts';

const asRoot = process.getuid?.() === 0;
const shimEnv = { BEXT_SERVER_BIN: SERVER };

const config = (extra = '', workers = 2) => `${asRoot ? 'user www-data;' : ''}
worker_processes ${workers};
pid @DIR@/logs/nginx.pid;
error_log @DIR@/logs/error.log notice;
events { worker_connections 256; }
http {
    log_format bypid '$pid $status';
    access_log @DIR@/logs/access.log bypid;
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
    server {
        listen 127.0.0.1:@PORT@;
        root @DIR@/html;
        location / { limit_req zone=one burst=10 nodelay; }
        location = /pid { return 200 $pid; }
        ${extra}
    }
}
`;

let p: Prefix;
before(async () => {
  ensureBuilt();
  p = await makePrefix(config());
  const r = await run(process.execPath, [SHIM, '-p', `${p.dir}/`, '-c', 'nginx.conf'], shimEnv);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  const pid = readPid(p.pidFile);
  await run(process.execPath, [SHIM, '-p', `${p.dir}/`, '-c', 'nginx.conf', '-s', 'stop'], shimEnv);
  if (pid) await waitFor(() => !alive(pid), 10_000, 'the master to exit');
  p.cleanup();
});

const statuses = (n: number) => Promise.all(Array.from({ length: n }, () => get(p.port, '/index.html').then((r) => r.status)));
/** A GET on one keep-alive connection of its own. */
function onConnection(agent: http.Agent, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: p.port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

test('requests alternating between the two workers are limited as by one nginx: 1 + burst pass', async () => {
  // One keep-alive connection on each worker ($pid tells them apart).
  const byPid = new Map<string, http.Agent>();
  const spare: http.Agent[] = [];
  for (let i = 0; i < 50 && byPid.size < 2; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const pid = (await onConnection(agent, '/pid')).body;
    if (byPid.has(pid)) spare.push(agent);
    else byPid.set(pid, agent);
  }
  assert.equal(byPid.size, 2, 'a connection on each worker');
  // Each worker holds the log's segments: unlinked files, fds 4 to 6.
  for (const pid of byPid.keys()) {
    for (let i = 0; i < 3; i++) assert.match(readlinkSync(`/proc/${pid}/fd/${4 + i}`), new RegExp(`/bext-zones-\\d+-${i} \\(deleted\\)$`));
  }
  const [a, b] = [...byPid.values()];
  const got: number[] = [];
  for (let i = 0; i < 16; i++) got.push((await onConnection(i % 2 ? b! : a!, '/index.html')).status);
  assert.deepEqual(got, [...Array(11).fill(200), ...Array(5).fill(503)]);
  for (const agent of [...byPid.values(), ...spare]) agent.destroy();
});

test('40 concurrent requests from another address: 1 + burst pass, wherever they land', async () => {
  // 127.0.0.2 is a fresh key ($binary_remote_addr); the 40 connections spread over both workers.
  const got = await Promise.all(Array.from({ length: 40 }, () => new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', localAddress: '127.0.0.2', port: p.port, path: '/index.html', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  })));
  assert.equal(got.filter((s) => s === 200).length, 11, got.join(' '));
  assert.equal(got.filter((s) => s === 503).length, 29, got.join(' '));
  assert.doesNotMatch(readFileSync(`${p.dir}/logs/error.log`, 'utf8'), /limit_req zones:/);
});

test('the zone outlives a reload and a killed worker; the new workers read the same log', async () => {
  const master = readPid(p.pidFile)!;
  const before = workerPids(master);
  // Three workers: a new generation of processes, each starting from the master's snapshot.
  p.write(config('location /gen { return 200 "2\\n"; }', 3));
  process.kill(master, 'SIGHUP');
  await waitFor(async () => (await get(p.port, '/gen')).body === '2\n', 10_000, 'the new configuration');
  await waitFor(() => workerPids(master).length === 3 && workerPids(master).every((w) => !before.includes(w)), 10_000, 'the old workers to exit');
  assert.deepEqual(new Set(await statuses(10)), new Set([503]));

  const victim = workerPids(master)[0]!;
  process.kill(victim, 'SIGKILL');
  await waitFor(() => workerPids(master).length === 3 && !workerPids(master).includes(victim), 10_000, 'a replacement worker');
  assert.deepEqual(new Set(await statuses(10)), new Set([503]));
  assert.doesNotMatch(readFileSync(`${p.dir}/logs/error.log`, 'utf8'), /limit_req zones:/);
});
