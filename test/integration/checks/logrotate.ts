// Debian's logrotate against the running server while a request loop runs: every request must be in
// exactly one file, and lines after the rotation must go to the new access.log.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { SystemdContainer } from '../lib/container.ts';
import { describeLoop, startRequestLoop } from './http.ts';
import { waitUntil } from './wait.ts';

const accessLog = '/var/log/nginx/access.log';

async function countIn(host: SystemdContainer, marker: string, file: string): Promise<number> {
  const reader = file.endsWith('.gz') ? 'zcat' : 'cat';
  const r = await host.sh(`${reader} ${file} 2>/dev/null | grep -c -F '${marker}'`);
  return Number(r.stdout.trim() || 0);
}

/**
 * The logrotate block of the spec (masquerade-mode.md), whose postrotate is `nginx -s reopen`
 * through the shim, where Debian's goes through invoke-rc.d and start-stop-daemon.
 */
export const specLogrotateConfig = `/var/log/nginx/*.log {
\tdaily
\trotate 14
\tcompress
\tpostrotate
\t\t/usr/sbin/nginx -s reopen
\tendscript
}
`;

/** `logrotate -f CONFIG` in the middle of `requests` requests; returns the figures. */
export async function rotateUnderLoad(host: SystemdContainer, t: TestContext, requests = 400, config = '/etc/logrotate.d/nginx'): Promise<void> {
  const loop = startRequestLoop(host, { count: requests });
  // Rotate once the loop is well under way, so lines land on both sides of the rotation.
  await waitUntil('the first logged requests', async () => (await countIn(host, loop.marker, accessLog)) >= requests / 4, {
    timeoutMs: 60_000,
  });
  const rotate = await host.sh(`logrotate -v -f ${config}`);
  assert.equal(rotate.exitCode, 0, `logrotate failed:\n${rotate.stderr}`);
  const figures = await loop.done;
  await new Promise((r) => setTimeout(r, 1000)); // the last lines reach the file

  const files = (await host.must(`ls -1 ${accessLog}*`)).trim().split('\n');
  const perFile: Record<string, number> = {};
  for (const f of files) perFile[f] = await countIn(host, loop.marker, f);
  const inNew = perFile[accessLog] ?? 0;
  const rotated = files.filter((f) => f !== accessLog).reduce((n, f) => n + (perFile[f] ?? 0), 0);
  t.diagnostic(`logrotate under load: ${describeLoop(figures)}`);
  t.diagnostic(`log lines: ${Object.entries(perFile).map(([f, n]) => `${f.replace('/var/log/nginx/', '')} ${n}`).join(', ')}; total ${inNew + rotated}`);

  assert.equal(figures.failed, 0, `requests failed during the rotation: ${describeLoop(figures)}`);
  assert.ok(rotated > 0, 'no line in the rotated file: was access.log rotated at all?');
  assert.ok(inNew > 0, 'no line in the new access.log: the server kept writing to the rotated file (USR1 never arrived?)');
  assert.equal(inNew + rotated, figures.ok, 'log lines lost or duplicated across the rotation');
}
