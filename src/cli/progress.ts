// Runs a session's steps as a listr2 task list: the animated renderer on a terminal, the plain
// "simple" one when output is piped or CI=true (logs stay readable).
import { Listr } from 'listr2';
import { finishSession, type RunResult, type Session } from '../masquerade/install.ts';
import { stepLine } from './output.ts';

export function plainOutput(): boolean {
  return !process.stdout.isTTY || process.env.CI === 'true' || process.env.CI === '1';
}

export async function runWithProgress(session: Session, dryRun: boolean): Promise<RunResult> {
  const list = new Listr(
    session.steps.map((step) => ({
      title: step.title,
      task: async (_: unknown, task: { title: string; skip: (message?: string) => void }) => {
        const report = await session.engine.runStep(step);
        if (report.outcome === 'skipped') task.skip(report.note ?? 'skipped');
        else task.title = stepLine(report).slice(2);
      },
    })),
    {
      renderer: plainOutput() ? 'simple' : 'default',
      exitOnError: true,
      concurrent: false,
      // The engine owns SIGINT/SIGTERM: it must roll back, not let listr2 exit the process.
      registerSignalListeners: false,
      rendererOptions: { collapseSkips: false, collapseErrors: false },
    },
  );
  const release = session.engine.trapSignals();
  try {
    await list.run();
    await session.engine.commit();
    return finishSession(session, null, dryRun);
  } catch (err) {
    if (!dryRun) process.stdout.write('Rolling back…\n');
    await session.engine.rollback();
    return finishSession(session, err, dryRun);
  } finally {
    release();
  }
}
