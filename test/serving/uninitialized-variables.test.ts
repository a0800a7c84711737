// Differential: a `set` variable read before anything set it (ngx_http_rewrite_var) is empty and
// logged once per request as `using uninitialized "NAME" variable` (warn), wherever it is read (a
// return text, an `if`, another `set`, the access log's format, an auth_request subrequest), unless
// uninitialized_variable_warn is off where it is first read; a map's or a built-in's name is never
// reported. Answers and error lines as nginx's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { errorLinesOf, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  pair = await startPair(wrapConfig(`
  map $uri $mapped { default ""; /m/set x; }
  log_format withvar '$uri [$Logged]';
  server {
    listen 127.0.0.1:@P1@;
    location /a { set $foo 1; return 200 "a[$foo]\\n"; }
    location /twice { return 200 "[$foo][$FOO]\\n"; }
    location /off { uninitialized_variable_warn off; return 200 "off[$foo]\\n"; }
    location /if { if ($bar) { return 200 "bar\\n"; } return 200 "no bar\\n"; }
    location /copy { set $baz "<$foo>"; return 200 "copy[$baz]\\n"; }
    location /later { set $x "[$foo]"; set $foo 2; return 200 "later$x[$foo]\\n"; }
    location /m/ { set $mapped y; return 200 "map[$mapped]\\n"; }
    location /m2/ { return 200 "map[$mapped]\\n"; }
    location /log { access_log @PREFIX@/vars.log withvar; return 200 "log\\n"; }
    location /never { set $bar 1; set $Logged 1; }
    location /authed { auth_request /check; return 200 "in[$foo]\n"; }
    location = /check { set $y "[$foo]"; return 204; }
  }
  server {
    listen 127.0.0.1:@P2@;
    uninitialized_variable_warn off;
    location / { return 200 "quiet[$foo]\\n"; }
    location /loud { uninitialized_variable_warn on; return 200 "loud[$foo]\\n"; }
  }`), makeSite({}), ['P1', 'P2']);
});

after(async () => {
  await pair?.stop();
});

const c = (target: string, port = 'P1'): Case => ({ name: `${port} ${target}`, port, target });
const cases: Case[] = [
  c('/a'), c('/twice'), c('/off'), c('/if'), c('/copy'), c('/later'), c('/m/set'), c('/m2/'), c('/log'), c('/authed'),
  c('/', 'P2'), c('/loud', 'P2'),
];

test('uninitialized set variables: empty, logged once per request as nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, cases);
  const { unexpected } = report('uninitialized variables', outcomes);
  assert.deepEqual(unexpected, []);
  const pick = (log: string) => log.split('\n').filter((l) => l.includes('uninitialized'))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/, client: .*?, server: .*?, request: /, ', request: ').replace(/, host: .*$/, ''));
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  // What nginx logs, so that the comparison cannot pass on two empty logs.
  assert.ok(theirs.includes('[warn] using uninitialized "foo" variable, request: "GET /twice HTTP/1.1"'), theirs.join('\n'));
  assert.equal(theirs.filter((l) => l.includes('/twice')).length, 1);
  assert.ok(!theirs.some((l) => l.includes('/off') || l.includes('"mapped"') || l.includes('GET / HTTP')));
});
