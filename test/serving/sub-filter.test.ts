// Differential: sub_filter on static files, proxied pages, `return` text and error pages; once and
// everywhere; case; variables; sub_filter_types; sub_filter_last_modified; a match split between
// the pieces an upstream sends; with gzip after it. Compared with nginx: status, head, body.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;
let upstream: Server | undefined;

const PAGE = '<html><a href="http://backend.internal/x">Backend.Internal</a> backend.internal <b>old</b> OLD old</html>\n';

before(async () => {
  if (!haveNginx) return;
  upstream = createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/html');
    // The page in pieces that split a match.
    res.write(PAGE.slice(0, 20));
    setTimeout(() => {
      res.write(PAGE.slice(20, 45));
      setTimeout(() => res.end(PAGE.slice(45)), 20);
    }, 20);
  });
  await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r));
  const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    root @SITE@;
    sub_filter backend.internal $host;
    sub_filter '<b>old</b>' '<b>new</b>';
    location /static/ { }
    location /all/ { alias @SITE@/static/; sub_filter_once off; sub_filter old NEW; }
    location /plain/ { alias @SITE@/static/; sub_filter_types text/plain; }
    location /lm/ { alias @SITE@/static/; sub_filter_last_modified on; }
    location /up/ { proxy_pass ${up}/; }
    location /ret/ { default_type text/html; return 200 "<p>backend.internal and backend.internal</p>\\n"; }
    location /gz/ { alias @SITE@/static/; gzip on; gzip_min_length 1; }
  }`), makeSite({ 'static/page.html': PAGE, 'static/page.txt': PAGE }), ['P1']);
});

after(async () => {
  await pair?.stop();
  upstream?.close();
});

const c = (name: string, target: string, headers: [string, string][] = []): Case => ({ name, port: 'P1', target, headers, host: 'site.test', compare: ['etag', 'last-modified'] });

const cases: Case[] = [
  c('a static page', '/static/page.html'),
  c('text/plain is not rewritten', '/static/page.txt'),
  c('sub_filter_types text/plain', '/plain/page.txt'),
  c('sub_filter_once off', '/all/page.html'),
  c('sub_filter_last_modified on: a weak ETag', '/lm/page.html'),
  c('a proxied page, a match split between pieces', '/up/'),
  c('return text', '/ret/'),
  c('an error page', '/static/missing.html'),
  c('HEAD', '/static/page.html'),
  c('gzip after it', '/gz/page.html', [['Accept-Encoding', 'gzip']]),
  c('a range: the whole page', '/static/page.html', [['Range', 'bytes=0-10']]),
];
cases[8] = { ...cases[8]!, method: 'HEAD' };

test('sub_filter: identical to nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, cases);
  const { unexpected } = report('sub_filter', outcomes);
  assert.deepEqual(unexpected, []);
  assert.match(outcomes[0]!.nginx.body.toString(), /site\.test.*<b>new<\/b>/);
});
