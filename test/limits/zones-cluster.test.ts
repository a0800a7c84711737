// Real processes: a node:cluster primary running ZoneRegistry and two workers, each on its own
// port. A client spread over both workers is limited as if one nginx served it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, get } from '../http/oracle.ts';
import { ZoneRegistry } from '../../src/server/zones.ts';

// `return` would answer in the rewrite phase, before limit_req: serve a file.
const conf = (root: string) => `
  limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
  server { listen 127.0.0.1:PORT; server_name localhost; root ${root};
    location = /status { stub_status; }
    location / { limit_req zone=one burst=3 nodelay; } }`;

test('zones and stub_status are shared by the workers of a cluster', { timeout: 30_000 }, async () => {
  const registry = new ZoneRegistry();
  registry.attach();
  cluster.setupPrimary({ exec: join(import.meta.dirname, 'fixtures', 'zone-worker.ts'), execArgv: ['--import', 'tsx'] });
  const root = mkdtempSync(join(tmpdir(), 'bext-zones-'));
  writeFileSync(join(root, 'index.html'), 'ok');
  const ports = [await freePort(), await freePort()];
  const workers: Worker[] = [];
  try {
    await Promise.all(ports.map((port) => new Promise<void>((resolve, reject) => {
      const w = cluster.fork({ ZONE_TEST_PORT: String(port), ZONE_TEST_CONF: conf(root) });
      workers.push(w);
      w.on('message', (m: { type?: string }) => m.type === 'test-listening' && resolve());
      w.on('exit', (code) => reject(new Error(`worker exited ${code}`)));
    })));
    // Eight requests alternating between the workers: 1 + burst 3 pass, whatever the worker.
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await get(ports[i % 2]!, '/')).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 503, 503, 503, 503]);
    // Each worker counted its own connections; the master adds them up (+1: this request).
    const text = (await get(ports[0]!, '/status')).body.toString();
    assert.match(text, /^Active connections: 1 \nserver accepts handled requests\n 9 9 9 \nReading: 0 Writing: 1 Waiting: 0 \n$/);
  } finally {
    for (const w of workers) {
      w.removeAllListeners('exit');
      w.kill();
    }
    rmSync(root, { recursive: true, force: true });
  }
});
