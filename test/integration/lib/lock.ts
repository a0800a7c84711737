// A cross-process lock made of an atomic mkdir, so parallel test files build the image only once.
import { mkdirSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cacheDir } from './paths.ts';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const dir = path.join(cacheDir('locks'), name);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'pid'), String(process.pid));
      break;
    } catch {
      // A lock whose holder died (SIGKILL, crash) is stale: take it over.
      let holder = 0;
      try {
        holder = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
      } catch {
        /* being created right now */
      }
      if (holder && !isAlive(holder)) rmSync(dir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${dir} (held by pid ${holder})`);
      else await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
