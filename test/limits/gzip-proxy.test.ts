// The gzip filter on proxied responses, against real nginx: an upstream's plain body is compressed
// (same headers, same decompressed body); one it already encoded passes untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { freePort, haveNginx, startNginx } from '../http/oracle.ts';
import { createProxyHandler } from '../../src/http/proxy.ts';
import { startOurs } from './harness.ts';

const TEXT = 'proxied text, proxied text, proxied text. '.repeat(30);

const conf = (up: number) => `
  server { listen 127.0.0.1:PORT; server_name localhost;
    gzip on; gzip_types text/plain application/json; gzip_vary on;
    location / { proxy_pass http://127.0.0.1:${up}; }
  }`;

test('differential: gzip of proxied responses', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const up = await freePort();
  const upstream = createServer((req, res) => {
    if (req.url === '/encoded') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Encoding': 'identity-ish', 'Content-Length': String(TEXT.length) });
      res.end(TEXT);
    } else if (req.url === '/json') {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', ETag: '"j1"' });
      res.end(JSON.stringify({ text: TEXT }));
    } else if (req.url === '/css') {
      res.writeHead(200, { 'Content-Type': 'text/css', 'Content-Length': String(TEXT.length) });
      res.end(TEXT);
    } else {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(TEXT.length) });
      res.end(TEXT);
    }
  });
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', r));
  const nginx = await startNginx(conf(up));
  const ours = await startOurs(conf(up), { proxy: createProxyHandler() });
  try {
    for (const path of ['/plain', '/json', '/css', '/encoded']) {
      for (const ae of ['gzip', undefined]) {
        const ask = async (port: number) => {
          const r = await request(`http://127.0.0.1:${port}${path}`, { headers: { host: 'localhost', ...(ae ? { 'accept-encoding': ae } : {}) } });
          const body = Buffer.from(await r.body.arrayBuffer());
          const h = r.headers;
          return {
            status: r.statusCode,
            encoding: h['content-encoding'], length: h['content-length'], vary: h['vary'], etag: h['etag'],
            body: (h['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString(),
          };
        };
        assert.deepEqual(await ask(ours.port), await ask(nginx.port), `${path} ${ae}`);
      }
    }
  } finally {
    await nginx.stop();
    await ours.stop();
    await new Promise((r) => upstream.close(r));
  }
});
