// How scripts/package.ts finds and calls nfpm, against a stub nfpm that records its arguments.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { findNfpm, NFPM_VERSION, nfpmPackage } from '../../scripts/package/nfpm-tool.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'bext-nfpm-tool-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function stubNfpm(version: string): string {
  const file = path.join(dir, `nfpm-${version}`);
  writeFileSync(file, `#!/bin/sh\n[ "$1" = --version ] && { echo "nfpm version ${version}"; exit 0; }\necho "$PWD $*" >"${dir}/args"\n`);
  chmodSync(file, 0o755);
  return file;
}

test('uses $NFPM at the pinned version', async () => {
  const cmd = stubNfpm(NFPM_VERSION);
  assert.deepEqual(await findNfpm({ NFPM: cmd, PATH: process.env['PATH'] }), { cmd });
});

test('refuses another version, saying why', async () => {
  const found = await findNfpm({ NFPM: stubNfpm('2.30.1'), PATH: process.env['PATH'] });
  assert.ok('reason' in found && /2\.30\.1, not the pinned/.test(found.reason));
});

test('reports nfpm missing from PATH', async () => {
  const found = await findNfpm({ PATH: dir });
  assert.ok('reason' in found && /not installed/.test(found.reason));
});

test('packages from packaging/nfpm.yaml in the repository root into the target directory', async () => {
  await nfpmPackage(stubNfpm(NFPM_VERSION), 'deb', { root: dir, outDir: path.join(dir, 'out'), env: process.env });
  assert.equal(readFileSync(path.join(dir, 'args'), 'utf8').trim(), `${dir} package --config packaging/nfpm.yaml --packager deb --target ${path.join(dir, 'out')}/`);
});
