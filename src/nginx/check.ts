// `nginx -t` / `nginx -T` / `bext-server nginx check|dump`: reads the configuration, converts it,
// and prints what nginx prints. nginx's -t also binds every listen socket, opens the log files and
// creates the pid file; this check deliberately does none of that (it must be safe to run next to
// a live server and as any user), so only configuration errors are reported.
import { appendFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { convert, type RoutingState } from '../config/convert.ts';
import { describeState } from '../config/describe.ts';
import { catalogueWarnings, PostParseError } from './catalogue.ts';
import { dumpFiles } from './dump.ts';
import { fullName, loadConfig, resolvePaths } from './parser.ts';
import { ConfError, type ConversionWarning, type LoadedConfig } from './types.ts';

export interface CheckOptions {
  prefix?: string;
  confFile?: string;
  /** -g directives */
  globals?: string;
  /** -q: suppress the two success lines */
  quiet?: boolean;
  /** -T: dump the files to stdout after a successful test */
  dump?: boolean;
  /** --json: machine-readable report on stdout */
  json?: boolean;
  /** -e: where errors go; "stderr" (Debian's default) or a file */
  errorLog?: string;
}

export interface CheckIO {
  stdout: Writable;
  stderr: Writable;
}

export interface CheckReport {
  ok: boolean;
  file: string;
  error?: { message: string; file?: string; line?: number; level: string };
  warnings: { message: string; file?: string; line?: number; directive?: string }[];
  state?: unknown;
}

/** `nginx -t` / `-T` / `bext-server nginx check`: prints what nginx prints, returns the exit code. */
export async function checkCommand(opts: CheckOptions, io: CheckIO): Promise<number> {
  const { confFile } = resolvePaths(opts);
  const log = new CheckLog(opts, io);
  const report: CheckReport = { ok: false, file: confFile, warnings: [] };

  let loaded: LoadedConfig | undefined;
  let warnings: ConversionWarning[] = [];
  let state: RoutingState | undefined;
  const reportWarning = (w: ConversionWarning): void => {
    log.message(w.noLocation ? new ConfError(w.message, undefined, undefined, 'warn') : new ConfError(w.message, w.file, w.line, 'warn'));
    report.warnings.push({ message: w.message, file: w.file, line: w.line, directive: w.directive });
  };
  try {
    loaded = loadConfig({ prefix: opts.prefix, confFile: opts.confFile, globals: opts.globals });
    for (const w of loaded.parseWarnings ?? []) {
      log.message(w);
      report.warnings.push({ message: w.text, file: w.file, line: w.line });
    }
    // nginx finds some of what the conversion warns about while reading (its own `[warn]`s): those
    // come before "syntax is ok"; the conversion's errors still come after it, as they always have.
    let converted: ReturnType<typeof convert> | undefined;
    let convertError: ConfError | undefined;
    try {
      // The catalogue's warnings are looked for once, below.
      converted = convert(loaded, { freeze: false, warnings: false });
    } catch (err) {
      if (!(err instanceof ConfError)) throw err;
      convertError = err;
    }
    for (const w of converted?.warnings ?? []) if (w.beforeSyntaxOk) reportWarning(w);
    log.info(`the configuration file ${confFile} syntax is ok`);
    if (!converted) throw convertError;
    state = converted.state;
    warnings = mergeWarnings(catalogueWarnings(loaded.tree), converted.warnings.filter((w) => !w.beforeSyntaxOk));
  } catch (err) {
    if (!(err instanceof ConfError)) throw err;
    if (err instanceof PostParseError) log.info(`the configuration file ${confFile} syntax is ok`);
    log.message(err);
    log.plain(`configuration file ${confFile} test failed`);
    report.error = { message: err.text, file: err.file, line: err.line, level: err.level };
    return log.finish(report, 1);
  }

  log.info(`configuration file ${confFile} test is successful`);
  for (const w of warnings) reportWarning(w);
  report.ok = true;
  if (opts.json && state) report.state = describeState(state);
  if (opts.dump && !opts.json) io.stdout.write(dumpFiles(loaded.files));
  return log.finish(report, 0);
}

/** Catalogue warnings first, then the conversion's, without repeating one file:line:directive. */
function mergeWarnings(...lists: ConversionWarning[][]): ConversionWarning[] {
  const seen = new Set<string>();
  const out: ConversionWarning[] = [];
  for (const w of lists.flat()) {
    const key = `${w.file}:${w.line}:${w.directive}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(w);
  }
  return out;
}

/**
 * Where nginx's messages go while it tests. With `-e FILE`, a timestamped line goes to the file and
 * `nginx: [level] …` to the console; with Debian's default (`-e stderr`), the log *is* stderr, so
 * stderr gets the timestamped line only. The success lines are always `nginx: …` on stderr.
 */
class CheckLog {
  constructor(private readonly opts: CheckOptions, private readonly io: CheckIO) {}

  private get toFile(): boolean {
    return this.opts.errorLog !== undefined && this.opts.errorLog !== 'stderr';
  }

  info(text: string): void {
    if (!this.opts.quiet) this.plain(text);
  }

  plain(text: string): void {
    if (!this.opts.json) this.io.stderr.write(`nginx: ${text}\n`);
  }

  message(err: ConfError): void {
    const stamped = `${timestamp()} [${err.level}] ${process.pid}#${process.pid}: ${err.message}\n`;
    if (this.toFile) {
      try {
        // A relative -e is relative to the prefix, like every nginx log path.
        appendFileSync(fullName(resolvePaths(this.opts).prefix, this.opts.errorLog as string), stamped);
      } catch {
        // nginx carries on with the console copy when its error log cannot be opened.
      }
    }
    if (this.opts.json) return;
    this.io.stderr.write(this.toFile ? `nginx: [${err.level}] ${err.message}\n` : stamped);
  }

  finish(report: CheckReport, code: number): number {
    if (this.opts.json) this.io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return code;
  }
}

/** nginx's log time: `2026/11/25 03:29:20` in local time. */
function timestamp(date = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}/${p(date.getMonth() + 1)}/${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}
