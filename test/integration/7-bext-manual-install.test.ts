// Scenario 7: the manual path, no package: the bundles copied to /usr/local, then
// `bext nginx masquerade install --bext-bin … --shim-bin … --pid-file …` (the spec's custom paths).
import assert from 'node:assert/strict';
import { describeHost } from './harness.ts';
import { bundles, debPackage, missingBundles, missingDeb } from './lib/artifacts.ts';
import { bextLogs, dropIn, expectBextServes, expectNoLeftovers, expectRealNginxServes, bextDiagnostics } from './checks/bext.ts';
import { reloadUnderLoad } from './checks/lifecycle.ts';

const dist = bundles();
// The bundles exist from the first `npm run build`, long before the product works: the manual path
// runs once the product is packaged (the .deb exists), or when asked with BEXT_IT_MANUAL=1.
const ready = Boolean(debPackage()) || process.env.BEXT_IT_MANUAL === '1';
const skip = !dist ? missingBundles : !ready && `${missingDeb} (or set BEXT_IT_MANUAL=1 to run the manual path on dist/ alone)`;
const bextBin = '/usr/local/bin/bext-server';
const installFlags = `--bext-bin ${bextBin} --shim-bin /usr/sbin/nginx --pid-file /run/nginx.pid`;

describeHost('7 bext: manual install with custom paths', { skip, logs: bextLogs, diagnose: bextDiagnostics }, (hostTest) => {
  hostTest('copy the bundles to /usr/local/lib/bext, commands linked in /usr/local/bin', async (host) => {
    // The layout of the package under /usr/local: an ES-module folder, the commands as symlinks into it.
    await host.must('mkdir -p /usr/local/lib/bext');
    await host.writeFile('/usr/local/lib/bext/package.json', '{"type":"module"}\n');
    await host.copyIn(dist!.bext, '/usr/local/lib/bext/bext.js');
    await host.copyIn(dist!.server, '/usr/local/lib/bext/bext-server.js');
    await host.copyIn(dist!.shim, '/usr/local/lib/bext/nginx-shim');
    await host.must(`chmod 0755 /usr/local/lib/bext/*.js /usr/local/lib/bext/nginx-shim
      ln -sf ../lib/bext/bext.js /usr/local/bin/bext
      ln -sf ../lib/bext/bext-server.js ${bextBin}
      /usr/local/bin/bext --help >/dev/null`);
  });

  hostTest(`bext nginx masquerade install --yes --restart ${installFlags}`, async (host, t) => {
    const out = await host.must(`/usr/local/bin/bext nginx masquerade install --yes --restart ${installFlags}`, { timeoutMs: 120_000 });
    t.diagnostic(out.trim().split('\n').slice(-3).join(' | '));
    const conf = await host.readFile(dropIn);
    assert.match(conf, new RegExp(`^ExecStart=${bextBin}`, 'm'), `the drop-in does not start ${bextBin}:\n${conf}`);
    assert.match(conf, /^PIDFile=\/run\/nginx\.pid$/m);
    assert.match(conf, /^ExecStart=$/m, 'the drop-in must clear Debian\'s ExecStart= before setting its own');
    await expectBextServes(host);
  });

  hostTest('reload through systemd with the manual install', async (host, t) => {
    await reloadUnderLoad(host, t);
  });

  hostTest('bext nginx masquerade uninstall restores the real nginx', async (host) => {
    await host.must('/usr/local/bin/bext nginx masquerade uninstall --yes', { timeoutMs: 120_000 });
    await expectRealNginxServes(host);
    await expectNoLeftovers(host);
  });
});
