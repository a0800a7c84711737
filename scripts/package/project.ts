// Facts about the tree being packaged: where it is, its version, and the timestamp every packaged
// file gets (SOURCE_DATE_EPOCH), so that two builds of one commit give the same bytes.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Used when neither SOURCE_DATE_EPOCH nor a git commit gives one: 2026-01-01T00:00:00Z. */
export const FALLBACK_EPOCH = 1767225600;

export async function packageJsonVersion(root = repoRoot): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string' || !pkg.version) throw new Error('package.json has no version');
  return pkg.version;
}

/** SOURCE_DATE_EPOCH if set, else the last commit's time, else a fixed value. */
export async function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env, root = repoRoot): Promise<number> {
  const given = env['SOURCE_DATE_EPOCH'];
  if (given !== undefined && given !== '') {
    if (!/^\d+$/.test(given)) throw new Error(`SOURCE_DATE_EPOCH must be a number of seconds, got "${given}"`);
    return Number(given);
  }
  try {
    const { stdout } = await run('git', ['-C', root, 'log', '-1', '--format=%ct'], { encoding: 'utf8' });
    const t = Number(stdout.trim());
    if (Number.isInteger(t) && t > 0) return t;
  } catch {
    // not a git checkout (e.g. a release tarball): fall through
  }
  return FALLBACK_EPOCH;
}

/** True when `cmd` is an executable on PATH. */
export async function onPath(cmd: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  try {
    await run('/bin/sh', ['-c', `command -v "$1" >/dev/null`, 'sh', cmd], { env });
    return true;
  } catch {
    return false;
  }
}

/**
 * The package version the way nfpm derives it from a semver `version` and a `release`: a
 * prerelease sorts before the release with "~" (0.2.0-beta.1 → 0.2.0~beta.1).
 */
export function packageVersions(version: string, release: string): { upstream: string; deb: string; rpmVersion: string; rpmRelease: string } {
  const m = /^v?(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(version);
  if (!m) throw new Error(`version "${version}" is not semver`);
  const upstream = m[2] ? `${m[1]}~${m[2]}` : m[1]!;
  const rel = release || '1';
  return { upstream, deb: `${upstream}-${rel}`, rpmVersion: upstream, rpmRelease: rel };
}
