// Real processes for the process-model tests: a temp prefix with a config, the built bundles, and a
// request loop that counts what it sent and what failed.
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../http/oracle.ts';

export { freePort };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SERVER = path.join(ROOT, 'dist/bext-server.js');
export const SHIM = path.join(ROOT, 'dist/nginx-shim.js');

/** The tests run the bundles, as the packages do; build them once if `npm test`'s pretest did not. */
export function ensureBuilt(): void {
  if (!existsSync(SERVER) || !existsSync(SHIM)) spawnSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { stdio: 'inherit' });
}


export interface Prefix {
  dir: string;
  port: number;
  conf: string;
  pidFile: string;
  write(config: string): void;
  cleanup(): void;
}

/** A prefix dir readable by an unprivileged worker, with html/ and logs/. `@PORT@`/`@DIR@` are filled in. */
export async function makePrefix(config: string): Promise<Prefix> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bext-proc-'));
  chmodSync(dir, 0o755); // workers may run as www-data
  mkdirSync(path.join(dir, 'html'));
  mkdirSync(path.join(dir, 'logs'));
  writeFileSync(path.join(dir, 'html/index.html'), 'hello\n');
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  const p: Prefix = {
    dir,
    port,
    conf,
    pidFile: path.join(dir, 'logs/nginx.pid'),
    write(text) {
      writeFileSync(conf, text.replaceAll('@PORT@', String(port)).replaceAll('@DIR@', dir));
    },
    cleanup() {
      const pid = readPid(p.pidFile);
      if (pid) {
        // The daemon's whole process group: nginx's workers outlive a master killed alone.
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  p.write(config);
  return p;
}

export function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; resolves only once its stdout and stderr are closed too. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Reply {
  status: number;
  body: string;
}

export function get(port: number, urlPath: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

/** Polls until fn() is true or the time is up. */
export async function waitFor(fn: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A sequential request loop (each request tagged ?n=N) until stop() is called; counts outcomes. */
export function requestLoop(port: number, urlPath = '/') {
  let running = true;
  const stats = { sent: 0, ok: 0, failed: 0, failures: [] as string[], bodies: new Set<string>() };
  const done = (async () => {
    while (running) {
      const n = stats.sent++;
      try {
        const r = await get(port, `${urlPath}${urlPath.includes('?') ? '&' : '?'}n=${n}`);
        if (r.status === 200) {
          stats.ok++;
          stats.bodies.add(r.body);
        } else {
          stats.failed++;
          stats.failures.push(`#${n}: status ${r.status}`);
        }
      } catch (err) {
        stats.failed++;
        stats.failures.push(`#${n}: ${(err as Error).message}`);
      }
    }
  })();
  return {
    stats,
    async stop() {
      running = false;
      await done;
      return stats;
    },
  };
}

/** The pids of a master's worker processes. */
export function workerPids(masterPid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(masterPid)], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}
