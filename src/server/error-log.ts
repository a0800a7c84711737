// The master's error log: nginx's line format (src/http/access-log.ts formats it), written
// synchronously so nothing is lost when the process exits right after. Before the configuration
// names a file, lines go to stderr (Debian's compiled-in default).
import { closeSync, openSync, writeSync } from 'node:fs';
import { ERROR_LEVELS, formatErrorLine, type ErrorLevel, type ErrorLogEntry } from '../http/access-log.ts';

export type LogLevel = ErrorLevel;

export class ErrorLog {
  private fd = 2;
  private minLevel = ERROR_LEVELS.indexOf('error');

  constructor(private target = 'stderr') {
    this.open();
  }

  /** Points the log at the configuration's `error_log FILE [LEVEL]` (or stderr). */
  retarget(target: string, level: string = 'error'): void {
    if (target !== this.target) {
      this.close();
      this.target = target;
      this.open();
    }
    const i = ERROR_LEVELS.indexOf(level as ErrorLevel);
    this.minLevel = i < 0 ? ERROR_LEVELS.indexOf('error') : i;
  }

  /** USR1: logrotate renamed the file; open the path again so new lines go to the new file. */
  reopen(): void {
    this.close();
    this.open();
  }

  log(level: LogLevel, message: string): void {
    this.write({ level, message });
  }

  write(entry: ErrorLogEntry): void {
    if (ERROR_LEVELS.indexOf(entry.level) < this.minLevel) return;
    try {
      writeSync(this.fd, formatErrorLine(entry));
    } catch {
      // a full disk or a closed stderr must not take the server down
    }
  }

  private open(): void {
    if (this.target === 'stderr') this.fd = 2;
    else {
      try {
        this.fd = openSync(this.target, 'a', 0o644);
      } catch (err) {
        this.fd = 2;
        this.log('alert', `could not open error log file: open() "${this.target}" failed (${(err as Error).message})`);
      }
    }
  }

  private close(): void {
    if (this.fd > 2) closeSync(this.fd);
    this.fd = 2;
  }
}
