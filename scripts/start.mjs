#!/usr/bin/env node
// `npm start`: build the bundles, make the example's self-signed certificate, then run bext-server on
// examples/nginx.conf (prefix examples/, so logs/ and site/ resolve there, as nginx resolves them).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const examples = path.join(root, 'examples');
execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { stdio: 'inherit' });

mkdirSync(path.join(examples, 'logs'), { recursive: true });
mkdirSync(path.join(examples, 'tls'), { recursive: true });
const crt = path.join(examples, 'tls/example.crt');
if (!existsSync(crt)) {
  const which = spawnSync('openssl', ['version']);
  if (which.error) {
    console.error("npm start: the example's HTTPS server needs a certificate, made with openssl: apt-get install openssl");
    process.exit(1);
  }
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '365', '-subj', '/CN=www.example.test',
    '-addext', 'subjectAltName=DNS:www.example.test,DNS:example.test,DNS:localhost',
    '-keyout', path.join(examples, 'tls/example.key'), '-out', crt,
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
}

const server = path.join(root, 'dist/bext-server.js');
const prefix = ['-p', `${examples}/`, '-c', 'nginx.conf'];
// First what `nginx -t` would say (warnings included), then serve in the foreground until Ctrl-C.
execFileSync(process.execPath, [server, 'nginx', 'check', ...prefix], { stdio: 'inherit' });
// The example's upstream app, for the proxied /app/ location; it goes when bext-server goes.
const app = spawn(process.execPath, [path.join(examples, 'app/server.mjs')], { stdio: 'inherit' });
const child = spawn(process.execPath, [server, ...prefix, '-g', 'daemon off;'], { stdio: 'inherit' });
console.log(`bext-server (pid ${child.pid}) serving examples/nginx.conf:
  http://127.0.0.1:8080/              the static site (Host: www.example.test, localhost)
  http://127.0.0.1:8080/docs/         an autoindex listing
  http://127.0.0.1:8080/old-page      a 301 redirect
  https://127.0.0.1:8443/             the same site over TLS (self-signed: curl -k)
  http://127.0.0.1:8080/app/hello     a proxied app (examples/app/server.mjs on 127.0.0.1:8081)
  http://127.0.0.1:8080/app/api/x     its API, rate-limited (limit_req: 5 r/s, burst 10, then 503)
  http://127.0.0.1:8080/status        stub_status
  curl -H 'Host: example.test' http://127.0.0.1:8080/x   a redirect to the canonical name
Logs: examples/logs/. Ctrl-C stops it.`);
// Ctrl-C reaches the whole process group; the master drains and exits, and so do we.
process.on('SIGINT', () => {});
child.on('exit', (code, signal) => {
  app.kill();
  process.exit(signal ? 0 : code ?? 1);
});
