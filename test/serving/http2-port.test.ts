// Differential: HTTP/1 on a `listen … ssl http2` port (clients that offer no h2 in ALPN, plain
// HTTP by mistake), which most certbot-made and hand-made HTTPS servers have. bext serves these
// with its own HTTP/1 connection handling, as on an `ssl` port: the same answers as nginx's,
// 497 for plain HTTP (and error_page 497 turning it into a redirect). A `listen … http2` port
// without ssl speaks HTTP/2 with prior knowledge only: HTTP/1 there is closed, with nginx's line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorLinesOf, h2Request, makeCert, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair, haveNginx } from './harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  const { cert, key } = await makeCert(mkdtempSync(join(tmpdir(), 'bext-h2port-')), 'h2.test');
  const site = makeSite({ 'index.html': '<p>home</p>\n', 'a/b.txt': 'bee\n' });
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@ ssl http2;
    server_name h2.test;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    root @SITE@;
    location /ret { return 200 "ret $scheme $server_protocol\\n"; }
  }
  server {
    listen 127.0.0.1:@P2@ ssl http2;
    server_name h2.test;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    error_page 497 https://$host:@P2@$request_uri;
    root @SITE@;
  }
  server {
    listen 127.0.0.1:@P3@ http2;
    server_name h2c.test;
    root @SITE@;
    location /ret { return 200 "ret $scheme $server_protocol $http_x_test\n"; }
  }`), site, ['P1', 'P2', 'P3']);
});

after(async () => {
  await pair?.stop();
});

const tls = { servername: 'h2.test' };
const cases: Case[] = [
  { name: 'GET / over TLS without h2', port: 'P1', target: '/', host: 'h2.test', tls },
  { name: 'a file', port: 'P1', target: '/a/b.txt', host: 'h2.test', tls },
  { name: 'HEAD', port: 'P1', method: 'HEAD', target: '/a/b.txt', host: 'h2.test', tls },
  { name: 'missing', port: 'P1', target: '/nope', host: 'h2.test', tls },
  { name: 'directory redirect', port: 'P1', target: '/a', host: 'h2.test', tls },
  { name: 'return with variables', port: 'P1', target: '/ret', host: 'h2.test', tls },
  { name: 'HTTP/1.0', port: 'P1', target: '/a/b.txt', host: 'h2.test', http10: true, tls },
  { name: 'bad request line', port: 'P1', raw: 'GET /a b c\r\nHost: h2.test\r\n\r\n', tls },
  { name: 'plain HTTP on the port: 497', port: 'P1', target: '/a/b.txt', host: 'h2.test' },
  { name: 'plain HTTP, error_page 497: redirect', port: 'P2', target: '/a/b.txt?x=1', host: 'h2.test' },
];

test('HTTP/1 on an ssl http2 port, TLS and plain: identical to nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const { unexpected } = report('http2 port', await runCases(pair!, cases));
  assert.deepEqual(unexpected, []);
});

/** One request over cleartext HTTP/2 (prior knowledge): status and body. */
const h2c = (port: number, path: string): Promise<string> => h2Request(port, path, { 'x-test': 'yes' }, { plain: true, authority: 'h2c.test' });

test('a plain http2 port: HTTP/2 with prior knowledge served, HTTP/1 closed with nginx\'s line', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const p = pair!;
  for (const path of ['/ret', '/a/b.txt', '/nope']) assert.equal(await h2c(p.bext.ports.P3!, path), await h2c(p.nginx.ports.P3!, path), path);
  assert.equal(await h2c(p.nginx.ports.P3!, '/ret'), '200 ret http HTTP/2.0 yes\n');
  // HTTP/1.1 there: no HTTP/1 answer, only HTTP/2 frames (their SETTINGS differ, as on any HTTP/2
  // connection: Node's defaults are not nginx's) and the close.
  const [o] = await runCases(p, [{ name: 'HTTP/1.1 on it: closed', port: 'P3', target: '/a/b.txt', host: 'h2c.test' }]);
  for (const side of [o!.nginx, o!.bext]) {
    assert.equal(side.status, 'closed');
    assert.ok(side.body.startsWith('\u0000\u0000'), JSON.stringify(side.body.slice(0, 20)));
  }
  const pick = (log: string) => log.split('\n').filter((l) => l.includes('invalid connection preface'))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT'));
  const [ours, theirs] = await errorLinesOf(p, pick);
  assert.deepEqual(ours, theirs);
  assert.equal(theirs.length, 1);
});
