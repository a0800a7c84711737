// The guided install (`bext nginx masquerade` on a terminal), with @clack/prompts. It runs the same
// steps as `install`, after showing what it found; it asks only what the defaults cannot answer.
import { cancel, confirm, intro, isCancel, log, note, outro, select, spinner, text } from '@clack/prompts';
import { groupWarnings } from '../masquerade/config-check.ts';
import { newContext, type Facts } from '../masquerade/context.ts';
import { PreflightError, errorText } from '../masquerade/engine.ts';
import { exists, hostPath, isExecutable } from '../masquerade/fsutil.ts';
import { createSession, finishSession, installSteps, type RunResult, type Session } from '../masquerade/install.ts';
import { invalidPathReason, type MasqueradeOptions } from '../masquerade/options.ts';
import { readState } from '../masquerade/state.ts';
import { status } from '../masquerade/status.ts';
import { gatherFacts, preflightStep } from '../masquerade/steps/preflight.ts';
import { usesSystemctl } from '../masquerade/system.ts';
import { optionsFromState, uninstallSteps } from '../masquerade/uninstall.ts';
import type { CliArgs } from './args.ts';
import { EXIT } from './exit-codes.ts';
import { changedText, statusText, stepLine, undoCommand } from './output.ts';
import { resolveOptions } from './resolve-options.ts';

class Cancelled extends Error {}

function answered<T>(value: T | symbol): T {
  if (isCancel(value)) throw new Cancelled();
  return value;
}

function flagsFor(opts: MasqueradeOptions, args: CliArgs): string {
  const parts: string[] = [];
  if (args.root !== '/') parts.push(`--root ${args.root}`);
  if (args.bextBin || opts.bextBin !== '/usr/bin/bext-server') parts.push(`--bext-bin ${opts.bextBin}`);
  if (args.shimBin) parts.push(`--shim-bin ${opts.shimBin}`);
  if (args.shimBundle || opts.shimBundle !== '/usr/lib/bext/nginx-shim') parts.push(`--shim-bundle ${opts.shimBundle}`);
  if (args.pidFile) parts.push(`--pid-file ${opts.pidFile}`);
  return parts.map((p) => ` ${p}`).join('');
}

/** Asks for a path only when the default does not fit (missing on the target). */
async function askPathIfMissing(opts: MasqueradeOptions, key: 'bextBin' | 'shimBundle', what: string, mustExecute: boolean): Promise<void> {
  const fits = async (p: string) => (mustExecute ? isExecutable(hostPath(opts.root, p)) : exists(hostPath(opts.root, p)));
  if (await fits(opts[key])) return;
  const value = answered(
    await text({
      message: `${what} is not at ${opts[key]}. Where is it?`,
      placeholder: '/usr/local/bin/bext-server',
      validate: (v) => invalidPathReason('the path', v ?? '') ?? undefined,
    }),
  );
  if (!(await fits(value))) throw new PreflightError(`${what}: ${value} does not exist${mustExecute ? ' or is not executable' : ''}`);
  opts[key] = value;
}

function conversionReport(f: Facts): string {
  if (f.config.skipped) return f.config.skipped;
  const lines: string[] = [];
  if (f.config.errors.length) lines.push(`${f.config.errors.length} error(s):`, ...f.config.errors.map((e) => `  ${e}`));
  const groups = groupWarnings(f.config.warnings);
  if (groups.length) {
    lines.push(`${f.config.warnings.length} warning(s):`);
    for (const g of groups) lines.push(`  ${g.message}${g.where.length ? ` (${g.where.length}×: ${g.where.slice(0, 3).join(', ')}${g.where.length > 3 ? ', …' : ''})` : ''}`);
  }
  if (!lines.length) lines.push('The configuration converts without warnings.');
  return lines.join('\n');
}

/** Runs the steps one by one under a spinner; rolls back on failure or Ctrl-C. */
async function runWithSpinner(session: Session): Promise<RunResult> {
  const release = session.engine.trapSignals();
  const sp = spinner();
  try {
    for (const step of session.steps) {
      sp.start(step.title);
      try {
        const r = await session.engine.runStep(step);
        sp.stop(stepLine(r));
      } catch (err) {
        sp.stop(`✖ ${step.title} — ${errorText(err)}`, 2);
        throw err;
      }
    }
    await session.engine.commit();
    return finishSession(session, null);
  } catch (err) {
    log.warn('Rolling back…');
    for (const r of await session.engine.rollback()) log.message(stepLine(r));
    return finishSession(session, err);
  } finally {
    release();
  }
}

function ending(command: 'install' | 'uninstall', result: RunResult): number {
  for (const n of result.notes) log.warn(n);
  if (result.outcome === 'failed' || result.outcome === 'refused') {
    cancel(`${result.outcome === 'failed' ? 'Failed and rolled back' : 'Refused'}: ${result.error}`);
    return result.outcome === 'failed' ? EXIT.FAILED : EXIT.REFUSED;
  }
  outro(`${result.outcome === 'changed' ? changedText(command, result) : 'Nothing changed.'}\n   Undo: ${undoCommand(command, result.ctx.opts.root)}`);
  return EXIT.OK;
}

async function wizardUninstall(opts: MasqueradeOptions): Promise<number> {
  const state = await readState(opts.root);
  if (!state) return EXIT.OK;
  const session = await createSession(optionsFromState(opts, state), uninstallSteps);
  return ending('uninstall', await runWithSpinner(session));
}

async function wizardInstall(opts: MasqueradeOptions, args: CliArgs): Promise<number> {
  await askPathIfMissing(opts, 'bextBin', 'bext-server', true);
  await askPathIfMissing(opts, 'shimBundle', 'The nginx shim bundle', false);

  const sp = spinner();
  sp.start('Detecting nginx, systemd and converting the configuration');
  // Detection never refuses on conversion errors: the report is shown and the user decides.
  const ctx = newContext({ ...opts, force: true }, await readState(opts.root));
  let facts: Facts;
  try {
    facts = await gatherFacts(ctx);
  } finally {
    sp.stop('Detected');
  }
  const nginx = facts.nginxPresent
    ? `${facts.nginxVersion ?? 'nginx (version unknown)'} at ${opts.shimBin}${facts.nginxPackage ? `, package ${facts.nginxPackage}` : ''}: it moves to ${opts.shimBin}.real (${facts.backupMethod})`
    : facts.shimAlreadyPlaced ? `${opts.shimBin} is already bext's shim` : `nginx is not installed at ${opts.shimBin}: nothing to back up`;
  log.info(nginx);
  if (opts.root === '/') log.info(facts.initSystem === 'systemd' ? 'systemd is running' : 'systemd is not running: the service is not managed');
  note(conversionReport(facts), `Conversion of ${opts.root === '/' ? '' : opts.root}/etc/nginx/nginx.conf`);
  if (!facts.config.ok) {
    if (!answered(await confirm({ message: 'The configuration has conversion errors. Install anyway (--force)?', initialValue: false }))) {
      cancel('Nothing was changed.');
      return EXIT.REFUSED;
    }
    opts.force = true;
  }

  if (usesSystemctl(opts.root, facts.initSystem)) {
    opts.restart = answered(await confirm({ message: 'Restart nginx.service now, so bext serves traffic?', initialValue: facts.serviceActive === 'active' }));
  } else {
    log.info(opts.root !== '/' ? `--root ${opts.root}: systemctl steps are skipped` : 'No systemd: start bext-server yourself');
  }

  note(
    [
      `bext-server   ${opts.bextBin}`,
      `shim          ${opts.shimBin} → exec ${opts.shimBundle}`,
      `real nginx    ${opts.shimBin}.real`,
      `pid file      ${opts.pidFile}`,
      `drop-in       /etc/systemd/system/nginx.service.d/bext-masquerade.conf`,
    ].join('\n'),
    'Plan',
  );
  log.message(`The same without questions:\nbext nginx masquerade install --yes${flagsFor(opts, args)}${opts.restart ? ' --restart' : ''}${opts.force ? ' --force' : ''}`);
  if (!answered(await confirm({ message: 'Install now?', initialValue: true }))) {
    cancel('Nothing was changed.');
    return EXIT.FAILED;
  }
  // The preflight ran above; the session reuses its facts rather than converting the config twice.
  const session = await createSession(opts, installSteps.filter((s) => s !== preflightStep));
  session.ctx.facts = facts;
  return ending('install', await runWithSpinner(session));
}

export async function runWizard(args: CliArgs): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    process.stderr.write(
      'bext: the wizard needs a terminal. To install non-interactively:\n' +
        `  bext nginx masquerade install --yes${args.root !== '/' ? ` --root ${args.root}` : ''} [--restart] [--bext-bin PATH]\n`,
    );
    return EXIT.USAGE;
  }
  const opts = await resolveOptions(args);
  intro('bext nginx masquerade');
  try {
    if (await readState(opts.root)) {
      note(statusText(await status(opts)).trimEnd(), 'Already installed');
      const action = answered(
        await select({
          message: 'What now?',
          options: [
            { value: 'install', label: 'Re-run the install (repairs what is listed)' },
            { value: 'uninstall', label: 'Uninstall: put the real nginx back' },
            { value: 'quit', label: 'Nothing' },
          ],
        }),
      );
      if (action === 'quit') {
        outro('Nothing changed.');
        return EXIT.OK;
      }
      if (action === 'uninstall') return await wizardUninstall(opts);
    }
    return await wizardInstall(opts, args);
  } catch (err) {
    if (err instanceof Cancelled) {
      cancel('Cancelled: nothing was changed.');
      return EXIT.FAILED;
    }
    if (err instanceof PreflightError) {
      cancel(`Refused: ${err.message}`);
      return EXIT.REFUSED;
    }
    throw err;
  }
}
