// Differential: fastcgi_pass to a scripted FastCGI application, nginx and bext on the same
// configuration: the request as it arrives on the wire (parameter record, STDIN records of 32 KiB
// padded to 8 bytes, the keep-connection flag), stderr before and after the head (logged as nginx
// logs it), a head split over records, LF-only lines, lines nginx refuses, a bad record version,
// an end before any output, silence (fastcgi_read_timeout), a stalled request body
// (fastcgi_send_timeout), fastcgi_next_upstream to a second
// peer, fastcgi_catch_stderr, connections kept by fastcgi_keep_conn, and HTTP/2's header fields (HTTP_HOST from
// :authority, the cookie fields joined), and limit_rate on the answer (and X-Accel-Limit-Rate lifting it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorLinesOf, h2Request, haveNginx, makeCert, makeSite, report, runCases, send, startPair, wrapConfig, type Case, type Pair } from '../serving/harness.ts';
import { startScripted, type Scripted } from './scripted.ts';

let pair: Pair | undefined;
let a: Scripted | undefined;
let b: Scripted | undefined;

before(async () => {
  if (!haveNginx) return;
  a = await startScripted('A');
  b = await startScripted('B');
  const params = 'fastcgi_param DOCUMENT_URI $document_uri; fastcgi_param SERVER_PORT $server_port; fastcgi_param REQUEST_METHOD $request_method; fastcgi_param CONTENT_LENGTH $content_length;';
  const { cert, key } = await makeCert(mkdtempSync(join(tmpdir(), 'bext-fastcgi-')), 'h2.test');
  pair = await startPair(wrapConfig(`
  upstream two {
    server 127.0.0.1:${a.port};
    server 127.0.0.1:${b.port};
  }
  upstream kept {
    server 127.0.0.1:${a.port};
    keepalive 2;
  }
  upstream keptTwice {
    server 127.0.0.1:${a.port};
    keepalive 2;
    keepalive_requests 2;
  }
  server {
    listen 127.0.0.1:@P1@;
    server_name localhost;
    location / {
      ${params}
      fastcgi_read_timeout 500ms;
      fastcgi_pass 127.0.0.1:${a.port};
    }
    location = /stall {
      ${params}
      client_max_body_size 64m;
      fastcgi_send_timeout 1s;
      fastcgi_read_timeout 30s;
      fastcgi_pass 127.0.0.1:${a.port};
    }
    location /retry {
      ${params}
      fastcgi_next_upstream error timeout http_503;
      add_header X-Up "$upstream_addr $upstream_status $upstream_http_content_type";
      fastcgi_pass two;
    }
    location /catch/ {
      rewrite ^/catch(/.*)$ $1 break;
      fastcgi_catch_stderr "Fatal error";
      ${params}
      fastcgi_pass 127.0.0.1:${a.port};
    }
    location /rated/ {
      rewrite ^/rated(/.*)$ $1 break;
      limit_rate 20k;
      ${params}
      fastcgi_pass 127.0.0.1:${a.port};
    }
    location /h2/ {
      rewrite ^/h2(/.*)$ $1 break;
      ${params}
      fastcgi_pass 127.0.0.1:${a.port};
    }
    location /k/ {
      rewrite ^/k(/.*)$ $1 break;
      ${params}
      fastcgi_keep_conn on;
      fastcgi_pass kept;
    }
    location /k2/ {
      rewrite ^/k2(/.*)$ $1 break;
      ${params}
      fastcgi_keep_conn on;
      fastcgi_pass keptTwice;
    }
  }
  server {
    listen 127.0.0.1:@P2@ ssl http2;
    server_name h2.test;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location / {
      ${params}
      fastcgi_pass 127.0.0.1:${a.port};
    }
  }`), makeSite({}), ['P1', 'P2']);
});

after(async () => {
  await pair?.stop();
  await a?.close();
  await b?.close();
});

const get = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P1', target, ...extra });

const cases: Case[] = [
  get('the request on the wire', '/echo?x=1', { headers: [['X-Long', 'v'.repeat(300)]] }),
  get('a body in STDIN records', '/echo', { method: 'POST', body: 'b'.repeat(70_000) }),
  get('stderr around a head split over records', '/stderr'),
  get('LF-only lines and a Status of its own', '/lf'),
  get('a line without a colon', '/no-colon'),
  get('a space in a header name', '/bad-name'),
  get('an invalid Status', '/bad-status'),
  get('a record of another version', '/bad-version'),
  get('END_REQUEST before any output', '/end-first'),
  get('an empty STDOUT before the head', '/empty-stdout'),
  get('closed without answering', '/close-early'),
  get('too slow: fastcgi_read_timeout', '/slow', { timeoutMs: 5000 }),
  get('many headers', '/headers-many', { compare: ['set-cookie', 'x-h39'] }),
  get('next upstream on 503, with the $upstream_* variables', '/retry', { compare: ['x-up'] }),
  get('fastcgi_catch_stderr: a fatal error before the head', '/catch/stderr-fatal'),
  get('fastcgi_catch_stderr: stderr without the text', '/catch/stderr'),
  // More than the loopback socket buffers hold: the send stalls, fastcgi_send_timeout (1s) ends it.
  get('the application takes no more of the body: fastcgi_send_timeout', '/stall', { method: 'POST', body: 'b'.repeat(24 * 1024 * 1024), timeoutMs: 10_000 }),
];

test('fastcgi_pass, protocol edges: identical to nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, cases, 1);
  const { unexpected } = report('fastcgi protocol', outcomes);
  assert.deepEqual(unexpected, []);
  assert.match(outcomes[1]!.nginx.body, /stdin-records=32768\+0,32768\+0,4464\+0,0\+0/);
  assert.equal(outcomes[13]!.nginx.body, 'answered by B\n');
  assert.match(outcomes[13]!.nginx.headers['x-up'] ?? '', /^127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+ 503, 200 text\/plain$/);
  assert.deepEqual([outcomes[14]!.nginx.status, outcomes[15]!.nginx.status], [502, 200]);
  assert.equal(outcomes[16]!.nginx.status, 504);
});

test('fastcgi_keep_conn with keepalive: one connection for three requests, as nginx', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const outcomes = await runCases(pair!, [get('k1', '/k/echo'), get('k2', '/k/echo'), get('k3', '/k/connections')], 1);
  const { unexpected } = report('fastcgi keep_conn', outcomes);
  assert.deepEqual(unexpected, []);
  assert.match(outcomes[0]!.nginx.body, /keep=true/);
  assert.equal(outcomes[2]!.nginx.body, 'connections=1\n');
  // keepalive_requests 2: a kept connection carries two requests, then the next one opens another.
  const twice = await runCases(pair!, ['c1', 'e1', 'c2', 'e2', 'c3'].map((n) => get(`k2 ${n}`, n[0] === 'c' ? '/k2/connections' : '/k2/echo')), 1);
  assert.deepEqual(report('fastcgi keepalive_requests', twice).unexpected, []);
  const counts = [0, 2, 4].map((i) => Number(/connections=(\d+)/.exec(twice[i]!.nginx.body)![1]));
  assert.deepEqual(counts, [counts[0], counts[0]! + 1, counts[0]! + 2]);
});

/** One HTTP/2 request: the status and the body /echo answers, its own port as PORT. */
const h2 = async (port: number, path: string, headers: Record<string, string | string[]>, body?: string): Promise<string> =>
  (await h2Request(port, path, headers, { servername: 'h2.test', authority: `h2.test:${port}`, ...(body !== undefined ? { body } : {}) })).replaceAll(String(port), 'PORT');

test('fastcgi_pass over HTTP/2: HTTP_HOST from :authority, one HTTP_COOKIE, as nginx sends them', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const p = pair!;
  for (const [headers, body] of [
    [{ cookie: ['a=1', 'b=2'], 'x-dup': ['1', '2'], 'user-agent': 'h2/1' }, undefined],
    [{ 'content-type': 'text/plain' }, 'posted over h2'],
    [{}, undefined],
  ] as [Record<string, string | string[]>, string | undefined][]) {
    const [ours, theirs] = [await h2(p.bext.ports.P2!, '/echo', headers, body), await h2(p.nginx.ports.P2!, '/echo', headers, body)];
    assert.equal(ours, theirs);
  }
  const sample = await h2(p.nginx.ports.P2!, '/echo', { cookie: ['a=1', 'b=2'] });
  assert.match(sample, /HTTP_HOST=h2\.test:PORT/);
  assert.match(sample, /HTTP_COOKIE=a=1; b=2/);
});

test('limit_rate slows a FastCGI answer as it slows nginx\'s', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const timed = async (port: number, path = '/rated/big') => {
    const started = Date.now();
    const r = await send(port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, { timeoutMs: 10_000 });
    return { ms: Date.now() - started, length: r.body.length };
  };
  const [ours, theirs] = await Promise.all([timed(pair!.bext.ports.P1!), timed(pair!.nginx.ports.P1!)]);
  // 60,000 bytes at 20 KiB/s, a second's worth per second begun since the request's second: one
  // to two seconds, by where in its second the request began (unlimited, a few milliseconds).
  assert.ok(theirs.ms >= 1000 && theirs.ms < 4000, `nginx took ${theirs.ms} ms`);
  assert.ok(ours.ms >= 1000 && ours.ms < 4000, `bext took ${ours.ms} ms`);
  assert.equal(ours.length, theirs.length);
  // The application's `X-Accel-Limit-Rate: 0` lifts limit_rate for its answer, in nginx and bext.
  const [freeOurs, freeTheirs] = await Promise.all([timed(pair!.bext.ports.P1!, '/rated/big-unlimited'), timed(pair!.nginx.ports.P1!, '/rated/big-unlimited')]);
  assert.ok(freeTheirs.ms < 700, `nginx took ${freeTheirs.ms} ms`);
  assert.ok(freeOurs.ms < 700, `bext took ${freeOurs.ms} ms`);
  assert.equal(freeOurs.length, freeTheirs.length);
});

test('fastcgi_pass, protocol edges: the error lines are nginx\'s', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const pick = (log: string) => log.split('\n')
    // bext streams answers instead of buffering them (fastcgi_buffering is accepted and ignored):
    // nginx's line about spooling the rate-limited one to a file has no counterpart.
    .filter((l) => /\[(error|warn|crit|alert)\]/.test(l) && !l.includes('an upstream response is buffered to a temporary file'))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT').replace(/bext-serving-(nginx|bext)-\w+/g, 'PREFIX'))
    .sort();
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.some((l) => l.includes('FastCGI sent in stderr: "before the head"')));
  assert.ok(theirs.some((l) => l.includes('upstream timed out (110: Connection timed out) while sending request to upstream')));
});
