// A Debian security update of nginx, simulated by reinstalling the package that owns /usr/sbin/nginx
// (its .deb is kept in the image's apt cache, so this works offline). Its postinst runs the init
// script's `upgrade` (USR2 + .oldbin) or falls back to `restart`.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { SystemdContainer } from '../lib/container.ts';
import { describeLoop, expectDefaultSite, startRequestLoop, type LoopFigures } from './http.ts';
import { expectServiceHealthy } from './service.ts';
import { waitUntil } from './wait.ts';

/** nginx-core on bookworm; read from dpkg so it stays right on other releases. */
export async function packageOwningNginx(host: SystemdContainer): Promise<string> {
  const out = (await host.sh('dpkg-query -S /usr/sbin/nginx')).stdout;
  return /^([^\s:,]+): \/usr\/sbin\/nginx$/m.exec(out)?.[1] ?? 'nginx-core';
}

export async function reinstallNginxUnderLoad(host: SystemdContainer, t: TestContext): Promise<LoopFigures> {
  const pkg = await packageOwningNginx(host);
  const loop = startRequestLoop(host, { count: 300 });
  const t0 = Date.now();
  const run = await host.sh(`apt-get install -y -q --reinstall ${pkg}`, { timeoutMs: 180_000 });
  assert.equal(run.exitCode, 0, `apt-get install --reinstall ${pkg} failed:\n${run.stdout}\n${run.stderr}`);
  const figures = await loop.done;
  await waitUntil('nginx.service active after the upgrade', async () => (await host.sh('systemctl is-active -q nginx')).exitCode === 0, {
    timeoutMs: 30_000,
  });
  await expectDefaultSite(host);
  await expectServiceHealthy(host);
  t.diagnostic(`apt-get install --reinstall ${pkg}: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${describeLoop(figures)}`);
  return figures;
}
