// The main-context settings the master needs before anything else: read straight from the tree
// (the -g directives come first in it), resolved against the prefix as nginx resolves them.
import os from 'node:os';
import path from 'node:path';
import type { ConfNode, LoadedConfig } from '../nginx/types.ts';
import { parseTime } from '../nginx/values.ts';
import type { LogLevel } from './error-log.ts';

export interface MainSettings {
  daemon: boolean;
  pidFile: string;
  /** The workers' account; undefined when the master is not root (nginx ignores `user` then). */
  user?: { name: string; group: string; node: ConfNode };
  workers: number;
  errorLog: { target: string; level: LogLevel };
  /** How long TERM waits for in-flight requests (`worker_shutdown_timeout`, default 10 s here). */
  shutdownTimeoutMs: number;
}

function main(loaded: LoadedConfig, name: string): ConfNode | undefined {
  return loaded.tree.find((n) => n.directive === name);
}

/** nginx resolves relative pid and log paths against the prefix (not the conf directory). */
export function fromPrefix(loaded: LoadedConfig, file: string): string {
  return path.isAbsolute(file) ? file : path.join(loaded.paths.prefix, file);
}

export function mainSettings(loaded: LoadedConfig, defaults: { errorLog: string }): MainSettings {
  const daemon = main(loaded, 'daemon')?.args[0] !== 'off';
  const pid = main(loaded, 'pid')?.args[0] ?? '/run/nginx.pid';
  const wp = main(loaded, 'worker_processes')?.args[0] ?? '1';
  const workers = wp === 'auto' ? os.availableParallelism?.() ?? os.cpus().length : Math.max(1, Number(wp));
  const userNode = main(loaded, 'user');
  const user =
    userNode && process.getuid?.() === 0
      ? { name: userNode.args[0], group: userNode.args[1] ?? userNode.args[0], node: userNode }
      : undefined;
  const el = main(loaded, 'error_log');
  const target = el ? (el.args[0] === 'stderr' ? 'stderr' : fromPrefix(loaded, el.args[0])) : defaults.errorLog;
  const level = (el?.args[1] as LogLevel | undefined) ?? 'error';
  const wst = main(loaded, 'worker_shutdown_timeout')?.args[0];
  return {
    daemon,
    pidFile: fromPrefix(loaded, pid),
    user,
    workers,
    errorLog: { target, level },
    shutdownTimeoutMs: (wst === undefined ? undefined : parseTime(wst, false)) ?? 10_000,
  };
}
