// Running the example playbook of contrib/ansible inside the test host (`ansible-playbook -c local`),
// and reading its PLAY RECAP.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { SystemdContainer } from '../lib/container.ts';
import { repoRoot } from '../lib/paths.ts';

export const ansibleDir = path.join(repoRoot, 'contrib', 'ansible');
/** Where the role and the playbook go in the container, and where the .deb goes. */
export const remoteAnsibleDir = '/root/ansible';
export const remoteDeb = '/tmp/bext-masquerade.deb';

/** Debian's ansible-core from the mirror (the image keeps its apt lists; update them if they are stale). */
export async function installAnsible(host: SystemdContainer): Promise<string> {
  const install = 'apt-get install -y -q --no-install-recommends ansible-core';
  let r = await host.sh(install, { timeoutMs: 300_000 });
  if (r.exitCode !== 0) {
    await host.sh('apt-get update -q -o APT::Update::Error-Mode=any', { timeoutMs: 180_000 });
    r = await host.sh(install, { timeoutMs: 300_000 });
  }
  assert.equal(r.exitCode, 0, `apt-get install ansible-core failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return (await host.must('ansible-playbook --version | head -n 1')).trim();
}

/** The counters of one host's line in the PLAY RECAP. */
export interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
  rescued: number;
  ignored: number;
}

export function parseRecap(output: string, hostName = 'localhost'): Recap | undefined {
  const at = output.lastIndexOf('PLAY RECAP');
  if (at < 0) return undefined;
  const line = output
    .slice(at)
    .split('\n')
    .find((l) => l.trim().startsWith(`${hostName} `) || l.trim().startsWith(`${hostName}:`));
  if (!line) return undefined;
  const counter = (name: string) => Number(new RegExp(`\\b${name}=(\\d+)`).exec(line)?.[1] ?? NaN);
  return {
    ok: counter('ok'),
    changed: counter('changed'),
    unreachable: counter('unreachable'),
    failed: counter('failed'),
    skipped: counter('skipped'),
    rescued: counter('rescued'),
    ignored: counter('ignored'),
  };
}

export interface PlaybookRun {
  exitCode: number;
  output: string;
  recap: Recap;
  seconds: number;
}

/**
 * `ansible-playbook -c local -i localhost, site.yml` with the .deb and `extraVars` (-e key=value),
 * in the container. Throws when the run produced no PLAY RECAP line for localhost.
 */
export async function runPlaybook(host: SystemdContainer, extraVars: Record<string, string> = {}): Promise<PlaybookRun> {
  const vars = { bext_masquerade_play_hosts: 'localhost', bext_masquerade_package_file: remoteDeb, ...extraVars };
  const args = Object.entries(vars)
    .map(([k, v]) => `-e '${k}=${v}'`)
    .join(' ');
  const t0 = Date.now();
  const r = await host.sh(`cd ${remoteAnsibleDir} && ansible-playbook -c local -i localhost, site.yml ${args} 2>&1`, {
    timeoutMs: 300_000,
    env: { ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', DEBIAN_FRONTEND: 'noninteractive' },
  });
  const seconds = (Date.now() - t0) / 1000;
  const output = r.stdout + r.stderr;
  const recap = parseRecap(output);
  assert.ok(recap, `ansible-playbook (exit ${r.exitCode}) printed no PLAY RECAP for localhost:\n${output.slice(-6000)}`);
  return { exitCode: r.exitCode, output, recap, seconds };
}

export function describeRun(run: PlaybookRun): string {
  const c = run.recap;
  return `exit ${run.exitCode} in ${run.seconds.toFixed(1)} s: ok=${c.ok} changed=${c.changed} failed=${c.failed} rescued=${c.rescued} skipped=${c.skipped}`;
}

/** The names of the tasks that reported "changed", for messages. */
export function changedTasks(output: string): string[] {
  const tasks: string[] = [];
  let current = '';
  for (const line of output.split('\n')) {
    const m = /^(?:TASK|RUNNING HANDLER) \[(.*)\]/.exec(line);
    if (m) current = m[1]!;
    else if (/^changed: /.test(line)) tasks.push(current);
  }
  return tasks;
}
