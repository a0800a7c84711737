import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestTarget, normaliseUri, uriExtension, BadUriError } from '../../src/http/uri.ts';
import { haveNginx, startNginx, get } from './oracle.ts';

// [target, "$uri|$args|$request_uri" or 400] as observed from nginx 1.22.1.
const CASES: [string, string | 400][] = [
  ['/a//b', '/a/b||/a//b'],
  ['/a/./b', '/a/b||/a/./b'],
  ['/a/../b', '/b||/a/../b'],
  ['/../a', 400],
  ['/a/..', '/||/a/..'],
  ['/a/.', '/a/||/a/.'],
  ['/a/b/..', '/a/||/a/b/..'],
  ['/%2e%2e/x', 400],
  ['/a%2Fb', '/a/b||/a%2Fb'],
  ['/a%2f..%2fb', '/b||/a%2f..%2fb'],
  ['/a%00b', 400],
  ['/a\\b', '/a\\b||/a\\b'],
  ['/a\\..\\b', '/a\\..\\b||/a\\..\\b'],
  ['/%', 400],
  ['/%zz', 400],
  ['/%4', 400],
  ['/a?b=%20c', '/a|b=%20c|/a?b=%20c'],
  ['/a%3Fb?c', '/a?b|c|/a%3Fb?c'],
  ['/a/%2e', '/a/||/a/%2e'],
  ['/a/%2e%2e', '/||/a/%2e%2e'],
  ['//', '/||//'],
  ['/a/...', '/a/...||/a/...'],
  ['/a#b', '/a||/a#b'],
  ['/a/.hidden', '/a/.hidden||/a/.hidden'],
  ['/%C3%A9', '/\xC3\xA9||/%C3%A9'],
  ['/a%20b', '/a b||/a%20b'],
  ['/a+b', '/a+b||/a+b'],
  ['/.', '/||/.'],
  ['/..', 400],
  ['/a/b/../../..', 400],
  ['http://x.com/a/../b', '/b||/a/../b'],
  ['/a?', '/a||/a?'],
  ['/a?x?y', '/a|x?y|/a?x?y'],
  ['/a/b/.?x', '/a/b/|x|/a/b/.?x'],
  ['*', 400],
  ['/a/b/..?x', '/a/|x|/a/b/..?x'],
  ['/a/..//b', '/b||/a/..//b'],
  ['/a%2F%2Fb', '/a/b||/a%2F%2Fb'],
  ['/a%2F.%2Fb', '/a/b||/a%2F.%2Fb'],
  ['/a/%2F/b', '/a/b||/a/%2F/b'],
  ['/a/.%2e/b', '/b||/a/.%2e/b'],
  ['/a/%2e./b', '/b||/a/%2e./b'],
  ['x/y', 400],
  ['/a/b/../c/./d/', '/a/c/d/||/a/b/../c/./d/'],
  ['/a;b', '/a;b||/a;b'],
  ['/%25', '/%||/%25'],
  ['/%7e', '/~||/%7e'],
  ['/%2541', '/%41||/%2541'],
  ['/%23x', '/#x||/%23x'],
  ['/a?b#c', '/a|b|/a?b#c'],
  ['/a/..?', '/||/a/..?'],
  ['/a/.#x', '/a/||/a/.#x'],
  ['/a/b/..#x', '/a/||/a/b/..#x'],
  ['/x%2e%2e', '/x..||/x%2e%2e'],
  ['/a/..%2f..%2fb', 400],
  ['/a//../b', '/b||/a//../b'],
  ['http://x.com', '/||/'],
  ['http://x.com?a=1', '/|a=1|?a=1'],
  ['/a%2', 400],
  ['/a/b%2F..', '/a/||/a/b%2F..'],
];

function ours(target: string): string | 400 {
  try {
    const p = parseRequestTarget(target);
    return `${p.uri}|${p.args}|${p.rawUri}`;
  } catch (e) {
    assert.ok(e instanceof BadUriError);
    return 400;
  }
}

test('request targets normalise as nginx 1.22.1 does (recorded table)', () => {
  for (const [target, want] of CASES) assert.equal(ours(target), want, target);
});

test('merge_slashes off keeps repeated slashes', () => {
  assert.equal(normaliseUri('/a//b/./c', false).uri, '/a//b/c');
  assert.equal(normaliseUri('//..', false).uri, '/');
});

test('absolute-form target yields its host', () => {
  const p = parseRequestTarget('http://Example.COM:8080/x?y');
  assert.equal(p.host, 'Example.COM');
  assert.equal(p.uri, '/x');
  assert.equal(p.args, 'y');
});

test('uriExtension mirrors ngx_http_set_exten', () => {
  assert.equal(uriExtension('/a/b.html'), 'html');
  assert.equal(uriExtension('/a/b.tar.gz'), 'gz');
  assert.equal(uriExtension('/a.d/b'), '');
  assert.equal(uriExtension('/a/.hidden'), '');
  assert.equal(uriExtension('/a/'), '');
});

test('differential: same $uri/$args/$request_uri as real nginx', { skip: !haveNginx }, async () => {
  const o = await startNginx(
    `server { listen 127.0.0.1:PORT; location / { return 200 "$uri|$args|$request_uri"; } }`,
  );
  try {
    for (const [target] of CASES) {
      const r = await get(o.port, target);
      const theirs = r.status === 200 ? r.body.toString('latin1') : r.status;
      assert.equal(ours(target), theirs, target);
    }
  } finally {
    await o.stop();
  }
});
