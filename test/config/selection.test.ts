import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressKeyFor, normalizeHost, selectServer } from '../../src/config/select.ts';
import { conv, http } from './helpers.ts';

const names = (text: string) => conv(http(text)).state;

test('exact, leading, trailing, regex, then the default server', () => {
  const state = names(`
    server { listen 80; server_name first.test; }
    server { listen 80; server_name example.com www.example.com; }
    server { listen 80; server_name *.example.com; }
    server { listen 80; server_name *.a.example.com; }
    server { listen 80; server_name .example.org; }
    server { listen 80; server_name mail.*; }
    server { listen 80; server_name ~^(?P<sub>[a-z]+)\\.regex\\.test$ ~^second; }
    server { listen 80; server_name ~^(\\d+)\\.regex\\.test$; }
  `);
  const pick = (host: string) => selectServer(state, '0.0.0.0:80', host)!;
  const first = (host: string) => pick(host).server.primaryName;
  assert.equal(first('example.com'), 'example.com');
  assert.equal(first('www.example.com'), 'example.com');
  assert.equal(first('x.example.com'), '*.example.com');
  assert.equal(first('x.y.example.com'), '*.example.com');
  assert.equal(first('b.a.example.com'), '*.a.example.com');
  assert.equal(first('a.example.com'), '*.example.com');
  assert.equal(first('example.org'), '.example.org');
  assert.equal(first('deep.sub.example.org'), '.example.org');
  assert.equal(first('mail.example.net'), 'mail.*');
  assert.equal(first('mail'), 'first.test');
  const m = pick('abc.regex.test');
  assert.equal(m.server.primaryName, '~^(?P<sub>[a-z]+)\\.regex\\.test$');
  assert.equal(m.namedCaptures?.sub, 'abc');
  assert.equal(pick('42.regex.test').captures?.[1], '42');
  assert.equal(first('nothing.test'), 'first.test');
  assert.equal(first(''), 'first.test');
});

test('default_server beats the first server, per address', () => {
  const state = names(`
    server { listen 80; server_name a; }
    server { listen 80 default_server; listen 8080; server_name b; }
    server { listen 8080; server_name c; }
  `);
  assert.equal(state.tables.get('0.0.0.0:80')!.defaultServer.primaryName, 'b');
  assert.equal(state.tables.get('0.0.0.0:8080')!.defaultServer.primaryName, 'b');
  assert.equal(selectServer(state, '0.0.0.0:8080', 'zzz')!.server.primaryName, 'b');
  assert.equal(selectServer(state, '0.0.0.0:8080', 'c')!.server.primaryName, 'c');
  assert.equal(selectServer(state, '0.0.0.0:9999', 'c'), undefined);
});

test('a specific address has its own table; wildcard servers are not in it', () => {
  const state = names(`
    server { listen 80; server_name wild; }
    server { listen 127.0.0.1:80; server_name local; }
    server { listen 10.0.0.1:80 bind; server_name bound; }
    server { listen [::]:80; server_name six; }
  `);
  assert.equal(addressKeyFor(state, '127.0.0.1', 80), '127.0.0.1:80');
  assert.equal(addressKeyFor(state, '192.168.1.5', 80), '0.0.0.0:80');
  assert.equal(addressKeyFor(state, '::1', 80), '[::]:80');
  assert.equal(addressKeyFor(state, '::ffff:127.0.0.1', 80), '[::]:80');
  assert.equal(addressKeyFor(state, '127.0.0.1', 81), undefined);
  assert.equal(selectServer(state, '127.0.0.1:80', 'wild')!.server.primaryName, 'local');
  assert.equal(selectServer(state, '0.0.0.0:80', 'local')!.server.primaryName, 'wild');
  const sockets = Object.fromEntries(state.listens.map((l) => [l.key, l.bound]));
  // 127.0.0.1:80 is accepted by the wildcard socket; `bind` gets its own.
  assert.deepEqual(sockets, { '0.0.0.0:80': true, '127.0.0.1:80': false, '10.0.0.1:80': true, '[::]:80': true });
});

test('no listen means *:80 as root and *:8000 otherwise; no server_name means ""', () => {
  assert.deepEqual(conv(http('server {}'), { root: true }).state.listens.map((l) => l.key), ['0.0.0.0:80']);
  const state = conv(http('server {}'), { root: false }).state;
  assert.deepEqual(state.listens.map((l) => l.key), ['0.0.0.0:8000']);
  assert.equal(state.servers[0]!.primaryName, '');
  assert.equal(state.tables.get('0.0.0.0:8000')!.exact.get(''), state.servers[0]);
});

test('a name on the same address twice: warning, the first server keeps it', () => {
  const { state, warnings } = conv(http(`
    server { listen 80; server_name dup.test; }
    server { listen 80;
      server_name dup.test other.test; }
  `));
  assert.equal(selectServer(state, '0.0.0.0:80', 'dup.test')!.server.index, 0);
  assert.equal(selectServer(state, '0.0.0.0:80', 'other.test')!.server.index, 1);
  const w = warnings.find((x) => x.message.startsWith('conflicting'));
  assert.deepEqual(w, { file: '/etc/nginx/nginx.conf', line: 6, directive: 'server_name', message: 'conflicting server name "dup.test" on 0.0.0.0:80, ignored',
    beforeSyntaxOk: true, noLocation: true,
  });
});

test('listen options: ssl and http2 are per address, socket options once', () => {
  const state = names(`
    server { listen 443 ssl http2 backlog=128 reuseport; listen [::]:443 ssl ipv6only=off; server_name a;
      ssl_certificate cert.pem; ssl_certificate_key key.pem; }
    server { listen 443; server_name b; ssl_certificate /b.pem; ssl_certificate_key /b.key; }
  `);
  const s = state.listens.find((l) => l.key === '0.0.0.0:443')!;
  assert.equal(s.ssl && s.http2 && s.reuseport, true);
  assert.equal(s.backlog, 128);
  assert.equal(state.listens.find((l) => l.key === '[::]:443')!.ipv6only, false);
  // Server b listens on an ssl address too, so it has TLS settings of its own.
  assert.deepEqual(state.servers[1]!.tls?.certificates, [{ certificate: '/b.pem', key: '/b.key' }]);
  assert.deepEqual(state.servers[0]!.tls?.certificates, [{ certificate: '/etc/nginx/cert.pem', key: '/etc/nginx/key.pem' }]);
});

test('host normalisation', () => {
  assert.equal(normalizeHost('Example.COM'), 'example.com');
  assert.equal(normalizeHost('example.com.'), 'example.com');
  assert.equal(normalizeHost('example.com:8080'), 'example.com');
  assert.equal(normalizeHost('[::1]:80'), '[::1]');
  assert.equal(normalizeHost('a..b'), undefined);
  assert.equal(normalizeHost('a/b'), undefined);
  assert.equal(normalizeHost(':80'), undefined);
});

test('socket options Node cannot apply are warned about; `ssl on` makes the address TLS', () => {
  const { state, warnings } = conv(http(`
    server { listen 80 deferred so_keepalive=on; }
    server { listen 8443; ssl on; ssl_certificate /c.pem; ssl_certificate_key /k.pem; }
  `));
  assert.deepEqual(
    warnings.filter((w) => w.directive === 'listen').map((w) => [w.line, w.message]),
    [
      [4, 'listen parameter "deferred" is accepted but not applied by bext'],
      [4, 'listen parameter "so_keepalive" is accepted but not applied by bext'],
    ],
  );
  assert.equal(state.listens.find((l) => l.key === '0.0.0.0:8443')!.ssl, true);
  assert.equal(state.servers[1]!.tls?.certificates.length, 1);
});

test('".x" claims the exact name too: it conflicts with "x" and "*.x" in either order', () => {
  const pick = (text: string, host: string) => selectServer(conv(http(text)).state, '0.0.0.0:80', host)!.server.index;
  const exactFirst = 'server { listen 80; server_name example.com; } server { listen 80; server_name .example.com; }';
  assert.equal(pick(exactFirst, 'example.com'), 0);
  assert.equal(pick(exactFirst, 'sub.example.com'), 0); // the whole ".example.com" was ignored: default server
  const dotFirst = 'server { listen 80; server_name .example.com; } server { listen 80; server_name example.com x; }';
  assert.equal(pick(dotFirst, 'example.com'), 0);
  assert.equal(pick(dotFirst, 'x'), 1);
  const { warnings } = conv(http('server { listen 80; server_name *.a.test; } server { listen 80; server_name .a.test; }'));
  assert.deepEqual(warnings.map((w) => w.message), ['conflicting server name ".a.test" on 0.0.0.0:80, ignored']);
});
