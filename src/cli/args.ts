// Command-line parsing for `bext` (node:util parseArgs; strict, so a typo is a usage error).
import path from 'node:path';
import { parseArgs } from 'node:util';

export type Command = 'install' | 'uninstall' | 'status' | 'wizard' | 'help' | 'version';

export interface CliArgs {
  command: Command;
  /** Which help text, for command 'help'. */
  helpFor: Command | 'main';
  root: string;
  bextBin?: string;
  shimBin?: string;
  shimBundle?: string;
  pidFile?: string;
  force: boolean;
  restart: boolean;
  yes: boolean;
  dryRun: boolean;
  json: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

const OPTIONS = {
  'bext-bin': { type: 'string' },
  'shim-bin': { type: 'string' },
  'shim-bundle': { type: 'string' },
  'pid-file': { type: 'string' },
  root: { type: 'string' },
  force: { type: 'boolean' },
  restart: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** Which options each command accepts; the rest are usage errors. */
const ALLOWED: Record<'install' | 'uninstall' | 'status' | 'wizard', string[]> = {
  install: ['bext-bin', 'shim-bin', 'shim-bundle', 'pid-file', 'root', 'force', 'restart', 'yes', 'dry-run', 'json', 'help'],
  uninstall: ['root', 'yes', 'dry-run', 'json', 'help'],
  status: ['root', 'json', 'help'],
  wizard: ['bext-bin', 'shim-bin', 'shim-bundle', 'pid-file', 'root', 'help'],
};

export function parseCli(argv: string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals: pos } = parsed;
  const base: CliArgs = {
    command: 'help',
    helpFor: 'main',
    root: v.root ? path.resolve(v.root) : '/',
    bextBin: v['bext-bin'],
    shimBin: v['shim-bin'],
    shimBundle: v['shim-bundle'],
    pidFile: v['pid-file'],
    force: !!v.force,
    restart: !!v.restart,
    yes: !!v.yes,
    dryRun: !!v['dry-run'],
    json: !!v.json,
  };
  if (pos.length === 0) {
    if (v.version) return { ...base, command: 'version' };
    if (v.help) return base;
    throw new UsageError('missing command');
  }
  if (pos[0] !== 'nginx' || pos[1] !== 'masquerade') {
    throw new UsageError(`unknown command "${pos.join(' ')}"`);
  }
  const sub = pos[2] ?? 'wizard';
  if (sub !== 'install' && sub !== 'uninstall' && sub !== 'status' && sub !== 'wizard') throw new UsageError(`unknown command "nginx masquerade ${sub}"`);
  if (pos.length > 3) throw new UsageError(`unexpected argument "${pos[3]}"`);
  if (v.help) return { ...base, helpFor: sub };
  const given = Object.keys(v).filter((k) => v[k as keyof typeof v] !== undefined);
  const bad = given.find((k) => !ALLOWED[sub].includes(k));
  if (bad) throw new UsageError(`option --${bad} does not apply to "nginx masquerade${sub === 'wizard' ? '' : ` ${sub}`}"`);
  return { ...base, command: sub };
}
