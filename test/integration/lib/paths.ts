// Where the suite keeps things on the host: the repository root and the ignored cache folder.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { mkdirSync } from 'node:fs';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const integrationDir = path.join(repoRoot, 'test/integration');
export const assetsDir = path.join(integrationDir, 'assets');

/** `.cache/integration/` (git-ignored): debootstrap tarball, locks, dockerd log and pid. */
export function cacheDir(...parts: string[]): string {
  const dir = path.join(repoRoot, '.cache/integration', ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}
