// The build-time inputs nfpm.yaml refers to under dist/package/: the bundles built with the packages'
// shebang, the gzipped man pages and the gzipped Debian changelog. The bundles are built by the
// project's own scripts/build.mjs, run from a scratch tree whose src/ and node_modules/ link to the
// real ones, so dist/ (used by the tests with `#!/usr/bin/env node`) is never touched.
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { repoRoot, run } from './project.ts';

export const GENERATED_DIR = 'dist/package';
export const PACKAGE_SHEBANG = '#!/usr/bin/node';

const BUNDLES = ['bext-server.js', 'nginx-shim.js', 'bext.js'];
const MAN_PAGES = ['bext.1', 'bext-server.8'];

export async function buildBundles(root = repoRoot): Promise<void> {
  const scratch = path.join(root, GENERATED_DIR, 'build-tree');
  await rm(scratch, { recursive: true, force: true });
  await mkdir(path.join(scratch, 'scripts'), { recursive: true });
  await copyFile(path.join(root, 'scripts', 'build.mjs'), path.join(scratch, 'scripts', 'build.mjs'));
  for (const entry of ['src', 'node_modules', 'package.json', 'tsconfig.json']) {
    await symlink(path.join(root, entry), path.join(scratch, entry));
  }
  await run(process.execPath, [path.join(scratch, 'scripts', 'build.mjs')], {
    cwd: scratch,
    env: { ...process.env, BEXT_SHEBANG: PACKAGE_SHEBANG },
  });
  const out = path.join(root, GENERATED_DIR, 'bundles');
  await mkdir(out, { recursive: true });
  for (const b of BUNDLES) await copyFile(path.join(scratch, 'dist', b), path.join(out, b));
  await rm(scratch, { recursive: true, force: true });
}

/** gzip -9n: no name, no timestamp, so the bytes depend on the content only. */
function gzip9n(data: Buffer): Buffer {
  return gzipSync(data, { level: 9 });
}

export async function writeManPages(root = repoRoot): Promise<void> {
  const out = path.join(root, GENERATED_DIR, 'man');
  await mkdir(out, { recursive: true });
  for (const page of MAN_PAGES) {
    await writeFile(path.join(out, `${page}.gz`), gzip9n(await readFile(path.join(root, 'docs', 'man', page))));
  }
}

/** Writes changelog.Debian.gz after checking that its newest entry is the version being built. */
export async function writeDebianChangelog(name: string, debVersion: string, root = repoRoot): Promise<void> {
  const source = path.join(root, 'packaging', 'changelog');
  const text = await readFile(source, 'utf8');
  const top = /^(\S+) \(([^)]+)\)/.exec(text);
  if (!top || top[1] !== name || top[2] !== debVersion) {
    throw new Error(`${source}: the newest entry must be "${name} (${debVersion})", found "${top ? `${top[1]} (${top[2]})` : text.split('\n')[0]}"; add an entry for this version`);
  }
  await mkdir(path.join(root, GENERATED_DIR), { recursive: true });
  await writeFile(path.join(root, GENERATED_DIR, 'changelog.Debian.gz'), gzip9n(Buffer.from(text)));
}
