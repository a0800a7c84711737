// Differential: the head of a proxied response, header order included, as nginx writes it: the
// upstream's headers in its order (Last-Modified and ETag among them, on any status), then expires
// and add_header; a Location proxy_redirect rewrote to a relative one made absolute with the core
// headers, any other left in its place as sent (ngx_http_upstream_rewrite_location), relative or
// absolute, with proxy_redirect off and absolute_redirect off; nginx's own Server unless the
// upstream's is passed; after X-Accel-Redirect, the file with the upstream's Content-Type and
// the headers nginx keeps from it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from '../serving/harness.ts';

let pair: Pair | undefined;
let upstream: Server | undefined;

before(async () => {
  if (!haveNginx) return;
  upstream = createServer((req, res) => {
    const url = req.url ?? '';
    const port = (upstream!.address() as AddressInfo).port;
    res.setHeader('X-First', '1');
    let status = 200;
    if (url.endsWith('/rel')) { status = 302; res.setHeader('Location', '/somewhere/else?x=1'); }
    if (url.endsWith('/abs-up')) { status = 301; res.setHeader('Location', `http://127.0.0.1:${port}/h/target`); }
    if (url.endsWith('/abs-other')) { status = 302; res.setHeader('Location', 'http://example.com/x'); }
    if (url.endsWith('/lm404')) status = 404;
    if (url.endsWith('/server')) res.setHeader('Server', 'upstream/1');
    if (url.endsWith('/accel')) {
      res.setHeader('X-Accel-Redirect', '/files/doc.txt');
      res.setHeader('Content-Disposition', 'attachment; filename="doc.pdf"');
      res.setHeader('Set-Cookie', 'dl=1');
    }
    res.setHeader('Last-Modified', 'Tue, 01 Jan 2030 00:00:00 GMT');
    res.setHeader('ETag', '"e1"');
    res.setHeader('X-Last', '2');
    res.writeHead(status, { 'Content-Type': 'text/plain' });
    res.end('body\n');
  });
  await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', () => r()));
  const up = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    server_name localhost;
    location /h/ { proxy_pass http://${up}; add_header X-Added yes; expires 1h; }
    location /off/ { proxy_pass http://${up}/h/; proxy_redirect off; }
    location /noabs/ { proxy_pass http://${up}/h/; absolute_redirect off; }
    location /srv/ { proxy_pass http://${up}/h/; proxy_pass_header Server; }
    location /files/ { root @SITE@; }
  }`), makeSite({ 'files/doc.txt': 'the document\n' }), ['P1']);
});

after(async () => {
  await pair?.stop();
  await new Promise((r) => upstream?.close(r));
});

const get = (name: string, target: string): Case => ({ name, port: 'P1', target, compare: ['x-added', 'etag', 'x-first'] });

const cases: Case[] = [
  get('200: the upstream\'s order, then expires and add_header', '/h/plain'),
  get('a relative Location no rule matches', '/h/rel'),
  get('an absolute Location proxy_redirect makes relative', '/h/abs-up'),
  get('an absolute Location no rule matches', '/h/abs-other'),
  get('Last-Modified on a 404', '/h/lm404'),
  get('proxy_redirect off', '/off/abs-up'),
  get('absolute_redirect off', '/noabs/abs-up'),
  get('proxy_pass_header Server, sent', '/srv/server'),
  get('proxy_pass_header Server, not sent', '/srv/plain'),
  { ...get('X-Accel-Redirect: the file with the upstream\'s Content-Type and the headers nginx keeps', '/h/accel'), compare: ['content-disposition', 'set-cookie', 'x-first'] },
];

test('proxied response heads, in nginx\'s order', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const outcomes = await runCases(pair!, cases);
  const { unexpected } = report('proxied heads', outcomes);
  assert.deepEqual(unexpected, []);
  assert.match(outcomes[2]!.nginx.headers['location'] ?? '', /^http:\/\/localhost:@P1@\/h\/target$/);
});
