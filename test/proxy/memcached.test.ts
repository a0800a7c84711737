// Differential: memcached_pass to a real memcached (Debian's), nginx and bext on the same
// configuration: a value as a 200 typed by the URI, a key with a space (escaped), a missing key as
// nginx's own 404 or error_page's named location, memcached_gzip_flag, HEAD, POST refused (405),
// no $memcached_key (500), memcached down (502), and the error lines.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { errorLinesOf, freePort, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from '../serving/harness.ts';

const MEMCACHED = '/usr/bin/memcached';
const skip = !haveNginx || !existsSync(MEMCACHED);
let pair: Pair | undefined;
let memcached: ChildProcess | undefined;

/** Talks to memcached directly: `set` each value (with its flags), answers read to the last STORED. */
function store(port: number, values: [string, string, number][]): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      for (const [key, value, flags] of values) s.write(`set ${key} ${flags} 0 ${Buffer.byteLength(value)}\r\n${value}\r\n`);
    });
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.split('STORED\r\n').length - 1 === values.length) {
        s.end();
        resolve();
      }
    });
    s.on('error', reject);
  });
}

before(async () => {
  if (skip) return;
  const port = await freePort();
  const down = await freePort();
  memcached = spawn(MEMCACHED, ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16', '-u', 'nobody'], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      await store(port, [['/m/page.html', '<p>cached</p>\n', 0]]);
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await store(port, [['/m/a%20b.txt', 'spaced key\n', 0], ['/mg/z.txt', 'not really gzip', 2], ['/mg/plain.txt', 'flags 4', 4], ['/m/data', 'no extension', 0]]);
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    server_name localhost;
    location /m/ { set $memcached_key $uri; memcached_pass 127.0.0.1:${port}; }
    location /mf/ { set $memcached_key $uri; memcached_pass 127.0.0.1:${port}; error_page 404 = @fallback; }
    location @fallback { return 200 "fallback $uri\\n"; }
    location /mg/ { set $memcached_key $uri; memcached_gzip_flag 2; memcached_pass 127.0.0.1:${port}; }
    location /mdown/ { set $memcached_key $uri; memcached_pass 127.0.0.1:${down}; }
    location /mnokey/ { memcached_pass 127.0.0.1:${port}; }
  }`), makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
  memcached?.kill();
});

const get = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P1', target, compare: ['content-encoding'], ...extra });

test('memcached_pass: identical to nginx', { skip, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, [
    get('a value, typed by the URI', '/m/page.html'),
    get('a key with a space', '/m/a%20b.txt'),
    get('no extension: default_type', '/m/data'),
    get('a missing key: 404', '/m/missing.html'),
    get('a missing key, error_page to a named location', '/mf/missing'),
    get('memcached_gzip_flag in the flags', '/mg/z.txt'),
    get('memcached_gzip_flag not in the flags', '/mg/plain.txt'),
    get('HEAD', '/m/page.html', { method: 'HEAD' }),
    get('POST: 405', '/m/page.html', { method: 'POST', body: 'x' }),
    get('no $memcached_key: 500', '/mnokey/x'),
    get('memcached down: 502', '/mdown/x'),
  ]);
  const { unexpected } = report('memcached', outcomes);
  assert.deepEqual(unexpected, []);
  assert.equal(outcomes[0]!.nginx.status, 200);
  assert.equal(outcomes[0]!.nginx.body, '<p>cached</p>\n');
  assert.equal(outcomes[1]!.nginx.body, 'spaced key\n');
  const pick = (log: string) => log.split('\n').filter((l) => /memcached/.test(l) && /\[(error|warn|info)\]/.test(l) && !/keepalive/.test(l))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')).sort();
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.some((l) => l.includes('was not found by memcached')));
  assert.ok(theirs.some((l) => l.includes('using uninitialized "memcached_key" variable')));
});
