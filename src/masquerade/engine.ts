// A tiny transaction engine: each step checks itself, does itself, and can undo itself. The engine
// journals completed steps and undoes them in reverse on a failure or on SIGINT/SIGTERM (Ctrl-C).

export type CheckResult =
  | { state: 'todo'; note?: string }
  | { state: 'done'; note: string }
  | { state: 'skip'; note: string };

export interface Step<C> {
  id: string;
  title: string;
  /** Changes nothing (preflight, verify): not undone, and not counted as a change. */
  readOnly?: boolean;
  /** Also runs under --dry-run (preflight: the plan must reflect the facts). Must be readOnly. */
  runsInDryRun?: boolean;
  check(ctx: C): Promise<CheckResult>;
  /** Does the work; returns a note for the report. On error it must leave nothing half-done. */
  do(ctx: C): Promise<string | void>;
  undo(ctx: C): Promise<string | void>;
  /** Runs once every step succeeded: drops what undo would have needed. */
  commit?(ctx: C): Promise<void>;
}

export type Outcome = 'done' | 'unchanged' | 'skipped' | 'planned' | 'failed' | 'undone' | 'undo-failed';

export interface StepReport {
  id: string;
  title: string;
  outcome: Outcome;
  note?: string;
}

/** A refusal before anything changed (exit code 3). */
export class PreflightError extends Error {
  override name = 'PreflightError';
}

export class InterruptedError extends Error {
  override name = 'InterruptedError';
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
  }
}

/** Test seams: inject a failure (or a signal) before or after a step's work. */
export interface EngineHooks {
  beforeDo?(stepId: string): void | Promise<void>;
  afterDo?(stepId: string): void | Promise<void>;
}

export interface EngineListener {
  onReport?(report: StepReport): void;
}

export class Engine<C> {
  readonly reports: StepReport[] = [];
  private readonly journal: Step<C>[] = [];
  private interruptedBy: string | null = null;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    // The first signal stops the run at the next step boundary; the rollback itself is never cut short.
    this.interruptedBy ??= signal;
  };

  constructor(
    private readonly ctx: C,
    private readonly opts: { dryRun?: boolean; hooks?: EngineHooks; listener?: EngineListener } = {},
  ) {}

  /** Anything changed on the system during this run (used by steps such as daemon-reload). */
  get changedSomething(): boolean {
    return this.journal.some((s) => !s.readOnly);
  }

  /** Listens for SIGINT/SIGTERM until release(); Node's default action would kill us mid-step. */
  trapSignals(): () => void {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    return () => {
      process.off('SIGINT', this.onSignal);
      process.off('SIGTERM', this.onSignal);
    };
  }

  private report(r: StepReport): StepReport {
    this.reports.push(r);
    this.opts.listener?.onReport?.(r);
    return r;
  }

  private throwIfInterrupted(): void {
    if (this.interruptedBy) throw new InterruptedError(this.interruptedBy);
  }

  /** Checks and, when needed, does one step. Throws on failure; the caller then calls rollback(). */
  async runStep(step: Step<C>): Promise<StepReport> {
    this.throwIfInterrupted();
    let check: CheckResult;
    try {
      check = await step.check(this.ctx);
    } catch (err) {
      this.report({ id: step.id, title: step.title, outcome: 'failed', note: errorText(err) });
      throw err;
    }
    if (check.state === 'done') return this.report({ id: step.id, title: step.title, outcome: 'unchanged', note: check.note });
    if (check.state === 'skip') return this.report({ id: step.id, title: step.title, outcome: 'skipped', note: check.note });
    if (this.opts.dryRun && !(step.readOnly && step.runsInDryRun)) {
      return this.report({ id: step.id, title: step.title, outcome: 'planned', note: check.note });
    }
    let note: string | void;
    try {
      await this.opts.hooks?.beforeDo?.(step.id);
      note = await step.do(this.ctx);
      this.journal.push(step);
      await this.opts.hooks?.afterDo?.(step.id);
    } catch (err) {
      this.report({ id: step.id, title: step.title, outcome: 'failed', note: errorText(err) });
      throw err;
    }
    this.throwIfInterrupted();
    return this.report({ id: step.id, title: step.title, outcome: 'done', note: note || undefined });
  }

  /** Runs the steps in order; on error rolls back and rethrows. */
  async runAll(steps: Step<C>[]): Promise<void> {
    const release = this.trapSignals();
    try {
      for (const step of steps) await this.runStep(step);
      await this.commit();
    } catch (err) {
      await this.rollback();
      throw err;
    } finally {
      release();
    }
  }

  async commit(): Promise<void> {
    for (const step of this.journal) await step.commit?.(this.ctx);
  }

  /** Undoes completed steps, newest first. Keeps going past a failed undo and reports each. */
  async rollback(): Promise<StepReport[]> {
    const undone: StepReport[] = [];
    while (this.journal.length) {
      const step = this.journal.pop()!;
      if (step.readOnly) continue;
      try {
        const note = await step.undo(this.ctx);
        undone.push(this.report({ id: step.id, title: step.title, outcome: 'undone', note: note || undefined }));
      } catch (err) {
        undone.push(this.report({ id: step.id, title: step.title, outcome: 'undo-failed', note: errorText(err) }));
      }
    }
    return undone;
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
