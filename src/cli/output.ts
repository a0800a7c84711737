// Text and JSON renderings of install/uninstall results and of status.
import type { RunResult } from '../masquerade/install.ts';
import type { StepReport } from '../masquerade/engine.ts';
import type { StatusReport } from '../masquerade/status.ts';
import { readState } from '../masquerade/state.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

export function exitCodeOf(result: RunResult): ExitCode {
  if (result.outcome === 'refused') return EXIT.REFUSED;
  if (result.outcome === 'failed') return EXIT.FAILED;
  return EXIT.OK;
}

export function undoCommand(command: 'install' | 'uninstall', root: string): string {
  const r = root === '/' ? '' : ` --root ${root}`;
  return command === 'install' ? `bext nginx masquerade uninstall${r}` : `bext nginx masquerade install${r}`;
}

const MARK: Record<StepReport['outcome'], string> = {
  done: '✔',
  unchanged: '=',
  skipped: '↓',
  planned: '•',
  failed: '✖',
  undone: '↺',
  'undo-failed': '‼',
};

export function stepLine(r: StepReport): string {
  return `${MARK[r.outcome]} ${r.title}${r.note ? ` — ${r.note}` : ''}${r.outcome === 'unchanged' ? ' (already done)' : r.outcome === 'planned' ? ' (planned)' : ''}`;
}

/** What a successful run achieved, in words that do not overstate it (restart skipped, --root). */
export function changedText(command: 'install' | 'uninstall', result: RunResult): string {
  const root = result.ctx.opts.root;
  const restarted = result.steps.some((s) => s.id === 'restart' && s.outcome === 'done');
  if (command === 'uninstall') {
    if (root !== '/') return `Uninstalled under ${root}: the real nginx is back.`;
    return restarted ? 'Uninstalled: the real nginx is back and serving.' : 'Uninstalled: the real nginx is back.';
  }
  if (root !== '/') return `Installed under ${root}.`;
  return restarted ? 'Installed: nginx.service now runs bext.' : 'Installed: nginx.service runs bext from its next start (systemctl restart nginx).';
}

/** The closing lines after a run (the steps themselves were shown as progress). */
export function summaryText(command: 'install' | 'uninstall', result: RunResult): string {
  const lines: string[] = [];
  for (const n of result.notes) lines.push(`note: ${n}`);
  const undone = result.steps.filter((s) => s.outcome === 'undone' || s.outcome === 'undo-failed');
  switch (result.outcome) {
    case 'changed':
      lines.push(changedText(command, result));
      lines.push(`Undo: ${undoCommand(command, result.ctx.opts.root)}`);
      break;
    case 'unchanged':
      lines.push(command === 'install' ? 'Already installed: nothing changed.' : 'Nothing to do.');
      break;
    case 'planned':
      lines.push('Dry run: nothing was changed.');
      break;
    case 'refused':
      lines.push(`Refused: ${result.error}`, 'Nothing was changed.');
      break;
    case 'failed':
      lines.push(`Failed: ${result.error}`);
      for (const u of undone) lines.push(`  ${stepLine(u)}`);
      lines.push(undone.some((u) => u.outcome === 'undo-failed') ? 'Rollback incomplete: see the lines above.' : 'Rolled back: the system is as it was.');
      break;
  }
  return `${lines.join('\n')}\n`;
}

export async function resultJson(command: 'install' | 'uninstall', result: RunResult): Promise<string> {
  const f = result.ctx.facts;
  return `${JSON.stringify(
    {
      command,
      outcome: result.outcome,
      exitCode: exitCodeOf(result),
      error: result.error,
      interrupted: result.interrupted,
      root: result.ctx.opts.root,
      steps: result.steps,
      notes: result.notes,
      config: f && !f.config.skipped ? { ok: f.config.ok, errors: f.config.errors, warnings: f.config.warnings } : null,
      state: await readState(result.ctx.opts.root),
    },
    null,
    2,
  )}\n`;
}

export function statusText(s: StatusReport): string {
  const yes = (b: boolean | null) => (b === null ? 'n/a' : b ? 'yes' : 'no');
  const lines = [
    `masquerade: ${s.installed ? `installed (${s.installedAt})` : 'not installed'}${s.root === '/' ? '' : ` under ${s.root}`}`,
    `  shim        ${s.paths.shimBin}: ${s.binary.shimIsOurs ? "bext's shim" : 'not the shim'} → ${s.paths.shimBundle}`,
    `  real nginx  ${s.paths.realBin}: ${s.binary.realPresent ? `present, sha256 ${yes(s.binary.realChecksumOk) === 'yes' ? 'verified' : yes(s.binary.realChecksumOk) === 'no' ? 'CHANGED' : 'not recorded'}` : 'absent'} (${s.binary.method ?? 'not backed up'}${s.binary.divertedBy ? `, diverted by ${s.binary.divertedBy}` : ''})`,
    `  drop-in     ${s.paths.dropIn}: ${s.dropIn.present ? (s.dropIn.current ? 'present' : 'present, differs') : 'absent'}`,
    `  bext-server ${s.paths.bextBin}`,
    `  service     ${s.service.checked ? `nginx.service ${s.service.active}, main pid ${s.service.mainPid ?? '-'}${s.service.mainCommand || s.service.mainExe ? ` (${[s.service.mainCommand, s.service.mainExe && `exe ${s.service.mainExe}`, s.service.mainIsBext === null ? null : s.service.mainIsBext ? 'bext' : 'not bext'].filter(Boolean).join(', ')})` : ''}` : `not checked (${s.root !== '/' ? '--root' : 'no systemd'})`}`,
    `  pid file    ${s.paths.pidFile}: ${s.pidFile.present ? `pid ${s.pidFile.pid ?? '(invalid)'}${s.pidFile.command || s.pidFile.exe ? ` (${[s.pidFile.command, s.pidFile.exe && `exe ${s.pidFile.exe}`].filter(Boolean).join(', ')})` : ''}` : 'absent'}`,
    `  versions    bext ${s.versions.bext}; nginx ${s.versions.nginx ?? 'unknown'}${s.versions.nginxPackage ? ` (${s.versions.nginxPackage})` : ''}`,
  ];
  if (s.problems.length === 0) lines.push(s.installed ? 'No problems found.' : '');
  for (const p of s.problems) lines.push(`problem: ${p.message}\n  fix: ${p.fix}`);
  return `${lines.filter((l) => l !== '').join('\n')}\n`;
}
