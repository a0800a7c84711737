// Differential test: the real nginx -t (the oracle) and our checkCommand must agree on every
// fixture: same exit code, same first error line (text and file:line), and for valid fixtures the
// same success lines and a byte-identical -T dump.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CASES } from './broken-cases.ts';
import { FIXTURES, firstError, haveNginx, materialise, NGINX_BIN, removeTempDirs, runOurs, runRealNginx, writeConfigDir } from './harness.ts';

const skip = haveNginx ? false : `${NGINX_BIN} is not installed (the oracle); .ci/run installs it`;
after(removeTempDirs);
const VALID = readdirSync(join(FIXTURES, 'valid')).sort();

test('valid fixtures: nginx and bext both accept them, with the same -t lines and -T dump', { skip }, async (t) => {
  assert.ok(VALID.length >= 7);
  for (const name of VALID) {
    await t.test(name, async () => {
      const dir = materialise(join(FIXTURES, 'valid', name));
      const real = runRealNginx(dir);
      const ours = await runOurs(dir);
      assert.equal(real.code, 0, `nginx rejected the fixture:\n${real.stderr}`);
      assert.equal(ours.code, 0, ours.stderr);
      assert.deepEqual(ours.stderr.split('\n').slice(0, 2), real.stderr.split('\n').slice(0, 2));

      const realDump = spawnSync(NGINX_BIN, ['-T', '-q', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]);
      const oursDump = await runOurs(dir, { dump: true, quiet: true });
      assert.equal(realDump.status, 0);
      assert.equal(oursDump.stdout, realDump.stdout.toString('utf8'));
    });
  }
});

test(`broken configurations (${CASES.length}): same exit code and first error as nginx`, { skip }, async (t) => {
  assert.ok(CASES.filter((c) => c.name).length >= 40);
  for (const c of CASES) {
    await t.test(c.name, async () => {
      const dir = writeConfigDir(c.files);
      const globals = c.globals?.replaceAll('@DIR@', dir);
      const real = runRealNginx(dir, globals === undefined ? [] : ['-g', globals]);
      const ours = await runOurs(dir, { globals });
      assert.equal(ours.code, real.code, `nginx:\n${real.stderr}\nbext:\n${ours.stderr}`);
      assert.equal(firstError(ours.stderr), firstError(real.stderr));
      if (real.code !== 0) assert.match(ours.stderr, /configuration file .* test failed\n$/);
    });
  }
});
