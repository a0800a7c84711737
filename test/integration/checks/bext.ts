// Installing bext and telling which program serves nginx.service: bext (node behind the shim) or the
// real nginx. Assumptions about the product are kept here, in one place, for the packaging to match.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { SystemdContainer } from '../lib/container.ts';
import { expectDefaultSite } from './http.ts';
import { expectServiceHealthy, isActive } from './service.ts';
import { waitUntil } from './wait.ts';

export const dropIn = '/etc/systemd/system/nginx.service.d/bext-masquerade.conf';
export const bextLogs = ['/var/log/nginx/error.log', '/var/log/nginx/access.log'];

async function nginxVersionText(host: SystemdContainer): Promise<string> {
  const r = await host.sh('/usr/sbin/nginx -V');
  return `${r.stdout}${r.stderr}`; // nginx prints -V on stderr (certbot reads it there)
}

export async function bextIsActive(host: SystemdContainer): Promise<boolean> {
  return /bext-masquerade/.test(await nginxVersionText(host));
}

/** `apt-get install ./bext-masquerade.deb` (dependencies from the image: nodejs, nginx). */
export async function installDeb(host: SystemdContainer, deb: string, t?: TestContext): Promise<void> {
  await host.copyIn(deb, '/tmp/bext-masquerade.deb');
  const t0 = Date.now();
  const r = await host.sh('apt-get install -y -q /tmp/bext-masquerade.deb', { timeoutMs: 180_000 });
  assert.equal(r.exitCode, 0, `apt-get install of ${path.basename(deb)} failed:\n${r.stdout}\n${r.stderr}`);
  t?.diagnostic(`apt-get install ${path.basename(deb)}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** `bext nginx masquerade install --yes --restart` (so bext serves now) unless the package already activated it. */
export async function activateMasquerade(host: SystemdContainer, extraFlags = '', bext = 'bext'): Promise<string> {
  if (await bextIsActive(host)) return 'already active (done by the package)';
  await host.must(`${bext} nginx masquerade install --yes --restart ${extraFlags}`, { timeoutMs: 120_000 });
  await waitUntil('nginx.service active after masquerade install', () => isActive(host), { timeoutMs: 30_000 });
  return `activated with: ${bext} nginx masquerade install --yes --restart ${extraFlags}`.trim();
}

/** bext serves: the shim answers -V and -t, the drop-in is loaded, the master is node named nginx. */
export async function expectBextServes(host: SystemdContainer): Promise<void> {
  assert.match(await nginxVersionText(host), /bext-masquerade/, '/usr/sbin/nginx -V does not report bext-masquerade');
  const test = await host.sh('nginx -t');
  assert.equal(test.exitCode, 0, `nginx -t failed:\n${test.stderr}`);
  assert.match(test.stderr, /syntax is ok/);
  assert.match(test.stderr, /test is successful/);
  const dropIns = (await host.must('systemctl show -p DropInPaths --value nginx')).trim();
  assert.ok(dropIns.includes(dropIn), `systemd has not loaded ${dropIn} (DropInPaths: "${dropIns}")`);
  const { exe } = await expectServiceHealthy(host);
  assert.match(path.basename(exe), /^node/, `nginx.service's master runs ${exe}, not node (bext)`);
  await expectDefaultSite(host);
}

/** The real nginx serves again: -V is Debian's, no drop-in, the master is /usr/sbin/nginx itself. */
export async function expectRealNginxServes(host: SystemdContainer): Promise<void> {
  const version = await nginxVersionText(host);
  assert.match(version, /nginx version: nginx\/1\.\d+/, `/usr/sbin/nginx -V is not nginx's:\n${version}`);
  assert.doesNotMatch(version, /bext/);
  assert.equal((await host.sh(`test -e ${dropIn}`)).exitCode, 1, `${dropIn} is still there`);
  const dropIns = (await host.must('systemctl show -p DropInPaths --value nginx')).trim();
  assert.ok(!dropIns.includes('bext'), `systemd still loads a bext drop-in: ${dropIns}`);
  const { exe } = await expectServiceHealthy(host);
  assert.equal(exe, '/usr/sbin/nginx', `nginx.service's master runs ${exe}`);
  await expectDefaultSite(host);
}

/** Where the real binary went: a dpkg diversion (the contract) or the spec's /usr/sbin/nginx.real. */
export async function realNginxBackup(host: SystemdContainer): Promise<string | undefined> {
  const diverted = (await host.sh('dpkg-divert --truename /usr/sbin/nginx')).stdout.trim();
  if (diverted && diverted !== '/usr/sbin/nginx') return diverted;
  return (await host.sh('test -x /usr/sbin/nginx.real')).exitCode === 0 ? '/usr/sbin/nginx.real' : undefined;
}

/** After uninstall or purge: no diversion, no backup copy, nothing of bext left in /usr/sbin. */
export async function expectNoLeftovers(host: SystemdContainer): Promise<void> {
  const diversions = (await host.sh('dpkg-divert --list /usr/sbin/nginx')).stdout.trim();
  assert.equal(diversions, '', `a diversion of /usr/sbin/nginx is left: ${diversions}`);
  const extra = (await host.sh('ls -1 /usr/sbin/nginx.* 2>/dev/null')).stdout.trim();
  assert.equal(extra, '', `files left next to /usr/sbin/nginx: ${extra}`);
}

/** The common setup of the bext scenarios: the .deb installed and masquerade active. */
export function installedAndActive(deb: string | undefined): (host: SystemdContainer) => Promise<void> {
  return async (host) => {
    if (!deb) throw new Error('no .deb');
    await installDeb(host, deb);
    await activateMasquerade(host);
    await expectBextServes(host);
  };
}

/** What to print when a bext scenario fails, besides the journal and the logs. */
export const bextDiagnostics = [
  'bext nginx masquerade status',
  'cat /etc/systemd/system/nginx.service.d/*.conf',
  'ls -l /usr/sbin/nginx*',
  "dpkg-divert --list '*nginx*'",
  'ps -eo pid,ppid,comm,args --forest',
  'ss -ltnp',
];
