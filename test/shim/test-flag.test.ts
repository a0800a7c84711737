// `nginx -t` / `-T` / `-q` through the shim: they go to the config engine's checkCommand (never to
// the server), after the version texts when combined with -v/-V/-h, and answer what nginx answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { haveNginx, normalise, runNginx, runShim, safePrefix, shimBundle } from './helpers.ts';

let dir = '';
let serverMark = '';
let env: NodeJS.ProcessEnv = {};

before(async () => {
  dir = safePrefix().dir;
  // -t creates the pid file (empty) like nginx does: keep it inside the prefix.
  writeFileSync(path.join(dir, 'nginx.conf'), `daemon off;\nmaster_process off;\nerror_log ${dir}/error.log;\npid ${dir}/nginx.pid;\nevents {}\n`);
  writeFileSync(path.join(dir, 'bad.conf'), `pid ${dir}/nginx.pid;\nevents {}\nhttp {\n  server { listen 127.0.0.1:1; bogus 1; }\n}\n`);
  // A bext-server that leaves a mark: -t must never start the server.
  serverMark = path.join(dir, 'server-started');
  const fake = path.join(dir, 'bext-server');
  writeFileSync(fake, `#!/bin/sh\ntouch '${serverMark}'\n`);
  chmodSync(fake, 0o755);
  env = { ...process.env, BEXT_SERVER_BIN: fake };
  await shimBundle();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('-t goes to the config check, not to the server', async () => {
  const r = await runShim(['-p', dir, '-c', 'nginx.conf', '-t'], { env });
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}`);
  assert.equal(existsSync(serverMark), false);
});

test('-v with -t prints the version line first, then tests', async () => {
  const r = await runShim(['-p', dir, '-c', 'nginx.conf', '-vt'], { env });
  assert.ok(r.stderr.startsWith('nginx version: nginx/1.22.1 (bext-masquerade)\n'), r.stderr);
  assert.equal(existsSync(serverMark), false);
});

test('-s with -t only tests (nginx checks -t first)', async () => {
  const r = await runShim(['-p', dir, '-c', 'nginx.conf', '-t', '-s', 'stop'], { env });
  assert.doesNotMatch(r.stderr, /signal process started/);
  assert.equal(existsSync(serverMark), false);
});

describe('-t/-T/-q against the real nginx', { skip: !haveNginx && 'no /usr/sbin/nginx' }, () => {
  const CASES: string[][] = [
    ['-p', '@P@', '-c', 'nginx.conf', '-t'],
    ['-p', '@P@', '-tc', 'nginx.conf'],
    ['-p', '@P@', '-c', 'nginx.conf', '-tq'],
    ['-p', '@P@', '-c', 'nginx.conf', '-q', '-t'],
    ['-p', '@P@', '-c', 'nginx.conf', '-Vt'],
    ['-p', '@P@', '-c', 'nginx.conf', '-T'],
    ['-c', '@P@/nginx.conf', '-t'],
    ['-p', '@P@', '-c', 'bad.conf', '-t'],
    ['-p', '@P@', '-c', 'bad.conf', '-tq'],
    ['-p', '@P@', '-c', 'missing.conf', '-t'],
  ];
  for (const argv of CASES) {
    test(`nginx ${JSON.stringify(argv)}`, async () => {
      const args = argv.map((a) => a.replaceAll('@P@', dir));
      const [real, ours] = [await runNginx(args, { timeoutMs: 5000 }), await runShim(args, { env })];
      assert.equal(real.signal, null);
      assert.equal(ours.code, real.code, ours.stderr);
      assert.equal(normalise(ours.stderr), normalise(real.stderr));
      assert.equal(ours.stdout, real.stdout);
      assert.equal(existsSync(serverMark), false);
    });
  }
});
