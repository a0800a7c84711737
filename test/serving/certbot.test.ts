// Differential: the blocks certbot writes (contract §1.4), byte for byte as certbot writes them,
// served exactly as nginx serves them: the one-line challenge server, the server-level
// `rewrite … break` before `return 301`, the redirect enhancement's `if ($host = …)` + `return 404`,
// and the installer's ssl lines with options-ssl-nginx.conf, ssl_dhparam and HSTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accessLogDiff, haveNginx, makeCert, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

const OPTIONS_SSL = `# This file contains important security parameters. If you modify this file
# manually, Certbot will be unable to automatically provide future security
# updates. Instead, Certbot will print and log an error message with a path to
# the up-to-date file that you will need to refer to when manually updating
# this file. Contents are based on https://ssl-config.mozilla.org

ssl_session_cache shared:le_nginx_SSL:10m;
ssl_session_timeout 1440m;
ssl_session_tickets off;

ssl_protocols TLSv1.2 TLSv1.3;
ssl_prefer_server_ciphers off;

ssl_ciphers "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
`;

// (a)3: the challenge include, on one line, exactly as certbot writes it (listen rewritten to a test port).
const CHALLENGE_INCLUDE =
  'server{listen 127.0.0.1:@P1@;server_name example.com;root @SITE@/http_01_nonexistent;location = /.well-known/acme-challenge/TOKEN{default_type text/plain;return 200 TOKEN.THUMB;}}';

const CONF = wrapConfig(`
server_names_hash_bucket_size 128;
include @PREFIX@/le_http_01_cert_challenge.conf;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;

  # (a)2: an existing port-80 vhost edited by the http-01 authenticator.
  server {rewrite ^(/.well-known/acme-challenge/.*) $1 break; # managed by Certbot

    listen 127.0.0.1:@P2@;
    server_name example.org www.example.org;
    root @SITE@/www;
    return 301 https://$host$request_uri;
    location / { try_files $uri $uri/ =404; }
location = /.well-known/acme-challenge/TOK2{default_type text/plain;return 200 TOK2.THUMB2;} # managed by Certbot
}

  # (c): the redirect enhancement's split block, plain side.
  server {
    if ($host = example.net) {
        return 301 https://$host$request_uri;
    } # managed by Certbot

    if ($host ~ ^[^.]+\\.example\\.net$) {
        return 301 https://$host$request_uri;
    } # managed by Certbot

	listen 127.0.0.1:@P3@ default_server;
	server_name example.net *.example.net;
    return 404; # managed by Certbot
}

  # (b): the ssl side, as deploy_cert leaves it.
  server {
    server_name example.net;
    root @SITE@/www;
    index index.html;
    location / { try_files $uri $uri/ =404; }

    listen 127.0.0.1:@S1@ ssl; # managed by Certbot
    ssl_certificate @SITE@/live/example.net/fullchain.pem; # managed by Certbot
    ssl_certificate_key @SITE@/live/example.net/privkey.pem; # managed by Certbot
    include @SITE@/options-ssl-nginx.conf; # managed by Certbot
    ssl_dhparam @SITE@/ssl-dhparams.pem; # managed by Certbot
    add_header Strict-Transport-Security "max-age=31536000" always; # managed by Certbot
}
`);

let pair: Pair | undefined;
let site = '';
before(async () => {
  if (!haveNginx) return;
  site = makeSite({
    'www/index.html': 'welcome\n',
    'www/.well-known/acme-challenge/other': 'a file in the challenge dir\n',
    'options-ssl-nginx.conf': OPTIONS_SSL,
  });
  const live = join(site, 'live', 'example.net');
  mkdirSync(live, { recursive: true, mode: 0o755 });
  const { cert, key } = await makeCert(live, 'example.net');
  execFileSync('mv', [cert, join(live, 'fullchain.pem')]);
  execFileSync('mv', [key, join(live, 'privkey.pem')]);
  execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'dh_param:ffdhe2048', '-out', join(site, 'ssl-dhparams.pem')], { stdio: 'ignore' });
  writeFileSync(join(site, 'www', 'plain.txt'), 'plain\n');
  pair = await startPair(CONF, site, ['P1', 'P2', 'P3', 'S1'], { 'le_http_01_cert_challenge.conf': CHALLENGE_INCLUDE });
});
after(async () => {
  await pair?.stop();
  if (site) rmSync(site, { recursive: true, force: true });
});

const on = (port: string, host: string) => (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port, target, host, ...extra });
const p1 = on('P1', 'example.com');
const p2 = on('P2', 'example.org');
const p3 = on('P3', 'example.net');
const s1 = on('S1', 'example.net');

const CASES: Case[] = [
  p1('one-line challenge', '/.well-known/acme-challenge/TOKEN'),
  p1('one-line challenge HEAD', '/.well-known/acme-challenge/TOKEN', { method: 'HEAD' }),
  p1('one-line challenge other host (only server → default)', '/.well-known/acme-challenge/TOKEN', { host: 'unknown.test' }),
  p1('one-line challenge wrong token → 404 under nonexistent root', '/.well-known/acme-challenge/NOPE'),
  p1('one-line challenge with args', '/.well-known/acme-challenge/TOKEN?x=1'),
  p1('one-line challenge encoded', '/.well-known/acme-challenge/TOK%45N'),
  p1('one-line challenge dot segments', '/.well-known/./acme-challenge/TOKEN'),
  p1('one-line root', '/'),
  p2('rewrite break stops return 301: challenge', '/.well-known/acme-challenge/TOK2'),
  p2('rewrite break: challenge for www', '/.well-known/acme-challenge/TOK2', { host: 'www.example.org' }),
  p2('rewrite break: other file in challenge dir', '/.well-known/acme-challenge/other'),
  p2('rewrite break: missing challenge → 404', '/.well-known/acme-challenge/none'),
  p2('everything else → 301 https', '/some/page?x=1'),
  p2('root → 301 https', '/'),
  p2('301 keeps request_uri raw', '/a%20b/../c?q=%41'),
  p2('HEAD → 301', '/x', { method: 'HEAD' }),
  p2('POST → 301', '/x', { method: 'POST', body: 'a' }),
  p2('challenge via HTTP/1.0 without Host', '/.well-known/acme-challenge/TOK2', { host: null, http10: true }),
  p3('if $host = example.net → 301', '/path?a=1'),
  p3('if $host regex → 301', '/x', { host: 'www.example.net' }),
  p3('Host with port still matches $host', '/x', { host: 'example.net:@P3@' }),
  p3('uppercase Host', '/x', { host: 'EXAMPLE.NET' }),
  p3('other host → return 404', '/x', { host: 'example.com' }),
  p3('no Host HTTP/1.0 → 404', '/x', { host: null, http10: true }),
  p3('deep subdomain → 404', '/x', { host: 'a.b.example.net' }),
  s1('ssl: index', '/', { tls: { servername: 'example.net' }, compare: ['strict-transport-security'] }),
  s1('ssl: 404 keeps HSTS (always)', '/nope', { tls: { servername: 'example.net' }, compare: ['strict-transport-security'] }),
  s1('ssl: file', '/plain.txt', { tls: { servername: 'example.net' }, compare: ['strict-transport-security'] }),
  s1('ssl: no SNI', '/', { tls: {}, compare: ['strict-transport-security'] }),
];

test('certbot blocks: served exactly as nginx serves them', { skip: !haveNginx, timeout: 80_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('certbot', outcomes);
  // The essential promise, checked on bext's own response as well as by comparison.
  const ch = outcomes.find((o) => o.c.name === 'one-line challenge')!;
  assert.equal(ch.bext.status, 200);
  assert.equal(ch.bext.headers['content-type'], 'text/plain');
  assert.equal(ch.bext.body, 'TOKEN.THUMB');
  const ch2 = outcomes.find((o) => o.c.name === 'rewrite break stops return 301: challenge')!;
  assert.equal(ch2.bext.body, 'TOK2.THUMB2');
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
});

// Every request above also went through both access logs (combined format): the same lines.
test('access log lines match nginx', { skip: !haveNginx, timeout: 10_000 }, async () => {
  const d = await accessLogDiff(pair!);
  process.stdout.write(`# access log: ${d.lines} lines, ${d.onlyNginx.length + d.onlyBext.length} different\n`);
  assert.deepEqual({ onlyNginx: d.onlyNginx, onlyBext: d.onlyBext }, { onlyNginx: [], onlyBext: [] });
});
