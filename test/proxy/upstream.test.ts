// Upstream groups against real nginx: the same sequence of requests to both, over the same echo
// upstreams, must pick the same servers in the same order and answer the same statuses, with the
// same $upstream_addr / $upstream_status lists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { haveNginx, refusedPort } from '../http/oracle.ts';
import { startEcho, startOurs, startTheirs, send, freePort, type Upstream, type Ours, type RawResponse } from './harness.ts';

let e1: Upstream;
let e2: Upstream;
let e3: Upstream;
let dead1 = 0;
let dead2 = 0;
let flapPort = 0;
let stale: { port: number; stop(): Promise<void> };
let ours: Ours;
let theirs: Awaited<ReturnType<typeof startTheirs>>;

const CONF = (): string => `
  upstream rr { server 127.0.0.1:${e1.port} weight=3; server 127.0.0.1:${e2.port}; server 127.0.0.1:${e3.port} weight=2; }
  upstream equal { server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; server 127.0.0.1:${e3.port}; }
  upstream withdown { server 127.0.0.1:${e1.port} down; server 127.0.0.1:${e2.port}; server 127.0.0.1:${e3.port}; }
  upstream backup { server 127.0.0.1:${dead1}; server 127.0.0.1:${e3.port} backup; }
  upstream alldead { server 127.0.0.1:${dead1}; server 127.0.0.1:${dead2}; }
  upstream onedead { server 127.0.0.1:${dead1}; }
  upstream halfdead { server 127.0.0.1:${dead1}; server 127.0.0.1:${e2.port}; }
  upstream flap { server 127.0.0.1:${flapPort} max_fails=1 fail_timeout=1s; server 127.0.0.1:${e2.port}; }
  upstream twofails { server 127.0.0.1:${dead2} max_fails=2; server 127.0.0.1:${e1.port}; }
  upstream lc { least_conn; server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port} weight=2; server 127.0.0.1:${e3.port}; }
  upstream iph { ip_hash; server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; server 127.0.0.1:${e3.port}; }
  upstream hsh { hash $arg_k; server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; server 127.0.0.1:${e3.port}; }
  upstream chsh { hash $arg_k consistent; server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port} weight=2; server 127.0.0.1:${e3.port}; }
  upstream ka { server 127.0.0.1:${e1.port}; keepalive 4; }
  upstream ka1 { server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; keepalive 1; }
  upstream ka1single { server 127.0.0.1:${e3.port}; keepalive 1; }
  upstream stale { server 127.0.0.1:${stale.port}; keepalive 4; }
  upstream stalepair { server 127.0.0.1:${stale.port}; server 127.0.0.1:${dead1}; keepalive 4; }
  upstream n500 { server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; }
  upstream n502 { server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; }
  upstream n502ni { server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; }
  upstream slow { server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; }
  upstream abandoned { server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; }
  upstream slowpost { server 127.0.0.1:${e1.port}; server 127.0.0.1:${e2.port}; }
  server {
    listen 127.0.0.1:PORT;
    add_header X-UA $upstream_addr always;
    add_header X-US $upstream_status always;
    add_header X-URT $upstream_response_time always;
    location /rr/ { proxy_pass http://rr/; }
    location /equal/ { proxy_pass http://equal/; }
    location /withdown/ { proxy_pass http://withdown/; }
    location /backup/ { proxy_pass http://backup/; }
    location /alldead/ { proxy_pass http://alldead/; }
    location /onedead/ { proxy_pass http://onedead/; }
    location /halfdead/ { proxy_pass http://halfdead/; }
    location /halfdead-post/ { proxy_pass http://halfdead/; }
    location /flap/ { proxy_pass http://flap/; }
    location /twofails/ { proxy_pass http://twofails/; }
    location /lc/ { proxy_pass http://lc/; }
    location /iph/ { proxy_pass http://iph/; }
    location /hsh/ { proxy_pass http://hsh/; }
    location /chsh/ { proxy_pass http://chsh/; }
    location /ka/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka/; }
    location /ka1/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka1/; }
    location /ka1single/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka1single/; }
    location /stale/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://stale/; }
    location /stalepair/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://stalepair/; }
    location /next500/ { proxy_next_upstream error timeout http_500; proxy_pass http://n500/; }
    location /next502/ { proxy_next_upstream error http_502; proxy_pass http://n502/; }
    location /next502ni/ { proxy_next_upstream error http_502 non_idempotent; proxy_pass http://n502ni/; }
    location /abandoned/ { proxy_read_timeout 1s; proxy_pass http://abandoned/; }
    location /slowpost/ { proxy_read_timeout 1s; proxy_pass http://slowpost/; }
    location /tries1/ { proxy_next_upstream_tries 1; proxy_pass http://alldead/; }
    location /timeouts/ { proxy_read_timeout 1s; proxy_pass http://slow/; }
  }
`;

before(async () => {
  if (!haveNginx) return;
  [e1, e2, e3] = [await startEcho(), await startEcho(), await startEcho()];
  [dead1, dead2, flapPort] = [await refusedPort(0), await refusedPort(1), await freePort()];
  stale = await startStale();
  ours = await startOurs(CONF());
  theirs = await startTheirs(CONF());
});

after(async () => {
  await ours?.stop();
  await theirs?.stop();
  for (const e of [e1, e2, e3]) await e?.stop();
  await stale?.stop();
});

/**
 * An upstream that answers the first request on each connection (keep-alive) and closes the
 * connection when a second one comes: a kept connection its idle timeout closed just as it was reused.
 */
async function startStale(): Promise<{ port: number; stop(): Promise<void> }> {
  const { createServer } = await import('node:net');
  const port = await freePort();
  const server = createServer((sock) => {
    let seen = 0;
    let buf = '';
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end; (end = buf.indexOf('\r\n\r\n')) >= 0; ) {
        buf = buf.slice(end + 4);
        if (++seen > 1) {
          sock.destroy();
          return;
        }
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Port: ${port}\r\n\r\nok\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Status, the answering echo, and the $upstream_* lists, with ports named. */
function summary(r: RawResponse): string {
  const names = new Map([[e1.port, 'E1'], [e2.port, 'E2'], [e3.port, 'E3'], [dead1, 'D1'], [dead2, 'D2'], [flapPort, 'F'], [stale.port, 'S']]);
  const name = (s: string) => s.replace(/127\.0\.0\.1:(\d+)/g, (_, p) => names.get(Number(p)) ?? p);
  const port = Number(r.headers['x-port'] ?? 0);
  // Response times differ, their shape must not: one `s.mmm` per try.
  const urt = (r.headers['x-urt'] ?? '').replace(/\d+\.\d{3}/g, 'T');
  return `${r.status} ${names.get(port) ?? '-'} [${name(r.headers['x-ua'] ?? '')}] [${r.headers['x-us'] ?? ''}] [${urt}]`;
}

/** The same requests to nginx and to us, in lock step; returns both transcripts. */
async function both(reqs: { target: string; method?: string; body?: string }[]): Promise<{ nginx: string[]; ours: string[] }> {
  const out = { nginx: [] as string[], ours: [] as string[] };
  for (const q of reqs) {
    const hdr = q.body !== undefined ? [`Content-Length: ${q.body.length}`] : [];
    out.nginx.push(summary(await send(theirs.port, q.method ?? 'GET', q.target, hdr, q.body ?? '')));
    out.ours.push(summary(await send(ours.port, q.method ?? 'GET', q.target, hdr, q.body ?? '')));
    if (process.env.SHOW_TRANSCRIPT) console.log(q.target, '|', out.nginx.at(-1), '|', out.ours.at(-1));
  }
  return out;
}

const times = (n: number, target: string | ((i: number) => string)) =>
  Array.from({ length: n }, (_, i) => ({ target: typeof target === 'string' ? target : target(i) }));

test('smooth weighted round-robin order', { skip: !haveNginx }, async () => {
  const r = await both(times(12, '/rr/x'));
  assert.deepEqual(r.ours, r.nginx);
  assert.deepEqual(new Set(r.ours.map((s) => s.split(' ')[1])), new Set(['E1', 'E2', 'E3']));
});

test('equal weights and a down server', { skip: !haveNginx }, async () => {
  const a = await both(times(6, '/equal/x'));
  assert.deepEqual(a.ours, a.nginx);
  const b = await both(times(4, '/withdown/x'));
  assert.deepEqual(b.ours, b.nginx);
  assert.ok(!b.ours.some((s) => s.includes(' E1 ')));
});

test('backup takes over when the primary is down', { skip: !haveNginx }, async () => {
  const r = await both(times(3, '/backup/x'));
  assert.deepEqual(r.ours, r.nginx);
  assert.match(r.ours[0]!, /^200 E3 \[D1, E3\]/);
});

test('all servers down: 502, then no live upstreams', { skip: !haveNginx }, async () => {
  const r = await both([...times(3, '/alldead/x'), ...times(2, '/onedead/x'), ...times(1, '/tries1/x')]);
  assert.deepEqual(r.ours, r.nginx);
  const log = ours.errorLines().filter((l) => l.includes('no live upstreams'));
  assert.ok(log.length >= 1);
  assert.match(log[0]!, /no live upstreams while connecting to upstream, client: 127\.0\.0\.1, server: , request: "GET \/alldead\/x HTTP\/1\.0", upstream: "http:\/\/alldead\/x", host: "localhost"/);
});

test('retries on error, also for POST when the request was not sent', { skip: !haveNginx }, async () => {
  const r = await both([
    ...times(3, '/halfdead/x'),
    { target: '/halfdead-post/x', method: 'POST', body: 'abc' },
  ]);
  assert.deepEqual(r.ours, r.nginx);
});

test('max_fails: a failed server comes back after fail_timeout', { skip: !haveNginx }, async () => {
  const first = await both(times(4, '/flap/x'));
  assert.deepEqual(first.ours, first.nginx);
  const flap = await startEcho(flapPort);
  try {
    const during = await both(times(2, '/flap/x'));
    assert.deepEqual(during.ours, during.nginx);
    await new Promise((res) => setTimeout(res, 2200));
    const afterwards = await both(times(4, '/flap/x'));
    assert.deepEqual(afterwards.ours, afterwards.nginx);
    assert.ok(afterwards.ours.some((s) => s.includes(' F ')), afterwards.ours.join('\n'));
  } finally {
    await flap.stop();
  }
  const two = await both(times(5, '/twofails/x'));
  assert.deepEqual(two.ours, two.nginx);
});

test('least_conn, ip_hash, hash and hash consistent pick like nginx', { skip: !haveNginx }, async () => {
  const lc = await both(times(8, '/lc/x'));
  assert.deepEqual(lc.ours, lc.nginx);
  const ip = await both(times(4, '/iph/x'));
  assert.deepEqual(ip.ours, ip.nginx);
  const h = await both(times(12, (i) => `/hsh/x?k=key${i}`));
  assert.deepEqual(h.ours, h.nginx);
  const c = await both(times(16, (i) => `/chsh/x?k=item-${i * 7}`));
  assert.deepEqual(c.ours, c.nginx);
});

test('proxy_next_upstream on upstream statuses and methods', { skip: !haveNginx }, async () => {
  const r = await both([
    { target: '/next500/status/502' },
    { target: '/next500/status/404' },
    { target: '/next500/status/500' },
    { target: '/next500/x' },
    { target: '/next502/status/502', method: 'POST', body: 'x' },
    { target: '/next502/status/502' },
    { target: '/next502ni/status/502', method: 'POST', body: 'x' },
    { target: '/timeouts/slow/1300' },
    { target: '/slowpost/slow/1300', method: 'POST', body: 'x' },
  ]);
  assert.deepEqual(r.ours, r.nginx);
});

test('keepalive reuses upstream connections', { skip: !haveNginx }, async () => {
  const remotePorts = async (port: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await send(port, 'GET', '/ka/x')).headers['x-remote-port'] ?? '');
    return seen.size;
  };
  assert.equal(await remotePorts(theirs.port), 1);
  assert.equal(await remotePorts(ours.port), 1);
  // Without keepalive every request opens a new connection.
  const fresh = new Set<string>();
  for (let i = 0; i < 3; i++) fresh.add((await send(ours.port, 'GET', '/equal/x')).headers['x-remote-port'] ?? '');
  assert.equal(fresh.size, 3);
});

test('keepalive N keeps at most N idle connections: a second burst reuses N, opens the rest', { skip: !haveNginx }, async () => {
  const burst = async (port: number) =>
    (await Promise.all(Array.from({ length: 8 }, () => send(port, 'GET', '/ka/hold/200')))).map((r) => r.headers['x-remote-port'] ?? '');
  for (const port of [theirs.port, ours.port]) {
    const first = new Set(await burst(port));
    assert.equal(first.size, 8, 'eight connections at once');
    const reused = (await burst(port)).filter((p) => first.has(p)).length;
    assert.equal(reused, 4, `port ${port}: the cache held keepalive 4 connections`);
  }
});

test('a client that goes away is not retried on another server', { skip: !haveNginx }, async () => {
  const { connect } = await import('node:net');
  const count = () => e1.seen.length + e2.seen.length;
  const before = count();
  await new Promise<void>((resolve) => {
    const s = connect(ours.port, '127.0.0.1', () => s.write('GET /abandoned/slow/800 HTTP/1.0\r\nHost: localhost\r\n\r\n'));
    setTimeout(() => { s.destroy(); resolve(); }, 200);
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(count() - before, 1);
  assert.ok(!ours.errorLines().some((l) => l.includes('/abandoned/slow/800')), ours.errorLines().join('\n'));
});

test('an error on a kept connection earns one more try, as nginx gives it', { skip: !haveNginx }, async () => {
  // A single server gets its second try on a fresh connection; beside a dead one the failure still counts.
  const r = await both([...times(3, '/stale/x'), ...times(4, '/stalepair/x')]);
  assert.deepEqual(r.ours, r.nginx);
  assert.equal(r.ours[1], '200 S [S, S] [502, 200] [T, -]');
  const line = (lines: string[]) => lines.find((l) => l.includes('prematurely closed') && l.includes('/stale/x'))?.replace(/^\S+ \S+ /, '').replace(/\d+#\d+: \*\d+ /, '');
  const { readFileSync } = await import('node:fs');
  const theirLines = readFileSync(`${theirs.prefix}/logs/error.log`, 'utf8').split('\n');
  assert.ok(line(ours.errorLines()));
  assert.equal(line(ours.errorLines()), line(theirLines));
});

test('keepalive N counts the idle connections of all the servers, and keeps the freshest', { skip: !haveNginx }, async () => {
  for (const port of [theirs.port, ours.port]) {
    // keepalive 1 over two servers: each connection freed pushes the other server's out.
    const ports = new Set<string>();
    for (let i = 0; i < 4; i++) ports.add((await send(port, 'GET', '/ka1/hold/0')).headers['x-remote-port'] ?? '');
    assert.equal(ports.size, 4, `port ${port}: a new connection each time`);
    // Two at once, the second done last: its connection is the one kept.
    const [, last] = await Promise.all([send(port, 'GET', '/ka1single/hold/20'), send(port, 'GET', '/ka1single/hold/250')]);
    const next = await send(port, 'GET', '/ka1single/hold/0');
    assert.equal(next.headers['x-remote-port'], last.headers['x-remote-port'], `port ${port}: the freshest connection kept`);
  }
});
