// status and the installer's verify judge the service's main pid by its executable: the master's title
// (and so its comm and cmdline) is `nginx` by design, so neither can tell bext from nginx.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { identifyProcess } from '../../src/masquerade/system.ts';

test('a Node process titled nginx is bext; another program is not', async () => {
  const node = spawn(process.execPath, ['-e', 'process.title = "nginx"; setTimeout(() => {}, 5000)']);
  const sleeper = spawn('sleep', ['5']);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const bext = await identifyProcess(node.pid!, '/usr/bin/bext-server');
    assert.equal(bext.command, 'nginx');
    assert.match(bext.exe ?? '', /node/);
    assert.equal(bext.isBext, true);
    const other = await identifyProcess(sleeper.pid!, '/usr/bin/bext-server');
    assert.match(other.exe ?? '', /sleep$/);
    assert.equal(other.isBext, false);
    const gone = await identifyProcess(2 ** 22 + 1, '/usr/bin/bext-server');
    assert.deepEqual([gone.command, gone.exe, gone.isBext], [null, null, false]);
  } finally {
    node.kill();
    sleeper.kill();
  }
});
