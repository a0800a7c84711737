// certbot --nginx against a local pebble CA, then a forced renewal: the certificate must be issued,
// installed by certbot's own rewrite of the vhost, and served (and the renewed one served after the
// reload certbot triggers).
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { SystemdContainer } from '../lib/container.ts';
import { assetsDir } from '../lib/paths.ts';
import { describeLoop, fetchIn, startRequestLoop } from './http.ts';
import { waitUntil } from './wait.ts';

const acmeServer = 'https://localhost:14000/dir';
const pebbleApiCa = '/etc/pebble/ca.pem';
const pebbleRoot = '/etc/pebble/pebble-root.pem';
const certbotFlags = `--server ${acmeServer} --agree-tos --register-unsafely-without-email --non-interactive --no-eff-email --no-random-sleep-on-renew`;
export const certbotLogs = ['/var/log/letsencrypt/letsencrypt.log', '/var/log/nginx/error.log'];

export async function startPebble(host: SystemdContainer): Promise<void> {
  await host.copyIn(path.join(assetsDir, 'start-pebble.sh'), '/usr/local/sbin/start-pebble.sh');
  await host.must('/usr/local/sbin/start-pebble.sh');
}

/** An http-only vhost with a page of its own, as an operator would have before running certbot. */
export async function addPlainVhost(host: SystemdContainer, domain: string): Promise<void> {
  await host.writeFile(`/var/www/${domain}/index.html`, `hello from ${domain}\n`);
  await host.writeFile(
    `/etc/nginx/sites-available/${domain}`,
    `server {\n    listen 80;\n    server_name ${domain};\n    root /var/www/${domain};\n}\n`,
  );
  await host.must(`ln -sf /etc/nginx/sites-available/${domain} /etc/nginx/sites-enabled/${domain} && nginx -t && systemctl reload nginx`);
  await waitUntil(`http://${domain}/ to answer`, async () => {
    const r = await fetchIn(host, `http://${domain}/`, ['--resolve', `${domain}:80:127.0.0.1`]);
    return r.status === 200 && r.body.includes(domain);
  });
}

async function servedSerial(host: SystemdContainer, domain: string): Promise<string> {
  return (
    await host.must(
      `openssl s_client -connect 127.0.0.1:443 -servername ${domain} </dev/null 2>/dev/null | openssl x509 -noout -serial`,
    )
  ).trim();
}

async function fileSerial(host: SystemdContainer, domain: string): Promise<string> {
  return (await host.must(`openssl x509 -in /etc/letsencrypt/live/${domain}/cert.pem -noout -serial`)).trim();
}

/** `certbot --nginx -d domain`, then HTTPS with pebble's root, and the 301 certbot added on :80. */
export async function issueWithCertbotNginx(host: SystemdContainer, t: TestContext, domain: string): Promise<void> {
  const t0 = Date.now();
  const run = await host.sh(`REQUESTS_CA_BUNDLE=${pebbleApiCa} certbot --nginx -d ${domain} ${certbotFlags} --redirect`, {
    timeoutMs: 180_000,
  });
  t.diagnostic(`certbot --nginx: exit ${run.exitCode} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(run.exitCode, 0, `certbot failed:\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout + run.stderr, /Successfully deployed certificate/);

  const vhost = await host.readFile(`/etc/nginx/sites-available/${domain}`);
  assert.match(vhost, /listen 443 ssl/, 'certbot did not add listen 443 ssl');
  assert.match(vhost, /ssl_certificate \/etc\/letsencrypt\/live\//);

  await host.must(`curl -sf --cacert ${pebbleApiCa} https://localhost:15000/roots/0 > ${pebbleRoot}`);
  const https = await waitUntil(`https://${domain}/ with the new certificate`, async () => {
    const r = await fetchIn(host, `https://${domain}/`, ['--cacert', pebbleRoot, '--resolve', `${domain}:443:127.0.0.1`]);
    return r.status === 200 ? r : undefined;
  });
  assert.match(https.body, new RegExp(`hello from ${domain}`));
  const redirect = await fetchIn(host, `http://${domain}/`, ['--resolve', `${domain}:80:127.0.0.1`]);
  assert.equal(redirect.status, 301, 'http:// does not redirect after certbot --redirect');
  const issuer = (await host.must(`openssl x509 -in /etc/letsencrypt/live/${domain}/cert.pem -noout -issuer`)).trim();
  t.diagnostic(`served over HTTPS: status ${https.status}; ${issuer}; http → ${redirect.status}`);
  assert.equal(await servedSerial(host, domain), await fileSerial(host, domain), 'the served certificate is not the issued one');
}

/**
 * `certbot renew --force-renewal` while HTTPS requests flow: certbot reloads the server, which must
 * then serve the new certificate, and no request may fail meanwhile.
 */
export async function forcedRenewalIsServed(host: SystemdContainer, t: TestContext, domain: string): Promise<void> {
  const oldSerial = await fileSerial(host, domain);
  const loop = startRequestLoop(host, {
    url: `https://${domain}/`,
    count: 400,
    curlArgs: `--cacert ${pebbleRoot} --resolve ${domain}:443:127.0.0.1`,
  });
  const t0 = Date.now();
  const run = await host.sh(`REQUESTS_CA_BUNDLE=${pebbleApiCa} certbot renew --force-renewal --no-random-sleep-on-renew --non-interactive`, {
    timeoutMs: 180_000,
  });
  assert.equal(run.exitCode, 0, `certbot renew failed:\n${run.stdout}\n${run.stderr}`);
  const newSerial = await fileSerial(host, domain);
  assert.notEqual(newSerial, oldSerial, 'certbot renew did not write a new certificate');
  await waitUntil('the renewed certificate to be served', async () => (await servedSerial(host, domain)) === newSerial);
  t.diagnostic(`renewal: ${oldSerial} → ${newSerial}, served after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const figures = await loop.done;
  t.diagnostic(`HTTPS during the renewal: ${describeLoop(figures)}`);
  assert.equal(figures.failed, 0, `requests failed during the renewal: ${describeLoop(figures)}`);
}
