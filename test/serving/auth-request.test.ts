// Differential: auth_request and auth_request_set, against real nginx with an authorization
// server in this process: allowed (a variable from its answer), refused with 401 (its challenge
// passed on) and 403, an unexpected status (500), an authorization location that answers itself
// (return), one that does not exist, satisfy any, and the subrequest the server sees (method,
// URI, headers).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorLinesOf, haveNginx, makeSite, report, runCases, send, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;
let auth: Server | undefined;

before(async () => {
  if (!haveNginx) return;
  auth = createServer((req, res) => {
    const seen = `${req.method} ${req.url} orig=${req.headers['x-original-uri']} cl=${req.headers['content-length'] ?? '-'} cookie=${req.headers.cookie ?? '-'}`;
    res.setHeader('X-Seen', seen);
    const token = req.headers['x-token'];
    if (token === 'good') {
      res.setHeader('X-User', 'alice');
      res.end();
    } else if (token === 'forbidden') {
      res.statusCode = 403;
      res.end();
    } else if (token === 'odd') {
      res.statusCode = 302;
      res.setHeader('Location', '/login');
      res.end();
    } else {
      res.statusCode = 401;
      res.setHeader('WWW-Authenticate', ['Bearer realm="api"', 'Basic realm="x"']);
      res.end('no');
    }
  });
  await new Promise<void>((r) => auth!.listen(0, '127.0.0.1', r));
  const port = (auth.address() as AddressInfo).port;
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    root @SITE@;
    location /private/ {
      auth_request /auth;
      auth_request_set $user $upstream_http_x_user;
      auth_request_set $seen $upstream_http_x_seen;
      add_header X-User $user always;
      add_header X-Seen $seen always;
    }
    location = /auth {
      internal;
      proxy_pass http://127.0.0.1:${port}/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
    }
    location /self/ { auth_request /auth-self; }
    location = /auth-self { return 204; }
    location /deny/ { auth_request /auth-deny; }
    location = /auth-deny { return 403; }
    location /missing/ { auth_request /nowhere/at/all; }
    location /delayed/ { auth_request /auth; auth_delay 600ms; }
    location /any/ {
      satisfy any;
      allow 10.0.0.0/8;
      deny all;
      auth_request /auth;
    }
  }`), makeSite({ 'delayed/a.txt': 'd\n', 'private/a.txt': 'secret\n', 'self/a.txt': 'self\n', 'deny/a.txt': 'no\n', 'missing/a.txt': 'm\n', 'any/a.txt': 'any\n' }), ['P1']);
});

after(async () => {
  await pair?.stop();
  auth?.close();
});

const get = (name: string, target: string, headers: [string, string][] = []): Case => ({
  name, port: 'P1', target, headers, compare: ['x-user', 'x-seen', 'www-authenticate'],
});

const cases: Case[] = [
  get('allowed, with a variable from the answer', '/private/a.txt?x=1', [['X-Token', 'good'], ['Cookie', 'sid=1']]),
  get('refused: 401 and its challenges', '/private/a.txt', [['X-Token', 'bad']]),
  get('refused: 403', '/private/a.txt', [['X-Token', 'forbidden']]),
  get('an unexpected status: 500', '/private/a.txt', [['X-Token', 'odd']]),
  { ...get('a POST: the subrequest is a GET without the body', '/private/a.txt', [['X-Token', 'good']]), method: 'POST', body: 'field=1' },
  get('the authorization location answers itself', '/self/a.txt'),
  get('and refuses', '/deny/a.txt'),
  get('no such location', '/missing/a.txt'),
  get('satisfy any, the address refused, authorized', '/any/a.txt', [['X-Token', 'good']]),
  get('satisfy any, both refuse: 401 wins', '/any/a.txt', [['X-Token', 'bad']]),
];

test('auth_request: identical to nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, cases);
  const { unexpected } = report('auth_request', outcomes);
  assert.deepEqual(unexpected, []);
  assert.equal(outcomes[0]!.nginx.status, 200);
  assert.ok(!outcomes[1]!.bext.body.toString().includes('secret'));
  const pick = (log: string) => log.split('\n').filter((l) => l.includes('auth request')).map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] '));
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.equal(theirs.length, 2);
});

test('auth_delay holds a 401 back, and only a 401, as nginx does', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const p = pair!;
  const timed = async (port: number, token: string) => {
    const started = Date.now();
    const r = await send(port, `GET /delayed/a.txt HTTP/1.0\r\nHost: localhost\r\nX-Token: ${token}\r\n\r\n`);
    return { status: r.status, ms: Date.now() - started };
  };
  for (const [token, status, slow] of [['bad', 401, true], ['forbidden', 403, false], ['good', 200, false]] as const) {
    const [n, b] = await Promise.all([timed(p.nginx.ports.P1!, token), timed(p.bext.ports.P1!, token)]);
    assert.equal(n.status, status, token);
    assert.equal(b.status, status, token);
    for (const t of [n, b]) assert.equal(t.ms >= 550, slow, `${token}: ${t.ms} ms`);
  }
});
