// One booted systemd host in Docker, driven through `docker exec`. Every container started here is
// removed at the end, also on failure, SIGINT or SIGTERM (see cleanup.ts).
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { trackContainer, untrackContainer } from './cleanup.ts';
import { containerLabel } from './docker-engine.ts';
import { log } from './log.ts';

export { containerLabel };

/** Labels this run's containers, so run.sh can remove exactly its own leftovers. */
export const runId = process.env.BEXT_IT_RUN_ID ?? `pid-${process.pid}`;

/** The flags that make systemd boot as PID 1 on this machine kind (see contracts/test-harness.md):
 * --privileged fails (no CAP_SYS_RESOURCE in the VM's bounding set); bind only the name=systemd cgroup. */
const systemdRunFlags = [
  '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE',
  '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
  '--tmpfs', '/run', '--tmpfs', '/run/lock',
  '-v', '/sys/fs/cgroup/systemd:/sys/fs/cgroup/systemd:rw',
];

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

export class CommandFailed extends Error {
  constructor(readonly command: string, readonly result: ExecResult) {
    super(
      `command failed (exit ${result.exitCode}) in container: ${command}\n` +
        `--- stdout ---\n${result.stdout.slice(-4000)}\n--- stderr ---\n${result.stderr.slice(-4000)}`,
    );
  }
}

export class SystemdContainer {
  private constructor(readonly name: string) {}

  static async start(image: string, scenario: string): Promise<SystemdContainer> {
    const slug = scenario.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
    const name = `bext-it-${slug}-${randomBytes(3).toString('hex')}`;
    trackContainer(name);
    await execa('docker', [
      'run', '-d', '--name', name, '--hostname', 'bext-it',
      '--label', `${containerLabel}=${runId}`,
      ...systemdRunFlags, image,
    ]);
    const container = new SystemdContainer(name);
    await container.waitBooted();
    return container;
  }

  /** Waits for `systemctl is-system-running` to say running or degraded (the boot is over). */
  async waitBooted(timeoutMs = 60_000): Promise<void> {
    const t0 = Date.now();
    let state = '';
    while (Date.now() - t0 < timeoutMs) {
      state = (await this.exec(['systemctl', 'is-system-running'], { timeoutMs: 10_000 })).stdout.trim();
      if (state === 'running' || state === 'degraded') {
        log(`${this.name}: systemd ${state} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return;
      }
      await sleep(300);
    }
    const logs = await execa('docker', ['logs', '--tail', '50', this.name], { reject: false, all: true });
    throw new Error(`${this.name}: systemd not up after ${timeoutMs} ms (state "${state}")\n${logs.all ?? ''}`);
  }

  /** Runs argv in the container; never throws on a nonzero exit (see `must`). */
  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const envFlags = Object.entries(options.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    const r = await execa('docker', ['exec', ...(options.input !== undefined ? ['-i'] : []), ...envFlags, this.name, ...argv], {
      reject: false,
      input: options.input,
      timeout: options.timeoutMs ?? 120_000,
    });
    const exitCode = r.exitCode ?? (r.timedOut ? 124 : 1);
    return { exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }

  /** Runs a bash script (with `set -o pipefail`) in the container; never throws. */
  sh(script: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(['bash', '-o', 'pipefail', '-c', script], options);
  }

  /** Runs a bash script with `set -eu`; throws CommandFailed (with both outputs) unless it exits 0. */
  async must(script: string, options: ExecOptions = {}): Promise<string> {
    const r = await this.sh(`set -eu\n${script}`, options);
    if (r.exitCode !== 0) throw new CommandFailed(script, r);
    return r.stdout;
  }

  async copyIn(hostPath: string, containerPath: string): Promise<void> {
    await execa('docker', ['cp', hostPath, `${this.name}:${containerPath}`]);
  }

  async writeFile(containerPath: string, content: string, mode = '0644'): Promise<void> {
    await this.must(`mkdir -p "$(dirname '${containerPath}')" && cat > '${containerPath}' && chmod ${mode} '${containerPath}'`, {
      input: content,
    });
  }

  async readFile(containerPath: string): Promise<string> {
    return this.must(`cat '${containerPath}'`);
  }

  async remove(): Promise<void> {
    await execa('docker', ['rm', '-f', '-v', this.name], { reject: false, timeout: 60_000 });
    untrackContainer(this.name);
  }
}
