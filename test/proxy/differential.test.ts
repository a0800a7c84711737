// proxy_pass against real nginx: the same config on both, the same echo upstreams behind them.
// Each case compares the status, selected response headers and the body (the echo's report of
// what the upstream received: method, URI, headers, body size and hash).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as netConnect, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { haveNginx, refusedPort } from '../http/oracle.ts';
import {
  startEcho, startOurs, startTheirs, send, sendChunked, upgradeExchange, dechunk,
  type Upstream, type Ours, type RawResponse,
} from './harness.ts';

let e1: Upstream;
let e2: Upstream;
let eu: Upstream;
const sockDir = mkdtempSync(join(tmpdir(), 'bext-proxy-sock-'));
let dead = 0;
let bad: TcpServer;
let badPort = 0;
/** When /bad/stall-late stopped taking the request (Date.now()). */
let stalledAt = 0;

/** An upstream that misbehaves on purpose, chosen by the request path. */
function startBad(): Promise<void> {
  bad = createTcpServer((sock) => {
    sock.on('error', () => sock.destroy());
    sock.once('data', (d) => {
      const path = d.toString('latin1').split(' ')[1] ?? '';
      if (path.startsWith('/bad/close')) sock.destroy();
      else if (path.startsWith('/bad/reset')) sock.resetAndDestroy();
      else if (path.startsWith('/bad/header')) sock.end('HTTP/1.1 200 OK\r\nBad Header Line\r\nContent-Length: 2\r\n\r\nok');
      else if (path.startsWith('/bad/status')) sock.end('HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\nok');
      else if (path.startsWith('/bad/short')) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      else if (path.startsWith('/bad/eof')) sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close');
      else if (path.startsWith('/bad/stall-late')) {
        // Takes the request slowly for 2.5 s, then no more of it; never answers.
        const until = Date.now() + 2500;
        sock.on('data', () => {
          sock.pause();
          if (Date.now() < until) setTimeout(() => sock.resume(), 20);
          else stalledAt = Date.now();
        });
      } else if (path.startsWith('/bad/stall')) sock.pause(); // takes no more of the request, never answers
    });
  });
  return new Promise((resolve) => bad.listen(0, '127.0.0.1', () => {
    badPort = (bad.address() as { port: number }).port;
    resolve();
  }));
}
let ours: Ours;
let theirs: Awaited<ReturnType<typeof startTheirs>>;

const CONF = (): string => `
  upstream named { server 127.0.0.1:${e1.port}; }
  server {
    listen 127.0.0.1:PORT;
    server_name localhost;
    proxy_set_header X-Srv srv;
    proxy_hide_header X-Hidden-Srv;
    location / { proxy_pass http://127.0.0.1:${e1.port}; }
    location /api/ { proxy_pass http://127.0.0.1:${e1.port}/v1/; }
    location /root/ { proxy_pass http://127.0.0.1:${e1.port}/; }
    location /noslash { proxy_pass http://127.0.0.1:${e1.port}/x; }
    location = /exact { proxy_pass http://127.0.0.1:${e1.port}/other; }
    location /rw/ { rewrite ^/rw/(.*)$ /new/$1 break; proxy_pass http://127.0.0.1:${e1.port}/v2/; }
    location /rwn/ { rewrite ^/rwn/(.*)$ /n/$1 break; proxy_pass http://127.0.0.1:${e1.port}; }
    location /last/ { rewrite ^/last/(.*)$ /api/$1 last; }
    location ~ ^/re/ { proxy_pass http://127.0.0.1:${e1.port}; }
    location /var/ { set $t 127.0.0.1:${e1.port}; proxy_pass http://$t; }
    location /varuri/ { set $t 127.0.0.1:${e1.port}; proxy_pass http://$t/fixed$is_args$args; }
    location /hdrs/ {
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Proxy $proxy_host:$proxy_port;
      proxy_set_header X-Empty "";
      proxy_set_header User-Agent "";
      proxy_pass http://127.0.0.1:${e1.port};
    }
    location /host/ { proxy_set_header Host $host; proxy_pass http://127.0.0.1:${e1.port}; }
    location /named/ { proxy_pass http://named; }
    location /named-uri/ { proxy_pass http://named/u/; }
    location /nohdr/ { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:${e1.port}; }
    location /redir/ { proxy_pass http://127.0.0.1:${e1.port}/; }
    location /redir-off/ { proxy_redirect off; proxy_pass http://127.0.0.1:${e1.port}/; }
    location /redir-x/ { proxy_redirect http://127.0.0.1:${e1.port}/ /mapped/; proxy_pass http://127.0.0.1:${e1.port}/; }
    location /redir-re/ { proxy_redirect ~^http://[^/]+/(.*)$ /re-mapped/$1; proxy_pass http://127.0.0.1:${e1.port}/; }
    location /redir-nouri/ { proxy_pass http://127.0.0.1:${e1.port}; }
    location /ws/ {
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_pass http://127.0.0.1:${e1.port};
    }
    location /refused/ { proxy_pass http://127.0.0.1:${dead}; }
    location /timeout/ { proxy_read_timeout 1s; proxy_pass http://127.0.0.1:${e1.port}; }
    location /addhdr/ { add_header X-Added yes; add_header X-Always yes always; proxy_pass http://127.0.0.1:${e1.port}; }
    location /hide/ { proxy_hide_header X-Powered-By; proxy_pass_header Server; proxy_pass http://127.0.0.1:${e1.port}; }
    location /intercept/ { proxy_intercept_errors on; error_page 404 =200 /handled; proxy_pass http://127.0.0.1:${e1.port}; }
    location = /handled { return 200 "handled\\n"; }
    location /errpage/ { error_page 502 /handled; proxy_pass http://127.0.0.1:${dead}; }
    location /inh/ { proxy_set_header X-Loc loc; proxy_pass http://127.0.0.1:${e1.port}; }
    location /ignore/ { proxy_ignore_headers X-Accel-Redirect; proxy_pass http://127.0.0.1:${e1.port}/; }
    location @named { return 200 "named\n"; }
    location /stream/ { proxy_request_buffering off; proxy_buffering off; proxy_pass http://127.0.0.1:${e1.port}/; }
    location /stream11/ { proxy_request_buffering off; proxy_http_version 1.1; proxy_pass http://127.0.0.1:${e1.port}/; }
    location /setbody/ { proxy_set_body "k=$arg_v"; proxy_set_header Content-Type application/x-www-form-urlencoded; proxy_pass http://127.0.0.1:${e1.port}/; }
    location /method/ { proxy_method PROPFIND; proxy_pass http://127.0.0.1:${e1.port}/; }
    location /methodvar/ { proxy_method $arg_m; proxy_pass http://127.0.0.1:${e1.port}/; }
    location /unix/ { proxy_pass http://unix:${join(sockDir, 'echo.sock')}:/u/; }
    location /unixnouri/ { proxy_pass http://unix:${join(sockDir, 'echo.sock')}; }
    location /tf/ { root /nonexistent; try_files $uri @backend; }
    location @backend { proxy_pass http://127.0.0.1:${e1.port}; }
    location /ep/ { error_page 404 = @backend; return 404; }
    location /epuri/ { error_page 404 /api/from-error; return 404; }
    location /bad/ { proxy_pass http://127.0.0.1:${badPort}; }
    location /bad/stall { client_max_body_size 64m; proxy_send_timeout 1s; proxy_read_timeout 30s; proxy_pass http://127.0.0.1:${badPort}; }
    location /bad/stall11 {
      client_max_body_size 64m; proxy_request_buffering off; proxy_http_version 1.1;
      proxy_send_timeout 1s; proxy_read_timeout 30s; proxy_pass http://127.0.0.1:${badPort};
    }
    location /slowbody/ {
      proxy_request_buffering off; proxy_http_version 1.1; proxy_send_timeout 1s; proxy_read_timeout 1s;
      proxy_pass http://127.0.0.1:${e1.port}/;
    }
    location /v11/ { proxy_http_version 1.1; proxy_pass http://127.0.0.1:${e2.port}; }
  }
`;

before(async () => {
  if (!haveNginx) return;
  e1 = await startEcho();
  e2 = await startEcho();
  eu = await startEcho(undefined, join(sockDir, 'echo.sock'));
  dead = await refusedPort();
  await startBad();
  ours = await startOurs(CONF());
  theirs = await startTheirs(CONF());
});

after(async () => {
  await ours?.stop();
  await theirs?.stop();
  await e1?.stop();
  await e2?.stop();
  await eu?.stop();
  rmSync(sockDir, { recursive: true, force: true });
  bad?.close();
});

/** Headers whose values must agree (Server/Date/Connection are compared by presence only). */
const COMPARED = ['content-type', 'content-length', 'location', 'refresh', 'x-port', 'x-added', 'x-always', 'x-powered-by', 'set-cookie', 'x-pad', 'x-accel-buffering', 'cache-control', 'upgrade', 'x-hidden-srv'];

function normalise(r: RawResponse, port: number): string {
  const lines = r.headerLines
    .filter((l) => COMPARED.includes(l.slice(0, l.indexOf(':')).toLowerCase()) || /^server:/i.test(l))
    .map((l) => (/^server:/i.test(l) ? `Server: ${l.includes('nginx') ? 'nginx' : l.slice(8)}` : l))
    .map((l) => l.replaceAll(`:${port}`, ':PORT'))
    .sort();
  let body = dechunk(r).toString('latin1');
  try {
    const j = JSON.parse(body);
    // undici writes Host and Connection first: header order is not compared (see README).
    if (j.headers) j.headers = Object.fromEntries(Object.entries(j.headers).sort(([x], [y]) => (x < y ? -1 : 1)));
    body = JSON.stringify(j, null, 1).replaceAll(`:${port}`, ':PORT');
  } catch { /* not the echo's JSON */ }
  return [String(r.status), ...lines, '', body].join('\n');
}

/** `status`: what both must answer, so a case cannot pass by failing the same way on both sides. */
type Case = { name: string; method?: string; target: string; headers?: string[]; body?: Buffer | string; status?: number };

const MIB = Buffer.alloc(1024 * 1024, 0x62);

const CASES: Case[] = [
  // URI mapping without a URI part: the raw request URI goes through unchanged.
  { name: 'plain', target: '/' },
  { name: 'path', target: '/a/b/c' },
  { name: 'args', target: '/a?x=1&y=%20z' },
  { name: 'encoded', target: '/a%20b/%41%2Fc' },
  { name: 'dot segments', target: '/a/./b/../c' },
  { name: 'double slash', target: '//a//b' },
  { name: 'plus', target: '/a+b?c+d' },
  { name: 'utf8', target: '/%E2%82%AC/x' },
  { name: 'semicolon', target: '/a;b=c/d' },
  { name: 'raw quote', target: '/a"b' },
  // With a URI part: the location prefix is replaced in the normalised URI.
  { name: 'api', target: '/api/x', status: 200 },
  { name: 'api args', target: '/api/x/y?q=1' },
  { name: 'api encoded', target: '/api/a%20b%3F?k=%2F' },
  { name: 'api dots', target: '/api/a/../b' },
  { name: 'api slash', target: '/api/' },
  { name: 'api auto redirect', target: '/api', status: 301 },
  { name: 'api auto redirect args', target: '/api?x=1' },
  { name: 'root', target: '/root/deep/path' },
  { name: 'root utf8', target: '/root/%E2%82%AC' },
  { name: 'noslash', target: '/noslash/more' },
  { name: 'noslash bare', target: '/noslash' },
  { name: 'exact', target: '/exact' },
  { name: 'exact args', target: '/exact?a=b' },
  { name: 'rewrite break with uri', target: '/rw/thing?z=1' },
  { name: 'rewrite break without uri', target: '/rwn/thing%20x?z=1' },
  { name: 'rewrite last', target: '/last/y?k=v' },
  { name: 'regex location', target: '/re/x%20y?a' },
  { name: 'variable host', target: '/var/p?q', status: 200 },
  { name: 'variable uri', target: '/varuri/p?q=2' },
  { name: 'variable uri no args', target: '/varuri/p' },
  { name: 'named upstream', target: '/named/x?y', status: 200 },
  { name: 'named upstream uri', target: '/named-uri/x?y' },
  // Headers the upstream sees.
  { name: 'client headers', target: '/h', headers: ['X-Custom: 1', 'Accept: */*', 'User-Agent: t/1'] },
  { name: 'hop by hop', target: '/h', headers: ['Connection: keep-alive, X-Foo', 'Keep-Alive: 300', 'TE: trailers', 'Upgrade: h2c', 'Expect: x'] },
  { name: 'duplicate headers', target: '/h', headers: ['X-Dup: a', 'X-Dup: b', 'Cookie: a=1', 'Cookie: b=2'] },
  { name: 'set headers', target: '/hdrs/x', headers: ['User-Agent: t/1', 'X-Empty: client'] },
  { name: 'xff appended', target: '/hdrs/x', headers: ['X-Forwarded-For: 10.0.0.1', 'X-Forwarded-For: 10.0.0.2'] },
  { name: 'host header', target: '/host/x', headers: ['Host: Example.COM:8080'] },
  { name: 'default host', target: '/x', headers: ['Host: other.test'] },
  { name: 'named host', target: '/named/x' },
  { name: 'pass headers off', target: '/nohdr/x', headers: ['X-Custom: 1'] },
  { name: 'inherited set header', target: '/x' },
  { name: 'overriding set header', target: '/inh/x' },
  { name: 'http 1.1', target: '/v11/x', headers: ['X-A: b'] },
  // Methods and bodies.
  { name: 'head', method: 'HEAD', target: '/x' },
  { name: 'delete', method: 'DELETE', target: '/x' },
  { name: 'options', method: 'OPTIONS', target: '/x' },
  { name: 'post empty', method: 'POST', target: '/x', headers: ['Content-Length: 0'] },
  { name: 'post small', method: 'POST', target: '/api/p', headers: ['Content-Length: 5', 'Content-Type: text/plain'], body: 'hello' },
  { name: 'put 1 MiB', method: 'PUT', target: '/x', headers: [`Content-Length: ${MIB.length - 1}`], body: MIB.subarray(1), status: 200 },
  { name: 'post too large', method: 'POST', target: '/x', headers: [`Content-Length: ${MIB.length + 1}`], body: '', status: 413 },
  // Responses.
  { name: 'status 404', target: '/status/404' },
  { name: 'status 500', target: '/status/500' },
  { name: 'status 204', target: '/status/204' },
  { name: 'status 304', target: '/status/304' },
  { name: 'status 418', target: '/status/418' },
  { name: 'hidden headers', target: '/hdr' },
  { name: 'hide and pass', target: '/hide/hdr' },
  { name: 'add_header 200', target: '/addhdr/x' },
  { name: 'add_header 404', target: '/addhdr/status/404' },
  { name: 'big body', target: '/big/300000' },
  { name: 'intercept 404', target: '/intercept/status/404', status: 200 },
  { name: 'intercept 500 passes', target: '/intercept/status/500' },
  // proxy_redirect.
  { name: 'redirect default', target: '/redir/redirect/a/b', status: 302 },
  { name: 'redirect default other', target: '/redir/redirect/' },
  { name: 'redirect off', target: '/redir-off/redirect/a' },
  { name: 'redirect explicit', target: '/redir-x/redirect/a' },
  { name: 'redirect regex', target: '/redir-re/redirect/a?b' },
  { name: 'redirect without uri', target: '/redir-nouri/redirect/z' },
  { name: 'redirect passes foreign', target: '/redirect/q' },
  // X-Accel-Redirect, request body handling.
  { name: 'x-accel-redirect', target: '/xaccel?to=/handled', status: 200 },
  { name: 'x-accel-redirect to proxy', target: '/xaccel?to=/api/z%3Fy' },
  { name: 'x-accel-redirect named', target: '/xaccel?to=@named' },
  { name: 'x-accel-redirect ignored', target: '/ignore/xaccel?to=/handled' },
  { name: 'x-accel-redirect post', method: 'POST', target: '/xaccel?to=/api/p', headers: ['Content-Length: 3'], body: 'abc' },
  { name: 'unbuffered 1 MiB', method: 'PUT', target: '/stream/x', headers: [`Content-Length: ${MIB.length}`], body: MIB, status: 200 },
  { name: 'unbuffered empty', method: 'POST', target: '/stream/x', headers: ['Content-Length: 0'] },
  { name: 'unbuffered response', target: '/stream/big/200000' },
  { name: 'set body', method: 'POST', target: '/setbody/x?v=1', headers: ['Content-Length: 3'], body: 'abc', status: 200 },
  { name: 'set body get', target: '/setbody/x?v=2' },
  { name: 'proxy_method', target: '/method/x', status: 200 },
  { name: 'proxy_method, a body', method: 'POST', target: '/method/x', headers: ['Content-Length: 3'], body: 'abc', status: 200 },
  { name: 'proxy_method from a variable', target: '/methodvar/x?m=DELETE', status: 200 },
  { name: 'proxy_method, HEAD from the client', method: 'HEAD', target: '/method/x' },
  // Internal redirects into proxied locations.
  { name: 'try_files to named', target: '/tf/a%41/./b?x=%20', status: 200 },
  { name: 'error_page to named', target: '/ep/a%41/./b?x=1', status: 200 },
  // error_page without `=`: the proxied answer keeps the error's status (r->err_status).
  { name: 'error_page to uri', target: '/epuri/a?x=1', status: 404 },
  { name: 'error_page to uri post', method: 'POST', target: '/epuri/a', headers: ['Content-Length: 2'], body: 'zz', status: 404 },
  // Failures.
  { name: 'refused', target: '/refused/x', status: 502 },
  { name: 'refused post', method: 'POST', target: '/refused/x', headers: ['Content-Length: 2'], body: 'ab' },
  { name: 'refused error_page', target: '/errpage/x' },
  { name: 'read timeout', target: '/timeout/slow/2500', status: 504 },
  { name: 'upstream closes', target: '/bad/close', status: 502 },
  { name: 'upstream resets', target: '/bad/reset' },
  { name: 'upstream bad header line', target: '/bad/header' },
  { name: 'upstream body until close', target: '/bad/eof' },
  { name: 'upstream body cut short', target: '/bad/short', status: 200 },
  { name: 'unix socket', target: '/unix/a?b', status: 200 },
  { name: 'unix socket no uri', target: '/unixnouri/a?b', headers: ['X-Y: z'], status: 200 },
  { name: 'within timeout', target: '/timeout/slow/100' },
];

/**
 * Differences on purpose, checked separately below:
 * - an upstream status line nginx cannot parse (`HTTP/1.1 abc OK`): nginx passes the raw bytes on
 *   as an HTTP/0.9 response; we answer 502 (same error-log line).
 * - `upstream sent invalid header: "Bad\x20..."`: nginx quotes the start of the bad line; the
 *   parser we use does not give it back, so our line stops at `invalid header`.
 * - header order seen by the upstream: undici writes Host and Connection first.
 */
test('proxy_pass answers like nginx', { skip: !haveNginx, timeout: 50_000 }, async () => {
  const failures: string[] = [];
  for (const c of CASES) {
    const method = c.method ?? 'GET';
    const ra = await send(theirs.port, method, c.target, c.headers, c.body ?? '');
    const rb = await send(ours.port, method, c.target, c.headers, c.body ?? '');
    if (c.status !== undefined && (ra.status !== c.status || rb.status !== c.status)) {
      failures.push(`${c.name}: expected ${c.status}, nginx ${ra.status}, ours ${rb.status}`);
      continue;
    }
    const a = normalise(ra, theirs.port);
    const b = normalise(rb, ours.port);
    if (a !== b) failures.push(`${c.name}: ${method} ${c.target}\n--- nginx\n${a}\n--- ours\n${b}`);
  }
  assert.equal(failures.length, 0, `${failures.length}/${CASES.length} differ\n` + failures.join('\n\n'));
});

test('chunked request bodies are sent with a Content-Length', { skip: !haveNginx }, async () => {
  for (const target of ['/chunk', '/stream11/chunk']) {
    for (const pieces of [[Buffer.from('abc'), Buffer.from('defgh')], [MIB.subarray(0, 300_000), MIB.subarray(0, 5)], []]) {
      const a = normalise(await sendChunked(theirs.port, target, pieces), theirs.port);
      const b = normalise(await sendChunked(ours.port, target, pieces), ours.port);
      assert.equal(b, a, target);
    }
  }
});

test('websocket upgrade is tunnelled', { skip: !haveNginx }, async () => {
  const a = await upgradeExchange(theirs.port, '/ws/chat', 'hello');
  const b = await upgradeExchange(ours.port, '/ws/chat', 'hello');
  const pick = (h: string) => h.split('\r\n').filter((l) => /^(HTTP|upgrade|connection|x-up)/i.test(l)).map((l) => l.replace(/\d{4,5}$/, 'N')).sort().join('\n');
  assert.equal(pick(b.head), pick(a.head));
  assert.equal(b.data, a.data);
  assert.equal(b.data, 'echo:hello');
  // Without the Upgrade/Connection settings nginx does not upgrade: the echo answers normally.
  const c = await upgradeExchange(theirs.port, '/plain-ws', 'x');
  const d = await upgradeExchange(ours.port, '/plain-ws', 'x');
  assert.equal(d.head.split('\r\n')[0], c.head.split('\r\n')[0]);
});

test('an unreadable status line is a 502 here (nginx: HTTP/0.9 passthrough)', { skip: !haveNginx }, async () => {
  assert.equal((await send(ours.port, 'GET', '/bad/status')).status, 502);
  await send(theirs.port, 'GET', '/bad/status');
});

test('proxy_send_timeout: an upstream that stops taking the request body', { skip: !haveNginx }, async () => {
  // More than the loopback socket buffers hold (a few MiB each way), so the send stalls.
  const body = Buffer.alloc(24 * 1024 * 1024, 0x78);
  for (const port of [theirs.port, ours.port]) {
    const t0 = Date.now();
    const r = await send(port, 'POST', '/bad/stall', [`Content-Length: ${body.length}`], body);
    const took = Date.now() - t0;
    assert.equal(r.status, 504, `port ${port}`);
    // proxy_send_timeout (1s) ends it, not proxy_read_timeout (30s).
    assert.ok(took < 10_000, `port ${port}: ${took} ms`);
  }
});

test('proxy_send_timeout runs from the upstream\'s last taken byte, not from the start of the send', { skip: !haveNginx }, async () => {
  const body = Buffer.alloc(24 * 1024 * 1024, 0x78);
  for (const port of [theirs.port, ours.port]) {
    stalledAt = 0;
    const r = await send(port, 'POST', '/bad/stall-late', [`Content-Length: ${body.length}`], body);
    const after = Date.now() - stalledAt;
    assert.equal(r.status, 504, `port ${port}`);
    assert.ok(stalledAt > 0, `port ${port}: the upstream never stopped reading`);
    // proxy_send_timeout (1s) after the proxy's last write went through, which is before the
    // upstream stopped reading by however long the upstream took to read what its socket held:
    // here nginx answers 0.6-1.0 s after that stop; a timer counted from the start of the send, or
    // looked at only once per timeout, answers up to 2 timeouts after the last write.
    assert.ok(after > 0 && after < 1400, `port ${port}: 504 ${after} ms after the upstream stopped reading`);
  }
});

test('proxy_send_timeout on a streamed chunked body (undici): an upstream that stops taking it', { skip: !haveNginx }, async () => {
  const pieces = Array.from({ length: 24 }, () => MIB);
  for (const port of [theirs.port, ours.port]) {
    const t0 = Date.now();
    const r = await sendChunked(port, '/bad/stall11', pieces);
    const took = Date.now() - t0;
    assert.equal(r.status, 504, `port ${port}`);
    assert.ok(took < 10_000, `port ${port}: ${took} ms`);
  }
});

/** A request whose body comes in `n` pieces `gapMs` apart (chunked, or with its Content-Length). */
function slowBody(port: number, target: string, n: number, gapMs: number, chunked: boolean): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', reject);
    s.on('close', () => {
      const raw = Buffer.concat(got);
      const sep = raw.indexOf('\r\n\r\n');
      const lines = raw.subarray(0, sep).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(lines[0]!.split(' ')[1]), statusLine: lines[0]!, headers, headerLines: lines.slice(1), body: raw.subarray(sep + 4), raw });
    });
    s.write(`POST ${target} HTTP/1.1\r\nHost: localhost\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${5 * n}`}\r\nConnection: close\r\n\r\n`);
    let sent = 0;
    const next = (): void => {
      if (s.destroyed) return;
      if (sent++ < n) {
        s.write(chunked ? '5\r\nhello\r\n' : 'hello');
        setTimeout(next, gapMs);
      } else if (chunked) s.write('0\r\n\r\n');
    };
    next();
  });
}

test('a streamed body the client sends slowly: neither proxy_send_timeout nor proxy_read_timeout runs while the upstream waits for it', { skip: !haveNginx, timeout: 60_000 }, async () => {
  // nginx's write timer runs only while the upstream holds the request back, and its read timer
  // only once the whole request is sent: a client slower than both (1 s here) is still served.
  for (const [n, gap, chunked] of [[6, 400, true], [2, 2500, true], [2, 2500, false]] as const) {
    const a = await slowBody(theirs.port, '/slowbody/x', n, gap, chunked);
    const b = await slowBody(ours.port, '/slowbody/x', n, gap, chunked);
    assert.equal(a.status, 200, `nginx ${n}x${gap} chunked=${chunked}`);
    assert.equal(normalise(b, ours.port), normalise(a, theirs.port), `${n}x${gap} chunked=${chunked}`);
  }
});

test('error log lines match nginx', { skip: !haveNginx }, async () => {
  const strip = (l: string) => l.replace(/^.*?\] \d+#\d+: \*\d+ /, '').replace(/127\.0\.0\.1:\d+/g, 'ADDR').replace(/host: "[^"]*"/, 'host');
  const theirLog = readFileSync(join(theirs.prefix, 'logs', 'error.log'), 'latin1').split('\n')
    .filter((l) => /upstream/.test(l)).map(strip).map((l) => l.replace(/invalid header: "[^"]*"/, 'invalid header'));
  const ourLog = ours.errorLines().filter((l) => /upstream/.test(l)).map(strip);
  assert.deepEqual(ourLog, theirLog);
  assert.ok(theirLog.some((l) => l.startsWith('connect() failed (111: Connection refused) while connecting to upstream')));
  assert.ok(theirLog.some((l) => l.startsWith('upstream timed out (110: Connection timed out) while reading response header from upstream')));
  assert.ok(theirLog.some((l) => l.startsWith('upstream timed out (110: Connection timed out) while sending request to upstream')));
});
