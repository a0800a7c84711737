// Scenario 5: a Debian nginx update while bext masquerades. The diversion must keep dpkg from
// overwriting the shim, and the postinst's upgrade/restart must leave bext serving.
import { describeHost } from './harness.ts';
import { debPackage, missingDeb } from './lib/artifacts.ts';
import { bextLogs, expectBextServes, installedAndActive, realNginxBackup, bextDiagnostics } from './checks/bext.ts';
import { reinstallNginxUnderLoad } from './checks/upgrade.ts';
import assert from 'node:assert/strict';

const deb = debPackage();

describeHost('5 bext: nginx package upgrade', { skip: !deb && missingDeb, logs: bextLogs, diagnose: bextDiagnostics, setup: installedAndActive(deb) }, (hostTest) => {
  hostTest('apt-get install --reinstall of the package owning /usr/sbin/nginx keeps bext serving', async (host, t) => {
    const backupBefore = await realNginxBackup(host);
    // Failures are counted and printed, not asserted: a fallback restart may drop a few requests.
    await reinstallNginxUnderLoad(host, t);
    await expectBextServes(host);
    assert.equal(await realNginxBackup(host), backupBefore, 'the real binary moved during the upgrade');
  });

  hostTest('the updated real nginx went to the diverted path, not over the shim', async (host, t) => {
    const backup = await realNginxBackup(host);
    assert.ok(backup, 'no diverted real nginx after the upgrade');
    const version = await host.sh(`${backup} -v`);
    assert.match(version.stderr, /nginx version: nginx\//);
    t.diagnostic(`${backup}: ${version.stderr.trim()}`);
  });
});
