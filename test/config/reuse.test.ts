// A reload converts again only the server blocks that changed (src/config/reuse.ts): what it builds
// is what a whole conversion builds, unchanged servers keep their converted objects, and anything
// outside the servers changing starts afresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseString } from '../../src/nginx/parser.ts';
import { convert, type ConversionResult } from '../../src/config/convert.ts';
import { ServerReuse } from '../../src/config/reuse.ts';
import { CONF, http } from './helpers.ts';

const site = (i: number, extra = '') => `
  server {
    listen 80${i === 0 ? ' default_server' : ''}; server_name s${i}.test;
    location / { root /srv/${i}; ${extra} }
    location ~ ^/r${i}/(\\d+)$ { return 200 "$1"; }
  }`;
const sites = (n: number, edit: (i: number) => string = () => '') => Array.from({ length: n }, (_, i) => site(i, edit(i))).join('\n');

const load = (text: string) => parseString(text, CONF, { prefix: '/usr/share/nginx/' });
const fresh = (text: string) => convert(load(text), { root: true });
/** The converted state as a plain comparison sees it (reuse must not change a thing in it). */
const same = (a: ConversionResult, b: ConversionResult) => {
  assert.deepEqual(a.state.servers, b.state.servers);
  assert.deepEqual(a.state.tables, b.state.tables);
  assert.deepEqual(a.state.listens, b.state.listens);
  assert.deepEqual(a.state.tls, b.state.tls);
  assert.deepEqual(a.warnings, b.warnings);
};

test('an unchanged server block is taken from the last conversion; a changed one is converted again', () => {
  const reuse = new ServerReuse();
  const before = convert(load(http(sites(4))), { root: true, reuse });
  const text = http(sites(4, (i) => (i === 2 ? 'expires 1h;' : '')));
  const after = convert(load(text), { root: true, reuse });
  same(after, fresh(text));
  for (const i of [0, 1, 3]) {
    assert.equal(after.state.servers[i]!.locations, before.state.servers[i]!.locations, `server ${i} reused`);
    assert.equal(after.state.servers[i]!.conf, before.state.servers[i]!.conf);
  }
  assert.notEqual(after.state.servers[2]!.conf, before.state.servers[2]!.conf, 'the changed server is new');
  assert.ok(Object.isFrozen(after.state.servers[0]), 'the new state is frozen as a whole conversion freezes it');
  // The servers are new objects (their index and TLS settings are the new state's); what they hold is shared.
  assert.notEqual(after.state.servers[0], before.state.servers[0]);
});

test('server blocks that moved (another inserted before them) are converted again', () => {
  const reuse = new ServerReuse();
  const before = convert(load(http(sites(3))), { root: true, reuse });
  const text = http(`server { listen 80; server_name new.test; }\n${sites(3)}`);
  const after = convert(load(text), { root: true, reuse });
  same(after, fresh(text));
  assert.deepEqual(after.state.servers.map((s) => s.index), [0, 1, 2, 3]);
  // Its lines moved too: a server is the same only at the same file and line.
  for (let i = 1; i < 4; i++) assert.notEqual(after.state.servers[i]!.conf, before.state.servers[i - 1]!.conf);
});

test('the same blocks at new positions keep their own index', () => {
  const reuse = new ServerReuse();
  // A block included twice: the same file and line, at two positions.
  const text = http(`${sites(2)}\n${sites(2)}`.replace(/default_server/g, ''));
  const first = convert(load(text), { root: true, reuse });
  const again = convert(load(text), { root: true, reuse });
  same(again, first);
  assert.deepEqual(again.state.servers.map((s) => s.index), [0, 1, 2, 3]);
});

test('a change outside the server blocks converts every server again', () => {
  const reuse = new ServerReuse();
  const before = convert(load(http(sites(3))), { root: true, reuse });
  const text = http(`expires 5m;\n${sites(3)}`);
  const after = convert(load(text), { root: true, reuse });
  same(after, fresh(text));
  for (let i = 0; i < 3; i++) assert.notEqual(after.state.servers[i]!.conf, before.state.servers[i]!.conf);
});

test('a reused server brings its warnings and limit zone names with it', () => {
  const zone = 'limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;';
  const warned = `server { listen 80; server_name w.test; listen 8081 deferred; location / { limit_req zone=one; } }`;
  const reuse = new ServerReuse();
  const first = convert(load(http(`${zone}\n${warned}\n${sites(2)}`)), { root: true, reuse });
  assert.ok(first.warnings.some((w) => w.message.includes('deferred')), 'the server warns');
  const text = http(`${zone}\n${warned}\n${sites(2, (i) => (i === 1 ? 'expires 1h;' : ''))}`);
  const after = convert(load(text), { root: true, reuse });
  same(after, fresh(text));
  // Reused with a zone that is then gone: nginx's error, as a whole conversion gives it.
  const noZone = http(`${warned}\n${sites(2)}`);
  assert.throws(() => convert(load(noZone), { root: true, reuse }), /zero size shared memory zone "one"/);
});

test('a server reading what earlier ones set (a charset name\'s first spelling) is not reused', () => {
  const reuse = new ServerReuse();
  const text = (first: string) => http(`server { listen 80; server_name a.test; charset ${first}; }\nserver { listen 80; server_name b.test; charset utf-8; }`);
  convert(load(text('UTF-8')), { root: true, reuse });
  const after = convert(load(text('Utf-8')), { root: true, reuse });
  same(after, fresh(text('Utf-8')));
  assert.equal(after.state.servers[1]!.conf.charset, 'Utf-8');
});

test('a conversion that fails leaves the last one to reuse', () => {
  const reuse = new ServerReuse();
  const before = convert(load(http(sites(2))), { root: true, reuse });
  assert.throws(() => convert(load(http(`${sites(2)}\nserver { listen 80; location / { limit_req zone=nowhere; } }`)), { root: true, reuse }));
  const after = convert(load(http(sites(2))), { root: true, reuse });
  assert.equal(after.state.servers[1]!.conf, before.state.servers[1]!.conf);
});

test('a changed server with unchanged own directives takes its unchanged locations', () => {
  const server = (gen: string, own = '') => `
  server {
    listen 80; server_name big.test; ${own}
    location = /gen { return 200 "${gen}"; }
    location ~ ^/r1/(\\d+)$ { return 200 "$1"; }
    location /n/ { location ~ \\.php$ { return 403; } }
    location @named { return 204; }
  }`;
  const reuse = new ServerReuse();
  const before = convert(load(http(server('gen 1'))), { root: true, reuse });
  const text = http(server('gen 2'));
  const after = convert(load(text), { root: true, reuse });
  same(after, fresh(text));
  const [b, a] = [before.state.servers[0]!.locations, after.state.servers[0]!.locations];
  assert.notEqual(a.exact.get('/gen'), b.exact.get('/gen'), 'the changed location is new');
  assert.equal(a.regexes[0], b.regexes[0], 'an unchanged regex location is taken');
  assert.equal(a.regexIndex, b.regexIndex, 'the same regex locations keep their index');
  assert.equal(a.prefixes[0], b.prefixes[0], 'an unchanged location with nested ones is taken');
  assert.equal(after.state.servers[0]!.named.get('@named'), before.state.servers[0]!.named.get('@named'));
  // The server's own directives changed (same lines): every location converts again.
  const own = http(server('gen 2', 'expires 1h;'));
  const third = convert(load(own), { root: true, reuse });
  same(third, fresh(own));
  assert.notEqual(third.state.servers[0]!.locations.regexes[0], a.regexes[0]);
});

test('a taken location brings its warnings and limit zone names with it', () => {
  const zone = 'limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;';
  const server = (gen: string) => `
  server {
    listen 80; server_name z.test;
    location = /gen { return 200 "${gen}"; }
    location /logged { access_log /var/log/x.log combined buffer=32k; limit_req zone=one; }
  }`;
  const reuse = new ServerReuse();
  const first = convert(load(http(`${zone}\n${server('gen 1')}`)), { root: true, reuse });
  assert.ok(first.warnings.some((w) => w.message.startsWith('buffered and gzip access logs')), 'the location warns');
  const text = http(`${zone}\n${server('gen 2')}`);
  const after = convert(load(text), { root: true, reuse });
  same(after, fresh(text));
  assert.equal(after.state.servers[0]!.locations.prefixes[0], first.state.servers[0]!.locations.prefixes[0], 'taken');
  // The zone gone (the http level changed): nginx's error, as a whole conversion gives it.
  assert.throws(() => convert(load(http(server('gen 3'))), { root: true, reuse }), /zero size shared memory zone "one"/);
});
