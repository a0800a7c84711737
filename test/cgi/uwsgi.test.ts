// Differential: uwsgi_pass and scgi_pass to a real uWSGI application server (Python WSGI), nginx
// and bext on the same configuration (Debian's uwsgi_params and scgi_params): the environ the app
// sees, bodies in memory and spooled to a file, the answer's status line and headers in order, a
// relative Location, a 1 MiB answer, Content-Length, HEAD, uwsgi://, *_param over client headers,
// *_pass_request_headers off, an application that is down (with its error lines).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { errorLinesOf, freePort, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from '../serving/harness.ts';
import { haveUwsgi, startUwsgi, type UwsgiApp } from './uwsgi-app.ts';

const skip = !haveNginx || !haveUwsgi;
let pair: Pair | undefined;
let app: UwsgiApp | undefined;

before(async () => {
  if (skip) return;
  app = await startUwsgi(await freePort(), await freePort());
  const down = await freePort();
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    server_name localhost;
    root @SITE@;
    location /uw/ { include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:${app.uwsgi}; }
    location /uwscheme/ { include /etc/nginx/uwsgi_params; uwsgi_pass uwsgi://127.0.0.1:${app.uwsgi}; }
    location /uwparams/ {
      include /etc/nginx/uwsgi_params;
      uwsgi_param HTTP_X_TEST "overridden";
      uwsgi_param HTTP_USER_AGENT "";
      uwsgi_param EXTRA "$request_method $uri" if_not_empty;
      uwsgi_pass 127.0.0.1:${app.uwsgi};
    }
    location /uwnoheaders/ { include /etc/nginx/uwsgi_params; uwsgi_pass_request_headers off; uwsgi_pass 127.0.0.1:${app.uwsgi}; }
    location /uwerrors/ { include /etc/nginx/uwsgi_params; uwsgi_intercept_errors on; error_page 404 /nf.txt; uwsgi_pass 127.0.0.1:${app.uwsgi}; }
    location /uwdown/ { include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:${down}; }
    location /sc/ { include /etc/nginx/scgi_params; scgi_pass 127.0.0.1:${app.scgi}; }
    location /scdown/ { include /etc/nginx/scgi_params; scgi_pass 127.0.0.1:${down}; }
  }`), makeSite({ 'nf.txt': 'not found page\n' }), ['P1']);
});

after(async () => {
  await pair?.stop();
  await app?.stop();
});

const get = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P1', target, compare: ['set-cookie', 'x-app', 'x-later'], ...extra });
const BIG = 'u'.repeat(200_000);

const cases: Case[] = [
  get('uwsgi: the environ', '/uw/env?a=1&b=%20x', { headers: [['X-Test', 'yes'], ['Cookie', 'c=1']] }),
  get('uwsgi: a form POST', '/uw/post', { method: 'POST', headers: [['Content-Type', 'application/x-www-form-urlencoded']], body: 'field=1&other=two' }),
  get('uwsgi: a body spooled to a file', '/uw/big-post', { method: 'POST', headers: [['Content-Type', 'text/plain']], body: BIG }),
  get('uwsgi: a status line of its own', '/uw/status'),
  get('uwsgi: a relative Location', '/uw/redirect'),
  get('uwsgi: 1 MiB', '/uw/big'),
  get('uwsgi: Content-Length', '/uw/length'),
  get('uwsgi: HEAD', '/uw/env', { method: 'HEAD' }),
  get('uwsgi: a header sent twice', '/uw/env', { headers: [['X-Multi', 'one'], ['X-Multi', 'two']] }),
  get('uwsgi: uwsgi:// in uwsgi_pass', '/uwscheme/env'),
  get('uwsgi: uwsgi_param over client headers', '/uwparams/env', { headers: [['X-Test', 'client'], ['User-Agent', 'ua/1']] }),
  get('uwsgi: uwsgi_pass_request_headers off', '/uwnoheaders/env', { headers: [['X-Test', 'client']] }),
  get('uwsgi: uwsgi_intercept_errors', '/uwerrors/status'),
  get('uwsgi: the application is down', '/uwdown/x'),
  get('scgi: the environ', '/sc/env?a=1', { headers: [['X-Test', 'yes']] }),
  get('scgi: a POST', '/sc/post', { method: 'POST', headers: [['Content-Type', 'text/plain']], body: 'scgi body' }),
  get('scgi: a body spooled to a file', '/sc/big-post', { method: 'POST', headers: [['Content-Type', 'text/plain']], body: BIG }),
  get('scgi: a status line of its own', '/sc/status'),
  get('scgi: 1 MiB', '/sc/big'),
  get('scgi: the application is down', '/scdown/x'),
];

test('uwsgi_pass and scgi_pass to uWSGI: identical to nginx', { skip, timeout: 120_000 }, async () => {
  const outcomes = await runCases(pair!, cases, 2);
  const { unexpected } = report('uwsgi/scgi', outcomes);
  assert.deepEqual(unexpected, []);
  for (const o of outcomes) assert.equal(typeof o.nginx.status, 'number', `${o.c.name}: ${o.nginx.status}`);
  assert.match(outcomes[0]!.nginx.body, /HTTP_X_TEST=yes/);
  assert.match(outcomes[2]!.nginx.body, /body=200000 /);
  assert.match(outcomes[14]!.nginx.body, /SCGI=1/);
  assert.equal(outcomes[13]!.nginx.status, 502);
});

test('uwsgi_pass and scgi_pass: the error lines are nginx\'s', { skip, timeout: 30_000 }, async () => {
  const pick = (log: string) => log.split('\n')
    .filter((l) => /connect\(\)|no live upstreams|timed out|upstream sent|prematurely/.test(l))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT'))
    .sort();
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.some((l) => l.includes('uwsgi://')) && theirs.some((l) => l.includes('scgi://')));
});
