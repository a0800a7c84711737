import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLocation, findNamedLocation } from '../../src/config/select.ts';
import { conv, http } from './helpers.ts';

const server = (body: string) => conv(http(`server { listen 80;\n${body}\n}`)).state.servers[0]!;
const find = (s: ReturnType<typeof server>, uri: string) => {
  const m = findLocation(s, uri);
  return m.redirect ? `redirect:${m.location!.name}` : m.location ? `${m.location.kind}:${m.location.name}` : 'none';
};

test('= wins at once, the longest prefix is remembered, regexes in order override it', () => {
  const s = server(`
    location = /x { }
    location /x { }
    location /x/long/ { }
    location / { }
    location ~ \\.(gif)$ { }
    location ~* \\.GIF$ { }
  `);
  assert.equal(find(s, '/x'), 'exact:/x');
  assert.equal(find(s, '/x/'), 'prefix:/x');
  assert.equal(find(s, '/x/long/a'), 'prefix:/x/long/');
  assert.equal(find(s, '/x/long/a.gif'), 'regex:\\.(gif)$');
  assert.equal(find(s, '/a.GIF'), 'regex-caseless:\\.GIF$');
  assert.equal(find(s, '/y'), 'prefix:/');
});

test('^~ stops regexes of its level, but not those nested inside it or outside a nested ^~', () => {
  const s = server(`
    location ^~ /static/ { location ~ \\.css$ { } }
    location /n/ { location ^~ /n/s/ { } }
    location ~ \\.(css|txt)$ { }
  `);
  assert.equal(find(s, '/static/a.txt'), 'prefix-noregex:/static/');
  assert.equal(find(s, '/static/a.css'), 'regex:\\.css$');
  assert.equal(find(s, '/n/s/a.txt'), 'regex:\\.(css|txt)$');
  assert.equal(find(s, '/n/s/b'), 'prefix-noregex:/n/s/');
});

test('nested regexes come before the outer ones; captures are returned', () => {
  const s = server(`
    location /img/ { location ~ ^/img/(?<name>[a-z]+)\\.png$ { } }
    location ~ ^/img/(.+)\\.png$ { }
  `);
  const m = findLocation(s, '/img/cat.png');
  assert.equal(m.location?.name, '^/img/(?<name>[a-z]+)\\.png$');
  assert.equal(m.namedCaptures?.name, 'cat');
  const outer = findLocation(s, '/img/cat2.png');
  assert.equal(outer.location?.name, '^/img/(.+)\\.png$');
  assert.equal(outer.captures?.[1], 'cat2');
});

test('named locations only by name; no match falls back to the server', () => {
  const s = server(`location @fallback { return 200 x; } location /a { }`);
  assert.equal(find(s, '/@fallback'), 'none');
  assert.equal(findLocation(s, '/b').conf, s.conf);
  assert.equal(findNamedLocation(s, '@fallback')?.kind, 'named');
});

test('auto-redirect for *_pass prefixes ending in /, unless = or the bare prefix exists', () => {
  const s = server(`
    location /api/ { proxy_pass http://127.0.0.1:3000; }
    location /b/ { fastcgi_pass 127.0.0.1:9000; }
    location /b { }
    location = /c { }
    location /c/ { grpc_pass 127.0.0.1:50051; }
    location /plain/ { }
    location ~ ^/api$ { }
  `);
  assert.equal(find(s, '/api'), 'redirect:/api/');
  assert.equal(find(s, '/b'), 'prefix:/b');
  assert.equal(find(s, '/c'), 'exact:/c');
  assert.equal(find(s, '/plain'), 'none');
  assert.equal(s.locations.prefixes.find((l) => l.name === '/api/')?.autoRedirect, true);
  assert.equal(s.locations.prefixes.find((l) => l.name === '/plain/')?.autoRedirect, false);
});

test('glued modifiers are accepted', () => {
  const s = server(`location =/e { } location ~*\\.jpg$ { } location ^~/n { }`);
  assert.equal(find(s, '/e'), 'exact:/e');
  assert.equal(find(s, '/a.JPG'), 'regex-caseless:\\.jpg$');
  assert.equal(find(s, '/n/a.jpg'), 'prefix-noregex:/n');
});
