// worker_connections beside real nginx: a worker with 5 slots (the listening socket and the channel
// to the master take two) closes its oldest connections that only wait for a request to make room
// for new ones, with nginx's warning; when every connection is busy, a new one is closed with
// nginx's alert.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { errorLinesOf, haveNginx, makeSite, startPair, type Pair } from '../serving/harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  pair = await startPair(`worker_processes 1;
pid @PREFIX@/nginx.pid;
error_log @PREFIX@/error.log info;
events { worker_connections 5; }
http {
  access_log off;
  client_body_temp_path @PREFIX@/tmp/body;
  server { listen 127.0.0.1:@P1@; location / { return 200 "ok\\n"; } }
}
`, makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
});

interface Conn { socket: net.Socket; got: string; closed: boolean }

async function open(port: number, first = ''): Promise<Conn> {
  const c: Conn = { socket: net.connect(port, '127.0.0.1'), got: '', closed: false };
  c.socket.on('data', (d) => (c.got += d.toString('latin1')));
  c.socket.on('close', () => (c.closed = true));
  c.socket.on('error', () => {});
  await new Promise((r) => c.socket.once('connect', r));
  if (first) c.socket.write(first);
  await new Promise((r) => setTimeout(r, 60)); // accepted, in order
  return c;
}

/** What became of each connection: its status line, or "closed" when it got nothing. */
async function outcomes(conns: Conn[], finish: string): Promise<string[]> {
  for (const c of conns) if (!c.closed) c.socket.write(finish);
  await new Promise((r) => setTimeout(r, 300));
  const out = conns.map((c) => (c.got ? c.got.slice(0, c.got.indexOf('\r\n')) : c.closed ? 'closed' : 'open'));
  for (const c of conns) c.socket.destroy();
  return out;
}

/** The distinct worker_connections lines (the warning comes at most once a second: how many depends on the clock). */
const slotLines = (log: string) => [...new Set(log.split('\n').filter((l) => l.includes('worker_connections')).map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: /, '[$1] ')))];

test('the oldest connections waiting for a request make room for new ones, as in nginx', { skip: !haveNginx }, async () => {
  const results: string[][] = [];
  for (const inst of [pair!.nginx, pair!.bext]) {
    const conns: Conn[] = [];
    for (let i = 0; i < 7; i++) conns.push(await open(inst.ports.P1!));
    results.push(await outcomes(conns, 'GET / HTTP/1.0\r\n\r\n'));
  }
  assert.deepEqual(results[1], results[0]);
  assert.deepEqual(results[0], ['closed', 'closed', 'closed', 'closed', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
});

test('with every connection busy on a request, a new one is closed with nginx\'s alert', { skip: !haveNginx }, async () => {
  const results: string[][] = [];
  for (const inst of [pair!.nginx, pair!.bext]) {
    // Three connections halfway through a request head: nothing to reuse.
    const conns: Conn[] = [];
    for (let i = 0; i < 3; i++) conns.push(await open(inst.ports.P1!, 'GET / HTTP/1.0\r\n'));
    conns.push(await open(inst.ports.P1!));
    results.push(await outcomes(conns, '\r\n'));
  }
  assert.deepEqual(results[1], results[0]);
  assert.deepEqual(results[0], ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'closed']);
  const [ours, theirs] = await errorLinesOf(pair!, slotLines);
  assert.deepEqual(ours, theirs);
  assert.deepEqual(theirs, ['[warn] 5 worker_connections are not enough, reusing connections', '[alert] 5 worker_connections are not enough']);
});
