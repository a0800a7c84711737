// Differential: proxy_cookie_domain, proxy_cookie_path and proxy_cookie_flags on an upstream's
// Set-Cookie headers (text and regex rules, captures, variables, a leading dot, inheritance and
// `off`, flags added, removed and changed), against real nginx.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { haveNginx, makeSite, send, startPair, wrapConfig, type Pair } from '../serving/harness.ts';

let pair: Pair | undefined;
let upstream: Server | undefined;

const COOKIES = [
  'a=1; Domain=backend.internal; Path=/app/sub; HttpOnly',
  'b=2; domain=.BACKEND.internal; path=/other',
  'c=3;Path=/app;Secure;SameSite=Lax',
  'd=4',
  'flag',
  'e=5; Domain=x.y; Path=/; Secure; HttpOnly; SameSite=None',
  'f = 6 ;  Path = /app/x  ; samesite=strict',
];

before(async () => {
  if (!haveNginx) return;
  upstream = createServer((_req, res) => {
    res.setHeader('Set-Cookie', COOKIES);
    res.end('ok\n');
  });
  await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r));
  const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/`;
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    server_name site.test;
    proxy_cookie_path /app /root;
    location /l1/ { proxy_pass ${up}; proxy_cookie_domain backend.internal example.com; proxy_cookie_path /app/ /; }
    location /l2/ { proxy_pass ${up}; proxy_cookie_domain ~\\.internal$ public.test; proxy_cookie_path ~^/(app)(.*)$ /x/$1$2; }
    location /l3/ { proxy_pass ${up}; proxy_cookie_flags ~ secure httponly samesite=strict; }
    location /l4/ { proxy_pass ${up}; proxy_cookie_flags c nosecure nosamesite; proxy_cookie_flags ~^[ef] nohttponly samesite=lax; }
    location /l5/ { proxy_pass ${up}; proxy_cookie_domain .x.y .$host.proxy; }
    location /l6/ { proxy_pass ${up}; }
    location /l7/ { proxy_pass ${up}; proxy_cookie_path off; proxy_cookie_domain off; }
  }`), makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
  upstream?.close();
});

/** The Set-Cookie lines of one answer. */
async function cookies(port: number, path: string): Promise<string[]> {
  const r = await send(port, `GET ${path} HTTP/1.0\r\nHost: site.test\r\n\r\n`);
  return r.headers.filter(([k]) => k.toLowerCase() === 'set-cookie').map(([, v]) => v);
}

test('Set-Cookie rewritten as nginx rewrites it', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const p = pair!;
  for (const path of ['/l1/', '/l2/', '/l3/', '/l4/', '/l5/', '/l6/', '/l7/']) {
    const [n, b] = [await cookies(p.nginx.ports.P1!, path), await cookies(p.bext.ports.P1!, path)];
    assert.deepEqual(b, n, path);
  }
  // For the reader: a leading dot kept, the path rule a prefix.
  assert.deepEqual((await cookies(p.nginx.ports.P1!, '/l1/')).slice(0, 2), ['a=1; Domain=example.com; Path=/sub; HttpOnly', 'b=2; domain=.example.com; path=/other']);
});
