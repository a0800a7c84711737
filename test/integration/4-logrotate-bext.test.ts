// Scenario 4: Debian's logrotate (postrotate → invoke-rc.d nginx rotate → start-stop-daemon --name
// nginx --signal USR1) against bext, under a request loop: every request logged exactly once, and the
// lines after the rotation in the new access.log.
import { describeHost } from './harness.ts';
import { debPackage, missingDeb } from './lib/artifacts.ts';
import { bextLogs, expectBextServes, installedAndActive, bextDiagnostics } from './checks/bext.ts';
import { rotateUnderLoad, specLogrotateConfig } from './checks/logrotate.ts';

const deb = debPackage();

describeHost('4 bext: logrotate under load', { skip: !deb && missingDeb, logs: bextLogs, diagnose: bextDiagnostics, setup: installedAndActive(deb) }, (hostTest) => {
  hostTest('logrotate -f /etc/logrotate.d/nginx rotates, new lines go to the new file', async (host, t) => {
    await rotateUnderLoad(host, t);
  });

  hostTest('a second rotation (delaycompress → .2.gz) loses nothing either', async (host, t) => {
    await rotateUnderLoad(host, t);
  });

  hostTest("the spec's logrotate block (postrotate nginx -s reopen) loses nothing either", async (host, t) => {
    await host.writeFile('/etc/bext-spec-logrotate.conf', specLogrotateConfig);
    await rotateUnderLoad(host, t, 400, '/etc/bext-spec-logrotate.conf');
    await expectBextServes(host);
  });
});
