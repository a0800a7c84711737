// Differential: fastcgi_pass to a scripted FastCGI application, nginx and bext on the same
// configuration: the request as it arrives on the wire (parameter record, STDIN records of 32 KiB
// padded to 8 bytes, the keep-connection flag), stderr before and after the head (logged as nginx
// logs it), a head split over records, LF-only lines, lines nginx refuses, a bad record version,
// an end before any output, silence (fastcgi_read_timeout), fastcgi_next_upstream to a second
// peer, and connections kept by fastcgi_keep_conn.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { errorLinesOf, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from '../serving/harness.ts';
import { startScripted, type Scripted } from './scripted.ts';

let pair: Pair | undefined;
let a: Scripted | undefined;
let b: Scripted | undefined;

before(async () => {
  if (!haveNginx) return;
  a = await startScripted('A');
  b = await startScripted('B');
  const params = 'fastcgi_param DOCUMENT_URI $document_uri; fastcgi_param SERVER_PORT $server_port; fastcgi_param REQUEST_METHOD $request_method; fastcgi_param CONTENT_LENGTH $content_length;';
  pair = await startPair(wrapConfig(`
  upstream two {
    server 127.0.0.1:${a.port};
    server 127.0.0.1:${b.port};
  }
  upstream kept {
    server 127.0.0.1:${a.port};
    keepalive 2;
  }
  server {
    listen 127.0.0.1:@P1@;
    server_name localhost;
    location / {
      ${params}
      fastcgi_read_timeout 500ms;
      fastcgi_pass 127.0.0.1:${a.port};
    }
    location /retry {
      ${params}
      fastcgi_next_upstream error timeout http_503;
      fastcgi_pass two;
    }
    location /k/ {
      rewrite ^/k(/.*)$ $1 break;
      ${params}
      fastcgi_keep_conn on;
      fastcgi_pass kept;
    }
  }`), makeSite({}), ['P1']);
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
  get('next upstream on 503', '/retry'),
];

test('fastcgi_pass, protocol edges: identical to nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, cases, 1);
  const { unexpected } = report('fastcgi protocol', outcomes);
  assert.deepEqual(unexpected, []);
  assert.match(outcomes[1]!.nginx.body, /stdin-records=32768\+0,32768\+0,4464\+0,0\+0/);
  assert.equal(outcomes[13]!.nginx.body, 'answered by B\n');
});

test('fastcgi_keep_conn with keepalive: one connection for three requests, as nginx', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const outcomes = await runCases(pair!, [get('k1', '/k/echo'), get('k2', '/k/echo'), get('k3', '/k/connections')], 1);
  const { unexpected } = report('fastcgi keep_conn', outcomes);
  assert.deepEqual(unexpected, []);
  assert.match(outcomes[0]!.nginx.body, /keep=true/);
  assert.equal(outcomes[2]!.nginx.body, 'connections=1\n');
});

test('fastcgi_pass, protocol edges: the error lines are nginx\'s', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const pick = (log: string) => log.split('\n')
    .filter((l) => /\[(error|warn|crit|alert)\]/.test(l))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT').replace(/bext-serving-(nginx|bext)-\w+/g, 'PREFIX'))
    .sort();
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.some((l) => l.includes('FastCGI sent in stderr: "before the head"')));
});
