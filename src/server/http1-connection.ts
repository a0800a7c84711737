// HTTP/1.x connections on the common path without node:http's parser and message objects.
//
// node:http costs ~27 µs of CPU per small keep-alive request here (nginx: ~7 µs); most of it is the
// generic machinery (a Readable per request, an OutgoingMessage, JS↔C++ parser callbacks, corked
// writev). A connection starts here: a request head that arrives whole and is plain (see parseHead)
// is parsed in one pass by nginx's rules and served through small request/response objects that
// behave as node:http's do for everything the pipeline uses. Anything else — a body, Expect,
// Upgrade, CONNECT, a repeated header name, a head split across reads or too long, HTTP/0.9 — hands
// the connection, with the bytes not yet used, to node:http for the rest of its life, so its rules
// (and client-error.ts's nginx pages for what it refuses) apply there as before.
import { EventEmitter } from 'node:events';
import { STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { executionAsyncId } from 'node:async_hooks';
import { httpDate } from '../http/static.ts';
import { isCachedFileData, setReadCallback } from '../http/file-cache.ts';
import { workerSlots } from './connection-slots.ts';
import { owned, readAsStream, readIntoShared } from './read-buffer.ts';

/** Heads longer than this go to node:http (its limits and nginx's 414/494 answers apply there). */
const MAX_FAST_HEAD = 8192;
const MAX_FAST_HEADERS = 100;
/** Pipelined bytes buffered while a response is in progress before reading pauses. */
const MAX_PENDING = 64 * 1024;
/** Bodies up to this size are copied behind the head into one write (one syscall, no writev). */
const COALESCE_MAX = 16 * 1024;
const MAX_METHOD = 32;
const EMPTY = Buffer.alloc(0);
const LF_CRLF = Buffer.from('\n\r\n', 'latin1');
const LF_LF = Buffer.from('\n\n', 'latin1');
const CHUNK_END = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CHUNK_END_LAST = Buffer.from('\r\n0\r\n\r\n', 'latin1');
// node:http's own checks (lib/_http_common.js), so a bad header fails here as it would there.
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const CHUNKED = /(?:^|\W)chunked(?:$|\W)/i;
const CLOSE = /(?:^|\W)close(?:$|\W)/i;

interface ParsedHead {
  method: string;
  url: string;
  /** 1, or 0 for HTTP/0.9. */
  major: number;
  minor: number;
  rawHeaders: string[];
  headers: Record<string, string>;
  keepAlive: boolean;
  /** Offset just past the head's blank line. */
  end: number;
  /** The head's bytes as received ($request_length before any body). */
  length: number;
}

/** 'partial': no whole head yet; 'other': a head this path does not take (node:http will). */
type ParseResult = ParsedHead | 'partial' | 'other';

// Header name bytes taken here: letters, digits and '-' (anything rarer goes to node:http).
const NAME_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d) NAME_CHAR[c] = 1;
}

// Header names as clients usually write them, with their lowercase forms: a name read that is one
// of these makes no string of its own (no slice, no toLowerCase, no new key to internalize).
const KNOWN_RAW = [
  'Host', 'User-Agent', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Connection', 'Cookie', 'Referer',
  'Cache-Control', 'If-Modified-Since', 'If-None-Match', 'Range', 'Pragma', 'Upgrade-Insecure-Requests',
  'Sec-Fetch-Dest', 'Sec-Fetch-Mode', 'Sec-Fetch-Site', 'Sec-Fetch-User', 'Origin', 'Authorization', 'DNT',
  'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Real-IP', 'Priority',
];
for (const n of [...KNOWN_RAW]) KNOWN_RAW.push(n.toLowerCase());
const KNOWN_LOWER = KNOWN_RAW.map((n) => n.toLowerCase());
const KNOWN_BY_LENGTH: number[][] = [];
KNOWN_RAW.forEach((n, k) => (KNOWN_BY_LENGTH[n.length] ??= []).push(k));

/** The index in KNOWN_RAW of the name s[start, end), or -1. */
function knownName(s: string, start: number, end: number): number {
  const list = KNOWN_BY_LENGTH[end - start];
  if (list === undefined) return -1;
  next: for (let k = 0; k < list.length; k++) {
    const name = KNOWN_RAW[list[k]!]!;
    for (let j = start; j < end; j++) if (s.charCodeAt(j) !== name.charCodeAt(j - start)) continue next;
    return list[k]!;
  }
  return -1;
}

/**
 * Parses one request head starting at `start`: `METHOD /target HTTP/1.x` and `Name: value` lines
 * ending in CRLF or LF, an origin-form target, names of letters, digits and '-', no repeated names,
 * no body (Content-Length / Transfer-Encoding), no Expect or Upgrade, Connection only `close` or
 * `keep-alive`.
 * What it takes it reads as nginx does (any method name, spaces around values, raw bytes in values).
 */
export function parseHead(buf: Buffer, start: number): ParseResult {
  // The head ends at its first empty line; nginx ends lines with CRLF or a bare LF. Searched in
  // `buf` itself within the first MAX_FAST_HEAD bytes (no subarray views to allocate).
  const limit = Math.min(buf.length, start + MAX_FAST_HEAD);
  const atCrlf = buf.indexOf(LF_CRLF, start);
  const crlf = atCrlf >= 0 && atCrlf + 3 <= limit ? atCrlf - start : -1;
  // A bare "\n\n" ends it too if it comes first. Before a CRLF end that is a short scan of the
  // head (buf.indexOf would look through every pipelined byte after it).
  let lf = -1;
  if (crlf >= 0) {
    for (let i = start, last = start + crlf; i < last; i++) {
      if (buf[i] === 0x0a && buf[i + 1] === 0x0a) { lf = i - start; break; }
    }
  } else {
    const atLf = buf.indexOf(LF_LF, start);
    if (atLf >= 0 && atLf + 2 <= limit) lf = atLf - start;
  }
  const whole = lf >= 0 || crlf >= 0;
  // Without an empty line yet, only an HTTP/0.9 request (one line) can be complete.
  const atNl = whole ? -1 : buf.indexOf(0x0a, start);
  const firstLine = atNl >= 0 && atNl < limit ? atNl - start : -1;
  const full = limit - start >= MAX_FAST_HEAD;
  if (!whole && firstLine < 0) return full ? 'other' : 'partial';
  const end = start + (whole ? (lf >= 0 ? lf + 2 : crlf + 3) : firstLine + 1);
  const s = buf.toString('latin1', start, end);
  let i = 0;
  let c = s.charCodeAt(0);
  // nginx's method token: A-Z, '_' and '-', any name (the content handlers refuse what they do not serve).
  while ((c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x2d) c = s.charCodeAt(++i);
  if (c !== 0x20 || i === 0 || i > MAX_METHOD) return 'other';
  const method = s.slice(0, i);
  if (method === 'CONNECT') return 'other'; // node:http's 'connect' listener answers it
  const urlStart = ++i;
  if (s.charCodeAt(i) !== 0x2f) return 'other'; // origin-form only: absolute-form and '*' go to node:http
  // Printable ASCII and, as nginx takes them, raw bytes 0x80-0xff (the URI is a latin1 string).
  for (c = s.charCodeAt(i); c > 0x20 && c !== 0x7f; c = s.charCodeAt(++i));
  const url = s.slice(urlStart, i);
  if (c !== 0x20) {
    // HTTP/0.9: `GET /target` alone on its line; no headers are read, the answer is the bare body.
    const lineEnds = lineEnd(s, i);
    if (lineEnds < 0 || method !== 'GET') return 'other';
    return { method, url, major: 0, minor: 9, rawHeaders: [], headers: {}, keepAlive: false, end: start + lineEnds, length: lineEnds };
  }
  if (!whole) return full ? 'other' : 'partial';
  // " HTTP/1.x", any x as nginx serves it (1.2 and up behave as 1.1), then the line's end.
  if (!s.startsWith('HTTP/1.', i + 1)) return 'other';
  const minorChar = s.charCodeAt(i + 8);
  if (minorChar < 0x30 || minorChar > 0x39) return 'other';
  const minor = minorChar - 0x30;
  i = lineEnd(s, i + 9);
  if (i < 0) return 'other';
  const rawHeaders: string[] = [];
  const headers: Record<string, string> = {};
  let connection: string | undefined;
  // Header lines up to the empty one (which ends `s`).
  while (lineEnd(s, i) < 0) {
    const nameStart = i;
    for (c = s.charCodeAt(i); c < 128 && NAME_CHAR[c] === 1; c = s.charCodeAt(++i));
    if (i === nameStart) return 'other';
    const known = knownName(s, nameStart, i);
    const name = known >= 0 ? KNOWN_RAW[known]! : s.slice(nameStart, i);
    let value = '';
    if (c === 0x3a) {
      // ngx_http_parse_header_line: spaces before and after the value are not part of it (tabs are),
      // and the value may be empty or hold bytes 0x80-0xff (kept as latin1, as node:http does).
      c = s.charCodeAt(++i);
      while (c === 0x20) c = s.charCodeAt(++i);
      const valueStart = i;
      while ((c >= 0x20 && c !== 0x7f) || c === 0x09) c = s.charCodeAt(++i);
      let valueEnd = i;
      while (valueEnd > valueStart && s.charCodeAt(valueEnd - 1) === 0x20) valueEnd--;
      value = s.slice(valueStart, valueEnd);
    }
    // A name alone on its line is, for nginx, that header with an empty value.
    i = lineEnd(s, i);
    if (i < 0) return 'other';
    const lower = known >= 0 ? KNOWN_LOWER[known]! : name.toLowerCase();
    if (lower in headers || rawHeaders.length >= 2 * MAX_FAST_HEADERS) return 'other';
    switch (lower) {
      case 'content-length': case 'transfer-encoding': case 'expect': case 'upgrade':
        return 'other';
      case 'connection': {
        const v = value.toLowerCase();
        if (v !== 'close' && v !== 'keep-alive') return 'other';
        connection = v;
      }
    }
    headers[lower] = value;
    rawHeaders.push(name, value);
  }
  const keepAlive = minor >= 1 ? connection !== 'close' : connection === 'keep-alive';
  return { method, url, major: 1, minor, rawHeaders, headers, keepAlive, end, length: end - start };
}

/** Past the CRLF or bare LF at `i`, or -1 when the line does not end there. */
function lineEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x0a) return i + 1;
  return c === 0x0d && s.charCodeAt(i + 1) === 0x0a ? i + 2 : -1;
}

/**
 * An EventEmitter whose listener table is made with the first listener: node's emitter methods take
 * an undefined `_events` (as EventEmitter.init leaves it for subclasses with their own), and most
 * requests never get a listener.
 */
const LazyEmitter = function LazyEmitter(this: { _events: unknown; _eventsCount: number; _maxListeners: unknown }) {
  this._events = undefined;
  this._eventsCount = 0;
  this._maxListeners = undefined;
} as unknown as typeof EventEmitter;
LazyEmitter.prototype = Object.create(EventEmitter.prototype, { constructor: { value: LazyEmitter, writable: true, configurable: true } });

/**
 * `emitter` (a LazyEmitter) has a listener for `type`. emit() with none does nothing but still
 * gathers its arguments into an array: the events most responses have no listener for skip it.
 */
function listened(emitter: EventEmitter, type: string): boolean {
  const events = (emitter as unknown as { _events: Record<string, unknown> | undefined })._events;
  return events !== undefined && events[type] !== undefined;
}

const NO_TRAILERS: Record<string, string> = Object.freeze({});

/** The request as node:http's IncomingMessage presents a complete, bodiless one. */
class FastRequest extends LazyEmitter {
  readonly complete = true;
  readonly aborted = false;
  readonly readable = false;
  /** The head came in the same read as the previous request's ($pipe). */
  pipelined = false;
  /** The head's length in bytes as received ($request_length). */
  headLength = 0;
  private distinct?: Record<string, string[]>;

  constructor(
    readonly socket: Socket,
    readonly method: string,
    readonly url: string,
    readonly httpVersionMajor: number,
    readonly httpVersionMinor: number,
    readonly httpVersion: string,
    readonly headers: Record<string, string>,
    readonly rawHeaders: string[],
  ) {
    super();
  }

  get connection(): Socket {
    return this.socket;
  }

  get trailers(): Record<string, string> {
    return NO_TRAILERS;
  }

  get headersDistinct(): Record<string, string[]> {
    if (!this.distinct) {
      const d: Record<string, string[]> = {};
      for (const k in this.headers) d[k] = [this.headers[k]!];
      this.distinct = d;
    }
    return this.distinct;
  }

  /** No body (`readable` false, which request-body.ts checks first): iterating it ends at once. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {}
  resume(): this { return this; }
  pause(): this { return this; }
  setTimeout(ms: number, cb?: () => void): this {
    this.socket.setTimeout(ms, cb);
    return this;
  }
}

function uncork(socket: Socket): void {
  socket.uncork();
}

/**
 * The pieces of a response head, joined once (no intermediate string per header line). One serves
 * every response (writeHead is synchronous); its array keeps its capacity: emptying it with
 * `length = 0` would drop the backing store and grow a new one for each head.
 */
class HeadParts {
  private readonly parts: string[] = [];
  private n = 0;
  add(s: string): void {
    this.parts[this.n++] = s;
  }
  add4(a: string, b: string, c: string, d: string): void {
    const p = this.parts;
    p[this.n++] = a;
    p[this.n++] = b;
    p[this.n++] = c;
    p[this.n++] = d;
  }
  reset(): void {
    this.n = 0;
  }
  join(): string {
    this.parts.length = this.n;
    this.n = 0;
    return this.parts.join('');
  }
}
const HEAD_PARTS = new HeadParts();
const SEEN_DATE = 1;
const SEEN_CONNECTION = 2;
const SEEN_CONTENT_LENGTH = 4;
const SEEN_TRANSFER_ENCODING = 8;

/** `name` (a header name, ASCII) equals `lower` (lowercase) ignoring case. */
function sameLower(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function invalidChar(name: string): TypeError {
  return Object.assign(new TypeError(`Invalid character in header content ["${name}"]`), { code: 'ERR_INVALID_CHAR' });
}

/**
 * The response as node:http's ServerResponse behaves for what the pipeline, static files, gzip and
 * proxying use: the same automatic headers, framing (chunked, close-delimited, none for HEAD/204/304),
 * events ('finish' once flushed, then 'close'; 'drain'; 'timeout') and properties.
 */
class FastResponse extends LazyEmitter {
  statusCode = 200;
  statusMessage: string | undefined = undefined;
  sendDate = true;
  chunkedEncoding = false;
  useChunkedEncodingByDefault: boolean;
  shouldKeepAlive: boolean;
  finished = false;
  writableFinished = false;
  destroyed = false;
  socket: Socket | null;
  /** The head, built by writeHead; node:http's name (pipeline.ts edits a blank reason out of it). */
  _header: string | null = null;
  _last = false;
  private hasBody: boolean;
  private headSent = false;
  private needDrain = false;
  /** node:http's addTrailers (grpc_pass): written in the last chunk, as node:http writes them. */
  private trailerText: string | undefined = undefined;
  /** The body's length when end() writes the head itself. */
  contentLength: number | undefined;
  /** keepalive_timeout after this response when it is not the server's (a location's own). */
  keepAliveTimeoutMs: number | undefined = undefined;
  // whenDone's callbacks: two kept in fields (the pipeline's and stub_status's), more in a list.
  private done1: DoneHook<any> | undefined = undefined;
  private doneArg1: unknown = undefined;
  private done2: DoneHook<any> | undefined = undefined;
  private doneArg2: unknown = undefined;
  private doneMore: [DoneHook<any>, unknown][] | undefined = undefined;
  private doneRan = false;

  constructor(private readonly conn: Http1Connection, readonly req: FastRequest, keepAlive: boolean) {
    super();
    this.socket = req.socket;
    this.shouldKeepAlive = keepAlive;
    this.hasBody = req.method !== 'HEAD';
    // node:http: an HTTP/1.0 client gets chunks only if it asked for them (TE: chunked).
    this.useChunkedEncodingByDefault = req.httpVersionMajor === 1 && (req.httpVersionMinor >= 1 || CHUNKED.test(req.headers.te ?? ''));
  }

  /** whenDone for this response: no listener (nor closure) per request. */
  addDoneHook<T>(fn: DoneHook<T>, arg: T): void {
    if (this.done1 === undefined) {
      this.done1 = fn;
      this.doneArg1 = arg;
    } else if (this.done2 === undefined) {
      this.done2 = fn;
      this.doneArg2 = arg;
    } else (this.doneMore ??= []).push([fn, arg]);
  }

  /** The whenDone callbacks, once: before the 'finish' (or a 'close' without one) listeners, as they were registered first. */
  private runDone(finished: boolean): void {
    if (this.doneRan) return;
    this.doneRan = true;
    if (this.done1 !== undefined) this.done1(this.doneArg1, finished, this as unknown as ServerResponse);
    if (this.done2 !== undefined) this.done2(this.doneArg2, finished, this as unknown as ServerResponse);
    if (this.doneMore !== undefined) for (const [fn, arg] of this.doneMore) fn(arg, finished, this as unknown as ServerResponse);
  }

  get connection(): Socket | null { return this.socket; }
  get headersSent(): boolean { return this._header !== null; }
  get writableEnded(): boolean { return this.finished; }
  get writableLength(): number { return this.socket?.writableLength ?? 0; }
  get writableNeedDrain(): boolean { return !this.destroyed && !this.finished && this.needDrain; }
  get writableCorked(): number { return 0; }

  writeHead(status: number, reason?: string | Record<string, unknown> | unknown[], headers?: Record<string, unknown> | unknown[]): this {
    if (this._header !== null) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    if (typeof reason !== 'string') {
      headers = reason;
      reason = undefined;
    }
    status |= 0;
    if (status < 100 || status > 999) throw Object.assign(new RangeError(`Invalid status code: ${status}`), { code: 'ERR_HTTP_INVALID_STATUS_CODE' });
    this.statusCode = status;
    const phrase = reason ?? this.statusMessage ?? STATUS_CODES[status] ?? 'unknown';
    if (INVALID_VALUE.test(phrase)) throw invalidChar('statusMessage');
    if (status === 204 || status === 304 || status < 200) this.hasBody = false;
    const ka = this.conn.server.keepAliveTimeout;
    // The same answer as the previous one (a file asked for again, within the same second): its head.
    const memo = lastHead;
    if (memo !== undefined && memo.matches(this, status, phrase, headers, ka)) {
      memo.apply(this);
      return this;
    }
    const before = this.state();
    // The head's pieces go into one array joined once: no intermediate string per header line.
    const parts = HEAD_PARTS;
    parts.reset();
    parts.add4('HTTP/1.1 ', String(status), ' ', phrase);
    parts.add('\r\n');
    let seen = 0;
    try {
      if (Array.isArray(headers)) {
        if (headers.length > 0 && Array.isArray(headers[0])) for (const h of headers as [string, unknown][]) seen |= this.addHeader(parts, h[0], h[1]);
        else for (let i = 0; i < headers.length; i += 2) seen |= this.addHeader(parts, String(headers[i]), headers[i + 1]);
      } else if (headers) {
        for (const k of Object.keys(headers)) seen |= this.addHeader(parts, k, headers[k]);
      }
    } catch (e) {
      parts.reset();
      throw e;
    }
    // What node:http's _storeHeader adds on its own.
    if (this.sendDate && !(seen & SEEN_DATE)) parts.add4('Date: ', httpDate(Date.now()), '\r\n', '');
    if (!(seen & SEEN_CONNECTION)) {
      if (this.shouldKeepAlive && (seen & SEEN_CONTENT_LENGTH || this.useChunkedEncodingByDefault)) {
        parts.add('Connection: keep-alive\r\n');
        if (ka) parts.add(`Keep-Alive: timeout=${Math.floor(ka / 1000)}\r\n`);
      } else {
        this._last = true;
        parts.add('Connection: close\r\n');
      }
    }
    if (!(seen & (SEEN_CONTENT_LENGTH | SEEN_TRANSFER_ENCODING))) {
      if (!this.hasBody) this.chunkedEncoding = false;
      else if (!this.useChunkedEncodingByDefault) this._last = true;
      else if (this.contentLength !== undefined) parts.add(`Content-Length: ${this.contentLength}\r\n`);
      else {
        parts.add('Transfer-Encoding: chunked\r\n');
        this.chunkedEncoding = true;
      }
    }
    parts.add('\r\n');
    const head = parts.join();
    // HTTP/0.9 has no status line nor headers: the body alone, then the connection closes.
    this._header = this.req.httpVersionMajor === 0 ? '' : head;
    // Only a head that depends on nothing but these inputs is kept (not one with node's own Date).
    if (!(this.sendDate && !(seen & SEEN_DATE)) && HeadMemo.keepable(headers)) {
      lastHead = new HeadMemo(before, status, phrase, headers, ka, this);
    }
    return this;
  }

  /** What writeHead reads and changes besides its arguments, as one number (see HeadMemo). */
  state(): number {
    return (this.shouldKeepAlive ? 1 : 0) | (this.useChunkedEncodingByDefault ? 2 : 0) | (this.hasBody ? 4 : 0)
      | (this.chunkedEncoding ? 8 : 0) | (this._last ? 16 : 0) | (this.req.httpVersionMajor === 0 ? 32 : 0)
      | (this.contentLength === undefined ? 64 : 0);
  }

  /** HeadMemo.apply: the state a memoized head left. */
  restore(state: number, head: string): void {
    this.shouldKeepAlive = (state & 1) !== 0;
    this.hasBody = (state & 4) !== 0;
    this.chunkedEncoding = (state & 8) !== 0;
    this._last = (state & 16) !== 0;
    this._header = head;
  }

  /** One header line (each value of an array): validated as node:http does; what it was, as SEEN_* bits. */
  private addHeader(parts: HeadParts, name: string, value: unknown): number {
    if (!TOKEN.test(name)) throw Object.assign(new TypeError(`Header name must be a valid HTTP token ["${name}"]`), { code: 'ERR_INVALID_HTTP_TOKEN' });
    if (value === undefined) throw Object.assign(new TypeError(`Invalid value "undefined" for header "${name}"`), { code: 'ERR_HTTP_INVALID_HEADER_VALUE' });
    if (Array.isArray(value)) {
      let seen = 0;
      for (const v of value) seen |= this.addHeader(parts, name, v);
      return seen;
    }
    const v = typeof value === 'string' ? value : String(value);
    if (INVALID_VALUE.test(v)) throw invalidChar(name);
    parts.add4(name, ': ', v, '\r\n');
    // The names node:http looks at, compared without lowercasing (which would make a string each time).
    switch (name.length) {
      case 4: return sameLower(name, 'date') ? SEEN_DATE : 0;
      case 10:
        if (!sameLower(name, 'connection')) return 0;
        if (CLOSE.test(v)) this._last = true;
        else this.shouldKeepAlive = true;
        return SEEN_CONNECTION;
      case 14: return sameLower(name, 'content-length') ? SEEN_CONTENT_LENGTH : 0;
      case 17:
        if (!sameLower(name, 'transfer-encoding')) return 0;
        if (CHUNKED.test(v)) this.chunkedEncoding = true;
        return SEEN_TRANSFER_ENCODING;
    }
    return 0;
  }

  flushHeaders(): void {
    if (this._header === null) this.writeHead(this.statusCode);
    if (this.headSent || !this.socket || this.socket.destroyed) return;
    this.headSent = true;
    this.socket.write(this._header!, 'latin1');
  }

  write(chunk: Buffer | string, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (this.finished) {
      const err = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
      if (cb) process.nextTick(cb, err);
      return false;
    }
    if (this._header === null) this.writeHead(this.statusCode);
    if (!this.socket || this.socket.destroyed) {
      if (cb) process.nextTick(cb, Object.assign(new Error('Cannot call write after a stream was destroyed'), { code: 'ERR_STREAM_DESTROYED' }));
      return false;
    }
    const body = typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : chunk;
    if (!this.hasBody || body.length === 0) {
      if (cb) process.nextTick(cb);
      return true;
    }
    const ok = this.send(body, false, cb);
    if (!ok) this.needDrain = true;
    return ok;
  }

  end(chunk?: Buffer | string | (() => void), encoding?: BufferEncoding | (() => void), cb?: () => void): this {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (this.finished) {
      if (cb) process.nextTick(cb);
      return this;
    }
    const enc = typeof encoding === 'string' ? encoding : 'utf8';
    const body = chunk === undefined ? undefined : typeof chunk === 'string' ? Buffer.from(chunk, enc) : chunk;
    if (this._header === null) {
      this.contentLength = body ? body.length : 0;
      this.writeHead(this.statusCode);
    }
    this.finished = true;
    if (cb) this.once('finish', cb);
    if (!this.socket || this.socket.destroyed) return this;
    // Flushed: 'finish'. A write that fails (the client is gone) ends in 'close' instead, as in node:http.
    // The connection's own callback (one response is written at a time): no closure per response.
    this.conn.ending = this;
    this.send(this.hasBody && body && body.length > 0 ? body : undefined, true, this.conn.afterLastWrite);
    return this;
  }

  destroy(err?: Error): this {
    this.socket?.destroy(err);
    return this;
  }

  addTrailers(headers: Record<string, string> | readonly (readonly [string, string])[]): void {
    const list = Array.isArray(headers) ? headers : Object.entries(headers);
    let text = '';
    for (const [k, v] of list) text += `${k}: ${v}\r\n`;
    this.trailerText = (this.trailerText ?? '') + text;
  }

  setTimeout(ms: number, cb?: () => void): this {
    if (cb) this.on('timeout', cb);
    this.socket?.setTimeout(ms);
    return this;
  }

  /** The head (once), the body with its chunk framing, and on the last call the end of the chunks. */
  private send(body: Buffer | undefined, last: boolean, cb?: (err?: Error | null) => void): boolean {
    const socket = this.socket!;
    const head = this.headSent ? undefined : this._header!;
    this.headSent = true;
    const chunked = this.chunkedEncoding && this.hasBody;
    if (!chunked && head !== undefined && (!body || body.length <= COALESCE_MAX)) {
      // The common small response: head and body in one buffer, one write. The same head (HeadMemo
      // gives the very same string) with the same bytes of a cached file, which are never changed,
      // is the same buffer as last time: written again as it is (nothing changes a buffer once written).
      const last = lastOut;
      if (last !== undefined && last.head === head && last.body === body) return socket.write(last.out, cb);
      const headLen = head.length;
      const out = Buffer.allocUnsafe(headLen + (body ? body.length : 0));
      out.write(head, 0, headLen, 'latin1');
      if (body) body.copy(out, headLen);
      if (body !== undefined && isCachedFileData(body)) lastOut = { head, body, out };
      return socket.write(out, cb);
    }
    // Corked until the end of this tick, as node:http does: the writes a sender makes in one go
    // (static.ts reads the next chunk while the previous is written) leave in one writev.
    if (!socket.writableCorked) {
      socket.cork();
      process.nextTick(uncork, socket);
    }
    if (head !== undefined) socket.write(head, 'latin1');
    let ok: boolean;
    if (!chunked) ok = socket.write(body ?? EMPTY, cb);
    else if (last && this.trailerText !== undefined) {
      if (body) {
        socket.write(`${body.length.toString(16)}\r\n`, 'latin1');
        socket.write(body);
        socket.write(CHUNK_END);
      }
      ok = socket.write(`0\r\n${this.trailerText}\r\n`, 'latin1', cb);
    } else if (!body) ok = socket.write(last ? LAST_CHUNK : EMPTY, cb);
    else {
      socket.write(`${body.length.toString(16)}\r\n`, 'latin1');
      socket.write(body);
      ok = socket.write(last ? CHUNK_END_LAST : CHUNK_END, cb);
    }
    return ok;
  }

  /** The last write flushed (Http1Connection.afterLastWrite). */
  onFinished(): void {
    this.writableFinished = true;
    const socket = this.socket;
    this.socket = null;
    this.conn.responseDone(this, socket);
    this.runDone(true);
    if (listened(this, 'finish')) this.emit('finish');
    // 'close' on the next tick, as node:http emits it; with nobody listening (the done hooks have
    // run) there is nothing to wait for.
    if (listened(this, 'close')) process.nextTick(emitClose, this);
    else this.destroyed = true;
    this.conn.next();
  }

  /** The connection closed under this response (or after it): node:http's 'close'. */
  emitClose(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.runDone(false);
    if (listened(this, 'close')) this.emit('close');
  }

  /** The socket drained after a write that returned false. */
  drained(): void {
    if (!this.needDrain) return;
    this.needDrain = false;
    this.emit('drain');
  }
}

function emitClose(res: FastResponse): void {
  res.emitClose();
}

/** The last small response written whole: its head string, the cached file's bytes, and both joined. */
let lastOut: { head: string; body: Buffer; out: Buffer } | undefined;

/** A callback for when a response is done: flushed (`finished`), or closed before that. */
export type DoneHook<T> = (arg: T, finished: boolean, res: ServerResponse) => void;

/**
 * Calls `fn(arg, finished, res)` once when `res` is done: after its last write flushed (`finished`,
 * at 'finish') or when it closed before that (at 'close'). A response of this module calls it
 * without listeners; node:http's (and HTTP/2's) through 'finish' and 'close'.
 */
export function whenDone<T>(res: ServerResponse, fn: DoneHook<T>, arg: T): void {
  if (res instanceof FastResponse) {
    res.addDoneHook(fn, arg);
    return;
  }
  let ran = false;
  res.on('finish', () => {
    if (ran) return;
    ran = true;
    fn(arg, true, res);
  });
  res.on('close', () => {
    if (ran) return;
    ran = true;
    fn(arg, res.writableFinished, res);
  });
}

/**
 * `req` came through parseHead: a whole head of at most MAX_FAST_HEAD bytes (no line nginx would
 * find too long), HTTP/1.x or 0.9, no name twice, no body.
 */
export function isFastRequest(req: IncomingMessage): boolean {
  return req instanceof FastRequest;
}

/** Sets the keep-alive timeout that follows `res` on its connection; false when `res` is not this module's. */
export function setKeepAliveAfter(res: ServerResponse, ms: number): boolean {
  if (!(res instanceof FastResponse)) return false;
  res.keepAliveTimeoutMs = ms;
  return true;
}

/**
 * The last response head built, with everything it was built from: a static file asked for again
 * (the same header strings, mostly the very same objects, as the pipeline memoizes them) gets the
 * same head string without validating and joining its lines again.
 */
class HeadMemo {
  private readonly after: number;
  private readonly head: string;
  private readonly contentLength: number | undefined;
  private readonly headers: readonly string[];

  constructor(private readonly before: number, private readonly status: number, private readonly phrase: string,
    headers: readonly string[], private readonly keepAliveTimeout: number, res: FastResponse) {
    // A copy: a caller may change its array after the call.
    this.headers = headers.slice();
    this.after = res.state();
    this.head = res._header!;
    this.contentLength = res.contentLength;
  }

  /** A flat [name, value, …] list of strings (what pipeline.ts gives). */
  static keepable(headers: unknown): headers is readonly string[] {
    if (!Array.isArray(headers)) return false;
    for (let i = 0; i < headers.length; i++) if (typeof headers[i] !== 'string') return false;
    return true;
  }

  matches(res: FastResponse, status: number, phrase: string, headers: unknown, keepAliveTimeout: number): boolean {
    if (status !== this.status || phrase !== this.phrase || keepAliveTimeout !== this.keepAliveTimeout) return false;
    if (res.contentLength !== this.contentLength || res.state() !== this.before || !Array.isArray(headers)) return false;
    const h = this.headers;
    if (headers.length !== h.length) return false;
    for (let i = 0; i < h.length; i++) if (headers[i] !== h[i]) return false;
    return true;
  }

  apply(res: FastResponse): void {
    res.restore(this.after, this.head);
  }
}
let lastHead: HeadMemo | undefined;

type ConnectionListener = (this: HttpServer, socket: Socket) => void;

interface ServerState {
  nodeListeners: ConnectionListener[];
  /** The connections served here (closeIfIdle spares the busy ones). */
  conns: Set<Http1Connection>;
  closing: boolean;
}

/** One client connection while it is served here. */
class Http1Connection {
  private pending: Buffer | undefined;
  /** `pending` starts with bytes read together with the request in progress (nginx's hc->pipeline). */
  private leftover = false;
  private res: FastResponse | undefined;
  private handedOff = false;
  /** Reads land in the worker's one read buffer (read-buffer.ts), not 'data' events: plain TCP. */
  private readonly shared: boolean;
  /** A request was read on this connection: only then can it be idle (nginx's c->idle, keep-alive). */
  private served = false;
  /** The response whose last write is in progress (end()), for afterLastWrite. */
  ending: FastResponse | undefined = undefined;
  // The wait for a request (client_header_timeout, then keepalive_timeout): one timer per connection
  // whose deadline moves, as nginx's one event timer per connection; not a socket timer re-armed
  // (a Timeout and a bound function made) twice per request. It fires at most once per wait.
  private idleTimer: NodeJS.Timeout | undefined = undefined;
  /** performance.now() when the current wait ends; -1 while a request is served. */
  private idleDeadline = -1;
  /** When idleTimer is due. */
  private idleTimerAt = 0;

  /** The async id libuv's reads on this socket run under (its handle's; TLSWrap's for TLS). */
  private readonly readId: number;

  constructor(readonly server: HttpServer, private readonly socket: Socket, private readonly st: ServerState) {
    this.readId = (socket as Socket & { _handle?: { getAsyncId?(): number } | null })._handle?.getAsyncId?.() ?? -1;
    this.shared = readIntoShared(socket, this.onRead);
    for (const [event, listener] of this.socketListeners()) socket.on(event, listener);
    // No byte yet: client_header_timeout (node:http's headersTimeout, set from it) closes silently.
    if (server.headersTimeout) this.waitFor(server.headersTimeout);
    st.conns.add(this);
    workerSlots.waitingForRequest(socket, true);
  }

  /** The last write of `ending` went out (or failed: the socket's 'close' ends the response). */
  readonly afterLastWrite = (err?: Error | null): void => {
    const res = this.ending;
    this.ending = undefined;
    if (!err && res !== undefined) res.onFinished();
  };

  /** Waits at most `ms` for the next request. */
  private waitFor(ms: number): void {
    const deadline = performance.now() + ms;
    this.idleDeadline = deadline;
    // A timer due by then is kept (it re-arms for the rest); one due later (client_header_timeout
    // before a shorter keepalive_timeout) is replaced.
    if (this.idleTimer !== undefined) {
      if (this.idleTimerAt <= deadline) return;
      clearTimeout(this.idleTimer);
    }
    this.idleTimerAt = deadline;
    this.idleTimer = setTimeout(this.onIdleTimer, ms).unref();
  }

  private stopWaiting(): void {
    this.idleDeadline = -1;
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
  }

  private readonly onIdleTimer = (): void => {
    this.idleTimer = undefined;
    // Busy: the wait starts again when the response is done.
    if (this.idleDeadline < 0 || this.handedOff || this.socket.destroyed) return;
    const left = this.idleDeadline - performance.now();
    if (left >= 1) {
      this.idleTimerAt = this.idleDeadline;
      this.idleTimer = setTimeout(this.onIdleTimer, Math.ceil(left)).unref();
      return;
    }
    this.idleDeadline = -1;
    this.onTimeout();
  };

  /** A read into the shared buffer: what is kept of it past this call (pending bytes) is copied. */
  private readonly onRead = (n: number, buf: Buffer): boolean => {
    this.onData(buf.subarray(0, n));
    if (this.pending !== undefined) this.pending = owned(this.pending);
    return true;
  };

  private readonly onData = (chunk: Buffer): void => {
    // Bytes of a request: no longer a connection worker_connections may close to make room.
    if (!this.pending && !this.res) workerSlots.waitingForRequest(this.socket, false);
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.res) {
      if (this.pending.length > MAX_PENDING) this.socket.pause();
      return;
    }
    // In the socket's own read (poll phase), not bytes a resume() replays later: the file cache may
    // share one stat among the requests read in this event-loop iteration (file-cache.ts).
    if (executionAsyncId() !== this.readId) {
      this.next();
      return;
    }
    setReadCallback(true);
    try {
      this.next();
    } finally {
      setReadCallback(false);
    }
  };

  /** Serves the next buffered request, or hands the connection over, or waits for bytes. */
  next(): void {
    const buf = this.pending;
    if (this.res || this.handedOff || !buf || this.socket.destroyed) return;
    const head = parseHead(buf, 0);
    if (head === 'partial' || head === 'other') {
      this.handOff();
      return;
    }
    const pipelined = this.leftover;
    this.leftover = head.end < buf.length;
    this.pending = this.leftover ? buf.subarray(head.end) : undefined;
    // The timer stays (unarmed waits cost nothing); it finds the connection busy if it fires.
    this.idleDeadline = -1;
    const version = head.minor === 1 && head.major === 1 ? '1.1' : `${head.major}.${head.minor}`;
    const req = new FastRequest(this.socket, head.method, head.url, head.major, head.minor, version, head.headers, head.rawHeaders);
    req.pipelined = pipelined;
    req.headLength = head.length;
    const res = new FastResponse(this, req, head.keepAlive && !this.st.closing);
    this.res = res;
    this.served = true;
    this.server.emit('request', req as unknown as IncomingMessage, res as unknown as ServerResponse);
  }

  /** The response is flushed: close, or wait for the next request (node:http's resOnFinish). */
  responseDone(res: FastResponse, socket: Socket | null): void {
    if (this.res === res) this.res = undefined;
    if (!socket || socket.destroyed) return;
    if (res._last || this.st.closing) {
      this.handedOff = true; // nothing more is read from this connection
      this.stopWaiting();
      (socket as Socket & { destroySoon(): void }).destroySoon();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    // A socket timer the response armed (send_timeout) ends with it: the wait for a request is ours.
    if (socket.timeout) socket.setTimeout(0);
    if (!this.pending) {
      const ka = res.keepAliveTimeoutMs ?? this.server.keepAliveTimeout;
      if (ka) this.waitFor(ka);
      workerSlots.waitingForRequest(socket, true);
    }
  }

  /** What this connection listens to on its socket while it serves it. */
  // Each takes what its event carries; (...args: any[]) is node's own type for a socket listener.
  private socketListeners(): [string, (...args: any[]) => void][] {
    const listeners: [string, (...args: any[]) => void][] = [['timeout', this.onTimeout], ['drain', this.onDrain], ['end', this.onEnd], ['error', this.onError], ['close', this.onClose]];
    if (!this.shared) listeners.push(['data', this.onData]);
    return listeners;
  }

  /** The rest of the connection goes to node:http, with the bytes not used yet. */
  private handOff(): void {
    this.handedOff = true;
    this.st.conns.delete(this);
    this.stopWaiting();
    const socket = this.socket;
    for (const [event, listener] of this.socketListeners()) socket.off(event, listener);
    socket.setTimeout(0);
    socket.pause();
    // node:http reads the socket as a stream ('data', and its parser on the handle).
    if (this.shared) readAsStream(socket);
    if (this.pending) socket.unshift(owned(this.pending));
    this.pending = undefined;
    for (const l of this.st.nodeListeners) l.call(this.server, socket);
    socket.resume();
  }

  /**
   * closeIdleConnections / server close: idle keep-alive connections go now, busy ones after their
   * response. One that has not sent (all of) its first request is not idle: nginx's old workers
   * answer it when it comes (with Connection: close), and so do these.
   */
  closeIfIdle(): void {
    if (this.served && !this.res && !this.pending && !this.handedOff) this.socket.destroy();
  }

  private readonly onTimeout = (): void => {
    // node:http's socketOnTimeout: the response's listeners (send_timeout) decide, else the socket goes.
    if (this.res && this.res.emit('timeout', this.socket)) return;
    if (this.server.emit('timeout', this.socket)) return;
    this.socket.destroy();
  };

  private readonly onDrain = (): void => {
    this.res?.drained();
  };

  private readonly onEnd = (): void => {
    // The client will send nothing more: node:http (httpAllowHalfOpen false) ends the connection
    // at once, even under a response in progress, which then closes unfinished (logged 499).
    this.handedOff = true;
    if (this.socket.writable) this.socket.end();
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.st.conns.delete(this);
    this.stopWaiting();
    const res = this.res;
    this.res = undefined;
    if (res) {
      res.socket = null;
      res.req.emit('aborted');
      res.req.emit('close');
      res.emitClose();
    }
  };
}

/**
 * Puts this connection handling in front of `server`'s (an http or https Server, or an HTTP/2 one
 * for the connections `serves` picks: those whose ALPN is not h2):
 * node:http keeps the connections handed to it, and its 'request', 'checkContinue', 'upgrade',
 * 'clientError' listeners see what they saw before.
 */
export function serveFastHttp1(server: HttpServer, serves: (socket: Socket) => boolean = () => true): void {
  // https.Server gets its HTTP connections as 'secureConnection' (after the handshake).
  const event = server instanceof tls.Server ? 'secureConnection' : 'connection';
  const st: ServerState = { nodeListeners: server.listeners(event) as ConnectionListener[], conns: new Set(), closing: false };
  server.removeAllListeners(event);
  server.on(event, (socket: Socket) => {
    // Those it does not serve (HTTP/2 on an http2 port) go where they went before.
    if (serves(socket)) new Http1Connection(server, socket, st);
    else for (const l of st.nodeListeners) l.call(server, socket);
  });
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdle();
    for (const c of [...st.conns]) c.closeIfIdle();
  };
  // server.close(): idle keep-alive connections close, busy ones after their response (nginx's
  // graceful shutdown ends keep-alive too).
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    // The connections node:http serves (a head that came in pieces) end after their response too.
    if (!st.closing) server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => (res.shouldKeepAlive = false));
    st.closing = true;
    close(cb);
    for (const c of [...st.conns]) c.closeIfIdle();
    return server;
  }) as typeof server.close;
}
