// Step 3: the shim at --shim-bin (default /usr/sbin/nginx), mode 0755, written atomically.
import { readFile } from 'node:fs/promises';
import { host, type Context } from '../context.ts';
import type { Step } from '../engine.ts';
import { readIfExists, sha256File } from '../fsutil.ts';
import { isOurShim, shimScript } from '../shim-file.ts';
import { restoreSaved, writeSaving } from './file-step.ts';

export function shimContent(ctx: Context): string {
  return shimScript(ctx.paths.shimBundle, ctx.paths.realBin, ctx.paths.pidFile);
}

export async function shimSha256(ctx: Context): Promise<string> {
  return sha256File(host(ctx, ctx.paths.shimBin));
}

export const placeShimStep: Step<Context> = {
  id: 'place-shim',
  title: 'Place the nginx shim',
  async check(ctx) {
    const current = await readIfExists(host(ctx, ctx.paths.shimBin));
    if (current?.toString() === shimContent(ctx)) return { state: 'done', note: `${ctx.paths.shimBin} is already the shim` };
    return { state: 'todo', note: `write ${ctx.paths.shimBin} → exec ${ctx.paths.shimBundle}` };
  },
  async do(ctx) {
    const shimHost = host(ctx, ctx.paths.shimBin);
    const existing = await readIfExists(shimHost);
    // Only an older shim of ours may be replaced; a real nginx must have been moved aside by step 2.
    if (existing && !(await isOurShim(shimHost))) throw new Error(`${shimHost} exists and is not bext's shim; refusing to overwrite it`);
    await writeSaving(ctx, 'shim', shimHost, shimContent(ctx), 0o755);
    if ((await readFile(shimHost, 'utf8')) !== shimContent(ctx)) {
      await restoreSaved(ctx, 'shim');
      throw new Error(`${shimHost} does not read back as written`);
    }
    return `${shimHost} → exec ${ctx.paths.shimBundle}`;
  },
  async undo(ctx) {
    return restoreSaved(ctx, 'shim');
  },
};
