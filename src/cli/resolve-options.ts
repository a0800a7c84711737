// From parsed flags to the installer's options: defaults for what was not given, then validation.
import { defaultOptions, invalidPathReason, type MasqueradeOptions } from '../masquerade/options.ts';
import { readState } from '../masquerade/state.ts';
import { optionsFromState } from '../masquerade/uninstall.ts';
import { UsageError, type CliArgs } from './args.ts';

/** Defaults are the paths of the current install when there is one, so a plain re-run changes nothing. */
export async function resolveOptions(args: CliArgs): Promise<MasqueradeOptions> {
  const state = await readState(args.root);
  const d = state ? optionsFromState(await defaultOptions(args.root), state) : await defaultOptions(args.root);
  const opts: MasqueradeOptions = {
    root: args.root,
    bextBin: args.bextBin ?? d.bextBin,
    shimBin: args.shimBin ?? d.shimBin,
    shimBundle: args.shimBundle ?? d.shimBundle,
    pidFile: args.pidFile ?? d.pidFile,
    force: args.force,
    restart: args.restart,
  };
  for (const [flag, value] of [['--bext-bin', opts.bextBin], ['--shim-bin', opts.shimBin], ['--shim-bundle', opts.shimBundle], ['--pid-file', opts.pidFile]] as const) {
    const problem = invalidPathReason(flag, value);
    if (problem) throw new UsageError(problem);
  }
  return opts;
}
