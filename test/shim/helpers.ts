// Test helpers for the nginx shim: build the shim bundle the way scripts/build.mjs does (into a temp
// dir, so tests never race a build of dist/), run it and the real nginx as processes, and normalise
// the parts of their stderr that differ by design (version mark, timestamps, pids).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const NGINX_BIN = '/usr/sbin/nginx';
export const haveNginx = existsSync(NGINX_BIN);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let bundle: Promise<string> | undefined;

/**
 * The shim as one ESM file, built once per test process; BEXT_SHIM_BUNDLE runs the tests against an
 * already built one instead (dist/nginx-shim.js, or the installed /usr/lib/bext/nginx-shim).
 */
export function shimBundle(): Promise<string> {
  bundle ??= (async () => {
    if (process.env.BEXT_SHIM_BUNDLE) return path.resolve(process.env.BEXT_SHIM_BUNDLE);
    const outDir = mkdtempSync(path.join(tmpdir(), 'bext-shim-'));
    process.once('exit', () => rmSync(outDir, { recursive: true, force: true }));
    const out = path.join(outDir, 'nginx-shim.js');
    await build({
      absWorkingDir: root,
      entryPoints: ['src/shim/main.ts'],
      outfile: out,
      bundle: true,
      platform: 'node',
      target: 'node18.19',
      format: 'esm',
      logLevel: 'error',
      banner: {
        js: "import { createRequire as __bextCreateRequire } from 'node:module';\nconst require = __bextCreateRequire(import.meta.url);",
      },
    });
    return out;
  })();
  return bundle;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill (SIGKILL) after this many ms; a start that should not have happened must not hang a test. */
  timeoutMs?: number;
}

export function run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export async function runShim(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [await shimBundle(), ...args], opts);
}

export function runNginx(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(NGINX_BIN, args, opts);
}

/**
 * What may differ between the shim and nginx: the `(bext-masquerade)` mark, the build lines of -V,
 * and the time and pid of log lines.
 */
export function normalise(stderr: string): string {
  return stderr
    .replace(/^(nginx version: nginx\/[0-9.]+) \(bext-masquerade\)$/m, '$1')
    .replace(/^(built by|built with|TLS SNI|configure arguments:).*\n/gm, '')
    .replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: /gm, 'TIME [$1] PID#TID: ');
}

/**
 * A prefix dir with a config that is safe to hand the real nginx: no listen sockets, and if an argv
 * ever starts it by mistake, it stays in the foreground (daemon off) where the timeout kills it.
 */
export function safePrefix(): { dir: string; conf: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'bext-shim-p-'));
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, `daemon off;\nmaster_process off;\nerror_log ${dir}/error.log;\nevents {}\n`);
  return { dir, conf };
}
