// Differential: secure_link with secure_link_md5 (a hash and an expiry in the query, valid,
// expired, altered, malformed, missing) and secure_link_secret (the older URI form), as the usual
// guards use them: the same answers as nginx's. Before, $secure_link was never set: every link was
// refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    location /s/ {
      secure_link $arg_md5,$arg_expires;
      secure_link_md5 "$secure_link_expires$uri s3cret";
      if ($secure_link = "") { return 403; }
      if ($secure_link = "0") { return 410; }
      return 200 "ok [$secure_link] [$secure_link_expires]\\n";
    }
    location /n/ {
      secure_link $arg_md5;
      secure_link_md5 "$uri s3cret";
      return 200 "[$secure_link] [$secure_link_expires]\\n";
    }
    location /p/ {
      secure_link_secret w0rd;
      if ($secure_link = "") { return 403; }
      return 200 "link=[$secure_link]\\n";
    }
  }`), makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
});

const md5url = (s: string) => createHash('md5').update(s).digest('base64url');
const md5hex = (s: string) => createHash('md5').update(s).digest('hex');
const future = Math.floor(Date.now() / 1000) + 3600;
const past = Math.floor(Date.now() / 1000) - 3600;
const c = (name: string, target: string): Case => ({ name, port: 'P1', target });

const cases: Case[] = [
  c('valid, expires later', `/s/file?md5=${md5url(`${future}/s/file s3cret`)}&expires=${future}`),
  c('valid, expired', `/s/file?md5=${md5url(`${past}/s/file s3cret`)}&expires=${past}`),
  c('another file', `/s/other?md5=${md5url(`${future}/s/file s3cret`)}&expires=${future}`),
  c('expiry changed', `/s/file?md5=${md5url(`${future}/s/file s3cret`)}&expires=${future + 1}`),
  c('padded hash', `/s/file?md5=${md5url(`${future}/s/file s3cret`)}==&expires=${future}`),
  c('not base64url', `/s/file?md5=abc+def/ghijklmnopqrst&expires=${future}`),
  c('no hash', `/s/file?expires=${future}`),
  c('expires not a number', `/s/file?md5=${md5url('x')}&expires=12ab`),
  c('no expiry part', `/n/file?md5=${md5url('/n/file s3cret')}`),
  c('no expiry part, wrong', `/n/file?md5=${md5url('/n/other s3cret')}`),
  c('secret: valid', `/p/${md5hex('some/file.zip' + 'w0rd')}/some/file.zip`),
  c('secret: with a query', `/p/${md5hex('f.zip?x=1' + 'w0rd')}/f.zip?x=1`),
  c('secret: uppercase hex', `/p/${md5hex('f.zip' + 'w0rd').toUpperCase()}/f.zip`),
  c('secret: wrong', `/p/${md5hex('other' + 'w0rd')}/f.zip`),
  c('secret: short', '/p/abc/f.zip'),
];

test('secure_link and secure_link_secret: identical to nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, cases);
  const { unexpected } = report('secure_link', outcomes);
  assert.deepEqual(unexpected, []);
  assert.equal(outcomes[0]!.nginx.status, 200);
  assert.equal(outcomes[1]!.nginx.status, 410);
});
