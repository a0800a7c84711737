// nginx's `daemon on;` for Node, which cannot fork: the caller re-runs itself detached (new session,
// stdin/stdout at /dev/null) and waits on a pipe until the child reports that it listens. So the
// caller exits 0 only once the server serves, reports bind errors itself, and holds no pipe of its
// caller's open (certbot's fallback start waits for it to exit).
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';

const CHILD_ENV = 'BEXT_DAEMON_CHILD';
const READY_FD = 3;

export function isDaemonChild(): boolean {
  return process.env[CHILD_ENV] === '1';
}

/** In the caller: starts the detached server and resolves with the caller's exit code. */
export function daemonize(): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      detached: true,
      env: { ...process.env, [CHILD_ENV]: '1' },
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    });
    let report = '';
    const pipe = child.stdio[READY_FD] as Readable;
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk: string) => (report += chunk));
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      pipe.destroy();
      child.unref();
      resolve(code);
    };
    pipe.on('end', () => {
      const lines = report.split('\n').filter(Boolean);
      const ok = lines.includes('ready');
      for (const l of lines) if (l.startsWith('error ')) process.stderr.write(`${l.slice(6)}\n`);
      if (!ok && lines.length === 0) process.stderr.write('nginx: [emerg] the server exited before it was ready\n');
      finish(ok ? 0 : 1);
    });
    child.on('error', (err) => {
      process.stderr.write(`nginx: [emerg] cannot start the server: ${err.message}\n`);
      finish(1);
    });
  });
}

/** In the detached server: tell the waiting caller how the start went, then close the pipe. */
export function reportToCaller(lines: string[], ok: boolean): void {
  if (!isDaemonChild()) return;
  try {
    // Synchronous: the process may exit right after a failed start.
    writeSync(READY_FD, [...lines.map((l) => `error ${l}`), ...(ok ? ['ready'] : [])].join('\n') + '\n');
    closeSync(READY_FD);
  } catch {
    // the caller is gone; nothing to tell
  }
  delete process.env[CHILD_ENV];
}
