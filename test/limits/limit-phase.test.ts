// The preaccess phase inside the pipeline: statuses, error_page, $limit_req_status and
// $limit_conn_status, dry runs and log levels (in-process zones, no timing involved).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from '../http/oracle.ts';
import { startOurs } from './harness.ts';

const conf = (dir: string) => `
  limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
  limit_req_zone $binary_remote_addr zone=dry:1m rate=1r/m;
  limit_req_zone $http_x_key zone=bykey:1m rate=1r/m;
  limit_conn_zone $binary_remote_addr zone=addr:1m;
  server { listen 127.0.0.1:PORT; server_name localhost; root ${dir};
    add_header X-Req $limit_req_status always;
    add_header X-Conn $limit_conn_status always;
    location = /a.txt { limit_req zone=one; error_page 503 =429 /busy.txt; }
    location = /busy.txt { }
    location = /d.txt { limit_req zone=dry; limit_req_dry_run on; limit_req_log_level notice; }
    location = /k.txt { limit_req zone=bykey; }
    location = /c.txt { limit_conn addr 5; }
  }`;

test('limit_req/limit_conn in the pipeline: statuses, variables, error_page, dry run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-phase-'));
  for (const f of ['a', 'busy', 'd', 'k', 'c']) writeFileSync(join(dir, `${f}.txt`), `${f}\n`);
  const ours = await startOurs(conf(dir));
  try {
    const first = await get(ours.port, '/a.txt');
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-req'], 'PASSED');
    // Refused, then error_page: the 503 becomes 429 with /busy.txt, which is not limited again.
    const second = await get(ours.port, '/a.txt');
    assert.equal(second.status, 429);
    assert.equal(second.body.toString(), 'busy\n');
    assert.equal(second.headers['x-req'], 'REJECTED');

    for (const expect of ['PASSED', 'REJECTED_DRY_RUN']) {
      const r = await get(ours.port, '/d.txt');
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-req'], expect);
    }
    const dryLine = ours.errors.find((e) => e.message.includes('dry run'))!;
    assert.equal(dryLine.level, 'notice');
    assert.equal(dryLine.message, 'limiting requests, dry run, excess: 1.000 by zone "dry"');

    // An empty key is not limited, and sets no status.
    for (let i = 0; i < 3; i++) assert.equal((await get(ours.port, '/k.txt')).headers['x-req'], undefined);
    assert.equal((await get(ours.port, '/k.txt', ['X-Key: a'])).status, 200);
    assert.equal((await get(ours.port, '/k.txt', ['X-Key: a'])).status, 503);
    assert.equal((await get(ours.port, '/k.txt', ['X-Key: b'])).status, 200);

    // Sequential requests release their limit_conn counter when they end.
    for (let i = 0; i < 8; i++) {
      const r = await get(ours.port, '/c.txt');
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-conn'], 'PASSED');
    }
    const refusal = ours.errors.find((e) => e.message.startsWith('limiting requests, excess'))!;
    assert.deepEqual(
      { level: refusal.level, client: refusal.client, server: refusal.server, request: refusal.request, host: refusal.host },
      { level: 'error', client: '127.0.0.1', server: 'localhost', request: 'GET /a.txt HTTP/1.0', host: 'localhost' },
    );
  } finally {
    await ours.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
