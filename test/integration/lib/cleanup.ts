// Whatever the suite started is removed however the process ends: normal exit, an exception,
// SIGINT (Ctrl-C) or SIGTERM. The handlers are synchronous because 'exit' allows nothing else.
import { spawnSync } from 'node:child_process';
import { stopOwnedDockerEngine } from './docker-engine.ts';

const containers = new Set<string>();
let installed = false;

export function trackContainer(name: string): void {
  installHandlers();
  containers.add(name);
}

export function untrackContainer(name: string): void {
  containers.delete(name);
}

/** Removes the containers still tracked, then stops dockerd if this process started it. */
export function cleanupNow(): void {
  for (const name of containers) {
    spawnSync('docker', ['rm', '-f', '-v', name], { stdio: 'ignore', timeout: 60_000 });
    containers.delete(name);
  }
  stopOwnedDockerEngine();
}

export function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n[it] ${signal}: removing containers before exiting\n`);
      cleanupNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}
