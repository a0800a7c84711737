// `bext nginx masquerade uninstall`: undoes a recorded install step by step, itself undoable on failure.
import path from 'node:path';
import { host, requireFacts, type Context, type Facts } from './context.ts';
import type { Step } from './engine.ts';
import { exists, hostPath, removeCreatedDirs } from './fsutil.ts';
import type { MasqueradeOptions } from './options.ts';
import { isOurShim } from './shim-file.ts';
import type { MasqueradeState } from './state.ts';
import { moveNoClobber, restoreRealBinary } from './steps/backup-binary.ts';
import { removeSaving, restoreSaved } from './steps/file-step.ts';
import { requireRoot } from './steps/preflight.ts';
import { daemonReloadStep } from './steps/systemd.ts';
import { createSession, runSession, type RunOptions, type RunResult } from './install.ts';
import { detectInitSystem, divertAdd, runOrThrow, serviceActive, usesSystemctl } from './system.ts';
import { SERVICE } from './options.ts';
import { BEXT_VERSION } from './version.ts';

function installed(ctx: Context): MasqueradeState {
  if (!ctx.previousState) throw new Error('internal: uninstall without a state file');
  return ctx.previousState;
}

const uninstallPreflight: Step<Context> = {
  id: 'preflight',
  title: 'Preflight: root, init system',
  readOnly: true,
  runsInDryRun: true,
  async check() {
    return { state: 'todo' };
  },
  async do(ctx) {
    requireRoot(ctx);
    const initSystem = await detectInitSystem(ctx.opts.root);
    const facts: Facts = {
      initSystem,
      nginxPresent: false,
      shimAlreadyPlaced: await isOurShim(host(ctx, ctx.paths.shimBin)),
      nginxPackage: null,
      nginxVersion: null,
      realSha256: installed(ctx).binary.realSha256,
      backupMethod: installed(ctx).binary.method,
      serviceActive: usesSystemctl(ctx.opts.root, initSystem) ? await serviceActive() : null,
      config: { skipped: 'not checked on uninstall', ok: true, errors: [], warnings: [] },
      bextVersion: BEXT_VERSION,
    };
    ctx.facts = facts;
    return `${initSystem === 'systemd' ? 'systemd' : 'no systemd'}; installed ${installed(ctx).installedAt}`;
  },
  async undo() {},
};

const restoreBinaryStep: Step<Context> = {
  id: 'restore-binary',
  title: 'Remove the shim and restore the real nginx',
  async check(ctx) {
    const shimIsOurs = await isOurShim(host(ctx, ctx.paths.shimBin));
    const realThere = installed(ctx).binary.method !== 'none' && (await exists(host(ctx, ctx.paths.realBin)));
    if (!shimIsOurs && !realThere) return { state: 'done', note: 'no shim and no backed-up binary left' };
    return { state: 'todo' };
  },
  async do(ctx) {
    const shimHost = host(ctx, ctx.paths.shimBin);
    const notes: string[] = [];
    ctx.record.restoredBinary = false;
    if (await isOurShim(shimHost)) {
      await removeSaving(ctx, 'shim', shimHost);
      notes.push(`removed the shim ${shimHost}`);
    }
    const state = installed(ctx);
    if (state.binary.method !== 'none' && (await exists(host(ctx, ctx.paths.realBin)))) {
      if (await exists(shimHost)) {
        // A package upgrade replaced the shim with a newer real nginx: keep it, never overwrite it.
        notes.push(`${shimHost} is a real nginx again (package upgrade?); left ${host(ctx, ctx.paths.realBin)} (the older one) in place`);
        ctx.notes.push(notes[notes.length - 1]);
      } else {
        try {
          notes.push(await restoreRealBinary(ctx, state.binary));
          ctx.record.restoredBinary = true;
        } catch (err) {
          await restoreSaved(ctx, 'shim');
          throw err;
        }
      }
    }
    return notes.join('; ');
  },
  async undo(ctx) {
    if (ctx.record.restoredBinary) {
      const state = installed(ctx);
      if (state.binary.method === 'dpkg-divert') await divertAdd(state.binary.dpkgRoot ? ctx.opts.root : '/', ctx.paths.shimBin, ctx.paths.realBin);
      else await moveNoClobber(host(ctx, ctx.paths.shimBin), host(ctx, ctx.paths.realBin));
      ctx.record.restoredBinary = false;
    }
    return restoreSaved(ctx, 'shim');
  },
};

const removeDropInStep: Step<Context> = {
  id: 'remove-dropin',
  title: 'Remove the nginx.service drop-in',
  async check(ctx) {
    return (await exists(host(ctx, ctx.paths.dropIn))) ? { state: 'todo' } : { state: 'done', note: 'no drop-in' };
  },
  async do(ctx) {
    await removeSaving(ctx, 'dropin', host(ctx, ctx.paths.dropIn));
    return `removed ${host(ctx, ctx.paths.dropIn)}`;
  },
  async undo(ctx) {
    return restoreSaved(ctx, 'dropin');
  },
};

const restartRealStep: Step<Context> = {
  id: 'restart',
  title: `Restart ${SERVICE} with the real nginx`,
  async check(ctx) {
    if (ctx.opts.root !== '/') return { state: 'skip', note: `--root ${ctx.opts.root}: systemctl skipped` };
    const f = requireFacts(ctx);
    if (!usesSystemctl(ctx.opts.root, f.initSystem)) return { state: 'skip', note: 'systemd is not running: systemctl skipped' };
    if (f.serviceActive !== 'active') return { state: 'skip', note: `${SERVICE} is not running (${f.serviceActive ?? 'unknown'}): left stopped` };
    return { state: 'todo' };
  },
  async do() {
    await runOrThrow('systemctl', ['restart', SERVICE]);
  },
  async undo() {
    // The drop-in is back by then: bext serves again.
    await runOrThrow('systemctl', ['restart', SERVICE]);
  },
};

const removeStateStep: Step<Context> = {
  id: 'remove-state',
  title: 'Remove the installation state',
  async check() {
    return { state: 'todo' };
  },
  async do(ctx) {
    await removeSaving(ctx, 'state', host(ctx, ctx.paths.stateFile));
    // Directories the install created go too, deepest first, each only when empty.
    const depth = (d: string) => d.split(path.sep).length;
    const dirs = installed(ctx).createdDirs.map((d) => hostPath(ctx.opts.root, d)).sort((a, b) => depth(a) - depth(b));
    await removeCreatedDirs(dirs);
    return `removed ${host(ctx, ctx.paths.stateFile)}`;
  },
  async undo(ctx) {
    return restoreSaved(ctx, 'state');
  },
};

export const uninstallSteps: Step<Context>[] = [uninstallPreflight, restoreBinaryStep, removeDropInStep, daemonReloadStep, restartRealStep, removeStateStep];

/** The options recorded at install time win over defaults: uninstall must undo exactly what was done. */
export function optionsFromState(base: MasqueradeOptions, state: MasqueradeState): MasqueradeOptions {
  return { ...base, bextBin: state.paths.bextBin, shimBin: state.paths.shimBin, shimBundle: state.paths.shimBundle, pidFile: state.paths.pidFile };
}

/** Null when there is nothing installed (a no-op, exit 0). */
export async function uninstall(base: MasqueradeOptions, state: MasqueradeState, run: RunOptions = {}): Promise<RunResult> {
  return runSession(await createSession(optionsFromState(base, state), uninstallSteps, run), run.dryRun);
}
