// The record of an install in <root>/var/lib/bext/masquerade.json: uninstall restores from it, status reports it.
import { readFile } from 'node:fs/promises';
import { hostPath } from './fsutil.ts';
import { STATE_FILE } from './options.ts';

/** How the real nginx binary was moved aside. */
export type BackupMethod = 'dpkg-divert' | 'rename' | 'none';

export interface MasqueradeState {
  version: 1;
  installedAt: string;
  bextVersion: string;
  nginxVersion: string | null;
  /** The package that owns the real binary (dpkg -S / rpm -qf), if any. */
  nginxPackage: string | null;
  paths: {
    bextBin: string;
    shimBin: string;
    realBin: string;
    shimBundle: string;
    pidFile: string;
    dropIn: string;
  };
  binary: {
    method: BackupMethod;
    /** sha256 of the real nginx binary, verified again when it is restored. */
    realSha256: string | null;
    /** dpkg-divert was run with --root (only for installs into a directory). */
    dpkgRoot: boolean;
  };
  shimSha256: string;
  dropInSha256: string;
  /** Directories the install created (target paths); uninstall removes them when empty. */
  createdDirs: string[];
  /** Whether nginx.service was active before the install (uninstall restarts the real nginx then). */
  serviceWasActive: boolean;
}

export async function readState(root: string): Promise<MasqueradeState | null> {
  let text: string;
  try {
    text = await readFile(hostPath(root, STATE_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = JSON.parse(text) as MasqueradeState;
  if (parsed.version !== 1) throw new Error(`${STATE_FILE}: unknown state version ${String(parsed.version)}`);
  return parsed;
}

export function serializeState(state: MasqueradeState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}
