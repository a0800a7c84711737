// A large upload through proxy_pass on a real worker process: the body goes to a temporary file
// (client_body_temp_path), so the worker's peak memory does not grow with the upload's size. Before
// bodies were spooled, a 256 MiB upload cost the worker over 512 MiB (its chunks, then their concat).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { ensureBuilt, freePort, makePrefix, readPid, SERVER, waitFor, workerPids, type Prefix } from '../server/helpers.ts';

const UPLOAD = 256 * 1024 * 1024;
/** The worker's peak RSS may grow by this much at most (garbage between collections included). */
const ALLOWED_GROWTH = 160 * 1024 * 1024;

let p: Prefix;
let upstream: http.Server;
let received = { bytes: 0, sha1: '' };

before(async () => {
  ensureBuilt();
  const upPort = await freePort();
  upstream = http.createServer((req, res) => {
    const hash = createHash('sha1');
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; hash.update(c); });
    req.on('end', () => {
      received = { bytes, sha1: hash.digest('hex') };
      res.end('ok');
    });
  });
  await new Promise<void>((r) => upstream.listen(upPort, '127.0.0.1', r));
  p = await makePrefix(`
worker_processes 1;
pid @DIR@/logs/nginx.pid;
error_log @DIR@/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path @DIR@/body;
    server {
        listen 127.0.0.1:@PORT@;
        client_max_body_size 0;
        location / { proxy_pass http://127.0.0.1:${upPort}; }
    }
}
`);
  const child = spawn(process.execPath, [SERVER, '-p', `${p.dir}/`, '-c', 'nginx.conf', '-g', 'daemon off;'], { stdio: 'ignore', detached: true });
  child.unref();
  await waitFor(() => readPid(p.pidFile) !== undefined, 15_000, 'the pid file');
});

after(async () => {
  const pid = readPid(p.pidFile);
  if (pid) process.kill(pid, 'SIGQUIT');
  p.cleanup();
  await new Promise<void>((r) => upstream.close(() => r()));
});

/** VmHWM: a process's peak resident memory, in bytes. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** `total` bytes of a repeating pattern, made as they are sent, and their hash. */
function generated(total: number): { stream: Readable; sha1: () => string } {
  const piece = Buffer.alloc(64 * 1024);
  for (let i = 0; i < piece.length; i++) piece[i] = (i * 31) & 0xff;
  const hash = createHash('sha1');
  let left = total;
  const stream = new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, piece.length);
      left -= n;
      const chunk = piece.subarray(0, n);
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha1: () => hash.digest('hex') };
}

test('a 256 MiB upload goes through a temporary file; the worker does not hold it', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const [worker] = workerPids(readPid(p.pidFile)!);
  assert.ok(worker, 'a worker');
  const before = peakRss(worker);
  const body = generated(UPLOAD);
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: p.port, method: 'PUT', path: '/up', headers: { 'Content-Length': String(UPLOAD) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    body.stream.pipe(req);
  });
  assert.equal(status, 200);
  assert.deepEqual(received, { bytes: UPLOAD, sha1: body.sha1() });
  const growth = peakRss(worker) - before;
  assert.ok(growth < ALLOWED_GROWTH, `worker peak RSS grew by ${(growth / 2 ** 20).toFixed(0)} MiB`);
  // The file was removed when it was opened, and its descriptor closed with the request.
  assert.deepEqual(readdirSync(path.join(p.dir, 'body')), []);
  const bodyDir = path.join(p.dir, 'body');
  await waitFor(() => !readdirSync(`/proc/${worker}/fd`).some((fd) => path.dirname(readlinkSafe(`/proc/${worker}/fd/${fd}`)) === bodyDir), 5_000, 'the temporary file closed');
  const log = readFileSync(path.join(p.dir, 'logs/error.log'), 'utf8');
  assert.match(log, new RegExp(`\\[warn\\] \\d+#\\d+: \\*\\d+ a client request body is buffered to a temporary file ${p.dir}/body/0000000001, client: 127\\.0\\.0\\.1`));
});

function readlinkSafe(link: string): string {
  try {
    return readlinkSync(link).replace(/ \(deleted\)$/, '');
  } catch {
    return '';
  }
}
