// Steps 6–8: tell systemd (daemon-reload), restart nginx.service when asked, and verify the result.
// Under --root DIR, or without systemd, there is no service manager to talk to: skipped, and said so.
import { host, requireFacts, type Context } from '../context.ts';
import type { CheckResult, Step } from '../engine.ts';
import { isOurShim } from '../shim-file.ts';
import { identifyProcess, run, runOrThrow, serviceActive, serviceMainPid, usesSystemctl } from '../system.ts';
import { SERVICE } from '../options.ts';

function noSystemctl(ctx: Context): CheckResult | null {
  if (ctx.opts.root !== '/') return { state: 'skip', note: `--root ${ctx.opts.root}: systemctl skipped` };
  if (!usesSystemctl(ctx.opts.root, requireFacts(ctx).initSystem)) return { state: 'skip', note: 'systemd is not running: systemctl skipped' };
  return null;
}

export const daemonReloadStep: Step<Context> = {
  id: 'daemon-reload',
  title: 'systemctl daemon-reload',
  async check(ctx) {
    const skip = noSystemctl(ctx);
    if (skip) return skip;
    if (!ctx.changed()) return { state: 'done', note: 'nothing changed: no reload needed' };
    return { state: 'todo' };
  },
  async do() {
    await runOrThrow('systemctl', ['daemon-reload']);
  },
  async undo() {
    // Runs after the drop-in is gone again, so systemd forgets it.
    await runOrThrow('systemctl', ['daemon-reload']);
  },
};

/** The main pid of nginx.service runs bext-server: Node behind the `nginx` title (see identifyProcess). */
async function mainPidIsBext(ctx: Context): Promise<{ pid: number | null; command: string | null; ok: boolean }> {
  const pid = await serviceMainPid();
  const who = pid ? await identifyProcess(pid, ctx.paths.bextBin) : null;
  const command = who ? [who.command, who.exe && `exe ${who.exe}`].filter(Boolean).join(', ') || null : null;
  return { pid, command, ok: !!who?.isBext };
}

export const restartStep: Step<Context> = {
  id: 'restart',
  title: `Restart ${SERVICE}`,
  async check(ctx) {
    const skip = noSystemctl(ctx);
    if (skip) return skip;
    if (!ctx.opts.restart) return { state: 'skip', note: `not restarted (no --restart): run \`systemctl restart nginx\` when ready` };
    if (!ctx.changed() && (await mainPidIsBext(ctx)).ok) return { state: 'done', note: 'bext already serves nginx.service' };
    return { state: 'todo' };
  },
  async do() {
    await runOrThrow('systemctl', ['restart', SERVICE]);
  },
  async undo(ctx) {
    // By now the real nginx is back: bring the service back to how it was found.
    const wasActive = requireFacts(ctx).serviceActive === 'active';
    await runOrThrow('systemctl', [wasActive ? 'restart' : 'stop', SERVICE]);
    return wasActive ? 'restarted the real nginx' : 'stopped nginx.service (it was not running before)';
  },
};

export const verifyStep: Step<Context> = {
  id: 'verify',
  title: 'Verify',
  readOnly: true,
  async check() {
    return { state: 'todo' };
  },
  async do(ctx) {
    const shimHost = host(ctx, ctx.paths.shimBin);
    if (!(await isOurShim(shimHost))) throw new Error(`${shimHost} is not the shim`);
    const checks = [`${ctx.paths.shimBin} is the shim`];
    if (ctx.opts.root !== '/') {
      // The shim execs target paths that do not exist on this host when installing into a directory.
      return `${checks[0]}; --root: \`nginx -v\` and the service not checked`;
    }
    const v = await run(ctx.paths.shimBin, ['-v'], 15_000);
    if (!/nginx version:/.test(v.stderr)) throw new Error(`\`${ctx.paths.shimBin} -v\` did not answer through the shim: ${(v.stderr || v.stdout || v.spawnError || '').trim()}`);
    checks.push(`nginx -v: ${v.stderr.trim()}`);
    if (usesSystemctl(ctx.opts.root, requireFacts(ctx).initSystem) && ctx.opts.restart) {
      const main = await mainPidIsBext(ctx);
      if (!main.ok) throw new Error(`${SERVICE} main pid ${main.pid ?? '(none)'} is not bext (${main.command ?? 'no process'}; is-active: ${await serviceActive()})`);
      checks.push(`main pid ${main.pid} is bext`);
    }
    return checks.join('; ');
  },
  async undo() {},
};
