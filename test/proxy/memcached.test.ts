// Differential: memcached_pass to a real memcached (Debian's), nginx and bext on the same
// configuration: a value as a 200 typed by the URI, a key with a space (escaped), a missing key as
// nginx's own 404 or error_page's named location, memcached_gzip_flag, HEAD, POST refused (405),
// no $memcached_key (500), memcached down (502), and the error lines; byte ranges (the module's
// force_ranges: one range at most, 416, max_ranges 0, gzip in the way); connections kept under
// `keepalive` (and keepalive_requests), counted by memcached itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { get as httpGet } from 'node:http';
import { errorLinesOf, freePort, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from '../serving/harness.ts';

const MEMCACHED = '/usr/bin/memcached';
const skip = !haveNginx || !existsSync(MEMCACHED);
let pair: Pair | undefined;
let memcached: ChildProcess | undefined;
let memcachedPort = 0;

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
  memcachedPort = port;
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
  await store(port, [['/m/a%20b.txt', 'spaced key\n', 0], ['/mg/z.txt', 'not really gzip', 2], ['/mg/plain.txt', 'flags 4', 4], ['/m/data', 'no extension', 0], ['/mk/v', 'kept', 0], ['/mk3/v', 'kept 3', 0],
    ['/m/big', Array.from({ length: 30_000 }, (_, i) => `${i % 10}`.repeat(9) + '\n').join(''), 0]]);
  pair = await startPair(wrapConfig(`
  upstream mk { server 127.0.0.1:${port}; keepalive 4; }
  upstream mk3 { server 127.0.0.1:${port}; keepalive 4; keepalive_requests 3; }
  server {
    listen 127.0.0.1:@P1@;
    server_name localhost;
    location /m/ { set $memcached_key $uri; memcached_pass 127.0.0.1:${port}; }
    location /mf/ { set $memcached_key $uri; memcached_pass 127.0.0.1:${port}; error_page 404 = @fallback; }
    location @fallback { return 200 "fallback $uri\\n"; }
    location /mg/ { set $memcached_key $uri; memcached_gzip_flag 2; memcached_pass 127.0.0.1:${port}; }
    location /mdown/ { set $memcached_key $uri; memcached_pass 127.0.0.1:${down}; }
    location /mnokey/ { memcached_pass 127.0.0.1:${port}; }
    location /mk/ { set $memcached_key $uri; memcached_pass mk; }
    location /mk3/ { set $memcached_key $uri; memcached_pass mk3; }
    location /mr0/ { set $memcached_key /m/page.html; max_ranges 0; memcached_pass 127.0.0.1:${port}; }
    location /mrz/ { set $memcached_key /m/page.html; gzip on; gzip_min_length 1; memcached_pass 127.0.0.1:${port}; }
    location /mra/ { set $memcached_key /m/page.html; add_header X-Up $upstream_status; expires 1h; memcached_pass 127.0.0.1:${port}; }
  }`), makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
  memcached?.kill();
});

const get = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P1', target, compare: ['content-encoding'], ...extra });

test('memcached_pass: identical to nginx', { skip, timeout: 60_000 }, async () => {
  const cases = [
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
    get('a byte range: 206', '/m/page.html', { headers: [['Range', 'bytes=3-8']] }),
    get('a suffix range', '/m/page.html', { headers: [['Range', 'bytes=-4']] }),
    get('an open range', '/m/page.html', { headers: [['Range', 'bytes=5-']] }),
    get('two ranges: the whole value (one range at most)', '/m/page.html', { headers: [['Range', 'bytes=0-1,3-4']] }),
    get('a range past the end: 416', '/m/page.html', { headers: [['Range', 'bytes=100-200']] }),
    get('a 416 keeps add_header and expires', '/mra/x', { headers: [['Range', 'bytes=100-']], compare: ['x-up', 'cache-control'] }),
    get('a range with add_header', '/mra/x', { headers: [['Range', 'bytes=1-2']], compare: ['x-up', 'cache-control'] }),
    get('If-Range: a value has no validators, the whole value', '/m/page.html', { headers: [['Range', 'bytes=3-8'], ['If-Range', '"x"']] }),
    get('a range of a value many reads long', '/m/big', { headers: [['Range', 'bytes=100005-200004']] }),
    get('a range on HEAD', '/m/page.html', { method: 'HEAD', headers: [['Range', 'bytes=3-8']] }),
    get('a range of a gzip-flagged value', '/mg/z.txt', { headers: [['Range', 'bytes=4-']] }),
    get('a range on a missing key: 404', '/m/missing.html', { headers: [['Range', 'bytes=3-8']] }),
    get('max_ranges 0: the whole value, no Accept-Ranges', '/mr0/x', { headers: [['Range', 'bytes=3-8']] }),
    // HEAD: the compressed bytes' framing differs (nginx flushes per upstream buffer), the headers are the point.
    get('gzip compresses: no ranges', '/mrz/x.html', { method: 'HEAD', headers: [['Range', 'bytes=3-8'], ['Accept-Encoding', 'gzip']] }),
  ];
  const outcomes = await runCases(pair!, cases);
  const { unexpected } = report('memcached', outcomes);
  assert.deepEqual(unexpected, []);
  assert.equal(outcomes[0]!.nginx.status, 200);
  assert.equal(outcomes[0]!.nginx.body, '<p>cached</p>\n');
  assert.equal(outcomes[1]!.nginx.body, 'spaced key\n');
  const named = (n: string) => outcomes[cases.findIndex((c) => c.name.startsWith(n))]!.nginx;
  assert.equal(named('a byte range').status, 206);
  assert.equal(named('a byte range').body, 'cached');
  assert.equal(named('a range past the end').status, 416);
  assert.equal(named('a range of a value many reads long').body.length, 100_000);
  const pick = (log: string) => log.split('\n').filter((l) => /memcached/.test(l) && /\[(error|warn|info)\]/.test(l) && !/keepalive/.test(l))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')).sort();
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.some((l) => l.includes('was not found by memcached')));
  assert.ok(theirs.some((l) => l.includes('using uninitialized "memcached_key" variable')));
});

/** memcached's count of the connections it ever accepted (this one included). */
function totalConnections(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('stats\r\n'));
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (!got.endsWith('END\r\n')) return;
      s.end();
      resolve(Number(/STAT total_connections (\d+)/.exec(got)![1]));
    });
    s.on('error', reject);
  });
}

/** GET on a connection of its own: status and body. */
function fetchOnce(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(`${res.statusCode} ${res.statusCode === 200 ? body : ''}`));
    }).on('error', reject);
  });
}

test('memcached_pass with keepalive: connections kept and reused as nginx keeps them', { skip, timeout: 60_000 }, async () => {
  // Twelve requests one after the other, a value and a missing key in turn: both end cleanly, so
  // with `keepalive` one connection carries them all, or three each under keepalive_requests 3.
  const opened: Record<string, number[]> = {};
  for (const prefix of ['/mk/', '/mk3/', '/m/']) {
    for (const instance of [pair!.nginx, pair!.bext]) {
      const before = await totalConnections(memcachedPort);
      const answers: string[] = [];
      for (let i = 0; i < 12; i++) answers.push(await fetchOnce(instance.ports.P1!, i % 2 ? `${prefix}missing` : `${prefix}${prefix === '/m/' ? 'page.html' : 'v'}`));
      const after = await totalConnections(memcachedPort);
      (opened[prefix] ??= []).push(after - before - 1);
      const value = prefix === '/mk/' ? 'kept' : prefix === '/mk3/' ? 'kept 3' : '<p>cached</p>\n';
      assert.deepEqual([...new Set(answers)].sort(), [`200 ${value}`, '404 '], `${instance.kind} ${prefix}`);
    }
  }
  assert.deepEqual(opened, { '/mk/': [1, 1], '/mk3/': [4, 4], '/m/': [12, 12] });
});
