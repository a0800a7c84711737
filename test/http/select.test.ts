import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Location, LocationConf, LocationLevel, ServerConf, ServerTable } from '../../src/config/state.ts';
import { rootDefaults } from '../../src/config/settings.ts';
import { validateHost, selectServer, findLocation } from '../../src/http/select.ts';
import { newVarContext, expandComplexValue } from '../../src/http/variables.ts';
import { haveNginx, startNginx, rawRequest } from './oracle.ts';

const at = { file: 't.conf', line: 1 };
const conf = (tag: string): LocationConf => ({ ...rootDefaults('/x/'), directives: [{ directive: 'tag', args: [tag], ...at }] });
const tagOf = (c: LocationConf): string => c.directives[0]?.args[0] ?? '?';
const level = (locs: Location[] = []): LocationLevel => ({
  exact: new Map(locs.filter((l) => l.kind === 'exact').map((l) => [l.name, l])),
  prefixes: locs.filter((l) => l.kind === 'prefix' || l.kind === 'prefix-noregex').sort((a, b) => b.name.length - a.name.length),
  regexes: locs.filter((l) => l.kind === 'regex' || l.kind === 'regex-caseless'),
});
const loc = (kind: Location['kind'], name: string, tag: string, nested: Location[] = [], autoRedirect = false): Location => ({
  kind, name, autoRedirect, conf: conf(tag), nested: level(nested), ...at,
  ...(kind === 'regex' || kind === 'regex-caseless' ? { regex: new RegExp(name, kind === 'regex-caseless' ? 'i' : '') } : {}),
});

test('validateHost', () => {
  assert.equal(validateHost('Example.COM:8080'), 'example.com');
  assert.equal(validateHost('example.com.'), 'example.com');
  assert.equal(validateHost('[::1]:80'), '[::1]');
  assert.equal(validateHost('a..b'), undefined);
  assert.equal(validateHost('a/b'), undefined);
  assert.equal(validateHost(''), undefined);
  assert.equal(validateHost('[::1'), undefined);
});

// --- locations: the same tree in nginx syntax and as a LocationLevel ---
const LOCATIONS_NGINX = `
  location = / { return 200 "exact-root"; }
  location / { return 200 "prefix-root"; }
  location /a/ { return 200 "a"; location ~ \\.x$ { return 200 "a-nested-regex"; } location /a/b/ { return 200 "a-b"; } }
  location ^~ /img/ { return 200 "img-noregex"; location ~ \\.gif$ { return 200 "img-nested-gif"; } }
  location ~ \\.(gif|jpg)$ { return 200 "regex-img"; }
  location ~* \\.PNG$ { return 200 "regex-png-ci"; }
  location /documents/ { return 200 "docs"; }
  location ~ ^/documents/.*\\.pdf { return 200 "pdf-regex"; }
  location = /exact { return 200 "exact"; }
  location /exactly { return 200 "exactly-prefix"; }
  location /api/ { proxy_pass http://127.0.0.1:9/; }`;
const LOCATIONS = level([
  loc('exact', '/', 'exact-root'),
  loc('prefix', '/', 'prefix-root'),
  loc('prefix', '/a/', 'a', [loc('regex', '\\.x$', 'a-nested-regex'), loc('prefix', '/a/b/', 'a-b')]),
  loc('prefix-noregex', '/img/', 'img-noregex', [loc('regex', '\\.gif$', 'img-nested-gif')]),
  loc('regex', '\\.(gif|jpg)$', 'regex-img'),
  loc('regex-caseless', '\\.PNG$', 'regex-png-ci'),
  loc('prefix', '/documents/', 'docs'),
  loc('regex', '^/documents/.*\\.pdf', 'pdf-regex'),
  loc('exact', '/exact', 'exact'),
  loc('prefix', '/exactly', 'exactly-prefix'),
  loc('prefix', '/api/', 'api', [], true),
]);
const URIS = ['/', '/index.html', '/a/', '/a/f.x', '/a/b/c', '/a/b/c.x', '/img/a.gif', '/img/a.jpg', '/x/a.gif', '/x/a.png',
  '/x/A.PnG', '/documents/a.pdf', '/documents/a.txt', '/exact', '/exact/', '/exactly', '/api', '/api/x', '/a'];

function ourLocation(uri: string): string {
  const server = { locations: LOCATIONS } as ServerConf;
  const m = findLocation(server, uri, newVarContext({ uri }));
  if (m.kind === 'auto-redirect') return '301';
  return m.kind === 'found' ? tagOf(m.location.conf) : 'none';
}

test('location selection order (recorded)', () => {
  assert.equal(ourLocation('/'), 'exact-root');
  assert.equal(ourLocation('/a/b/c.x'), 'a-nested-regex');
  assert.equal(ourLocation('/img/a.jpg'), 'img-noregex');
  assert.equal(ourLocation('/img/a.gif'), 'img-nested-gif');
  assert.equal(ourLocation('/documents/a.pdf'), 'pdf-regex');
  assert.equal(ourLocation('/api'), '301');
});

// --- servers ---
const SERVERS_NGINX = `
  server { listen 127.0.0.1:PORT; server_name first.test; return 200 "first"; }
  server { listen 127.0.0.1:PORT default_server; server_name dflt.test; return 200 "default"; }
  server { listen 127.0.0.1:PORT; server_name *.example.com; return 200 "star-example"; }
  server { listen 127.0.0.1:PORT; server_name *.www.example.com; return 200 "star-www-example"; }
  server { listen 127.0.0.1:PORT; server_name .example.org; return 200 "dot-example-org"; }
  server { listen 127.0.0.1:PORT; server_name www.example.*; return 200 "www-star"; }
  server { listen 127.0.0.1:PORT; server_name ~^(?<sub>[a-z]+)\\.regex\\.test$; return 200 "regex:$sub"; }
  server { listen 127.0.0.1:PORT; server_name ""; return 200 "empty"; }`;
const srv = (tag: string, extra: Partial<ServerConf> = {}): ServerConf => ({
  index: 0, names: [], primaryName: tag, listenKeys: [], conf: conf(tag), locations: level(), named: new Map(), mergeSlashes: true, ignoreInvalidHeaders: true, underscoresInHeaders: false, maxHeaders: 1000, ...at, ...extra,
});
const S = {
  first: srv('first'), dflt: srv('default'), starEx: srv('star-example'), starWww: srv('star-www-example'),
  dotOrg: srv('dot-example-org'), wwwStar: srv('www-star'), regex: srv('regex:$sub'), empty: srv('empty'),
};
const TABLE: ServerTable = {
  key: 'k', servers: Object.values(S), defaultServer: S.dflt,
  exact: new Map([['first.test', S.first], ['dflt.test', S.dflt], ['', S.empty]]),
  leadingWildcards: [
    { suffix: '.www.example.com', matchesBare: false, server: S.starWww },
    { suffix: '.example.com', matchesBare: false, server: S.starEx },
    { suffix: '.example.org', matchesBare: true, server: S.dotOrg },
  ],
  trailingWildcards: [{ prefix: 'www.example.', server: S.wwwStar }],
  regexes: [{ name: '~^(?<sub>[a-z]+)\\.regex\\.test$', regex: /^(?<sub>[a-z]+)\.regex\.test$/, server: S.regex }],
};
const HOSTS = ['first.test', 'FIRST.test:80', 'unknown.test', 'a.example.com', 'a.www.example.com', 'example.com', 'example.org',
  'x.example.org', 'www.example.net', 'www.example.com', 'abc.regex.test', 'ABC.regex.test', '1.regex.test', 'first.test.', null];

function ourServer(hostHeader: string | null): string {
  const host = hostHeader === null ? '' : validateHost(hostHeader)!;
  const ctx = newVarContext({ host });
  const s = selectServer(TABLE, host, ctx);
  return expandComplexValue(tagOf(s.conf), ctx);
}

test('server selection (recorded)', () => {
  assert.equal(ourServer('a.www.example.com'), 'star-www-example');
  assert.equal(ourServer('example.org'), 'dot-example-org');
  assert.equal(ourServer('abc.regex.test'), 'regex:abc');
  assert.equal(ourServer(null), 'empty');
  assert.equal(ourServer('nope'), 'default');
});

test('differential: location and server selection match real nginx', { skip: !haveNginx }, async () => {
  const o = await startNginx(`server { listen 127.0.0.1:PORT; server_name localhost; ${LOCATIONS_NGINX} }`);
  const failures: string[] = [];
  try {
    for (const uri of URIS) {
      const r = await rawRequest(o.port, `GET ${uri} HTTP/1.0\r\nHost: localhost`);
      const theirs = r.status === 301 ? '301' : r.status === 502 ? 'api' : r.body.toString();
      if (theirs !== ourLocation(uri)) failures.push(`${uri}: nginx ${theirs}, ours ${ourLocation(uri)}`);
    }
  } finally {
    await o.stop();
  }
  const s = await startNginx(SERVERS_NGINX);
  try {
    for (const h of HOSTS) {
      const r = await rawRequest(s.port, `GET / HTTP/1.0${h === null ? '' : `\r\nHost: ${h}`}`);
      const theirs = r.body.toString();
      if (theirs !== ourServer(h)) failures.push(`host ${h}: nginx ${theirs}, ours ${ourServer(h)}`);
    }
  } finally {
    await s.stop();
  }
  assert.deepEqual(failures, []);
});
