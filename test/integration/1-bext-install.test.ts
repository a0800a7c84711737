// Scenario 1: install from the .deb on a host where Debian's nginx runs, then activate masquerade.
import assert from 'node:assert/strict';
import { describeHost } from './harness.ts';
import { debPackage, missingDeb } from './lib/artifacts.ts';
import { activateMasquerade, bextLogs, expectBextServes, expectRealNginxServes, installDeb, realNginxBackup, bextDiagnostics } from './checks/bext.ts';

const deb = debPackage();

describeHost('1 bext: install from the .deb', { skip: !deb && missingDeb, logs: bextLogs, diagnose: bextDiagnostics }, (hostTest) => {
  hostTest('before: the real nginx serves', async (host) => {
    await expectRealNginxServes(host);
  });

  hostTest('apt-get install the .deb', async (host, t) => {
    await installDeb(host, deb!, t);
    const files = await host.must('ls -l /usr/bin/bext /usr/bin/bext-server /usr/lib/bext/nginx-shim');
    t.diagnostic(files.trim().replace(/\n/g, '; '));
  });

  hostTest('masquerade install: bext serves nginx.service', async (host, t) => {
    t.diagnostic(await activateMasquerade(host));
    await expectBextServes(host);
  });

  hostTest('the real nginx binary is kept and still runs', async (host, t) => {
    const backup = await realNginxBackup(host);
    assert.ok(backup, 'the real nginx binary is neither diverted nor at /usr/sbin/nginx.real');
    const version = await host.sh(`${backup} -v`);
    assert.match(version.stderr, /nginx version: nginx\//);
    t.diagnostic(`real nginx kept at ${backup}: ${version.stderr.trim()}`);
  });

  hostTest('bext nginx masquerade status reports it active', async (host, t) => {
    const status = await host.sh('bext nginx masquerade status');
    t.diagnostic(`status exit ${status.exitCode}: ${status.stdout.trim().split('\n').slice(0, 3).join(' | ')}`);
    assert.equal(status.exitCode, 0);
    assert.match(status.stdout, /masquerade: installed/);
    assert.doesNotMatch(status.stdout, /^problem:/m, `status reports a problem:\n${status.stdout}`);
  });

  hostTest('a second install is a no-op that keeps serving', async (host) => {
    await host.must('bext nginx masquerade install --yes', { timeoutMs: 120_000 });
    await expectBextServes(host);
  });
});
