#!/usr/bin/env node
// `npm start`: build the bundles, make the example's self-signed certificate, then run bext-server on
// examples/nginx.conf (prefix examples/, so logs/ and site/ resolve there, as nginx resolves them).
import { execFileSync, spawn } from 'node:child_process';
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
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '365', '-subj', '/CN=www.example.test',
    '-addext', 'subjectAltName=DNS:www.example.test,DNS:example.test,DNS:localhost',
    '-keyout', path.join(examples, 'tls/example.key'), '-out', crt,
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
}

const server = path.join(root, 'dist/bext-server.js');
const args = ['nginx', 'check', '-p', `${examples}/`, '-c', 'nginx.conf'];
const child = spawn(process.execPath, [server, ...args], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
