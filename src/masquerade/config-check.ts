// Step 1's conversion check: runs `bext-server nginx check -c <conf>` and sorts its nginx-style
// messages ("nginx: [warn] … in FILE:LINE") into errors and warnings.
import { exists, readIfExists } from './fsutil.ts';
import type { ConfigReport } from './context.ts';
import { run } from './system.ts';
import { PreflightError } from './engine.ts';

const ERROR_LEVELS = /\[(emerg|alert|crit|error)\]/;
const WARN_LEVELS = /\[(warn|notice)\]/;

export async function checkConfig(bextBinHost: string, confHost: string): Promise<ConfigReport> {
  if (!(await exists(confHost))) {
    return { skipped: `no nginx configuration at ${confHost}: nothing to convert (bext-server needs one to start)`, ok: true, errors: [], warnings: [] };
  }
  const r = await run(bextBinHost, ['nginx', 'check', '-c', confHost], 120_000);
  if (r.spawnError) throw new PreflightError(`cannot run bext-server (${bextBinHost}): ${r.spawnError}; pass --bext-bin PATH`);
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => ERROR_LEVELS.test(l));
  const warnings = lines.filter((l) => WARN_LEVELS.test(l));
  if (r.exitCode !== 0 && errors.length === 0) {
    errors.push(lines.find((l) => !/syntax is ok|test is successful/.test(l)) ?? `bext-server nginx check exited with code ${r.exitCode}`);
  }
  return { skipped: null, ok: r.exitCode === 0, errors, warnings };
}

/** Groups warnings by their message without the location, for the wizard's report. */
export function groupWarnings(warnings: string[]): { message: string; where: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const w of warnings) {
    // "nginx: [warn] …" on a terminal, "2026/11/25 14:24:43 [warn] 123#123: …" with an error log.
    const text = w.replace(/^(?:nginx: |\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d )?\[\w+\]\s*(?:\d+#\d+: )?/, '');
    const m = / in (\S+:\d+)$/.exec(text);
    const message = m ? text.slice(0, m.index) : text;
    const where = groups.get(message) ?? [];
    if (m) where.push(m[1]);
    groups.set(message, where);
  }
  return [...groups].map(([message, where]) => ({ message, where }));
}

/**
 * The `pid` directive of the main nginx.conf, read as Debian's init script reads it (top-level file
 * only, absolute paths only); null when there is none.
 */
export async function configuredPidFile(confHost: string): Promise<string | null> {
  const text = (await readIfExists(confHost))?.toString();
  if (!text) return null;
  const m = /^\s*pid\s+["']?(\/[^\s;"']+)["']?\s*;/m.exec(text);
  return m ? m[1] : null;
}
