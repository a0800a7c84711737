// Differential: a static site (root, alias, index, try_files, autoindex, error_page, named
// locations, expires, add_header, ranges, conditional requests) served by nginx and by bext.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, utimesSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { accessLogDiff, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

const CONF = wrapConfig(`
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:@P1@;
    server_name static.test;
    root @SITE@/www;
    index index.html;
    add_header X-Static yes;
    error_page 404 /404.html;
    location / { try_files $uri $uri/ =404; }
    location = /404.html { internal; }
    location /alias/ { alias @SITE@/other/; }
    location /auto/ { autoindex on; }
    location /noindex/ { }
    location /named { try_files /nonexistent $uri @fallback; }
    location @fallback { add_header X-Named 1; return 200 "named fallback $uri\\n"; }
    location ~ \\.txt$ { add_header X-Txt 1 always; expires 1h; }
    location /exp/ { expires 30d; add_header Cache-Control public; }
    location /epoch/ { expires epoch; }
    location /ep/ { error_page 403 =200 /a.txt; deny all; }
    location /ep2/ { error_page 404 = @fallback; }
    location /ep3/ { error_page 404 http://example.org/missing; }
    location /tf/ { try_files $uri /index.html; }
    location /tfcode/ { try_files $uri =418; }
    location /deny/ { deny all; }
    location /etagoff/ { etag off; }
    location /quiet/ { log_not_found off; }
    location /quiet/loud/ { log_not_found on; }
    location ^~ /stop/ { }
    location ~* \\.(PNG|gif)$ { add_header X-Image 1; }
    location /defaulttype/ { default_type text/x-mine; }
    location /dir { }
  }
`);

const BIG = Buffer.from(Array.from({ length: 3000 }, (_, i) => String.fromCharCode(33 + (i % 90))).join(''));
const FILES: Record<string, string | Buffer> = {
  'www/index.html': '<h1>home</h1>\n',
  'www/404.html': 'custom not found\n',
  'www/a.txt': 'alpha text\n',
  'www/big.bin': BIG,
  'www/page.html': '<p>page</p>\n',
  'www/sp ace.html': 'space\n',
  'www/pct%25.html': 'percent\n',
  'www/dir/index.html': 'dir index\n',
  'www/dir/sub/': '',
  'www/auto/b.txt': 'b\n',
  'www/auto/a file.html': 'x\n',
  'www/auto/sub/c.html': 'c\n',
  'www/auto/.hidden': 'h\n',
  'www/noindex/x.html': 'x\n',
  'www/exp/e.css': 'body{}\n',
  'www/epoch/e.js': 'var a;\n',
  'www/etagoff/f.html': 'no etag\n',
  'www/stop/s.txt': 'stopped\n',
  'www/img.PNG': 'png!\n',
  'www/img.gif': 'gif!\n',
  'www/defaulttype/noext': 'noext\n',
  'www/unknown.zzz': 'zzz\n',
  'www/tf/real.html': 'tf real\n',
  'other/o.html': 'aliased\n',
  'other/index.html': 'alias index\n',
  'other/deep/d.txt': 'deep\n',
};

let pair: Pair | undefined;
let site = '';

before(async () => {
  if (!haveNginx) return;
  site = makeSite(FILES);
  // One fixed mtime so Last-Modified/ETag do not depend on when the files were written.
  const fixed = new Date('2024-03-01T10:00:00Z');
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      utimesSync(p, fixed, fixed);
    }
  };
  walk(site);
  pair = await startPair(CONF, site, ['P1']);
});

after(async () => {
  await pair?.stop();
  if (site) rmSync(site, { recursive: true, force: true });
});

const LM = 'Fri, 01 Mar 2024 10:00:00 GMT';
const get = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P1', target, host: 'static.test', ...extra });

const CASES: Case[] = [
  // files, index, try_files
  get('root index', '/'),
  get('file', '/page.html'),
  get('text file', '/a.txt'),
  get('binary', '/big.bin'),
  get('unknown extension', '/unknown.zzz'),
  get('space encoded', '/sp%20ace.html'),
  get('percent encoded percent', '/pct%2525.html'),
  get('missing → error_page 404', '/missing.html'),
  get('internal location directly', '/404.html'),
  get('directory without slash', '/dir'),
  get('directory with slash', '/dir/'),
  get('directory index with args', '/dir/?a=1'),
  get('subdirectory no index → try_files =404', '/dir/sub/'),
  get('subdirectory without slash', '/dir/sub'),
  get('no index, no autoindex → 403', '/noindex/'),
  get('try_files fallback URI', '/tf/none.html'),
  get('try_files hit', '/tf/real.html'),
  get('try_files =418', '/tfcode/none'),
  get('try_files to named', '/named/x'),
  get('named via error_page', '/ep2/none'),
  get('error_page 403 =200', '/ep/x'),
  get('error_page to URL', '/ep3/none'),
  get('deny all', '/deny/x'),
  get('etag off', '/etagoff/f.html'),
  get('^~ stops regex', '/stop/s.txt'),
  get('regex caseless', '/img.png'),
  get('regex caseless upper', '/img.PNG'),
  get('regex caseless gif', '/IMG.GIF'),
  get('default_type', '/defaulttype/noext'),
  // alias
  get('alias file', '/alias/o.html'),
  get('alias index', '/alias/'),
  get('alias deep', '/alias/deep/d.txt'),
  get('alias missing', '/alias/none'),
  get('alias directory no slash', '/alias/deep'),
  // autoindex
  get('autoindex', '/auto/'),
  get('autoindex sub', '/auto/sub/'),
  get('autoindex HEAD', '/auto/', { method: 'HEAD' }),
  get('autoindex file', '/auto/b.txt'),
  get('autoindex escaped name', '/auto/a%20file.html'),
  // expires / add_header
  get('expires 1h on txt', '/a.txt', { compare: ['x-txt', 'x-static'] }),
  get('add_header always on 404 txt', '/none.txt', { compare: ['x-txt', 'x-static'] }),
  get('expires 30d + Cache-Control public', '/exp/e.css', { compare: ['x-static'] }),
  get('expires epoch', '/epoch/e.js'),
  get('server add_header on 200', '/page.html', { compare: ['x-static'] }),
  get('server add_header not on 404', '/missing', { compare: ['x-static'] }),
  get('named location add_header', '/named/y', { compare: ['x-named', 'x-static'] }),
  // methods
  get('HEAD file', '/page.html', { method: 'HEAD' }),
  get('POST static', '/page.html', { method: 'POST', body: 'a=1' }),
  get('PUT static', '/page.html', { method: 'PUT', body: 'a=1' }),
  get('DELETE static', '/page.html', { method: 'DELETE' }),
  get('OPTIONS static', '/page.html', { method: 'OPTIONS' }),
  get('POST index', '/', { method: 'POST', body: 'x' }),
  get('PATCH missing', '/missing', { method: 'PATCH' }),
  get('OPTIONS *', '*', { method: 'OPTIONS' }),
  // ranges
  get('range single', '/big.bin', { headers: [['Range', 'bytes=0-9']] }),
  get('range suffix', '/big.bin', { headers: [['Range', 'bytes=-5']] }),
  get('range open end', '/big.bin', { headers: [['Range', 'bytes=2990-']] }),
  get('range past end clamps', '/big.bin', { headers: [['Range', 'bytes=2995-5000']] }),
  get('range unsatisfiable', '/big.bin', { headers: [['Range', 'bytes=5000-6000']] }),
  get('range reversed', '/big.bin', { headers: [['Range', 'bytes=10-5']] }),
  get('range garbage', '/big.bin', { headers: [['Range', 'bytes=abc']] }),
  get('range other unit', '/big.bin', { headers: [['Range', 'items=0-1']] }),
  // nginx's boundary is a per-process counter (ngx_next_temp_number), 00000000001 for the first.
  get('range multiple', '/big.bin', { headers: [['Range', 'bytes=0-1,5-6']] }),
  get('range If-Range matching etag', '/big.bin', { headers: [['Range', 'bytes=0-3'], ['If-Range', '"65e1a720-bb8"']] }),
  get('range If-Range matching date', '/big.bin', { headers: [['Range', 'bytes=0-3'], ['If-Range', LM]] }),
  get('range If-Range stale', '/big.bin', { headers: [['Range', 'bytes=0-3'], ['If-Range', '"nope"']] }),
  get('range on HEAD', '/big.bin', { method: 'HEAD', headers: [['Range', 'bytes=0-3']] }),
  get('range on 404', '/missing.bin', { headers: [['Range', 'bytes=0-3']] }),
  // conditional
  get('If-None-Match match', '/page.html', { headers: [['If-None-Match', '"65e1a720-c"']] }),
  get('If-None-Match star', '/page.html', { headers: [['If-None-Match', '*']] }),
  get('If-None-Match weak', '/page.html', { headers: [['If-None-Match', 'W/"65e1a720-c"']] }),
  get('If-None-Match list', '/page.html', { headers: [['If-None-Match', '"x", "65e1a720-c"']] }),
  get('If-None-Match other', '/page.html', { headers: [['If-None-Match', '"other"']] }),
  get('If-Modified-Since exact', '/page.html', { headers: [['If-Modified-Since', LM]] }),
  get('If-Modified-Since later', '/page.html', { headers: [['If-Modified-Since', 'Sat, 02 Mar 2024 10:00:00 GMT']] }),
  get('If-Modified-Since earlier', '/page.html', { headers: [['If-Modified-Since', 'Thu, 29 Feb 2024 10:00:00 GMT']] }),
  get('If-Modified-Since garbage', '/page.html', { headers: [['If-Modified-Since', 'yesterday']] }),
  get('If-Match mismatch → 412', '/page.html', { headers: [['If-Match', '"other"']] }),
  get('If-Match match', '/page.html', { headers: [['If-Match', '"65e1a720-c"']] }),
  get('If-Match star', '/page.html', { headers: [['If-Match', '*']] }),
  get('If-Unmodified-Since earlier → 412', '/page.html', { headers: [['If-Unmodified-Since', 'Thu, 29 Feb 2024 10:00:00 GMT']] }),
  get('If-Unmodified-Since exact', '/page.html', { headers: [['If-Unmodified-Since', LM]] }),
  get('304 on expires location', '/a.txt', { headers: [['If-Modified-Since', LM]], compare: ['x-txt'] }),
  get('conditional on etag off', '/etagoff/f.html', { headers: [['If-None-Match', '*']] }),
  get('etag off, If-Match *', '/etagoff/f.html', { headers: [['If-Match', '*']] }),
  get('etag off, If-Modified-Since exact', '/etagoff/f.html', { headers: [['If-Modified-Since', LM]] }),
  get('log_not_found off: 404', '/quiet/missing-quiet.html'),
  get('log_not_found on again below', '/quiet/loud/missing-loud.html'),
  get('missing file under alias', '/alias/missing-plain.html'),
  // encodings and normalisation
  get('double slash', '//page.html'),
  get('dot segment', '/./page.html'),
  get('dotdot inside', '/dir/../page.html'),
  get('encoded dotdot inside', '/dir/%2e%2e/page.html'),
  get('encoded slash', '/dir%2Findex.html'),
  get('above root', '/../page.html'),
  get('encoded above root', '/%2e%2e/page.html'),
  get('trailing dot segment', '/dir/.'),
  get('trailing dotdot', '/dir/..'),
  get('query string', '/page.html?x=1&y=%20'),
  get('encoded query marker', '/page.html%3Fx=1'),
  get('uppercase hex', '/sp%20ace%2Ehtml'),
  get('fragment', '/page.html#frag'),
  get('absolute URI request line', 'http://static.test/page.html'),
  get('absolute URI with other host', 'http://other.test/page.html'),
  get('HTTP/1.0 file', '/page.html', { http10: true, host: null }),
  get('HTTP/1.0 autoindex', '/auto/', { http10: true }),
];

test('static site: nginx and bext answer alike', { skip: !haveNginx, timeout: 80_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('static site', outcomes);
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
});

// log_not_found off: no `open() … failed` line for the quiet location's missing file; the one
// below it (log_not_found on) and the ordinary 404 are logged by both.
test('error log: log_not_found', { skip: !haveNginx, timeout: 10_000 }, async () => {
  await new Promise((r) => setTimeout(r, 200));
  const lines = (log: string, name: string) => log.split('\n').filter((l) => l.includes(`${name}" failed`)).length;
  for (const inst of [pair!.nginx, pair!.bext]) {
    const log = inst.errorLog();
    assert.equal(lines(log, 'missing-quiet.html'), 0, `${inst.kind} logged a log_not_found off miss`);
    assert.equal(lines(log, 'missing-loud.html'), 1, `${inst.kind} did not log the log_not_found on miss`);
    assert.equal(lines(log, 'missing-plain.html'), 1, `${inst.kind} did not log the ordinary miss`);
  }
  process.stdout.write('# error log: log_not_found off/on alike in nginx and bext\n');
});

// Every request above also went through both access logs (combined format): the same lines.
test('access log lines match nginx', { skip: !haveNginx, timeout: 10_000 }, async () => {
  const d = await accessLogDiff(pair!, CASES);
  process.stdout.write(`# access log: ${d.lines} lines, ${d.onlyNginx.length + d.onlyBext.length} different\n`);
  assert.deepEqual({ onlyNginx: d.onlyNginx, onlyBext: d.onlyBext }, { onlyNginx: [], onlyBext: [] });
});
