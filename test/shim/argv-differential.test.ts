// The same argv through the shim and through the real nginx 1.22.1: stderr (modulo the version mark,
// the -V build lines and log timestamps) and exit codes must match. Only argv that nginx answers
// without starting is used, in a temp prefix whose config never listens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { haveNginx, normalise, runNginx, runShim, safePrefix, shimBundle } from './helpers.ts';

const P = '@P@'; // replaced by the temp prefix dir

// Rejected by the option parser: nothing else runs.
const OPTION_ERRORS: string[][] = [
  ['foo'],
  [''],
  ['-x'],
  ['-tx'],
  ['--'],
  ['--help'],
  ['-s'],
  ['-sfoo'],
  ['-s', 'foo'],
  ['-s', 'RELOAD'],
  ['-c'],
  ['-p'],
  ['-e'],
  ['-g'],
  ['-tc'],
  ['-ct', 'x.conf'],
  ['-v', '-x'],
  ['-x', '-s', 'foo'],
  ['-s', 'foo', '-x'],
  ['-t', 'nginx.conf'],
  ['-p', P, '-c', 'nginx.conf', '-s'],
];

// Answered from the version texts alone.
const VERSION_ONLY: string[][] = [
  ['-v'],
  ['-V'],
  ['-h'],
  ['-?'],
  ['-vq'],
  ['-hV'],
  ['-vs', 'reload'],
  ['-c', '/etc/nginx/nginx.conf', '-V'],
  ['-p', P, '-c', 'nginx.conf', '-v'],
];

function expand(argv: string[], dir: string): string[] {
  return argv.map((a) => a.replaceAll(P, dir));
}

describe('argv differential against /usr/sbin/nginx', { skip: !haveNginx && 'no /usr/sbin/nginx' }, () => {
  let dir = '';
  before(async () => {
    dir = safePrefix().dir;
    await shimBundle();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const argv of [...OPTION_ERRORS, ...VERSION_ONLY]) {
    test(`nginx ${JSON.stringify(argv)}`, async () => {
      const args = expand(argv, dir);
      const [real, shim] = await Promise.all([runNginx(args), runShim(args)]);
      assert.equal(real.signal, null, 'nginx must exit on its own (it was not meant to start)');
      assert.equal(shim.code, real.code, `exit code; nginx said: ${real.stderr}`);
      assert.equal(normalise(shim.stderr), normalise(real.stderr));
      assert.equal(shim.stdout, real.stdout);
    });
  }
});
