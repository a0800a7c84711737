// Test helpers for the configuration engine: materialise a fixture in a temp dir (with @DIR@
// replaced by that dir and self-signed certificates where the fixture expects them), run the real
// nginx -t on it, and run our checkCommand on it, both with `-e FILE` so errors read
// `nginx: [emerg] MESSAGE in FILE:LINE` on the console.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { checkCommand } from '../../src/nginx/check.ts';

export const NGINX_BIN = '/usr/sbin/nginx';
export const haveNginx = existsSync(NGINX_BIN);
export { FIXTURES, materialise, removeTempDirs, writeConfigDir } from './tempfiles.ts';

export interface CheckRun {
  code: number;
  stderr: string;
  stdout: string;
}

/** The real nginx: `nginx -t -p DIR/ -c DIR/nginx.conf -e DIR/error.log`. */
export function runRealNginx(dir: string, extra: string[] = []): CheckRun {
  const r = spawnSync(NGINX_BIN, ['-t', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), ...extra], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status ?? -1, stderr: r.stderr, stdout: r.stdout };
}

/** Ours, with the same options. */
export async function runOurs(dir: string, opts: { globals?: string; dump?: boolean; json?: boolean; quiet?: boolean } = {}): Promise<CheckRun> {
  const stdout = new Collect();
  const stderr = new Collect();
  const code = await checkCommand(
    { prefix: `${dir}/`, confFile: join(dir, 'nginx.conf'), errorLog: join(dir, 'error.log'), ...opts },
    { stdout, stderr },
  );
  return { code, stderr: stderr.text, stdout: stdout.text };
}

/** The first `nginx: [emerg|crit|…]` line of a -t run, or undefined. */
export function firstError(stderr: string): string | undefined {
  return stderr.split('\n').find((l) => /^nginx: \[(emerg|alert|crit|error)\] /.test(l));
}

class Collect extends Writable {
  private chunks: Buffer[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    done();
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
