// Step 4: the nginx.service drop-in, written atomically and read back line by line.
import { readFile } from 'node:fs/promises';
import { host, type Context } from '../context.ts';
import { renderDropIn, verifyDropIn } from '../dropin.ts';
import type { Step } from '../engine.ts';
import { readIfExists } from '../fsutil.ts';
import { restoreSaved, writeSaving } from './file-step.ts';

export function dropInContent(ctx: Context): string {
  return renderDropIn({ bextBin: ctx.paths.bextBin, pidFile: ctx.paths.pidFile });
}

export const writeDropInStep: Step<Context> = {
  id: 'write-dropin',
  title: 'Write the nginx.service drop-in',
  async check(ctx) {
    const current = await readIfExists(host(ctx, ctx.paths.dropIn));
    if (current?.toString() === dropInContent(ctx)) return { state: 'done', note: `${ctx.paths.dropIn} is up to date` };
    return { state: 'todo', note: `${current ? 'rewrite' : 'write'} ${ctx.paths.dropIn}` };
  },
  async do(ctx) {
    const file = host(ctx, ctx.paths.dropIn);
    await writeSaving(ctx, 'dropin', file, dropInContent(ctx), 0o644);
    const problem = verifyDropIn(await readFile(file, 'utf8'), { bextBin: ctx.paths.bextBin, pidFile: ctx.paths.pidFile });
    if (problem) {
      await restoreSaved(ctx, 'dropin');
      throw new Error(`${file} does not read back: ${problem}`);
    }
    return `wrote ${file} (read back: ExecStart=${ctx.paths.bextBin} --nginx-masquerade --pid-file ${ctx.paths.pidFile})`;
  },
  async undo(ctx) {
    return restoreSaved(ctx, 'dropin');
  },
};
