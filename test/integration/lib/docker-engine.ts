// Makes sure a Docker engine answers. If none runs, starts Debian's `dockerd` in the background and
// remembers that this process owns it, so the same process stops it at the end (and only then).
import { spawn, spawnSync } from 'node:child_process';
import { openSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { cacheDir } from './paths.ts';
import { withLock } from './lock.ts';
import { log } from './log.ts';

/** The label of every container the suite starts (value: the run id). */
export const containerLabel = 'bext-masquerade.integration';

let ownedDaemonPid: number | undefined;

async function engineAnswers(): Promise<boolean> {
  const r = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false, timeout: 15_000 });
  return r.exitCode === 0;
}

function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export async function ensureDockerEngine(): Promise<void> {
  if (await engineAnswers()) return;
  await withLock('dockerd', async () => {
    if (await engineAnswers()) return; // another test process started it meanwhile
    if (!commandExists('dockerd') || !commandExists('docker')) {
      throw new Error('no Docker engine: install it with `apt-get install -y docker.io` (test/integration/run.sh does)');
    }
    const logFile = path.join(cacheDir(), 'dockerd.log');
    const out = openSync(logFile, 'a');
    // setsid-like: own process group, so a Ctrl-C aimed at the tests does not kill the engine mid-cleanup.
    const daemon = spawn('dockerd', [], { detached: true, stdio: ['ignore', out, out] });
    daemon.unref();
    ownedDaemonPid = daemon.pid;
    writeFileSync(path.join(cacheDir(), 'dockerd.pid'), String(daemon.pid));
    log(`started dockerd (pid ${daemon.pid}, log ${logFile})`);
    const deadline = Date.now() + 90_000;
    while (!(await engineAnswers())) {
      if (daemon.exitCode !== null) throw new Error(`dockerd exited with ${daemon.exitCode}; see ${logFile}`);
      if (Date.now() > deadline) throw new Error(`dockerd did not answer within 90 s; see ${logFile}`);
      await sleep(500);
    }
  });
}

/** Stops dockerd if (and only if) this process started it. Synchronous so it can run in 'exit' handlers. */
export function stopOwnedDockerEngine(): void {
  const pid = ownedDaemonPid;
  if (!pid) return;
  ownedDaemonPid = undefined;
  // Test files run in parallel (more cores, --test-concurrency) share the engine the first one
  // started: while another one's containers run, leave it up rather than kill their hosts.
  const others = spawnSync('docker', ['ps', '-q', '--filter', `label=${containerLabel}`], { encoding: 'utf8' });
  if (others.stdout?.trim()) {
    log(`leaving dockerd (pid ${pid}) running: other test processes still use it`);
    return;
  }
  log(`stopping dockerd (pid ${pid}) that this run started`);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  // Wait (bounded) so a following run does not race a half-stopped engine.
  // It is our child, and a blocked event loop cannot reap it: a zombie (state Z) has exited.
  const gone = `! kill -0 ${pid} 2>/dev/null || grep -q '^State:.*Z' /proc/${pid}/status`;
  spawnSync('sh', ['-c', `for i in $(seq 1 150); do if ${gone}; then exit 0; fi; sleep 0.2; done; kill -9 ${pid}`]);
  rmSync(path.join(cacheDir(), 'dockerd.pid'), { force: true });
}
