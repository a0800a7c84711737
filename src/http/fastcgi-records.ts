// The FastCGI wire format as nginx speaks it (ngx_http_fastcgi_module.c): one request per
// connection with id 1, the responder role, every parameter in one PARAMS record, the body in STDIN
// records of at most 32 KiB padded to 8 bytes; and the reader of STDOUT/STDERR/END_REQUEST records
// with nginx's error texts.

export const FCGI_BEGIN_REQUEST = 1;
export const FCGI_END_REQUEST = 3;
export const FCGI_PARAMS = 4;
export const FCGI_STDIN = 5;
export const FCGI_STDOUT = 6;
export const FCGI_STDERR = 7;

const HEADER = 8;
/** nginx cuts request bodies into records of this size. */
const STDIN_PIECE = 32 * 1024;

function header(type: number, length: number, padding: number): Buffer {
  const h = Buffer.alloc(HEADER);
  h[0] = 1;
  h[1] = type;
  h[3] = 1; // request id 1
  h.writeUInt16BE(length, 4);
  h[6] = padding;
  return h;
}

const padTo8 = (n: number): number => (8 - (n % 8)) % 8;

/** A name or value length: one byte up to 127, else four with the high bit set. */
function lengthBytes(n: number): Buffer {
  if (n <= 127) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

/** The parameters (name and value as byte strings) were more than one record holds. */
export class ParamsTooBig extends Error {
  constructor(readonly length: number) {
    super(`fastcgi request record is too big: ${length}`);
  }
}

/**
 * BEGIN_REQUEST (responder; keep_conn asks the application to keep the connection), one PARAMS
 * record with every pair, and the empty PARAMS record that ends them.
 */
export function requestHead(pairs: readonly (readonly [string, string])[], keepConn: boolean): Buffer {
  const parts: Buffer[] = [];
  let length = 0;
  for (const [name, value] of pairs) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    const piece = Buffer.concat([lengthBytes(n.length), lengthBytes(v.length), n, v]);
    parts.push(piece);
    length += piece.length;
  }
  if (length > 65535) throw new ParamsTooBig(length);
  const begin = Buffer.concat([header(FCGI_BEGIN_REQUEST, 8, 0), Buffer.from([0, 1, keepConn ? 1 : 0, 0, 0, 0, 0, 0])]);
  const padding = padTo8(length);
  return Buffer.concat([begin, header(FCGI_PARAMS, length, padding), ...parts, Buffer.alloc(padding), header(FCGI_PARAMS, 0, 0)]);
}

/** A piece of the request body as STDIN records (without the empty one that ends the body). */
export function stdinRecords(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += STDIN_PIECE) {
    const piece = body.subarray(at, Math.min(at + STDIN_PIECE, body.length));
    const padding = padTo8(piece.length);
    out.push(header(FCGI_STDIN, piece.length, padding), piece);
    if (padding) out.push(Buffer.alloc(padding));
  }
  return out;
}

/** The empty STDIN record: the body is over. */
export const STDIN_END = header(FCGI_STDIN, 0, 0);

/** What the reader hands on: STDOUT bytes as they come, whole STDERR records, the request's end. */
export interface RecordSink {
  stdout(data: Buffer): void;
  /** The empty STDOUT record (the application closed its output). */
  stdoutEnd(): void;
  stderr(data: Buffer): void;
  end(): void;
  /** A record nginx would not accept: its error-log text. */
  invalid(message: string): void;
}

/** Reads records from the connection's bytes, in pieces as they arrive. */
export class RecordReader {
  private pending: Buffer | undefined;
  private type = 0;
  /** The current record's content length. */
  private length = 0;
  /** Content bytes of the current record still to come, then its padding. */
  private left = -1;
  private padding = 0;
  private stderrParts: Buffer[] = [];
  private failed = false;

  constructor(private readonly sink: RecordSink) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let at = 0;
    while (at < buf.length && !this.failed) {
      if (this.left < 0) {
        if (buf.length - at < HEADER) break;
        if (!this.readHeader(buf, at)) return;
        at += HEADER;
        if (this.left === 0) this.recordDone();
        continue;
      }
      if (this.left > 0) {
        const n = Math.min(this.left, buf.length - at);
        const data = buf.subarray(at, at + n);
        at += n;
        this.left -= n;
        if (this.type === FCGI_STDOUT) this.sink.stdout(data);
        else if (this.type === FCGI_STDERR) this.stderrParts.push(data);
        if (this.left === 0) this.recordDone();
        continue;
      }
      // Padding.
      const n = Math.min(this.padding, buf.length - at);
      at += n;
      this.padding -= n;
      if (this.padding === 0) this.left = -1;
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
  }

  private readHeader(b: Buffer, at: number): boolean {
    const fail = (message: string): false => {
      this.failed = true;
      this.sink.invalid(message);
      return false;
    };
    if (b[at] !== 1) return fail(`upstream sent unsupported FastCGI protocol version: ${b[at]}`);
    const type = b[at + 1]!;
    if (type !== FCGI_STDOUT && type !== FCGI_STDERR && type !== FCGI_END_REQUEST) return fail(`upstream sent invalid FastCGI record type: ${type}`);
    if (b[at + 2] !== 0) return fail(`upstream sent unexpected FastCGI request id high byte: ${b[at + 2]}`);
    if (b[at + 3] !== 1) return fail(`upstream sent unexpected FastCGI request id low byte: ${b[at + 3]}`);
    this.type = type;
    this.length = this.left = b.readUInt16BE(at + 4);
    this.padding = b[at + 6]!;
    return true;
  }

  /** The current record's content is all read (its padding may follow). */
  private recordDone(): void {
    this.left = this.padding > 0 ? 0 : -1;
    if (this.type === FCGI_STDERR) {
      if (this.stderrParts.length) this.sink.stderr(Buffer.concat(this.stderrParts));
      this.stderrParts = [];
    } else if (this.type === FCGI_STDOUT) {
      if (this.length === 0) this.sink.stdoutEnd();
    } else this.sink.end();
  }
}
