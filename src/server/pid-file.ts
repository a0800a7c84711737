// The pid file, as nginx writes it: "<pid>\n", written before connections are accepted, removed on exit.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

export function writePidFile(file: string, pid = process.pid): void {
  const tmp = `${file}.${pid}.tmp`;
  writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
  renameSync(tmp, file); // atomic: a reader sees the old pid or the new one, never a half-written file
}

/** Removes the pid file only while it still names us (a new master may already own it). */
export function removePidFile(file: string, pid = process.pid): void {
  try {
    if (readFileSync(file, 'utf8').trim() === String(pid)) unlinkSync(file);
  } catch {
    // already gone
  }
}
