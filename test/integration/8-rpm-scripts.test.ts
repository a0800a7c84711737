// Scenario 8: the .rpm's scriptlets, run by rpm itself on the Debian host (`rpm -i --nodeps --dbpath
// /var/lib/rpm`, as no RPM distribution image can be had here): %post and %preun/%postun must do on
// an rpm system what the .deb's maintainer scripts do.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describeHost } from './harness.ts';
import { missingRpm, rpmPackage } from './lib/artifacts.ts';
import { activateMasquerade, bextLogs, expectBextServes, expectNoLeftovers, expectRealNginxServes, bextDiagnostics } from './checks/bext.ts';

const rpm = rpmPackage();
const rpmDb = '--dbpath /var/lib/rpm';

describeHost('8 bext: rpm scriptlets', { skip: !rpm && missingRpm, logs: bextLogs, diagnose: bextDiagnostics }, (hostTest) => {
  hostTest('rpm -i --nodeps runs %post; the files are in place', async (host, t) => {
    await host.copyIn(rpm!, '/tmp/bext-masquerade.rpm');
    const scripts = await host.must(`rpm -qp --scripts /tmp/bext-masquerade.rpm`);
    t.diagnostic(`scriptlets: ${(scripts.match(/^\S+ scriptlet/gm) ?? []).join(', ') || 'none'}`);
    const r = await host.sh(`rpm -i --nodeps ${rpmDb} /tmp/bext-masquerade.rpm`, { timeoutMs: 120_000 });
    assert.equal(r.exitCode, 0, `rpm -i ${path.basename(rpm!)} failed:\n${r.stdout}\n${r.stderr}`);
    await host.must(`rpm -q ${rpmDb} bext-masquerade`);
    await host.must('test -x /usr/bin/bext && test -x /usr/bin/bext-server && test -x /usr/lib/bext/nginx-shim');
  });

  hostTest('masquerade install after the rpm install: bext serves', async (host, t) => {
    t.diagnostic(await activateMasquerade(host));
    await expectBextServes(host);
  });

  hostTest('rpm -e runs %preun/%postun: the real nginx serves, nothing left', async (host) => {
    const r = await host.sh(`rpm -e --nodeps ${rpmDb} bext-masquerade`, { timeoutMs: 120_000 });
    assert.equal(r.exitCode, 0, `rpm -e failed:\n${r.stdout}\n${r.stderr}`);
    await expectRealNginxServes(host);
    await expectNoLeftovers(host);
    const left = (await host.sh('ls -d /usr/bin/bext /usr/bin/bext-server /usr/lib/bext 2>/dev/null')).stdout.trim();
    assert.equal(left, '', `files left after rpm -e: ${left}`);
  });
});
