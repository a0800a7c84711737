// access_log / log_format (ngx_http_log_module) and error log line formatting. Log lines are queued
// and written once per event-loop turn (or per `buffer=`); reopen() serves SIGUSR1.
import { closeSync, openSync, writeSync } from 'node:fs';
import { getVariable, type VarContext } from './variables.ts';

export type LogEscape = 'default' | 'json' | 'none';

type LogPart = string | { v: string };

export interface LogFormat {
  name: string;
  escape: LogEscape;
  parts: readonly LogPart[];
}

/** The predefined `combined` format. */
export const COMBINED_FORMAT_TEXT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

/**
 * Compiles `log_format NAME [escape=…] STRING…` (the strings are concatenated, as nginx does).
 * Variable names follow ngx_http_log_compile: `$name` or `${name}` with [A-Za-z0-9_].
 */
export function compileLogFormat(name: string, texts: readonly string[], escape: LogEscape = 'default'): LogFormat {
  const text = texts.join('');
  const parts: LogPart[] = [];
  let lit = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '$') { lit += text[i++]; continue; }
    i++;
    let bracket = false;
    if (text[i] === '{') { bracket = true; i++; }
    const start = i;
    while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
    const varName = text.slice(start, i);
    if (bracket) {
      if (text[i] !== '}') throw new Error(`the closing bracket in "${varName}" variable is missing`);
      i++;
    }
    if (!varName) throw new Error(`invalid variable name in "${text}"`);
    if (lit) { parts.push(lit); lit = ''; }
    parts.push({ v: varName });
  }
  if (lit) parts.push(lit);
  return { name, escape, parts };
}

export const COMBINED: LogFormat = compileLogFormat('combined', [COMBINED_FORMAT_TEXT]);

const HEX = '0123456789ABCDEF';

// What each escaping leaves alone; most values are entirely that, and are returned as they are.
const PLAIN_DEFAULT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const PLAIN_JSON = /^[^\x00-\x1f"\\]*$/;

/** Default escaping: `"`, `\`, bytes < 0x20 and >= 0x7f become `\xHH`. */
export function escapeDefault(v: string): string {
  if (PLAIN_DEFAULT.test(v)) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) out += '\\x' + HEX[(c >> 4) & 15] + HEX[c & 15];
    else out += v[i];
  }
  return out;
}

/** ngx_escape_json: `"` `\` and control bytes; DEL and 8-bit bytes pass through. */
export function escapeJson(v: string): string {
  if (PLAIN_JSON.test(v)) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c > 0x1f && c !== 0x22 && c !== 0x5c) { out += v[i]; continue; }
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      case 0x08: out += '\\b'; break;
      case 0x0c: out += '\\f'; break;
      default: out += '\\u00' + HEX[c >> 4] + HEX[c & 15];
    }
  }
  return out;
}

/** One log line (with the trailing newline), as a byte string. Not-found values: "-" unless json/none. */
export function formatLogLine(fmt: LogFormat, ctx: VarContext): string {
  let out = '';
  for (const p of fmt.parts) {
    if (typeof p === 'string') { out += p; continue; }
    const v = getVariable(ctx, p.v);
    if (v === undefined) { if (fmt.escape === 'default') out += '-'; continue; }
    out += fmt.escape === 'default' ? escapeDefault(v) : fmt.escape === 'json' ? escapeJson(v) : v;
  }
  return out + '\n';
}

/** `access_log … if=$cond`: log unless the value is empty or "0". */
export function logCondition(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0';
}

// ---- files ----

export interface LogFileOptions {
  /** `buffer=SIZE`: flush when this many bytes are pending (0 = write at once, still async). */
  bufferSize?: number;
  /** `flush=TIME` in ms (default 1000 when buffered). */
  flushMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * An append-mode log file. write() queues the line; the queue goes to the file in one blocking
 * write() at the end of the event-loop turn (all the lines of that turn together), on size and on
 * the flush interval with `buffer=`, and on flush()/reopen()/close(). nginx writes its logs with
 * blocking writes too; a write through the thread pool cost a request more (promise, thread hand-off
 * and wake-up) than the write itself. reopen() writes what was queued before it to the old file,
 * then opens the path anew (a rotated file gets nothing after reopen).
 */
export class LogFile {
  private fd: number | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private scheduled = false;

  constructor(readonly path: string, private readonly opts: LogFileOptions = {}) {
    const bufferSize = opts.bufferSize ?? 0;
    if (bufferSize > 0) {
      this.timer = setInterval(() => void this.flush(), opts.flushMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Queues bytes (a byte string is written as latin1). */
  write(data: string | Buffer): void {
    if (this.closed) return;
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    const bufferSize = this.opts.bufferSize ?? 0;
    if (bufferSize > 0) {
      if (this.pendingBytes >= bufferSize) this.writePending();
    } else if (!this.scheduled) {
      // Unbuffered: the lines of one event-loop turn go in one write, after the responses.
      this.scheduled = true;
      setImmediate(this.flushScheduled);
    }
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false;
    this.writePending();
  };

  /** Writes the queue; an error goes to onError (the lines are lost, the server goes on). */
  private writePending(): void {
    if (this.pending.length === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      this.fd ??= openSync(this.path, 'a', 0o644);
      for (let off = 0; off < data.length;) off += writeSync(this.fd, data, off);
    } catch (e) {
      this.opts.onError?.(e);
    }
  }

  private closeFd(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) return;
    try {
      closeSync(fd);
    } catch (e) {
      this.opts.onError?.(e);
    }
  }

  /** Writes everything queued so far. */
  flush(): Promise<void> {
    this.writePending();
    return Promise.resolve();
  }

  /** SIGUSR1: flush to the current file, close it, open the path again. */
  reopen(): Promise<void> {
    this.writePending();
    this.closeFd();
    try {
      this.fd = openSync(this.path, 'a', 0o644);
    } catch (e) {
      this.opts.onError?.(e);
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.writePending();
    this.closeFd();
    this.closed = true;
    return Promise.resolve();
  }
}

/** One LogFile per path, shared by every access_log that names it (as nginx shares open files). */
export class LogFiles {
  private readonly files = new Map<string, LogFile>();
  constructor(private readonly defaults: LogFileOptions = {}) {}

  get(path: string, opts?: LogFileOptions): LogFile {
    let f = this.files.get(path);
    if (!f) {
      f = new LogFile(path, { ...this.defaults, ...opts });
      this.files.set(path, f);
    }
    return f;
  }

  reopenAll(): Promise<void[]> {
    return Promise.all([...this.files.values()].map((f) => f.reopen()));
  }

  flushAll(): Promise<void[]> {
    return Promise.all([...this.files.values()].map((f) => f.flush()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.files.values()].map((f) => f.close()));
    this.files.clear();
  }
}

// ---- error log ----

export type ErrorLevel = 'debug' | 'info' | 'notice' | 'warn' | 'error' | 'crit' | 'alert' | 'emerg';
export const ERROR_LEVELS: readonly ErrorLevel[] = ['debug', 'info', 'notice', 'warn', 'error', 'crit', 'alert', 'emerg'];

export interface ErrorLogEntry {
  level: ErrorLevel;
  message: string;
  /** Connection number (`*CID`), when the message is about a connection. */
  connection?: number;
  client?: string;
  server?: string;
  /** The request line. */
  request?: string;
  /** A subrequest's URI (auth_request's), after the request line. */
  subrequest?: string;
  upstream?: string;
  host?: string;
  referrer?: string;
  timeMs?: number;
  pid?: number;
}

const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;

/** `YYYY/MM/DD HH:MM:SS [level] PID#TID: *CID msg, client: A, server: S, request: "…", host: "…"`. */
export function formatErrorLine(e: ErrorLogEntry): string {
  const d = new Date(e.timeMs ?? Date.now());
  const pid = e.pid ?? process.pid;
  let line = `${d.getFullYear()}/${pad2(d.getMonth() + 1)}/${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} [${e.level}] ${pid}#${pid}: `;
  if (e.connection !== undefined) line += `*${e.connection} `;
  line += e.message;
  if (e.client !== undefined) line += `, client: ${e.client}`;
  if (e.server !== undefined) line += `, server: ${e.server}`;
  if (e.request !== undefined) line += `, request: "${e.request}"`;
  if (e.subrequest !== undefined) line += `, subrequest: "${e.subrequest}"`;
  if (e.upstream !== undefined) line += `, upstream: "${e.upstream}"`;
  if (e.host !== undefined) line += `, host: "${e.host}"`;
  if (e.referrer !== undefined) line += `, referrer: "${e.referrer}"`;
  return line + '\n';
}
