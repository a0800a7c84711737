import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlag, parseListenAddress, parseNumber, parseOffset, parseSize, parseTime, parseUrl, upstreamUrl } from '../../src/nginx/values.ts';

test('numbers: digits only', () => {
  assert.equal(parseNumber('2048'), 2048);
  for (const bad of ['', '-1', '1k', ' 1', '0x10']) assert.equal(parseNumber(bad), undefined, bad);
});

test('sizes take k/m; offsets also g', () => {
  assert.equal(parseSize('8k'), 8192);
  assert.equal(parseSize('10M'), 10 * 1024 * 1024);
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('1g'), undefined);
  assert.equal(parseSize('k'), undefined);
  assert.equal(parseOffset('1g'), 1024 ** 3);
  assert.equal(parseOffset('1t'), undefined);
});

test('times: units in decreasing order, m is minutes, M months, ms only for msec', () => {
  assert.equal(parseTime('1440m', true), 86400);
  assert.equal(parseTime('1h30m', false), 5_400_000);
  assert.equal(parseTime('1h 5', true), 3605);
  assert.equal(parseTime('65', true), 65);
  assert.equal(parseTime('500ms', false), 500);
  assert.equal(parseTime('500ms', true), undefined);
  assert.equal(parseTime('1M', true), 30 * 86400);
  assert.equal(parseTime('1y', true), 365 * 86400);
  assert.equal(parseTime('30m1h', false), undefined);
  assert.equal(parseTime('5x', false), undefined);
  assert.equal(parseTime('', false), undefined);
});

test('flags: on/off in any case', () => {
  assert.equal(parseFlag('On'), true);
  assert.equal(parseFlag('OFF'), false);
  assert.equal(parseFlag('yes'), undefined);
});

test('listen addresses', () => {
  assert.deepEqual(parseListenAddress('80'), { host: '*', port: 80, unix: false, ipv6: false });
  assert.deepEqual(parseListenAddress('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080, unix: false, ipv6: false });
  assert.deepEqual(parseListenAddress('[::]:443'), { host: '::', port: 443, unix: false, ipv6: true });
  assert.deepEqual(parseListenAddress('[::1]'), { host: '::1', port: 80, unix: false, ipv6: true });
  assert.deepEqual(parseListenAddress('localhost'), { host: 'localhost', port: 80, unix: false, ipv6: false });
  assert.deepEqual(parseListenAddress('unix:/run/x.sock'), { host: 'unix:/run/x.sock', port: 0, unix: true, ipv6: false });
  assert.deepEqual(parseListenAddress('70000'), { error: 'invalid port' });
  assert.deepEqual(parseListenAddress('0'), { error: 'invalid port' });
  assert.deepEqual(parseListenAddress(':80'), { error: 'no host' });
  assert.deepEqual(parseListenAddress('[::1:80'), { error: 'invalid host' });
});

test('listen addresses: the first colon starts the port, a URI part is an invalid host', () => {
  assert.deepEqual(parseListenAddress('a:b:80'), { error: 'invalid port' });
  assert.deepEqual(parseListenAddress('127.0.0.1/x'), { error: 'invalid host' });
  assert.deepEqual(parseListenAddress('[::1]x'), { error: 'invalid host' });
  assert.deepEqual(parseListenAddress('[::1]:8080', 8000), { host: '::1', port: 8080, unix: false, ipv6: true });
  assert.deepEqual(parseListenAddress('localhost', 8000), { host: 'localhost', port: 8000, unix: false, ipv6: false });
});

test('upstream URLs (ngx_parse_url with a URI part, no resolving)', () => {
  assert.equal(upstreamUrl('HTTPS://a'), 'a');
  assert.equal(upstreamUrl('ftp://a'), undefined);
  assert.deepEqual(parseUrl('a:8080/x?y', { uriPart: true }),
    { host: 'a', port: 8080, noPort: false, unix: false, ipv6: false, authority: 'a:8080', uri: '/x?y' });
  assert.deepEqual(parseUrl('a?x:1', { uriPart: true }),
    { host: 'a', port: 80, noPort: true, unix: false, ipv6: false, authority: 'a', uri: '?x:1' });
  assert.deepEqual(parseUrl('[::1]/x', { uriPart: true }),
    { host: '::1', port: 80, noPort: true, unix: false, ipv6: true, authority: '[::1]', uri: '/x' });
  assert.deepEqual(parseUrl('unix:/run/a.sock:/x', { uriPart: true }),
    { host: 'unix:/run/a.sock', port: 0, noPort: true, unix: true, ipv6: false, authority: 'unix:/run/a.sock', uri: '/x' });
  const errors: [string, string][] = [
    ['', 'no host'], [':80', 'no host'], ['/x', 'no host'], ['a:99999', 'invalid port'], ['a:0', 'invalid port'], ['a:', 'invalid port'],
    ['a:b:c', 'invalid port'], ['[::1', 'invalid host'], ['[::1]x', 'invalid host'], ['[zz]:80', 'invalid IPv6 address'],
    ['[]:80', 'no host'], ['[::1]:80?x', 'invalid port'], ['unix:', 'no path in the unix domain socket'],
    [`unix:/${'a'.repeat(107)}`, 'too long path in the unix domain socket'],
  ];
  for (const [text, error] of errors) assert.deepEqual(parseUrl(text, { uriPart: true }), { error }, text);
  assert.deepEqual(parseUrl('a/x'), { error: 'invalid host' });
});
