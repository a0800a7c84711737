// What systemd and /proc say about the nginx service, whichever program serves it.
import assert from 'node:assert/strict';
import type { SystemdContainer } from '../lib/container.ts';
import { waitUntil } from './wait.ts';

export const pidFile = '/run/nginx.pid';

export async function mainPid(host: SystemdContainer, unit = 'nginx'): Promise<number> {
  return Number((await host.must(`systemctl show -p MainPID --value ${unit}`)).trim());
}

export async function isActive(host: SystemdContainer, unit = 'nginx'): Promise<boolean> {
  return (await host.sh(`systemctl is-active -q ${unit}`)).exitCode === 0;
}

export async function pidInPidFile(host: SystemdContainer, file = pidFile): Promise<number | undefined> {
  const r = await host.sh(`cat ${file}`);
  return r.exitCode === 0 ? Number(r.stdout.trim()) : undefined;
}

/** comm (what start-stop-daemon --name compares) and the executable behind a pid. */
export async function processOf(host: SystemdContainer, pid: number): Promise<{ comm: string; exe: string }> {
  const out = await host.must(`cat /proc/${pid}/comm; readlink /proc/${pid}/exe`);
  const [comm = '', exe = ''] = out.trim().split('\n');
  return { comm, exe };
}

/** Active, a main pid, the pid file naming that pid, and that process called `nginx`. */
export async function expectServiceHealthy(host: SystemdContainer): Promise<{ pid: number; exe: string }> {
  assert.ok(await isActive(host), 'nginx.service is not active');
  const pid = await mainPid(host);
  assert.ok(pid > 0, 'nginx.service has no MainPID');
  assert.equal(await pidInPidFile(host), pid, `${pidFile} does not hold the MainPID ${pid}`);
  const { comm, exe } = await processOf(host, pid);
  assert.equal(comm, 'nginx', `the master's comm is "${comm}": start-stop-daemon --name nginx would miss it`);
  return { pid, exe };
}

/** Waits until the unit is active with a main pid different from `previous` (restart, Restart=on-failure). */
export async function waitForNewMaster(host: SystemdContainer, previous: number, timeoutMs = 20_000): Promise<number> {
  return waitUntil(
    `a new nginx master (old pid ${previous})`,
    async () => {
      if (!(await isActive(host))) return undefined;
      const pid = await mainPid(host);
      return pid > 0 && pid !== previous && (await pidInPidFile(host)) === pid ? pid : undefined;
    },
    { timeoutMs },
  );
}

/** The pids of the master's children (nginx's workers). */
export async function workerPids(host: SystemdContainer): Promise<number[]> {
  const pid = await mainPid(host);
  const r = await host.sh(`pgrep -P ${pid}`);
  return r.stdout.split('\n').filter(Boolean).map(Number).sort();
}
