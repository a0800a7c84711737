// The configuration certbot leaves behind (contract §1.4): http-01 challenge server, installer
// edits, redirect split, HSTS, options-ssl-nginx.conf. It must convert with the expected tables.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/nginx/parser.ts';
import { convert } from '../../src/config/convert.ts';
import { describeState } from '../../src/config/describe.ts';
import { findLocation, selectServer } from '../../src/config/select.ts';

const dir = mkdtempSync(join(tmpdir(), 'bext-certbot-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function substitute(path: string): void {
  for (const name of readdirSync(path)) {
    const p = join(path, name);
    if (statSync(p).isDirectory()) substitute(p);
    else writeFileSync(p, readFileSync(p, 'utf8').replaceAll('@DIR@', dir));
  }
}

cpSync(new URL('../fixtures/valid/certbot/', import.meta.url), dir, { recursive: true });
substitute(dir);

test('certbot-edited config converts with the expected tables', () => {
  const { state } = convert(loadConfig({ prefix: dir + '/', confFile: join(dir, 'nginx.conf') }), { root: true });

  assert.deepEqual(
    state.listens.map((l) => [l.key, l.ssl, l.defaultServer, l.ipv6only]),
    [
      ['0.0.0.0:18086', false, false, true],
      ['[::]:18086', false, false, true],
      ['[::]:18444', true, false, true],
      ['0.0.0.0:18444', true, false, true],
      ['0.0.0.0:18087', false, true, true],
      ['[::]:18087', false, true, true],
    ],
  );
  const [challenge, site, redirect] = state.servers;
  assert.deepEqual(challenge!.names.map((n) => n.name), ['other.example.test']);

  // Port 443-style server: the server-level `rewrite … break` first, then the exact challenge location.
  assert.deepEqual(site!.conf.rewrite.map((o) => o.op === 'rewrite' && [o.source, o.replacement, o.flag]), [
    ['^(/.well-known/acme-challenge/.*)', '$1', 'break'],
  ]);
  const token = findLocation(site!, '/.well-known/acme-challenge/aB3dE5');
  assert.equal(token.location?.kind, 'exact');
  assert.equal(token.conf.defaultType, 'text/plain');
  assert.deepEqual(token.conf.rewrite.map((o) => o.op === 'return' && [o.code, o.text]), [[200, 'aB3dE5.Zt9yQ-thumb']]);
  assert.deepEqual(token.conf.addHeaders, [{ name: 'Strict-Transport-Security', value: 'max-age=31536000', always: true }]);
  assert.deepEqual(findLocation(site!, '/index.html').conf.tryFiles, ['$uri', '$uri/', '=404']);
  assert.equal(findLocation(site!, '/x.css').conf.types.get('css'), 'text/css');

  // TLS: certbot's options file overrides Debian's http-level protocols.
  assert.deepEqual(site!.tls, {
    certificates: [{ certificate: `${dir}/certs/example.pem`, key: `${dir}/certs/example.key` }],
    protocols: ['TLSv1.2', 'TLSv1.3'],
    ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384',
    preferServerCiphers: false,
    sessionCache: ['shared:le_nginx_SSL:10m'],
    sessionTimeoutSec: 86400,
    sessionTickets: false,
    dhparam: `${dir}/letsencrypt/ssl-dhparams.pem`,
    stapling: false,
    verifyDepth: 1,
  });
  assert.deepEqual(state.tls.map((t) => t.server), [1]);

  // The redirect block certbot split off: two ifs then return 404.
  assert.deepEqual(redirect!.conf.rewrite.map((o) => o.op), ['if', 'if', 'return']);
  assert.equal(selectServer(state, '0.0.0.0:18087', 'www.example.test')?.server, redirect);
  assert.equal(selectServer(state, '[::]:18087', 'nobody.test')?.server, redirect);
  assert.equal(selectServer(state, '[::]:18444', 'example.test')?.server, site);
  assert.equal(selectServer(state, '0.0.0.0:18086', 'example.test')?.server, challenge);

  assert.deepEqual(state.main, {
    user: { user: 'www-data' }, workerProcesses: 'auto', pid: `${dir}/nginx.pid`, daemon: true, masterProcess: true,
    errorLogs: [{ path: `${dir}/error.log` }], workerConnections: 768,
  });
  const summary = describeState(state);
  assert.deepEqual(JSON.parse(JSON.stringify(summary)), summary);
  assert.deepEqual(summary.certificates, [{ names: ['example.test', 'www.example.test'], certificate: `${dir}/certs/example.pem`, key: `${dir}/certs/example.key` }]);
});
