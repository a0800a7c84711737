// Step 2: move the real nginx aside to <shim-bin>.real. With dpkg, a diversion makes a later nginx
// package upgrade install its binary there instead of over the shim; elsewhere a recorded rename.
import { link, rename, unlink } from 'node:fs/promises';
import { host, requireFacts, type Context } from '../context.ts';
import type { Step } from '../engine.ts';
import { exists, sha256File } from '../fsutil.ts';
import { isOurShim } from '../shim-file.ts';
import type { MasqueradeState } from '../state.ts';
import { divertAdd, divertRemove } from '../system.ts';

/** Moves a file without ever replacing an existing one: link() fails with EEXIST where rename() would overwrite. */
export async function moveNoClobber(from: string, to: string): Promise<void> {
  await link(from, to);
  await unlink(from);
}

async function verifyReal(realHost: string, sha: string | null): Promise<void> {
  if (!sha) return;
  const now = await sha256File(realHost);
  if (now !== sha) throw new Error(`checksum mismatch for ${realHost}: expected ${sha}, found ${now}`);
}

/**
 * Puts the real binary back at the shim path (the shim must be gone already) and checks its sha256.
 * Shared by this step's undo and by uninstall.
 */
export async function restoreRealBinary(
  ctx: Context,
  binary: Pick<MasqueradeState['binary'], 'method' | 'realSha256' | 'dpkgRoot'>,
): Promise<string> {
  const shimHost = host(ctx, ctx.paths.shimBin);
  const realHost = host(ctx, ctx.paths.realBin);
  if (await exists(shimHost)) throw new Error(`refusing to restore over ${shimHost}: it still exists`);
  if (binary.method === 'dpkg-divert') {
    await divertRemove(binary.dpkgRoot ? ctx.opts.root : '/', ctx.paths.shimBin, ctx.paths.realBin);
  } else if (binary.method === 'rename') {
    await moveNoClobber(realHost, shimHost);
  } else {
    return 'no real binary was backed up';
  }
  if (binary.realSha256 && (await exists(shimHost))) await verifyReal(shimHost, binary.realSha256);
  return `restored ${shimHost} (${binary.method === 'dpkg-divert' ? 'diversion removed' : 'renamed back'}, sha256 verified)`;
}

export const backupBinaryStep: Step<Context> = {
  id: 'backup-binary',
  title: 'Move the real nginx binary aside',
  async check(ctx) {
    const f = requireFacts(ctx);
    const realHost = host(ctx, ctx.paths.realBin);
    if (!f.nginxPresent) {
      if (ctx.previousState && (await exists(realHost))) {
        const recorded = ctx.previousState.binary.realSha256;
        if (!recorded || recorded === (await sha256File(realHost))) return { state: 'done', note: `the real nginx is at ${realHost} (sha256 verified)` };
        // With a diversion, an nginx package upgrade lands here: the new binary's checksum is recorded.
        return { state: 'todo', note: `${realHost} changed since install (nginx upgrade?): record its new sha256` };
      }
      return { state: 'skip', note: f.shimAlreadyPlaced ? 'the shim is already in place and no real nginx is recorded' : 'nginx is not installed: nothing to back up' };
    }
    if (await exists(realHost)) return { state: 'todo', note: `a newer nginx at ${host(ctx, ctx.paths.shimBin)} replaces the recorded ${realHost}` };
    return { state: 'todo', note: `${f.backupMethod === 'dpkg-divert' ? 'dpkg-divert' : 'rename'} ${ctx.paths.shimBin} → ${ctx.paths.realBin}` };
  },
  async do(ctx) {
    const f = requireFacts(ctx);
    const shimHost = host(ctx, ctx.paths.shimBin);
    const realHost = host(ctx, ctx.paths.realBin);
    if (!f.nginxPresent) {
      ctx.record.replacedSha = ctx.record.realSha256;
      ctx.record.realSha256 = await sha256File(realHost);
      return `recorded the new sha256 of ${realHost} (${ctx.record.realSha256.slice(0, 12)}…)`;
    }
    if (await isOurShim(shimHost)) throw new Error(`internal: ${shimHost} is the shim; it is never moved to ${realHost}`);
    const sha = await sha256File(shimHost);
    if (await exists(realHost)) {
      // A package upgrade put a new real binary over the shim (no diversion): it replaces our older copy.
      const parked = `${realHost}.bext-prev`;
      await moveNoClobber(realHost, parked);
      ctx.record.parkedReal = parked;
      await moveNoClobber(shimHost, realHost);
    } else if (f.backupMethod === 'dpkg-divert') {
      await divertAdd(ctx.opts.root, ctx.paths.shimBin, ctx.paths.realBin);
      ctx.record.method = 'dpkg-divert';
      ctx.record.dpkgRoot = ctx.opts.root !== '/';
    } else {
      await moveNoClobber(shimHost, realHost);
      ctx.record.method = 'rename';
    }
    ctx.record.realSha256 = sha;
    try {
      await verifyReal(realHost, sha);
    } catch (err) {
      await backupBinaryStep.undo(ctx); // never leave the real binary half-moved
      throw err;
    }
    return `${ctx.record.method === 'dpkg-divert' ? 'diverted' : 'moved'} ${shimHost} → ${realHost} (sha256 ${sha.slice(0, 12)}…)`;
  },
  async undo(ctx) {
    const shimHost = host(ctx, ctx.paths.shimBin);
    const realHost = host(ctx, ctx.paths.realBin);
    if (ctx.record.replacedSha) {
      ctx.record.realSha256 = ctx.record.replacedSha;
      ctx.record.replacedSha = null;
      return 'the previous checksum is recorded again';
    }
    if (ctx.record.parkedReal) {
      await moveNoClobber(realHost, shimHost);
      await rename(ctx.record.parkedReal, realHost);
      ctx.record.parkedReal = null;
      ctx.record.realSha256 = ctx.previousState?.binary.realSha256 ?? null;
      return `put the newer nginx back at ${shimHost}`;
    }
    const note = await restoreRealBinary(ctx, { method: ctx.record.method, realSha256: ctx.record.realSha256, dpkgRoot: ctx.record.dpkgRoot });
    ctx.record.method = 'none';
    ctx.record.realSha256 = null;
    return note;
  },
  async commit(ctx) {
    if (ctx.record.parkedReal) await unlink(ctx.record.parkedReal);
  },
};
