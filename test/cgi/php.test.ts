// Differential: fastcgi_pass to a real php-fpm, nginx and bext on the same configuration (Debian's
// snippets/fastcgi-php.conf and fastcgi.conf): the parameters PHP sees, request bodies (in memory
// and spooled to a file), PATH_INFO, index.php, Status and Location, the response's headers in
// nginx's order, HEAD, a large streamed body, X-Accel-Redirect, fastcgi_intercept_errors,
// fastcgi_param overriding and removing client headers, if_not_empty, pass_request_headers off,
// a unix socket, fastcgi_keep_conn with an upstream keepalive, an application that is down, and
// PHP's warnings in the error log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { errorLinesOf, freePort, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from '../serving/harness.ts';
import { havePhpFpm, startPhpFpm, type PhpFpm } from './php-fpm.ts';

const skip = !haveNginx || !havePhpFpm;
let pair: Pair | undefined;
let fpm: PhpFpm | undefined;
let fpmUnix: PhpFpm | undefined;

const SITE = {
  'info.php': `<?php
header('Content-Type: text/plain');
$s = $_SERVER;
foreach (['REMOTE_PORT', 'REQUEST_TIME', 'REQUEST_TIME_FLOAT'] as $k) unset($s[$k]);
ksort($s);
foreach ($s as $k => $v) echo $k, '=', $v, "\\n";
$in = file_get_contents('php://input');
echo 'body=', strlen($in), ' ', md5($in), "\\n";
`,
  'status.php': `<?php
if (isset($_GET['raw'])) header('Status: ' . $_GET['raw']);
if (isset($_GET['code'])) http_response_code((int)$_GET['code']);
if (isset($_GET['loc'])) header('Location: ' . $_GET['loc']);
echo "status page\\n";
`,
  'headers.php': `<?php
header('Content-Type: application/json');
header('X-Custom-Case: yes');
setcookie('a', '1');
setcookie('b', '2', ['path' => '/p', 'httponly' => true]);
header('ETag: "v1"');
header('Cache-Control: no-store');
header('Last-Modified: Tue, 01 Jan 2030 00:00:00 GMT');
echo '{"ok":true}';
`,
  'big.php': `<?php
$n = (int)($_GET['n'] ?? 0);
$chunk = str_repeat('0123456789abcdef', 4096);
for ($sent = 0; $sent < $n; $sent += strlen($chunk)) { echo substr($chunk, 0, min(strlen($chunk), $n - $sent)); flush(); }
`,
  'length.php': `<?php
$body = str_repeat('x', 5000);
header('Content-Length: ' . strlen($body));
echo $body;
`,
  'accel.php': `<?php
header('Content-Type: application/pdf');
header('Content-Disposition: attachment; filename="file.pdf"');
header('Cache-Control: private');
header('X-Not-Kept: 1');
setcookie('dl', '1');
header('X-Accel-Redirect: /static/file.txt');
echo "not this\\n";
`,
  'warn.php': `<?php
error_log('first warning');
echo "some output\\n";
error_log("second one...\\n");
`,
  'index.php': `<?php echo "index.php at ", $_SERVER['SCRIPT_NAME'], " for ", $_SERVER['REQUEST_URI'], " args ", $_SERVER['QUERY_STRING'], "\\n";`,
  'static/file.txt': 'the static file\n',
  'static/nf.txt': 'not found page\n',
};

const BIG = 'q'.repeat(300_000);

before(async () => {
  if (skip) return;
  fpm = await startPhpFpm(await freePort(), 6);
  // A php-fpm child serves one connection at a time: the connections nginx and bext keep
  // (fastcgi_keep_conn) hold a child each, so they get a pool of their own.
  fpmUnix = await startPhpFpm(undefined, 4);
  const down = await freePort();
  const site = makeSite(SITE);
  const script = (name: string) => `include fastcgi.conf; fastcgi_param SCRIPT_FILENAME $document_root/${name};`;
  pair = await startPair(wrapConfig(`
  upstream php_keep {
    server ${fpmUnix.address};
    keepalive 4;
  }
  server {
    listen 127.0.0.1:@P1@;
    server_name localhost;
    root @SITE@;
    index index.php index.html;
    location / { try_files $uri $uri/ /index.php?$args; }
    location ~ [^/]\\.php(/|$) {
      include /etc/nginx/snippets/fastcgi-php.conf;
      fastcgi_pass ${fpm.address};
    }
    location /errors/ {
      fastcgi_intercept_errors on;
      error_page 404 /static/nf.txt;
      ${script('status.php')}
      fastcgi_pass ${fpm.address};
    }
    location /keep/ {
      ${script('info.php')}
      fastcgi_keep_conn on;
      fastcgi_pass php_keep;
    }
    location /params/ {
      ${script('info.php')}
      fastcgi_param HTTP_X_TEST "overridden";
      fastcgi_param HTTP_USER_AGENT "";
      fastcgi_param EMPTY_KEPT $arg_none;
      fastcgi_param EMPTY_SKIPPED $arg_none if_not_empty;
      fastcgi_param FROM_VAR "$request_method $uri";
      fastcgi_pass ${fpm.address};
    }
    location /noheaders/ {
      ${script('info.php')}
      fastcgi_pass_request_headers off;
      fastcgi_pass ${fpm.address};
    }
    location /unix/ {
      ${script('info.php')}
      fastcgi_pass ${fpmUnix.address};
    }
    location /down/ {
      include fastcgi.conf;
      fastcgi_pass 127.0.0.1:${down};
    }
    location /nosock/ {
      include fastcgi.conf;
      fastcgi_pass unix:@SITE@/missing.sock;
    }
    location /static/ { }
  }`), site, ['P1'], { 'fastcgi.conf': readFileSync('/etc/nginx/fastcgi.conf', 'utf8') });
});

after(async () => {
  await pair?.stop();
  await fpm?.stop();
  await fpmUnix?.stop();
});

const get = (name: string, target: string, headers: [string, string][] = [], extra: Partial<Case> = {}): Case => ({ name, port: 'P1', target, headers, ...extra });
const COMPARE = ['set-cookie', 'x-custom-case', 'x-accel-redirect', 'status'];

const cases: Case[] = [
  get('the parameters PHP sees', '/info.php?a=1&b=%20x', [['X-Test', 'yes'], ['Cookie', 'c=1']]),
  get('PATH_INFO from fastcgi_split_path_info', '/info.php/extra/path?q=1'),
  get('a form POST', '/info.php', [['Content-Type', 'application/x-www-form-urlencoded']], { method: 'POST', body: 'field=1&other=two' }),
  get('a body spooled to a file', '/info.php', [['Content-Type', 'text/plain']], { method: 'POST', body: BIG }),
  {
    name: 'a chunked body: CONTENT_LENGTH once read', port: 'P1',
    raw: 'POST /info.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  },
  get('a directory: index.php', '/'),
  get('a permalink through try_files to index.php', '/blog/some-post/?p=1&q=two'),
  get('a static file beside them', '/static/file.txt'),
  get('a script that does not exist: try_files =404', '/missing.php'),
  get('Status 404 from PHP', '/status.php?code=404'),
  get('Status 201 from PHP', '/status.php?code=201'),
  get('a relative Location: 302, left as sent', '/status.php?loc=/relative/x'),
  get('an absolute Location', '/status.php?loc=http://example.com/abs'),
  get('301 with Location', '/status.php?code=301&loc=/moved'),
  get('a Status line of its own', '/status.php?raw=299%20Custom%20Reason'),
  { ...get('headers, cookies and their order', '/headers.php'), compare: COMPARE },
  get('Content-Length from PHP', '/length.php'),
  get('HEAD', '/info.php', [], { method: 'HEAD' }),
  get('1 MiB streamed', '/big.php?n=1048576'),
  { ...get('X-Accel-Redirect: the file, with the application\'s Content-Type and the headers nginx keeps', '/accel.php'), compare: [...COMPARE, 'content-disposition', 'x-not-kept'] },
  get('fastcgi_intercept_errors with an error_page', '/errors/x?code=404'),
  get('fastcgi_intercept_errors without one', '/errors/x?code=500'),
  get('fastcgi_param over client headers, if_not_empty', '/params/x', [['X-Test', 'client'], ['User-Agent', 'ua/1']]),
  get('fastcgi_pass_request_headers off', '/noheaders/x', [['X-Test', 'client']]),
  get('a header sent twice', '/info.php', [['X-Multi', 'one'], ['X-Multi', 'two']]),
  get('a unix socket', '/unix/x?via=unix'),
  get('fastcgi_keep_conn, 1', '/keep/a'),
  get('fastcgi_keep_conn, 2', '/keep/b', [], { method: 'POST', body: 'kept' }),
  get('fastcgi_keep_conn, 3', '/keep/c'),
  get('PHP warnings to stderr', '/warn.php'),
  get('the application is down', '/down/x'),
  get('its socket is missing', '/nosock/x'),
];

test('fastcgi_pass to php-fpm: identical to nginx', { skip, timeout: 120_000 }, async () => {
  const outcomes = await runCases(pair!, cases, 2);
  const { unexpected } = report('fastcgi', outcomes);
  assert.deepEqual(unexpected, []);
  // Every case was answered (two timeouts would compare equal).
  for (const o of outcomes) assert.equal(typeof o.nginx.status, 'number', `${o.c.name}: ${o.nginx.status}`);
  const status = (name: string) => outcomes.find((o) => o.c.name === name)!.nginx.status;
  assert.equal(status('the parameters PHP sees'), 200);
  assert.match(outcomes[0]!.nginx.body, /SCRIPT_FILENAME=.*\/info\.php/);
  assert.match(outcomes[1]!.nginx.body, /PATH_INFO=\/extra\/path/);
  assert.match(outcomes[3]!.nginx.body, /body=300000 /);
  assert.match(outcomes[4]!.nginx.body, /CONTENT_LENGTH=11\n[\s\S]*body=11 /);
  assert.equal(status('the application is down'), 502);
  assert.equal(status('X-Accel-Redirect: the file, with the application\'s Content-Type and the headers nginx keeps'), 200);
});

test('fastcgi_pass: the error lines are nginx\'s', { skip, timeout: 30_000 }, async () => {
  const pick = (log: string) => log.split('\n')
    .filter((l) => /FastCGI|connect\(\)|no live upstreams|timed out/.test(l))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT'))
    .sort();
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.some((l) => l.includes('FastCGI sent in stderr: "PHP message: first warning')));
});
