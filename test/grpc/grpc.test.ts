// Differential: grpc_pass to a node:http2 gRPC-style upstream (upstream.ts), nginx and bext on the
// same configuration. Compared: what the upstream received (pseudo-headers and fields in order, body
// bytes) and what the client got (status, header lines in order but Date's value, body bytes,
// trailers, a reset stream), over h2c, HTTP/1.1 and HTTP/1.0: a unary call, a trailers-only answer,
// a plain 404, grpc_set_header Host, a stream reset before and after the head, a connection closed
// mid-answer, grpc_read_timeout, grpc_send_timeout (an upstream that reads none of the body), a dead
// upstream, grpc_next_upstream over two peers with $upstream_addr/$upstream_status, bidirectional
// streaming (each message echoed before the next is sent), a kept session (`keepalive`) and a client
// gone mid-stream (its session not kept), grpcs:// with grpc_ssl_verify, grpc_intercept_errors,
// grpc_pass_header/_hide_header, a variable in grpc_pass, a rewritten URI, 200-300 KB bodies (flow
// control), and the error lines.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refusedPort } from '../http/oracle.ts';
import { errorLinesOf, haveNginx, makeCert, makeSite, sendUntilClose, startPair, wrapConfig, type Pair } from '../serving/harness.ts';
import { message, startGrpcUpstream, type GrpcUpstream } from './upstream.ts';

let pair: Pair | undefined;
let a: GrpcUpstream | undefined;
let b: GrpcUpstream | undefined;
let t: GrpcUpstream | undefined;
let dead = 0;

before(async () => {
  if (!haveNginx) return;
  const dir = mkdtempSync(join(tmpdir(), 'bext-grpc-'));
  const { cert, key } = await makeCert(dir, 'grpc.test');
  a = await startGrpcUpstream('A');
  b = await startGrpcUpstream('B');
  t = await startGrpcUpstream('T', { cert: readFileSync(cert, 'latin1'), key: readFileSync(key, 'latin1') });
  dead = await refusedPort();
  const locations = `
    location / { grpc_pass grpc://127.0.0.1:${a.port}; grpc_read_timeout 500ms; }
    location /host.Svc/ { grpc_set_header Host $host; grpc_set_header X-A a; grpc_hide_header x-up; grpc_pass 127.0.0.1:${a.port}; }
    location /two.Svc/ { add_header X-U "$upstream_addr $upstream_status" always; grpc_pass grpc://two; }
    location /busy.Svc/ { add_header X-U "$upstream_addr $upstream_status" always; grpc_next_upstream http_503; grpc_pass grpc://busy; }
    location /kept.Svc/ { grpc_pass grpc://kept; }
    location /stall.Svc/ { grpc_pass grpc://127.0.0.1:${a.port}; grpc_send_timeout 1s; }
    location /dead.Svc/ { grpc_pass grpc://127.0.0.1:${dead}; }
    location /tls.Svc/ {
      grpc_pass grpcs://127.0.0.1:${t.port};
      grpc_ssl_verify on; grpc_ssl_trusted_certificate ${cert}; grpc_ssl_name grpc.test; grpc_ssl_server_name on;
    }
    location /tlsbad.Svc/ { grpc_pass grpcs://127.0.0.1:${t.port}; grpc_ssl_verify on; grpc_ssl_trusted_certificate ${cert}; }
    location /tlsany.Svc/ { grpc_pass grpcs://127.0.0.1:${t.port}; }
    location /icpt.Svc/ { grpc_intercept_errors on; error_page 404 503 /err.html; grpc_pass grpc://127.0.0.1:${a.port}; }
    location = /err.html { root @SITE@; }
    location /pass.Svc/ { grpc_pass_header Server; grpc_pass_header Date; grpc_hide_header Content-Type; add_header X-S "$upstream_http_x_up $upstream_http_content_type"; grpc_pass grpc://127.0.0.1:${a.port}; }
    location /rw/ { rewrite ^/rw/(.*)$ /pkg.Svc/$1 break; grpc_pass grpc://127.0.0.1:${a.port}; }
    location /var.Svc/ { set $up 127.0.0.1:${a.port}; grpc_pass grpc://$up; }`;
  pair = await startPair(wrapConfig(`
  upstream two { server 127.0.0.1:${dead}; server 127.0.0.1:${b.port}; }
  upstream busy { server 127.0.0.1:${a.port}; server 127.0.0.1:${b.port}; }
  upstream kept { server 127.0.0.1:${a.port}; keepalive 2; }
  server { listen 127.0.0.1:@P1@ http2; ${locations} }
  server { listen 127.0.0.1:@P2@; ${locations} }`), makeSite({ 'err.html': 'intercepted\n' }), ['P1', 'P2']);
});

after(async () => {
  await pair?.stop();
  await Promise.all([a?.close(), b?.close(), t?.close()]);
});

interface H2Result { head?: string[]; body: string; trailers?: string[]; error?: string }

/** One h2c call: the head (Date's value masked), the body, the trailers, a reset. */
function h2Call(port: number, path: string, headers: Record<string, string>, parts: Buffer[] = [], method = 'POST'): Promise<H2Result> {
  return new Promise((resolve) => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    const out: H2Result = { body: '' };
    const chunks: Buffer[] = [];
    client.on('error', (e) => { out.error = String(e); });
    const req = client.request({ ':method': method, ':path': path, ':authority': 'localhost', ...headers }, { endStream: false });
    req.on('response', (h, _f, raw?: string[]) => { out.head = mask(raw ?? Object.entries(h).flat().map(String)); });
    req.on('trailers', (h, _f, raw?: string[]) => { out.trailers = raw ?? Object.entries(h).flat().map(String); });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('error', (e) => { out.error = (e as { code?: string }).code === 'ERR_HTTP2_STREAM_ERROR' ? `reset ${req.rstCode}` : String(e); });
    req.on('close', () => {
      out.body = Buffer.concat(chunks).toString('hex');
      client.close();
      resolve(out);
    });
    for (const p of parts) req.write(p);
    req.end();
  });
}

const mask = (raw: string[]): string[] => raw.map((v, i) => (i % 2 === 1 && raw[i - 1] === 'date' ? 'DATE' : v));

/** One HTTP/1.x exchange on its own connection, read to the close; Date's value masked. */
async function h1(port: number, request: string): Promise<string> {
  const { bytes } = await sendUntilClose(port, request, 4000);
  return bytes.toString('latin1').replace(/\r\nDate: [^\r]*\r\n/, '\r\nDate: DATE\r\n');
}

/** What the upstream got for the last request it saw: header lines, body bytes. */
const lastSeen = (up: GrpcUpstream) => {
  const s = up.seen[up.seen.length - 1];
  return s ? { headers: s.headers, body: s.body.toString('hex') } : undefined;
};

/** The same exchange through nginx and bext: what the client got and what the upstream saw, per server. */
async function both<T>(exchange: (port: number) => Promise<T>, up: GrpcUpstream | undefined = a): Promise<[{ got: T; seen: ReturnType<typeof lastSeen> }, { got: T; seen: ReturnType<typeof lastSeen> }]> {
  const run = async (port: number) => {
    const n = up?.seen.length ?? 0;
    const got = await exchange(port);
    return { got, seen: up && up.seen.length > n ? lastSeen(up) : undefined };
  };
  const theirs = await run(pair!.nginx.ports.P1!);
  const ours = await run(pair!.bext.ports.P1!);
  return [ours, theirs];
}

async function bothH1<T>(exchange: (port: number) => Promise<T>, up: GrpcUpstream | undefined = a) {
  const run = async (port: number) => {
    const n = up?.seen.length ?? 0;
    const got = await exchange(port);
    return { got, seen: up && up.seen.length > n ? lastSeen(up) : undefined };
  };
  const theirs = await run(pair!.nginx.ports.P2!);
  const ours = await run(pair!.bext.ports.P2!);
  return [ours, theirs] as const;
}

const GRPC = { 'content-type': 'application/grpc', 'grpc-timeout': '5S', 'user-agent': 'grpc-node/1', 'x-custom': 'v', te: 'trailers' };

test('grpc_pass over h2c: request fields, answer, trailers, errors as nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const cases: [string, string, Record<string, string>, Buffer[], string?][] = [
    ['unary', '/pkg.Svc/Unary', GRPC, [message('req')]],
    ['unary without te', '/pkg.Svc/Unary', { 'content-type': 'application/grpc' }, [message('req')]],
    ['a query string and a cookie', '/pkg.Svc/Unary?x=1', { cookie: 'a=1', 'x-dup': 'v1' }, []],
    ['trailers-only', '/pkg.Svc/TrailersOnly', GRPC, [message('req')]],
    ['a plain 404', '/nothing/here', GRPC, []],
    ['GET', '/pkg.Svc/Unary', {}, [], 'GET'],
    ['grpc_set_header Host', '/host.Svc/Unary', GRPC, []],
    ['reset before the head', '/pkg.Svc/Reset', GRPC, []],
    ['closed with INTERNAL_ERROR after a message', '/pkg.Svc/ResetMid', GRPC, []],
    ['connection closed mid-answer', '/pkg.Svc/CloseMid', GRPC, []],
    ['grpc_read_timeout', '/pkg.Svc/Slow', GRPC, []],
    ['grpc_send_timeout: an upstream that takes none of a 1 MB body', '/stall.Svc/Stall', GRPC, [message('s'.repeat(1_000_000))]],
    ['upstream down', '/dead.Svc/Unary', GRPC, []],
    ['a 300 KB body (flow control both ways)', '/pkg.Svc/Unary', GRPC, [message('x'.repeat(150_000)), message('y'.repeat(150_000))]],
    ['grpc_intercept_errors with error_page', '/icpt.Svc/Missing', GRPC, []],
    ['grpc_intercept_errors, a status without error_page', '/icpt.Svc/Unary', GRPC, []],
    ['grpc_pass_header Server and Date, grpc_hide_header, $upstream_http_*', '/pass.Svc/Unary', GRPC, []],
    ['grpc_pass with a variable', '/var.Svc/Unary', GRPC, [message('v')]],
    ['HEAD', '/pkg.Svc/Unary', {}, [], 'HEAD'],
    ['a rewritten URI: :path from the URI and arguments, escaped', '/rw/Un%20ary%3F?a=b%20', GRPC, []],
  ];
  const got = new Map<string, H2Result>();
  for (const [name, path, headers, parts, method] of cases) {
    const [ours, theirs] = await both((port) => h2Call(port, path, headers, parts, method));
    assert.deepEqual(ours, theirs, name);
    got.set(name, theirs.got);
  }
  assert.equal(Buffer.from(got.get('grpc_intercept_errors with error_page')!.body, 'hex').toString(), 'intercepted\n');
  assert.deepEqual(got.get('grpc_pass_header Server and Date, grpc_hide_header, $upstream_http_*')!.head,
    [':status', '200', 'x-up', 'A', 'date', 'DATE', 'server', 'up/1', 'x-s', 'A application/grpc']);
  assert.equal(got.get('connection closed mid-answer')!.error, 'reset 2');
  assert.equal(got.get('grpc_read_timeout')!.head![1], '504');
  assert.equal(got.get('grpc_send_timeout: an upstream that takes none of a 1 MB body')!.head![1], '504');
  const [, sample] = await both((port) => h2Call(port, '/pkg.Svc/Unary', GRPC, [message('req')]));
  assert.deepEqual(sample.seen!.headers, [':method', 'POST', ':scheme', 'http', ':path', '/pkg.Svc/Unary', ':authority', `127.0.0.1:${a!.port}`,
    'te', 'trailers', 'content-type', 'application/grpc', 'grpc-timeout', '5S', 'user-agent', 'grpc-node/1', 'x-custom', 'v']);
  assert.deepEqual(sample.got.trailers, ['grpc-status', '0', 'grpc-message', 'ok', 'x-trail', 't']);
  assert.deepEqual(sample.got.head, [':status', '200', 'server', 'nginx/1.22.1', 'date', 'DATE', 'content-type', 'application/grpc', 'x-up', 'A']);
});

test('grpc_pass over HTTP/1.1 and HTTP/1.0: chunked with trailers, close-delimited, as nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const body = message('req').toString('latin1');
  const cases: [string, string][] = [
    ['HTTP/1.1 with a length', `POST /pkg.Svc/Unary HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nContent-Type: application/grpc\r\nContent-Length: 8\r\nConnection: close\r\n\r\n${body}`],
    ['HTTP/1.1 with TE: trailers', `POST /pkg.Svc/Unary HTTP/1.1\r\nHost: localhost\r\nTE: trailers\r\nContent-Length: 8\r\nConnection: close\r\n\r\n${body}`],
    ['HTTP/1.1 chunked body', `POST /pkg.Svc/Unary HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n${body}\r\n0\r\n\r\n`],
    ['HTTP/1.1 trailers-only', `POST /pkg.Svc/TrailersOnly HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`],
    ['HTTP/1.1 HEAD', `HEAD /pkg.Svc/Unary HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`],
    ['HTTP/1.0 GET', `GET /pkg.Svc/Unary HTTP/1.0\r\n\r\n`],
    ['HTTP/1.1 Host set', `GET /host.Svc/Unary HTTP/1.1\r\nHost: Example.org:99\r\nConnection: close\r\n\r\n`],
    ['HTTP/1.1 a 404', `GET /nothing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`],
    ['HTTP/1.1 a 200 KB body', `POST /pkg.Svc/Unary HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n${'z'.repeat(200_000)}`],
    ['HTTP/1.1 intercepted 503', `GET /icpt.Svc/Unavailable HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`],
    ['HTTP/1.1 reset', `GET /pkg.Svc/Reset HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`],
    ['HTTP/1.1 closed after INTERNAL_ERROR', `GET /pkg.Svc/ResetMid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`],
    ['HTTP/1.1 connection closed mid-answer: no last chunk', `GET /pkg.Svc/CloseMid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`],
  ];
  for (const [name, request] of cases) {
    const [ours, theirs] = await bothH1((port) => h1(port, request));
    assert.deepEqual(ours, theirs, name);
  }
  const [, sample] = await bothH1((port) => h1(port, cases[0]![1]));
  assert.match(sample.got, /Transfer-Encoding: chunked\r\n[\s\S]*\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\nx-trail: t\r\n\r\n$/);
  assert.deepEqual(sample.seen!.headers.slice(8), ['content-length', '8', 'user-agent', 'curl/7.88.1', 'accept', '*/*', 'content-type', 'application/grpc']);
});

test('grpc_next_upstream: a dead peer, then http_503 over two, $upstream_addr and $upstream_status as nginx', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const [ours, theirs] = await both((port) => h2Call(port, '/two.Svc/Unary', GRPC, [message('x')]), b);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.got.head!.includes(`127.0.0.1:${dead}, 127.0.0.1:${b!.port} 502, 200`), theirs.got.head!.join(' '));
  const [ours2, theirs2] = await bothH1((port) => h1(port, 'GET /busy.Svc/Unavailable HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'), b);
  assert.deepEqual(ours2, theirs2);
  assert.match(theirs2.got, /X-U: 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+ 503, 503\r\n[\s\S]*unavailable B\n\r\n0\r\n\r\n$/);
});

test('bidirectional streaming: each message is echoed before the next is sent, through both', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const stream = (port: number) => new Promise<string[]>((resolve, reject) => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    const req = client.request({ ':method': 'POST', ':path': '/pkg.Svc/Echo', ':authority': 'localhost', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
    const log: string[] = [];
    let sent = 0;
    const next = () => {
      if (sent === 3) return req.end();
      req.write(message(`m${sent++}`));
    };
    req.on('data', (d: Buffer) => {
      log.push(d.subarray(5).toString());
      next();
    });
    req.on('trailers', (h) => log.push(`grpc-status ${h['grpc-status']}`));
    req.on('error', reject);
    req.on('close', () => {
      client.close();
      resolve(log);
    });
    next();
  });
  const [ours, theirs] = await both(stream);
  assert.deepEqual(theirs.got, ['m0', 'm1', 'm2', 'grpc-status 0']);
  assert.deepEqual(ours, theirs);
});

test('keepalive in the upstream block: one session for sequential calls, as nginx', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const sessions = async (port: number) => {
    const before = a!.sessions();
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await h2Call(port, '/kept.Svc/Unary', GRPC, [message(`k${i}`)]));
    return { results, sessions: a!.sessions() - before, sameSession: new Set(a!.seen.slice(-3).map((s) => s.session)).size };
  };
  const [ours, theirs] = await both(sessions);
  assert.deepEqual(theirs.got.sessions, 1);
  assert.deepEqual(theirs.got.sameSession, 1);
  assert.deepEqual(ours, theirs);
  assert.equal(theirs.seen!.headers[7], 'kept'); // :authority is the upstream block's name
});

test('a client gone mid-stream: its upstream session is closed, not kept, as nginx', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const abortThenCount = async (port: number) => {
    await new Promise<void>((resolve) => {
      const client = http2.connect(`http://127.0.0.1:${port}`);
      client.on('error', () => undefined);
      const req = client.request({ ':method': 'POST', ':path': '/kept.Svc/Echo', ':authority': 'localhost', te: 'trailers' }, { endStream: false });
      req.on('error', () => undefined);
      req.on('data', () => {
        client.destroy();
        setTimeout(resolve, 300);
      });
      req.write(message('a'));
    });
    const before = a!.sessions();
    // Slow calls, all three under way at once: a fast one could finish and free its session for the
    // next on a loaded machine, and the count would measure the scheduler, not the aborted session.
    const calls = await Promise.all([0, 1, 2].map((i) => h2Call(port, '/kept.Svc/Slow', GRPC, [message(`c${i}`)])));
    return { statuses: calls.map((c) => c.trailers?.[1]), newSessions: a!.sessions() - before };
  };
  const [ours, theirs] = await both(abortThenCount);
  assert.deepEqual(ours.got, theirs.got);
});

test('grpcs:// with grpc_ssl_verify, grpc_ssl_name and SNI, and a name that does not match', { skip: !haveNginx, timeout: 30_000 }, async () => {
  for (const path of ['/tls.Svc/Unary', '/tlsbad.Svc/Unary', '/tlsany.Svc/Unary']) {
    const [ours, theirs] = await both((port) => h2Call(port, path, GRPC, [message('s')]), t);
    assert.deepEqual(ours, theirs, path);
  }
  const [, theirs] = await both((port) => h2Call(port, '/tls.Svc/Unary', GRPC, [message('s')]), t);
  assert.equal(theirs.seen!.headers[3], 'https');
  assert.equal(theirs.got.head![1], '200');
});

test('grpc_pass: the error lines are nginx\'s', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const pick = (log: string) => log.split('\n')
    .filter((l) => /\[(error|warn|crit|alert)\]/.test(l))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/host: "[^"]*"/, 'host: HOST'))
    .sort();
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.some((l) => l.startsWith('[error] upstream rejected request with error 2 while reading response header from upstream')));
  assert.ok(theirs.some((l) => l.startsWith('[error] upstream timed out (110: Connection timed out) while sending request to upstream')));
  assert.ok(theirs.some((l) => l.startsWith(`[error] connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "POST /dead.Svc/Unary HTTP/2.0", upstream: "grpc://127.0.0.1:${dead}"`)));
});
