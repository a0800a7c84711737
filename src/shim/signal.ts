// `nginx -s stop|quit|reopen|reload`, as ngx_signal_process() does it: parse the whole configuration
// first (a broken one prints its error, exits 1 and signals nothing — how `systemctl reload` fails
// safe), then read the pid file, strip trailing CR/LF, parse the number, kill().
import { closeSync, openSync, readSync } from 'node:fs';
import { constants } from 'node:os';
import type { LoadedConfig } from '../nginx/types.ts';
import type { SignalName } from './argv.ts';
import { errnoSuffix } from '../nginx/errno.ts';
import { StartupLog, type Level } from './startup-log.ts';
import { DEFAULTS } from './version.ts';

/** nginx's mapping (ngx_process.c signals[]); the spec's is the same. */
export const SIGNAL_OF: Record<SignalName, NodeJS.Signals> = {
  stop: 'SIGTERM',
  quit: 'SIGQUIT',
  reopen: 'SIGUSR1',
  reload: 'SIGHUP',
};

export interface SignalOptions {
  signal: SignalName;
  prefix?: string;
  confFile?: string;
  globals?: string;
  errorLog?: string;
  /** BEXT_PID_FILE: where the masquerade install put the pid file; wins over the config. */
  pidFileOverride?: string;
}

/** nginx reads at most NGX_INT64_LEN + 2 bytes of the pid file. */
const PID_READ_LIMIT = 22;
/** ngx_atoi's limit (NGX_MAX_INT_T_VALUE); above it the text is "invalid". */
const ATOI_MAX = 2n ** 63n - 1n;
/** kill() takes a 32-bit pid_t; nginx would truncate a larger value into some other process's pid. */
const PID_MAX = 2 ** 31 - 1;

/** The config's main-level `pid`, relative to the prefix (ngx_conf_full_name), else the default. */
export function pidFileOf(loaded: LoadedConfig): string {
  const value = loaded.tree.find((n) => n.directive === 'pid' && n.block === undefined)?.args[0] ?? DEFAULTS.pidFile;
  return value.startsWith('/') ? value : `${loaded.paths.prefix}${value}`;
}

/**
 * The pid in the file, or an error to log. Parsing follows ngx_atoi (digits only, nothing else), with
 * one deliberate difference: 0 and numbers past a pid_t are refused rather than passed to kill(), where
 * nginx would signal its own process group or a truncated pid.
 */
export function readPidFile(file: string): { pid: number } | { level: Level; message: string } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    return { level: 'error', message: `open() "${file}" failed${errnoSuffix(err)}` };
  }
  const buf = Buffer.alloc(PID_READ_LIMIT);
  let n: number;
  try {
    n = readSync(fd, buf, 0, PID_READ_LIMIT, 0);
  } catch (err) {
    return { level: 'crit', message: `pread() "${file}" failed${errnoSuffix(err)}` };
  } finally {
    closeSync(fd);
  }
  while (n > 0 && (buf[n - 1] === 0x0d || buf[n - 1] === 0x0a)) n--;
  const text = buf.subarray(0, n).toString('utf8');
  const invalid = { level: 'error' as const, message: `invalid PID number "${text}" in "${file}"` };
  if (!/^[0-9]+$/.test(text) || BigInt(text) > ATOI_MAX) return invalid;
  const pid = Number(text);
  if (pid === 0 || pid > PID_MAX) return invalid;
  return { pid };
}

/** kill(pid, signal); nginx's alert and exit code 1 when it fails. */
export function sendSignal(pid: number, signal: SignalName, log: StartupLog): number {
  const name = SIGNAL_OF[signal];
  try {
    process.kill(pid, name);
    return 0;
  } catch (err) {
    log.log('alert', `kill(${pid}, ${constants.signals[name]}) failed${errnoSuffix(err)}`);
    return 1;
  }
}

/** The config error the way nginx logs it; anything else is a bug, still logged rather than thrown. */
function logLoadError(log: StartupLog, err: unknown): void {
  const level = (err as { level?: Level }).level ?? 'emerg';
  log.log(level, err instanceof Error ? err.message : String(err));
}

export async function signalCommand(opts: SignalOptions): Promise<number> {
  const log = new StartupLog(opts.errorLog, opts.prefix);
  try {
    // The config engine is loaded only on this path: `nginx -v` must not pay for it.
    const { loadConfig } = await import('../nginx/parser.ts');
    let loaded: LoadedConfig;
    try {
      loaded = await loadConfig({ prefix: opts.prefix, confFile: opts.confFile, globals: opts.globals });
    } catch (err) {
      logLoadError(log, err);
      return 1;
    }
    log.log('notice', 'signal process started');
    const file = opts.pidFileOverride || pidFileOf(loaded);
    const read = readPidFile(file);
    if (!('pid' in read)) {
      log.log(read.level, read.message);
      return 1;
    }
    return sendSignal(read.pid, opts.signal, log);
  } finally {
    log.close();
  }
}
