// A request body read for proxy_pass, kept where nginx keeps it: in memory when it fits
// client_body_buffer_size (a body of announced length may be a quarter larger), else in a temporary
// file under client_body_temp_path, so an upload of any size costs a worker one buffer, not its size.
// The file is removed as soon as it is opened (only the open descriptor keeps it) unless
// client_body_in_file_only keeps it for the upstream to read ($request_body_file).
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { finished, type Readable } from 'node:stream';
import type { ClientBodySettings } from '../config/state.ts';
import { errnoSuffix } from '../nginx/errno.ts';

/** A body written to a temporary file; every attempt on an upstream reads it from the start. */
export class SpooledBody {
  private closed = false;
  constructor(
    private readonly file: FileHandle,
    /** The file's name, as $request_body_file shows it (removed already unless kept). */
    readonly path: string,
    readonly length: number,
    private readonly removeAtEnd: boolean,
  ) {}

  stream(): Readable {
    return this.file.createReadStream({ start: 0, end: Math.max(0, this.length - 1), autoClose: false, emitClose: false });
  }

  /** At the request's end: the descriptor goes, and with `client_body_in_file_only clean` the file. */
  release(): void {
    if (this.closed) return;
    this.closed = true;
    void this.file.close().catch(() => {});
    if (this.removeAtEnd) void unlink(this.path).catch(() => {});
  }
}

export type RequestBody = Buffer | SpooledBody;

/** A body nginx refuses while reading it: its error-log line (level, text) and the status it answers. */
export class BodyError extends Error {
  constructor(message: string, readonly level: 'crit' | 'error' = 'crit', readonly status = 500) {
    super(message);
  }
}

export interface BodyLog {
  (level: 'warn' | 'notice', message: string): void;
}

/**
 * Reads the whole body. `declared` is the Content-Length (undefined for chunked or HTTP/2 without
 * one). nginx also keeps in memory what arrived with the header; bext does not see that split, so
 * a body within a packet of the limit may go to a file where nginx keeps it in memory.
 */
export async function readRequestBody(
  req: IncomingMessage, settings: ClientBodySettings, declared: number | undefined, maxSize: number, log: BodyLog,
): Promise<RequestBody> {
  // Nothing to read: a head without a body (bext's own HTTP/1 requests), or one read already.
  if (!req.readable) return Buffer.alloc(0);
  const size = settings.bufferSize;
  const inFile = settings.inFileOnly !== 'off';
  // ngx_http_read_client_request_body: a known rest below size + size/4 gets a buffer of its own size.
  let spool: Spool | undefined;
  if (declared !== undefined && declared >= size + (size >> 2)) spool = Spool.start(settings, log);
  const chunks: Buffer[] = [];
  let held = 0;
  let received = 0;
  const take = (chunk: Buffer): Promise<void> | undefined => {
    // client_max_body_size for a body of unknown length, as it arrives (a known one was judged on
    // its Content-Length). nginx's HTTP/1 line names what was read and the next chunk's size; bext
    // sees each chunk's data as it arrives (a chunk split over reads comes in pieces).
    if (declared === undefined && maxSize > 0 && received + chunk.length > maxSize) {
      const size = req.httpVersionMajor >= 2 ? `${received + chunk.length}` : `${received}+${chunk.length}`;
      throw new BodyError(`client intended to send too large chunked body: ${size} bytes`, 'error', 413);
    }
    received += chunk.length;
    // client_body_in_file_only: a file for any body, none without one (an HTTP/2 GET, say).
    if (!spool && inFile) spool = Spool.start(settings, log);
    if (spool) return spool.add(chunk);
    chunks.push(chunk);
    held += chunk.length;
    // A body of unknown length goes to a file once it overflows the buffer.
    if (declared === undefined && held > size) {
      spool = Spool.start(settings, log);
      let wait: Promise<void> | undefined;
      for (const b of chunks.splice(0)) wait = spool.add(b);
      return wait;
    }
    return undefined;
  };
  try {
    await eachChunk(req, take);
    if (!spool) return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, held);
    return await spool.done();
  } catch (err) {
    spool?.abandon();
    throw err;
  }
}

/**
 * Feeds the body's pieces to `take` one by one, as they arrive ('data' in flowing mode: an async
 * iterator would join what is buffered). When `take` asks to wait, the request is paused.
 */
function eachChunk(req: IncomingMessage, take: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      req.off('data', onData);
      // What else comes is dropped while the answer goes out (an HTTP/2 stream left paused would
      // never end; HTTP/1 closes after a 413 or 500 anyway).
      req.resume();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      let wait: Promise<void> | undefined;
      try {
        wait = take(chunk);
      } catch (err) {
        return fail(err);
      }
      if (!wait) return;
      req.pause();
      wait.then(() => failed || req.resume(), fail);
    };
    req.on('data', onData);
    finished(req, { writable: false }, (err) => (err ? fail(err) : failed || resolve()));
  });
}

/** Bytes a spooling request may hold in memory while its file is written; past it the client waits. */
const SPOOL_QUEUE_MAX = 256 * 1024;

/**
 * The temporary file being written (ngx_create_temp_file + ngx_write_chain_to_temp_file): pieces
 * queue while a write is under way and go out together in the next one (one pwritev).
 */
class Spool {
  private queue: Buffer[] = [];
  private queued = 0;
  private length = 0;
  /** The write loop under way (undefined when the queue is empty); it rejects with a BodyError. */
  private pumping: Promise<void> | undefined;

  private constructor(private readonly opened: Promise<{ file: FileHandle; path: string }>, private readonly removeAtEnd: boolean) {
    opened.catch(() => {}); // seen by pump() or done()
  }

  static start(settings: ClientBodySettings, log: BodyLog): Spool {
    const kept = settings.inFileOnly !== 'off';
    const opened = createTempFile(settings.tempPath, settings.levels, kept).then((f) => {
      // nginx names the file at warn level; with client_body_in_file_only (files on purpose) at notice.
      log(kept ? 'notice' : 'warn', `a client request body is buffered to a temporary file ${f.path}`);
      return f;
    });
    return new Spool(opened, settings.inFileOnly === 'clean');
  }

  /** Queues a piece; returns a promise to wait on when the queue is full. */
  add(chunk: Buffer): Promise<void> | undefined {
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.pumping) {
      this.pumping = this.pump();
      this.pumping.catch(() => {}); // seen by done(), or by the reader waiting on it
    }
    return this.queued > SPOOL_QUEUE_MAX ? this.pumping : undefined;
  }

  private async pump(): Promise<void> {
    try {
      const { file, path } = await this.opened;
      while (this.queue.length) {
        const batch = this.queue;
        const bytes = this.queued;
        this.queue = [];
        this.queued = 0;
        await writeAll(file, batch, this.length).catch((err: NodeJS.ErrnoException) => {
          throw new BodyError(`pwritev() "${path}" failed${errnoSuffix(err)}`);
        });
        this.length += bytes;
      }
    } finally {
      this.pumping = undefined;
    }
  }

  /** Once every piece is written: the body, as the upstream attempts read it. */
  async done(): Promise<SpooledBody> {
    const { file, path } = await this.opened;
    while (this.pumping) await this.pumping;
    return new SpooledBody(file, path, this.length, this.removeAtEnd);
  }

  /** The client went away or the body was refused: the file is closed (and removed, for `clean`). */
  abandon(): void {
    void this.opened.then(({ file, path }) => {
      void file.close().catch(() => {});
      if (this.removeAtEnd) void unlink(path).catch(() => {});
    }, () => {});
  }
}

/** pwritev until every byte of `buffers` is at `position` (a regular file may take less at once). */
async function writeAll(file: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  for (;;) {
    const { bytesWritten } = await file.writev(rest, at);
    at += bytesWritten;
    let n = bytesWritten;
    while (rest.length && n >= rest[0]!.length) {
      n -= rest[0]!.length;
      rest = rest.slice(1);
    }
    if (!rest.length) return;
    if (n > 0) rest = [rest[0]!.subarray(n), ...rest.slice(1)];
  }
}

// nginx's temp number is shared by the workers and starts at 0; each bext worker counts on its own
// and, as nginx does on a name already taken, jumps ahead by a per-process step.
let tempNumber = 0;
const collisionStep = ((Date.now() % 1000) << 16) + process.pid;

/** ngx_create_hashed_filename: each level's directory takes that many digits from the name's end. */
export function tempFileName(dir: string, n: number, levels: readonly number[]): string {
  const name = String(n >>> 0).padStart(10, '0');
  let end = name.length;
  let path = dir;
  for (const level of levels) {
    path += '/' + name.slice(end - level, end);
    end -= level;
  }
  return `${path}/${name}`;
}

async function createTempFile(dir: string, levels: readonly number[], kept: boolean): Promise<{ file: FileHandle; path: string }> {
  let n = ++tempNumber;
  for (;;) {
    const path = tempFileName(dir, n, levels);
    try {
      const file = await open(path, 'wx+', 0o600);
      // ngx_open_tempfile: a file not meant to outlive the request is unlinked at once.
      if (!kept) await unlink(path).catch(() => {});
      return { file, path };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EEXIST') {
        n = tempNumber += collisionStep;
        continue;
      }
      if (levels.length === 0 || err.code !== 'ENOENT') throw new BodyError(`open() "${path}" failed${errnoSuffix(err)}`);
      await createLevels(dir, path, levels);
    }
  }
}

/** ngx_create_path: the level directories (mode 0700) that lead to the file. */
async function createLevels(dir: string, file: string, levels: readonly number[]): Promise<void> {
  let at = dir.length;
  for (const level of levels) {
    at += 1 + level;
    const sub = file.slice(0, at);
    try {
      await mkdir(sub, 0o700);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'EEXIST') throw new BodyError(`mkdir() "${sub}" failed${errnoSuffix(err)}`);
    }
  }
}
