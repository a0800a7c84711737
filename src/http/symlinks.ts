// disable_symlinks (ngx_open_file_wrapper with openat and O_NOFOLLOW): each component of a file's
// path after the `from=` part is opened without following a symbolic link. A link as the last
// component fails with ELOOP (403), one on the way with ENOTDIR (404); `if_not_owner` lets a link
// through when it and what it points to have the same owner.
import { lstatSync, statSync } from 'node:fs';
import type { LocationConf } from '../config/state.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';

export interface SymlinkRefusal {
  errno: 40 | 20;
  text: string;
}

const LOOP: SymlinkRefusal = { errno: 40, text: 'Too many levels of symbolic links' };
const NOT_DIR: SymlinkRefusal = { errno: 20, text: 'Not a directory' };

/** Why `file` may not be opened under the location's disable_symlinks (undefined: it may). */
export function symlinkRefusal(conf: LocationConf, file: string, ctx: VarContext): SymlinkRefusal | undefined {
  const ds = conf.disableSymlinks;
  if (!ds) return undefined;
  let start = 0;
  if (ds.from !== undefined) {
    const from = evaluate(compiled(ds.from), ctx).replace(/\/+$/, '');
    if (from !== '' && file.startsWith(from) && (file.length === from.length || file[from.length] === '/')) start = from.length;
  }
  const parts = file.slice(start).split('/').filter((p) => p !== '');
  let path = file.slice(0, start);
  for (let i = 0; i < parts.length; i++) {
    path += `/${parts[i]}`;
    let link;
    try {
      link = lstatSync(path);
    } catch {
      return undefined; // the open reports it as it always does
    }
    if (!link.isSymbolicLink()) continue;
    if (ds.mode === 'if_not_owner') {
      try {
        if (statSync(path).uid === link.uid) continue;
      } catch {
        return undefined;
      }
    }
    return i === parts.length - 1 ? LOOP : NOT_DIR;
  }
  return undefined;
}
