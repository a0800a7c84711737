// Step 5: the state file, so uninstall can restore exactly and status can report.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { missingDirs, targetPath } from '../fsutil.ts';
import { host, requireFacts, type Context } from '../context.ts';
import type { Step } from '../engine.ts';
import { serializeState, type MasqueradeState } from '../state.ts';
import { restoreSaved, writeSaving } from './file-step.ts';
import { shimContent } from './place-shim.ts';
import { dropInContent } from './write-dropin.ts';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Directories created by this run's writes (plus those a previous install recorded). */
function createdDirs(ctx: Context, extra: string[]): string[] {
  const dirs = new Set(ctx.previousState?.createdDirs ?? []);
  for (const saved of Object.values(ctx.record.saved)) for (const d of saved.createdDirs) dirs.add(targetPath(ctx.opts.root, d));
  for (const d of extra) dirs.add(targetPath(ctx.opts.root, d));
  return [...dirs].sort();
}

export function buildState(ctx: Context, installedAt: string, extraDirs: string[] = []): MasqueradeState {
  const f = requireFacts(ctx);
  const prev = ctx.previousState;
  const p = ctx.paths;
  return {
    version: 1,
    installedAt,
    bextVersion: f.bextVersion,
    nginxVersion: f.nginxVersion ?? prev?.nginxVersion ?? null,
    nginxPackage: f.nginxPackage ?? prev?.nginxPackage ?? null,
    paths: { bextBin: p.bextBin, shimBin: p.shimBin, realBin: p.realBin, shimBundle: p.shimBundle, pidFile: p.pidFile, dropIn: p.dropIn },
    binary: { method: ctx.record.method, realSha256: ctx.record.realSha256, dpkgRoot: ctx.record.dpkgRoot },
    shimSha256: sha256(shimContent(ctx)),
    dropInSha256: sha256(dropInContent(ctx)),
    createdDirs: createdDirs(ctx, extraDirs),
    // A reinstall keeps the first answer: the state before bext ever ran is what uninstall restores.
    serviceWasActive: prev ? prev.serviceWasActive : f.serviceActive === 'active',
  };
}

/** Two states describe the same install when they differ only in time and versions. */
function sameInstall(a: MasqueradeState, b: MasqueradeState): boolean {
  const strip = (s: MasqueradeState) => serializeState({ ...s, installedAt: '', bextVersion: '', nginxVersion: null, nginxPackage: null });
  return strip(a) === strip(b);
}

export const recordStateStep: Step<Context> = {
  id: 'record-state',
  title: 'Record the installation state',
  async check(ctx) {
    const prev = ctx.previousState;
    if (prev && !ctx.changed() && sameInstall(prev, buildState(ctx, prev.installedAt))) {
      return { state: 'done', note: `${ctx.paths.stateFile} is up to date` };
    }
    return { state: 'todo', note: `write ${ctx.paths.stateFile}` };
  },
  async do(ctx) {
    const file = host(ctx, ctx.paths.stateFile);
    const stateDirs = await missingDirs(path.dirname(file));
    await writeSaving(ctx, 'state', file, serializeState(buildState(ctx, new Date().toISOString(), stateDirs)), 0o644);
    return `wrote ${file}`;
  },
  async undo(ctx) {
    return restoreSaved(ctx, 'state');
  },
};
