// Temp config directories for tests: fixtures copied with @DIR@ replaced by the temp dir (and
// self-signed certificates where fixtures expect them), or files written from a table.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;

const created: string[] = [];

/** A new temp dir, removed by removeTempDirs(). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bext-conf-'));
  created.push(dir);
  return dir;
}

/** Removes every temp dir this module created (call from `after`). */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Copies a fixture directory to a new temp dir, replacing @DIR@ in every file; returns the dir. */
export function materialise(fixtureDir: string): string {
  const dir = tempDir();
  cpSync(fixtureDir, dir, { recursive: true });
  substitute(dir, dir);
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  makeCertificate(dir);
  return dir;
}

/** Writes files (relative path → text, @DIR@ replaced) into a new temp dir; returns the dir. */
export function writeConfigDir(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [rel, text] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text.replaceAll('@DIR@', dir));
  }
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  return dir;
}

function substitute(root: string, dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) substitute(root, path);
    else {
      const text = readFileSync(path, 'utf8');
      if (text.includes('@DIR@')) writeFileSync(path, text.replaceAll('@DIR@', root));
    }
  }
}

/** nginx -t loads ssl_certificate files: fixtures without their own pair get a throw-away one. */
function makeCertificate(dir: string): void {
  const certs = join(dir, 'certs');
  if (existsSync(join(certs, 'example.pem'))) return;
  mkdirSync(certs, { recursive: true });
  const result = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=example.test',
    '-keyout', join(certs, 'example.key'), '-out', join(certs, 'example.pem'),
  ], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr}`);
}
