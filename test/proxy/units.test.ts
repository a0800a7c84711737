// The pure parts: crc32, peer selection arithmetic, proxy_pass URI mapping and $proxy_host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, chashPoints, hashSelector } from '../../src/http/upstream-balance.ts';
import { freePeer, getPeer, makePeer, makePeerList, nowSec, roundRobinSelector, startWalk, type Peer } from '../../src/http/upstream-peers.ts';
import { parseProxyUrl, upstreamUri, type UriInputs } from '../../src/http/proxy-uri.ts';
import { proxyAddXForwardedFor } from '../../src/http/proxy-headers.ts';
import { newVarContext } from '../../src/http/variables.ts';

const server = (weight = 1, over: Partial<{ maxFails: number; failTimeoutMs: number; down: boolean }> = {}) =>
  ({ weight, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, down: false, ...over });
const peer = (name: string, weight = 1, over = {}): Peer => makePeer(server(weight, over), name, { host: '127.0.0.1', port: Number(name.slice(1)) || 1 });

test('crc32 is the IEEE CRC nginx uses', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.from('')), 0);
});

test('smooth weighted round-robin gives nginx\'s a a b a c a a for weights 5 1 1', () => {
  const [a, b, c] = [peer('a1', 5), peer('b2'), peer('c3')];
  const list = makePeerList([a, b, c], []);
  const seq: string[] = [];
  for (let i = 0; i < 7; i++) {
    const walk = startWalk(list);
    seq.push(getPeer(walk, roundRobinSelector)!.server);
    freePeer(walk, false);
  }
  assert.deepEqual(seq, ['a1', 'a1', 'b2', 'a1', 'c3', 'a1', 'a1']);
});

test('max_fails takes a peer out until fail_timeout passes, backups only when primaries are out', () => {
  const [a, b] = [peer('a1'), peer('b2')];
  const list = makePeerList([a], [b]);
  let walk = startWalk(list);
  assert.equal(walk.tries, 2);
  assert.equal(getPeer(walk, roundRobinSelector), a);
  const disabled: string[] = [];
  freePeer(walk, true, (p) => disabled.push(p.server));
  assert.deepEqual(disabled, ['a1']);
  assert.equal(getPeer(walk, roundRobinSelector), b);
  walk = startWalk(list);
  assert.equal(getPeer(walk, roundRobinSelector), b);
  freePeer(walk, false);
  a.checked = a.accessed = nowSec() - 11; // the failure was 11 s ago: fail_timeout (10 s) is over
  walk = startWalk(list);
  assert.equal(getPeer(walk, roundRobinSelector), a);
  freePeer(walk, false);
  assert.equal(a.fails, 0);
});

test('a single server is never marked failed and never retried', () => {
  const a = peer('a1');
  const walk = startWalk(makePeerList([a], []));
  assert.equal(getPeer(walk, roundRobinSelector), a);
  freePeer(walk, true);
  assert.equal(a.fails, 0);
  assert.equal(walk.tries, 0);
});

test('hash and consistent hash are stable and spread', () => {
  const list = makePeerList([peer('127.0.0.1:81'), peer('127.0.0.1:82'), peer('127.0.0.1:83')], []);
  const points = chashPoints(list);
  assert.equal(points.length, 480);
  assert.ok(points.every((p, i) => i === 0 || points[i - 1]!.hash < p.hash));
  const pick = (key: string) => getPeer(startWalk(list), hashSelector(key))!.server;
  assert.equal(pick('abc'), pick('abc'));
  assert.equal(new Set(Array.from({ length: 30 }, (_, i) => pick(`k${i}`))).size, 3);
});

const inputs = (over: Partial<UriInputs>): UriInputs => ({
  uri: '/api/a b', args: 'x=1', rawUri: '/api/a%20b?x=1', validUnparsedUri: true, validLocation: true,
  locationName: '/api/', escape: true, ...over,
});

test('proxy_pass URI mapping', () => {
  const withUri = parseProxyUrl('http://127.0.0.1:8080/v1/')!;
  const bare = parseProxyUrl('http://127.0.0.1:8080')!;
  assert.equal(upstreamUri(bare, false, inputs({})), '/api/a%20b?x=1');
  assert.equal(upstreamUri(withUri, false, inputs({})), '/v1/a%20b?x=1');
  assert.equal(upstreamUri(withUri, false, inputs({ escape: false, uri: '/api/ab' })), '/v1/ab?x=1');
  // rewrite … break: the whole rewritten URI, no prefix replacement.
  assert.equal(upstreamUri(withUri, false, inputs({ validLocation: false, validUnparsedUri: false, uri: '/new/x' })), '/new/x?x=1');
  // Rewritten URI without a URI part: the new URI, escaped.
  assert.equal(upstreamUri(bare, false, inputs({ validUnparsedUri: false, uri: '/n/a b', args: '' })), '/n/a%20b');
  // Variables with a URI part: exactly as written.
  assert.equal(upstreamUri(parseProxyUrl('http://127.0.0.1/fixed?q')!, true, inputs({})), '/fixed?q');
});

test('$proxy_host, $proxy_port and $proxy_add_x_forwarded_for', () => {
  assert.deepEqual([parseProxyUrl('http://b')!.proxyHost, parseProxyUrl('http://b')!.proxyPort], ['b', '80']);
  assert.deepEqual([parseProxyUrl('http://b:80/')!.proxyHost, parseProxyUrl('http://b:8080/')!.proxyHost], ['b', 'b:8080']);
  assert.deepEqual([parseProxyUrl('https://b')!.proxyPort, parseProxyUrl('http://unix:/tmp/s.sock:/x')!.proxyHost], ['443', 'localhost']);
  assert.equal(parseProxyUrl('http://b?x')!.uri, '/?x');
  const ctx = newVarContext({ remoteAddr: '10.0.0.9', headers: { 'x-forwarded-for': ['1.1.1.1', '2.2.2.2'] } });
  assert.equal(proxyAddXForwardedFor(ctx), '1.1.1.1, 2.2.2.2, 10.0.0.9');
  assert.equal(proxyAddXForwardedFor(newVarContext({ remoteAddr: '10.0.0.9' })), '10.0.0.9');
});
