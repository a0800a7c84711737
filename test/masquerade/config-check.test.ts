import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { checkConfig, groupWarnings } from '../../src/masquerade/config-check.ts';
import { makeRoot, removeRoot } from './helpers.ts';

test('groupWarnings groups by message in both nginx log formats', () => {
  const groups = groupWarnings([
    'nginx: [warn] "ssl_stapling" is ignored in /etc/nginx/a.conf:3',
    '2026/11/25 14:24:43 [warn] 123#123: "ssl_stapling" is ignored in /etc/nginx/b.conf:9',
    'nginx: [warn] "gzip" is not served',
  ]);
  assert.deepEqual(groups, [
    { message: '"ssl_stapling" is ignored', where: ['/etc/nginx/a.conf:3', '/etc/nginx/b.conf:9'] },
    { message: '"gzip" is not served', where: [] },
  ]);
});

test('checkConfig sorts errors and warnings; a missing config is reported, not run', async () => {
  const root = await makeRoot({ config: 'warn' });
  try {
    const bin = path.join(root, 'usr/bin/bext-server');
    const conf = path.join(root, 'etc/nginx/nginx.conf');
    const warn = await checkConfig(bin, conf);
    assert.deepEqual({ ok: warn.ok, errors: warn.errors.length, warnings: warn.warnings.length, skipped: warn.skipped }, { ok: true, errors: 0, warnings: 1, skipped: null });
    const missing = await checkConfig(bin, path.join(root, 'etc/nginx/none.conf'));
    assert.match(missing.skipped ?? '', /no nginx configuration/);
  } finally {
    await removeRoot(root);
  }
});
