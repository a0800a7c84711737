// Shared by the steps that write one file (shim, drop-in, state): save what was there, write atomically,
// and on undo put the old bytes back (or remove the file and the directories the write created).
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.ts';
import { atomicWrite, ensureDir, readIfExists, removeCreatedDirs, unlinkIfExists } from '../fsutil.ts';

export async function writeSaving(ctx: Context, key: string, hostFile: string, data: string, mode: number): Promise<void> {
  const before = await readIfExists(hostFile);
  const oldMode = before ? (await stat(hostFile)).mode & 0o7777 : mode;
  const createdDirs = await ensureDir(path.dirname(hostFile));
  ctx.record.saved[key] = { path: hostFile, before, mode: oldMode, createdDirs };
  try {
    await atomicWrite(hostFile, data, mode);
  } catch (err) {
    await removeCreatedDirs(createdDirs);
    delete ctx.record.saved[key];
    throw err;
  }
}

/** Removes a file, saving it so restoreSaved can put it back. */
export async function removeSaving(ctx: Context, key: string, hostFile: string): Promise<boolean> {
  const before = await readIfExists(hostFile);
  if (!before) return false;
  const mode = (await stat(hostFile)).mode & 0o7777;
  ctx.record.saved[key] = { path: hostFile, before, mode, createdDirs: [] };
  await unlinkIfExists(hostFile);
  return true;
}

export async function restoreSaved(ctx: Context, key: string): Promise<string> {
  const saved = ctx.record.saved[key];
  if (!saved) return 'nothing to undo';
  delete ctx.record.saved[key];
  if (saved.before) {
    await ensureDir(path.dirname(saved.path));
    await atomicWrite(saved.path, saved.before, saved.mode);
    return `restored ${saved.path}`;
  }
  await unlinkIfExists(saved.path);
  await removeCreatedDirs(saved.createdDirs);
  return `removed ${saved.path}`;
}
