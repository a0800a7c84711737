// Differential: ssl_reject_handshake. A default server with it needs no certificate (nginx -t and
// the start accept it; bext refused to start before), and every handshake that picks it fails,
// with SNI for an unknown name or without SNI; a name with its own server is served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { haveNginx, makeCert, makeSite, startPair, wrapConfig, type Pair } from './harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  const { cert, key } = await makeCert(mkdtempSync(join(tmpdir(), 'bext-reject-')), 'good.test');
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@ ssl default_server;
    ssl_reject_handshake on;
  }
  server {
    listen 127.0.0.1:@P1@ ssl;
    server_name good.test;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location / { return 200 "good\\n"; }
  }
  server {
    listen 127.0.0.1:@P2@ ssl default_server;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location / { return 200 "default\\n"; }
  }
  server {
    listen 127.0.0.1:@P2@ ssl;
    server_name closed.test;
    ssl_reject_handshake on;
  }`), makeSite({}), ['P1', 'P2']);
});

after(async () => {
  await pair?.stop();
});

/** A GET over TLS with `servername` (none: no SNI): the body, or `handshake failed`. */
function fetch(port: number, servername: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
    let data = '';
    let secure = false;
    s.on('secureConnect', () => {
      secure = true;
      s.write(`GET / HTTP/1.0\r\nHost: ${servername ?? 'x'}\r\n\r\n`);
    });
    s.on('data', (d) => (data += d));
    // A refused handshake ends with an alert (an error here) or a bare close: both before secureConnect.
    const done = () => resolve(secure ? data.slice(data.indexOf('\r\n\r\n') + 4) : 'handshake failed');
    s.on('end', done);
    s.on('error', done);
    s.on('close', done);
  });
}

test('ssl_reject_handshake refuses the handshakes that pick its server, as nginx does', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const seen: string[] = [];
  for (const [port, name] of [['P1', 'good.test'], ['P1', 'other.test'], ['P1', undefined], ['P2', 'closed.test'], ['P2', 'other.test'], ['P2', undefined]] as const) {
    const [n, b] = [await fetch(pair!.nginx.ports[port]!, name), await fetch(pair!.bext.ports[port]!, name)];
    assert.equal(b, n, `${port} ${name ?? 'no SNI'}`);
    seen.push(b);
  }
  assert.deepEqual(seen, ['good\n', 'handshake failed', 'handshake failed', 'handshake failed', 'default\n', 'default\n']);
});
