// `nginx` with no -s/-t starts bext-server: the options pass through, stdio is shared, the exit code
// comes back, and signals sent to the shim reach the server. A fake bext-server records what it got.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { findServer, serverArgs, serverCommand } from '../../src/shim/start.ts';
import { runShim, shimBundle } from './helpers.ts';
import { waitFor } from './recorder.ts';

let dir = '';
let fake = '';

// FAKE_OUT: where to record; FAKE_MODE: "exit:N" | "kill" | "wait" (record signals, exit 0 on TERM).
const FAKE_SERVER = `#!${process.execPath}
import { appendFileSync, writeFileSync } from 'node:fs';
const out = process.env.FAKE_OUT;
writeFileSync(out, JSON.stringify({ argv: process.argv.slice(2), pid: process.pid, ppid: process.ppid }));
process.stderr.write('fake server says hello\\n');
const mode = process.env.FAKE_MODE ?? 'exit:0';
if (mode.startsWith('exit:')) process.exit(Number(mode.slice(5)));
if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
if (mode === 'wait') {
  for (const s of ['SIGHUP', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2']) {
    process.on(s, () => {
      appendFileSync(out + '.signals', s + '\\n');
      if (s === 'SIGTERM') process.exit(0);
    });
  }
  writeFileSync(out + '.ready', '');
  setInterval(() => {}, 60000);
}
`;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'bext-shim-start-'));
  fake = path.join(dir, 'bext-server');
  writeFileSync(fake, FAKE_SERVER);
  chmodSync(fake, 0o755);
  await shimBundle();
});
after(() => rmSync(dir, { recursive: true, force: true }));

function env(mode: string, out: string, bin = fake): NodeJS.ProcessEnv {
  return { ...process.env, BEXT_SERVER_BIN: bin, FAKE_MODE: mode, FAKE_OUT: out };
}

function recorded(out: string): { argv: string[]; pid: number; ppid: number } {
  return JSON.parse(readFileSync(out, 'utf8'));
}

test("nginx's options reach bext-server one flag, one value; its exit code comes back", async () => {
  const out = path.join(dir, 'a.json');
  const r = await runShim(['-qp/srv/x', '-c', 'conf/n.conf', '-g', 'daemon off;', '-e', 'stderr'], { env: env('exit:3', out) });
  assert.equal(r.code, 3);
  assert.deepEqual(recorded(out).argv, ['-p', '/srv/x', '-c', 'conf/n.conf', '-e', 'stderr', '-g', 'daemon off;']);
  assert.equal(r.stderr, 'fake server says hello\n', 'the server writes to the caller’s stderr');
});

test('no options: bext-server gets none (it applies the defaults)', async () => {
  const out = path.join(dir, 'b.json');
  const r = await runShim([], { env: env('exit:0', out) });
  assert.equal(r.code, 0);
  assert.deepEqual(recorded(out).argv, []);
});

test('a .js bundle without the exec bit runs under node', async () => {
  const out = path.join(dir, 'c.json');
  const js = path.join(dir, 'bext-server.js');
  writeFileSync(js, FAKE_SERVER.replace(/^#!.*\n/, ''));
  chmodSync(js, 0o644);
  const r = await runShim(['-c', 'x.conf'], { env: env('exit:0', out, js) });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(recorded(out).argv, ['-c', 'x.conf']);
});

test('a server killed by a signal: exit 128 + signal number', async () => {
  const out = path.join(dir, 'd.json');
  const r = await runShim([], { env: env('kill', out) });
  assert.equal(r.code, 137);
});

test('bext-server missing: nginx-style emerg, exit 1', async () => {
  const r = await runShim([], { env: env('exit:0', path.join(dir, 'e.json'), path.join(dir, 'nope')) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^nginx: \[emerg\] could not start bext-server ".*\/nope": /);
});

test('signals sent to the shim are passed on to the server', async () => {
  const out = path.join(dir, 'f.json');
  const shim = spawn(process.execPath, [await shimBundle()], { env: env('wait', out), stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => shim.once('exit', (code) => r(code)));
  try {
    await waitFor('fake server ready', () => (existsSync(`${out}.ready`) ? true : undefined));
    assert.equal(recorded(out).ppid, shim.pid, 'the server is the shim’s child');
    const signals = () => (existsSync(`${out}.signals`) ? readFileSync(`${out}.signals`, 'utf8') : '');
    shim.kill('SIGHUP');
    await waitFor('SIGHUP forwarded', () => (signals().includes('SIGHUP') ? true : undefined));
    shim.kill('SIGUSR1');
    await waitFor('SIGUSR1 forwarded', () => (signals().includes('SIGUSR1') ? true : undefined));
    shim.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(signals(), 'SIGHUP\nSIGUSR1\nSIGTERM\n');
  } finally {
    shim.kill('SIGKILL');
    const server = existsSync(out) ? recorded(out).pid : undefined;
    if (server !== undefined) {
      try {
        process.kill(server, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

test('findServer: BEXT_SERVER_BIN, else the bundle beside the shim', () => {
  assert.equal(findServer({ BEXT_SERVER_BIN: '/opt/x/bext-server' }), '/opt/x/bext-server');
  const shimDir = mkdtempSync(path.join(dir, 'lib-'));
  const beside = path.join(shimDir, 'bext-server.js');
  writeFileSync(beside, '');
  chmodSync(beside, 0o644); // node runs it: readable is enough
  assert.equal(findServer({}, pathToFileURL(path.join(shimDir, 'nginx-shim')).href), beside);
});

test('serverCommand: a .js bundle runs under this node, a program runs as itself', () => {
  assert.deepEqual(serverCommand('/usr/lib/bext/bext-server.js', ['-t']), {
    file: process.execPath,
    args: ['/usr/lib/bext/bext-server.js', '-t'],
  });
  assert.deepEqual(serverCommand('/usr/bin/bext-server', ['-t']), { file: '/usr/bin/bext-server', args: ['-t'] });
  assert.deepEqual(serverArgs({}), []);
});
