// sub_filter (ngx_http_sub_filter_module): in responses of sub_filter_types (text/html by default)
// each string is replaced, matched without regard to ASCII case, once each (sub_filter_once, the
// default) or everywhere; the replacements may hold variables. The head loses Content-Length, and
// Last-Modified and ETag unless sub_filter_last_modified is on (the ETag is then made weak).
// The body is rewritten as it streams: a tail that could begin a match waits for the next piece.
import type { ServerResponse } from 'node:http';
import type { SubFilterSettings } from '../config/state.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';

/** ngx_tolower: ASCII letters only (the body is bytes, kept as latin1 text). */
function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** Whether the response's head (its Content-Type) is one the filter rewrites. */
export function subFilterApplies(sf: SubFilterSettings, contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  if (sf.types.includes('*')) return true;
  const type = lowerAscii(contentType.split(';')[0]!.trim());
  return sf.types.includes(type);
}

/**
 * The head as the filter leaves it: no Content-Length (hence no ranges: the range filter then
 * adds no Accept-Ranges); no Last-Modified and ETag, or a weak ETag.
 */
export function subFilterHeaders(sf: SubFilterSettings, headers: [string, string][]): [string, string][] {
  const out: [string, string][] = [];
  for (const h of headers) {
    if (h[0] === 'Content-Length' || h[0] === 'Accept-Ranges') continue;
    if (!sf.lastModified && (h[0] === 'Last-Modified' || h[0] === 'ETag')) continue;
    if (h[0] === 'ETag' && !h[1].startsWith('W/')) out.push(['ETag', `W/${h[1]}`]);
    else out.push(h);
  }
  return out;
}

class Replacer {
  private pending = '';
  private readonly used: boolean[];
  private readonly matches: string[];
  private readonly longest: number;

  constructor(private readonly sf: SubFilterSettings, private readonly replacements: string[]) {
    this.matches = sf.pairs.map((p) => lowerAscii(p.match));
    this.used = this.matches.map(() => false);
    this.longest = Math.max(...this.matches.map((m) => m.length));
  }

  /** The text that can go out now; `last`: the body is complete. */
  push(text: string, last: boolean): string {
    const all = this.pending + text;
    const low = lowerAscii(all);
    let out = '';
    let from = 0;
    for (;;) {
      // The leftmost match of a string not used up (config order breaks ties).
      let at = -1;
      let which = -1;
      for (let i = 0; i < this.matches.length; i++) {
        if (this.used[i] || this.matches[i] === '') continue;
        const p = low.indexOf(this.matches[i]!, from);
        if (p >= 0 && (at < 0 || p < at)) {
          at = p;
          which = i;
        }
      }
      if (at < 0) break;
      out += all.slice(from, at) + this.replacements[which];
      from = at + this.matches[which]!.length;
      if (this.sf.once) this.used[which] = true;
    }
    if (last || this.used.every((u, i) => u || this.matches[i] === '')) {
      this.pending = '';
      return out + all.slice(from);
    }
    // Keep back what could be the start of a match across the next piece.
    const keep = Math.min(this.longest - 1, all.length - from);
    this.pending = all.slice(all.length - keep);
    return out + all.slice(from, all.length - keep);
  }
}

/** Rewrites what is written to `res` from here on; `onEnd` gets the bytes it sent. */
export function installSubFilter(res: ServerResponse, sf: SubFilterSettings, ctx: VarContext, onEnd: (bytes: number) => void): void {
  const replacer = new Replacer(sf, sf.pairs.map((p) => evaluate(compiled(p.replacement), ctx)));
  const write = res.write.bind(res) as (chunk: Buffer, cb?: () => void) => boolean;
  const end = res.end.bind(res) as (chunk?: Buffer, cb?: () => void) => ServerResponse;
  let bytes = 0;
  const text = (chunk: unknown, enc: unknown): string => (Buffer.isBuffer(chunk) || chunk instanceof Uint8Array
    ? Buffer.from(chunk).toString('latin1')
    : Buffer.from(String(chunk), typeof enc === 'string' ? (enc as BufferEncoding) : 'utf8').toString('latin1'));
  (res as { write: unknown }).write = (chunk: unknown, enc?: unknown, cb?: unknown): boolean => {
    const done = (typeof enc === 'function' ? enc : cb) as (() => void) | undefined;
    const out = Buffer.from(replacer.push(text(chunk, enc), false), 'latin1');
    bytes += out.length;
    if (out.length === 0) {
      if (done) queueMicrotask(done);
      return true;
    }
    return write(out, done);
  };
  (res as { end: unknown }).end = (chunk?: unknown, enc?: unknown, cb?: unknown): ServerResponse => {
    const done = [chunk, enc, cb].find((x) => typeof x === 'function') as (() => void) | undefined;
    const tail = chunk !== undefined && chunk !== null && typeof chunk !== 'function' ? text(chunk, enc) : '';
    const out = Buffer.from(replacer.push(tail, true), 'latin1');
    bytes += out.length;
    onEnd(bytes);
    return out.length ? end(out, done) : end(undefined, done);
  };
}
