// Test fixtures: a temporary target root with a fake nginx, a bext-server, the shim bundle and a config.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MasqueradeOptions } from '../../src/masquerade/options.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A bext-server stand-in: `nginx check -c FILE` fails on the word BROKEN and warns on WARNME, like nginx prints. */
const FAKE_BEXT_SERVER = `#!/bin/sh
# fake bext-server for the installer tests
if [ "$1 $2" = "nginx check" ]; then
  f=$4
  if grep -q BROKEN "$f"; then
    echo "nginx: [emerg] unknown directive \\"BROKEN\\" in $f:1" >&2
    echo "nginx: configuration file $f test failed" >&2
    exit 1
  fi
  if grep -q WARNME "$f"; then echo "nginx: [warn] \\"WARNME\\" is accepted and ignored in $f:2" >&2; fi
  echo "nginx: the configuration file $f syntax is ok" >&2
  echo "nginx: configuration file $f test is successful" >&2
  exit 0
fi
exit 2
`;

/** The real configuration engine, run from this checkout through tsx. */
export function realBextServer(): string {
  const tsx = import.meta.resolve('tsx');
  return `#!/bin/sh\nexec node --import ${tsx} ${REPO}/src/server/main.ts "$@"\n`;
}

export const FAKE_NGINX = '#!/bin/sh\necho "nginx version: nginx/1.22.1" >&2\n';
export const FAKE_SHIM_BUNDLE = '#!/bin/sh\necho "nginx version: nginx/1.28.2 (bext-masquerade)" >&2\n';

export interface RootSpec {
  nginx?: boolean;
  config?: 'ok' | 'warn' | 'broken' | 'none';
  bextServer?: 'fake' | 'real' | 'none';
  /** Give the root a dpkg database, so dpkg-divert --root is used. */
  dpkg?: boolean;
  /** Where bext-server lives inside the root. */
  bextBin?: string;
}

export async function put(file: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  await chmod(file, mode);
}

export async function makeRoot(spec: RootSpec = {}): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'bext-masq-'));
  if (spec.nginx ?? true) await put(path.join(root, 'usr/sbin/nginx'), FAKE_NGINX, 0o755);
  const bext = spec.bextServer ?? 'fake';
  if (bext !== 'none') await put(path.join(root, spec.bextBin ?? 'usr/bin/bext-server'), bext === 'real' ? realBextServer() : FAKE_BEXT_SERVER, 0o755);
  await put(path.join(root, 'usr/lib/bext/nginx-shim'), FAKE_SHIM_BUNDLE, 0o755);
  const config = spec.config ?? 'ok';
  const body = { ok: 'events {}\nhttp { server { listen 8080; } }\n', warn: 'events {}\nhttp { WARNME; }\n', broken: 'BROKEN;\n', none: '' }[config];
  if (config !== 'none') await put(path.join(root, 'etc/nginx/nginx.conf'), body);
  // A dpkg system always has the diversions database, empty when nothing is diverted.
  if (spec.dpkg) await put(path.join(root, 'var/lib/dpkg/diversions'), '');
  return root;
}

export function optionsFor(root: string, over: Partial<MasqueradeOptions> = {}): MasqueradeOptions {
  return {
    root,
    bextBin: '/usr/bin/bext-server',
    shimBin: '/usr/sbin/nginx',
    shimBundle: '/usr/lib/bext/nginx-shim',
    pidFile: '/run/nginx.pid',
    force: false,
    restart: false,
    ...over,
  };
}

/** dpkg's own backup of its diversions database; dpkg-divert leaves it behind by design. */
const IGNORED = new Set(['var/lib/dpkg/diversions-old']);

/** Every entry under root with type, mode and content hash: equal listings mean byte-identical trees. */
export async function treeListing(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (IGNORED.has(rel)) continue;
      const st = await lstat(full);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`d ${mode} ${rel}`);
        await walk(full);
      } else if (st.isSymbolicLink()) out.push(`l ${rel} -> ${await readlink(full)}`);
      else out.push(`f ${mode} ${rel} ${createHash('sha256').update(await readFile(full)).digest('hex')}`);
    }
  }
  await walk(root);
  return out;
}

export async function removeRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bext` from source, without a terminal (stdin is /dev/null). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), ...args],
      { cwd: REPO, env: { ...process.env, CI: 'true', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err && typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : err ? -1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}
