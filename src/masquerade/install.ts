// `bext nginx masquerade install`: the step list and a plain runner (the CLI adds progress output).
import { newContext, type Context } from './context.ts';
import { Engine, errorText, InterruptedError, PreflightError, type EngineHooks, type EngineListener, type Step, type StepReport } from './engine.ts';
import type { MasqueradeOptions } from './options.ts';
import { readState } from './state.ts';
import { backupBinaryStep } from './steps/backup-binary.ts';
import { placeShimStep } from './steps/place-shim.ts';
import { preflightStep } from './steps/preflight.ts';
import { recordStateStep } from './steps/record-state.ts';
import { daemonReloadStep, restartStep, verifyStep } from './steps/systemd.ts';
import { writeDropInStep } from './steps/write-dropin.ts';

export const installSteps: Step<Context>[] = [
  preflightStep,
  backupBinaryStep,
  placeShimStep,
  writeDropInStep,
  recordStateStep,
  daemonReloadStep,
  restartStep,
  verifyStep,
];

/** refused: preflight said no, nothing changed; failed: a step failed and completed steps were undone. */
export type RunOutcome = 'changed' | 'unchanged' | 'planned' | 'refused' | 'failed';

export interface RunResult {
  outcome: RunOutcome;
  error: string | null;
  interrupted: boolean;
  steps: StepReport[];
  notes: string[];
  ctx: Context;
}

export interface RunOptions {
  dryRun?: boolean;
  hooks?: EngineHooks;
  listener?: EngineListener;
}

export interface Session {
  ctx: Context;
  engine: Engine<Context>;
  steps: Step<Context>[];
}

export async function createSession(opts: MasqueradeOptions, steps: Step<Context>[], run: RunOptions = {}): Promise<Session> {
  const ctx = newContext(opts, await readState(opts.root));
  const engine = new Engine(ctx, run);
  ctx.changed = () => engine.changedSomething;
  return { ctx, engine, steps };
}

/** Turns how a session ended into a result; `error` is what runAll threw, if anything. */
export function finishSession(s: Session, error: unknown, dryRun = false): RunResult {
  const base = { steps: s.engine.reports, notes: s.ctx.notes, ctx: s.ctx, interrupted: error instanceof InterruptedError };
  if (error) return { ...base, outcome: error instanceof PreflightError ? 'refused' : 'failed', error: errorText(error) };
  const outcome: RunOutcome = dryRun
    ? s.engine.reports.some((r) => r.outcome === 'planned') ? 'planned' : 'unchanged'
    : s.engine.changedSomething ? 'changed' : 'unchanged';
  return { ...base, outcome, error: null };
}

export async function runSession(s: Session, dryRun = false): Promise<RunResult> {
  try {
    await s.engine.runAll(s.steps);
    return finishSession(s, null, dryRun);
  } catch (err) {
    return finishSession(s, err, dryRun);
  }
}

export async function install(opts: MasqueradeOptions, run: RunOptions = {}): Promise<RunResult> {
  return runSession(await createSession(opts, installSteps, run), run.dryRun);
}
