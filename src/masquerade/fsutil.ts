// File helpers for the installer: every write is temp+rename so a crash never leaves half a file.
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, lstat, mkdir, open, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

/** Maps a path on the target system onto the host: `--root DIR` makes every target path DIR-relative. */
export function hostPath(root: string, targetPath: string): string {
  return root === '/' ? targetPath : path.join(root, targetPath);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

export async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

export async function sha256File(p: string): Promise<string> {
  return createHash('sha256').update(await readFile(p)).digest('hex');
}

export async function readIfExists(p: string): Promise<Buffer | null> {
  try {
    return await readFile(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The directories of `dir` that do not exist yet, outermost first. */
export async function missingDirs(dir: string): Promise<string[]> {
  const missing: string[] = [];
  let cur = dir;
  while (!(await exists(cur))) {
    missing.unshift(cur);
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  return missing;
}

/** Creates the missing directories of `dir`, returning the ones it created (outermost first) so undo can remove them. */
export async function ensureDir(dir: string): Promise<string[]> {
  const missing = await missingDirs(dir);
  if (missing.length) await mkdir(dir, { recursive: true });
  return missing;
}

/** The target path of a host path under `root` (inverse of hostPath). */
export function targetPath(root: string, hostFile: string): string {
  return root === '/' ? hostFile : `/${path.relative(root, hostFile)}`;
}

/** Removes directories created by ensureDir, innermost first, leaving any that gained other content. */
export async function removeCreatedDirs(created: string[]): Promise<void> {
  for (const dir of [...created].reverse()) {
    try {
      await rmdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  }
}

/** Writes through a temp file in the same directory, fsyncs it, then renames it over the target. */
export async function atomicWrite(p: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = path.join(path.dirname(p), `.${path.basename(p)}.bext-tmp-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await chmod(tmp, mode); // open()'s mode is filtered by the umask
    await rename(tmp, p);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export async function unlinkIfExists(p: string): Promise<boolean> {
  try {
    await unlink(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
