// Differential, HTTP/2: a proxied request body, with and without Content-Length (HTTP/2 needs
// none), small (memory) and large (a temporary file), and over client_max_body_size. Real nginx and
// bext-server on the same config; the upstream reports what it received.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haveNginx, makeCert, makeSite, startPair, wrapConfig, type Pair } from '../serving/harness.ts';
import { startEcho, type Upstream } from './harness.ts';

let pair: Pair | undefined;
let echo: Upstream | undefined;

before(async () => {
  if (!haveNginx) return;
  echo = await startEcho();
  const { cert, key } = await makeCert(mkdtempSync(join(tmpdir(), 'bext-body-h2-')), 'h2.test');
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@ ssl http2 default_server;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    client_max_body_size 200k;
    location /up/ { proxy_set_header X-Body "[$request_body_file][$request_body]"; proxy_pass http://127.0.0.1:${echo.port}/; }
    location /keep/ { client_body_in_file_only clean; proxy_set_header X-Body "[$request_body_file][$request_body]"; proxy_pass http://127.0.0.1:${echo.port}/; }
  }`), makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
  await echo?.stop();
});

const sessionErrors: string[] = [];

/** One HTTP/2 POST (GET without a body): the status, and what the upstream saw (its JSON report, temp names masked). */
async function h2post(port: number, body: Buffer | null, withLength: boolean, path = '/up/x'): Promise<string> {
  const client = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'h2.test' });
  // A refused body must end its stream only, as nginx's does, not the connection.
  client.on('error', (e) => sessionErrors.push(`${port}: ${e.message}`));
  try {
    return await new Promise<string>((resolve, reject) => {
      const req = client.request({
        ':method': body ? 'POST' : 'GET', ':path': path, ':authority': 'h2.test', ...(body && withLength ? { 'content-length': String(body.length) } : {}),
      }, { endStream: !body });
      let text = '';
      let status = 0;
      req.on('response', (h) => { status = Number(h[':status']); });
      req.setEncoding('latin1');
      req.on('data', (c: string) => (text += c));
      // Settled when the stream is closed both ways: a refused body must not leave it half open.
      const timer = setTimeout(() => reject(new Error(`port ${port}: the stream was not closed`)), 5000);
      req.on('close', () => {
        clearTimeout(timer);
        if (status !== 200) return resolve(`${status}`);
        const e = JSON.parse(text) as { headers: Record<string, string>; bodyLength: number; bodySha1: string };
        const x = (e.headers['x-body'] ?? '').replace(/\[\/[^\]]*\/\d{10}\]/, '[FILE]');
        resolve(`${status} length=${e.headers['content-length'] ?? '-'} got=${e.bodyLength} sha1=${e.bodySha1} ${x.slice(0, 40)}`);
      });
      req.on('error', reject);
      if (body) req.end(body);
    });
  } finally {
    client.close();
  }
}

test('HTTP/2 request bodies: memory or file, with or without Content-Length, and the limit', { skip: !haveNginx && 'no nginx', timeout: 30_000 }, async () => {
  const results: string[] = [];
  for (const size of [100, 100 * 1024, 300 * 1024]) {
    for (const withLength of [true, false]) {
      const body = Buffer.alloc(size, 0x68);
      const [n, b] = [await h2post(pair!.nginx.ports.P1!, body, withLength), await h2post(pair!.bext.ports.P1!, body, withLength)];
      assert.equal(b, n, `${size} bytes, ${withLength ? 'with' : 'without'} Content-Length`);
      results.push(b);
    }
  }
  assert.match(results[0]!, /got=100 .* \[\]\[hhhh/);
  assert.match(results[2]!, /got=102400 .* \[FILE\]\[\]/);
  assert.match(results[3]!, /length=102400 got=102400 .* \[FILE\]\[\]/);
  assert.deepEqual(results.slice(4), ['413', '413']);
  // client_body_in_file_only makes a file for a body only: an HTTP/2 GET has none.
  const [n, b] = [await h2post(pair!.nginx.ports.P1!, null, false, '/keep/g'), await h2post(pair!.bext.ports.P1!, null, false, '/keep/g')];
  assert.equal(b, n, 'GET to client_body_in_file_only');
  assert.match(b, /got=0 .* \[\]\[\]$/);
  // Both name their files at warn and refuse the large body with nginx's lines. Without a length,
  // nginx counts whole DATA frames up to the one that overflows, bext the pieces node hands over:
  // both past the limit by less than a frame.
  const chunkedTotals: number[] = [];
  const lines = (log: string) => log.split('\n').filter((l) => /temporary file|too large/.test(l))
    .map((l) => l.replace(/^.*? \[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/file \/\S+\/\d{10}/, 'file F').replace(/, client: .*$/, ''))
    .map((l) => l.replace(/chunked body: (\d+) bytes/, (_, n: string) => (chunkedTotals.push(Number(n)), 'chunked body: N bytes')));
  // bext's workers hand their lines to the master to write: wait for the last one.
  const want = lines(pair!.nginx.errorLog()).length;
  for (let i = 0; i < 100 && lines(pair!.bext.errorLog()).length < want; i++) await new Promise((r) => setTimeout(r, 30));
  chunkedTotals.length = 0;
  // Sorted: bext names the file once it is open, and a body past the limit may be refused first.
  assert.deepEqual(lines(pair!.bext.errorLog()).sort(), lines(pair!.nginx.errorLog()).sort());
  assert.deepEqual(lines(pair!.nginx.errorLog()).filter((l) => l.includes('too large')), [
    '[error] client intended to send too large body: 307200 bytes',
    '[error] client intended to send too large chunked body: N bytes',
  ]);
  for (const n of chunkedTotals) assert.ok(n > 200 * 1024 && n <= 200 * 1024 + 16384, String(n));
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(sessionErrors, []);
});
