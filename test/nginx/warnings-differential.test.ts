// Differential test for the `[warn]`s nginx prints while it reads a configuration: real nginx -t and
// our checkCommand must print the same lines, in the same order, up to "syntax is ok" (bext's own
// conversion warnings come after the test result and are not nginx's).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { WARN_CASES } from './broken-cases.ts';
import { haveNginx, NGINX_BIN, removeTempDirs, runOurs, runRealNginx, writeConfigDir } from './harness.ts';

const skip = haveNginx ? false : `${NGINX_BIN} is not installed (the oracle); .ci/run installs it`;
after(removeTempDirs);

/** The console lines up to and including "syntax is ok". */
function untilSyntaxOk(stderr: string): string[] {
  const lines = stderr.split('\n');
  const ok = lines.findIndex((l) => l.endsWith(' syntax is ok'));
  return ok < 0 ? lines : lines.slice(0, ok + 1);
}

test(`warnings while reading (${WARN_CASES.length}): same lines as nginx, before "syntax is ok"`, { skip }, async (t) => {
  let warned = 0;
  for (const c of WARN_CASES) {
    await t.test(c.name, async () => {
      const dir = writeConfigDir(c.files);
      const real = runRealNginx(dir);
      const ours = await runOurs(dir);
      assert.equal(real.code, 0, real.stderr);
      assert.equal(ours.code, 0, ours.stderr);
      const expected = untilSyntaxOk(real.stderr);
      if (expected.some((l) => l.startsWith('nginx: [warn] '))) warned++;
      assert.deepEqual(untilSyntaxOk(ours.stderr), expected);
    });
  }
  // The corpus is about warnings: all but the one quiet case must make nginx print some.
  assert.equal(warned, WARN_CASES.length - 1);
});
