// Scenario 3, baseline: certbot --nginx with a local pebble CA against the real nginx. The bext
// version (3-certbot-bext.test.ts) runs the same steps through the shim.
import { describeHost } from './harness.ts';
import { addPlainVhost, certbotLogs, forcedRenewalIsServed, issueWithCertbotNginx, startPebble } from './checks/acme.ts';

const domain = 'test.example';

describeHost('3 baseline: certbot --nginx + pebble against real nginx', { units: ['nginx', 'pebble', 'challtestsrv'], logs: certbotLogs }, (hostTest) => {
  hostTest('pebble and the fake DNS start', async (host) => {
    await startPebble(host);
  });

  hostTest(`an http vhost for ${domain}`, async (host) => {
    await addPlainVhost(host, domain);
  });

  hostTest('certbot --nginx issues, installs and the certificate is served', async (host, t) => {
    await issueWithCertbotNginx(host, t, domain);
  }, { timeoutMs: 240_000 });

  hostTest('certbot renew --force-renewal: the renewed certificate is served after its reload', async (host, t) => {
    await forcedRenewalIsServed(host, t, domain);
  }, { timeoutMs: 240_000 });
});
