// What the install and uninstall steps share: options, derived paths, facts found by preflight, and
// the record of what each step changed (undo and the state file are built from it).
import { hostPath } from './fsutil.ts';
import { pathsOf, type MasqueradeOptions, type MasqueradePaths } from './options.ts';
import type { BackupMethod, MasqueradeState } from './state.ts';
import type { InitSystem } from './system.ts';

export interface ConfigReport {
  /** Why the check did not run (no configuration file), else null. */
  skipped: string | null;
  ok: boolean;
  errors: string[];
  warnings: string[];
}

export interface Facts {
  initSystem: InitSystem;
  /** A real (non-bext) nginx binary is at the shim path. */
  nginxPresent: boolean;
  shimAlreadyPlaced: boolean;
  nginxPackage: string | null;
  nginxVersion: string | null;
  realSha256: string | null;
  backupMethod: BackupMethod;
  /** nginx.service's `systemctl is-active` answer, null without systemctl. */
  serviceActive: string | null;
  config: ConfigReport;
  bextVersion: string;
}

/** Bytes a file had before a step replaced or removed it (null: it did not exist). */
export interface SavedFile {
  path: string;
  before: Buffer | null;
  mode: number;
  createdDirs: string[];
}

export interface Context {
  opts: MasqueradeOptions;
  paths: MasqueradePaths;
  /** The state file as found when the run started. */
  previousState: MasqueradeState | null;
  facts: Facts | null;
  /** Written by the steps as they go. */
  record: {
    method: BackupMethod;
    realSha256: string | null;
    dpkgRoot: boolean;
    /** A previous nginx.real parked while a newer binary (package upgrade) takes its place. */
    parkedReal: string | null;
    saved: Record<string, SavedFile>;
    /** The checksum recorded before this run re-recorded a changed nginx.real (undo puts it back). */
    replacedSha: string | null;
    /** Uninstall put the real binary back (its undo moves it aside again). */
    restoredBinary: boolean;
  };
  /** Notes for the user (warnings, skipped work) collected during the run. */
  notes: string[];
  /** True once any step changed the system in this run. */
  changed(): boolean;
}

export function host(ctx: Context, targetPath: string): string {
  return hostPath(ctx.opts.root, targetPath);
}

export function newContext(opts: MasqueradeOptions, previousState: MasqueradeState | null): Context {
  return {
    opts,
    paths: pathsOf(opts),
    previousState,
    facts: null,
    record: {
      method: previousState?.binary.method ?? 'none',
      realSha256: previousState?.binary.realSha256 ?? null,
      dpkgRoot: previousState?.binary.dpkgRoot ?? false,
      parkedReal: null,
      saved: {},
      replacedSha: null,
      restoredBinary: false,
    },
    notes: [],
    changed: () => false,
  };
}

export function requireFacts(ctx: Context): Facts {
  if (!ctx.facts) throw new Error('internal: preflight has not run');
  return ctx.facts;
}
