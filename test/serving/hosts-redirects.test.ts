// Differential: server selection (exact, wildcard, regex, empty and default names; several ports; a
// specific address next to a wildcard one) and redirects (return, rewrite flags, absolute_redirect,
// port_in_redirect, server_name_in_redirect, directory redirects, if/set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { accessLogDiff, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

const CONF = wrapConfig(`
  default_type text/plain;
  server { listen 127.0.0.1:@P1@; server_name exact.test; return 200 "exact host=$host name=$server_name\\n"; }
  server { listen 127.0.0.1:@P1@; server_name *.wild.test; return 200 "leading-wildcard $host\\n"; }
  server { listen 127.0.0.1:@P1@; server_name .dot.test; return 200 "dot-wildcard $host\\n"; }
  server { listen 127.0.0.1:@P1@; server_name www.trail.*; return 200 "trailing-wildcard $host\\n"; }
  server { listen 127.0.0.1:@P1@; server_name ~^(?<sub>[a-z]+)\\.re\\.test$; return 200 "regex sub=$sub host=$host\\n"; }
  server { listen 127.0.0.1:@P1@; server_name ~^(\\d+)\\.num\\.test$; return 200 "regex capture=$1\\n"; }
  server { listen 127.0.0.1:@P1@; server_name ""; return 200 "empty-name host=[$host]\\n"; }
  server { listen 127.0.0.1:@P1@ default_server; server_name default.test; return 200 "default host=$host\\n"; }

  # P2: no default_server, so the first server is the default.
  server { listen 127.0.0.1:@P2@; server_name first.test; return 200 "p2 first $host\\n"; }
  server { listen 127.0.0.1:@P2@; server_name second.test; return 200 "p2 second $host\\n"; }

  # P3: a wildcard listen and a specific address on the same port.
  server { listen @P3@; server_name any.test; return 200 "p3 wildcard-address $server_addr\\n"; }
  server { listen 127.0.0.2:@P3@; server_name specific.test; return 200 "p3 specific-address $server_addr\\n"; }
  server { listen 127.0.0.2:@P3@; server_name other.test; return 200 "p3 specific other\\n"; }

  # P4: redirects.
  server {
    listen 127.0.0.1:@P4@;
    server_name redir.test alias.redir.test;
    root @SITE@/www;
    location = /ret301 { return 301 /target; }
    location = /ret302 { return 302 http://elsewhere.test/x; }
    location = /retURL { return https://elsewhere.test$request_uri; }
    location = /ret200 { return 200 "text uri=$uri args=$args"; }
    location = /ret204 { return 204; }
    location = /ret404 { return 404; }
    location = /ret418 { return 418 "teapot"; }
    location = /ret444 { return 444; }
    location = /ret307 { return 307 /t?x=$arg_y; }
    location = /ret308 { return 308 $scheme://$host:$server_port/p; }
    location = /ret301text { return 301 "/with space"; }
    location = /ret500 { return 500 "oops"; }
    location = /ret200empty { return 200; }
    location /rw/ { rewrite ^/rw/(.*)$ /target/$1 permanent; }
    location /rw2/ { rewrite ^/rw2/(.*)$ /target/$1 redirect; }
    location /rw3/ { rewrite ^/rw3/(.*)$ /target/$1? permanent; }
    location /rwlast/ { rewrite ^/rwlast/(.*)$ /ret200?from=$1 last; }
    location /rwbreak/ { rewrite ^/rwbreak/(.*)$ /real/$1 break; }
    location /rwabs/ { rewrite ^ http://abs.test/x; }
    location /rwenc/ { rewrite ^/rwenc/(.*)$ /target/$1 permanent; }
    location /noabs/ { absolute_redirect off; return 301 /rel; }
    location /noport/ { port_in_redirect off; return 301 /rel; }
    location /sname/ { server_name_in_redirect on; return 301 /rel; }
    location /dirnoabs/ { absolute_redirect off; }
    location /loop/ { rewrite ^ /loop/x last; }
    location /set/ { set $v "val-$arg_a"; return 200 $v; }
    location /if/ {
      if ($arg_x = 1) { return 403; }
      if ($http_user_agent ~* bot) { return 429; }
      if ($request_method = POST) { return 405; }
      if (-f $request_filename) { return 200 "is a file"; }
      return 200 "fell through";
    }
    location /vars/ { return 200 "$request_uri|$uri|$args|$is_args|$arg_a|$host|$http_x_custom|$request_method|$server_protocol|$scheme"; }
  }
`);

const FILES = {
  'www/real/r.txt': 'real file\n',
  'www/dir/index.html': 'dir\n',
  'www/dirnoabs/sub/index.html': 'sub\n',
  'www/if/f.txt': 'f\n',
};

let pair: Pair | undefined;
let site = '';
before(async () => {
  if (!haveNginx) return;
  site = makeSite(FILES);
  pair = await startPair(CONF, site, ['P1', 'P2', 'P3', 'P4']);
});
after(async () => {
  await pair?.stop();
  if (site) rmSync(site, { recursive: true, force: true });
});

const on = (port: string) => (name: string, host: string | null, extra: Partial<Case> = {}): Case => ({ name, port, target: '/', host, ...extra });
const p1 = on('P1');
const p2 = on('P2');
const p3 = on('P3');
const r = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P4', target, host: 'redir.test', ...extra });

const CASES: Case[] = [
  p1('exact', 'exact.test'),
  p1('exact uppercase', 'EXACT.Test'),
  p1('exact trailing dot', 'exact.test.'),
  p1('exact with port', 'exact.test:@P1@'),
  p1('exact with other port', 'exact.test:1'),
  p1('leading wildcard', 'a.wild.test'),
  p1('leading wildcard deep', 'x.y.wild.test'),
  p1('leading wildcard bare domain → default', 'wild.test'),
  p1('dot wildcard bare', 'dot.test'),
  p1('dot wildcard sub', 'a.dot.test'),
  p1('trailing wildcard', 'www.trail.example'),
  p1('trailing wildcard deep', 'www.trail.co.uk'),
  p1('regex named capture', 'abc.re.test'),
  p1('regex uppercase host', 'ABC.RE.TEST'),
  p1('regex no match → default', 'ab1.re.test'),
  p1('regex positional capture', '42.num.test'),
  p1('unknown → default_server', 'nowhere.test'),
  p1('IP host → default', '127.0.0.1'),
  p1('IP host with port', '127.0.0.1:@P1@'),
  p1('no Host on HTTP/1.0 → empty name', null, { http10: true }),
  p1('no Host on HTTP/1.1 → 400', null),
  p1('empty Host', ''),
  p1('Host with slash → 400', 'a/b'),
  p1('Host with dotdot → 400', 'a..b'),
  p1('Host IPv6 literal', '[::1]'),
  p1('Host IPv6 literal with port', '[::1]:80'),
  p1('Host with bad port', 'exact.test:abc'),
  p1('Host with underscore', 'ex_act.test'),
  p1('Host leading dot', '.exact.test'),
  p1('two Host headers → 400', null, { raw: 'GET / HTTP/1.1\r\nHost: exact.test\r\nHost: exact.test\r\nConnection: close\r\n\r\n' }),
  p1('absolute URI wins over Host', 'default.test', { target: 'http://exact.test/' }),
  p1('absolute URI https scheme', 'default.test', { target: 'https://exact.test/' }),
  p1('absolute URI with port', 'default.test', { target: 'http://exact.test:9/' }),
  p1('absolute URI uppercase', 'default.test', { target: 'http://EXACT.TEST/x' }),
  p2('first is default on P2', 'nope.test'),
  p2('second by name', 'second.test'),
  p2('first by name', 'first.test'),
  p3('wildcard address by name', 'any.test'),
  p3('wildcard address, unknown name', 'specific.test'),
  p3('specific address by name', 'specific.test', { address: '127.0.0.2' }),
  p3('specific address, other name', 'other.test', { address: '127.0.0.2' }),
  p3('specific address does not see wildcard servers', 'any.test', { address: '127.0.0.2' }),
  // redirects
  r('return 301 relative → absolute', '/ret301'),
  r('return 301 with Host port', '/ret301', { host: 'redir.test:@P4@' }),
  r('return 301 alias name', '/ret301', { host: 'alias.redir.test' }),
  r('return 301 HTTP/1.0 no host', '/ret301', { host: null, http10: true }),
  r('return 302 absolute', '/ret302'),
  r('return URL alone → 302', '/retURL?a=b'),
  r('return 200 text', '/ret200?q=1'),
  r('return 204', '/ret204'),
  r('return 404', '/ret404'),
  r('return 418 text', '/ret418'),
  r('return 444 closes', '/ret444'),
  r('return 307 with arg', '/ret307?y=5'),
  r('return 308 scheme host port', '/ret308'),
  r('return 301 with space', '/ret301text'),
  r('return 500 text', '/ret500'),
  r('return 200 empty', '/ret200empty'),
  r('HEAD return 200', '/ret200', { method: 'HEAD' }),
  r('HEAD return 301', '/ret301', { method: 'HEAD' }),
  r('POST return 301', '/ret301', { method: 'POST', body: 'x=1' }),
  r('rewrite permanent', '/rw/a/b?x=1'),
  r('rewrite redirect', '/rw2/a'),
  r('rewrite permanent drop args', '/rw3/a?x=1'),
  r('rewrite last', '/rwlast/z?k=v'),
  r('rewrite break to file', '/rwbreak/r.txt'),
  r('rewrite break missing', '/rwbreak/none.txt'),
  r('rewrite absolute', '/rwabs/q'),
  r('rewrite with encoded chars', '/rwenc/a%20b%3Fc'),
  r('rewrite with plus', '/rwenc/a+b'),
  r('absolute_redirect off', '/noabs/'),
  r('port_in_redirect off', '/noport/'),
  r('server_name_in_redirect on', '/sname/', { host: 'alias.redir.test' }),
  r('directory redirect', '/dir'),
  r('directory redirect with args', '/dir?x=1'),
  r('directory redirect absolute_redirect off', '/dirnoabs/sub'),
  r('directory redirect encoded', '/d%69r'),
  r('rewrite loop → 500', '/loop/a'),
  r('set', '/set/?a=42'),
  r('if arg', '/if/?x=1'),
  r('if regex header', '/if/', { headers: [['User-Agent', 'GoodBot/1']] }),
  r('if method', '/if/', { method: 'POST', body: '' }),
  r('if -f', '/if/f.txt'),
  r('if fall through', '/if/none'),
  r('variables', '/vars/a%20b/./c?a=1&b=2', { headers: [['X-Custom', 'hello']] }),
  r('variables no args', '/vars/x'),
  r('variables HTTP/1.0', '/vars/x?', { http10: true }),
  r('unknown location → 404', '/nothing-here'),
];

test('hosts and redirects: nginx and bext answer alike', { skip: !haveNginx, timeout: 80_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('hosts and redirects', outcomes);
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
});

// Every request above also went through both access logs (combined format): the same lines.
test('access log lines match nginx', { skip: !haveNginx, timeout: 10_000 }, async () => {
  const d = await accessLogDiff(pair!);
  process.stdout.write(`# access log: ${d.lines} lines, ${d.onlyNginx.length + d.onlyBext.length} different\n`);
  assert.deepEqual({ onlyNginx: d.onlyNginx, onlyBext: d.onlyBext }, { onlyNginx: [], onlyBext: [] });
});
