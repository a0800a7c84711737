// Differential test for array-directive inheritance: the add_header set on responses and the
// proxy_set_header set on proxied requests, real nginx against what our merged confs say.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLocation, selectServer } from '../../src/config/select.ts';
import { effectiveProxyHeaders } from '../../src/config/settings.ts';
import type { LocationConf, RoutingState } from '../../src/config/state.ts';
import { conv } from './helpers.ts';
import { freePort } from '../http/oracle.ts';

const NGINX = '/usr/sbin/nginx';
const skip = !existsSync(NGINX) ? 'real nginx is not installed' : false;


function config(dir: string, port: number, backend: number): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`).join('\n');
  return `
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  ${temp}
  add_header X-Http 1;
  proxy_set_header X-From-Http h;
  server {
    listen ${port};
    server_name one;
    add_header X-Server 1 always;
    proxy_set_header X-From-Server s;
    location /inherit { return 200 ok; }
    location /own { add_header X-Own 1; return 200 ok; }
    location /if {
      add_header X-Loc 1;
      if ($arg_a) { add_header X-If 1; }
      return 200 ok;
    }
    location /nested { location /nested/deeper { return 200 ok; } }
    location /p1 { proxy_pass http://127.0.0.1:${backend}; }
    location /p2 { proxy_set_header X-Own p; proxy_set_header Host example.test; proxy_pass http://127.0.0.1:${backend}; }
    location /p3 { proxy_set_header Connection ""; proxy_set_header X-Empty ""; proxy_pass http://127.0.0.1:${backend}; }
  }
  server {
    listen ${port};
    server_name two;
    location / { return 200 ok; }
    location /p { proxy_pass http://127.0.0.1:${backend}; }
  }
}
`;
}

let dir = '';
let child: ChildProcess | undefined;
let backendServer: http.Server | undefined;
let lastHeaders: http.IncomingHttpHeaders = {};
let state: RoutingState;
let port = 0;
let backend = 0;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'bext-inhdiff-'));
  port = await freePort();
  backend = await freePort();
  backendServer = http.createServer((req, res) => {
    lastHeaders = req.headers;
    res.end('backend');
  });
  await new Promise<void>((r) => backendServer!.listen(backend, '127.0.0.1', () => r()));
  const text = config(dir, port, backend);
  writeFileSync(join(dir, 'nginx.conf'), text);
  state = conv(text, { file: join(dir, 'nginx.conf') }).state;
  child = spawn(NGINX, ['-p', dir + '/', '-c', join(dir, 'nginx.conf'), '-g', 'daemon off; master_process off;'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      await get('/inherit', 'one');
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('nginx did not start');
});

after(async () => {
  if (child?.pid) child.kill('SIGTERM');
  backendServer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function get(path: string, host: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
  });
}

function confFor(host: string, path: string): LocationConf {
  const server = selectServer(state, `0.0.0.0:${port}`, host)!.server;
  const [uri, args] = path.split('?');
  const conf = findLocation(server, uri!).conf;
  // The only `if` in this config tests $arg_a.
  const ifOp = conf.rewrite.find((op) => op.op === 'if');
  return ifOp?.op === 'if' && args?.includes('a=1') ? ifOp.block : conf;
}

const xHeaders = (h: http.IncomingHttpHeaders): string[] => Object.keys(h).filter((k) => k.startsWith('x-')).sort();

test('add_header inheritance matches real nginx', { skip }, async () => {
  for (const [host, path] of [['one', '/inherit'], ['one', '/own'], ['one', '/if'], ['one', '/if?a=1'], ['one', '/nested/deeper'], ['two', '/']]) {
    const res = await get(path!, host!);
    const ours = confFor(host!, path!).addHeaders.map((h) => h.name.toLowerCase()).sort();
    assert.deepEqual(ours, xHeaders(res.headers), `${host} ${path}`);
  }
});

test('proxy_set_header inheritance and defaults match real nginx', { skip }, async () => {
  for (const [host, path] of [['one', '/p1'], ['one', '/p2'], ['one', '/p3'], ['two', '/p']]) {
    await get(path!, host!);
    const sent = effectiveProxyHeaders(confFor(host!, path!).proxySetHeaders);
    const expected: Record<string, string> = {};
    for (const h of sent) {
      const value = h.value === '$proxy_host' ? `127.0.0.1:${backend}` : h.value;
      // An empty value means the header is not sent.
      if (value !== '') expected[h.name.toLowerCase()] = value;
    }
    const got: Record<string, string> = {};
    for (const name of [...xHeaders(lastHeaders), 'host', 'connection']) {
      if (lastHeaders[name] !== undefined) got[name] = String(lastHeaders[name]);
    }
    assert.deepEqual(got, expected, `${host} ${path}`);
  }
});
