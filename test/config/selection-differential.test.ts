// Differential test: the same configuration served by the real nginx and resolved by our
// selectServer/findLocation must pick the same server{} and location for every request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressKeyFor, findLocation, normalizeHost, selectServer } from '../../src/config/select.ts';
import type { LocationConf, RoutingState } from '../../src/config/state.ts';
import { conv } from './helpers.ts';
import { freePort } from '../http/oracle.ts';

const NGINX = '/usr/sbin/nginx';
const skip = !existsSync(NGINX) ? 'real nginx is not installed' : false;


function config(dir: string, p1: number, p2: number, p3: number): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`).join('\n');
  return `
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  ${temp}
  server { listen ${p1}; server_name first.test; return 200 "first"; }
  server { listen ${p1}; server_name exact.example.com; return 200 "exact"; }
  server { listen ${p1} default_server; server_name def.test; return 200 "default"; }
  server { listen ${p1}; server_name *.example.com; return 200 "leading"; }
  server { listen ${p1}; server_name *.sub.example.com; return 200 "leading-longer"; }
  server { listen ${p1}; server_name .example.org; return 200 "dot-org"; }
  server { listen ${p1}; server_name www.example.*; return 200 "trailing"; }
  server { listen ${p1}; server_name ~^(?<user>[a-z]+)\\.users\\.test$; return 200 "regex:$user"; }
  server { listen ${p1}; server_name ~^r(\\d+)\\.test$ ~^r.*; return 200 "regex2:$1"; }
  server { listen ${p1}; server_name ""; return 200 "empty"; }
  server { listen 127.0.0.1:${p1}; server_name exact.example.com spec.test; return 200 "specific"; }
  server { listen ${p2}; server_name one.test; return 200 "one"; }
  server { listen [::1]:${p2}; server_name one.test; return 200 "six"; }
  server { listen ${p3}; server_name a.test; return 200 "a"; }
  server { listen ${p3}; server_name conflict.test; return 200 "conflict-exact"; }
  server { listen ${p3}; server_name .conflict.test; return 200 "conflict-dot"; }
  server { listen ${p3}; server_name ~.* ~^(?<up>[A-Z]+)$; return 200 "any:$up"; }
  server {
    listen ${p2};
    server_name loc.test;
    location = / { return 200 "exact-root"; }
    location / { return 200 "root"; }
    location /docs/ { return 200 "docs"; }
    location /docs/old/ { return 200 "docs-old"; }
    location ^~ /static/ {
      return 200 "static";
      location ~ \\.css$ { return 200 "static-css"; }
    }
    location ~ \\.(gif|jpg)$ { return 200 "img:$1"; }
    location ~* \\.PNG$ { return 200 "png"; }
    location ~ \\.txt$ { return 200 "txt"; }
    location /images/ {
      return 200 "images";
      location ~ ^/images/(?<f>[a-z]+)\\.gif$ { return 200 "nested-gif:$f"; }
    }
    location /api/ { proxy_pass http://127.0.0.1:9/; }
    location /b { return 200 "b"; }
    location /b/ { proxy_pass http://127.0.0.1:9/; }
    location = /c { return 200 "c-exact"; }
    location /c/ { proxy_pass http://127.0.0.1:9; }
    location ~ ^/d$ { return 200 "d-regex"; }
    location /d/ { proxy_pass http://127.0.0.1:9; }
    location /a { return 200 "a"; }
    location = /exact { return 200 "exact"; }
    location /exact { return 200 "exact-prefix"; }
    location @named { return 200 "named"; }
    location /x/ {
      return 200 "x";
      location /x/y/ { return 200 "x-y"; }
    }
    location /n/ {
      return 200 "n";
      location ^~ /n/s/ { return 200 "n-s"; }
    }
  }
}
`;
}

interface Reply {
  status: number;
  body: string;
}

function request(address: string, port: number, target: string, host: string | null): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: address, port });
    const chunks: Buffer[] = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(text)?.[1]);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    const head = host === null ? `GET ${target} HTTP/1.0\r\n\r\n` : `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    sock.write(head);
  });
}

/** What our state predicts: the `return 200 "…"` text of the chosen level, captures substituted. */
function predict(state: RoutingState, address: string, port: number, target: string, host: string | null): Reply {
  const key = addressKeyFor(state, address, port);
  assert.ok(key, `no table for ${address}:${port}`);
  const normal = host === null ? '' : normalizeHost(host);
  assert.notEqual(normal, undefined);
  const sm = selectServer(state, key, normal!)!;
  const text = (conf: LocationConf, caps: readonly (string | undefined)[] = [], named: Readonly<Record<string, string | undefined>> = {}): string => {
    const ret = conf.rewrite.find((op) => op.op === 'return');
    assert.ok(ret && ret.op === 'return', 'chosen level has a return');
    return (ret.text ?? '').replace(/\$(\w+)/g, (_, v: string) => (/^\d$/.test(v) ? caps[Number(v)] : named[v]) ?? '');
  };
  if (sm.server.conf.rewrite.length) return { status: 200, body: text(sm.server.conf, sm.captures, sm.namedCaptures) };
  const m = findLocation(sm.server, target);
  if (m.redirect) return { status: 301, body: '' };
  return { status: 200, body: text(m.conf, m.captures, m.namedCaptures) };
}

let dir = '';
let child: ChildProcess | undefined;
let state: RoutingState;
let p1 = 0;
let p2 = 0;
let p3 = 0;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'bext-seldiff-'));
  p1 = await freePort();
  p2 = await freePort();
  p3 = await freePort();
  const text = config(dir, p1, p2, p3);
  writeFileSync(join(dir, 'nginx.conf'), text);
  state = conv(text, { file: join(dir, 'nginx.conf') }).state;
  child = spawn(NGINX, ['-p', dir + '/', '-c', join(dir, 'nginx.conf'), '-g', 'daemon off; master_process off;'], { stdio: 'ignore' });
  // Wait until both ports answer.
  for (let i = 0; i < 100; i++) {
    try {
      await request('127.0.0.1', p1, '/', 'x');
      await request('127.0.0.1', p2, '/', 'x');
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('nginx did not start');
});

after(() => {
  if (child?.pid) child.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const serverCases: [string, string | null][] = [
  ['exact.example.com', 'exact.example.com'],
  ['exact.example.com', 'EXACT.Example.COM.'],
  ['exact.example.com', 'exact.example.com:8080'],
  ['a.example.com', 'a.example.com'],
  ['a.sub.example.com', 'a.sub.example.com'],
  ['sub.example.com', 'sub.example.com'],
  ['example.org', 'example.org'],
  ['x.y.example.org', 'x.y.example.org'],
  ['www.example.net', 'www.example.net'],
  ['www.example.co.uk', 'www.example.co.uk'],
  ['bob.users.test', 'bob.users.test'],
  ['r12.test', 'r12.test'],
  ['rx.test', 'rx.test'],
  ['unknown', 'unknown.test'],
  ['first', 'first.test'],
  ['def', 'def.test'],
  ['no host', null],
  ['spec.test', 'spec.test'],
];

test('server selection matches real nginx (wildcard and specific address)', { skip }, async () => {
  for (const address of ['127.0.0.2', '127.0.0.1']) {
    for (const [label, host] of serverCases) {
      const real = await request(address, p1, '/', host);
      const ours = predict(state, address, p1, '/', host);
      assert.deepEqual(ours, { status: real.status, body: real.body }, `${label} via ${address}`);
    }
  }
});

test('the first server is the default when none says default_server', { skip }, async () => {
  const real = await request('127.0.0.1', p2, '/', 'nobody.test');
  assert.equal(real.body, 'one');
  assert.deepEqual(predict(state, '127.0.0.1', p2, '/', 'nobody.test'), { status: 200, body: 'one' });
});

test('regex server names: not tried without a Host, matched against the lowercased host; conflicts', { skip }, async () => {
  for (const host of [null, 'ABC', 'x.test', 'conflict.test', 'sub.conflict.test']) {
    const real = await request('127.0.0.1', p3, '/', host);
    assert.deepEqual(predict(state, '127.0.0.1', p3, '/', host), { status: real.status, body: real.body }, String(host));
  }
});

test('IPv6 specific address', { skip: skip || !hasIPv6() ? 'no IPv6 loopback' : false }, async () => {
  const real = await request('::1', p2, '/', 'zzz');
  assert.equal(real.body, 'six');
  assert.deepEqual(predict(state, '::1', p2, '/', 'zzz'), { status: 200, body: 'six' });
});

function hasIPv6(): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === '::1'));
}

const locationCases = [
  '/', '/index.html', '/docs/', '/docs/x', '/docs/old/y', '/x.gif', '/docs/x.jpg', '/X.png', '/a.PnG',
  '/images/abc.gif', '/images/a1.gif', '/images/a.jpg', '/images/b', '/api', '/b', '/c', '/d', '/a', '/abc', '/exact', '/exact/1',
  '/@named', '/x/y/z', '/x/z', '/n/s/a.txt', '/n/s/b', '/n/t.txt', '/static/a.css', '/static/a.gif', '/static/x',
];

test('location selection matches real nginx', { skip }, async () => {
  for (const uri of locationCases) {
    const real = await request('127.0.0.1', p2, uri, 'loc.test');
    const ours = predict(state, '127.0.0.1', p2, uri, 'loc.test');
    assert.deepEqual(ours, { status: real.status, body: real.status === 301 ? '' : real.body }, uri);
  }
});
