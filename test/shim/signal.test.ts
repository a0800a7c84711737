// `nginx -s …` with real processes and real signals: a recorder process stands in for the master.
// Error cases run through the real nginx too, with the same config and pid file, and must print the
// same lines (modulo time and pid) with the same exit code.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { haveNginx, normalise, runNginx, runShim, safePrefix, shimBundle, type RunResult } from './helpers.ts';
import { deadPid, startRecorder, waitFor, type Recorder } from './recorder.ts';

const STARTED = 'TIME [notice] PID#TID: signal process started\n';

let dir = '';
let rec: Recorder;

/** Runs `nginx -p DIR -c nginx.conf ARGS` through the shim; BEXT_PID_FILE only when given. */
function shim(args: string[], pidFileEnv?: string): Promise<RunResult> {
  const env = { ...process.env };
  delete env.BEXT_PID_FILE;
  if (pidFileEnv !== undefined) env.BEXT_PID_FILE = pidFileEnv;
  return runShim(['-p', dir, '-c', 'nginx.conf', ...args], { env });
}

function nginx(args: string[]): Promise<RunResult> {
  return runNginx(['-p', dir, '-c', 'nginx.conf', ...args]);
}

function pidFile(name: string, content: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

before(async () => {
  dir = safePrefix().dir;
  await shimBundle();
  rec = await startRecorder(dir);
});
after(() => {
  rec?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('signals reach the pid in the pid file', () => {
  const CASES: [string, string][] = [
    ['reload', 'SIGHUP'],
    ['reopen', 'SIGUSR1'],
    ['quit', 'SIGQUIT'],
    ['stop', 'SIGTERM'],
  ];
  for (const [name, signal] of CASES) {
    test(`-s ${name} sends ${signal}`, async () => {
      pidFile('nginx.pid', `${rec.pid}\n`);
      const before = rec.received().length;
      const r = await shim(['-g', `pid ${dir}/nginx.pid;`, '-s', name]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(normalise(r.stderr), STARTED);
      assert.equal(r.stdout, '');
      await rec.waitFor(signal);
      assert.deepEqual(rec.received().slice(before), [signal]);
    });
  }

  test('relative `pid` resolves against the prefix; CR/LF after the number is stripped', async () => {
    pidFile('rel.pid', `${rec.pid}\r\n\n`);
    const before = rec.received().length;
    const r = await shim(['-g', 'pid rel.pid;', '-sreload']);
    assert.equal(r.code, 0, r.stderr);
    await rec.waitFor('SIGHUP');
    assert.equal(rec.received().length, before + 1);
  });

  test('BEXT_PID_FILE wins over the config', async () => {
    const file = pidFile('env.pid', `${rec.pid}\n`);
    const before = rec.received().length;
    const r = await shim(['-g', `pid ${dir}/missing.pid;`, '-s', 'reopen'], file);
    assert.equal(r.code, 0, r.stderr);
    await rec.waitFor('SIGUSR1');
    assert.equal(rec.received().length, before + 1);
  });

  test('a bad config prints the error, exits 1 and sends nothing', async () => {
    pidFile('nginx.pid', `${rec.pid}\n`);
    writeFileSync(path.join(dir, 'bad.conf'), `pid ${dir}/nginx.pid;\nevents {}\nno_such_directive on;\n`);
    const before = rec.received().length;
    const r = await runShim(['-p', dir, '-c', 'bad.conf', '-s', 'reload']);
    assert.equal(r.code, 1);
    assert.equal(normalise(r.stderr), `TIME [emerg] PID#TID: unknown directive "no_such_directive" in ${dir}/bad.conf:3\n`);
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(rec.received().length, before);
  });
});

describe('pid file errors, against the real nginx', { skip: !haveNginx && 'no /usr/sbin/nginx' }, () => {
  // [name, pid file content or null for "absent"]
  const CASES: [string, string | null][] = [
    ['missing pid file', null],
    ['empty pid file', ''],
    ['only a newline', '\n'],
    ['garbage', 'abc\n'],
    ['digits then garbage', '12abc\n'],
    ['leading space', ' 12\n'],
    ['trailing space', '12 \n'],
    ['two lines', '12\nxyz\n'],
    ['a negative number', '-5\n'],
    ['beyond ngx_atoi', '99999999999999999999999\n'],
  ];
  for (const [name, content] of CASES) {
    test(name, async () => {
      const file = path.join(dir, 'case.pid');
      rmSync(file, { force: true });
      if (content !== null) writeFileSync(file, content);
      const args = ['-g', `pid ${file};`, '-s', 'reload'];
      const [real, ours] = [await nginx(args), await shim(args)];
      assert.equal(ours.code, real.code);
      assert.equal(normalise(ours.stderr), normalise(real.stderr));
    });
  }

  test('success: nginx and the shim print the same and both deliver the signal', async () => {
    const file = pidFile('ok.pid', `${rec.pid}\n`);
    const args = ['-g', `pid ${file};`, '-s', 'reopen'];
    const before = rec.received().length;
    const real = await nginx(args);
    await rec.waitFor('SIGUSR1');
    const ours = await shim(args);
    await waitFor('second SIGUSR1', () => (rec.received().length === before + 2 ? true : undefined));
    assert.deepEqual(rec.received().slice(before), ['SIGUSR1', 'SIGUSR1']);
    assert.equal(ours.code, 0);
    assert.equal(real.code, 0);
    assert.equal(normalise(ours.stderr), normalise(real.stderr));
  });

  test('stale pid: kill() fails with ESRCH', async () => {
    const file = pidFile('stale.pid', `${await deadPid()}\n`);
    const args = ['-g', `pid ${file};`, '-s', 'stop'];
    const [real, ours] = [await nginx(args), await shim(args)];
    assert.equal(real.code, 1);
    assert.equal(ours.code, 1);
    assert.equal(normalise(ours.stderr), normalise(real.stderr));
    assert.match(ours.stderr, /\[alert\] \d+#\d+: kill\(\d+, 15\) failed \(3: No such process\)\n$/);
  });

  test('a directory as pid file: pread() fails (crit)', async () => {
    const file = path.join(dir, 'dir.pid');
    mkdirSync(file, { recursive: true });
    const args = ['-g', `pid ${file};`, '-s', 'reload'];
    const [real, ours] = [await nginx(args), await shim(args)];
    assert.equal(ours.code, real.code);
    assert.equal(normalise(ours.stderr), normalise(real.stderr));
  });

  test('-e FILE: the log file gets the lines, the console only `nginx: [error] …`', async () => {
    const args = (log: string) => ['-g', `pid ${dir}/absent.pid;`, '-e', log, '-s', 'reload'];
    const [real, ours] = [await nginx(args('real.log')), await shim(args('ours.log'))];
    assert.equal(ours.code, 1);
    assert.equal(ours.code, real.code);
    assert.equal(ours.stderr, real.stderr);
    assert.equal(ours.stderr, `nginx: [error] open() "${dir}/absent.pid" failed (2: No such file or directory)\n`);
    const logOf = (name: string) => normalise(readFileSync(path.join(dir, name), 'utf8'));
    assert.equal(logOf('ours.log'), logOf('real.log'));
  });

  test('-e into a missing directory: an alert, then stderr', async () => {
    const args = ['-g', `pid ${dir}/absent.pid;`, '-e', `${dir}/no/such/dir/e.log`, '-s', 'reload'];
    const [real, ours] = [await nginx(args), await shim(args)];
    assert.equal(ours.code, real.code);
    assert.equal(normalise(ours.stderr), normalise(real.stderr));
  });

  test('a bad config: same error and exit code as nginx', async () => {
    writeFileSync(path.join(dir, 'bad2.conf'), 'events {}\nworker_processes 1 2;\n');
    const args = ['-p', dir, '-c', 'bad2.conf', '-s', 'reload'];
    const [real, ours] = [await runNginx(args), await runShim(args)];
    assert.equal(ours.code, real.code);
    assert.equal(normalise(ours.stderr), normalise(real.stderr));
  });
});
