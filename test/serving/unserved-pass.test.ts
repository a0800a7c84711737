// Differential: locations whose handler bext has no client for (fastcgi_pass, uwsgi_pass,
// scgi_pass, grpc_pass, memcached_pass). Their backends here refuse connections, so nginx answers
// 502; bext answers 502 too, and never the files under the location's root. Before, such a location
// fell through to the static handler: a PHP site's scripts, secrets included, went out as text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { haveNginx, refusedPort } from '../http/oracle.ts';
import { makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;
const SECRET = 'db-password-in-source';

before(async () => {
  if (!haveNginx) return;
  const dead = await refusedPort();
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
  }`);
  const php = `<?php $password = "${SECRET}"; ?>\n`;
  pair = await startPair(conf, makeSite({
    'www/index.php': php, 'www/wp-config.php': php, 'www/static.html': 'static\n',
    'www/uwsgi/app.py': `password = "${SECRET}"\n`, 'www/scgi/x': SECRET, 'www/grpc/x': SECRET, 'www/memcached/x': SECRET, 'www/inif/x.txt': SECRET,
  }), ['P1']);
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
];

test('handlers bext does not implement answer 502, as nginx with its backend down', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('unserved pass', outcomes);
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
  for (const o of outcomes) if (o.c.check) o.c.check(o.rawBext);
  assert.match(pair!.bext.errorLog(), /\[error\] \d+#\d+: \*\d+ fastcgi_pass is not supported by bext-masquerade: the request was not passed, client: 127\.0\.0\.1/);
});
