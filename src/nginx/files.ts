// File access the way nginx does it: `open()`/`pread()` error texts with errno, and glob(3) for
// `include` patterns (sorted in byte order, hidden files only matched by an explicit leading dot).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { errnoSuffix } from './errno.ts';
import { ConfError } from './types.ts';

/**
 * Reads a config file. Failures become nginx's messages: `open() "F" failed (…)`, or for a
 * directory (which open() accepts) `pread() "F" failed (21: Is a directory)` at level crit.
 * `where` is the including directive's position; the top-level file has none.
 */
export function readConfFile(path: string, where?: { file: string; line: number }): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const isDir = (err as NodeJS.ErrnoException).code === 'EISDIR';
    const text = `${isDir ? 'pread()' : 'open()'} "${path}" failed${errnoSuffix(err)}`;
    // nginx logs the pread() failure without a position (ngx_read_file logs it itself).
    if (isDir) throw new ConfError(text, undefined, undefined, 'crit');
    throw new ConfError(text, where?.file, where?.line);
  }
}

const hasMagic = (s: string): boolean => /[*?[]/.test(s);

/** Translates one glob(3) path segment into an anchored RegExp. */
function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i];
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '\\' && i + 1 < segment.length) re += escapeRe(segment[++i]);
    else if (ch === '[') {
      // A bracket expression; `[` without a closing `]` is an ordinary character.
      let j = i + 1;
      if (segment[j] === '!' || segment[j] === '^') j++;
      if (segment[j] === ']') j++;
      while (j < segment.length && segment[j] !== ']') j++;
      if (j >= segment.length) { re += '\\['; continue; }
      let body = segment.slice(i + 1, j);
      let negate = false;
      if (body[0] === '!' || body[0] === '^') { negate = true; body = body.slice(1); }
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (c, off: number) => (c === ']' && off === 0 ? '\\]' : `\\${c}`))}]`;
      i = j;
    } else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`, 's');
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** glob(3) without flags: the matching paths sorted in byte order; none is not an error. */
export function globPaths(pattern: string): string[] {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s, i) => s !== '' || i === 0);
  let bases: string[] = [absolute ? '/' : ''];
  if (absolute) segments.shift();
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    const next: string[] = [];
    for (const base of bases) {
      if (!hasMagic(segment)) {
        next.push(base + segment + (last ? '' : '/'));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(base === '' ? '.' : base);
      } catch {
        continue;
      }
      const re = segmentRegExp(segment);
      for (const name of names) {
        if (name.startsWith('.') && !segment.startsWith('.')) continue;
        if (re.test(name)) next.push(base + name + (last ? '' : '/'));
      }
    }
    bases = next;
  });
  const exists = bases.filter((p) => {
    try {
      statSync(p);
      return true;
    } catch {
      return false;
    }
  });
  return exists.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export const isGlobPattern = hasMagic;
