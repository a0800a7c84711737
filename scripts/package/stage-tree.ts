// Lays a format's `contents` out as the file tree the package installs: modes from file_info (else
// the source file's), every directory 0755 unless declared otherwise, and every mtime set to
// SOURCE_DATE_EPOCH, so the archive does not depend on the umask or on when the files were written.
import { chmod, copyFile, lstat, lutimes, mkdir, readdir, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Content } from './nfpm-config.ts';

export interface StagedEntry {
  path: string; // absolute path inside the package, e.g. /usr/bin/bext
  kind: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  content: Content | null; // null for directories implied by a path
}

export class MissingSourceError extends Error {
  override name = 'MissingSourceError';
}

/** Checks every `src` before anything is built, naming each missing file. */
export async function checkSources(contents: Content[], root: string): Promise<void> {
  const missing: string[] = [];
  for (const c of contents) {
    if (c.type === 'dir' || c.type === 'symlink') continue;
    try {
      if (!(await stat(path.join(root, c.src))).isFile()) missing.push(c.src);
    } catch {
      missing.push(c.src);
    }
  }
  if (missing.length) {
    throw new MissingSourceError(`files the package declares are missing: ${missing.join(', ')}` + (missing.some((m) => m.startsWith('systemd/')) ? ' (systemd/bext-masquerade.conf is the drop-in template written with the installer work)' : ''));
  }
}

export async function stageTree(contents: Content[], root: string, dest: string, epoch: number): Promise<StagedEntry[]> {
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  const declaredDirs = new Map<string, Content>();
  for (const c of contents) if (c.type === 'dir') declaredDirs.set(c.dst, c);

  for (const c of contents) {
    const target = path.join(dest, c.dst);
    if (c.type === 'dir') {
      await mkdir(target, { recursive: true });
      continue;
    }
    await mkdir(path.dirname(target), { recursive: true });
    if (c.type === 'symlink') {
      await symlink(c.src, target);
      continue;
    }
    await copyFile(path.join(root, c.src), target);
    await chmod(target, c.mode ?? (await stat(path.join(root, c.src))).mode & 0o7777);
  }

  const entries: StagedEntry[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const inPkg = '/' + path.relative(dest, full).split(path.sep).join('/');
      const st = await lstat(full);
      if (st.isDirectory()) {
        const declared = declaredDirs.get(inPkg);
        const mode = declared?.mode ?? 0o755;
        await chmod(full, mode);
        entries.push({ path: inPkg, kind: 'dir', mode, size: 0, content: declared ?? null });
        await walk(full);
      } else {
        const content = contents.find((c) => c.dst === inPkg) ?? null;
        entries.push({ path: inPkg, kind: st.isSymbolicLink() ? 'symlink' : 'file', mode: st.mode & 0o7777, size: st.size, content });
      }
    }
  };
  await walk(dest);
  await chmod(dest, 0o755);
  // Children first, so setting a file's time does not disturb its directory's again.
  const when = new Date(epoch * 1000);
  for (const e of [...entries].reverse()) await lutimes(path.join(dest, e.path), when, when);
  await lutimes(dest, when, when);
  return entries;
}
