// Scenario 2: the service lifecycle through systemd with bext serving: reload, broken reload,
// restart, stop/start, and kill -9 (Restart=on-failure).
import { describeHost } from './harness.ts';
import { debPackage, missingDeb } from './lib/artifacts.ts';
import { bextLogs, expectBextServes, installedAndActive, bextDiagnostics } from './checks/bext.ts';
import { brokenReloadKeepsServing, killNineRestarts, reloadUnderLoad, restartGivesNewMaster, stopThenStart } from './checks/lifecycle.ts';

const deb = debPackage();

describeHost('2 bext: lifecycle under systemd', { skip: !deb && missingDeb, logs: bextLogs, diagnose: bextDiagnostics, setup: installedAndActive(deb) }, (hostTest) => {
  hostTest('systemctl reload nginx: same master, new config live, no request lost', async (host, t) => {
    await reloadUnderLoad(host, t);
  });

  hostTest('nginx -s reload (the shim, as certbot calls it)', async (host, t) => {
    await reloadUnderLoad(host, t, 'nginx -s reload');
  });

  hostTest('a broken config on reload: nginx -t names it, the old config keeps serving', async (host, t) => {
    await brokenReloadKeepsServing(host, t);
  });

  hostTest('systemctl restart nginx gives a new master', async (host, t) => {
    await restartGivesNewMaster(host, t);
    await expectBextServes(host);
  });

  hostTest('systemctl stop leaves nothing behind; start brings it back', async (host, t) => {
    await stopThenStart(host, t);
    await expectBextServes(host);
  });

  hostTest('kill -9 of the master: systemd restarts it', async (host, t) => {
    await killNineRestarts(host, t);
    await expectBextServes(host);
  });
});
