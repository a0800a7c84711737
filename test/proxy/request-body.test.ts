// Differential: where a proxied request body is kept. nginx reads it into memory when it fits
// client_body_buffer_size (a quarter more for a body of known length), else into a temporary file
// under client_body_temp_path, logged at warn; client_body_in_file_only keeps the file for the
// upstream ($request_body_file), `clean` removes it afterwards. $request_body is the body in memory.
// client_max_body_size stops a chunked body as it overflows.
// Both servers run the same config, each with its own temp directory; the upstream reports what it
// received, and the error logs' lines are compared with the file numbers masked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haveNginx, type Oracle } from '../http/oracle.ts';
import { echoOf, send, sendChunked, startEcho, startOurs, startTheirs, type Ours, type RawResponse, type Upstream } from './harness.ts';

let echo: Upstream;
let ours: Ours;
let theirs: Oracle;
const tmp = { ours: '', theirs: '' };

const conf = (dir: string, port: number) => `
  server {
    listen 127.0.0.1:PORT;
    client_max_body_size 64m;
    client_body_temp_path ${dir}/a;
    location /mem/ { proxy_set_header X-Body "[$request_body_file][$request_body]"; proxy_pass http://127.0.0.1:${port}/; }
    location /levels/ {
      client_body_temp_path ${dir}/b 1 2;
      client_body_buffer_size 1k;
      proxy_set_header X-Body "[$request_body_file]";
      proxy_pass http://127.0.0.1:${port}/;
    }
    location /keep/ {
      client_body_in_file_only on;
      client_body_temp_path ${dir}/c;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Body "[$request_body_file]";
      proxy_pass http://127.0.0.1:${port}/;
    }
    location /clean/ {
      client_body_in_file_only clean;
      client_body_temp_path ${dir}/d;
      proxy_set_header X-Body "[$request_body_file][$request_body]";
      proxy_pass http://127.0.0.1:${port}/;
    }
    location /gone/ { client_body_temp_path ${dir}/e; proxy_pass http://127.0.0.1:${port}/; }
    location /limit/ { client_max_body_size 1k; proxy_pass http://127.0.0.1:${port}/; }
  }`;

before(async () => {
  if (!haveNginx) return;
  echo = await startEcho();
  tmp.ours = mkdtempSync(join(tmpdir(), 'bext-body-ours-'));
  tmp.theirs = mkdtempSync(join(tmpdir(), 'bext-body-nginx-'));
  // nginx makes each temp directory at start (ngx_create_paths); in-process, ours are made here.
  theirs = await startTheirs(conf(tmp.theirs, echo.port));
  for (const d of ['a', 'b', 'c', 'd', 'e']) mkdirSync(join(tmp.ours, d));
  ours = await startOurs(conf(tmp.ours, echo.port));
  // A directory gone after start: the file cannot be created.
  for (const dir of [tmp.ours, tmp.theirs]) rmSync(join(dir, 'e'), { recursive: true });
});

after(async () => {
  await ours?.stop();
  await theirs?.stop();
  await echo?.stop();
  for (const d of [tmp.ours, tmp.theirs]) if (d) rmSync(d, { recursive: true, force: true });
});

const nginxLog = (): string[] => readFileSync(join(theirs.prefix, 'logs/error.log'), 'utf8').split('\n');

/** The lines about body files (or their failures), without time, pid, connection, temp dir and file number. */
function bodyLines(lines: string[], dir: string): string[] {
  return lines
    .filter((l) => /buffered to a temporary file|\[crit\]/.test(l))
    .map((l) => l.replace(/^.*? \[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replaceAll(dir, 'TMP').replace(/\d{10}/g, 'N'));
}

/** What the upstream saw, with the temp dir and file number masked. */
function seen(r: RawResponse, dir: string): string {
  const e = echoOf(r);
  if (!e) return `${r.status} ${r.body.toString('latin1').slice(0, 200)}`;
  const body = (e.headers['x-body'] ?? '').replaceAll(dir, 'TMP').replace(/\d{10}/g, 'N');
  return `${r.status} ${e.method} ${e.url} length=${e.headers['content-length'] ?? '-'} te=${e.headers['transfer-encoding'] ?? '-'} got=${e.bodyLength} sha1=${e.bodySha1} x-body=${body}`;
}

const KIB = (n: number, fill = 0x61): Buffer => Buffer.alloc(n * 1024, fill);
const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

type Req = (port: number) => Promise<RawResponse>;
const post = (target: string, body: Buffer): Req => (port) => send(port, 'POST', target, [`Content-Length: ${body.length}`], body);

/** Runs one request on both; asserts both views are equal, returns ours (and its raw answer). */
async function both(name: string, req: Req): Promise<{ ours: string; raw: RawResponse }> {
  const a = seen(await req(theirs.port), tmp.theirs);
  const raw = await req(ours.port);
  const b = seen(raw, tmp.ours);
  assert.equal(b, a, name);
  return { ours: b, raw };
}

test('request bodies: memory or temporary file, as nginx keeps them', { skip: !haveNginx && 'no nginx' }, async (t) => {
  const small = KIB(1);
  const big = KIB(100, 0x62);
  await t.test('a body that fits the buffer stays in memory: $request_body, no file', async () => {
    const r = await both('small', post('/mem/x', small));
    assert.match(r.ours, new RegExp(`got=1024 sha1=${sha1(small)} x-body=\\[\\]\\[a{1024}\\]$`));
  });
  await t.test('a larger one goes to a file: $request_body_file, the same bytes upstream', async () => {
    const r = await both('big', post('/mem/x', big));
    assert.match(r.ours, new RegExp(`length=102400 te=- got=102400 sha1=${sha1(big)} x-body=\\[TMP/a/N\\]\\[\\]$`));
    // Removed as soon as it was opened: only the descriptor kept it.
    for (const dir of [tmp.ours, tmp.theirs]) assert.deepEqual(readdirSync(join(dir, 'a')), [], dir);
  });
  await t.test('a chunked body: memory while it fits, else a file; sent with its length', async () => {
    const pieces = [KIB(30, 0x63), KIB(30, 0x64), KIB(40, 0x65)];
    const r = await both('chunked big', (port) => sendChunked(port, '/mem/c', pieces));
    assert.match(r.ours, new RegExp(`length=102400 te=- got=102400 sha1=${sha1(Buffer.concat(pieces))} x-body=\\[TMP/a/N\\]\\[\\]$`));
    const r2 = await both('chunked small', (port) => sendChunked(port, '/mem/c', [Buffer.from('hi'), Buffer.from('there')]));
    assert.match(r2.ours, /length=7 te=- got=7 .* x-body=\[\]\[hithere\]$/);
  });
  await t.test('levels: subdirectories named by the last digits of the file number', async () => {
    const r = await both('levels', post('/levels/x', KIB(5)));
    assert.match(r.ours, /x-body=\[TMP\/b\/\d\/\d\d\/N\]$/);
    const file = echoOf(r.raw)!.headers['x-body']!;
    const m = /\/b\/(\d)\/(\d\d)\/(\d{10})\]$/.exec(file);
    assert.ok(m, file);
    assert.equal(m[3]!.slice(-3), m[2]! + m[1]!, file);
  });
  await t.test('client_body_in_file_only on: the file stays, the upstream gets its name', async () => {
    const body = KIB(3, 0x66);
    const r = await both('keep', post('/keep/x', body));
    assert.match(r.ours, /length=- te=- got=0 .* x-body=\[TMP\/c\/N\]$/);
    for (const dir of [tmp.ours, tmp.theirs]) {
      const files = readdirSync(join(dir, 'c'));
      assert.equal(files.length, 1, `${dir}/c`);
      assert.equal(sha1(readFileSync(join(dir, 'c', files[0]!))), sha1(body));
    }
  });
  await t.test('client_body_in_file_only clean: the file goes after the request', async () => {
    const r = await both('clean', post('/clean/x', Buffer.from('tiny')));
    assert.match(r.ours, /got=4 .* x-body=\[TMP\/d\/N\]\[\]$/);
    for (let i = 0; i < 50 && readdirSync(join(tmp.ours, 'd')).length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(readdirSync(join(tmp.ours, 'd')), []);
    assert.deepEqual(readdirSync(join(tmp.theirs, 'd')), []);
  });
  await t.test('a temp directory gone: 500, crit line', async () => {
    const r = await both('gone', post('/gone/x', big));
    assert.match(r.ours, /^500 /);
    assert.ok(!existsSync(join(tmp.ours, 'e')));
  });
  await t.test('client_max_body_size holds for a chunked body too: 413 as it overflows, nothing sent', async () => {
    const seenBefore = echo.seen.length;
    const r = await both('limit', (port) => sendChunked(port, '/limit/over', [KIB(0.5), KIB(1)]));
    assert.match(r.ours, /^413 /);
    assert.equal(echo.seen.length, seenBefore, 'nothing reached the upstream');
    const line = (lines: string[]) => lines.filter((l) => l.includes('too large')).map((l) => l.replace(/^.*? \[(\w+)\] \d+#\d+: \*\d+ /, '[$1] '));
    assert.deepEqual(line(ours.errorLines()), line(nginxLog()));
    assert.match(line(ours.errorLines())[0]!, /^\[error\] client intended to send too large chunked body: 512\+1024 bytes, client: 127\.0\.0\.1/);
  });
  await t.test('the error logs name the same files at the same levels', () => {
    const theirsLines = bodyLines(nginxLog(), tmp.theirs);
    const oursLines = bodyLines(ours.errorLines(), tmp.ours);
    assert.deepEqual(oursLines, theirsLines);
    assert.ok(theirsLines.some((l) => l.startsWith('[warn] a client request body is buffered to a temporary file TMP/a/N, client: 127.0.0.1')), theirsLines.join('\n'));
    assert.ok(theirsLines.some((l) => l.startsWith('[notice] a client request body is buffered to a temporary file TMP/c/N')));
    assert.ok(theirsLines.some((l) => l.startsWith('[crit] open() "TMP/e/N" failed (2: No such file or directory)')));
  });
});
