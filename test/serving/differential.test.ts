// Differential: response headers — add_header (inheritance, `always`, variables, status filter),
// expires (durations, max, epoch, off, negative, modified), server_tokens, types/default_type, and
// nginx's generated pages (MSIE/Chrome padding, HEAD, error pages without server tokens).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import {
  exchangeSummary, accessLogDiff, haveNginx, makeSite, report, runCases, sendUntilClose, startPair, wrapConfig, type Case, type Pair,
} from './harness.ts';

const CONF = wrapConfig(`
  types { text/html html; text/css css; application/javascript js; image/png png; text/plain txt; }
  default_type application/octet-stream;
  add_header X-Http http-level;
  server {
    listen 127.0.0.1:@P1@;
    server_name headers.test;
    root @SITE@/www;
    add_header X-Server server-level;
    add_header X-Uri $uri;
    location / { }
    location /inherit/ { }
    location /own/ { add_header X-Own own; }
    location /always/ { add_header X-Always yes always; add_header X-Not-Always no; }
    location /empty/ { add_header X-Empty ""; }
    location /ret201/ { return 201 "created"; }
    location /ret204/ { return 204; }
    location /ret302/ { return 302 /x; }
    location /ret403/ { return 403; }
    location /ret500/ { add_header X-Own own always; return 500; }
    location /exp1h/ { expires 1h; }
    location /expmax/ { expires max; }
    location /expoff/ { expires off; }
    location /expneg/ { expires -1; }
    location /expepoch/ { expires epoch; }
    location /expmod/ { expires modified +1d; }
    location /exp404/ { expires 1h; return 404; }
    location /exp301/ { expires 1h; return 301 /y; }
    location /exp-always-cc/ { expires 10m; add_header Cache-Control no-transform; }
  }
  server {
    listen 127.0.0.1:@P2@;
    server_name notokens.test;
    server_tokens off;
    root @SITE@/www;
    location / { }
    location /ret403/ { return 403; }
    location /ret301/ { return 301 /z; }
  }
  server {
    listen 127.0.0.1:@P3@;
    server_name typed.test;
    root @SITE@/www;
    default_type text/x-default;
    location / { }
    location /txtonly/ { types { text/x-special txt; } }
    location /charset/ { alias @SITE@/www/; charset utf-8; }
    location /maxranges/ { alias @SITE@/www/; max_ranges 1; }
    location /ims/ { alias @SITE@/www/; if_modified_since before; }
    location /imsoff/ { alias @SITE@/www/; if_modified_since off; }
    location /maxranges0/ { alias @SITE@/www/; max_ranges 0; }
    location /etagoff/ { alias @SITE@/www/; etag off; }
    location /cstypes/ { alias @SITE@/www/; charset utf-8; charset_types text/css; }
    location /csstar/ { alias @SITE@/www/; charset utf-8; charset_types *; }
    location /csret/ { charset utf-8; return 200 "text"; }
    location /cs302/ { charset utf-8; return 302 /x; }
    location /cs303/ { charset utf-8; return 303 /x; }
    location /csdir/ { alias @SITE@/www/; charset utf-8; }
    location /csoff/ { alias @SITE@/www/; charset off; }
  }
  server {
    listen 127.0.0.1:@P4@;
    server_name cs.test;
    root @SITE@/www;
    charset koi8-r;
    keepalive_timeout 30s 7;
    location / { }
    location /inner/ { alias @SITE@/www/; charset utf-8; }
    location /ka0/ { alias @SITE@/www/; keepalive_timeout 0; }
    location /ka-noheader/ { alias @SITE@/www/; keepalive_timeout 20s; }
    location /ka-header/ { alias @SITE@/www/; keepalive_timeout 20s 3; }
  }
`);

const FILES = {
  'www/index.html': '<p>i</p>\n',
  'www/f.html': '<p>f</p>\n',
  'www/s.css': 'a{}\n',
  'www/j.js': 'x;\n',
  'www/p.png': 'png\n',
  'www/noext': 'n\n',
  'www/UPPER.HTML': 'up\n',
  'www/a.tar.gz': 'gz\n',
  'www/inherit/f.html': 'i\n',
  'www/own/f.html': 'o\n',
  'www/always/f.html': 'a\n',
  'www/empty/f.html': 'e\n',
  'www/exp1h/f.css': 'e\n',
  'www/expmax/f.css': 'e\n',
  'www/expoff/f.css': 'e\n',
  'www/expneg/f.css': 'e\n',
  'www/expepoch/f.css': 'e\n',
  'www/expmod/f.css': 'e\n',
  'www/exp-always-cc/f.css': 'e\n',
  'www/txtonly/a.txt': 't\n',
  'www/txtonly/b.html': 'b\n',
  'www/sub/x.html': 'x\n',
};

let pair: Pair | undefined;
let site = '';
before(async () => {
  if (!haveNginx) return;
  site = makeSite(FILES);
  // expires modified: Expires = mtime + 1d, so the mtime must sit near now (within the minute rounding).
  const now = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000);
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      utimesSync(p, now, now);
    }
  };
  walk(site);
  pair = await startPair(CONF, site, ['P1', 'P2', 'P3', 'P4']);
});
after(async () => {
  await pair?.stop();
  if (site) rmSync(site, { recursive: true, force: true });
});

const ADDED = ['x-http', 'x-server', 'x-uri', 'x-own', 'x-always', 'x-not-always', 'x-empty'];
const h = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P1', target, host: 'headers.test', compare: ADDED, ...extra });
const nt = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P2', target, host: 'notokens.test', ...extra });
const cs = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P4', target, host: 'cs.test', ...extra });
const ty = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P3', target, host: 'typed.test', ...extra });

const MSIE = 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)';
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

const CASES: Case[] = [
  h('server-level add_header on a file', '/f.html'),
  h('server-level add_header with $uri', '/inherit/f.html'),
  h('location add_header replaces server ones', '/own/f.html'),
  h('server add_header not on 404', '/missing'),
  h('location always on 404', '/always/missing'),
  h('location always on 200', '/always/f.html'),
  h('empty add_header value is not sent', '/empty/f.html'),
  h('add_header on 201', '/ret201/'),
  h('add_header on 204', '/ret204/'),
  h('add_header on 302', '/ret302/'),
  h('add_header not on 403', '/ret403/'),
  h('always on 500', '/ret500/'),
  h('add_header on 304', '/f.html', { headers: [['If-None-Match', '*']] }),
  h('add_header on 206', '/f.html', { headers: [['Range', 'bytes=0-1']] }),
  h('add_header on 416', '/f.html', { headers: [['Range', 'bytes=100-']] }),
  h('add_header always on 416', '/always/f.html', { headers: [['Range', 'bytes=100-']] }),
  h('expires on 416', '/exp1h/f.css', { headers: [['Range', 'bytes=100-']] }),
  h('add_header on 412', '/f.html', { headers: [['If-Match', '"nope"']] }),
  h('add_header always on 412', '/always/f.html', { headers: [['If-Match', '"nope"']] }),
  h('expires on 412', '/exp1h/f.css', { headers: [['If-Match', '"nope"']] }),
  h('add_header on directory 301', '/inherit'),
  h('expires 1h', '/exp1h/f.css'),
  h('expires 1h on 304', '/exp1h/f.css', { headers: [['If-None-Match', '*']] }),
  h('expires max', '/expmax/f.css', { compare: [...ADDED, 'cache-control'] }),
  h('expires off', '/expoff/f.css'),
  h('expires -1', '/expneg/f.css'),
  h('expires epoch', '/expepoch/f.css'),
  h('expires modified +1d', '/expmod/f.css'),
  h('expires not on 404', '/exp404/'),
  h('expires on 301', '/exp301/'),
  h('expires with add_header Cache-Control', '/exp-always-cc/f.css'),
  h('expires 1h on missing file', '/exp1h/none.css'),
  h('HEAD with add_header', '/f.html', { method: 'HEAD' }),
  h('MSIE padding on 404', '/missing', { headers: [['User-Agent', MSIE]] }),
  h('Chrome padding on 404', '/missing', { headers: [['User-Agent', CHROME]] }),
  h('MSIE no padding on 301', '/ret302/', { headers: [['User-Agent', MSIE]] }),
  h('MSIE refresh on 301', '/inherit', { headers: [['User-Agent', MSIE]] }),
  h('Opera is not MSIE', '/missing', { headers: [['User-Agent', 'Opera/9.80 (MSIE 6.0)']] }),
  nt('server_tokens off on a file', '/f.html'),
  nt('server_tokens off on 404', '/missing'),
  nt('server_tokens off on 403', '/ret403/'),
  nt('server_tokens off on 301', '/ret301/'),
  nt('server_tokens off on 400 (no Host)', '/', { host: null }),
  nt('server_tokens off on 405', '/f.html', { method: 'DELETE' }),
  // Connection handling: no `Connection: close` in these requests.
  ...([
    ['keep-alive 1.1 file', 'GET /f.html HTTP/1.1\r\nHost: headers.test\r\n\r\n'],
    ['keep-alive 1.1 404', 'GET /missing HTTP/1.1\r\nHost: headers.test\r\n\r\n'],
    ['keep-alive 1.1 return 204', 'GET /ret204/ HTTP/1.1\r\nHost: headers.test\r\n\r\n'],
    ['keep-alive 1.1 HEAD', 'HEAD /f.html HTTP/1.1\r\nHost: headers.test\r\n\r\n'],
    ['keep-alive 1.1 400 closes', 'GET / HTTP/1.1\r\n\r\n'],
    ['keep-alive 1.1 500 closes', 'GET /ret500/ HTTP/1.1\r\nHost: headers.test\r\n\r\n'],
    ['keep-alive 1.0 asked', 'GET /f.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'],
    ['keep-alive 1.0 not asked', 'GET /f.html HTTP/1.0\r\n\r\n'],
    ['keep-alive 1.1 Connection: close', 'GET /f.html HTTP/1.1\r\nHost: headers.test\r\nConnection: close\r\n\r\n'],
    ['keep-alive POST with body', 'POST /ret201/ HTTP/1.1\r\nHost: headers.test\r\nContent-Length: 3\r\n\r\nabc'],
  ] as const).map(([name, raw]): Case => ({ name, port: 'P1', raw, compare: ['connection', 'keep-alive'], timeoutMs: 2000 })),
  ty('html', '/f.html'),
  ty('css', '/s.css'),
  ty('js', '/j.js'),
  ty('png', '/p.png'),
  ty('no extension → default_type', '/noext'),
  ty('uppercase extension', '/UPPER.HTML'),
  ty('double extension', '/a.tar.gz'),
  ty('location types{} replaces all', '/txtonly/a.txt'),
  ty('location types{} without html → default_type', '/txtonly/b.html'),
  ty('charset utf-8 on html', '/charset/f.html'),
  ty('max_ranges 1 with two ranges', '/maxranges/f.html', { headers: [['Range', 'bytes=0-1,3-4']] }),
  ty('if_modified_since before', '/ims/f.html', { headers: [['If-Modified-Since', 'Fri, 01 Jan 2100 00:00:00 GMT']] }),
  ty('if_modified_since before, earlier date', '/ims/f.html', { headers: [['If-Modified-Since', 'Fri, 01 Jan 2010 00:00:00 GMT']] }),
  ty('if_modified_since exact, later date', '/f.html', { headers: [['If-Modified-Since', 'Fri, 01 Jan 2100 00:00:00 GMT']] }),
  ty('if_modified_since off ignores the date', '/imsoff/f.html', { headers: [['If-Modified-Since', 'Fri, 01 Jan 2100 00:00:00 GMT']] }),
  ty('if_modified_since off, If-None-Match still', '/imsoff/f.html', { headers: [['If-None-Match', '*']] }),
  ty('max_ranges 1 with one range', '/maxranges/f.html', { headers: [['Range', 'bytes=0-1']] }),
  ty('max_ranges 0 ignores Range', '/maxranges0/f.html', { headers: [['Range', 'bytes=0-1']] }),
  ty('max_ranges 0 with unsatisfiable Range', '/maxranges0/f.html', { headers: [['Range', 'bytes=100-']] }),
  ty('etag off', '/etagoff/f.html'),
  ty('etag off, If-None-Match *', '/etagoff/f.html', { headers: [['If-None-Match', '*']] }),
  ty('etag off, If-Match a tag', '/etagoff/f.html', { headers: [['If-Match', '"x"']] }),
  ty('etag off, If-Range a tag', '/etagoff/f.html', { headers: [['Range', 'bytes=0-1'], ['If-Range', '"x"']] }),
  ty('charset on text/plain (default charset_types)', '/charset/a.txt'),
  ty('charset not on css', '/charset/s.css'),
  ty('charset on javascript', '/charset/j.js'),
  ty('charset on default_type', '/charset/noext'),
  ty('charset on 404 page', '/charset/missing'),
  ty('charset on 304', '/charset/f.html', { headers: [['If-None-Match', '*']] }),
  ty('charset on HEAD', '/charset/f.html', { method: 'HEAD' }),
  ty('charset_types adds to text/html', '/cstypes/f.html'),
  ty('charset_types css', '/cstypes/s.css'),
  ty('charset_types replaces text/plain', '/cstypes/a.txt'),
  ty('charset_types *', '/csstar/p.png'),
  ty('charset on return text', '/csret/'),
  ty('no charset on 302', '/cs302/'),
  ty('charset on 303', '/cs303/'),
  ty('no charset on directory 301', '/csdir/sub'),
  ty('charset off', '/csoff/f.html'),
  cs('server charset', '/f.html'),
  cs('location charset replaces', '/inner/f.html'),
  cs('server charset on 404', '/missing'),
  // keepalive_timeout: 0 ends keep-alive; the second argument is sent as Keep-Alive (inherited on its own).
  ...([
    ['keepalive_timeout header from server', 'GET /f.html HTTP/1.1\r\nHost: cs.test\r\n\r\n'],
    ['keepalive_timeout 0 closes', 'GET /ka0/f.html HTTP/1.1\r\nHost: cs.test\r\n\r\n'],
    ['keepalive_timeout 0 on 404', 'GET /ka0/missing HTTP/1.1\r\nHost: cs.test\r\n\r\n'],
    ['keepalive_timeout without header keeps the parent one', 'GET /ka-noheader/f.html HTTP/1.1\r\nHost: cs.test\r\n\r\n'],
    ['keepalive_timeout with its own header', 'GET /ka-header/f.html HTTP/1.1\r\nHost: cs.test\r\n\r\n'],
    ['keepalive header not on close', 'GET /f.html HTTP/1.1\r\nHost: cs.test\r\nConnection: close\r\n\r\n'],
    ['keepalive header on HTTP/1.0 keep-alive', 'GET /f.html HTTP/1.0\r\nHost: cs.test\r\nConnection: keep-alive\r\n\r\n'],
  ] as const).map(([name, raw]): Case => ({ name, port: 'P4', raw, compare: ['connection', 'keep-alive'], timeoutMs: 2000 })),
];

test('response headers: nginx and bext answer alike', { skip: !haveNginx, timeout: 80_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('headers', outcomes);
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
});

// Pipelined requests on one connection: same responses in the same order, the same headers byte
// for byte except Date/Last-Modified/ETag, and the connection closed after `Connection: close`.
test('keep-alive and pipelining: byte for byte', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const req = [
    'GET /f.html HTTP/1.1\r\nHost: headers.test\r\n\r\n',
    'HEAD /own/f.html HTTP/1.1\r\nHost: headers.test\r\n\r\n',
    'GET /missing HTTP/1.1\r\nHost: headers.test\r\n\r\n',
    'GET /ret302/ HTTP/1.1\r\nHost: headers.test\r\n\r\n',
    'GET /ret204/ HTTP/1.1\r\nHost: headers.test\r\nConnection: close\r\n\r\n',
  ].join('');
  const [n, b] = await Promise.all([
    sendUntilClose(pair!.nginx.ports.P1!, req),
    sendUntilClose(pair!.bext.ports.P1!, req),
  ]);
  assert.ok(n.closed && b.closed, 'both close after Connection: close');
  assert.deepEqual(exchangeSummary(b.bytes, pair!.bext.ports), exchangeSummary(n.bytes, pair!.nginx.ports));
  process.stdout.write('# keep-alive and pipelining: 1 exchange of 5 requests, identical\n');
});

// Every request above also went through both access logs (combined format): the same lines.
test('access log lines match nginx', { skip: !haveNginx, timeout: 10_000 }, async () => {
  const d = await accessLogDiff(pair!, CASES);
  process.stdout.write(`# access log: ${d.lines} lines, ${d.onlyNginx.length + d.onlyBext.length} different\n`);
  assert.deepEqual({ onlyNginx: d.onlyNginx, onlyBext: d.onlyBext }, { onlyNginx: [], onlyBext: [] });
});
