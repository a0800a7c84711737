// Differential: valid_referers and $invalid_referer (none, blocked, server_names with exact,
// wildcard and regex names, exact and wildcard hosts, a host with a URI part, regexes), and the
// usual hotlink guard `if ($invalid_referer) { return 403; }`: the same answers as nginx's. Before,
// valid_referers was only warned about and $invalid_referer was always empty: the guard let
// every referer through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    server_name site.test *.site.test www.other.* ~^(?<sub>[a-z]+)\\.regex\\.test$;
    root @SITE@;
    valid_referers none blocked server_names example.com *.friend.test .dot.test partner.* gallery.test/pics/ ~\\.search\\.test/ ~BIG;
    location / { return 200 "invalid=[$invalid_referer]\\n"; }
    location /img/ {
      if ($invalid_referer) { return 403; }
    }
    location /strict/ {
      valid_referers example.com;
      return 200 "strict=[$invalid_referer]\\n";
    }
  }
  server {
    listen 127.0.0.1:@P2@;
    location / { return 200 "unset=[$invalid_referer]\\n"; }
  }`), makeSite({ 'img/a.png': 'png\n' }), ['P1', 'P2']);
});

after(async () => {
  await pair?.stop();
});

const ref = (referer: string | undefined, target = '/'): Case => ({
  name: `${target} Referer: ${referer ?? '(none)'}`, port: 'P1', target, ...(referer !== undefined ? { headers: [['Referer', referer]] as [string, string][] } : {}),
});

const cases: Case[] = [
  ref(undefined), ref(''), ref('garbage'), ref('ftp://example.com/'), ref('http://x'), ref('http://example.com'),
  ref('https://EXAMPLE.com/a'), ref('http://example.com:8080/x'), ref('http://evil.com/'), ref('http://a.friend.test/'),
  ref('http://friend.test/'), ref('http://dot.test/'), ref('http://x.dot.test/y'), ref('http://partner.org/'),
  ref('http://gallery.test/pics/1.jpg'), ref('http://gallery.test/other/'), ref('http://gallery.test:81/pics/x'),
  ref('http://site.test/'), ref('http://x.site.test/'), ref('http://www.other.net/'), ref('http://foo.regex.test/'),
  ref('http://www.search.test/q'), ref('http://www.search.test'), ref('https://big.example/'), ref('http://mostly.big.com/'),
  ref('http://evil.com/', '/img/a.png'), ref('http://example.com/', '/img/a.png'), ref(undefined, '/img/a.png'),
  ref('http://site.test/', '/strict/'), ref(undefined, '/strict/'), ref('http://example.com/', '/strict/'),
  { name: 'no valid_referers anywhere', port: 'P2', target: '/', headers: [['Referer', 'http://evil.com/']] },
];

test('valid_referers and $invalid_referer: identical to nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, cases);
  const { unexpected } = report('referer', outcomes);
  assert.deepEqual(unexpected, []);
  assert.equal(outcomes.find((o) => o.c.name === '/img/a.png Referer: http://evil.com/')!.nginx.status, 403);
});
