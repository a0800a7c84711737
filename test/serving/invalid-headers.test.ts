// Differential: header lines nginx skips (ignore_invalid_headers, underscores_in_headers). A name
// with '_' or any character but letters, digits and '-' is dropped as if not sent: no $http_
// variable, not proxied, an info line in the error log, still counted in $request_length. Both
// flags are read from the server in effect at each line (the address's default server until a Host
// line selects another); over HTTP/2, the connection's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorLinesOf, freePort, haveNginx, makeCert, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair, h2Request } from './harness.ts';

let pair: Pair | undefined;
let upstream: Server | undefined;

before(async () => {
  if (!haveNginx) return;
  // Echoes the header names it was sent (the proxied request as the upstream sees it).
  const upPort = await freePort();
  upstream = createServer((req, res) => {
    const names: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) names.push(req.rawHeaders[i]!.toLowerCase());
    // With its length: node leaves it out for HTTP/1.0 requests (nginx's default proxy_http_version).
    const body = names.join(',') + '\n';
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  });
  await new Promise<void>((r) => upstream!.listen(upPort, '127.0.0.1', () => r()));
  const vars = 'return 200 "[$http_x_y][$http_x_ok][$request_length]\\n";';
  // HTTP/2's $request_length is not compared: nginx counts the compressed bytes, which node does not give.
  const h2vars = 'return 200 "[$http_x_y][$http_x_ok]\\n";';
  const certDir = mkdtempSync(join(tmpdir(), 'bext-invalid-headers-'));
  const { cert, key } = await makeCert(certDir, 'h2.test');
  const conf = wrapConfig(`
  server {
    listen 127.0.0.1:@P1@ default_server;
    server_name default.test;
    location / { ${vars} }
    location /up/ { proxy_pass http://127.0.0.1:${upPort}; }
  }
  server {
    listen 127.0.0.1:@P1@;
    server_name other.test;
    underscores_in_headers on;
    location / { ${vars} }
  }
  server {
    listen 127.0.0.1:@P2@ default_server;
    underscores_in_headers on;
    location / { ${vars} }
    location /up/ { proxy_pass http://127.0.0.1:${upPort}; }
  }
  server {
    listen 127.0.0.1:@P3@ default_server;
    ignore_invalid_headers off;
    location / { ${vars} }
    location /up/ { proxy_pass http://127.0.0.1:${upPort}; }
  }
  server {
    listen 127.0.0.1:@P4@ ssl http2 default_server;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location / { ${h2vars} }
    location /up/ { proxy_pass http://127.0.0.1:${upPort}; }
  }
  server {
    listen 127.0.0.1:@P5@ ssl http2 default_server;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    underscores_in_headers on;
    location / { ${h2vars} }
  }`);
  pair = await startPair(conf, makeSite({}), ['P1', 'P2', 'P3', 'P4', 'P5']);
});

after(async () => {
  await pair?.stop();
  upstream?.close();
});

const ODD: [string, string][] = [['X_Y', 'under'], ['X-Ok', 'ok'], ['X.Dot', 'dot'], ["X'Q", 'quote'], ['X~T', 'tilde']];

const CASES: Case[] = [
  { name: 'defaults: _ and other characters skipped, still counted', port: 'P1', target: '/', headers: ODD },
  { name: 'defaults: skipped lines are not proxied', port: 'P1', target: '/up/', headers: ODD },
  { name: 'a name-based server\'s underscores_in_headers is not the one the head is read under', port: 'P1', target: '/', host: 'other.test', headers: ODD },
  { name: 'underscores_in_headers on: _ kept, the rest skipped', port: 'P2', target: '/', headers: ODD },
  { name: 'underscores_in_headers on: proxied with _', port: 'P2', target: '/up/', headers: ODD },
  { name: 'ignore_invalid_headers off: every line kept', port: 'P3', target: '/', headers: ODD },
  { name: 'ignore_invalid_headers off: every line proxied', port: 'P3', target: '/up/', headers: ODD },
  { name: 'only a skipped line twice', port: 'P1', target: '/', headers: [['X_Y', 'a'], ['X_Y', 'b']] },
  // The Host line changes the server the next lines are read under; an absolute target's host does
  // from the start.
  { name: 'skipped before Host, kept after it', port: 'P1', target: '/', host: null, headers: [['X_Y', 'before'], ['Host', 'other.test'], ['X_Y', 'after']] },
  { name: 'an absolute target\'s host applies to every line', port: 'P1', target: 'http://other.test/', host: null, headers: [['X_Y', 'first'], ['Host', 'default.test']] },
];

/** One HTTP/2 GET with `headers` (lowercase names, as HTTP/2 sends them): status and body. */
const h2get = (port: number, path: string, headers: Record<string, string>): Promise<string> => h2Request(port, path, headers, { servername: 'h2.test' });

test('HTTP/2: header fields nginx skips are skipped alike', { skip: !haveNginx, timeout: 30_000 }, async () => {
  // Valid fields alone too: proxied, the pseudo-headers (:path …) are not headers for the upstream.
  for (const fields of [{ 'x-ok': 'ok' }, { x_y: 'under', 'x-ok': 'ok', 'x.dot': 'dot' }] as Record<string, string>[]) {
    for (const [port, path] of [['P4', '/'], ['P4', '/up/'], ['P5', '/']] as const) {
      const [n, b] = [await h2get(pair!.nginx.ports[port]!, path, fields), await h2get(pair!.bext.ports[port]!, path, fields)];
      assert.equal(b, n, `${port} ${path} ${JSON.stringify(fields)}`);
    }
  }
});

test('header lines nginx skips are skipped alike', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('invalid headers', outcomes);
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
  // The same info lines in both error logs.
  const lines = (log: string) => log.split('\n').filter((l) => l.includes('client sent invalid header'))
    .map((l) => l.replace(/^.*?\[info\] \d+#\d+: \*\d+ /, '').replace(/, client: .*$/, '')).sort();
  const [bextLines, nginxLines] = await errorLinesOf(pair!, lines);
  assert.ok(nginxLines.length >= 10, nginxLines.join('\n'));
  assert.deepEqual(bextLines, nginxLines);
});
