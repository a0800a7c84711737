// The per-worker cache of small static files (src/http/file-cache.ts, issue 9): an entry is served
// only while one stat shows the same file; every change drops it and the file is opened again.
// Content changed with the same size and mtime, an mtime touch, chmod 000 (also as an unprivileged
// worker that then cannot open the file), a symlink swapped by a deploy, a removed file, a file
// changed too recently to trust its timestamps, the size bounds, try_files lending its stat, and
// requests read in one event-loop iteration sharing one stat (over plain TCP and TLS).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdtempSync, mkdirSync, writeFileSync, utimesSync, rmSync, chmodSync, symlinkSync, renameSync, chownSync, statSync,
  openSync, closeSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStaticSync, type StaticOptions, type StaticResult } from '../../src/http/static.ts';
import { clearFileCache, fileCacheStats, fileCacheSize, CACHE_FILE_MAX, CACHE_TOTAL_MAX } from '../../src/http/file-cache.ts';
import { tryFiles, compileTryFiles, resolveIndex } from '../../src/http/static-dir.ts';
import { compiled, newVarContext } from '../../src/http/variables.ts';
import { serveFastHttp1 } from '../../src/server/http1-connection.ts';

const OPTS: StaticOptions = { types: new Map([['txt', 'text/plain']]), defaultType: 'application/octet-stream' };
const ROOT_DIR = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
let dir = '';
const T0 = 1700000000;
// Enough files just under the per-file bound to overflow the total.
const MANY_SIZE = CACHE_FILE_MAX - 1024;
const MANY = Math.ceil(CACHE_TOTAL_MAX / MANY_SIZE) + 4;

const get = (name: string, method = 'GET', headers: Record<string, string> = {}): StaticResult =>
  serveStaticSync(join(dir, name), { method, uri: '/' + name, args: '', headers }, OPTS);

function body(r: StaticResult): string {
  assert.equal(r.kind, 'response');
  if (r.kind !== 'response') return '';
  return r.body.kind === 'buffer' ? r.body.data.toString('latin1') : '';
}
const header = (r: StaticResult, name: string): string | undefined =>
  r.kind === 'response' ? r.headers.find(([k]) => k === name)?.[1] : undefined;
const status = (r: StaticResult): number => (r.kind === 'redirect' ? 301 : r.status);

/** Writes a file whose timestamps are old enough for the cache to trust (the ctime is not). */
function write(name: string, data: string | Buffer, mtime = T0): void {
  writeFileSync(join(dir, name), data);
  utimesSync(join(dir, name), mtime, mtime);
}

/** Serves `name` twice and checks the second came from the cache. */
function primed(name: string): StaticResult {
  get(name);
  const hits = fileCacheStats.hits;
  const r = get(name);
  assert.equal(fileCacheStats.hits, hits + 1, `${name} is served from the cache`);
  return r;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bext-file-cache-'));
  chmodSync(dir, 0o755);
  write('same-size.txt', 'version one');
  write('touched.txt', 'touch me');
  write('locked.txt', 'secret');
  write('nobody.txt', 'for nobody');
  write('a.txt', 'release A');
  write('b.txt', 'release B');
  symlinkSync('a.txt', join(dir, 'current.txt'));
  write('removed.txt', 'here today');
  write('ranges.txt', '0123456789');
  write('tf.txt', 'try_files');
  write('shared-tcp.txt', 'shared v1');
  write('shared-tls.txt', 'shared v1');
  mkdirSync(join(dir, 'site'));
  write('site/index.html', 'the index');
  write('edge.bin', Buffer.alloc(CACHE_FILE_MAX, 1));
  write('over.bin', Buffer.alloc(CACHE_FILE_MAX + 1, 2));
  for (let i = 0; i < MANY; i++) write(`many-${i}.bin`, Buffer.alloc(MANY_SIZE, i));
  try { chownSync(join(dir, 'nobody.txt'), 65534, 65534); } catch { /* not root: that test skips */ }
  // Files changed less than 2 s before they are read are not cached (their timestamps may not show
  // a second change in the same clock tick): let the ctimes above age once.
  await new Promise((r) => setTimeout(r, 2100));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => clearFileCache());

test('content changed with the same size and mtime: the new bytes', () => {
  assert.equal(body(primed('same-size.txt')), 'version one');
  write('same-size.txt', 'version two');
  const r = get('same-size.txt');
  assert.equal(body(r), 'version two');
  assert.equal(header(r, 'Last-Modified'), 'Tue, 14 Nov 2023 22:13:20 GMT');
});

test('an mtime touch: new Last-Modified and ETag, and conditional requests follow it', () => {
  const before = primed('touched.txt');
  assert.equal(header(before, 'ETag'), '"6553f100-8"');
  assert.equal(status(get('touched.txt', 'GET', { 'if-none-match': '"6553f100-8"' })), 304);
  utimesSync(join(dir, 'touched.txt'), T0 + 60, T0 + 60);
  const r = get('touched.txt');
  assert.equal(header(r, 'ETag'), '"6553f13c-8"');
  assert.equal(header(r, 'Last-Modified'), 'Tue, 14 Nov 2023 22:14:20 GMT');
  assert.equal(status(get('touched.txt', 'GET', { 'if-none-match': '"6553f100-8"' })), 200);
});

test('chmod 000: the entry is dropped and the file opened again (403 unless the worker may open it)', () => {
  primed('locked.txt');
  chmodSync(join(dir, 'locked.txt'), 0o000);
  try {
    let canOpen = true;
    try { closeSync(openSync(join(dir, 'locked.txt'), 'r')); } catch { canOpen = false; }
    const hits = fileCacheStats.hits;
    const r = get('locked.txt');
    assert.equal(fileCacheStats.hits, hits, 'not a cache hit');
    assert.equal(status(r), canOpen ? 200 : 403);
  } finally {
    chmodSync(join(dir, 'locked.txt'), 0o644);
  }
});

test('as an unprivileged worker: a file it can no longer open is never served from its cache', { skip: process.getuid?.() !== 0 }, () => {
  // A worker runs as nginx's `user`: this child is uid 65534 with its own cache, like a worker.
  const script = `
    import { chmodSync } from 'node:fs';
    import { serveStaticSync } from ${JSON.stringify(join(ROOT_DIR, 'src/http/static.ts'))};
    import { fileCacheStats } from ${JSON.stringify(join(ROOT_DIR, 'src/http/file-cache.ts'))};
    const file = ${JSON.stringify(join(dir, 'nobody.txt'))};
    const get = () => serveStaticSync(file, { method: 'GET', uri: '/nobody.txt', args: '', headers: {} }, { types: new Map(), defaultType: 'text/plain' });
    const out = [get().status, get().status, fileCacheStats.hits];
    chmodSync(file, 0);
    out.push(get().status, get().status, fileCacheStats.hits);
    console.log(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT_DIR, uid: 65534, gid: 65534, encoding: 'utf8', env: { ...process.env, HOME: '/tmp' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), [200, 200, 1, 403, 403, 1]);
});

test('a symlink swapped to another release (same size and mtime): the new target at once', () => {
  assert.equal(body(primed('current.txt')), 'release A');
  // A deploy: a new link renamed over the old one.
  symlinkSync('b.txt', join(dir, 'next.txt'));
  renameSync(join(dir, 'next.txt'), join(dir, 'current.txt'));
  assert.equal(body(get('current.txt')), 'release B');
});

test('a removed file: 404, and a file put back in its place is served', () => {
  primed('removed.txt');
  rmSync(join(dir, 'removed.txt'));
  const r = get('removed.txt');
  assert.equal(status(r), 404);
  assert.equal(fileCacheSize().entries, 0);
  write('removed.txt', 'back again');
  assert.equal(body(get('removed.txt')), 'back again');
});

test('ranges, HEAD, 304 and POST from a cached file are what the file gives', () => {
  primed('ranges.txt');
  const one = get('ranges.txt', 'GET', { range: 'bytes=2-4' });
  assert.equal(status(one), 206);
  assert.equal(body(one), '234');
  assert.equal(header(one, 'Content-Range'), 'bytes 2-4/10');
  const multi = get('ranges.txt', 'GET', { range: 'bytes=0-0,-1' });
  assert.equal(status(multi), 206);
  assert.match(body(multi), /\r\nContent-Range: bytes 0-0\/10\r\n\r\n0\r\n--\d{20}\r\nContent-Type: text\/plain\r\nContent-Range: bytes 9-9\/10\r\n\r\n9\r\n--\d{20}--\r\n$/);
  assert.equal(status(get('ranges.txt', 'GET', { range: 'bytes=20-' })), 416);
  const head = get('ranges.txt', 'HEAD');
  assert.equal(head.kind === 'response' && head.body.kind, 'none');
  assert.equal(header(head, 'Content-Length'), '10');
  assert.equal(status(get('ranges.txt', 'POST')), 405);
  assert.equal(status(get('ranges.txt', 'DELETE')), 405);
});

test('a file changed moments ago is read again until its timestamps can be trusted', () => {
  write('fresh.txt', 'just deployed');
  const fills = fileCacheStats.fills;
  assert.equal(body(get('fresh.txt')), 'just deployed');
  assert.equal(body(get('fresh.txt')), 'just deployed');
  assert.equal(fileCacheStats.fills, fills, 'not cached');
});

test('bounds: files over CACHE_FILE_MAX are not kept, and the total stays under CACHE_TOTAL_MAX', () => {
  primed('edge.bin');
  const fills = fileCacheStats.fills;
  get('over.bin');
  get('over.bin');
  assert.equal(fileCacheStats.fills, fills);
  for (let i = 0; i < MANY; i++) get(`many-${i}.bin`);
  const size = fileCacheSize();
  assert.ok(size.bytes <= CACHE_TOTAL_MAX, `${size.bytes} bytes`);
  assert.ok(size.entries < MANY);
  // Least recently used went first: the last ones are still there.
  const hits = fileCacheStats.hits;
  get(`many-${MANY - 1}.bin`);
  assert.equal(fileCacheStats.hits, hits + 1);
  get('many-0.bin');
  assert.equal(fileCacheStats.hits, hits + 1);
});

test('try_files: the winning candidate\'s stat validates the entry (no second stat)', async () => {
  primed('tf.txt');
  const list = compileTryFiles(['$uri', '$uri/', '=404'], compiled);
  const ctx = newVarContext({ uri: '/tf.txt' });
  const reused = fileCacheStats.reusedStats;
  const tf = await tryFiles(list, { kind: 'root', path: dir }, ctx);
  assert.deepEqual(tf, { kind: 'file', uri: '/tf.txt' });
  assert.equal(body(get('tf.txt')), 'try_files');
  assert.equal(fileCacheStats.reusedStats, reused + 1);
  // A lent stat does not outlive the tick it was made in.
  await tryFiles(list, { kind: 'root', path: dir }, ctx);
  await new Promise((r) => setImmediate(r));
  get('tf.txt');
  assert.equal(fileCacheStats.reusedStats, reused + 1);
  assert.ok(statSync(join(dir, 'tf.txt')).isFile());
});

// Requests read in one event-loop iteration share one stat (file-cache.ts, readCallback).
/** A server whose handler serves the file named by the path from the cache (bext's connections). */
async function fileServer(tlsFiles?: { key: Buffer; cert: Buffer }): Promise<{ server: Server; port: number }> {
  const tf = compileTryFiles(['$uri', '=404'], compiled);
  const handler = (req: { url?: string }, res: import('node:http').ServerResponse): void => {
    let name = (req.url ?? '/').slice(1);
    // /try/NAME: try_files $uri =404 first, as `location / { try_files $uri =404; }` does.
    if (name.startsWith('try/')) {
      const found = tryFiles(tf, { kind: 'root', path: dir }, newVarContext({ uri: '/' + name.slice(4) }));
      name = found.kind === 'file' ? found.uri.slice(1) : `status-${found.kind === 'status' ? found.status : found.kind}`;
    }
    // /idx/DIR/: the index module's test for DIR/index.html, then the file it redirects to.
    if (name.startsWith('idx/')) {
      const found = resolveIndex({ kind: 'root', path: dir }, '/' + name.slice(4), 'GET', ['index.html']);
      name = found.kind === 'redirect' ? found.uri.slice(1) : `status-${found.kind}`;
    }
    const r = get(name);
    const data = r.kind === 'response' && r.body.kind === 'buffer' ? r.body.data : Buffer.from(name.startsWith('status-') ? name : 'not a buffer');
    res.writeHead(200, ['Content-Length', String(data.length)]);
    res.end(data);
  };
  const server = (tlsFiles ? createHttpsServer(tlsFiles, handler) : createServer(handler)) as Server;
  serveFastHttp1(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port };
}

/** A keep-alive client that reads whole `Content-Length` responses. */
class Client {
  private buf = '';
  private waiters: (() => void)[] = [];
  constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      this.buf += c;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  send(paths: string[]): void {
    this.socket.write(paths.map((p) => `GET /${p} HTTP/1.1\r\nHost: a\r\n\r\n`).join(''));
  }
  /** The bodies of the next `n` responses. */
  async bodies(n: number): Promise<string[]> {
    const out: string[] = [];
    while (out.length < n) {
      const m = /^HTTP\/1\.1 200 [^\r]*\r\n(?:[^\r]*\r\n)*?Content-Length: (\d+)\r\n(?:[^\r]*\r\n)*?\r\n/i.exec(this.buf);
      const len = m ? Number(m[1]) : -1;
      if (m && this.buf.length >= m[0].length + len) {
        out.push(this.buf.slice(m[0].length, m[0].length + len));
        this.buf = this.buf.slice(m[0].length + len);
        continue;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return out;
  }
}

/** Holds the event loop, so that everything sent meanwhile is read in the next iteration together. */
const holdLoop = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

for (const overTls of [false, true]) {
  test(`one stat per event-loop iteration for the requests read in it${overTls ? ' (TLS)' : ''}; not for pipelined ones, nor across iterations`, async (t) => {
    let tlsFiles: { key: Buffer; cert: Buffer } | undefined;
    if (overTls) {
      const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=a',
        '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')]);
      if (made.status !== 0) { t.skip('no openssl'); return; }
      const { readFileSync } = await import('node:fs');
      tlsFiles = { key: readFileSync(join(dir, 'tls.key')), cert: readFileSync(join(dir, 'tls.crt')) };
    }
    const { server, port } = await fileServer(tlsFiles);
    const open = async (): Promise<Client> => {
      const socket = overTls ? connectTls({ port, host: '127.0.0.1', rejectUnauthorized: false }) : connectTcp(port, '127.0.0.1');
      await new Promise((r) => socket.once(overTls ? 'secureConnect' : 'connect', r));
      return new Client(socket);
    };
    const [a, b] = [await open(), await open()];
    const file = overTls ? 'shared-tls.txt' : 'shared-tcp.txt';
    try {
      // Both connections accepted, the file read and kept.
      for (const c of [a, b]) {
        c.send([file]);
        assert.deepEqual(await c.bodies(1), ['shared v1']);
      }
      // Each step: how many requests came from the cache, shared a stat, or used try_files' stat.
      let before = { ...fileCacheStats };
      const step = (): { hits: number; shared: number; lent: number } => {
        const d = { hits: fileCacheStats.hits - before.hits, shared: fileCacheStats.sharedStats - before.sharedStats, lent: fileCacheStats.reusedStats - before.reusedStats };
        before = { ...fileCacheStats };
        return d;
      };
      // Two connections read in one iteration: one stat, the other request shares it.
      a.send([file]);
      b.send([file]);
      holdLoop(100);
      assert.deepEqual([...await a.bodies(1), ...await b.bodies(1)], ['shared v1', 'shared v1']);
      assert.deepEqual(step(), { hits: 2, shared: 1, lent: 0 });
      // try_files too: the first request's try_files stat validates the entry; the second request
      // needs no stat for try_files nor for the file.
      a.send([`try/${file}`]);
      b.send([`try/${file}`]);
      holdLoop(100);
      assert.deepEqual([...await a.bodies(1), ...await b.bodies(1)], ['shared v1', 'shared v1']);
      assert.deepEqual(step(), { hits: 2, shared: 2, lent: 1 });
      // The index module too: its test for site/index.html shares the stat the file was served with.
      a.send(['idx/site/']);
      assert.deepEqual(await a.bodies(1), ['the index']); // read and kept
      step();
      a.send(['idx/site/']);
      b.send(['idx/site/']);
      holdLoop(100);
      assert.deepEqual([...await a.bodies(1), ...await b.bodies(1)], ['the index', 'the index']);
      assert.deepEqual(step(), { hits: 2, shared: 2, lent: 0 });
      // A pipelined request is served after the read callback (its bytes may have come after the
      // stat): it makes its own stat.
      a.send([file, `try/${file}`]);
      holdLoop(50);
      assert.deepEqual(await a.bodies(2), ['shared v1', 'shared v1']);
      assert.deepEqual(step(), { hits: 2, shared: 0, lent: 1 });
      // Each later iteration stats again: a change between two requests is served at once.
      a.send([file]);
      assert.deepEqual(await a.bodies(1), ['shared v1']);
      writeFileSync(join(dir, file), 'shared v2, longer');
      b.send([file]);
      assert.deepEqual(await b.bodies(1), ['shared v2, longer']);
      assert.equal(step().shared, 0);
      // A file removed between two iterations is gone for try_files at once.
      a.send([`try/${file}`]);
      assert.deepEqual(await a.bodies(1), ['shared v2, longer']);
      rmSync(join(dir, file));
      b.send([`try/${file}`]);
      assert.deepEqual(await b.bodies(1), ['status-404']);
    } finally {
      a.socket.destroy();
      b.socket.destroy();
      server.close();
    }
  });
}
