// The file I/O of the static handler (issue 9): bodies up to SYNC_READ_MAX are read with blocking
// reads and sent whole, larger ones streamed from the open descriptor. Both sides of the threshold,
// single and multipart ranges that cross it, a FIFO under the root, a file changed between two
// requests, and a download the client abandons (its descriptor must be closed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, writeFileSync, utimesSync, rmSync, readdirSync, truncateSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveStatic, sendBody, SYNC_READ_MAX, type StaticOptions } from '../../src/http/static.ts';
import { CACHE_FILE_MAX } from '../../src/http/file-cache.ts';
import { statusReason } from '../../src/http/responses.ts';
import { haveNginx, startNginx, get, rawRequest, freePort, type Oracle, type RawResponse } from './oracle.ts';

let dir = '';
let oracle: Oracle | undefined;
let ours: Server | undefined;
let ourPort = 0;
const OPTS: StaticOptions = { types: new Map([['txt', 'text/plain']]), defaultType: 'application/octet-stream' };
const BIG = 3 * 1024 * 1024;

/** Bytes that differ from offset to offset, so a misplaced range shows. */
function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bext-static-io-'));
  const w = (name: string, data: Buffer) => {
    writeFileSync(join(dir, name), data);
    utimesSync(join(dir, name), 1700000000, 1700000000);
  };
  w('small.txt', pattern(1024));
  w('edge.bin', pattern(SYNC_READ_MAX));
  w('over.bin', pattern(SYNC_READ_MAX + 1));
  w('big.bin', pattern(BIG));
  w('mid.bin', pattern(300 * 1024)); // cached, sent in pieces
  w('changing.txt', Buffer.from('first version'));
  spawnSync('mkfifo', [join(dir, 'fifo')]);
  ourPort = await freePort();
  ours = createServer((req, res) => { handle(req, res).catch(() => res.destroy()); });
  await new Promise<void>((r) => ours!.listen(ourPort, '127.0.0.1', () => r()));
});

after(async () => {
  await oracle?.stop();
  await new Promise<void>((r) => (ours ? ours.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const uri = (req.url ?? '/').split('?')[0]!;
  const r = await serveStatic(join(dir, uri), { method: req.method ?? 'GET', uri, args: '', headers: req.headers }, OPTS);
  if (r.kind !== 'response') {
    res.writeHead(r.kind === 'error' ? r.status : 301, r.kind === 'error' ? r.headers.flat() : []);
    res.end();
    return;
  }
  res.writeHead(r.status, statusReason(r.status), r.headers.flat());
  // The file shrinks after its size was announced.
  if (uri === '/shrink.bin') truncateSync(join(dir, uri), 100_000);
  await sendBody(res, r.body);
}

function normalise(r: RawResponse): string {
  const keep = ['content-type', 'content-length', 'last-modified', 'etag', 'accept-ranges', 'content-range'];
  const h = keep.filter((k) => r.headers[k] !== undefined).map((k) => `${k}: ${r.headers[k]!.replace(/boundary=\d{20}/, 'boundary=B')}`);
  let body = r.body.toString('latin1');
  const b = /boundary=(\d{20})/.exec(r.headers['content-type'] ?? '');
  if (b) body = body.replaceAll(b[1]!, 'B');
  return [r.statusLine.replace(/ .*$/, '') + ' ' + r.status, ...h, '', body].join('\n');
}

const CASES: [string, string[], string?][] = [
  ['/small.txt', []],
  ['/small.txt', [], 'HEAD'],
  ['/edge.bin', []],
  ['/over.bin', []],
  ['/over.bin', [], 'HEAD'],
  ['/big.bin', []],
  ['/over.bin', [`Range: bytes=${SYNC_READ_MAX - 10}-`]],
  ['/over.bin', ['Range: bytes=0-']],
  ['/big.bin', ['Range: bytes=100-199']],
  ['/big.bin', ['Range: bytes=1000-2000000']],
  ['/big.bin', ['Range: bytes=-70000']],
  ['/big.bin', ['Range: bytes=0-9,65536-65600,-5']],
  ['/big.bin', ['Range: bytes=0-70000,1000000-1100000']],
  ['/edge.bin', ['Range: bytes=0-30000,40000-65535']],
  ['/big.bin', ['If-None-Match: "6553f100-300000"']],
  ['/big.bin', ['Range: bytes=10-20', 'If-Range: "nope"'], 'HEAD'],
];

test('differential: both sides of the blocking-read threshold match real nginx', { skip: !haveNginx }, async () => {
  oracle = await startNginx(`server { listen 127.0.0.1:PORT; types { text/plain txt; } default_type application/octet-stream; root ${dir}; }`);
  const failures: string[] = [];
  for (const [target, headers, method] of CASES) {
    const theirs = normalise(await get(oracle.port, target, headers, method));
    const mine = normalise(await get(ourPort, target, headers, method));
    if (theirs !== mine) failures.push(`${method ?? 'GET'} ${target} ${headers.join(' | ')}\n--- nginx\n${theirs.slice(0, 600)}\n--- ours\n${mine.slice(0, 600)}`);
  }
  assert.equal(failures.length, 0, failures.join('\n\n'));
  const whole = await get(ourPort, '/big.bin');
  assert.ok(whole.body.equals(pattern(BIG)), 'the streamed body is the file');
});

test('a FIFO under the root is a 404 and does not block the worker', async () => {
  const r = await get(ourPort, '/fifo');
  assert.equal(r.status, 404);
  if (haveNginx && oracle) assert.equal((await get(oracle.port, '/fifo')).status, 404);
});

test('a file changed between two requests is served as it is now (the cache re-checks every time)', async () => {
  const a = await get(ourPort, '/changing.txt');
  assert.equal(a.body.toString(), 'first version');
  writeFileSync(join(dir, 'changing.txt'), 'other version'); // same size, maybe the same second
  const b = await get(ourPort, '/changing.txt');
  assert.equal(b.body.toString(), 'other version');
  writeFileSync(join(dir, 'changing.txt'), 'a longer third version');
  const c = await get(ourPort, '/changing.txt');
  assert.equal(c.body.toString(), 'a longer third version');
  assert.equal(c.headers['content-length'], '22');
  rmSync(join(dir, 'changing.txt'));
  assert.equal((await get(ourPort, '/changing.txt')).status, 404);
});

test('a file truncated under a streamed response: the bytes there are, then the connection closes', async () => {
  writeFileSync(join(dir, 'shrink.bin'), pattern(CACHE_FILE_MAX + 200_000)); // streamed, not read whole
  // HTTP/1.1 without Connection: close: only the server closing ends this request.
  const r = await rawRequest(ourPort, 'GET /shrink.bin HTTP/1.1\r\nHost: x');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(CACHE_FILE_MAX + 200_000));
  assert.ok(r.body.equals(pattern(100_000)));
});

test('an abandoned download releases its file descriptor', async () => {
  const fds = () => readdirSync('/proc/self/fd').length;
  const baseline = fds();
  await new Promise<void>((resolve, reject) => {
    const s = connect(ourPort, '127.0.0.1');
    s.on('error', reject);
    s.write('GET /big.bin HTTP/1.0\r\nHost: x\r\n\r\n');
    s.once('data', () => { s.destroy(); resolve(); });
  });
  for (let i = 0; i < 100 && fds() > baseline; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(fds() <= baseline, `descriptors: ${fds()} after, ${baseline} before`);
});

test('a large body from the cache goes out in pieces, whole and in order, to a client that reads slowly', async () => {
  const want = pattern(300 * 1024);
  for (let i = 0; i < 3; i++) {
    // The first request fills the cache, the next ones are served from it.
    const body = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(ourPort, '127.0.0.1');
      const parts: Buffer[] = [];
      s.on('error', reject);
      s.on('data', (d: Buffer) => {
        parts.push(d);
        if (parts.length === 1) {
          s.pause();
          setTimeout(() => s.resume(), 100);
        }
      });
      s.on('end', () => {
        const all = Buffer.concat(parts);
        resolve(all.subarray(all.indexOf('\r\n\r\n') + 4));
      });
      s.write('GET /mid.bin HTTP/1.0\r\nHost: x\r\n\r\n');
    });
    assert.ok(body.equals(want), `request ${i + 1}: ${body.length} bytes`);
  }
});
