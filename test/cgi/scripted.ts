// A FastCGI application whose answers are scripted by the request's DOCUMENT_URI, for what php-fpm
// never does on its own: stderr around the head, a head split over records, LF-only lines, broken
// records, an early end, silence. nginx and bext talk to the same one; /echo reports the request
// as it arrived on the wire (record sizes, padding, the keep-connection flag, parameters).
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';

export interface Scripted {
  port: number;
  close(): Promise<void>;
}

interface Request {
  flags: number;
  params: [string, string][];
  paramRecords: number[];
  stdinRecords: string[];
  stdin: Buffer[];
}

function record(type: number, content: Buffer | string, padding = 0, version = 1): Buffer {
  const body = Buffer.isBuffer(content) ? content : Buffer.from(content, 'latin1');
  const h = Buffer.from([version, type, 0, 1, body.length >> 8, body.length & 0xff, padding, 0]);
  return Buffer.concat([h, body, Buffer.alloc(padding)]);
}

const STDOUT = 6;
const STDERR = 7;
const END = 3;
const endRequest = () => record(END, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));

function decodeParams(b: Buffer): [string, string][] {
  const out: [string, string][] = [];
  let at = 0;
  const len = (): number => {
    if (b[at]! < 128) return b[at++]!;
    const n = b.readUInt32BE(at) & 0x7fffffff;
    at += 4;
    return n;
  };
  while (at < b.length) {
    const n = len();
    const v = len();
    out.push([b.subarray(at, at + n).toString('latin1'), b.subarray(at + n, at + n + v).toString('latin1')]);
    at += n + v;
  }
  return out;
}

/** Starts the application on a free port; `name` shows in its answers (to tell peers apart). */
export async function startScripted(name = 'A'): Promise<Scripted> {
  // Kept connections per web server (by SERVER_PORT), for fastcgi_keep_conn.
  const connections = new Map<string, number>();
  const open = new Set<Socket>();
  const server: Server = createServer((sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    serve(sock, name, connections);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      for (const s of open) s.destroy();
    }),
  };
}

function serve(sock: Socket, name: string, connections: Map<string, number>): void {
  let buf = Buffer.alloc(0);
  let req: Request = { flags: 0, params: [], paramRecords: [], stdinRecords: [], stdin: [] };
  let paramBytes: Buffer[] = [];
  let counted = false;
  sock.on('error', () => {});
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 8) {
      const type = buf[1]!;
      const length = buf.readUInt16BE(4);
      const padding = buf[6]!;
      if (buf.length < 8 + length + padding) return;
      const content = buf.subarray(8, 8 + length);
      buf = buf.subarray(8 + length + padding);
      if (type === 1) req.flags = content[2]!;
      else if (type === 4) {
        req.paramRecords.push(length);
        if (length === 0) {
          req.params = decodeParams(Buffer.concat(paramBytes));
          // /stall takes none of the body and never answers (fastcgi_send_timeout).
          if (req.params.some(([k, v]) => k === 'DOCUMENT_URI' && v === '/stall')) {
            sock.pause();
            return;
          }
        }
        else paramBytes.push(Buffer.from(content));
      } else if (type === 5) {
        req.stdinRecords.push(`${length}+${padding}`);
        if (length > 0) req.stdin.push(Buffer.from(content));
        else {
          const done = req;
          req = { flags: 0, params: [], paramRecords: [], stdinRecords: [], stdin: [] };
          paramBytes = [];
          const port = done.params.find(([k]) => k === 'SERVER_PORT')?.[1] ?? '';
          // Counted once per connection, and only for connections asked to be kept.
          if (!counted && (done.flags & 1) === 1) connections.set(port, (connections.get(port) ?? 0) + 1);
          counted = true;
          answer(sock, done, name, connections.get(port) ?? 0);
        }
      }
    }
  });
}

function answer(sock: Socket, req: Request, name: string, connectionCount: number): void {
  const uri = req.params.find(([k]) => k === 'DOCUMENT_URI')?.[1] ?? '';
  const keep = (req.flags & 1) === 1;
  const finish = (...parts: Buffer[]): void => {
    sock.write(Buffer.concat([...parts, record(STDOUT, ''), endRequest()]));
    if (!keep) sock.end();
  };
  switch (uri) {
    case '/echo': {
      const body = Buffer.concat(req.stdin);
      const params = req.params.filter(([k]) => k !== 'REMOTE_PORT').map(([k, v]) => `${k}=${v}`).join('\n');
      const text = `peer=${name} keep=${keep} param-records=${req.paramRecords.join(',')} stdin-records=${req.stdinRecords.join(',')}\n`
        + `body=${body.length} ${createHash('md5').update(body).digest('hex')}\n${params}\n`;
      return finish(record(STDOUT, `Content-Type: text/plain\r\n\r\n${text}`));
    }
    case '/big':
      return finish(record(STDOUT, 'Content-Type: text/plain\r\n\r\n'), ...Array.from({ length: 4 }, () => record(STDOUT, 'z'.repeat(15_000))));
    case '/big-unlimited': // lifts limit_rate for its answer
      return finish(record(STDOUT, 'Content-Type: text/plain\r\nX-Accel-Limit-Rate: 0\r\n\r\n'), ...Array.from({ length: 4 }, () => record(STDOUT, 'z'.repeat(15_000))));
    case '/connections':
      return finish(record(STDOUT, `Content-Type: text/plain\r\n\r\nconnections=${connectionCount}\n`));
    case '/stderr':
      return finish(
        record(STDERR, 'before the head\n\n..  '),
        record(STDOUT, 'Content-Type: text/pl'),
        record(STDOUT, 'ain\r\nX-Split: o', 3),
        record(STDOUT, 'ne\r\n\r\nfirst part\n'),
        record(STDERR, 'after the head'),
        record(STDERR, ''),
        record(STDOUT, 'second part\n', 4),
      );
    case '/stderr-fatal':
      return finish(record(STDERR, 'PHP Fatal error: boom\n'), record(STDOUT, 'Content-Type: text/plain\r\n\r\nhalf a page\n'));
    case '/lf':
      return finish(record(STDOUT, 'Status: 203 Whatever It Says\nContent-Type: text/plain\nX-Lf: yes\n\nbody\n'));
    case '/no-colon':
      return finish(record(STDOUT, 'Content-Type: text/plain\r\nJustAName\r\n\r\nbody\n'));
    case '/bad-name':
      return finish(record(STDOUT, 'Content-Type: text/plain\r\nBad Name: x\r\n\r\nbody\n'));
    case '/bad-status':
      return finish(record(STDOUT, 'Status: abc\r\n\r\nbody\n'));
    case '/bad-version':
      sock.write(record(STDOUT, 'Content-Type: text/plain\r\n\r\nbody\n', 0, 2));
      sock.end();
      return;
    case '/end-first':
      sock.write(endRequest());
      sock.end();
      return;
    case '/empty-stdout':
      sock.write(Buffer.concat([record(STDOUT, ''), endRequest()]));
      sock.end();
      return;
    case '/close-early':
      sock.end();
      return;
    case '/slow':
      setTimeout(() => finish(record(STDOUT, 'Content-Type: text/plain\r\n\r\nlate\n')), 1500);
      return;
    case '/retry':
      if (name === 'A') return finish(record(STDOUT, 'Status: 503 Busy\r\nContent-Type: text/plain\r\n\r\nbusy\n'));
      return finish(record(STDOUT, `Content-Type: text/plain\r\n\r\nanswered by ${name}\n`));
    case '/headers-many': {
      const lines = Array.from({ length: 40 }, (_, i) => `X-H${i}: ${'v'.repeat(i)}`).join('\r\n');
      return finish(record(STDOUT, `Content-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n${lines}\r\n\r\nbody\n`));
    }
    default:
      return finish(record(STDOUT, `Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno script ${uri}\n`));
  }
}
