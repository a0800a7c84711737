// The product files the bext scenarios install. Each is optional: a scenario whose artifact is
// missing is skipped with a message that says how to produce it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths.ts';

const distDir = path.join(repoRoot, 'dist');

function newestIn(dir: string, pattern: RegExp): string | undefined {
  if (!existsSync(dir)) return undefined;
  return readdirSync(dir)
    .filter((f) => pattern.test(f))
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

function given(envName: string): string | undefined {
  const value = process.env[envName];
  if (!value) return undefined;
  const resolved = path.resolve(value);
  if (!existsSync(resolved)) throw new Error(`${envName}=${value}: no such file`);
  return resolved;
}

/** BEXT_DEB, or the newest dist/bext-masquerade_*_all.deb. */
export function debPackage(): string | undefined {
  return given('BEXT_DEB') ?? newestIn(distDir, /^bext-masquerade_.*_all\.deb$/);
}

/** BEXT_RPM, or the newest dist/bext-masquerade-*.rpm. */
export function rpmPackage(): string | undefined {
  return given('BEXT_RPM') ?? newestIn(distDir, /^bext-masquerade-.*\.rpm$/);
}

export interface Bundles {
  bext: string;
  server: string;
  shim: string;
}

/** The three esbuild bundles of `npm run build` (or BEXT_BUNDLES_DIR), for the manual install path. */
export function bundles(): Bundles | undefined {
  const dir = process.env.BEXT_BUNDLES_DIR ? path.resolve(process.env.BEXT_BUNDLES_DIR) : distDir;
  const b = {
    bext: path.join(dir, 'bext.js'),
    server: path.join(dir, 'bext-server.js'),
    shim: path.join(dir, 'nginx-shim.js'),
  };
  return Object.values(b).every((f) => existsSync(f)) ? b : undefined;
}

export const missingDeb =
  'no .deb: build it (npm run package) so dist/bext-masquerade_<version>_all.deb exists, or set BEXT_DEB=/path/to.deb';
export const missingRpm =
  'no .rpm: build it (npm run package) so dist/bext-masquerade-<version>.noarch.rpm exists, or set BEXT_RPM=/path/to.rpm';
export const missingBundles = 'no bundles: run `npm run build` (dist/bext.js, dist/bext-server.js, dist/nginx-shim.js)';
