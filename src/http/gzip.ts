// The gzip filter (ngx_http_gzip_filter_module + ngx_http_gzip_ok): which responses are compressed,
// how their headers change, and a body wrapper that compresses whatever is written to the response
// (static files, generated pages, proxied bodies alike).
import type { ServerResponse } from 'node:http';
import { createGzip } from 'node:zlib';
import type { GzipSettings } from '../config/state.ts';

/** What the filter reads of the request. */
export interface GzipRequest {
  method: string;
  /** major * 1000 + minor. */
  httpVersion: number;
  /** The first value of a request header (nginx keeps the first Accept-Encoding/Via/User-Agent). */
  header(name: string): string | undefined;
}

/** ngx_http_gzip_quantity: `q=0.5` → 500; anything malformed or above 1 counts as 0. */
function quantity(text: string): number {
  const m = /^(\d)(?:\.(\d{0,3}))?(?=[ ,]|$)/.exec(text);
  if (!m) return 0;
  const q = Number(m[1]) * 1000 + Number((m[2] ?? '').padEnd(3, '0'));
  return q > 1000 ? 0 : q;
}

/** ngx_http_gzip_accept_encoding: a `gzip` token (after start, `,` or space) with a non-zero q. */
export function acceptsGzip(ae: string): boolean {
  if (ae.startsWith('gzip, deflate') || ae.startsWith('deflate, gzip')) return true;
  const lower = ae.toLowerCase();
  let from = 0;
  let p: number;
  for (;;) {
    p = lower.indexOf('gzip', from);
    if (p < 0) return false;
    if (p === 0 || ae[p - 1] === ',' || ae[p - 1] === ' ') break;
    from = p + 4;
  }
  let i = p + 4;
  for (; i < ae.length; i++) {
    const c = ae[i];
    if (c === ',') return true;
    if (c === ';') break;
    if (c !== ' ') return false;
  }
  if (i >= ae.length) return true;
  for (i++; i < ae.length; i++) {
    const c = ae[i];
    if (c === 'q' || c === 'Q') {
      if (i + 3 > ae.length || ae[i + 1] !== '=') return false;
      return quantity(ae.slice(i + 2)) !== 0;
    }
    if (c !== ' ') return false;
  }
  return true;
}

/** nginx's r->headers_in.msie6: MSIE 4/5, or 6 without SV1, and not Opera. */
export function isMsie6(ua: string): boolean {
  if (ua.includes('Opera')) return false;
  const i = ua.indexOf('MSIE ');
  if (i < 0 || i + 7 >= ua.length || ua[i + 6] !== '.') return false;
  const v = ua[i + 5];
  return v === '4' || v === '5' || (v === '6' && !ua.slice(i + 8).includes('SV1'));
}

const find = (headers: readonly [string, string][], name: string): string | undefined =>
  headers.find(([k]) => k.toLowerCase() === name)?.[1];

/** gzip_proxied for a request that came through a proxy (it has Via). */
function proxiedAllowed(p: readonly string[], req: GzipRequest, headers: readonly [string, string][]): boolean {
  if (p.includes('off')) return false;
  if (p.includes('any')) return true;
  if (req.header('authorization') !== undefined && p.includes('auth')) return true;
  const expires = find(headers, 'expires');
  if (expires !== undefined) {
    if (!p.includes('expired')) return false;
    const e = Date.parse(expires);
    const date = Date.parse(find(headers, 'date') ?? '') || Date.now();
    return !Number.isNaN(e) && e < date;
  }
  const cc = find(headers, 'cache-control');
  if (cc !== undefined) {
    const v = cc.toLowerCase();
    return (p.includes('no-cache') && v.includes('no-cache')) || (p.includes('no-store') && v.includes('no-store')) ||
      (p.includes('private') && v.includes('private'));
  }
  if (p.includes('no_last_modified') && find(headers, 'last-modified') !== undefined) return false;
  if (p.includes('no_etag') && find(headers, 'etag') !== undefined) return false;
  return true;
}

const disableCache = new WeakMap<readonly string[], RegExp[]>();

/** ngx_http_gzip_ok: the request side (Accept-Encoding, version, msie6, proxied, gzip_disable). */
export function gzipOk(g: GzipSettings, req: GzipRequest, headers: readonly [string, string][]): boolean {
  const ae = req.header('accept-encoding');
  if (ae === undefined) return false;
  const [maj, min] = g.httpVersion.split('.').map(Number) as [number, number];
  if (req.httpVersion < maj * 1000 + (min || 0)) return false;
  if (!acceptsGzip(ae)) return false;
  const ua = req.header('user-agent') ?? '';
  if (g.disable.includes('msie6') && isMsie6(ua)) return false;
  if (req.header('via') !== undefined && !proxiedAllowed(g.proxied, req, headers)) return false;
  let regexes = disableCache.get(g.disable);
  if (!regexes) {
    regexes = g.disable.filter((d) => d !== 'msie6' && d !== 'degradation').map((d) => new RegExp(d, 'i'));
    disableCache.set(g.disable, regexes);
  }
  return !regexes.some((re) => re.test(ua));
}

/** gzip_types match on the type without parameters (`*` matches all). */
function typeMatches(g: GzipSettings, contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  if (g.types.includes('*')) return true;
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return g.types.some((x) => x.toLowerCase() === t);
}

export interface GzipPlan {
  /** The response is eligible: `gzip_vary on` adds `Vary: Accept-Encoding` even if not compressed. */
  vary: boolean;
  compress: boolean;
}

/** The header filter's decision for a response about to be sent. */
export function gzipPlan(g: GzipSettings, req: GzipRequest, status: number, headers: readonly [string, string][]): GzipPlan {
  const no = { vary: false, compress: false };
  if (!g.enabled || (status !== 200 && status !== 403 && status !== 404)) return no;
  if (find(headers, 'content-encoding')) return no;
  const len = find(headers, 'content-length');
  if (len !== undefined && Number(len) < g.minLength) return no;
  if (!typeMatches(g, find(headers, 'content-type'))) return no;
  // HEAD is not header-only yet at this filter (the core header filter marks it later): a HEAD
  // response shows the headers the GET would have.
  return { vary: g.vary, compress: gzipOk(g, req, headers) };
}

/** ngx_http_weak_etag: `"x"` → `W/"x"`; an unquoted ETag is dropped. */
export function weakEtag(etag: string): string | undefined {
  if (etag.startsWith('W/')) return etag;
  return etag.startsWith('"') ? `W/${etag}` : undefined;
}

/**
 * The headers of a compressed response: no Content-Length or Accept-Ranges, a weak ETag, and
 * `Content-Encoding: gzip` at the end (nginx adds it last, after the other filters' headers).
 */
export function gzipHeaders(headers: readonly [string, string][]): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of headers) {
    const l = k.toLowerCase();
    if (l === 'content-length' || l === 'accept-ranges') continue;
    if (l === 'etag') {
      const w = weakEtag(v);
      if (w !== undefined) out.push([k, w]);
      continue;
    }
    out.push([k, v]);
  }
  out.push(['Content-Encoding', 'gzip']);
  return out;
}

type WriteCb = (error?: Error | null) => void;

/**
 * From now on, everything written to `res` is gzipped on its way out. Call right after writeHead.
 * Backpressure holds both ways: the compressor pauses while the socket is full, and writers see
 * the compressor's own `false`/`drain`. `onEnd` receives the byte counts out and in at the end.
 */
export function gzipResponseBody(res: ServerResponse, level: number, onEnd?: (out: number, into: number) => void): void {
  const z = createGzip({ level: Math.min(9, Math.max(1, level)) });
  const write = res.write.bind(res) as (chunk: Buffer) => boolean;
  const end = res.end.bind(res) as () => ServerResponse;
  let bytes = 0;
  let inBytes = 0;
  z.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (!write(chunk)) z.pause();
  });
  res.on('drain', () => z.resume());
  z.on('drain', () => res.emit('drain'));
  z.on('end', () => {
    onEnd?.(bytes, inBytes);
    end();
  });
  z.on('error', () => res.destroy());
  const norm = (chunk: unknown, enc: unknown): Buffer => {
    const b = Buffer.isBuffer(chunk) ? chunk
      : chunk instanceof Uint8Array ? Buffer.from(chunk)
        : Buffer.from(String(chunk), typeof enc === 'string' ? (enc as BufferEncoding) : 'utf8');
    inBytes += b.length;
    return b;
  };
  (res as { write: unknown }).write = (chunk: unknown, enc?: unknown, cb?: unknown): boolean => {
    const done = (typeof enc === 'function' ? enc : cb) as WriteCb | undefined;
    return z.write(norm(chunk, enc), done);
  };
  (res as { end: unknown }).end = (chunk?: unknown, enc?: unknown, cb?: unknown): ServerResponse => {
    const done = [chunk, enc, cb].find((x) => typeof x === 'function') as (() => void) | undefined;
    if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') z.write(norm(chunk, enc));
    if (done) res.once('finish', done);
    z.end();
    return res;
  };
}

/** `$gzip_ratio`: in/out with two decimals, the third rounding half up (nginx's arithmetic). */
export function gzipRatio(into: number, out: number): string {
  if (out === 0) return '';
  let int = Math.floor(into / out);
  let frac = Math.floor((into * 100) / out) % 100;
  if (Math.floor((into * 1000) / out) % 10 > 4) {
    frac++;
    if (frac > 99) {
      int++;
      frac = 0;
    }
  }
  return `${int}.${String(frac).padStart(2, '0')}`;
}
