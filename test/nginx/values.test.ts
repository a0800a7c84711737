import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlag, parseListenAddress, parseNumber, parseOffset, parseSize, parseTime } from '../../src/nginx/values.ts';

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
