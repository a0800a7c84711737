// Scenario 3: certbot --nginx with pebble, through the shim, with bext serving the challenge and
// then the certificate; renewal must be picked up by the reload certbot sends.
import { describeHost } from './harness.ts';
import { debPackage, missingDeb } from './lib/artifacts.ts';
import { expectBextServes, installedAndActive, bextDiagnostics } from './checks/bext.ts';
import { addPlainVhost, certbotLogs, forcedRenewalIsServed, issueWithCertbotNginx, startPebble } from './checks/acme.ts';

const deb = debPackage();
const domain = 'test.example';

describeHost(
  '3 bext: certbot --nginx + pebble through bext',
  { skip: !deb && missingDeb, units: ['nginx', 'pebble', 'challtestsrv'], logs: certbotLogs, diagnose: bextDiagnostics, setup: installedAndActive(deb) },
  (hostTest) => {
    hostTest('pebble and the fake DNS start', async (host) => {
      await startPebble(host);
    });

    hostTest(`an http vhost for ${domain}`, async (host) => {
      await addPlainVhost(host, domain);
    });

    hostTest('certbot --nginx issues, installs and bext serves the certificate', async (host, t) => {
      await issueWithCertbotNginx(host, t, domain);
      await expectBextServes(host);
    }, { timeoutMs: 240_000 });

    hostTest('certbot renew --force-renewal: bext serves the renewed certificate after the reload', async (host, t) => {
      await forcedRenewalIsServed(host, t, domain);
    }, { timeoutMs: 240_000 });
  },
);
