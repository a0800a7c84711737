// Differential: what bext cannot do fails closed, as nginx does when that part fails.
// - Upstream handlers with their backend down: nginx answers 502; bext answers 502 too, and never
//   the files under the location's root. Before bext had a client for them, such a location fell
//   through to the static handler: a PHP site's scripts, secrets included, went out as text.
//   fastcgi_pass, uwsgi_pass, scgi_pass (test/cgi/), memcached_pass (test/proxy/memcached.test.ts)
//   and grpc_pass (test/grpc/) are served now: with their backend down they answer 502 with
//   nginx's line, never the source.
// - auth_request with its authorization server down: 500, as nginx answers (auth-request.test.ts
//   tests it working).
// - ssl_verify_client on without a client certificate, and proxy_ssl_verify on to a dead upstream:
//   refused as nginx refuses them. (Both were failed closed this way before bext implemented them;
//   client-cert.test.ts and test/proxy/upstream-tls.test.ts test them working.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { haveNginx, refusedPort } from '../http/oracle.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorLinesOf, makeCert, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;
const SECRET = 'db-password-in-source';

before(async () => {
  if (!haveNginx) return;
  const dead = await refusedPort();
  const { cert, key } = await makeCert(mkdtempSync(join(tmpdir(), 'bext-fail-closed-')), 'mtls.test');
  const conf = wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    root @SITE@/www;
    index index.php index.html;
    location / { try_files $uri $uri/ /index.php?$args; }
    location ~ \\.php$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass 127.0.0.1:${dead};
    }
    location /uwsgi/ { include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:${dead}; }
    location /scgi/ { include /etc/nginx/scgi_params; scgi_pass 127.0.0.1:${dead}; }
    location /grpc/ { grpc_pass grpc://127.0.0.1:${dead}; }
    location /memcached/ { set $memcached_key $uri; memcached_pass 127.0.0.1:${dead}; }
    location /inif/ { if ($arg_x) { } fastcgi_pass 127.0.0.1:${dead}; }
    location /verified/ { proxy_pass https://127.0.0.1:${dead}; proxy_ssl_verify on; proxy_ssl_trusted_certificate ${cert}; }
    location /private/ {
      auth_request /auth;
      location /private/open/ { auth_request off; }
    }
    location = /auth { internal; proxy_pass http://127.0.0.1:${dead}; proxy_pass_request_body off; proxy_set_header Content-Length ""; }
  }
  server {
    listen 127.0.0.1:@P2@ ssl;
    root @SITE@/www;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_verify_client on;
    ssl_client_certificate ${cert};
  }`);
  const php = `<?php $password = "${SECRET}"; ?>\n`;
  pair = await startPair(conf, makeSite({
    'www/index.php': php, 'www/wp-config.php': php, 'www/static.html': 'static\n',
    'www/private/secret.txt': SECRET, 'www/private/open/x.txt': 'open\n',
    'www/uwsgi/app.py': `password = "${SECRET}"\n`, 'www/scgi/x': SECRET, 'www/grpc/x': SECRET, 'www/memcached/x': SECRET, 'www/inif/x.txt': SECRET,
  }), ['P1', 'P2']);
});

after(async () => {
  await pair?.stop();
});

const noSecret = (r: { body: Buffer }) => assert.ok(!r.body.toString('latin1').includes(SECRET), 'the source went out');

const CASES: Case[] = [
  { name: 'a PHP script: 502, not its source', port: 'P1', target: '/wp-config.php', check: noSecret },
  { name: 'the index through try_files', port: 'P1', target: '/', check: noSecret },
  { name: 'a missing page through try_files to index.php', port: 'P1', target: '/blog/post?p=1', check: noSecret },
  { name: 'a static file beside them', port: 'P1', target: '/static.html' },
  { name: 'uwsgi_pass', port: 'P1', target: '/uwsgi/app.py', check: noSecret },
  { name: 'scgi_pass', port: 'P1', target: '/scgi/x', check: noSecret },
  { name: 'grpc_pass', port: 'P1', target: '/grpc/x', check: noSecret },
  { name: 'memcached_pass', port: 'P1', target: '/memcached/x', check: noSecret },
  { name: 'fastcgi_pass with an if block in its location', port: 'P1', target: '/inif/x.txt?x=1', check: noSecret },
  { name: 'proxy_ssl_verify on', port: 'P1', target: '/verified/x' },
  { name: 'auth_request, its server down: 500, not the file', port: 'P1', target: '/private/secret.txt', check: noSecret },
  { name: 'auth_request off below it', port: 'P1', target: '/private/open/x.txt' },
  { name: 'ssl_verify_client on, no certificate sent', port: 'P2', target: '/static.html', tls: { servername: 'mtls.test' } },
];

test('what bext cannot do answers as nginx does when that part fails', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('fail closed', outcomes);
  assert.equal(outcomes.find((o) => o.c.port === 'P2')!.bext.status, 400);
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
  for (const o of outcomes) if (o.c.check) o.c.check(o.rawBext);
  assert.match(pair!.bext.errorLog(), /\[error\] \d+#\d+: \*\d+ connect\(\) failed \(111: Connection refused\) while connecting to upstream, client: 127\.0\.0\.1, server: [^,]*, request: "GET \/grpc\/x HTTP\/1\.1", upstream: "grpc:\/\/127\.0\.0\.1:\d+"/);
  assert.match(pair!.bext.errorLog(), /\[error\] \d+#\d+: \*\d+ connect\(\) failed \(111: Connection refused\) while connecting to upstream, client: 127\.0\.0\.1, server: [^,]*, request: "GET \/wp-config\.php HTTP\/1\.1", upstream: "fastcgi:\/\/127\.0\.0\.1:\d+"/);
  // The authorization subrequest's failure is logged with its URI (", subrequest: "/auth""), as nginx logs it.
  const pick = (log: string) => log.split('\n').filter((l) => l.includes('subrequest: ')).map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/:\d+\//g, ':PORT/'));
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.length > 0);
});
