// Differential: location selection and the content phase in their trickier combinations — nested
// and regex locations, captures in alias, index into a regex location, try_files with alias,
// `if` pseudo-locations, limit_except, merge_slashes off, internal redirects and their limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { accessLogDiff, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

const CONF = wrapConfig(`
  default_type text/plain;
  server {
    listen 127.0.0.1:@P1@;
    server_name loc.test;
    root @SITE@/www;
    index index.html index.htm;

    location = / { index index.html; }
    location = /exact { return 200 "exact\\n"; }
    location /exact { return 200 "prefix-exact\\n"; }
    location /pre { return 200 "prefix /pre\\n"; }
    location /prefix/longer { return 200 "longest prefix\\n"; }
    location /prefix { return 200 "short prefix\\n"; }
    location ^~ /noregex/ { return 200 "noregex $uri\\n"; }
    location ~ ^/regex/(\\w+)/(?<second>\\w+)$ { return 200 "regex 1=$1 second=$second\\n"; }
    location ~* \\.(jpg|jpeg)$ { return 200 "image $uri\\n"; }
    location ~ \\.php$ { return 200 "php uri=$uri args=$args\\n"; }
    location /php/ { index index.php; }
    location /nest/ {
      location /nest/inner/ { return 200 "nested inner\\n"; }
      location ~ \\.txt$ { return 200 "nested regex $uri\\n"; }
      return 200 "nest outer\\n";
    }
    location ~ ^/cap/(.+)$ { alias @SITE@/alias/$1; }
    location /al/ { alias @SITE@/alias/; try_files $uri $uri/ =404; }
    location /al2 { alias @SITE@/alias; }
    location /tf/ { try_files $uri $uri.html $uri/index.htm /fallback.txt; }
    location /tfdir/ { try_files $uri/ =405; }
    location /tfargs/ { try_files /none /tfdest.php?from=tf; }
    location = /fallback.txt { add_header X-Fallback 1; }
    location /if/ {
      add_header X-Loc loc;
      if ($arg_a) { add_header X-If if; }
      if ($arg_b) { return 202 "b set\\n"; }
    }
    location /lim/ { limit_except GET { deny all; } }
    location /internal-only/ { internal; }
    location /to-internal/ { rewrite ^ /internal-only/x.txt last; }
    location /ep/ { error_page 404 /internal-only/x.txt; }
    location /ep-chain/ { error_page 404 /ep-missing/; }
    location /ep-missing/ { error_page 404 /fallback.txt; }
    location /ep-post/ { error_page 405 = /fallback.txt; }
    location /cycle/ { index cycle/; }
    location /rwlast/ { rewrite ^/rwlast/(.*)$ /$1 last; }
    location /rwchain/ { rewrite ^/rwchain/(.*)$ /rwlast/$1 last; }
    location /rwbreak/ { rewrite ^ /fallback.txt break; return 200 "not reached\\n"; }
    location /rwargs/ { rewrite ^ /php.php?x=1 last; }
    location /rwargs2/ { rewrite ^ /php.php?x=1? last; }
    location @named { return 200 "named $uri\\n"; }
    location /tfnamed/ { try_files $uri @named; }
    location /auto/ { autoindex on; index nonexistent.html; }
    location /auto2/ { alias @SITE@/www/auto/; autoindex on; autoindex_exact_size off; }
    location /autojson/ { alias @SITE@/www/auto/; autoindex on; autoindex_format json; }
    location /autojson2/ { alias @SITE@/www/utf/; autoindex on; autoindex_format json; }
    location /autoxml/ { alias @SITE@/www/utf/; autoindex on; autoindex_format xml; }
    location /autojsonp/ { alias @SITE@/www/utf/; autoindex on; autoindex_format jsonp; }
    location /autoutf/ { alias @SITE@/www/utf/; autoindex on; charset utf-8; }
    location /autolatin/ { alias @SITE@/www/utf/; autoindex on; }
    location /autolocal/ { alias @SITE@/www/utf/; autoindex on; autoindex_localtime on; autoindex_exact_size off; }
    location /autonochunk/ { alias @SITE@/www/auto/; autoindex on; chunked_transfer_encoding off; }
    location /ep-rec/ { recursive_error_pages on; error_page 404 /ep-missing/; }
    location /ep-loop/ { recursive_error_pages on; error_page 404 /ep-loop/again; }
    location /absindex/ { index /index.html; }
    location /ep-args/ { error_page 404 = /php.php?from=ep; }
    location /ep-keep-args/ { error_page 404 /fallback.txt; }
    location /setif/ {
      set $flag "";
      if ($arg_a = 1) { set $flag "\${flag}A"; }
      if ($arg_b = 2) { set $flag "\${flag}B"; }
      if ($flag = AB) { return 200 "both\n"; }
      return 200 "flag=[$flag]\n";
    }
    location ~ ^/cap2/(?<name>[^/]+)/(.*)$ { rewrite ^ /$name/$2 last; }
    location /args/ { return 200 "a=$arg_a A=$arg_A multi=$arg_m args=$args\n"; }
  }
  server {
    listen 127.0.0.1:@P2@;
    server_name noslash.test;
    merge_slashes off;
    root @SITE@/www;
    location / { return 200 "uri=$uri\\n"; }
    location /a/ { return 200 "a uri=$uri\\n"; }
  }
`);

const FILES = {
  'www/index.html': 'root index\n',
  'www/fallback.txt': 'fallback\n',
  'www/page.html': 'page\n',
  'www/php/index.php': '<?php ?>\n',
  'www/tf/real': 'tf real\n',
  'www/tf/named.html': 'tf html\n',
  'www/tf/d/index.htm': 'tf htm\n',
  'www/tfdir/sub/index.html': 'sub\n',
  'www/dir/index.htm': 'htm index\n',
  'www/internal-only/x.txt': 'internal x\n',
  'www/if/f.txt': 'if file\n',
  'www/lim/f.txt': 'lim file\n',
  'www/auto/z.txt': 'z\n',
  'www/auto/a-much-longer-file-name-that-autoindex-must-cut-somewhere.txt': 'x'.repeat(5000),
  'www/auto/sub dir/': '',
  'www/auto/<tag>&amp.html': 't\n',
  'www/utf/café.txt': 'c\n',
  'www/utf/ééééééééééééééééééééééééééééééééééééééééééééééééééééééé.txt': 'e\n',
  'www/utf/q"u\\o&<x>.txt': 'q\n',
  'www/utf/tab\there.txt': 't\n',
  'www/utf/big.bin': 'b'.repeat(20_000),
  'www/utf/d/': '',
  'www/cycle/': '',
  'www/tfnamed/real.txt': 'tfnamed real\n',
  'alias/a.txt': 'alias a\n',
  'alias/index.html': 'alias index\n',
  'alias/sub/index.html': 'alias sub index\n',
  'alias/x/y.txt': 'alias xy\n',
};

let pair: Pair | undefined;
let site = '';
before(async () => {
  if (!haveNginx) return;
  site = makeSite(FILES);
  pair = await startPair(CONF, site, ['P1', 'P2']);
});
after(async () => {
  await pair?.stop();
  if (site) rmSync(site, { recursive: true, force: true });
});

const l = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P1', target, host: 'loc.test', ...extra });
const m = (name: string, target: string): Case => ({ name, port: 'P2', target, host: 'noslash.test' });

const CASES: Case[] = [
  l('exact root', '/'),
  l('exact root with args', '/?x=1'),
  l('exact', '/exact'),
  l('exact with trailing slash → prefix', '/exact/'),
  l('prefix /pre matches /prefix-free?', '/pre-x'),
  l('longest prefix wins', '/prefix/longer/x'),
  l('shorter prefix', '/prefix/other'),
  l('prefix beats nothing', '/prefixy'),
  l('^~ skips regex', '/noregex/a.php'),
  l('regex named + positional', '/regex/one/two'),
  l('regex no match', '/regex/one/two/three'),
  l('caseless regex', '/x/IMAGE.JPG'),
  l('regex after prefix', '/prefix/x.php?q=1'),
  l('index into regex location', '/php/'),
  l('index into regex location with args', '/php/?a=b'),
  l('nested prefix', '/nest/inner/x'),
  l('nested regex', '/nest/file.txt'),
  l('nested outer', '/nest/other'),
  l('outer regex vs nested', '/nest/inner/file.txt'),
  l('alias with capture', '/cap/a.txt'),
  l('alias with capture deep', '/cap/x/y.txt'),
  l('alias with capture missing', '/cap/none'),
  l('alias try_files file', '/al/a.txt'),
  l('alias try_files dir', '/al/sub/'),
  l('alias try_files dir no slash', '/al/sub'),
  l('alias try_files root', '/al/'),
  l('alias try_files missing', '/al/none'),
  l('alias without slash', '/al2/a.txt'),
  l('alias without slash dir', '/al2/'),
  l('try_files first', '/tf/real'),
  l('try_files $uri.html', '/tf/named'),
  l('try_files $uri/index.htm', '/tf/d'),
  l('try_files fallback', '/tf/none'),
  l('try_files dir/ =405', '/tfdir/sub'),
  l('try_files dir/ missing', '/tfdir/nope'),
  l('try_files fallback with args', '/tfargs/x?orig=1'),
  l('try_files named', '/tfnamed/none'),
  l('try_files named hit', '/tfnamed/real.txt'),
  l('if add_header replaces', '/if/f.txt?a=1', { compare: ['x-loc', 'x-if'] }),
  l('if not taken', '/if/f.txt', { compare: ['x-loc', 'x-if'] }),
  l('if return', '/if/f.txt?b=1', { compare: ['x-loc', 'x-if'] }),
  l('if taken, file missing', '/if/none?a=1', { compare: ['x-loc', 'x-if'] }),
  l('limit_except GET allows GET', '/lim/f.txt'),
  l('limit_except GET allows HEAD', '/lim/f.txt', { method: 'HEAD' }),
  l('limit_except denies POST', '/lim/f.txt', { method: 'POST', body: 'x' }),
  l('limit_except denies DELETE', '/lim/f.txt', { method: 'DELETE' }),
  l('internal directly → 404', '/internal-only/x.txt'),
  l('rewrite last into internal', '/to-internal/q'),
  l('error_page into internal', '/ep/none'),
  l('error_page chain stops', '/ep-chain/none'),
  l('error_page on 405 POST', '/ep-post/x', { method: 'DELETE' }),
  l('index cycle', '/cycle/'),
  l('rewrite last', '/rwlast/page.html'),
  l('rewrite chain', '/rwchain/page.html'),
  l('rewrite break serves file', '/rwbreak/q', { compare: ['x-fallback'] }),
  l('rewrite args appended', '/rwargs/?orig=1'),
  l('rewrite args not appended', '/rwargs2/?orig=1'),
  l('autoindex with missing index', '/auto/'),
  l('autoindex exact_size off', '/auto2/'),
  l('autoindex json', '/autojson/'),
  l('autoindex json escapes', '/autojson2/'),
  l('autoindex json HEAD', '/autojson2/', { method: 'HEAD' }),
  l('autoindex xml', '/autoxml/'),
  l('autoindex jsonp without callback', '/autojsonp/'),
  l('autoindex jsonp with callback', '/autojsonp/?callback=my.cb_1'),
  l('autoindex jsonp bad callback', '/autojsonp/?callback=a(b)'),
  l('autoindex html utf-8 names cut in characters', '/autoutf/'),
  l('autoindex html names cut in bytes', '/autolatin/'),
  l('autoindex localtime, sizes rounded', '/autolocal/'),
  l('autoindex chunked_transfer_encoding off', '/autonochunk/'),
  { name: 'autoindex chunked_transfer_encoding off keep-alive', port: 'P1', raw: 'GET /autonochunk/ HTTP/1.1\r\nHost: loc.test\r\n\r\n', compare: ['connection'], timeoutMs: 2000 },
  l('recursive_error_pages follows the next error_page', '/ep-rec/none'),
  l('recursive_error_pages cycle', '/ep-loop/none'),
  l('index with absolute path', '/absindex/'),
  l('error_page = uri with args', '/ep-args/none?orig=1'),
  l('error_page keeps original args', '/ep-keep-args/none?orig=1'),
  l('set/if accumulate both', '/setif/?a=1&b=2'),
  l('set/if accumulate one', '/setif/?b=2'),
  l('named capture in location to rewrite', '/cap2/dir/index.htm'),
  l('arg lookup is case-sensitive? and first wins', '/args/?a=1&A=2&m=x&m=y'),
  l('args with encoded chars', '/args/?a=%20x+y'),
  l('directory index htm', '/dir/'),
  l('directory no slash', '/dir'),
  l('encoded location match', '/%65xact'),
  l('args do not affect match', '/exact?/prefix'),
  m('merge_slashes off keeps //', '//a//b'),
  m('merge_slashes off prefix', '/a//x'),
  m('merge_slashes off dot segments', '/a/./b/../c'),
];

test('locations: nginx and bext answer alike', { skip: !haveNginx, timeout: 80_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('locations', outcomes);
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
});

// Every request above also went through both access logs (combined format): the same lines.
test('access log lines match nginx', { skip: !haveNginx, timeout: 10_000 }, async () => {
  const d = await accessLogDiff(pair!, CASES);
  process.stdout.write(`# access log: ${d.lines} lines, ${d.onlyNginx.length + d.onlyBext.length} different\n`);
  assert.deepEqual({ onlyNginx: d.onlyNginx, onlyBext: d.onlyBext }, { onlyNginx: [], onlyBext: [] });
});
