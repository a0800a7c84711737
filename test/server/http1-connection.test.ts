// bext's own HTTP/1 connection handling: which heads it takes and which go to node:http, and that
// its request/response objects frame, pipeline, time out and close as node:http's do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect as connectTls } from 'node:tls';
import { parseHead, serveFastHttp1, whenDone } from '../../src/server/http1-connection.ts';
import { READ_BUFFER } from '../../src/server/read-buffer.ts';

const head = (s: string) => parseHead(Buffer.from(s, 'latin1'), 0);


/** Asks for /stall, leaves once its first bytes arrive, and gives the server 100 ms to notice. */
async function abandonStall(port: number): Promise<void> {
  const stall = connect(port, '127.0.0.1');
  stall.on('error', () => {});
  stall.write('GET /stall HTTP/1.1\r\nHost: a\r\n\r\n');
  await new Promise((r) => stall.once('data', r));
  stall.destroy();
  await new Promise((r) => setTimeout(r, 100));
}
test('parseHead takes plain heads and leaves the rest to node:http', () => {
  const ok = head('GET /a?b=1#c HTTP/1.1\r\nHost: x\r\nX-Long-Name: v a l\r\nConnection: Keep-Alive\r\n\r\nGET');
  assert.ok(typeof ok === 'object');
  assert.equal(ok.method, 'GET');
  assert.equal(ok.url, '/a?b=1#c');
  assert.equal(ok.minor, 1);
  assert.deepEqual(ok.rawHeaders, ['Host', 'x', 'X-Long-Name', 'v a l', 'Connection', 'Keep-Alive']);
  assert.deepEqual(ok.headers, { host: 'x', 'x-long-name': 'v a l', connection: 'Keep-Alive' });
  assert.equal(ok.keepAlive, true);
  assert.equal(ok.end, ok.end && Buffer.byteLength('GET /a?b=1#c HTTP/1.1\r\nHost: x\r\nX-Long-Name: v a l\r\nConnection: Keep-Alive\r\n\r\n'));
  const keep = (s: string) => { const h = head(s); return typeof h === 'object' ? h.keepAlive : h; };
  assert.equal(keep('GET / HTTP/1.0\r\n\r\n'), false);
  assert.equal(keep('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'), true);
  assert.equal(keep('HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n'), false);
  // Read as nginx reads them: any method name; spaces (not tabs) around a value dropped; empty values
  // and raw bytes in values kept; $request_length is the bytes of the head.
  const nginxRules = head('PROPFIND_X-Y /p HTTP/1.1\r\nA:   \tv\t  \r\nB:\r\nC: caf\xe9\r\n\r\n');
  assert.ok(typeof nginxRules === 'object');
  assert.equal(nginxRules.method, 'PROPFIND_X-Y');
  assert.deepEqual(nginxRules.headers, { a: '\tv\t', b: '', c: 'caf\xe9' });
  assert.equal(nginxRules.length, 53);
  // Lines may end in a bare LF, as nginx takes them; the head ends at the first empty line.
  const lf = head('GET /a HTTP/1.1\nHost: x\r\n\nGET /b HTTP/1.1\r\n\r\n');
  assert.ok(typeof lf === 'object');
  assert.deepEqual([lf.url, lf.headers, lf.end], ['/a', { host: 'x' }, 26]);
  const noColon = head('GET / HTTP/1.1\r\nNoColon\r\nHost: x\r\n\r\n');
  assert.ok(typeof noColon === 'object');
  assert.deepEqual(noColon.rawHeaders, ['NoColon', '', 'Host', 'x']);
  // HTTP/0.9: a GET line without a version is the whole request.
  const simple = head('GET /a.txt\r\nHost: ignored\r\n');
  assert.ok(typeof simple === 'object');
  assert.deepEqual([simple.major, simple.minor, simple.url, simple.end, simple.keepAlive], [0, 9, '/a.txt', 12, false]);
  assert.equal(head('POST /a.txt\r\n'), 'other');
  assert.equal(head('GET / HTTP/1.1\r\nHost: x\r\n'), 'partial');
  assert.equal(head('GET / HTT'), 'partial');
  for (const other of [
    'POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n', 'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
    'GET / HTTP/1.1\r\nConnection: keep-alive, upgrade\r\n\r\n', 'CONNECT a:443 HTTP/1.1\r\n\r\n', 'G@T / HTTP/1.1\r\n\r\n',
    'get / HTTP/1.1\r\n\r\n', 'GET http://x/ HTTP/1.1\r\n\r\n', 'OPTIONS * HTTP/1.1\r\n\r\n', 'GET /\x01 HTTP/1.1\r\n\r\n',
    'GET /\x7f HTTP/1.1\r\n\r\n', 'GET / HTTP/1.x\r\n\r\n', 'GET / HTTP/2.0\r\n\r\n', 'GET /  HTTP/1.1\r\n\r\n',
    'GET / HTTP/1.1\rHost: x\r\n\r\n', '\r\nGET / HTTP/1.1\r\n\r\n', 'GET / HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n',
    'GET / HTTP/1.1\r\nX_Y: 1\r\n\r\n', 'GET / HTTP/1.1\r\nX : 1\r\n\r\n', 'GET / HTTP/1.1\r\nX: \x01\r\n\r\n',
    'GET / HTTP/1.1\r\nX: \x7f\r\n\r\n', 'GET / HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n',
    `GET /${'a'.repeat(9000)} HTTP/1.1\r\n\r\n`, `GET / HTTP/1.1\r\nX: ${'a'.repeat(9000)}`,
  ]) assert.equal(head(other), 'other', JSON.stringify(other.slice(0, 60)));
});

interface Served { server: Server; port: number; kinds: string[] }

/** A self-signed certificate and key, for the HTTPS cases. */
function selfSigned(): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(path.join(tmpdir(), 'bext-h1-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=a',
      '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`], { stdio: 'ignore' });
    return { cert: readFileSync(`${dir}/cert.pem`), key: readFileSync(`${dir}/key.pem`) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, keepAliveMs = 5000, tls?: { cert: Buffer; key: Buffer }): Promise<Served> {
  const kinds: string[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    kinds.push(req.constructor.name);
    handler(req, res);
  };
  const server = tls ? createHttpsServer({ ...tls, keepAliveTimeout: keepAliveMs }, onRequest) : createServer({ keepAliveTimeout: keepAliveMs }, onRequest);
  serveFastHttp1(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, kinds };
}

/** Sends `bytes` (each string a separate write, 20 ms apart) and collects everything until close or `ms`. */
async function exchange(port: number, parts: string[], ms = 600): Promise<{ text: string; closed: boolean }> {
  const socket: Socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (c) => chunks.push(c));
  const done = new Promise<void>((r) => socket.on('close', () => { closed = true; r(); }));
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  for (const p of parts) {
    socket.write(Buffer.from(p, 'latin1'));
    await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.race([done, new Promise((r) => setTimeout(r, ms))]);
  socket.destroy();
  return { text: Buffer.concat(chunks).toString('latin1'), closed };
}

const statusLines = (text: string) => text.match(/^HTTP\/1\.1 \d{3}[^\r]*/gm) ?? [];

test('plain GETs are served here, bodies by node:http, pipelined in order on one connection', async () => {
  const s = await serve((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    const reply = () => {
      const text = `${req.method} ${req.url} ${body}`;
      res.writeHead(200, 'OK', ['Content-Length', String(text.length), 'Connection', 'keep-alive']);
      // Answer the first request last: responses must still come in request order.
      setTimeout(() => res.end(text), req.url === '/1' ? 50 : 0);
    };
    if (req.complete) reply(); else req.on('end', reply);
  });
  try {
    const r = await exchange(s.port, ['GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nPOST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /4 HTTP/1.1\r\nHost: a\r\n\r\n']);
    assert.deepEqual(r.text.match(/(GET|POST) \/\d (abc)?/g), ['GET /1 ', 'GET /2 ', 'POST /3 abc', 'GET /4 ']);
    assert.equal(r.closed, false);
    // The first two here, then node:http from the body on (it keeps the connection).
    assert.deepEqual(s.kinds, ['FastRequest', 'FastRequest', 'IncomingMessage', 'IncomingMessage']);
  } finally { s.server.close(); }
});

test('a head split across reads goes to node:http, which answers it', async () => {
  const s = await serve((req, res) => res.end('x'));
  try {
    const r = await exchange(s.port, ['GET / HT', 'TP/1.1\r\nHost: a\r', '\n\r\n']);
    assert.deepEqual(statusLines(r.text), ['HTTP/1.1 200 OK']);
    assert.deepEqual(s.kinds, ['IncomingMessage']);
  } finally { s.server.close(); }
});

test('framing as node:http: implicit length, chunks, HEAD, 204/304, HTTP/1.0 closes', async () => {
  const s = await serve((req, res) => {
    if (req.url === '/implicit') { res.statusCode = 500; res.end(); return; }
    if (req.url === '/chunked') {
      res.writeHead(200, ['X-A', '1']);
      res.write('hello ');
      res.end('world');
      return;
    }
    if (req.url === '/204') { res.writeHead(204, ['Connection', 'keep-alive']); res.end(); return; }
    res.writeHead(200, 'OK', ['Content-Type', 'text/plain']);
    res.end('body');
  });
  try {
    const implicit = await exchange(s.port, ['GET /implicit HTTP/1.1\r\nHost: a\r\n\r\n']);
    assert.match(implicit.text, /^HTTP\/1\.1 500 Internal Server Error\r\nDate: [^\r]+\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n$/);
    const chunked = await exchange(s.port, ['GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n']);
    assert.match(chunked.text, /^HTTP\/1\.1 200 OK\r\nX-A: 1\r\nDate: [^\r]+\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n$/);
    const headThenGet = await exchange(s.port, ['HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\n']);
    assert.deepEqual(statusLines(headThenGet.text), ['HTTP/1.1 200 OK', 'HTTP/1.1 204 No Content']);
    assert.ok(!headThenGet.text.includes('body') && !headThenGet.text.includes('chunked\r\n\r\n0'));
    const http10 = await exchange(s.port, ['GET / HTTP/1.0\r\n\r\n']);
    assert.match(http10.text, /Connection: close\r\n\r\nbody$/);
    assert.equal(http10.closed, true);
  } finally { s.server.close(); }
});

test('keep-alive idle timeout, closeIdleConnections, and a client gone mid-response', async () => {
  let closedWithoutFinish = 0;
  const s = await serve((req, res) => {
    if (req.url === '/stall') {
      res.writeHead(200, ['Content-Length', '10']);
      res.write('12345');
      res.on('close', () => { if (!res.writableFinished) closedWithoutFinish++; });
      return;
    }
    res.end('ok');
  }, 200);
  try {
    const idle = await exchange(s.port, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n'], 1500);
    assert.equal(idle.closed, true); // after keepAliveTimeout (200 ms)
    await abandonStall(s.port);
    assert.equal(closedWithoutFinish, 1);
    // An idle keep-alive connection is closed by closeIdleConnections (graceful stop).
    const kept = connect(s.port, '127.0.0.1');
    const gone = new Promise<void>((r) => kept.on('close', () => r()));
    kept.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise((r) => kept.once('data', r));
    s.server.closeIdleConnections();
    await gone;
  } finally { s.server.close(); }
});

test('backpressure: a large body is written in order and drains', async () => {
  const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
  const s = await serve((req, res) => {
    res.writeHead(200, ['Content-Length', String(big.length)]);
    let off = 0;
    const pump = () => {
      while (off < big.length) {
        const part = big.subarray(off, off + 256 * 1024);
        off += part.length;
        if (!res.write(part)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  });
  try {
    const r = await exchange(s.port, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n'], 3000);
    const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
    assert.equal(body.length, big.length);
  } finally { s.server.close(); }
});

test('keep-alive: the wait starts again after each response (one timer per connection), a quiet client is closed', async () => {
  const s = await serve((_req, res) => res.end('ok'), 200);
  try {
    const socket: Socket = connect(s.port, '127.0.0.1');
    socket.on('error', () => {});
    let answers = 0;
    let closedAt = 0;
    socket.on('data', (c) => (answers += (c.toString('latin1').match(/^HTTP\/1\.1 200/gm) ?? []).length));
    const closed = new Promise<void>((r) => socket.on('close', () => { closedAt = Date.now(); r(); }));
    await new Promise((r) => socket.once('connect', r));
    // Six requests 120 ms apart: 720 ms on one connection whose keep-alive timeout is 200 ms.
    // When the last request went (a timer may fire late on a busy machine: not 120 ms before now).
    let lastAt = 0;
    for (let i = 0; i < 6; i++) {
      socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      lastAt = Date.now();
      await new Promise((r) => setTimeout(r, 120));
    }
    assert.equal(answers, 6);
    assert.equal(socket.destroyed, false);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1500))]);
    assert.ok(closedAt > 0, 'closed after the keep-alive timeout');
    const quiet = closedAt - lastAt;
    assert.ok(quiet >= 190 && quiet < 600, `closed ${quiet} ms after the last request`);
  } finally { s.server.close(); }
});

test('whenDone: called once, before the finish listeners, with finished false when the client leaves first', async () => {
  const order: string[] = [];
  const s = await serve((req, res) => {
    whenDone(res, (tag: string, finished: boolean) => order.push(`${tag}:${finished}`), req.url!);
    res.on('finish', () => order.push(`finish ${req.url}`));
    if (req.url === '/stall') {
      res.writeHead(200, ['Content-Length', '10']);
      res.write('12345');
      return;
    }
    res.end('ok');
  });
  try {
    await exchange(s.port, ['GET /a HTTP/1.1\r\nHost: a\r\n\r\n'], 100);
    await abandonStall(s.port);
    assert.deepEqual(order, ['/a:true', 'finish /a', '/stall:false']);
  } finally { s.server.close(); }
});

for (const secure of [false, true]) test(`${secure ? 'TLS' : 'plain'} connections read into the worker's one buffer: bytes kept across reads survive other connections' reads`, async () => {
  const readsShared: boolean[] = [];
  const s = await serve((req, res) => {
    const kBuffer = Object.getOwnPropertySymbols(req.socket).find((k) => k.description === 'kBuffer')!;
    readsShared.push((req.socket as unknown as Record<symbol, unknown>)[kBuffer] === READ_BUFFER);
    let body = '';
    req.on('data', (c) => (body += c));
    const reply = () => setTimeout(() => res.end(`${req.method} ${req.url} ${body}|`), req.url === '/slow' ? 150 : 0);
    if (req.complete) reply(); else req.on('end', reply);
  }, 5000, secure ? selfSigned() : undefined);
  // Upgraded connections echo what they get, through node:http's socket.
  s.server.on('upgrade', (_req, socket: Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n');
    socket.on('data', (c: Buffer) => socket.write(c));
  });
  const open = async () => {
    const socket = secure ? connectTls({ port: s.port, host: '127.0.0.1', rejectUnauthorized: false }) : connect(s.port, '127.0.0.1');
    const got: Buffer[] = [];
    socket.on('data', (c) => got.push(c));
    socket.on('error', () => {});
    await new Promise((r) => socket.once(secure ? 'secureConnect' : 'connect', r));
    return { socket, text: () => Buffer.concat(got).toString('latin1') };
  };
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    // Kept past their read: a request pipelined behind a slow response, half a head and half a
    // body (both handed to node:http), the start of an upgraded stream.
    const pipelined = await open();
    pipelined.socket.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /behind HTTP/1.1\r\nHost: a\r\n\r\n');
    const split = await open();
    split.socket.write('GET /split HTTP/1.1\r\nHo');
    const body = await open();
    body.socket.write('POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234');
    const upgraded = await open();
    upgraded.socket.write('GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n');
    await pause(30);
    // Other connections' reads write over the buffer meanwhile.
    const noise = await open();
    for (let i = 0; i < 20; i++) {
      noise.socket.write(`GET /${'z'.repeat(200 + i)} HTTP/1.1\r\nHost: zzzzzzzzzzzzzzzzzzzzzzzzzzzz\r\n\r\n`);
      await pause(2);
    }
    split.socket.write('st: a\r\n\r\n');
    body.socket.write('56789');
    upgraded.socket.write('after the upgrade');
    await pause(300);
    assert.equal(pipelined.text().match(/[A-Z]+ \/\w* \w*\|/g)?.join(''), 'GET /slow |GET /behind |');
    assert.match(split.text(), /GET \/split \|$/);
    assert.match(body.text(), /POST \/body 0123456789\|$/);
    assert.match(upgraded.text(), /\r\n\r\nafter the upgrade$/);
    assert.equal((noise.text().match(/HTTP\/1\.1 200/g) ?? []).length, 20);
    assert.ok(readsShared.length > 20 && readsShared.every(Boolean), 'every connection read into the shared buffer');
    for (const c of [pipelined, split, body, upgraded, noise]) c.socket.destroy();
  } finally { s.server.close(); }
});
