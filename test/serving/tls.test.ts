// Differential: HTTPS on two ssl ports with certificates chosen by SNI. The served certificate's
// subject is compared too; the Host header (not SNI) picks the request's server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { accessLogDiff, haveNginx, makeCert, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

const cert = (n: string) => `ssl_certificate @SITE@/certs/${n}.crt; ssl_certificate_key @SITE@/certs/${n}.key;`;
const CONF = wrapConfig(`
  default_type text/plain;
  server {
    listen 127.0.0.1:@S1@ ssl default_server;
    server_name a.test;
    ${cert('a.test')}
    location / { return 200 "S1 a host=$host name=$server_name scheme=$scheme https=$https port=$server_port\\n"; }
    location = /r { return 301 /target; }
  }
  server {
    listen 127.0.0.1:@S1@ ssl;
    server_name b.test *.b.test;
    ${cert('b.test')}
    add_header Strict-Transport-Security "max-age=31536000" always;
    location / { return 200 "S1 b host=$host\\n"; }
    location = /missing { return 404; }
    location = /r { return 302 /t; }
  }
  server {
    listen 127.0.0.1:@S2@ ssl;
    server_name b.test;
    ${cert('b.test')}
    location / { return 200 "S2 b host=$host\\n"; }
  }
  server {
    listen 127.0.0.1:@S2@ ssl default_server;
    server_name c.test;
    ${cert('c.test')}
    ssl_protocols TLSv1.2 TLSv1.3;
    error_page 497 =301 https://$host:$server_port$request_uri;
    location / { return 200 "S2 c host=$host\\n"; }
    location = /r { return 301 /there; }
  }
  server {
    listen 127.0.0.1:@H1@;
    server_name a.test;
    location / { return 301 https://$host$request_uri; }
  }
`);

let pair: Pair | undefined;
let site = '';
before(async () => {
  if (!haveNginx) return;
  site = makeSite({});
  mkdirSync(join(site, 'certs'), { mode: 0o755 });
  for (const n of ['a.test', 'b.test', 'c.test']) await makeCert(join(site, 'certs'), n);
  pair = await startPair(CONF, site, ['S1', 'S2', 'H1']);
});
after(async () => {
  await pair?.stop();
  if (site) rmSync(site, { recursive: true, force: true });
});

const s = (port: string) => (name: string, sni: string | undefined, host: string | null, extra: Partial<Case> = {}): Case => ({
  name, port, target: '/', host, tls: sni === undefined ? {} : { servername: sni }, ...extra,
});
const s1 = s('S1');
const s2 = s('S2');

const CASES: Case[] = [
  s1('SNI a, Host a', 'a.test', 'a.test'),
  s1('SNI b, Host b', 'b.test', 'b.test'),
  s1('SNI wildcard b', 'x.b.test', 'x.b.test'),
  s1('SNI uppercase', 'B.TEST', 'b.test'),
  s1('no SNI → default cert', undefined, 'a.test'),
  s1('no SNI, Host b', undefined, 'b.test'),
  s1('SNI unknown → default cert', 'zzz.test', 'zzz.test'),
  s1('SNI a, Host b → server b', 'a.test', 'b.test'),
  s1('SNI b, Host a → server a', 'b.test', 'a.test'),
  s1('Host with port', 'a.test', 'a.test:@S1@'),
  s1('redirect keeps https and port', 'a.test', 'a.test', { target: '/r' }),
  s1('HSTS always on 404', 'b.test', 'b.test', { target: '/missing', compare: ['strict-transport-security'] }),
  s1('HSTS on 302', 'b.test', 'b.test', { target: '/r', compare: ['strict-transport-security'] }),
  s1('HSTS on 200', 'b.test', 'b.test', { compare: ['strict-transport-security'] }),
  s1('no Host on HTTP/1.1 over TLS → 400', 'a.test', null),
  s1('HTTP/1.0 no Host over TLS', 'b.test', null, { http10: true }),
  s1('HEAD over TLS', 'b.test', 'b.test', { method: 'HEAD' }),
  s2('S2 SNI b', 'b.test', 'b.test'),
  s2('S2 SNI c', 'c.test', 'c.test'),
  s2('S2 no SNI → default_server cert c', undefined, 'c.test'),
  s2('S2 SNI a (not on S2) → default', 'a.test', 'a.test'),
  s2('S2 SNI b Host c', 'b.test', 'c.test'),
  s2('S2 redirect', 'c.test', 'c.test', { target: '/r' }),
  { name: 'plain HTTP redirect to https', port: 'H1', target: '/x?y=1', host: 'a.test' },
  { name: 'plain HTTP on an ssl port → 400 (497)', port: 'S1', raw: 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' },
  { name: 'plain HTTP on an ssl port, HEAD', port: 'S1', raw: 'HEAD / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n' },
  { name: 'plain HTTP on an ssl port, no Host → 400', port: 'S1', raw: 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n' },
  { name: 'plain HTTP on an ssl port, keep-alive still closes', port: 'S1', raw: 'GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n', compare: ['connection'] },
  { name: 'error_page 497 redirects to https', port: 'S2', raw: 'GET /p?q=1 HTTP/1.1\r\nHost: c.test\r\nConnection: close\r\n\r\n' },
  { name: 'error_page 497 is per server', port: 'S2', raw: 'GET /p HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n' },
  { name: 'garbage on an ssl port', port: 'S1', raw: '\x00\x01\x02\r\n\r\n' },
];

test('TLS with SNI: nginx and bext answer alike', { skip: !haveNginx, timeout: 80_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('tls', outcomes);
  // The certificate chosen by SNI is part of the comparison; make sure it is really there.
  const withCert = outcomes.filter((o) => o.c.tls);
  assert.ok(withCert.every((o) => o.nginx.cert !== undefined), 'nginx presented no certificate');
  assert.equal(outcomes.find((o) => o.c.name === 'SNI b, Host b')!.nginx.cert, 'b.test');
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
});

// Every request above also went through both access logs (combined format): the same lines.
test('access log lines match nginx', { skip: !haveNginx, timeout: 10_000 }, async () => {
  const d = await accessLogDiff(pair!);
  process.stdout.write(`# access log: ${d.lines} lines, ${d.onlyNginx.length + d.onlyBext.length} different\n`);
  assert.deepEqual({ onlyNginx: d.onlyNginx, onlyBext: d.onlyBext }, { onlyNginx: [], onlyBext: [] });
});
