// `bext-server wait-ready`, the drop-in's ExecStartPost=: returns once the pid file names $MAINPID.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { parseWaitArgs, waitReady } from '../../src/server/wait-ready.ts';

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let out = '';
  stream.on('data', (c: Buffer) => (out += c.toString()));
  return { stream, text: () => out };
}

test('parseWaitArgs: pid file, optional pid, --timeout', () => {
  assert.deepEqual(parseWaitArgs(['/run/nginx.pid', '42', '--timeout', '5']), { pidFile: '/run/nginx.pid', pid: 42, timeoutMs: 5000 });
  assert.deepEqual(parseWaitArgs(['/run/nginx.pid']), { pidFile: '/run/nginx.pid', pid: undefined, timeoutMs: 60_000 });
  assert.match(String(parseWaitArgs([])), /usage/);
  assert.match(String(parseWaitArgs(['run/nginx.pid'])), /usage/);
  assert.match(String(parseWaitArgs(['/run/nginx.pid', '$MAINPID'])), /invalid pid/);
  assert.match(String(parseWaitArgs(['/run/nginx.pid', '--timeout', 'x'])), /--timeout/);
});

test('waits until the pid file names the pid, ignoring a stale one', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bext-wait-'));
  try {
    const file = path.join(dir, 'nginx.pid');
    await writeFile(file, '1\n'); // stale: another pid
    const t0 = Date.now();
    setTimeout(() => void writeFile(file, `${process.pid}\n`), 300);
    assert.equal(await waitReady([file, String(process.pid), '--timeout', '5']), 0);
    assert.ok(Date.now() - t0 >= 250);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('fails early when the process exits, and on the timeout', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bext-wait-'));
  try {
    const file = path.join(dir, 'nginx.pid');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 200)']);
    const err = sink();
    const t0 = Date.now();
    assert.equal(await waitReady([file, String(child.pid), '--timeout', '20'], err.stream), 1);
    assert.ok(Date.now() - t0 < 10_000);
    assert.match(err.text(), new RegExp(`process ${child.pid} exited before it was ready`));

    const late = sink();
    assert.equal(await waitReady([file, String(process.pid), '--timeout', '0.3'], late.stream), 1);
    assert.match(late.text(), /did not name \d+ within 0.3 s/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
