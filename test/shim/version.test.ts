// What certbot and nginx-tests read from `nginx -V` (contract §1.2, §4), applied to the shim's output.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { directiveInfo } from '../../src/nginx/catalogue.ts';
import { MODULE_FLAGS } from '../../src/shim/version.ts';
import { runShim, shimBundle } from './helpers.ts';

let V = '';
before(async () => {
  await shimBundle();
  // certbot's exact call; it reads stderr only and ignores the exit code.
  const r = await runShim(['-c', '/etc/nginx/nginx.conf', '-V']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '');
  V = r.stderr;
});

test('certbot: version regex matches, name is nginx, version parses as ints', () => {
  const m = /nginx version: ([^/]+)\/([0-9.]*)/i.exec(V);
  assert.ok(m, V);
  assert.equal(m[1], 'nginx');
  const tuple = m[2].split('.').map((p) => {
    assert.match(p, /^[0-9]+$/, `int(${JSON.stringify(p)}) would raise in certbot`);
    return Number(p);
  });
  assert.deepEqual(tuple, [1, 22, 1]);
});

test('certbot: SNI, ssl module (leading space), OpenSSL version (trailing space)', () => {
  assert.match(V, /TLS SNI support enabled/i);
  assert.ok(V.includes(' --with-http_ssl_module'));
  const openssl = [...V.matchAll(/running with OpenSSL ([^ ]+) /g), ...V.matchAll(/built with OpenSSL ([^ ]+) /g)];
  assert.equal(openssl.length, 1);
  assert.match(openssl[0][1], /^[0-9]+\.[0-9]+\.[0-9]+[a-z]*$/);
  // >= 1.0.2l selects certbot's current options-ssl-nginx.conf
  const [major] = openssl[0][1].split('.').map(Number);
  assert.ok(major >= 1);
});

test("certbot's own Python code accepts the output", { skip: spawnSync('python3', ['-V']).status !== 0 && 'no python3' }, () => {
  // The body of certbot-nginx's get_version() and _get_openssl_version(), fed the shim's stderr.
  const py = String.raw`
import re, sys
text = sys.stdin.read()
m = re.compile(r"nginx version: ([^/]+)/([0-9\.]*)", re.IGNORECASE).search(text)
name, ver = m.group(1), m.group(2)
assert name == "nginx", name
t = tuple(int(i) for i in ver.split("."))
assert t >= (1, 13, 0), t
assert re.compile(r"TLS SNI support enabled", re.IGNORECASE).search(text)
assert re.compile(r" --with-http_ssl_module").search(text)
o = re.findall(r"running with OpenSSL ([^ ]+) ", text) or re.findall(r"built with OpenSSL ([^ ]+) ", text)
assert len(o) == 1 and o[0], o
print(".".join(map(str, t)), o[0])
`;
  const r = spawnSync('python3', ['-c', py], { input: V, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^1\.22\.1 [0-9.]+[a-z]*\n$/);
});

test('nginx-tests has_version / has_module read what bext serves', () => {
  const hasVersion = /nginx version: nginx\/([0-9.]+)/.exec(V)?.[1];
  assert.equal(hasVersion, '1.22.1');
  // has_module: a literal for optional modules, "no --without-…" for core ones.
  const present = (re: RegExp) => re.test(V);
  assert.ok(present(/TLS SNI support enabled/), 'sni');
  assert.ok(present(/http_ssl/), 'http_ssl');
  assert.ok(present(/stub_status/), 'stub_status');
  for (const core of ['rewrite', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'memcached', 'grpc', 'map', 'gzip']) {
    assert.ok(present(new RegExp(`^(?![\\s\\S]*--without-http_${core}_module)`)), core);
  }
  for (const absent of ['ssi']) {
    assert.ok(!present(new RegExp(`^(?![\\s\\S]*--without-http_${absent}_module)`)), absent);
  }
  assert.ok(!present(/--with-mail((?!\S)|=dynamic)/), 'mail');
  assert.ok(!present(/--with-stream((?!\S)|=dynamic)/), 'stream');
});

test('-v is the version line alone, on stderr, with the mark after the version', async () => {
  const r = await runShim(['-v']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'nginx version: nginx/1.22.1 (bext-masquerade)\n');
});

test('-V lines come in nginx order, configure arguments begin with a space', () => {
  const lines = V.split('\n');
  assert.match(lines[0], /^nginx version: /);
  assert.match(lines[1], /^built by bext-masquerade /);
  assert.match(lines[2], /^built with OpenSSL /);
  assert.equal(lines[3], 'TLS SNI support enabled');
  assert.match(lines[4], /^configure arguments: --prefix=\/usr\/share\/nginx /);
  assert.equal(lines[5], '');
  assert.equal(lines.length, 6);
});

test('the module flags agree with the directive catalogue', () => {
  for (const m of MODULE_FLAGS) {
    if (m.directive === undefined) continue;
    const info = directiveInfo(m.directive);
    assert.ok(info, `${m.directive} is not in the catalogue`);
    assert.equal(info.status === 'served', m.served, `${m.module}: catalogue says ${m.directive} is ${info.status}`);
    const flag = m.optional ? ` --with-${m.module}` : ` --without-${m.module}`;
    assert.equal(V.includes(flag), m.optional === m.served, `-V and ${flag}`);
  }
});
