// Static content as nginx serves it: ngx_http_static_module (files, directory redirect),
// not_modified filter (conditional requests), range filter (206/416, multipart/byteranges), plus path
// mapping for root/alias. index, autoindex and try_files live in static-dir.ts.
import { open, type FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { uriExtension, escapeUri } from './uri.ts';

/** Byte-string path (see uri.ts) to a Buffer path for fs calls. */
export const fsPath = (p: string): Buffer => Buffer.from(p, 'latin1');

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
  const base = documentRoot(root);
  if (root.kind === 'regexAlias') return true;
  if (file === base) return true;
  const prefix = base.endsWith('/') ? base : base + '/';
  if (!file.startsWith(prefix) && !(root.kind === 'alias' && file.startsWith(base))) return false;
  return !/(^|\/)\.\.(\/|$)/.test(file.slice(base.length));
}

// ---- headers ----

/** RFC 1123 date as nginx prints it (`Tue, 14 Nov 2023 22:13:20 GMT`). */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
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
  const ext = uriExtension(uri);
  if (ext) {
    const t = types.get(ext) ?? types.get(ext.toLowerCase());
    if (t !== undefined) return t;
  }
  return defaultType;
}

// ---- conditional requests (ngx_http_not_modified_filter_module) ----

export type IfModifiedSinceMode = 'off' | 'exact' | 'before';

type Headers = Record<string, string | string[] | undefined>;
const header = (h: Headers, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** ngx_http_test_if_match: does the list in `value` contain `etag` (`*` matches anything)? */
export function etagListMatches(value: string, etag: string | undefined, weak: boolean): boolean {
  if (etag === undefined) return false;
  if (value === '*') return true;
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

export type BodyPlan =
  | { kind: 'none' }
  | { kind: 'file'; fh: FileHandle; start: number; end: number }
  | { kind: 'multipart'; fh: FileHandle; plan: MultipartPlan };

export type StaticResult =
  /** Send these headers (in nginx's order) and body; the pipeline adds Server/Date/Connection. */
  | { kind: 'response'; status: number; headers: [string, string][]; body: BodyPlan }
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
 * ngx_http_static_handler + not_modified + range filters for `file` (the mapped path). The caller has
 * already handled URIs ending in `/` (index/autoindex). When the result holds a file handle, pass it to
 * sendStatic (or closeBody) exactly once.
 */
export async function serveStatic(file: string, req: StaticRequest, opts: StaticOptions): Promise<StaticResult> {
  const m = req.method;
  if (m !== 'GET' && m !== 'HEAD' && m !== 'POST') return { kind: 'error', status: 405, headers: [] };
  let fh: FileHandle;
  try {
    fh = await open(fsPath(file), 'r');
  } catch (e) {
    return { kind: 'error', status: errnoStatus(e), headers: [], reason: openFailedMessage(file, e) };
  }
  let keep = false;
  try {
    const st = await fh.stat();
    if (st.isDirectory()) {
      return { kind: 'redirect', status: 301, location: escapeUri(req.uri) + '/' + (req.args ? '?' + req.args : '') };
    }
    if (!st.isFile()) return { kind: 'error', status: 404, headers: [] };
    if (m === 'POST') return { kind: 'error', status: 405, headers: [] };

    const size = st.size;
    const mtime = Math.floor(st.mtimeMs / 1000);
    const etag = opts.etag === false ? undefined : etagFor(mtime, size);
    const contentType = mimeTypeFor(req.uri, opts.types, opts.defaultType);
    const validators = { etag, lastModifiedSec: mtime };
    const lastModified = httpDate(mtime * 1000);

    const cond = opts.errorStatus ? 200 : conditionalStatus(req.headers, validators, opts.ifModifiedSince);
    if (cond === 412) return { kind: 'error', status: 412, headers: [] };
    if (cond === 304) {
      const h: [string, string][] = [['Last-Modified', lastModified]];
      if (etag) h.push(['ETag', etag]);
      return { kind: 'response', status: 304, headers: h, body: { kind: 'none' } };
    }

    const range = (opts.httpVersion ?? 1001) >= 1000 && !opts.errorStatus
      ? rangesFor(req.headers, size, validators, opts.maxRanges)
      : ({ kind: 'none' } as RangeResult);
    if (range.kind === 'unsatisfiable') {
      return { kind: 'error', status: 416, headers: [['Content-Range', `bytes */${size}`]] };
    }
    const head = m === 'HEAD';
    const base = (type: string, length: number): [string, string][] => {
      const h: [string, string][] = [['Content-Type', type], ['Content-Length', String(length)], ['Last-Modified', lastModified]];
      if (etag) h.push(['ETag', etag]);
      return h;
    };
    if (range.kind === 'ranges' && range.ranges.length === 1) {
      const r = range.ranges[0]!;
      const h = base(contentType, r.end - r.start);
      h.push(['Content-Range', `bytes ${r.start}-${r.end - 1}/${size}`]);
      keep = !head;
      return { kind: 'response', status: 206, headers: h, body: head ? { kind: 'none' } : { kind: 'file', fh, start: r.start, end: r.end } };
    }
    if (range.kind === 'ranges') {
      const plan = multipartPlan(range.ranges, size, contentType);
      keep = !head;
      return { kind: 'response', status: 206, headers: base(plan.contentType, plan.length), body: head ? { kind: 'none' } : { kind: 'multipart', fh, plan } };
    }
    const h = base(contentType, size);
    h.push(['Accept-Ranges', 'bytes']);
    keep = !head && size > 0;
    return { kind: 'response', status: 200, headers: h, body: keep ? { kind: 'file', fh, start: 0, end: size } : { kind: 'none' } };
  } finally {
    if (!keep) await fh.close();
  }
}

/** Releases a body's file handle without sending it. */
export async function closeBody(body: BodyPlan): Promise<void> {
  if (body.kind !== 'none') await body.fh.close();
}

function pipeRange(fh: FileHandle, res: NodeJS.WritableStream, start: number, end: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (end <= start) return resolve();
    const rs = fh.createReadStream({ start, end: end - 1, autoClose: false });
    rs.on('error', reject);
    rs.on('end', resolve);
    rs.pipe(res, { end: false });
  });
}

/** Streams a BodyPlan into `res` (headers already written) and ends it; always closes the file. */
export async function sendBody(res: ServerResponse, body: BodyPlan): Promise<void> {
  try {
    if (body.kind === 'file') {
      await pipeRange(body.fh, res, body.start, body.end);
    } else if (body.kind === 'multipart') {
      for (const part of body.plan.parts) {
        res.write(part.head);
        await pipeRange(body.fh, res, part.start, part.end);
      }
      res.write(body.plan.tail);
    }
    res.end();
  } finally {
    await closeBody(body);
  }
}
