// The wizard on a real terminal: tmux runs `bext nginx masquerade`, the test reads the screen and types.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { FAKE_NGINX, makeRoot, REPO, removeRoot, treeListing } from '../masquerade/helpers.ts';

const exec = promisify(execFile);
// One tmux server per wizard run: starting a session on a socket whose server is just exiting fails.
let runs = 0;
let socket = '';

async function tmux(...args: string[]): Promise<string> {
  return (await exec('tmux', ['-L', socket, ...args])).stdout;
}

async function screen(): Promise<string> {
  return tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', 'wizard');
}

/** Waits until the terminal shows `pattern`; the whole screen is in the failure message. */
async function waitFor(pattern: RegExp, timeoutMs = 25_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await screen();
    if (pattern.test(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for ${pattern}; screen:\n${last}`);
}

async function startWizard(root: string): Promise<void> {
  socket = `bext-wizard-test-${process.pid}-${++runs}`;
  const cmd = `cd ${REPO} && ${process.execPath} --import tsx src/cli/main.ts nginx masquerade --root ${root}; echo "WIZARD-EXIT=$?"; sleep 600`;
  await tmux('new-session', '-d', '-s', 'wizard', '-x', '120', '-y', '50', '-e', 'CI=', cmd);
}

async function stopWizard(): Promise<void> {
  const socketPath = await tmux('display-message', '-p', '#{socket_path}').catch(() => '');
  await tmux('kill-server').catch(() => undefined);
  if (socketPath.trim()) await rm(socketPath.trim(), { force: true }); // tmux leaves the socket file behind
}

test('wizard: asks for bext-server when the default does not fit, shows the report, installs; then uninstalls', { timeout: 90_000 }, async (t) => {
  try {
    await exec('tmux', ['-V']);
  } catch {
    t.skip('tmux is not installed (apt-get install -y tmux)');
    return;
  }
  const root = await makeRoot({ config: 'warn', bextBin: 'opt/bext/bin/bext-server' });
  const before = await treeListing(root);
  try {
    await startWizard(root);
    await waitFor(/bext-server is not at \/usr\/bin\/bext-server\. Where is it\?/);
    await tmux('send-keys', '-t', 'wizard', '/opt/bext/bin/bext-server', 'Enter');
    const report = await waitFor(/Install now\?/);
    assert.match(report, /nginx\/1\.22\.1 at \/usr\/sbin\/nginx: it moves to \/usr\/sbin\/nginx\.real \(rename\)/);
    assert.match(report, /1 warning\(s\):[\s\S]*"WARNME" is accepted and ignored \(1×/);
    assert.match(report, /systemctl steps are skipped/);
    assert.match(report, /install --yes --root \S+ --bext-bin \/opt\/bext\/bin\/bext-server/);
    await tmux('send-keys', '-t', 'wizard', 'Enter');
    const done = await waitFor(/WIZARD-EXIT=\d+/);
    assert.match(done, /Installed under/);
    assert.match(done, /Undo: bext nginx masquerade uninstall --root /);
    assert.match(done, /WIZARD-EXIT=0/);
    assert.match(await readFile(path.join(root, 'etc/systemd/system/nginx.service.d/bext-masquerade.conf'), 'utf8'), /^ExecStart=\/opt\/bext\/bin\/bext-server --nginx-masquerade --pid-file \/run\/nginx\.pid$/m);
    assert.equal(await readFile(path.join(root, 'usr/sbin/nginx.real'), 'utf8'), FAKE_NGINX);
    await stopWizard();

    // Second run: it sees the install and offers to uninstall.
    await startWizard(root);
    await waitFor(/What now\?/);
    assert.match(await screen(), /Already installed[\s\S]*No problems found/);
    await tmux('send-keys', '-t', 'wizard', 'Down', 'Enter');
    const removed = await waitFor(/WIZARD-EXIT=\d+/);
    assert.match(removed, /Uninstalled under/);
    assert.match(removed, /WIZARD-EXIT=0/);
    assert.deepEqual(await treeListing(root), before);
  } finally {
    await stopWizard();
    await removeRoot(root);
  }
});
