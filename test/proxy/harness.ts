// Test harness for proxy_pass: echo upstreams (Node http servers that report what they received),
// our server running a config text, real nginx running the same text, and raw HTTP/1.0 clients.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseString } from '../../src/nginx/parser.ts';
import { convert } from '../../src/config/convert.ts';
import { createRequestHandler } from '../../src/http/pipeline.ts';
import { serveFastHttp1 } from '../../src/server/http1-connection.ts';
import { createProxyHandler, createUpgradeListener } from '../../src/http/proxy.ts';
import { LogFiles, formatErrorLine, type ErrorLogEntry } from '../../src/http/access-log.ts';
import { freePort, startNginx, rawRequest, type Oracle, type RawResponse } from '../http/oracle.ts';

export { freePort, rawRequest, type RawResponse };

export interface Upstream {
  port: number;
  /** Requests seen, in order. */
  seen: { method: string; url: string }[];
  stop(): Promise<void>;
}

/**
 * An upstream that answers JSON describing the request: {port, method, url, version, headers
 * (lowercased name → values joined), body length and sha1}. Special paths:
 * /redirect/<path> → 302 to http://<Host>/<path>, /status/<n> → that status, /slow/<ms> → waits,
 * /hold/<ms> → waits and names the connection's port (X-Remote-Port),
 * /big/<n> → n bytes streamed in 64 KiB pieces, /hdr → headers nginx hides or rewrites.
 */
export async function startEcho(port?: number, socketPath?: string): Promise<Upstream> {
  const p = socketPath ? 0 : port ?? (await freePort());
  const seen: Upstream['seen'] = [];
  const server: Server = createServer((req, res) => answer(p, req, res, seen));
  const upgraded = new Set<Socket>();
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    seen.push({ method: req.method!, url: req.url! });
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    socket.on('end', () => socket.end());
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Up: ' + p + '\r\n\r\n');
    socket.on('data', (d) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
    socket.on('error', () => socket.destroy());
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => (socketPath ? server.listen(socketPath, resolve) : server.listen(p, '127.0.0.1', resolve)));
  return {
    port: p,
    seen,
    stop: () => new Promise<void>((resolve) => {
      for (const s of upgraded) s.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function answer(port: number, req: IncomingMessage, res: ServerResponse, seen: Upstream['seen']): void {
  seen.push({ method: req.method!, url: req.url! });
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const url = req.url ?? '/';
    const headers: Record<string, string> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const k = req.rawHeaders[i]!.toLowerCase();
      headers[k] = headers[k] === undefined ? req.rawHeaders[i + 1]! : `${headers[k]}|${req.rawHeaders[i + 1]}`;
    }
    const info = JSON.stringify({
      port, method: req.method, url, version: req.httpVersion, headers, bodyLength: body.length,
      bodySha1: createHash('sha1').update(body).digest('hex'),
    });
    let m: RegExpExecArray | null;
    if ((m = /^\/[^?]*\/redirect\/([^?]*)/.exec(url)) || (m = /^\/redirect\/([^?]*)/.exec(url))) {
      res.writeHead(302, { Location: `http://${req.headers.host}/${m[1]}`, Refresh: `5; url=http://${req.headers.host}/${m[1]}`, 'Content-Type': 'text/plain' });
      res.end('moved');
      return;
    }
    if ((m = /\/status\/(\d+)/.exec(url))) {
      res.writeHead(Number(m[1]), { 'Content-Type': 'application/json', 'X-Port': String(port) });
      res.end(info);
      return;
    }
    if ((m = /\/hold\/(\d+)/.exec(url))) {
      // /slow/ that also says which connection it came on
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-Remote-Port': String(req.socket.remotePort ?? '') });
        res.end(info);
      }, Number(m[1]));
      return;
    }
    if ((m = /\/slow\/(\d+)/.exec(url))) {
      setTimeout(() => {
        if (!res.destroyed) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(info);
        }
      }, Number(m[1]));
      return;
    }
    if ((m = /\/big\/(\d+)/.exec(url))) {
      let left = Number(m[1]);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      const piece = Buffer.alloc(65536, 0x61);
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, piece.length);
          left -= n;
          if (!res.write(piece.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if ((m = /\/xaccel\?to=(.*)$/.exec(url))) {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Accel-Redirect': decodeURIComponent(m[1]!), 'Content-Length': '6' });
      res.end('xaccel');
      return;
    }
    if (url.startsWith('/hdr')) {
      res.writeHead(200, [
        ['Content-Type', 'text/plain'], ['Server', 'echo'], ['X-Hidden-Srv', 'h'], ['X-Pad', 'pad'], ['X-Accel-Buffering', 'no'],
        ['X-Powered-By', 'echo'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['Cache-Control', 'no-store'],
        ['Content-Length', '2'],
      ].flat());
      res.end('ok');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-Port': String(port), 'X-Remote-Port': String(req.socket.remotePort ?? '') });
    res.end(info);
  });
}

export interface Ours {
  port: number;
  errors: ErrorLogEntry[];
  errorLines(): string[];
  /** Converts a new config text and swaps it in, as a reload does. */
  reload(http: string): void;
  stop(): Promise<void>;
}

/** Our server running `events{} http{ <http> }` (PORT replaced by its port). */
export async function startOurs(http: string): Promise<Ours> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bext-proxy-'));
  // Bodies spool under the test's own directory, as the oracle's do (the master, which makes the
  // default /var/lib/nginx/body, does not run here).
  mkdirSync(join(dir, 'tmp'));
  const build = (body: string) => {
    const text = `events {}\nhttp {\n access_log off;\n client_body_temp_path ${join(dir, 'tmp')};\n${body.replaceAll('PORT', String(port))}\n}\n`;
    return convert(parseString(text, join(dir, 'nginx.conf'), { prefix: dir + '/' }), { root: false }).state;
  };
  let state = build(http);
  const errors: ErrorLogEntry[] = [];
  const errorLog = (e: ErrorLogEntry): void => { errors.push(e); };
  const proxy = createProxyHandler({ errorLog });
  const handler = createRequestHandler(() => state, { logFiles: new LogFiles(), errorLog, proxy });
  const server = createServer(handler);
  serveFastHttp1(server); // as listeners.ts serves HTTP/1
  server.on('upgrade', createUpgradeListener(handler));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    errors,
    errorLines: () => errors.map((e) => formatErrorLine(e).trimEnd()),
    reload: (body) => { state = build(body); },
    stop: async () => {
      await proxy.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startTheirs(http: string): Promise<Oracle> {
  return startNginx(http);
}

/** One HTTP/1.0 request (the response ends with the connection, so no chunked decoding). */
export function send(port: number, method: string, target: string, headers: string[] = [], body: Buffer | string = ''): Promise<RawResponse> {
  const head = [`${method} ${target} HTTP/1.0`, ...(headers.some((h) => /^host:/i.test(h)) ? [] : ['Host: localhost']), ...headers].join('\r\n');
  return rawRequest(port, head, body);
}

/** An HTTP/1.1 request with a chunked body, read until the server closes. */
export function sendChunked(port: number, target: string, pieces: Buffer[]): Promise<RawResponse> {
  const head = [`POST ${target} HTTP/1.1`, 'Host: localhost', 'Transfer-Encoding: chunked', 'Connection: close'].join('\r\n');
  const body = Buffer.concat([...pieces.flatMap((p) => [Buffer.from(p.length.toString(16) + '\r\n'), p, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
  return rawRequest(port, head, body).then((r) => ({ ...r, body: dechunk(r) }));
}

/** Decodes a chunked body when the response says so. */
export function dechunk(r: RawResponse): Buffer {
  if (!/chunked/i.test(r.headers['transfer-encoding'] ?? '')) return r.body;
  const out: Buffer[] = [];
  let b = r.body;
  for (;;) {
    const nl = b.indexOf('\r\n');
    if (nl < 0) break;
    const n = parseInt(b.subarray(0, nl).toString(), 16);
    if (!n) break;
    out.push(b.subarray(nl + 2, nl + 2 + n));
    b = b.subarray(nl + 4 + n);
  }
  return Buffer.concat(out);
}

/** Opens a websocket-style upgrade, sends `message` after the 101, returns head and echoed bytes. */
export function upgradeExchange(port: number, target: string, message: string): Promise<{ head: string; data: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let head = '';
    const timer = setTimeout(() => { s.destroy(); resolve({ head: head || buf.toString('latin1'), data: '' }); }, 3000);
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!head) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        head = buf.subarray(0, i).toString('latin1');
        buf = buf.subarray(i + 4);
        if (!head.includes(' 101 ')) {
          clearTimeout(timer);
          s.destroy();
          resolve({ head, data: buf.toString('latin1') });
          return;
        }
        s.write(message);
      }
      if (buf.length >= message.length + 5) {
        clearTimeout(timer);
        s.destroy();
        resolve({ head, data: buf.toString('latin1') });
      }
    });
    s.on('end', () => { clearTimeout(timer); resolve({ head, data: buf.toString('latin1') }); });
    s.write([`GET ${target} HTTP/1.1`, 'Host: localhost', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', ''].join('\r\n'));
  });
}

/** The JSON an echo upstream answered, or undefined. */
export function echoOf(r: RawResponse): { port: number; method: string; url: string; headers: Record<string, string>; bodyLength: number; bodySha1: string } | undefined {
  try {
    return JSON.parse(r.body.toString('latin1'));
  } catch {
    return undefined;
  }
}
