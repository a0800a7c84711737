// A real FastCGI application for the differential tests: Debian's php-fpm with its own pool
// (TCP port or unix socket), started in the foreground and stopped with the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PHP_FPM = '/usr/sbin/php-fpm8.2';
export const havePhpFpm = existsSync(PHP_FPM);

export interface PhpFpm {
  /** What fastcgi_pass names: `127.0.0.1:PORT` or `unix:/path`. */
  address: string;
  log(): string;
  stop(): Promise<void>;
}

/** Starts a pool listening on `port`, or on a unix socket when no port is given. */
export async function startPhpFpm(port?: number, children = 4): Promise<PhpFpm> {
  const dir = mkdtempSync(join(tmpdir(), 'bext-php-fpm-'));
  chmodSync(dir, 0o755); // the web servers' workers (nobody) reach the socket
  const socket = join(dir, 'php.sock');
  const listen = port === undefined ? socket : `127.0.0.1:${port}`;
  const root = process.getuid?.() === 0;
  writeFileSync(join(dir, 'php-fpm.conf'), [
    '[global]',
    `pid = ${dir}/fpm.pid`,
    `error_log = ${dir}/fpm.log`,
    'daemonize = no',
    '[www]',
    ...(root ? ['user = nobody', 'group = nogroup', 'listen.mode = 0666'] : []),
    `listen = ${listen}`,
    'pm = static',
    `pm.max_children = ${children}`,
    // Warnings and error_log() go to the web server as FastCGI stderr records (nginx logs them).
    'php_admin_value[error_log] =',
    'php_admin_flag[log_errors] = on',
    'php_admin_flag[expose_php] = off',
    '',
  ].join('\n'));
  const child: ChildProcess = spawn(PHP_FPM, ['-F', ...(root ? ['-R'] : []), '-y', join(dir, 'php-fpm.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`php-fpm exited: ${stderr}`);
    const up = await new Promise<boolean>((res) => {
      const s = port === undefined ? connect(socket) : connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); res(true); });
      s.once('error', () => res(false));
    });
    if (up) break;
    if (i > 200) {
      await stop();
      throw new Error(`php-fpm never listened on ${listen}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const log = (): string => { try { return readFileSync(join(dir, 'fpm.log'), 'utf8'); } catch { return ''; } };
  return { address: port === undefined ? `unix:${socket}` : `127.0.0.1:${port}`, log, stop };
}
