// A reload that needs a new generation of workers (here: a socket added), beside real nginx: the old
// workers stop gracefully. What happens to the connections they hold is compared with nginx's:
// one that has not sent its request yet (plain, and HTTP/1 over TLS on an http2 port), one halfway
// through its request head, an idle keep-alive one, an idle HTTP/2 session and one busy with a
// slow download.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { NGINX_BIN, haveNginx } from '../http/oracle.ts';
import { makeCert } from '../serving/harness.ts';
import { alive, ensureBuilt, freePort, get, makePrefix, readPid, run, SERVER, waitFor, type Prefix } from './helpers.ts';

const asRoot = process.getuid?.() === 0;

const config = (gen: string, extra = '') => `${asRoot ? 'user www-data;' : ''}
worker_processes 2;
pid @DIR@/logs/nginx.pid;
error_log @DIR@/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path @DIR@/body;
    server {
        listen 127.0.0.1:@PORT@;
        listen 127.0.0.1:@H2@ ssl http2;
        ssl_certificate @DIR@/h2.test.crt;
        ssl_certificate_key @DIR@/h2.test.key;
        ${extra}
        location /gen { return 200 "${gen}\\n"; }
        location /big { root @DIR@/html; limit_rate 100k; }
    }
}
`;

/** A raw connection that keeps everything it was sent and whether the other side closed it. */
class Conn {
  got = '';
  closed = false;
  private readonly socket: net.Socket;
  /** `tlsOn`: TLS without ALPN (HTTP/1 on an http2 port). */
  constructor(port: number, tlsOn = false) {
    this.socket = tlsOn ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    this.socket.on('data', (d) => (this.got += d.toString('latin1')));
    this.socket.on('error', (e: NodeJS.ErrnoException) => (this.got += `[${e.code}]`));
    this.socket.on('close', () => (this.closed = true));
  }
  ready(): Promise<void> {
    return new Promise((resolve) => this.socket.once(this.socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => resolve()));
  }
  send(text: string): void {
    if (!this.closed) this.socket.write(text);
  }
  destroy(): void {
    this.socket.destroy();
  }
  /** The status line, the Connection header and the body; "[closed]" when the connection ended. */
  outcome(): string {
    const [head = '', body = ''] = this.got.split('\r\n\r\n');
    const lines = head.split('\r\n');
    const connection = lines.find((l) => /^connection:/i.test(l)) ?? '';
    return [lines[0], connection, body.trim(), this.closed ? '[closed]' : '[open]'].filter(Boolean).join(' | ');
  }
}

const prefixes: Prefix[] = [];
before(ensureBuilt);
after(() => prefixes.forEach((p) => p.cleanup()));

async function scenario(bin: string[]): Promise<Record<string, string>> {
  const h2Port = await freePort();
  const conf = (gen: string, extra = '') => config(gen, extra).replace('@H2@', String(h2Port));
  const p = await makePrefix(conf('gen 1'));
  prefixes.push(p);
  await makeCert(p.dir, 'h2.test');
  writeFileSync(`${p.dir}/html/big`, Buffer.alloc(150_000, 'x'));
  const started = await run(bin[0]!, [...bin.slice(1), '-p', `${p.dir}/`, '-c', 'nginx.conf']);
  assert.equal(started.code, 0, started.stderr);
  const pid = readPid(p.pidFile)!;
  const conns: Conn[] = [];
  try {
    const keepAlive = new Conn(p.port);
    const fresh = new Conn(p.port);
    const partial = new Conn(p.port);
    const freshTls = new Conn(h2Port, true);
    conns.push(keepAlive, fresh, partial, freshTls);
    await Promise.all(conns.map((c) => c.ready()));
    keepAlive.send('GET /gen HTTP/1.1\r\nHost: x\r\n\r\n');
    partial.send('GET /gen HTTP/1.1\r\n');
    await waitFor(() => keepAlive.got.endsWith('gen 1\n'), 5000, 'the keep-alive answer');
    keepAlive.got = '';
    // An HTTP/2 session with one request done, idle since.
    const session = http2.connect(`https://127.0.0.1:${h2Port}`, { rejectUnauthorized: false });
    const h2 = { goaway: false, closed: false };
    session.on('goaway', () => (h2.goaway = true));
    session.on('close', () => (h2.closed = true));
    session.on('error', () => {});
    conns.push({ destroy: () => session.destroy() } as Conn);
    const stream = session.request({ ':path': '/gen' });
    stream.resume();
    await new Promise((r) => stream.on('close', r));
    // Another, busy with a slow download (limit_rate) across the reload.
    const busy = http2.connect(`https://127.0.0.1:${h2Port}`, { rejectUnauthorized: false });
    busy.on('error', () => {});
    conns.push({ destroy: () => busy.destroy() } as Conn);
    let downloaded = 0;
    const download = busy.request({ ':path': '/big' });
    download.on('data', (d: Buffer) => (downloaded += d.length));
    const downloadDone = new Promise((r) => download.on('close', r));
    const busyClosed = new Promise((r) => busy.on('close', r));

    const second = await freePort();
    p.write(conf('gen 2', `listen 127.0.0.1:${second};`));
    process.kill(pid, 'SIGHUP');
    await waitFor(async () => (await get(second, '/gen').catch(() => ({ body: '' }))).body === 'gen 2\n', 10_000, 'the new generation');
    // The old workers have been told to stop by now; give them time to act on it.
    await new Promise((r) => setTimeout(r, 500));
    const idleClosed = keepAlive.closed;
    const h2Idle = `goaway ${h2.goaway}, closed ${h2.closed}`;
    fresh.send('GET /gen HTTP/1.1\r\nHost: x\r\n\r\n');
    partial.send('Host: x\r\n\r\n');
    freshTls.send('GET /gen HTTP/1.1\r\nHost: x\r\n\r\n');
    // Not throwing on a timeout: the outcomes below then show what did not happen.
    await waitFor(() => fresh.closed && partial.closed && freshTls.closed, 5000).catch(() => {});
    await Promise.race([Promise.all([downloadDone, busyClosed]), new Promise((r) => setTimeout(r, 5000))]);
    return { keepAlive: `${idleClosed ? 'closed at the reload' : 'open after the reload'}: ${keepAlive.outcome()}`, fresh: fresh.outcome(), partial: partial.outcome(), freshHttp1OnH2Port: freshTls.outcome(), h2Idle, h2Busy: `downloaded ${downloaded} bytes, then closed` };
  } finally {
    conns.forEach((c) => c.destroy());
    process.kill(pid, 'SIGQUIT');
    await waitFor(() => !alive(pid), 10_000, 'the master to exit');
  }
}

test('a new generation: the old workers answer requests begun before it and close idle keep-alive, as nginx does', { skip: !haveNginx && 'no nginx' }, async () => {
  const theirs = await scenario([NGINX_BIN]);
  const ours = await scenario([process.execPath, SERVER]);
  assert.deepEqual(ours, theirs);
  // What nginx does, spelled out: the old configuration answers, and says the connection ends.
  assert.equal(theirs.fresh, 'HTTP/1.1 200 OK | Connection: close | gen 1 | [closed]');
  assert.equal(theirs.freshHttp1OnH2Port, theirs.fresh);
  assert.equal(theirs.keepAlive, 'closed at the reload: [closed]');
  assert.equal(theirs.h2Idle, 'goaway true, closed true');
  assert.equal(theirs.h2Busy, 'downloaded 150000 bytes, then closed');
});
