// LeanConn (the proxy's own HTTP/1 upstream connection) on byte streams the differential tests do
// not produce: heads and chunked bodies split across reads, 1xx heads, bare LF line ends,
// trailers, framing errors with undici's codes, which connections stay reusable, and reads into the
// worker's one read buffer over plain TCP and TLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { LeanConn, type LeanSink } from '../../src/http/upstream-groups.ts';
import { READ_BUFFER } from '../../src/server/read-buffer.ts';

interface Outcome { status?: number; reason?: string; headers: [string, string][]; body: string; error?: string; complete: boolean; keepable: boolean }

/** A server answering each request with `pieces`, written one by one a few ms apart. */
async function serve(pieces: (string | Buffer)[], onRequest?: (head: string) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((s: Socket) => {
    s.on('error', () => s.destroy());
    s.on('data', async (d) => {
      onRequest?.(d.toString('latin1'));
      for (const p of pieces) {
        s.write(p);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

function run(conn: LeanConn, head = 'GET / HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n', noBody = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { headers: [], body: '', complete: false, keepable: false };
    const sink: LeanSink = {
      onConnect() {},
      onSent() {},
      onHead(status, fields, _resume, reason) {
        out.status = status;
        out.reason = reason;
        for (let i = 0; i < fields.length; i += 3) out.headers.push([fields[i]!, fields[i + 2]!]);
      },
      onData(chunk) {
        out.body += chunk.toString('latin1');
        return true;
      },
      onComplete() {
        out.complete = true;
        out.keepable = !conn.dead;
        if (conn.dead) conn.socket.destroy(); // as the pool's release() does
        resolve(out);
      },
      onError(err) {
        out.error = (err as Error & { code?: string }).code ?? err.message;
        resolve(out);
      },
    };
    conn.send(head, null, noBody, sink);
  });
}

/** An https upstream's settings as the proxy makes them (proxy_ssl_verify off). */
const TLS = { ssl: { verify: false, verifyDepth: 1, serverName: false }, name: '127.0.0.1', sessionReuse: false };
const conn = (port: number, tls = false) => new LeanConn({
  host: '127.0.0.1', port, connectTimeoutMs: 1000, hostHeader: '127.0.0.1', keepaliveTimeoutMs: 60_000, keepaliveRequests: 1000, ...(tls ? { tls: TLS } : {}),
}, () => {});

function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'bext-lean-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=up',
      '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`], { stdio: 'ignore' });
    return { cert: readFileSync(`${dir}/cert.pem`, 'latin1'), key: readFileSync(`${dir}/key.pem`, 'latin1') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a head and a chunked body split anywhere, with extensions and trailers', async () => {
  const { server, port } = await serve(['HTTP/1.1 200 OK\r\nTransfer-', 'Encoding: chunked\r\nX-A:  a b \r\n\r\n5;ext=1\r\nhel', 'lo\r\n6\r', '\n world\r\n0\r\nX-T: t\r\n', '\r\n']);
  const c = conn(port);
  const r = await run(c);
  assert.equal(r.status, 200);
  assert.equal(r.reason, 'OK');
  assert.deepEqual(r.headers, [['Transfer-Encoding', 'chunked'], ['X-A', 'a b']]);
  assert.equal(r.body, 'hello world');
  assert.equal(r.keepable, true);
  // The same connection carries the next request.
  const again = await run(c);
  assert.equal(again.body, 'hello world');
  c.socket.destroy();
  server.close();
});

test('1xx heads are skipped; bare LF line ends are read as nginx reads them', async () => {
  const { server, port } = await serve(['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\nContent-Length: 3\n\nabc']);
  const c = conn(port);
  const r = await run(c);
  assert.deepEqual([r.status, r.body, r.complete], [201, 'abc', true]);
  c.socket.destroy();
  server.close();
});

test('HTTP/1.0 and Connection: close are not kept; a body without length ends with the connection', async () => {
  const { server, port } = await serve(['HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok']);
  const r = await run(conn(port));
  assert.deepEqual([r.body, r.keepable], ['ok', false]);
  server.close();
  const s2 = await serve(['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok']);
  assert.equal((await run(conn(s2.port))).keepable, false);
  s2.server.close();
  const s3 = createServer((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\n\r\nuntil ')));
  await new Promise<void>((r) => s3.listen(0, '127.0.0.1', r));
  const r3 = await run(conn((s3.address() as { port: number }).port));
  assert.deepEqual([r3.body, r3.complete, r3.keepable], ['until ', true, false]);
  s3.close();
});

test('HEAD, 204 and 304 have no body whatever their Content-Length', async () => {
  const { server, port } = await serve(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n']);
  const c = conn(port);
  const r = await run(c, 'HEAD / HTTP/1.1\r\nhost: x\r\n\r\n', true);
  assert.deepEqual([r.status, r.body, r.complete, r.keepable], [200, '', true, true]);
  c.socket.destroy();
  server.close();
  const s2 = await serve(['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n']);
  const c2 = conn(s2.port);
  assert.deepEqual([(await run(c2)).complete], [true]);
  c2.socket.destroy();
  s2.server.close();
});

test('malformed responses fail with the codes undici gives them', async () => {
  const cases: [string, string][] = [
    ['HTTP/1.1 abc OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['XTTP/1.1 200 OK\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 'UND_ERR_SOCKET'],
  ];
  for (const [answer, code] of cases) {
    const server = createServer((s) => s.once('data', () => s.end(answer)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const r = await run(conn((server.address() as { port: number }).port));
    assert.equal(r.error, code, JSON.stringify(answer));
    server.close();
  }
});

test('a head beyond 16 KiB is a header overflow', async () => {
  const { server, port } = await serve([`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17000)}\r\n\r\n`]);
  const r = await run(conn(port));
  assert.equal(r.error, 'HPE_HEADER_OVERFLOW');
  server.close();
});

test('a refused connection fails with its errno code', async () => {
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const port = (dead.address() as { port: number }).port;
  await new Promise<void>((r) => dead.close(() => r()));
  assert.equal((await run(conn(port))).error, 'ECONNREFUSED');
});

for (const secure of [false, true]) test(`body pieces kept by the sink stay intact while other connections read (one shared read buffer${secure ? ', TLS' : ''})`, { timeout: 20_000 }, async () => {
  // Two upstreams send 1 MiB bodies at once, each byte telling its place and its body; the sinks
  // keep every piece, and one pauses on each piece (as a slow client does), resuming a moment later.
  const pattern = (seed: number) => Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 7 + seed) % 251));
  const body = (seed: number, framing: 'length' | 'eof') => {
    const b = pattern(seed);
    const head = framing === 'length' ? `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n` : 'HTTP/1.1 200 OK\r\n\r\n';
    return Buffer.concat([Buffer.from(head, 'latin1'), b]);
  };
  const pem = secure ? selfSigned() : undefined;
  const servers = await Promise.all([1, 2].map((seed, i) => {
    const answer = (s: Socket) => s.once('data', () => (i === 0 ? s.write(body(seed, 'length')) : s.end(body(seed, 'eof'))));
    const server = pem ? createTlsServer(pem, answer) : createServer(answer);
    return new Promise<Server>((r) => server.listen(0, '127.0.0.1', () => r(server)));
  }));
  const readsShared: boolean[] = [];
  const fetchAll = (port: number, pause: boolean) => new Promise<Buffer>((resolve, reject) => {
    const c = conn(port, secure);
    const pieces: Buffer[] = [];
    let resume = () => {};
    c.send('GET / HTTP/1.1\r\nhost: x\r\n\r\n', null, false, {
      onConnect() {},
      onSent() {},
      onHead(_status, _fields, r) { resume = r; },
      onData(chunk) {
        pieces.push(chunk);
        if (pause) setTimeout(resume, 1);
        return !pause;
      },
      onComplete() {
        const kBuffer = Object.getOwnPropertySymbols(c.socket).find((k) => k.description === 'kBuffer')!;
        readsShared.push((c.socket as unknown as Record<symbol, unknown>)[kBuffer] === READ_BUFFER);
        c.socket.destroy();
        resolve(Buffer.concat(pieces));
      },
      onError: reject,
    });
  });
  try {
    const [a, b] = await Promise.all(servers.map((s, i) => fetchAll((s.address() as { port: number }).port, i === 0)));
    assert.ok(a.equals(pattern(1)), 'the paused connection\'s body is intact');
    assert.ok(b.equals(pattern(2)), 'the other connection\'s body is intact');
    assert.deepEqual(readsShared, [true, true], 'both connections read into the shared buffer');
  } finally {
    for (const s of servers) s.close();
  }
});
