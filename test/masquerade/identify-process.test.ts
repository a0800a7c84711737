// status and the installer's verify judge the service's main pid by its executable: the master's title
// (and so its comm and cmdline) is `nginx` by design, so neither can tell bext from nginx.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { identifyProcess } from '../../src/masquerade/system.ts';

test('a Node process titled nginx is bext; another program is not', async () => {
  // The child says when its title is set (a fixed wait was too short on a busy machine).
  const node = spawn(process.execPath, ['-e', 'process.title = "nginx"; console.log("titled"); setTimeout(() => {}, 10000)']);
  const sleeper = spawn('sleep', ['10']);
  try {
    await new Promise((r) => node.stdout.once('data', r));
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
