// Scenario 6: leaving bext. `masquerade uninstall` gives nginx.service back to the real nginx; a
// purge of the package (with masquerade active) must do the same and leave no diversion or drop-in.
import assert from 'node:assert/strict';
import { describeHost } from './harness.ts';
import { debPackage, missingDeb } from './lib/artifacts.ts';
import { activateMasquerade, bextLogs, expectBextServes, expectNoLeftovers, expectRealNginxServes, installedAndActive, bextDiagnostics } from './checks/bext.ts';
import { reinstallNginxUnderLoad } from './checks/upgrade.ts';

const deb = debPackage();

describeHost('6 bext: uninstall and purge', { skip: !deb && missingDeb, logs: bextLogs, diagnose: bextDiagnostics, setup: installedAndActive(deb) }, (hostTest) => {
  hostTest('bext nginx masquerade uninstall: the real nginx serves again', async (host) => {
    await host.must('bext nginx masquerade uninstall --yes', { timeoutMs: 120_000 });
    await expectRealNginxServes(host);
    await expectNoLeftovers(host);
  });

  hostTest('install again after an uninstall', async (host, t) => {
    t.diagnostic(await activateMasquerade(host));
    await expectBextServes(host);
  });

  hostTest('apt-get purge with masquerade active: the real nginx serves, nothing left', async (host, t) => {
    const r = await host.sh('apt-get purge -y -q bext-masquerade', { timeoutMs: 180_000 });
    assert.equal(r.exitCode, 0, `purge failed:\n${r.stdout}\n${r.stderr}`);
    await expectRealNginxServes(host);
    await expectNoLeftovers(host);
    const left = (await host.sh('ls -d /usr/bin/bext /usr/bin/bext-server /usr/lib/bext /var/lib/bext /etc/default/bext-masquerade 2>/dev/null')).stdout.trim();
    assert.equal(left, '', `files of the package left after purge: ${left}`);
    const state = (await host.sh(`dpkg-query -W -f='\${Status}' bext-masquerade`)).stdout.trim();
    t.diagnostic(`dpkg status after purge: "${state || 'unknown (purged)'}"`);
    assert.ok(!/installed|config-files/.test(state), `package still known to dpkg: ${state}`);
  });

  hostTest('a later nginx update works as on a host that never had bext', async (host, t) => {
    await reinstallNginxUnderLoad(host, t);
    await expectRealNginxServes(host);
  });
});
