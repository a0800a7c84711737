// The service lifecycle as systemd, certbot and operators drive it: reload (under load), a reload
// with a broken config, restart, stop/start, and (bext only) restart after kill -9.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { SystemdContainer } from '../lib/container.ts';
import { describeLoop, expectDefaultSite, fetchIn, startRequestLoop } from './http.ts';
import { expectServiceHealthy, isActive, mainPid, pidInPidFile, waitForNewMaster } from './service.ts';
import { waitUntil } from './wait.ts';

const reloadVhost = '/etc/nginx/sites-enabled/reload-test';
const brokenVhost = '/etc/nginx/sites-enabled/broken-test';

async function reloadTestAnswer(host: SystemdContainer): Promise<string | undefined> {
  const r = await fetchIn(host, 'http://localhost/', ['-H', 'Host: reload.test']);
  return r.status === 200 ? r.body.trim() : undefined;
}

/** `systemctl reload` while requests flow: the new vhost goes live, same master, no request lost. */
export async function reloadUnderLoad(host: SystemdContainer, t: TestContext, reloadCommand = 'systemctl reload nginx'): Promise<void> {
  const before = await mainPid(host);
  const generation = `generation-${Date.now()}`;
  await host.writeFile(reloadVhost, `server {\n    listen 80;\n    server_name reload.test;\n    location / { return 200 "${generation}\\n"; }\n}\n`);
  const loop = startRequestLoop(host, { count: 200 });
  await new Promise((r) => setTimeout(r, 1000));
  const reloadStarted = Date.now();
  await host.must(reloadCommand);
  await waitUntil('the reloaded vhost to answer', async () => (await reloadTestAnswer(host)) === generation);
  const liveAfterMs = Date.now() - reloadStarted;
  const figures = await loop.done;
  t.diagnostic(`${reloadCommand}: new config live after ${liveAfterMs} ms; ${describeLoop(figures)}`);
  assert.equal(await mainPid(host), before, 'the master pid changed on reload');
  assert.equal(figures.failed, 0, `requests failed during the reload: ${describeLoop(figures)}`);
  await expectServiceHealthy(host);
}

/** A config error on reload: `nginx -t` names it, the old config keeps serving, the error is logged. */
export async function brokenReloadKeepsServing(host: SystemdContainer, t: TestContext): Promise<void> {
  const before = await mainPid(host);
  const liveGeneration = await reloadTestAnswer(host);
  assert.ok(liveGeneration, 'reload.test is not served (run reloadUnderLoad first)');
  await host.writeFile(brokenVhost, 'server {\n    listen 80;\n    server_name broken.test;\n    bogus_directive on;\n}\n');
  try {
    const check = await host.sh('nginx -t');
    t.diagnostic(`nginx -t exit ${check.exitCode}: ${check.stderr.trim().split('\n')[0]}`);
    assert.notEqual(check.exitCode, 0, 'nginx -t accepted a config with an unknown directive');
    assert.match(check.stderr, /unknown directive "bogus_directive" in \/etc\/nginx\/sites-enabled\/broken-test:4/);

    const reload = await host.sh('systemctl reload nginx');
    t.diagnostic(`systemctl reload with the broken config: exit ${reload.exitCode}`);
    await new Promise((r) => setTimeout(r, 1500)); // give an (async, signal-driven) reload time to fail
    assert.ok(await isActive(host), 'nginx.service died on a broken reload');
    assert.equal(await mainPid(host), before, 'the master changed on a broken reload');
    assert.equal(await reloadTestAnswer(host), liveGeneration, 'the old config stopped serving');
    await expectDefaultSite(host);
    const logged = await host.sh(
      `journalctl --no-pager -u nginx | grep -c bogus_directive; grep -c bogus_directive /var/log/nginx/error.log`,
    );
    const counts = logged.stdout.trim().split('\n').map(Number);
    t.diagnostic(`error lines naming the directive: journal ${counts[0] ?? 0}, error.log ${counts[1] ?? 0}`);
    assert.ok(counts.some((n) => n > 0), 'the failed reload was logged neither in the journal nor in error.log');
  } finally {
    await host.must(`rm -f ${brokenVhost}`);
  }
  await host.must('systemctl reload nginx');
  await expectServiceHealthy(host);
}

export async function restartGivesNewMaster(host: SystemdContainer, t: TestContext): Promise<void> {
  const before = await mainPid(host);
  const t0 = Date.now();
  await host.must('systemctl restart nginx');
  const after = await waitForNewMaster(host, before);
  await expectDefaultSite(host);
  t.diagnostic(`restart: master ${before} → ${after} in ${Date.now() - t0} ms`);
  await expectServiceHealthy(host);
}

/** stop leaves nothing behind (no process, no listener, no pid file); start brings it back. */
export async function stopThenStart(host: SystemdContainer, t: TestContext): Promise<void> {
  await host.must('systemctl stop nginx');
  assert.equal(await isActive(host), false, 'nginx.service still active after stop');
  const listeners = await host.sh(`ss -Hltn 'sport = :80'`);
  assert.equal(listeners.stdout.trim(), '', `something still listens on :80 after stop:\n${listeners.stdout}`);
  assert.equal(await pidInPidFile(host), undefined, 'the pid file outlived the service');
  const left = await host.sh(`pgrep -c -x nginx`);
  assert.equal(left.stdout.trim(), '0', 'nginx processes left after stop');
  await host.must('systemctl start nginx');
  await expectDefaultSite(host);
  const { pid } = await expectServiceHealthy(host);
  t.diagnostic(`stop/start: new master ${pid}`);
}

/** kill -9 of the master: systemd's Restart=on-failure (RestartSec=5) brings a new one up. */
export async function killNineRestarts(host: SystemdContainer, t: TestContext): Promise<void> {
  const before = await mainPid(host);
  const t0 = Date.now();
  await host.must(`kill -9 ${before}`);
  const after = await waitForNewMaster(host, before, 30_000);
  await waitUntil('the default site after the restart', async () => (await fetchIn(host, 'http://localhost/')).status === 200);
  t.diagnostic(`kill -9 ${before}: new master ${after} serving after ${Date.now() - t0} ms`);
  await expectServiceHealthy(host);
}
