// `bext-server wait-ready PIDFILE [PID] [--timeout SECONDS]`: the drop-in's ExecStartPost=. With
// Type=exec systemd considers the service started as soon as bext-server is exec'd, so `systemctl
// start|restart nginx` would return before anything listens (Debian's Type=forking nginx returns only
// once the daemon runs). The master writes its pid file only once every worker listens; this waits for
// that file to name PID (systemd passes $MAINPID), and fails early if that process dies.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function parseWaitArgs(argv: string[]): { pidFile: string; pid?: number; timeoutMs: number } | string {
  let timeoutMs = 60_000;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--timeout') {
      const s = Number(argv[++i]);
      if (!(s > 0)) return 'option "--timeout" requires a number of seconds';
      timeoutMs = s * 1000;
    } else positional.push(argv[i]);
  }
  const [pidFile, pidText] = positional;
  if (!pidFile || !pidFile.startsWith('/') || positional.length > 2) return 'usage: wait-ready PIDFILE [PID] [--timeout SECONDS]';
  if (pidText !== undefined && !/^\d+$/.test(pidText)) return `invalid pid: "${pidText}"`;
  return { pidFile, pid: pidText === undefined ? undefined : Number(pidText), timeoutMs };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves with an exit code: 0 once the pid file names the expected (or any live) process. */
export async function waitReady(argv: string[], stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  const opts = parseWaitArgs(argv);
  if (typeof opts === 'string') {
    stderr.write(`bext-server: ${opts}\n`);
    return 2;
  }
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const found = readPid(opts.pidFile);
    if (found !== undefined && (opts.pid === undefined ? alive(found) : found === opts.pid)) return 0;
    if (opts.pid !== undefined && !alive(opts.pid)) {
      stderr.write(`bext-server: process ${opts.pid} exited before it was ready\n`);
      return 1;
    }
    if (Date.now() > deadline) {
      stderr.write(`bext-server: ${opts.pidFile} did not name ${opts.pid ?? 'a running process'} within ${opts.timeoutMs / 1000} s\n`);
      return 1;
    }
    await sleep(50);
  }
}
