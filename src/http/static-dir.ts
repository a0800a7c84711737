// Directory handling and file probing: `index` (ngx_http_index_module), `autoindex`
// (ngx_http_autoindex_module, HTML format) and `try_files` (ngx_http_try_files_module).
import { statSync } from 'node:fs';
import { stat, lstat, readdir } from 'node:fs/promises';
import { type DocRoot, mapUriToPath, fsPath, fsPathArg } from './static.ts';
import { isFileThisIteration, noteStat } from './file-cache.ts';
import { evaluate, type CompiledValue, type VarContext } from './variables.ts';
import { escapeUriComponent, escapeWith } from './uri.ts';

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

// ---- index ----

export type IndexResult =
  /** Internal redirect to this URI (args unchanged). */
  | { kind: 'redirect'; uri: string }
  | { kind: 'error'; status: number }
  /** No index file: autoindex may run, else 403. */
  | { kind: 'declined' };

/**
 * ngx_http_index_handler for a URI ending in `/`: the first existing index name (already expanded)
 * wins; an absolute name (`/index.php`) redirects without a test.
 */
export function resolveIndex(root: DocRoot, uri: string, method: string, names: readonly string[]): IndexResult {
  if (!uri.endsWith('/')) return { kind: 'declined' };
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return { kind: 'declined' };
  const dir = mapUriToPath(root, uri);
  let dirTested = false;
  for (const name of names) {
    if (name.startsWith('/')) return { kind: 'redirect', uri: name };
    // A file the cache validated in this event-loop iteration exists (file-cache.ts): no stat.
    if (isFileThisIteration(dir + name)) return { kind: 'redirect', uri: uri + name };
    try {
      // Blocking stat, as nginx's workers do (a thread-pool round trip costs far more on a hit).
      statSync(fsPath(dir + name));
      return { kind: 'redirect', uri: uri + name };
    } catch (e) {
      const code = errCode(e);
      if (code === 'ENOTDIR' || code === 'ENAMETOOLONG') return { kind: 'error', status: 404 };
      if (code === 'EACCES') return { kind: 'error', status: 403 };
      if (!dirTested) {
        dirTested = true;
        try {
          const st = statSync(fsPath(dir));
          if (!st.isDirectory()) return { kind: 'error', status: 500 };
        } catch (e2) {
          const c2 = errCode(e2);
          return { kind: 'error', status: c2 === 'ENOENT' || c2 === 'ENOTDIR' ? 404 : c2 === 'EACCES' ? 403 : 500 };
        }
      }
      if (code === 'ENOENT') continue;
      return { kind: 'error', status: 500 };
    }
  }
  return { kind: 'declined' };
}

// ---- autoindex ----

export interface AutoindexEntry {
  /** Byte-string name (latin1 of the raw bytes). */
  name: string;
  dir: boolean;
  mtimeMs: number;
  size: number;
}

/** Reads a directory the way autoindex does: dot files skipped, symlinks followed. */
export async function readAutoindexEntries(dirPath: string): Promise<AutoindexEntry[] | { status: number }> {
  let names: Buffer[];
  try {
    names = await readdir(fsPath(dirPath), { encoding: 'buffer' });
  } catch (e) {
    const code = errCode(e);
    return { status: code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG' ? 404 : code === 'EACCES' ? 403 : 500 };
  }
  const out: AutoindexEntry[] = [];
  for (const raw of names) {
    if (raw[0] === 0x2e) continue;
    const full = Buffer.concat([fsPath(dirPath.endsWith('/') ? dirPath : dirPath + '/'), raw]);
    let st;
    try {
      st = await stat(full);
    } catch (e) {
      if (errCode(e) === 'EACCES') continue;
      try { st = await lstat(full); } catch { continue; }
    }
    out.push({ name: raw.toString('latin1'), dir: st.isDirectory(), mtimeMs: st.mtimeMs, size: st.size });
  }
  return out;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const NAME_LEN = 50;

// NGX_ESCAPE_HTML's mask (a bit per byte 0x00..0x7f; 0x80 and up always escaped).
const HTML_ATTR = [0xffffffff, 0x000000ad, 0x00000000, 0x80000000];

/** ngx_escape_html: & < > " only (what text between tags needs). */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

/** Number of UTF-8 characters in a byte string (ngx_utf8_length; invalid input counts bytes). */
function utf8Length(bytes: string): number {
  const s = Buffer.from(bytes, 'latin1').toString('utf8');
  if (s.includes('\uFFFD')) return bytes.length;
  return [...s].length;
}

/** The first `n` UTF-8 characters of a byte string. */
function utf8Prefix(bytes: string, n: number): string {
  const chars = [...Buffer.from(bytes, 'latin1').toString('utf8')].slice(0, n).join('');
  return Buffer.from(chars, 'utf8').toString('latin1');
}

export interface AutoindexOptions {
  exactSize?: boolean;
  localtime?: boolean;
  /** True when the response charset is utf-8 (names are then measured in characters). */
  utf8?: boolean;
}

function pad2(n: number): string { return (n < 10 ? '0' : '') + n; }

function sizeColumn(e: AutoindexEntry, exact: boolean): string {
  if (exact) return e.dir ? '                  -' : String(e.size).padStart(19);
  if (e.dir) return '      -';
  const len = e.size;
  const G = 1024 * 1024 * 1024, M = 1024 * 1024;
  let size: number, scale = '';
  if (len > G - 1) { size = Math.floor(len / G) + (len % G > G / 2 - 1 ? 1 : 0); scale = 'G'; }
  else if (len > M - 1) { size = Math.floor(len / M) + (len % M > M / 2 - 1 ? 1 : 0); scale = 'M'; }
  else if (len > 9999) { size = Math.floor(len / 1024) + (len % 1024 > 511 ? 1 : 0); scale = 'K'; }
  else size = len;
  return scale ? String(size).padStart(6) + scale : ' ' + String(size).padStart(6);
}

/** nginx's HTML directory listing for `uri` (a byte string ending in `/`). */
export function autoindexHtml(uri: string, entries: AutoindexEntry[], opts: AutoindexOptions = {}): string {
  const sorted = [...entries].sort((a, b) => {
    if (a.dir !== b.dir) return a.dir ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  const title = escapeHtml(uri);
  let out = `<html>\r\n<head><title>Index of ${title}</title></head>\r\n<body>\r\n<h1>Index of ${title}</h1><hr><pre><a href="../">../</a>\r\n`;
  for (const e of sorted) {
    // (colons need no "./" guard: URI-component escaping already turns them into %3A)
    out += '<a href="';
    out += escapeUriComponent(e.name);
    if (e.dir) out += '/';
    out += '">';
    let len = opts.utf8 ? utf8Length(e.name) : e.name.length;
    let shown: string;
    if (len > NAME_LEN) {
      shown = opts.utf8 && len !== e.name.length ? utf8Prefix(e.name, NAME_LEN - 3) : e.name.slice(0, NAME_LEN - 3);
      out += escapeHtml(shown) + '..&gt;</a>';
    } else {
      out += escapeHtml(e.name);
      if (e.dir && NAME_LEN - len > 0) { out += '/'; len++; }
      out += '</a>' + ' '.repeat(NAME_LEN - len);
    }
    out += ' ';
    const d = new Date(e.mtimeMs);
    const [day, mon, year, hh, mm] = opts.localtime
      ? [d.getDate(), d.getMonth(), d.getFullYear(), d.getHours(), d.getMinutes()]
      : [d.getUTCDate(), d.getUTCMonth(), d.getUTCFullYear(), d.getUTCHours(), d.getUTCMinutes()];
    out += `${pad2(day)}-${MONTHS[mon]}-${year} ${pad2(hh)}:${pad2(mm)} `;
    out += sizeColumn(e, opts.exactSize ?? true);
    out += '\r\n';
  }
  out += '</pre><hr></body>\r\n</html>\r\n';
  return out;
}

// ---- try_files ----

export interface TryFilesArg {
  value: CompiledValue;
  /** The argument ended in `/` (and is not the last): test for a directory. */
  testDir: boolean;
}

/** Builds the compiled argument list of `try_files a b … last`. */
export function compileTryFiles(args: readonly string[], compile: (s: string) => CompiledValue): TryFilesArg[] {
  return args.map((a, i) => {
    const testDir = a.length > 0 && a.endsWith('/') && i + 1 < args.length;
    return { value: compile(testDir ? a.slice(0, -1) : a), testDir };
  });
}

export type TryFilesResult =
  /** A candidate exists: serve `uri` from the current location (static handler). */
  | { kind: 'file'; uri: string; addUriToAlias?: boolean }
  | { kind: 'named'; name: string }
  | { kind: 'status'; status: number }
  /** Internal redirect to the last argument. */
  | { kind: 'redirect'; uri: string; args: string };

/** ngx_http_try_files_handler, with nginx's alias quirks (prefix stripped only from variable arguments). */
export function tryFiles(list: readonly TryFilesArg[], root: DocRoot, ctx: VarContext, refused?: (path: string) => boolean): TryFilesResult {
  const base = root.kind === 'alias' || root.kind === 'regexAlias' ? root.path : (root.path.length > 1 && root.path.endsWith('/') ? root.path.slice(0, -1) : root.path);
  const aliasLen = root.kind === 'alias' ? root.locationPrefix.length : 0;
  for (let i = 0; i < list.length; i++) {
    const arg = list[i]!;
    let name = evaluate(arg.value, ctx);
    if (aliasLen && !arg.value.isStatic && name.slice(0, aliasLen) === ctx.uri.slice(0, aliasLen) && name.length >= aliasLen) {
      name = name.slice(aliasLen);
    }
    if (i === list.length - 1) {
      if (name.startsWith('=')) {
        const code = Number(name.slice(1));
        return { kind: 'status', status: code };
      }
      if (name.startsWith('@')) return { kind: 'named', name };
      const q = name.indexOf('?');
      return q < 0 ? { kind: 'redirect', uri: name, args: '' } : { kind: 'redirect', uri: name.slice(0, q), args: name.slice(q + 1) };
    }
    // Blocking stat, as nginx's workers do; a missing file returns undefined instead of throwing
    // (misses are the common case here, and an exception per miss is costly).
    const path = base + name;
    // disable_symlinks: a candidate it refuses is not there for try_files.
    if (refused?.(path)) continue;
    if (!arg.testDir && isFileThisIteration(path)) return tryFilesFound(root, arg, name, ctx, aliasLen);
    let st;
    try {
      st = statSync(fsPathArg(path), { bigint: true, throwIfNoEntry: false });
    } catch {
      continue;
    }
    if (st === undefined) continue;
    if (st.isDirectory() !== arg.testDir) continue;
    // The static handler's cache check can use this stat instead of making its own.
    if (!arg.testDir) noteStat(path, st);
    return tryFilesFound(root, arg, name, ctx, aliasLen);
  }
  return { kind: 'status', status: 500 };
}

/** The candidate `name` exists: what the static handler serves. */
function tryFilesFound(root: DocRoot, arg: TryFilesArg, name: string, ctx: VarContext, aliasLen: number): TryFilesResult {
  if (root.kind === 'root') return { kind: 'file', uri: name };
  if (root.kind === 'regexAlias') return arg.testDir ? { kind: 'file', uri: ctx.uri } : { kind: 'file', uri: name, addUriToAlias: true };
  return { kind: 'file', uri: ctx.uri.slice(0, aliasLen) + name };
}
