// Scenario 0: the harness itself, against Debian's real nginx. It proves the container, systemd and
// the shared checks work, and is the baseline every bext scenario mirrors.
import assert from 'node:assert/strict';
import { describeHost } from './harness.ts';
import { expectDefaultSite } from './checks/http.ts';
import { brokenReloadKeepsServing, reloadUnderLoad, restartGivesNewMaster, stopThenStart } from './checks/lifecycle.ts';
import { rotateUnderLoad } from './checks/logrotate.ts';
import { expectServiceHealthy, workerPids } from './checks/service.ts';
import { reinstallNginxUnderLoad } from './checks/upgrade.ts';
import { expectRealNginxServes } from './checks/bext.ts';
import { waitUntil } from './checks/wait.ts';

describeHost('0 harness: real nginx under systemd', {}, (hostTest) => {
  hostTest('systemd booted nginx.service and it serves Debian\'s default site', async (host, t) => {
    await expectDefaultSite(host);
    const { pid, exe } = await expectServiceHealthy(host);
    const failed = (await host.must('systemctl --failed --no-legend --plain')).trim();
    t.diagnostic(`master ${pid} (${exe}); failed units: ${failed || 'none'}`);
    assert.equal(failed, '', 'units failed at boot');
    await expectRealNginxServes(host);
  });

  hostTest('systemctl reload nginx: new workers, same master, no request lost', async (host, t) => {
    const workersBefore = await workerPids(host);
    await reloadUnderLoad(host, t);
    const workersAfter = await waitUntil('new workers', async () => {
      const now = await workerPids(host);
      return now.every((p) => !workersBefore.includes(p)) ? now : undefined;
    });
    t.diagnostic(`workers ${workersBefore.join(',')} → ${workersAfter.join(',')}`);
  });

  hostTest('nginx -s reload (what certbot runs) works too', async (host, t) => {
    await reloadUnderLoad(host, t, 'nginx -s reload');
  });

  hostTest('a broken config on reload: nginx -t names it, the old config keeps serving', async (host, t) => {
    await brokenReloadKeepsServing(host, t);
  });

  hostTest('logrotate -f /etc/logrotate.d/nginx rotates, new lines go to the new file', async (host, t) => {
    await rotateUnderLoad(host, t);
  });

  hostTest('a second rotation (delaycompress → .2.gz) loses nothing either', async (host, t) => {
    await rotateUnderLoad(host, t);
  });

  hostTest('systemctl restart nginx gives a new master', async (host, t) => {
    await restartGivesNewMaster(host, t);
  });

  hostTest('systemctl stop leaves nothing behind; start brings it back', async (host, t) => {
    await stopThenStart(host, t);
  });

  hostTest('nginx upgrade (apt-get install --reinstall of the package owning /usr/sbin/nginx)', async (host, t) => {
    await reinstallNginxUnderLoad(host, t);
    await expectRealNginxServes(host);
  });
});
