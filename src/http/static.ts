// Static content as nginx serves it: ngx_http_static_module (files, directory redirect),
// not_modified filter (conditional requests), range filter (206/416, multipart/byteranges), plus path
// mapping for root/alias. index, autoindex and try_files live in static-dir.ts.
import { openSync, fstatSync, readSync, closeSync, constants as fsConstants } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { uriExtension, escapeUri } from './uri.ts';
import { rateLimitOf, sleep, writeLimited } from './limit-rate.ts';
import { cachedFile, offerFile, nsToSec, CACHE_FILE_MAX, type CachedFile } from './file-cache.ts';

/** Byte-string path (see uri.ts) to a Buffer path for fs calls. */
export const fsPath = (p: string): Buffer => Buffer.from(p, 'latin1');

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * fsPath for the hot path: an ASCII path names the same bytes as a string (Node encodes it as
 * UTF-8), which spares a Buffer per request; anything else goes as latin1 bytes.
 */
export const fsPathArg = (p: string): string | Buffer => (NON_ASCII.test(p) ? fsPath(p) : p);

// ---- root / alias ----

export type DocRoot =
  /** `root PATH` (already expanded, absolute). */
  | { kind: 'root'; path: string }
  /** `alias PATH` in a prefix location: the location's prefix is replaced by PATH. */
  | { kind: 'alias'; path: string; locationPrefix: string }
  /** `alias PATH` in a regex location: PATH (with captures expanded) is the whole file name. */
  | { kind: 'regexAlias'; path: string };

/** nginx drops one trailing slash of `root` (not of alias). */
function rootBase(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** ngx_http_map_uri_to_path: the file name for `uri` ($request_filename). */
export function mapUriToPath(root: DocRoot, uri: string, addUriToRegexAlias = false): string {
  switch (root.kind) {
    case 'root': return rootBase(root.path) + uri;
    case 'alias': return root.path + uri.slice(root.locationPrefix.length);
    case 'regexAlias': return addUriToRegexAlias ? root.path + uri : root.path;
  }
}

/** $document_root: the root, or the alias value. */
export function documentRoot(root: DocRoot): string {
  return root.kind === 'root' ? rootBase(root.path) : root.path;
}

/** Lexical containment check: the mapped file must stay under its root (defence in depth). */
export function isUnderRoot(root: DocRoot, file: string): boolean {
  if (root.kind === 'regexAlias') return true;
  const base = documentRoot(root);
  if (file === base) return true;
  // `base/…` (compared in place: no `base + '/'` string per request).
  const inDir = file.startsWith(base) && (base.endsWith('/') || file.charCodeAt(base.length) === 0x2f);
  if (!inDir && !(root.kind === 'alias' && file.startsWith(base))) return false;
  // Only a name with '..' in it can climb out.
  return !file.includes('..', base.length) || !/(^|\/)\.\.(\/|$)/.test(file.slice(base.length));
}

// ---- headers ----

// The last two seconds formatted: the current time (Date header) and a file's mtime (Last-Modified)
// are asked for on every response, and nearly always for the same second as the previous call.
let dateSecA = NaN, dateStrA = '';
let dateSecB = NaN, dateStrB = '';

/** RFC 1123 date as nginx prints it (`Tue, 14 Nov 2023 22:13:20 GMT`); cached per second. */
export function httpDate(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec === dateSecA) return dateStrA;
  if (sec === dateSecB) return dateStrB;
  const s = new Date(ms).toUTCString();
  dateSecB = dateSecA; dateStrB = dateStrA;
  dateSecA = sec; dateStrA = s;
  return s;
}

const HTTP_DATE = /^(?:[A-Za-z]{3}, \d\d [A-Za-z]{3} \d{4} \d\d:\d\d:\d\d GMT|[A-Za-z]+, \d\d-[A-Za-z]{3}-\d\d \d\d:\d\d:\d\d GMT|[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d\d:\d\d:\d\d \d{4})$/;

/** ngx_parse_http_time for the three HTTP date formats; seconds since epoch or -1. */
export function parseHttpDate(s: string): number {
  const t = s.trim();
  if (!HTTP_DATE.test(t)) return -1;
  const ms = Date.parse(t.includes('GMT') ? t : t + ' GMT');
  return Number.isNaN(ms) ? -1 : Math.floor(ms / 1000);
}

/** nginx's ETag: `"<hex mtime>-<hex size>"`. */
export function etagFor(mtimeSec: number, size: number): string {
  return `"${mtimeSec.toString(16)}-${size.toString(16)}"`;
}

/** MIME type from the URI's extension (lowercased) via `types`, else default_type. */
export function mimeTypeFor(uri: string, types: ReadonlyMap<string, string>, defaultType: string): string {
  // The same URI under the same types as the last call (the next request for the same file).
  if (uri === lastMime.uri && types === lastMime.types && defaultType === lastMime.defaultType) return lastMime.type;
  const ext = uriExtension(uri);
  let type = defaultType;
  if (ext) {
    const t = types.get(ext) ?? types.get(ext.toLowerCase());
    if (t !== undefined) type = t;
  }
  lastMime = { uri, types, defaultType, type };
  return type;
}
let lastMime: { uri: string; types: ReadonlyMap<string, string> | undefined; defaultType: string; type: string } = { uri: '', types: undefined, defaultType: '', type: '' };

// ---- conditional requests (ngx_http_not_modified_filter_module) ----

export type IfModifiedSinceMode = 'off' | 'exact' | 'before';

type Headers = Record<string, string | string[] | undefined>;
const header = (h: Headers, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** ngx_http_test_if_match: does the list in `value` contain `etag` (`*` matches anything)? */
export function etagListMatches(value: string, etag: string | undefined, weak: boolean): boolean {
  // `*` matches before the ETag is looked at: it holds with `etag off` too.
  if (value === '*') return true;
  if (etag === undefined) return false;
  let p = 0;
  const end = value.length;
  while (p < end) {
    if (weak && end - p > 2 && value[p] === 'W' && value[p + 1] === '/') p += 2;
    if (etag.length > end - p) return false;
    if (value.startsWith(etag, p)) {
      let q = p + etag.length;
      while (q < end && (value[q] === ' ' || value[q] === '\t')) q++;
      if (q === end || value[q] === ',') return true;
    }
    while (p < end && value[p] !== ',') p++;
    while (p < end && (value[p] === ' ' || value[p] === '\t' || value[p] === ',')) p++;
  }
  return false;
}

/** 200 → 200 (send), 304 (not modified) or 412 (precondition failed), as nginx's filter decides. */
export function conditionalStatus(
  reqHeaders: Headers,
  validators: { etag?: string; lastModifiedSec?: number },
  mode: IfModifiedSinceMode = 'exact',
): 200 | 304 | 412 {
  const lm = validators.lastModifiedSec ?? -1;
  const ius = header(reqHeaders, 'if-unmodified-since');
  if (ius !== undefined) {
    if (lm === -1) return 412;
    const t = parseHttpDate(ius);
    if (!(t >= lm)) return 412;
  }
  const im = header(reqHeaders, 'if-match');
  if (im !== undefined && !etagListMatches(im, validators.etag, false)) return 412;
  const ims = header(reqHeaders, 'if-modified-since');
  const inm = header(reqHeaders, 'if-none-match');
  if (ims !== undefined || inm !== undefined) {
    if (ims !== undefined) {
      // "modified" means send the body.
      if (lm === -1 || mode === 'off') return 200;
      const t = parseHttpDate(ims);
      if (t !== lm && (mode === 'exact' || t < lm)) return 200;
    }
    if (inm !== undefined && !etagListMatches(inm, validators.etag, true)) return 200;
    return 304;
  }
  return 200;
}

// ---- ranges (ngx_http_range_filter_module) ----

/** Half-open byte range [start, end). */
export interface ByteRange { start: number; end: number }

export type RangeResult =
  | { kind: 'none' }
  | { kind: 'unsatisfiable' }
  | { kind: 'ranges'; ranges: ByteRange[] };

/** ngx_http_range_parse over the text after `bytes=`; `maxRanges` Infinity by default. */
export function parseRangeSpec(spec: string, size: number, maxRanges = Infinity): RangeResult {
  const ranges: ByteRange[] = [];
  let total = 0;
  let left = maxRanges;
  let p = 0;
  const at = (i: number): string => spec[i] ?? '\0';
  const isDigit = (c: string): boolean => c >= '0' && c <= '9';
  for (;;) {
    let start = 0;
    let end = 0;
    let suffix = false;
    let open = false;
    while (at(p) === ' ') p++;
    if (at(p) !== '-') {
      if (!isDigit(at(p))) return { kind: 'unsatisfiable' };
      while (isDigit(at(p))) start = start * 10 + (spec.charCodeAt(p++) - 48);
      if (!Number.isSafeInteger(start)) return { kind: 'unsatisfiable' };
      while (at(p) === ' ') p++;
      if (at(p++) !== '-') return { kind: 'unsatisfiable' };
      while (at(p) === ' ') p++;
      if (at(p) === ',' || at(p) === '\0') { end = size; open = true; }
    } else {
      suffix = true;
      p++;
    }
    if (!open) {
      if (!isDigit(at(p))) return { kind: 'unsatisfiable' };
      while (isDigit(at(p))) end = end * 10 + (spec.charCodeAt(p++) - 48);
      if (!Number.isSafeInteger(end)) return { kind: 'unsatisfiable' };
      while (at(p) === ' ') p++;
      if (at(p) !== ',' && at(p) !== '\0') return { kind: 'unsatisfiable' };
      if (suffix) {
        start = end < size ? size - end : 0;
        end = size - 1;
      }
      end = end >= size ? size : end + 1;
    }
    if (start < end) {
      ranges.push({ start, end });
      total += end - start;
      if (left-- === 0) return { kind: 'none' };
    } else if (start === 0) {
      return { kind: 'none' };
    }
    if (at(p++) !== ',') break;
  }
  if (ranges.length === 0) return { kind: 'unsatisfiable' };
  if (total > size) return { kind: 'none' };
  return { kind: 'ranges', ranges };
}

/** Applies the Range / If-Range headers to a 200 response of `size` bytes. */
export function rangesFor(
  reqHeaders: Headers,
  size: number,
  validators: { etag?: string; lastModifiedSec?: number },
  maxRanges = Infinity,
): RangeResult {
  if (maxRanges === 0) return { kind: 'none' };
  const range = header(reqHeaders, 'range');
  if (range === undefined || range.length < 7 || range.slice(0, 6).toLowerCase() !== 'bytes=') return { kind: 'none' };
  const ifRange = header(reqHeaders, 'if-range');
  if (ifRange !== undefined) {
    if (ifRange.length >= 2 && ifRange.endsWith('"')) {
      if (validators.etag === undefined || validators.etag !== ifRange) return { kind: 'none' };
    } else {
      if (validators.lastModifiedSec === undefined) return { kind: 'none' };
      if (parseHttpDate(ifRange) !== validators.lastModifiedSec) return { kind: 'none' };
    }
  }
  return parseRangeSpec(range.slice(6), size, maxRanges);
}

let boundaryCounter = 0;
/** nginx's multipart boundary: a 20-digit zero-padded counter (ngx_next_temp_number). */
export function nextBoundary(): string {
  boundaryCounter++;
  return String(boundaryCounter).padStart(20, '0');
}

export interface MultipartPlan {
  contentType: string;
  /** Per range: the part header to send before the bytes. */
  parts: { head: Buffer; start: number; end: number }[];
  tail: Buffer;
  length: number;
}

/** The multipart/byteranges layout nginx sends (ngx_http_range_multipart_header). */
export function multipartPlan(ranges: ByteRange[], size: number, contentType: string | undefined, boundary = nextBoundary()): MultipartPlan {
  const partHead = `\r\n--${boundary}\r\n` + (contentType ? `Content-Type: ${contentType}\r\n` : '') + 'Content-Range: bytes ';
  const parts = ranges.map((r) => ({
    head: Buffer.from(`${partHead}${r.start}-${r.end - 1}/${size}\r\n\r\n`, 'latin1'),
    start: r.start,
    end: r.end,
  }));
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  const length = parts.reduce((n, p) => n + p.head.length + (p.end - p.start), tail.length);
  return { contentType: `multipart/byteranges; boundary=${boundary}`, parts, tail, length };
}

// ---- serving a file ----

export interface StaticOptions {
  types: ReadonlyMap<string, string>;
  defaultType: string;
  /** `etag on|off` (default on). */
  etag?: boolean;
  ifModifiedSince?: IfModifiedSinceMode;
  /** `max_ranges` (default unlimited). */
  maxRanges?: number;
  /** HTTP/0.9 requests get no ranges. */
  httpVersion?: number;
  /**
   * The response goes out with an error_page status other than 200: nginx's not_modified and range
   * filters only act on 200, so validators and Range are ignored.
   */
  errorStatus?: boolean;
}

export interface StaticRequest {
  method: string;
  /** $uri: decides the MIME type and the directory redirect. */
  uri: string;
  args: string;
  headers: Headers;
}

/**
 * Range bodies up to this many bytes are read with blocking reads while the response is built and
 * sent with one `res.end(buffer)`; larger ones are streamed from the open descriptor (pipeRange).
 * Whole files up to CACHE_FILE_MAX are read whole (a blocking read of 1 MiB from the page cache takes
 * ~0.1 ms) and may be kept in memory (file-cache.ts).
 */
export const SYNC_READ_MAX = 64 * 1024;

/**
 * Chunk size when streaming a larger body, and how many chunks may wait in the socket at once.
 * Measured on a 1 MiB file: 256 KiB × 2 in flight with blocking reads into pooled buffers serves
 * ~2.3× the requests of one 256 KiB thread-pool read into a fresh buffer at a time; 128 KiB or
 * 512 KiB–1 MiB chunks, or more in flight, did worse.
 */
const STREAM_CHUNK = 256 * 1024;
const STREAM_INFLIGHT = 2;

/**
 * The body to send. `buffer` holds the bytes already read (shorter than announced when the file
 * shrank under us: the connection is then closed after them, as nginx does). `file` and `multipart`
 * own an open descriptor: pass the plan to sendBody (or closeBody) exactly once.
 */
export type BodyPlan =
  | { kind: 'none' }
  | { kind: 'buffer'; data: Buffer; truncated: boolean }
  | { kind: 'file'; fd: number; start: number; end: number }
  | { kind: 'multipart'; fd: number; plan: MultipartPlan };

export type StaticResult =
  /** Send these headers (in nginx's order) and body; the pipeline adds Server/Date/Connection. */
  | {
    kind: 'response'; status: number; headers: [string, string][]; body: BodyPlan;
    /** The file's mtime in seconds: what the Last-Modified header says. */
    lastModifiedSec?: number;
  }
  /** nginx generates the page for this status (404, 403, 405, 412, 416 …); extra headers included. */
  | { kind: 'error'; status: number; headers: [string, string][]; /** nginx's error log text, if it logs one */ reason?: string }
  /** A directory without trailing slash: 301 to this (relative) Location. */
  | { kind: 'redirect'; status: 301; location: string };

function errnoStatus(err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return 404;
  if (code === 'EACCES' || code === 'EPERM') return 403;
  return 500;
}

const STRERROR: Record<string, string> = {
  ENOENT: '2: No such file or directory', ENOTDIR: '20: Not a directory', EACCES: '13: Permission denied',
  EPERM: '1: Operation not permitted', ENAMETOOLONG: '36: File name too long', EISDIR: '21: Is a directory',
};

/** `open() "/path" failed (2: No such file or directory)`, as nginx logs it. */
export function openFailedMessage(file: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = STRERROR[e.code ?? ''] ?? `${e.errno ?? 0}: ${e.message}`;
  return `open() "${file}" failed (${text})`;
}

/**
 * nginx opens with O_NONBLOCK (ngx_open_file_wrapper): a FIFO under the root must not block the
 * worker in open(); on regular files the flag changes nothing.
 */
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/** Reads [start, end) of `fd` with blocking reads; shorter when the file ended early. */
function readRangeSync(fd: number, start: number, end: number): Buffer {
  const buf = Buffer.allocUnsafe(end - start);
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, start + got);
    if (n === 0) return buf.subarray(0, got);
    got += n;
  }
  return buf;
}

/** The bytes of a body plan read now (the total is at most SYNC_READ_MAX). */
function bufferedBody(fd: number, parts: readonly { head?: Buffer; start: number; end: number }[], tail?: Buffer): BodyPlan {
  const chunks: Buffer[] = [];
  let truncated = false;
  for (const p of parts) {
    if (p.head) chunks.push(p.head);
    const b = readRangeSync(fd, p.start, p.end);
    chunks.push(b);
    if (b.length < p.end - p.start) { truncated = true; break; }
  }
  if (tail && !truncated) chunks.push(tail);
  return { kind: 'buffer', data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), truncated };
}

/**
 * ngx_http_static_handler + not_modified + range filters for `file` (the mapped path). The caller has
 * already handled URIs ending in `/` (index/autoindex). When the result's body owns a descriptor
 * (`file`, `multipart`), pass it to sendBody (or closeBody) exactly once.
 *
 * The file is opened, stat'ed (fstat of the opened descriptor: the validators always describe the
 * bytes sent) and, for small files, read whole with blocking calls, like an nginx worker does. Small
 * files are then kept per worker (file-cache.ts) and served from memory only while one stat per
 * request shows the very same file (inode, size, mtime and ctime to the nanosecond): a changed,
 * replaced, removed or chmod'ed file is opened again at once, as with open_file_cache off.
 */
export async function serveStatic(file: string, req: StaticRequest, opts: StaticOptions): Promise<StaticResult> {
  return serveStaticSync(file, req, opts);
}

/** serveStatic without the promise: every file system call it makes is synchronous. */
export function serveStaticSync(file: string, req: StaticRequest, opts: StaticOptions): StaticResult {
  const m = req.method;
  if (m !== 'GET' && m !== 'HEAD' && m !== 'POST') return { kind: 'error', status: 405, headers: [] };
  const path = fsPathArg(file);
  const hit = cachedFile(file, path);
  if (hit !== undefined) {
    if (m === 'POST') return { kind: 'error', status: 405, headers: [] };
    return fileResponse(req, opts, hit.size, hit.mtimeSec, hit.lastModified, hit.etag, hit.data, hit);
  }
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    return { kind: 'error', status: errnoStatus(e), headers: [], reason: openFailedMessage(file, e) };
  }
  let keep = false;
  try {
    const st = fstatSync(fd, { bigint: true });
    if (st.isDirectory()) {
      return { kind: 'redirect', status: 301, location: escapeUri(req.uri) + '/' + (req.args ? '?' + req.args : '') };
    }
    if (!st.isFile()) return { kind: 'error', status: 404, headers: [] };
    if (m === 'POST') return { kind: 'error', status: 405, headers: [] };

    const size = Number(st.size);
    const mtime = nsToSec(st.mtimeNs);
    const lastModified = httpDate(mtime * 1000);
    const etag = etagFor(mtime, size);
    if (size <= CACHE_FILE_MAX) {
      // Read whole (whatever the request wants of it): the next request may then need only a stat.
      const readStart = Date.now();
      const data = readRangeSync(fd, 0, size);
      if (data.length === size) offerFile(file, st, data, readStart, lastModified, etag);
      return fileResponse(req, opts, size, mtime, lastModified, etag, data);
    }
    const out = fileResponse(req, opts, size, mtime, lastModified, etag, fd);
    // The body streams from the descriptor: sendBody closes it.
    keep = out.kind === 'response' && (out.body.kind === 'file' || out.body.kind === 'multipart');
    return out;
  } finally {
    if (!keep) closeSync(fd);
  }
}

/** [start, end) of a file held in memory; shorter when the file was shorter than announced. */
const slice = (data: Buffer, start: number, end: number): Buffer => data.subarray(Math.min(start, data.length), Math.min(end, data.length));

/**
 * A whole-file 200 built from a cache entry, kept with the entry while the MIME type and the etag
 * setting asking for it stay the same: the usual request for a small file then allocates nothing
 * here. Results are never changed in place (the pipeline copies what it edits).
 */
const full200 = new WeakMap<CachedFile, { contentType: string; etag: boolean; result: StaticResult }>();

const NO_RANGE: RangeResult = { kind: 'none' };

/** The request carries none of the headers the not_modified filter looks at. */
function unconditional(h: Headers): boolean {
  return h['if-unmodified-since'] === undefined && h['if-match'] === undefined
    && h['if-modified-since'] === undefined && h['if-none-match'] === undefined;
}

/**
 * The response for a regular file of `size` bytes whose bytes are `src`: the whole file in memory
 * (possibly shorter than `size` when it shrank while read) or an open descriptor. A body of kind
 * `file` or `multipart` owns the descriptor. `entry` is the cache entry `src` comes from, if any.
 */
function fileResponse(
  req: StaticRequest, opts: StaticOptions, size: number, mtime: number, lastModified: string, etagValue: string,
  src: Buffer | number, entry?: CachedFile,
): StaticResult {
  const etag = opts.etag === false ? undefined : etagValue;
  const contentType = mimeTypeFor(req.uri, opts.types, opts.defaultType);
  const headers = req.headers;

  const cond = opts.errorStatus || unconditional(headers)
    ? 200
    : conditionalStatus(headers, { etag, lastModifiedSec: mtime }, opts.ifModifiedSince);
  if (cond === 412) return { kind: 'error', status: 412, headers: [] };
  if (cond === 304) {
    const h: [string, string][] = [['Last-Modified', lastModified]];
    if (etag) h.push(['ETag', etag]);
    return { kind: 'response', status: 304, headers: h, body: { kind: 'none' }, lastModifiedSec: mtime };
  }

  // No Range header (the common case): skip the range filter altogether.
  const range = headers['range'] !== undefined && (opts.httpVersion ?? 1001) >= 1000 && !opts.errorStatus
    ? rangesFor(headers, size, { etag, lastModifiedSec: mtime }, opts.maxRanges)
    : NO_RANGE;
  if (range.kind === 'unsatisfiable') {
    return { kind: 'error', status: 416, headers: [['Content-Range', `bytes */${size}`]] };
  }
  const head = req.method === 'HEAD';
  const mem = typeof src === 'number' ? undefined : src;
  const fd = typeof src === 'number' ? src : -1;
  if (range.kind === 'ranges' && range.ranges.length === 1) {
    const r = range.ranges[0]!;
    const h = baseHeaders(contentType, r.end - r.start, lastModified, etag);
    h.push(['Content-Range', `bytes ${r.start}-${r.end - 1}/${size}`]);
    let body: BodyPlan = { kind: 'none' };
    if (!head) {
      if (mem) {
        const data = slice(mem, r.start, r.end);
        body = { kind: 'buffer', data, truncated: data.length < r.end - r.start };
      } else if (r.end - r.start <= SYNC_READ_MAX) body = bufferedBody(fd, [r]);
      else body = { kind: 'file', fd, start: r.start, end: r.end };
    }
    return { kind: 'response', status: 206, headers: h, body, lastModifiedSec: mtime };
  }
  if (range.kind === 'ranges') {
    const plan = multipartPlan(range.ranges, size, contentType);
    let body: BodyPlan = { kind: 'none' };
    if (!head) {
      if (mem) body = memoryBody(mem, plan.parts, plan.tail);
      else if (plan.length <= SYNC_READ_MAX) body = bufferedBody(fd, plan.parts, plan.tail);
      else body = { kind: 'multipart', fd, plan };
    }
    return { kind: 'response', status: 206, headers: baseHeaders(plan.contentType, plan.length, lastModified, etag), body, lastModifiedSec: mtime };
  }
  // The whole file: from the entry's memo when it was built for the same type and etag setting.
  const memoable = entry !== undefined && !head && size > 0;
  if (memoable) {
    const memo = full200.get(entry);
    if (memo !== undefined && memo.contentType === contentType && memo.etag === (etag !== undefined)) return memo.result;
  }
  const h = baseHeaders(contentType, size, lastModified, etag);
  h.push(['Accept-Ranges', 'bytes']);
  let body: BodyPlan = { kind: 'none' };
  if (!head && size > 0) {
    if (mem) body = { kind: 'buffer', data: mem, truncated: mem.length < size };
    else body = { kind: 'file', fd, start: 0, end: size };
  }
  const result: StaticResult = { kind: 'response', status: 200, headers: h, body, lastModifiedSec: mtime };
  if (memoable) full200.set(entry, { contentType, etag: etag !== undefined, result });
  return result;
}

/** Content-Type, Content-Length, Last-Modified and the ETag (unless `etag off`). */
function baseHeaders(type: string, length: number, lastModified: string, etag: string | undefined): [string, string][] {
  const h: [string, string][] = [['Content-Type', type], ['Content-Length', String(length)], ['Last-Modified', lastModified]];
  if (etag) h.push(['ETag', etag]);
  return h;
}

/** bufferedBody for a file held in memory. */
function memoryBody(mem: Buffer, parts: readonly { head: Buffer; start: number; end: number }[], tail: Buffer): BodyPlan {
  const chunks: Buffer[] = [];
  let truncated = false;
  for (const p of parts) {
    chunks.push(p.head);
    const b = slice(mem, p.start, p.end);
    chunks.push(b);
    if (b.length < p.end - p.start) { truncated = true; break; }
  }
  if (!truncated) chunks.push(tail);
  return { kind: 'buffer', data: Buffer.concat(chunks), truncated };
}

/** Releases a body's file descriptor without sending it. */
export async function closeBody(body: BodyPlan): Promise<void> {
  if (body.kind === 'file' || body.kind === 'multipart') closeSync(body.fd);
}

/**
 * The file ended before the length announced: what there is goes out after the header, then the
 * connection is closed (nginx: "file was truncated", the request finalized with an error).
 */
function cutShort(res: ServerResponse, data?: Buffer): void {
  if (!res.headersSent) res.flushHeaders();
  if (data && data.length > 0) res.write(data);
  const socket = res.socket;
  if (!socket) return void res.destroy();
  socket.end(() => socket.destroy());
}

// Chunk buffers go back to this pool once the socket has taken their bytes: a fresh 256 KiB
// buffer per read costs page faults and garbage collection, more than the read itself.
const chunkPool: Buffer[] = [];
const CHUNK_POOL_MAX = 16;
const takeChunk = (): Buffer => chunkPool.pop() ?? Buffer.allocUnsafeSlow(STREAM_CHUNK);
const giveChunk = (b: Buffer): void => { if (chunkPool.length < CHUNK_POOL_MAX) chunkPool.push(b); };

/**
 * Writes [start, end) of `fd` into `res` chunk by chunk, honouring back-pressure. False when the
 * response went away or the file ended early; in the latter case the connection is closed, as nginx
 * does when a file is truncated under it.
 *
 * Reads are blocking, as an nginx worker's sendfile()/read() are: from the page cache a 256 KiB read
 * takes ~10 µs, far less than a thread-pool round trip. The next chunk is read while the previous
 * one is still being written (two in flight), so the socket never waits for a read.
 */
async function pipeRange(fd: number, res: ServerResponse, start: number, end: number): Promise<boolean> {
  let pos = start;
  let inflight = 0;
  let wake: (() => void) | undefined;
  while (pos < end) {
    if (res.destroyed) return false;
    // limit_rate: no more than is allowed now (nginx's write filter sends at most that).
    const limit = rateLimitOf(res);
    let allowed = Infinity;
    if (limit) {
      let wait: number;
      while ((wait = limit.waitMs()) > 0 && !res.destroyed) await sleep(wait);
      allowed = limit.allowance();
    }
    const buf = takeChunk();
    const want = Math.min(buf.length, end - pos, allowed);
    let n: number;
    try {
      n = readSync(fd, buf, 0, want, pos);
    } catch (e) {
      giveChunk(buf);
      throw e;
    }
    if (res.destroyed) { giveChunk(buf); return false; }
    if (n === 0) {
      giveChunk(buf);
      cutShort(res);
      return false;
    }
    pos += n;
    inflight++;
    const delay = limit ? limit.wrote(n) : 0;
    res.write(n === buf.length ? buf : buf.subarray(0, n), () => {
      inflight--;
      giveChunk(buf);
      if (wake) wake();
    });
    if (delay > 0 && pos < end) await sleep(delay);
    if (inflight >= STREAM_INFLIGHT && pos < end) {
      await new Promise<void>((resolve) => {
        const done = () => {
          wake = undefined;
          res.off('close', done);
          resolve();
        };
        wake = done;
        res.on('close', done);
      });
    }
  }
  return true;
}

/**
 * Sends a BodyPlan into `res` (headers already written) and ends it; always closes the file. A body
 * in memory is sent at once (no promise: most responses are small), or in pieces when large; a file streams.
 */
export function sendBody(res: ServerResponse, body: BodyPlan): Promise<void> | undefined {
  const limit = rateLimitOf(res);
  if (limit && body.kind === 'buffer' && !body.truncated && body.data.length > limit.allowance()) return writeLimited(res, body.data, limit, true);
  switch (body.kind) {
    case 'none':
      res.end();
      return undefined;
    case 'buffer':
      if (body.truncated) cutShort(res, body.data);
      else if (body.data.length > PIECE * 2) return sendPieces(res, body.data);
      else res.end(body.data);
      return undefined;
    case 'file':
    case 'multipart':
      return streamBody(res, body);
  }
}

/**
 * A large body in memory goes out in pieces of this size: nginx's 32k (output_buffers 2 32k). On some
 * kernels 64 KiB writes stall now and then for tens of ms on loopback, nginx's too with
 * `output_buffers 2 64k` (2026-11-27, Linux 6.18: p99 at equal load 29–55 ms against 2.2–2.4 with
 * 32k); on an earlier machine 64 KiB served more (0.82–0.84 of nginx against 0.67–0.77) at the same p99.
 */
const PIECE = 32 * 1024;

/**
 * A large body from memory, written as nginx writes one without sendfile: pieces as long as the
 * socket takes them, then a wait until it drains. Handed over in one write, a 1 MiB body stalled
 * now and then for tens of ms on loopback (the kernel's behaviour; nginx with `output_buffers 1 1m`
 * shows the same tail).
 */
function sendPieces(res: ServerResponse, data: Buffer): Promise<void> {
  return new Promise<void>((resolve) => {
    let pos = 0;
    const done = (): void => {
      res.off('drain', pump);
      res.off('close', done);
      resolve();
    };
    const pump = (): void => {
      for (;;) {
        const end = Math.min(pos + PIECE, data.length);
        const piece = data.subarray(pos, end);
        pos = end;
        if (pos >= data.length) {
          res.end(piece);
          done();
          return;
        }
        if (!res.write(piece)) return;
      }
    };
    res.on('drain', pump);
    res.on('close', done);
    pump();
  });
}

async function streamBody(res: ServerResponse, body: BodyPlan & { kind: 'file' | 'multipart' }): Promise<void> {
  try {
    if (body.kind === 'file') {
      if (!(await pipeRange(body.fd, res, body.start, body.end))) return;
    } else {
      for (const part of body.plan.parts) {
        res.write(part.head);
        if (!(await pipeRange(body.fd, res, part.start, part.end))) return;
      }
      res.write(body.plan.tail);
    }
    res.end();
  } finally {
    await closeBody(body);
  }
}
