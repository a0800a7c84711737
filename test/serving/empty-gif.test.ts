// Differential: empty_gif (the 43-byte transparent GIF, its fixed Last-Modified, conditional GETs,
// other methods refused).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    location = /pixel.gif { empty_gif; }
  }`), makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
});

const cases: Case[] = [
  { name: 'GET', port: 'P1', target: '/pixel.gif' },
  { name: 'HEAD', port: 'P1', method: 'HEAD', target: '/pixel.gif' },
  { name: 'POST', port: 'P1', method: 'POST', target: '/pixel.gif', body: 'x' },
  { name: 'If-Modified-Since its date', port: 'P1', target: '/pixel.gif', headers: [['If-Modified-Since', 'Mon, 28 Sep 1970 06:00:00 GMT']] },
  { name: 'If-Modified-Since before', port: 'P1', target: '/pixel.gif', headers: [['If-Modified-Since', 'Mon, 28 Sep 1970 05:00:00 GMT']] },
  { name: 'a query', port: 'P1', target: '/pixel.gif?u=1&e=click' },
  { name: 'If-Unmodified-Since before it', port: 'P1', target: '/pixel.gif', headers: [['If-Unmodified-Since', 'Mon, 28 Sep 1970 05:00:00 GMT']] },
];

test('empty_gif: identical to nginx', { skip: !haveNginx }, async () => {
  const { unexpected } = report('empty_gif', await runCases(pair!, cases));
  assert.deepEqual(unexpected, []);
});
