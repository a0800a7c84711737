// Step 1: look before touching anything. Refusals are PreflightErrors (exit code 3).
import { checkConfig, configuredPidFile } from '../config-check.ts';
import { host, type Context, type Facts } from '../context.ts';
import { PreflightError, type Step } from '../engine.ts';
import { exists, isExecutable, sha256File } from '../fsutil.ts';
import { isOurShim } from '../shim-file.ts';
import { DIVERT_PACKAGE } from '../options.ts';
import { detectInitSystem, divertedBy, dpkgDivertUsable, nginxVersion, owningPackage, serviceActive, usesSystemctl } from '../system.ts';
import { BEXT_VERSION } from '../version.ts';

export function requireRoot(ctx: Context): void {
  // Under --root DIR the files belong to the caller; only the real root needs uid 0.
  if (ctx.opts.root === '/' && process.getuid?.() !== 0) {
    throw new PreflightError('must run as root: it changes /usr/sbin/nginx and nginx.service (try sudo, or --root DIR for a directory)');
  }
}

export async function gatherFacts(ctx: Context): Promise<Facts> {
  const { paths, opts } = ctx;
  requireRoot(ctx);
  const initSystem = await detectInitSystem(opts.root);

  if (!(await isExecutable(host(ctx, paths.bextBin)))) {
    throw new PreflightError(`cannot run bext-server: ${host(ctx, paths.bextBin)} is missing or not executable; pass --bext-bin PATH`);
  }
  if (!(await exists(host(ctx, paths.shimBundle)))) {
    throw new PreflightError(`the nginx shim bundle ${host(ctx, paths.shimBundle)} is missing; pass --shim-bundle PATH`);
  }

  const installedAt = ctx.previousState?.paths.shimBin;
  if (installedAt && installedAt !== paths.shimBin) {
    throw new PreflightError(`the shim is installed at ${installedAt}; run \`bext nginx masquerade uninstall\` before moving it to ${paths.shimBin}`);
  }

  const shimHost = host(ctx, paths.shimBin);
  const realHost = host(ctx, paths.realBin);
  const shimAlreadyPlaced = await isOurShim(shimHost);
  const nginxPresent = !shimAlreadyPlaced && (await exists(shimHost));
  if (await isOurShim(realHost)) {
    throw new PreflightError(`${realHost} is a bext shim, not the real nginx: remove it by hand after checking, then retry`);
  }
  if (nginxPresent && (await exists(realHost))) {
    const recorded = ctx.previousState?.binary.realSha256;
    // An nginx.real that is not ours is never overwritten; ours may be replaced by a newer binary.
    if (!recorded || recorded !== (await sha256File(realHost))) {
      throw new PreflightError(`${realHost} exists and was not put there by bext: move it away first`);
    }
  }

  const diverter = await divertedBy(opts.root, paths.shimBin);
  if (diverter && diverter !== DIVERT_PACKAGE) {
    throw new PreflightError(`${paths.shimBin} is already diverted by ${diverter} (dpkg-divert --list): bext cannot divert it too`);
  }

  const binaryForFacts = nginxPresent ? shimHost : (await exists(realHost)) ? realHost : null;
  const config = await checkConfig(host(ctx, paths.bextBin), host(ctx, paths.nginxConf));
  if (!config.ok && !opts.force) {
    throw new PreflightError(`the nginx configuration does not convert:\n  ${config.errors.join('\n  ')}\n(fix it, or pass --force to install anyway)`);
  }
  return {
    initSystem,
    nginxPresent,
    shimAlreadyPlaced,
    nginxPackage: binaryForFacts ? await owningPackage(opts.root, paths.shimBin) : null,
    nginxVersion: binaryForFacts ? await nginxVersion(binaryForFacts) : null,
    realSha256: nginxPresent ? await sha256File(shimHost) : null,
    backupMethod: nginxPresent ? ((await dpkgDivertUsable(opts.root)) ? 'dpkg-divert' : 'rename') : 'none',
    serviceActive: usesSystemctl(opts.root, initSystem) ? await serviceActive() : null,
    config,
    bextVersion: BEXT_VERSION,
  };
}

export const preflightStep: Step<Context> = {
  id: 'preflight',
  title: 'Preflight: root, init system, nginx, configuration',
  readOnly: true,
  runsInDryRun: true,
  async check() {
    return { state: 'todo' };
  },
  async do(ctx) {
    const f = (ctx.facts = await gatherFacts(ctx));
    if (!f.nginxPresent && !f.shimAlreadyPlaced) ctx.notes.push(`nginx is not installed at ${host(ctx, ctx.paths.shimBin)}: nothing to back up`);
    if (f.config.skipped) ctx.notes.push(f.config.skipped);
    for (const w of f.config.warnings) ctx.notes.push(`conversion warning: ${w}`);
    if (!f.config.ok) ctx.notes.push(`--force: installing although the configuration does not convert (${f.config.errors.length} errors)`);
    const confPid = await configuredPidFile(host(ctx, ctx.paths.nginxConf));
    if (confPid && confPid !== ctx.paths.pidFile) {
      ctx.notes.push(`${ctx.paths.nginxConf} sets "pid ${confPid};": bext-server writes ${ctx.paths.pidFile} (the drop-in's PIDFile=), while logrotate's init script reads ${confPid}; pass --pid-file ${confPid} to keep them in step`);
    }
    const nginx = f.nginxPresent ? `${f.nginxVersion ?? 'nginx (version unknown)'}${f.nginxPackage ? ` from ${f.nginxPackage}` : ''}` : f.shimAlreadyPlaced ? 'shim already placed' : 'no nginx';
    const conf = f.config.skipped ? 'no config' : `config converts with ${f.config.warnings.length} warning(s)`;
    return `${f.initSystem === 'systemd' ? 'systemd' : 'no systemd'}; ${nginx}; ${conf}`;
  },
  async undo() {},
};
