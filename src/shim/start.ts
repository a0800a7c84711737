// `nginx` with no -s/-t: start the server. bext-server does what nginx's main() does from here on
// (parse, bind, daemonize unless `daemon off;`, write the pid file).
//
// bext's own server is a JS bundle: the shim loads it into this very process, so with `daemon off;`
// the process the caller started is the master and the pid in the pid file is the one it knows, as
// with nginx (nginx-tests and certbot-ci signal that pid). Node cannot exec(2); this is its equivalent.
// Any other bext-server program is run as a child with the same stdio, exit code and signals.
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface StartOptions {
  prefix?: string;
  confFile?: string;
  globals?: string;
  errorLog?: string;
}

/** Signals a supervisor may send to the process it started; each one is meant for the server. */
const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** nginx's options for bext-server, in the form its option parser reads (one flag, one value). */
export function serverArgs(opts: StartOptions): string[] {
  const args: string[] = [];
  if (opts.prefix !== undefined) args.push('-p', opts.prefix);
  if (opts.confFile !== undefined) args.push('-c', opts.confFile);
  if (opts.errorLog !== undefined) args.push('-e', opts.errorLog);
  if (opts.globals !== undefined) args.push('-g', opts.globals);
  return args;
}

/** A .js bundle only has to be readable (node runs it); anything else must be executable. */
function isRunnable(file: string): boolean {
  try {
    accessSync(file, isJsBundle(file) ? fsConstants.R_OK : fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * bext-server: $BEXT_SERVER_BIN, else beside the shim's own bundle (dist/ in a checkout,
 * /usr/lib/bext in a package), else /usr/bin/bext-server, else /usr/local/bin/bext-server.
 */
export function findServer(env: NodeJS.ProcessEnv = process.env, selfUrl: string = import.meta.url): string {
  if (env.BEXT_SERVER_BIN) return env.BEXT_SERVER_BIN;
  const here = path.dirname(fileURLToPath(selfUrl));
  const candidates = [
    path.join(here, 'bext-server.js'),
    path.join(here, 'bext-server'),
    '/usr/bin/bext-server',
    '/usr/local/bin/bext-server',
  ];
  return candidates.find(isRunnable) ?? '/usr/bin/bext-server';
}

function isJsBundle(file: string): boolean {
  return /\.[cm]?js$/.test(file);
}

/** A .js bundle runs under this same node (its shebang may name another, or none on PATH). */
export function serverCommand(bin: string, args: string[]): { file: string; args: string[] } {
  return isJsBundle(bin) ? { file: process.execPath, args: [bin, ...args] } : { file: bin, args };
}

export async function startServer(opts: StartOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const bin = findServer(env);
  if (isJsBundle(bin) && isRunnable(bin)) return runInProcess(bin, serverArgs(opts));
  return runAsChild(bin, opts, env);
}

/**
 * Becomes bext-server: its module reads process.argv when it loads, and node:cluster and the daemon
 * start re-run process.argv[1], so both must name the server bundle.
 */
async function runInProcess(bin: string, args: string[]): Promise<number> {
  process.argv = [process.argv[0]!, bin, ...args];
  await import(pathToFileURL(bin).href);
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

function runAsChild(bin: string, opts: StartOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = serverCommand(bin, serverArgs(opts));
  return new Promise((resolve) => {
    const child = spawn(cmd.file, cmd.args, { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal);
    };
    for (const s of FORWARDED) process.on(s, forward);
    const stopForwarding = () => {
      for (const s of FORWARDED) process.off(s, forward);
    };

    child.on('error', (err: NodeJS.ErrnoException) => {
      stopForwarding();
      process.stderr.write(`nginx: [emerg] could not start bext-server "${bin}": ${err.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      stopForwarding();
      // A server killed by a signal: report it the way a shell does, 128 + the signal's number.
      resolve(signal !== null ? 128 + (osConstants.signals[signal] ?? 0) : code ?? 1);
    });
  });
}
