// `bext`: the command line of bext-masquerade. `bext nginx masquerade install|uninstall|status`, and
// the wizard when `bext nginx masquerade` runs on a terminal.
import { confirm, isCancel } from '@clack/prompts';
import { createSession, installSteps, runSession, type RunResult } from '../masquerade/install.ts';
import { readState } from '../masquerade/state.ts';
import { status } from '../masquerade/status.ts';
import { optionsFromState, uninstallSteps } from '../masquerade/uninstall.ts';
import { BEXT_VERSION } from '../masquerade/version.ts';
import { parseCli, UsageError, type CliArgs } from './args.ts';
import { EXIT } from './exit-codes.ts';
import { INSTALL_HELP, MAIN_HELP, STATUS_HELP, UNINSTALL_HELP, WIZARD_HELP } from './help.ts';
import { exitCodeOf, resultJson, statusText, summaryText } from './output.ts';
import { runWithProgress } from './progress.ts';
import { resolveOptions } from './resolve-options.ts';
import { runWizard } from './wizard.ts';

const HELP = { main: MAIN_HELP, help: MAIN_HELP, version: MAIN_HELP, install: INSTALL_HELP, uninstall: UNINSTALL_HELP, status: STATUS_HELP, wizard: WIZARD_HELP };

/** Changing the system needs a yes: --yes, or an answer on a terminal. */
async function confirmed(args: CliArgs, question: string): Promise<boolean> {
  if (args.yes || args.dryRun) return true;
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UsageError('no terminal to confirm on: add --yes to run non-interactively');
  }
  const answer = await confirm({ message: question, initialValue: true });
  return !isCancel(answer) && answer;
}

async function report(command: 'install' | 'uninstall', args: CliArgs, result: RunResult): Promise<number> {
  if (args.json) process.stdout.write(await resultJson(command, result));
  else process.stdout.write(summaryText(command, result));
  return exitCodeOf(result);
}

async function installCommand(args: CliArgs): Promise<number> {
  const opts = await resolveOptions(args);
  const where = opts.root === '/' ? '' : ` under ${opts.root}`;
  if (!(await confirmed(args, `Install masquerade mode${where}? ${opts.shimBin} becomes bext's shim and nginx.service runs bext.`))) {
    process.stdout.write('Cancelled: nothing was changed.\n');
    return EXIT.FAILED;
  }
  const session = await createSession(opts, installSteps, { dryRun: args.dryRun });
  const result = args.json ? await runSession(session, args.dryRun) : await runWithProgress(session, args.dryRun);
  return report('install', args, result);
}

async function uninstallCommand(args: CliArgs): Promise<number> {
  const base = await resolveOptions(args);
  const state = await readState(base.root);
  if (!state) {
    if (args.json) process.stdout.write(`${JSON.stringify({ command: 'uninstall', outcome: 'not-installed', exitCode: 0, root: base.root, steps: [], notes: [] }, null, 2)}\n`);
    else process.stdout.write('Masquerade mode is not installed: nothing to do.\n');
    return EXIT.OK;
  }
  if (!(await confirmed(args, `Uninstall masquerade mode? The real nginx goes back to ${state.paths.shimBin}.`))) {
    process.stdout.write('Cancelled: nothing was changed.\n');
    return EXIT.FAILED;
  }
  const session = await createSession(optionsFromState(base, state), uninstallSteps, { dryRun: args.dryRun });
  const result = args.json ? await runSession(session, args.dryRun) : await runWithProgress(session, args.dryRun);
  return report('uninstall', args, result);
}

async function statusCommand(args: CliArgs): Promise<number> {
  const s = await status(await resolveOptions(args));
  process.stdout.write(args.json ? `${JSON.stringify(s, null, 2)}\n` : statusText(s));
  return EXIT.OK;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const args = parseCli(argv);
    switch (args.command) {
      case 'help':
        process.stdout.write(HELP[args.helpFor]);
        return EXIT.OK;
      case 'version':
        process.stdout.write(`bext ${BEXT_VERSION}\n`);
        return EXIT.OK;
      case 'install':
        return await installCommand(args);
      case 'uninstall':
        return await uninstallCommand(args);
      case 'status':
        return await statusCommand(args);
      case 'wizard':
        return await runWizard(args);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bext: ${err.message}\nRun \`bext --help\` for usage.\n`);
      return EXIT.USAGE;
    }
    process.stderr.write(`bext: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.FAILED;
  }
}

process.exitCode = await main(process.argv.slice(2));
