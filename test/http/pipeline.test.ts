import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, mkdirSync, writeFileSync, utimesSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  Location, LocationConf, LocationLevel, RewriteOp, RoutingState, ServerConf, ServerTable,
} from '../../src/config/state.ts';
import { rootDefaults } from '../../src/config/settings.ts';
import { createRequestHandler } from '../../src/http/pipeline.ts';
import { serveFastHttp1 } from '../../src/server/http1-connection.ts';
import { LogFiles, formatErrorLine, type ErrorLogEntry } from '../../src/http/access-log.ts';
import { haveNginx, startNginx, rawRequest, freePort, type Oracle, type RawResponse } from './oracle.ts';

// ---- hand-built RoutingState (the shape config/ produces) ----

const at = { file: 'test.conf', line: 1 };
const level = (locs: Location[] = []): LocationLevel => ({
  exact: new Map(locs.filter((l) => l.kind === 'exact').map((l) => [l.name, l])),
  prefixes: locs.filter((l) => l.kind === 'prefix' || l.kind === 'prefix-noregex').sort((a, b) => b.name.length - a.name.length),
  regexes: locs.filter((l) => l.kind === 'regex' || l.kind === 'regex-caseless'),
});
const loc = (kind: Location['kind'], name: string, conf: LocationConf, extra: Partial<Location> = {}): Location => ({
  kind, name, autoRedirect: false, conf, nested: level(), ...at, ...extra,
  ...(kind === 'regex' || kind === 'regex-caseless' ? { regex: new RegExp(name, kind === 'regex-caseless' ? 'i' : '') } : {}),
});
const op = <T extends RewriteOp['op']>(o: Record<string, unknown> & { op: T }): RewriteOp => ({ ...o, ...at }) as unknown as RewriteOp;

let dir = '';
let state: RoutingState;
let oracle: Oracle | undefined;
let ours: Server | undefined;
let ourPort = 0;
const logFiles = new LogFiles();
const errors: ErrorLogEntry[] = [];

function buildState(port: number): RoutingState {
  const http: LocationConf = {
    ...rootDefaults('/nonexistent/'),
    root: { path: join(dir, 'www'), alias: false, hasVariables: false },
    types: new Map([['html', 'text/html'], ['txt', 'text/plain']]),
    accessLog: [{ path: join(dir, 'ours.log'), format: 'combined' }],
  };
  const srv: LocationConf = {
    ...http,
    rewrite: [
      op<'rewrite'>({ op: 'rewrite', source: '^(/.well-known/acme-challenge/.*)', regex: /^(\/.well-known\/acme-challenge\/.*)/, replacement: '$1', flag: 'break' }),
      op<'if'>({ op: 'if', condition: { kind: 'compare', op: '=', left: '$host', right: 'secure.test' }, block: { ...http, rewrite: [op<'return'>({ op: 'return', code: 301, text: 'https://$host$request_uri' })] } }),
    ],
    addHeaders: [{ name: 'X-Srv', value: 'yes', always: false }, { name: 'X-Always', value: '$uri', always: true }],
    errorPages: [{ codes: [404], uri: '/404.html' }],
  };
  const c = (over: Partial<LocationConf>): LocationConf => ({ ...srv, rewrite: [], ...over });
  const locations = [
    loc('exact', '/.well-known/acme-challenge/TOKEN', c({ defaultType: 'text/plain', rewrite: [op<'return'>({ op: 'return', code: 200, text: 'TOKEN.THUMB' })] })),
    loc('prefix', '/', c({ tryFiles: ['$uri', '$uri/', '=404'] })),
    loc('prefix', '/loop/', c({ rewrite: [op<'rewrite'>({ op: 'rewrite', source: '^/loop/(.*)$', regex: /^\/loop\/(.*)$/, replacement: '/loop/x$1', flag: 'last' })] })),
    loc('prefix', '/old/', c({ rewrite: [op<'rewrite'>({ op: 'rewrite', source: '^/old/(.*)$', regex: /^\/old\/(.*)$/, replacement: '/new/$1', flag: 'permanent' })] })),
    loc('prefix', '/int/', c({ rewrite: [op<'rewrite'>({ op: 'rewrite', source: '^/int/(.*)$', regex: /^\/int\/(.*)$/, replacement: '/a.txt', flag: 'last' })] })),
    loc('prefix', '/denied/', c({ access: [{ allow: false, what: 'all' }] })),
    loc('prefix', '/hidden/', c({ internal: true })),
    loc('prefix-noregex', '/static/', c({ autoindex: true })),
    loc('regex', '\\.php$', c({ rewrite: [op<'return'>({ op: 'return', code: 200, text: 'php $uri' })] })),
    loc('regex-caseless', '^/cap/(?<word>[a-z]+)/(\\d+)$', c({ rewrite: [op<'return'>({ op: 'return', code: 200, text: '$word-$2' })] })),
    loc('prefix', '/gone', c({ rewrite: [op<'return'>({ op: 'return', code: 410 })] })),
    loc('prefix', '/close', c({ rewrite: [op<'return'>({ op: 'return', code: 444 })] })),
    loc('prefix', '/ep/', c({ errorPages: [{ codes: [404], overwrite: 200, uri: '/a.txt' }] })),
    loc('prefix', '/redir', c({ rewrite: [op<'return'>({ op: 'return', code: 302, text: '/a.txt' })] })),
    loc('prefix', '/if/', c({ rewrite: [
      op<'if'>({ op: 'if', condition: { kind: 'value', value: '$arg_x' }, block: { ...c({}), addHeaders: [{ name: 'X-If', value: 'yes', always: false }] } }),
      op<'set'>({ op: 'set', variable: 'v', value: 'val-$arg_x' }),
      op<'return'>({ op: 'return', code: 200, text: '$v' }),
    ] })),
    loc('prefix', '/named/', c({ errorPages: [{ codes: [404], overwrite: 'upstream', uri: '@fallback' }] })),
    loc('prefix', '/le/', c({ limitExcept: { methods: ['GET'], conf: c({ access: [{ allow: false, what: 'all' }] }) } })),
    loc('prefix', '/small/', c({ clientMaxBodySize: 10 })),
  ];
  const named = loc('named', '@fallback', c({ rewrite: [op<'return'>({ op: 'return', code: 200, text: 'fallback $uri' })] }));
  const server: ServerConf = {
    index: 0, names: [{ name: 'localhost', kind: 'exact' }], primaryName: 'localhost', listenKeys: [`127.0.0.1:${port}`],
    conf: srv, locations: level(locations), named: new Map([['@fallback', named]]), mergeSlashes: true, ignoreInvalidHeaders: true, underscoresInHeaders: false, maxHeaders: 1000, ...at,
  };
  const table: ServerTable = {
    key: `127.0.0.1:${port}`, servers: [server], defaultServer: server, exact: new Map([['localhost', server]]),
    leadingWildcards: [], trailingWildcards: [], regexes: [],
  };
  return {
    main: { workerProcesses: 1, pid: '/tmp/x.pid', daemon: false, masterProcess: false, errorLogs: [], workerConnections: 512 },
    paths: { prefix: '/tmp/', confPrefix: '/tmp/', confFile: '/tmp/nginx.conf' },
    listens: [], tables: new Map([[table.key, table]]), servers: [server], upstreams: new Map(),
    limitReqZones: new Map(), limitConnZones: new Map(), maps: [], geos: [], splitClients: [], logFormats: new Map(), tls: [],
  };
}

const NGINX_CONF = (d: string) => `
  types { text/html html; text/plain txt; } default_type text/plain;
  server { listen 127.0.0.1:PORT; server_name localhost; root ${d}/www;
    rewrite ^(/.well-known/acme-challenge/.*) $1 break;
    if ($host = secure.test) { return 301 https://$host$request_uri; }
    add_header X-Srv yes; add_header X-Always $uri always;
    error_page 404 /404.html;
    location = /.well-known/acme-challenge/TOKEN { default_type text/plain; return 200 TOKEN.THUMB; }
    location / { try_files $uri $uri/ =404; }
    location /loop/ { rewrite ^/loop/(.*)$ /loop/x$1 last; }
    location /old/ { rewrite ^/old/(.*)$ /new/$1 permanent; }
    location /int/ { rewrite ^/int/(.*)$ /a.txt last; }
    location /denied/ { deny all; }
    location /hidden/ { internal; }
    location ^~ /static/ { autoindex on; }
    location ~ \\.php$ { return 200 "php $uri"; }
    location ~* ^/cap/(?<word>[a-z]+)/(\\d+)$ { return 200 "$word-$2"; }
    location /gone { return 410; }
    location /close { return 444; }
    location /ep/ { error_page 404 =200 /a.txt; }
    location /redir { return 302 /a.txt; }
    location /if/ { if ($arg_x) { add_header X-If yes; } set $v "val-$arg_x"; return 200 "$v"; }
    location /named/ { error_page 404 = @fallback; }
    location @fallback { return 200 "fallback $uri"; }
    location /le/ { limit_except GET { deny all; } }
    location /small/ { client_max_body_size 10; }
  }`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bext-pipe-'));
  for (const d of ['www', 'www/dir', 'www/static', 'www/static/sub', 'www/denied', 'www/hidden']) mkdirSync(join(dir, d));
  const w = (p: string, s: string) => { writeFileSync(join(dir, p), s); utimesSync(join(dir, p), 1700000000, 1700000000); };
  w('www/a.txt', 'hello');
  w('www/404.html', 'custom 404');
  w('www/dir/index.html', 'dir index');
  w('www/static/s.txt', 'static');
  w('www/denied/x.txt', 'no');
  w('www/hidden/h.txt', 'h');
  w('www/x.php', 'source');
  utimesSync(join(dir, 'www/static/sub'), 1700000000, 1700000000);
  ourPort = await freePort();
  state = buildState(ourPort);
  // requireHostHeader: false lets the pipeline answer nginx's own 400 instead of node's.
  ours = createServer({ requireHostHeader: false }, createRequestHandler(() => state, { logFiles, errorLog: (e) => errors.push(e) }));
  ours.keepAliveTimeout = 0;
  serveFastHttp1(ours); // as listeners.ts serves HTTP/1
  await new Promise<void>((r) => ours!.listen(ourPort, '127.0.0.1', () => r()));
});

after(async () => {
  await oracle?.stop();
  await new Promise<void>((r) => (ours ? ours.close(() => r()) : r()));
  await logFiles.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const CASES: [string, string[]?, string?, string?][] = [
  ['/.well-known/acme-challenge/TOKEN'],
  ['/.well-known/acme-challenge/TOKEN', [], 'GET', 'secure.test'],
  ['/a.txt?x=1', [], 'GET', 'secure.test'],
  ['/a.txt', [], 'GET', 'Bad..Host'],
  ['/a.txt', [], 'GET', 'LOCALHOST.:8080'],
  ['/.well-known/acme-challenge/TOKEN', ['Host: secure.test']],
  ['/a.txt', ['Host: secure.test']],
  ['/a.txt'],
  ['/a.txt', [], 'HEAD'],
  ['/a.txt', ['If-None-Match: "6553f100-5"']],
  ['/a.txt', ['Range: bytes=1-2']],
  ['/missing'],
  ['/missing', [], 'POST'],
  ['/dir'],
  ['/dir/'],
  ['/loop/a'],
  ['/old/p?q=1'],
  ['/int/whatever'],
  ['/denied/x.txt'],
  ['/hidden/h.txt'],
  ['/static/'],
  ['/static/s.txt'],
  ['/static/x.php'],
  ['/x.php'],
  ['/CAP/abc/12'],
  ['/gone'],
  ['/close'],
  ['/ep/nothing'],
  ['/redir'],
  ['/%2e%2e/x'],
  ['/a/../a.txt'],
  ['/static/nothing.txt', ['Referer: http://ref/']],
  ['/if/?x=1'],
  ['/if/'],
  ['/named/missing'],
  ['/le/'],
  ['/le/', ['Content-Length: 0'], 'POST'],
  ['/small/x', ['Content-Length: 100'], 'POST'],
];

function normalise(r: RawResponse): string {
  const h = r.headerLines.filter((l) => !/^(Date|Connection|Keep-Alive|Transfer-Encoding):/i.test(l)).map((l) => l.replace(/:\d+\//, ':PORT/'));
  return [r.statusLine.trimEnd(), ...h, '', r.body.toString('latin1')].join('\n');
}

test('differential: the pipeline answers like real nginx', { skip: !haveNginx }, async () => {
  oracle = await startNginx(NGINX_CONF(dir));
  const failures: string[] = [];
  const send = (port: number, target: string, headers: string[], method = 'GET', host = 'localhost') =>
    rawRequest(port, [`${method} ${target} HTTP/1.0`, `Host: ${host}`, ...headers].join('\r\n'),
      'x'.repeat(Number(/^Content-Length: (\d+)/m.exec(headers.join('\n'))?.[1] ?? 0)));
  for (const [target, headers = [], method, host] of CASES) {
    const theirs = await send(oracle.port, target, headers, method, host);
    const mine = await send(ourPort, target, headers, method, host);
    const a = normalise(theirs), b = normalise(mine);
    if (a !== b) failures.push(`${method ?? 'GET'} ${target} ${headers.join(' | ')}\n--- nginx\n${a}\n--- ours\n${b}`);
  }
  assert.equal(failures.length, 0, failures.join('\n\n'));

  // The error log says the same thing (past the timestamp, pid and connection number).
  const strip = (l: string) => l.replace(/^.*?\] \d+#\d+: \*\d+ /, '');
  const theirLog = readFileSync(join(oracle.prefix, 'logs', 'error.log'), 'latin1').split('\n').filter((l) => l.includes('nothing.txt')).map(strip);
  const ourLog = errors.filter((e) => e.message.includes('nothing.txt')).map((e) => strip(formatErrorLine(e).trimEnd()));
  assert.deepEqual(ourLog, theirLog);
});

test('HTTP/1.1 without Host is 400; access log lines are written', async () => {
  const r = await rawRequest(ourPort, 'GET /a.txt HTTP/1.1');
  assert.equal(r.status, 400);
  await new Promise((res) => setTimeout(res, 20));
  await logFiles.flushAll();
  const log = readFileSync(join(dir, 'ours.log'), 'latin1');
  assert.match(log, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/a\.txt HTTP\/1\.1" 400 157 "-" "-"$/m);
});
