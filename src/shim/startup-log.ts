// The log nginx writes to before the configuration's own error_log takes over (ngx_log_init): the
// `-e` file, else the compiled-in default, which is stderr on Debian. Lines are
// `YYYY/MM/DD HH:MM:SS [level] PID#TID: message`; when the log is a file, warn and worse also get a
// console copy `nginx: [level] message` on stderr, as ngx_log_error_core does.
import { closeSync, openSync, writeSync } from 'node:fs';
import { errnoSuffix } from '../nginx/errno.ts';
import { DEFAULTS } from './version.ts';

export type Level = 'emerg' | 'alert' | 'crit' | 'error' | 'warn' | 'notice' | 'info' | 'debug';
const SEVERITY: Level[] = ['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'];
/** ngx_log_init's level. */
const LOG_LEVEL = SEVERITY.indexOf('notice');
const CONSOLE_LEVEL = SEVERITY.indexOf('warn');

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** nginx's error-log time, local time like ngx_time_update()'s. */
export function logTime(d = new Date()): string {
  return `${d.getFullYear()}/${two(d.getMonth() + 1)}/${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** Where `-e NAME` points: "stderr" and "" are stderr; a relative name is under the `-p` prefix. */
export function startupLogPath(errorLog: string | undefined, prefix: string | undefined): string | undefined {
  const name = errorLog ?? DEFAULTS.errorLog;
  if (name === '' || name === 'stderr') return undefined;
  if (name.startsWith('/')) return name;
  const base = prefix ?? DEFAULTS.prefix;
  return base === '' || base.endsWith('/') ? `${base}${name}` : `${base}/${name}`;
}

export class StartupLog {
  private readonly fd: number = 2;

  constructor(errorLog: string | undefined, prefix: string | undefined) {
    const file = startupLogPath(errorLog, prefix);
    if (file === undefined) return;
    try {
      this.fd = openSync(file, 'a', 0o644);
    } catch (err) {
      writeStderr(`nginx: [alert] could not open error log file: open() "${file}" failed${errnoSuffix(err)}\n`);
    }
  }

  log(level: Level, message: string): void {
    const severity = SEVERITY.indexOf(level);
    if (severity > LOG_LEVEL) return;
    const pid = process.pid;
    write(this.fd, `${logTime()} [${level}] ${pid}#${pid}: ${message}\n`);
    if (this.fd !== 2 && severity <= CONSOLE_LEVEL) writeStderr(`nginx: [${level}] ${message}\n`);
  }

  close(): void {
    if (this.fd > 2) closeSync(this.fd);
  }
}

function write(fd: number, text: string): void {
  try {
    writeSync(fd, text);
  } catch {
    // a closed stderr or a full disk must not turn into a crash with a Node stack trace
  }
}

export function writeStderr(text: string): void {
  write(2, text);
}
