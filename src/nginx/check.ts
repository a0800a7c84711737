// STUB, replaced by the parser work. The signature is the contract for the shim and bext-server.
import type { Writable } from 'node:stream';

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

/** `nginx -t` / `-T` / `bext-server nginx check`: prints what nginx prints, returns the exit code. */
export async function checkCommand(_opts: CheckOptions, _io: CheckIO): Promise<number> {
  return 1;
}
