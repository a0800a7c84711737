// The gzip filter: unit checks of nginx's Accept-Encoding and msie6 rules, and a differential test
// against real nginx on headers and decompressed bodies (the compressed bytes themselves differ).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { acceptsGzip, isMsie6, weakEtag, gzipPlan, gzipHeaders, gzipRatio, type GzipRequest } from '../../src/http/gzip.ts';
import { rootDefaults } from '../../src/config/settings.ts';
import { haveNginx, startNginx, get } from '../http/oracle.ts';
import { startOurs } from './harness.ts';

test('Accept-Encoding as ngx_http_gzip_accept_encoding reads it', () => {
  for (const yes of ['gzip', 'gzip, deflate', 'deflate, gzip', 'br, gzip', 'GZIP', 'gzip;q=0.5', 'gzip; q=1', 'x,gzip', 'gzip ,br']) assert.equal(acceptsGzip(yes), true, yes);
  for (const no of ['', 'deflate', 'gzip;q=0', 'gzip;q=0.000', 'xgzip', 'gzipx', 'gzip;x=1', 'x-gzip', 'gzip;q=']) assert.equal(acceptsGzip(no), false, no);
});

test('msie6 and weak ETags', () => {
  assert.equal(isMsie6('Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)'), true);
  assert.equal(isMsie6('Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)'), false);
  assert.equal(isMsie6('Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)'), true);
  assert.equal(isMsie6('Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)'), false);
  assert.equal(isMsie6('Opera/9.0 (compatible; MSIE 6.0)'), false);
  assert.equal(weakEtag('"abc"'), 'W/"abc"');
  assert.equal(weakEtag('W/"abc"'), 'W/"abc"');
  assert.equal(weakEtag('abc'), undefined);
  assert.equal(gzipRatio(1800, 100), '18.00');
  assert.equal(gzipRatio(2125, 1000), '2.13');
  assert.equal(gzipRatio(2124, 1000), '2.12');
  assert.equal(gzipRatio(1999, 1000), '2.00');
  assert.equal(gzipRatio(1, 3), '0.33');
});

test('the header filter decision', () => {
  const g = { ...rootDefaults('/').gzip, enabled: true, types: ['text/html', 'text/plain'], minLength: 100, vary: true, disable: ['msie6', 'curl/'] };
  const req = (h: Record<string, string>, method = 'GET', httpVersion = 1001): GzipRequest => ({ method, httpVersion, header: (n) => h[n] });
  const html: [string, string][] = [['Content-Type', 'text/html; charset=utf-8'], ['Content-Length', '500'], ['ETag', '"x"'], ['Accept-Ranges', 'bytes']];
  const ae = { 'accept-encoding': 'gzip' };
  assert.deepEqual(gzipPlan(g, req(ae), 200, html), { vary: true, compress: true });
  assert.deepEqual(gzipPlan(g, req({}), 200, html), { vary: true, compress: false });
  assert.deepEqual(gzipPlan(g, req(ae), 206, html), { vary: false, compress: false });
  assert.deepEqual(gzipPlan(g, req(ae), 404, html), { vary: true, compress: true });
  assert.deepEqual(gzipPlan(g, req(ae, 'HEAD'), 200, html), { vary: true, compress: true });
  assert.deepEqual(gzipPlan(g, req(ae, 'GET', 1000), 200, html), { vary: true, compress: false });
  assert.deepEqual(gzipPlan(g, req({ ...ae, 'user-agent': 'curl/8.0' }), 200, html), { vary: true, compress: false });
  assert.deepEqual(gzipPlan(g, req({ ...ae, via: '1.1 proxy' }), 200, html), { vary: true, compress: false });
  assert.deepEqual(gzipPlan({ ...g, proxied: ['expired'] }, req({ ...ae, via: 'p' }), 200, [...html, ['Expires', 'Thu, 01 Jan 1970 00:00:01 GMT']]), { vary: true, compress: true });
  assert.deepEqual(gzipPlan(g, req(ae), 200, [['Content-Type', 'text/css'], ['Content-Length', '500']]), { vary: false, compress: false });
  assert.deepEqual(gzipPlan(g, req(ae), 200, [['Content-Type', 'text/html'], ['Content-Length', '99']]), { vary: false, compress: false });
  assert.deepEqual(gzipPlan(g, req(ae), 200, [['Content-Type', 'text/html'], ['Content-Encoding', 'br']]), { vary: false, compress: false });
  assert.deepEqual(gzipHeaders(html), [['Content-Type', 'text/html; charset=utf-8'], ['ETag', 'W/"x"'], ['Content-Encoding', 'gzip']]);
});

const conf = (dir: string) => `
  types { text/html html; text/plain txt; text/css css; }
  server { listen 127.0.0.1:PORT; server_name localhost; root ${dir};
    gzip on; gzip_types text/plain; gzip_min_length 100; gzip_vary on; gzip_comp_level 6;
    location /v10/ { gzip_http_version 1.0; }
    location /off/ { gzip off; }
    location /any/ { gzip_types *; gzip_vary off; }
    location /proxied/ { gzip_proxied any; }
    location = /ret { default_type text/plain; return 200 "${'returned text '.repeat(20)}"; }
    location = /short { default_type text/plain; return 200 "short"; }
  }`;

const COMPARED = ['content-encoding', 'content-length', 'vary', 'etag', 'accept-ranges', 'content-range', 'content-type', 'transfer-encoding'];

function pick(status: number, headers: Record<string, string | string[] | undefined>, body: Buffer) {
  const h: Record<string, string> = {};
  for (const k of COMPARED) if (headers[k] !== undefined) h[k] = String(headers[k]);
  const plain = h['content-encoding'] === 'gzip' && body.length ? gunzipSync(body) : body;
  return { status, headers: h, body: plain.toString('latin1') };
}

test('differential: gzip headers and bodies match real nginx', { skip: !haveNginx, timeout: 40_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-gzip-'));
  const text = 'The quick brown fox jumps over the lazy dog. '.repeat(40);
  for (const d of ['', 'v10', 'off', 'any', 'proxied']) {
    if (d) mkdirSync(join(dir, d));
    writeFileSync(join(dir, d, 'big.html'), `<html>${text}</html>`);
    writeFileSync(join(dir, d, 'big.txt'), text);
    writeFileSync(join(dir, d, 'big.css'), text);
    writeFileSync(join(dir, d, 'small.txt'), 'tiny\n');
  }
  const nginx = await startNginx(conf(dir));
  const ours = await startOurs(conf(dir));
  try {
    const cases: [string, Record<string, string>, string?][] = [];
    for (const path of ['/big.html', '/big.txt', '/big.css', '/small.txt', '/missing', '/ret', '/short', '/v10/big.txt', '/off/big.html', '/any/big.css', '/proxied/big.txt']) {
      cases.push([path, { 'accept-encoding': 'gzip' }], [path, {}], [path, { 'accept-encoding': 'gzip;q=0, deflate' }]);
    }
    cases.push(['/big.txt', { 'accept-encoding': 'gzip', range: 'bytes=0-9' }]);
    cases.push(['/big.css', { 'accept-encoding': 'gzip', range: 'bytes=0-9' }]);
    cases.push(['/big.txt', { 'accept-encoding': 'gzip' }, 'HEAD']);
    cases.push(['/big.txt', { 'accept-encoding': 'gzip', 'if-none-match': 'ETAG' }]);
    cases.push(['/big.txt', { 'accept-encoding': 'gzip', 'if-none-match': 'W/ETAG' }]);
    cases.push(['/big.txt', { 'accept-encoding': 'gzip', via: '1.1 cache' }]);
    cases.push(['/proxied/big.txt', { 'accept-encoding': 'gzip', via: '1.1 cache' }]);
    cases.push(['/big.txt', { 'accept-encoding': 'gzip', 'user-agent': 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)' }]);
    for (const [path, initial, method = 'GET'] of cases) {
      let headers = initial;
      const ask = async (port: number) => {
        // Conditional requests name the file's own ETag (the same in both servers: mtime and size).
        if (headers['if-none-match']) {
          const plain = await request(`http://127.0.0.1:${port}${path}`, { headers: { host: 'localhost' } });
          await plain.body.arrayBuffer();
          headers = { ...headers, 'if-none-match': headers['if-none-match'].replace('ETAG', String(plain.headers.etag)) };
        }
        const r = await request(`http://127.0.0.1:${port}${path}`, { method: method as 'GET', headers: { host: 'localhost', ...headers } });
        return pick(r.statusCode, r.headers, Buffer.from(await r.body.arrayBuffer()));
      };
      const [a, b] = [await ask(nginx.port), await ask(ours.port)];
      assert.deepEqual(b, a, `${method} ${path} ${JSON.stringify(headers)}`);
    }
    // HTTP/1.0 (gzip_http_version 1.1 by default): never compressed, except where 1.0 is allowed.
    for (const path of ['/big.txt', '/v10/big.txt']) {
      const [a, b] = [await get(nginx.port, path, ['Accept-Encoding: gzip']), await get(ours.port, path, ['Accept-Encoding: gzip'])];
      assert.deepEqual(pick(b.status, b.headers, b.body), pick(a.status, a.headers, a.body), `1.0 ${path}`);
    }
  } finally {
    await nginx.stop();
    await ours.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
