// The `bext` command line, run as a process without a terminal (CI=true: plain progress output).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runOrThrow } from '../../src/masquerade/system.ts';
import { makeRoot, put, REPO, removeRoot, runCli, treeListing } from '../masquerade/helpers.ts';

test('help, version and usage errors', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /nginx masquerade install/);
  const installHelp = await runCli(['nginx', 'masquerade', 'install', '-h']);
  assert.equal(installHelp.code, 0);
  assert.match(installHelp.stdout, /--bext-bin PATH[\s\S]*Exit codes: 0 done/);
  assert.equal((await runCli(['--version'])).stdout, 'bext 0.1.0\n');
  for (const bad of [[], ['nginx', 'masquerade', 'frobnicate'], ['nginx', 'masquerade', 'install', '--nope'], ['nginx', 'masquerade', 'status', '--restart'], ['nginx', 'masquerade', 'install', '--yes', '--bext-bin', 'relative/path']]) {
    const r = await runCli(bad);
    assert.equal(r.code, 2, bad.join(' '));
    assert.match(r.stderr, /^bext: /);
  }
});

test('without a terminal: install needs --yes, the wizard refuses and shows the non-interactive command (exit 2)', async () => {
  const root = await makeRoot();
  try {
    const before = await treeListing(root);
    const noYes = await runCli(['nginx', 'masquerade', 'install', '--root', root]);
    assert.equal(noYes.code, 2);
    assert.match(noYes.stderr, /add --yes/);
    const wizard = await runCli(['nginx', 'masquerade', '--root', root]);
    assert.equal(wizard.code, 2);
    assert.match(wizard.stderr, /needs a terminal[\s\S]*bext nginx masquerade install --yes --root /);
    assert.deepEqual(await treeListing(root), before);
  } finally {
    await removeRoot(root);
  }
});

test('install --json, second install unchanged, status --json, uninstall, uninstall again', async () => {
  const root = await makeRoot({ config: 'warn' });
  try {
    const before = await treeListing(root);
    const dry = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /Dry run: nothing was changed/);
    assert.deepEqual(await treeListing(root), before);

    const first = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout);
    assert.equal(out.command, 'install');
    assert.equal(out.outcome, 'changed');
    assert.equal(out.exitCode, 0);
    assert.equal(out.config.warnings.length, 1);
    assert.equal(out.state.binary.method, 'rename');
    assert.deepEqual(out.steps.map((s: { id: string }) => s.id), ['preflight', 'backup-binary', 'place-shim', 'write-dropin', 'record-state', 'daemon-reload', 'restart', 'verify']);

    const second = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes']);
    assert.equal(second.code, 0);
    assert.match(second.stdout, /Already installed: nothing changed/);

    const st = await runCli(['nginx', 'masquerade', 'status', '--root', root, '--json']);
    assert.equal(st.code, 0);
    const s = JSON.parse(st.stdout);
    assert.equal(s.installed, true);
    assert.equal(s.root, root);
    assert.deepEqual(Object.keys(s.paths).sort(), ['bextBin', 'dropIn', 'pidFile', 'realBin', 'shimBin', 'shimBundle', 'stateFile']);
    assert.equal(s.binary.shimIsOurs, true);
    assert.equal(s.binary.realChecksumOk, true);
    assert.deepEqual(s.problems, []);
    assert.equal(s.versions.nginx, 'nginx/1.22.1');
    const text = await runCli(['nginx', 'masquerade', 'status', '--root', root]);
    assert.match(text.stdout, /masquerade: installed/);

    const un = await runCli(['nginx', 'masquerade', 'uninstall', '--root', root, '--yes']);
    assert.equal(un.code, 0, un.stderr);
    assert.match(un.stdout, /Uninstalled under/);
    assert.deepEqual(await treeListing(root), before);

    const again = await runCli(['nginx', 'masquerade', 'uninstall', '--root', root, '--yes', '--json']);
    assert.equal(again.code, 0);
    assert.equal(JSON.parse(again.stdout).outcome, 'not-installed');
  } finally {
    await removeRoot(root);
  }
});

test('preflight refusals exit 3 and change nothing; --force installs over conversion errors', async () => {
  const root = await makeRoot({ config: 'broken' });
  try {
    const before = await treeListing(root);
    const refused = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes']);
    assert.equal(refused.code, 3);
    assert.match(refused.stdout, /Refused: the nginx configuration does not convert[\s\S]*BROKEN/);
    assert.deepEqual(await treeListing(root), before);
    const noBext = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes', '--json', '--bext-bin', '/nowhere/bext-server']);
    assert.equal(noBext.code, 3);
    assert.equal(JSON.parse(noBext.stdout).outcome, 'refused');

    const forced = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes', '--force']);
    assert.equal(forced.code, 0, forced.stdout);
    assert.match(forced.stdout, /--force: installing although/);
  } finally {
    await removeRoot(root);
  }
});

test('custom paths end up in the drop-in, the shim and the state', async () => {
  const root = await makeRoot({ bextBin: 'opt/bext/bin/bext-server' });
  try {
    const r = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes', '--bext-bin', '/opt/bext/bin/bext-server', '--pid-file', '/run/bext/nginx.pid']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const dropIn = await readFile(path.join(root, 'etc/systemd/system/nginx.service.d/bext-masquerade.conf'), 'utf8');
    assert.match(dropIn, /^ExecStart=\/opt\/bext\/bin\/bext-server --nginx-masquerade --pid-file \/run\/bext\/nginx\.pid$/m);
    assert.match(dropIn, /^PIDFile=\/run\/bext\/nginx.pid$/m);
    assert.match(await readFile(path.join(root, 'usr/sbin/nginx'), 'utf8'), /BEXT_PID_FILE:-\/run\/bext\/nginx.pid/);
    // Uninstall needs no flags: the paths come from the state file.
    const un = await runCli(['nginx', 'masquerade', 'uninstall', '--root', root, '--yes']);
    assert.equal(un.code, 0, un.stdout);
  } finally {
    await removeRoot(root);
  }
});

test('a step failure exits 1 and rolls back; a foreign dpkg diversion is a preflight refusal', async () => {
  const root = await makeRoot({ dpkg: true });
  try {
    // The drop-in directory is a file: writing the drop-in fails after the binary and shim steps.
    await put(path.join(root, 'etc/systemd/system/nginx.service.d'), 'not a directory\n');
    const before = await treeListing(root);
    const r = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /Failed: .*ENOTDIR/);
    assert.match(r.stdout, /↺ Place the nginx shim[\s\S]*↺ Move the real nginx binary aside[\s\S]*Rolled back: the system is as it was/);
    assert.deepEqual(await treeListing(root), before);

    await runOrThrow('dpkg-divert', ['--root', root, '--package', 'someone-else', '--divert', '/usr/sbin/nginx.other', '--add', '/usr/sbin/nginx']);
    const refused = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes']);
    assert.equal(refused.code, 3, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /already diverted by someone-else/);
  } finally {
    await removeRoot(root);
  }
});

test('a re-run without flags keeps the installed custom paths; another --shim-bin is refused', async () => {
  const root = await makeRoot({ bextBin: 'opt/bext/bin/bext-server' });
  try {
    const first = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes', '--bext-bin', '/opt/bext/bin/bext-server']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const installed = await treeListing(root);
    const again = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes']);
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, /Already installed: nothing changed/);
    assert.deepEqual(await treeListing(root), installed);
    const moved = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes', '--shim-bin', '/usr/local/sbin/nginx']);
    assert.equal(moved.code, 3);
    assert.match(moved.stdout, /uninstall` before moving it/);
  } finally {
    await removeRoot(root);
  }
});

test('Ctrl-C (SIGINT to bext) while the binary is being diverted: the diversion is undone, exit 1', async () => {
  const root = await makeRoot({ dpkg: true });
  const bin = path.join(root, 'test-bin');
  try {
    // A slow dpkg-divert, first on PATH, gives the signal a step to land in.
    await put(path.join(bin, 'dpkg-divert'), '#!/bin/sh\ncase "$*" in *--add*) sleep 1.5;; esac\nexec /usr/bin/dpkg-divert "$@"\n', 0o755);
    const before = await treeListing(root);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), 'nginx', 'masquerade', 'install', '--root', root, '--yes'], {
      cwd: REPO,
      env: { ...process.env, CI: 'true', PATH: `${bin}:${process.env.PATH}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!signalled && stdout.includes('❯ Move the real nginx binary aside')) {
        signalled = true;
        setTimeout(() => child.kill('SIGINT'), 300);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.ok(signalled, stdout);
    assert.equal(code, 1, stdout);
    assert.match(stdout, /Failed: interrupted by SIGINT/);
    assert.match(stdout, /↺ Move the real nginx binary aside/);
    assert.deepEqual((await treeListing(root)).filter((l) => !l.includes('test-bin')), before.filter((l) => !l.includes('test-bin')));
  } finally {
    await removeRoot(root);
  }
});

test('install and uninstall with the real bext-server of this checkout as --bext-bin', async (t) => {
  const root = await makeRoot({ bextServer: 'real', bextBin: 'opt/bext/bin/bext-server' });
  try {
    const probe = await runOrThrow(path.join(root, 'opt/bext/bin/bext-server'), ['nginx', 'check', '-c', path.join(root, 'etc/nginx/nginx.conf')]).catch(() => null);
    if (!probe) {
      t.skip('bext-server nginx check does not pass a minimal config in this checkout yet');
      return;
    }
    const before = await treeListing(root);
    const r = await runCli(['nginx', 'masquerade', 'install', '--root', root, '--yes', '--json', '--bext-bin', '/opt/bext/bin/bext-server']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.config.ok, true);
    assert.equal(out.state.paths.bextBin, '/opt/bext/bin/bext-server');
    const un = await runCli(['nginx', 'masquerade', 'uninstall', '--root', root, '--yes']);
    assert.equal(un.code, 0, un.stdout + un.stderr);
    assert.deepEqual(await treeListing(root), before);
  } finally {
    await removeRoot(root);
  }
});
