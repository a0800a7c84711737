// Property test: random and mutated configurations only ever parse, or fail with a ConfError that
// says where (file:line) — never another exception, and never a hang. Seeded, bounded in count and time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseString } from '../../src/nginx/parser.ts';
import { ConfError } from '../../src/nginx/types.ts';
import { FIXTURES } from './tempfiles.ts';
import { mulberry32 as prng } from '../prng.ts';

const PIECES = [
  '{', '}', ';', ' ', '\n', '\t', '"', "'", '\\', '#', '$', '${', '(', ')', '=', '~', '*',
  'http', 'server', 'location', 'events', 'listen', 'root', 'alias', 'return', 'rewrite', 'if', 'set', 'map', 'types',
  'upstream', 'proxy_pass', 'add_header', 'gzip', 'on', 'off', '80', '[::]:80', 'default_server', '/', '/a', '@x',
  '$host', '301', 'https://$host$request_uri', 'text/plain', '10m', '1h30m', 'limit_req_zone', 'zone=z:10m', 'error_page',
  'try_files', '$uri', '=404', 'ssl_session_cache', 'shared:a:1m', 'log_format', 'access_log', 'stream', 'é',
];

function randomText(rand: () => number): string {
  const n = Math.floor(rand() * 60);
  let s = '';
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(rand() * PIECES.length)];
  return s;
}

function fixtureTexts(dir = join(FIXTURES, 'valid')): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...fixtureTexts(path));
    else out.push(readFileSync(path, 'utf8').replaceAll('@DIR@', '/nonexistent-bext'));
  }
  return out;
}

function mutate(text: string, rand: () => number): string {
  let s = text;
  const edits = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rand() * (s.length + 1));
    const op = Math.floor(rand() * 4);
    if (op === 0) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 8));
    else if (op === 1) s = s.slice(0, at) + PIECES[Math.floor(rand() * PIECES.length)] + s.slice(at);
    else if (op === 2) s = s.slice(0, at) + s.slice(at, at + 40) + s.slice(at);
    else s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + s.slice(at);
  }
  return s;
}

function checkOne(text: string): void {
  try {
    parseString(text, '/fuzz/n.conf');
  } catch (err) {
    if (!(err instanceof ConfError)) throw new Error(`non-ConfError for ${JSON.stringify(text)}: ${String(err)}`);
    if (err.file === undefined) {
      // Only the errors nginx itself logs without a position.
      assert.match(err.text, /^(pread\(\) ".*" failed|unknown ".*" variable$)/, JSON.stringify(text));
      return;
    }
    assert.ok(err.file === '/fuzz/n.conf' || err.file.startsWith('/'), err.message);
    assert.ok(Number.isInteger(err.line) && (err.line as number) >= 1, err.message);
  }
}

test('random token soup: success or a positioned ConfError', () => {
  const rand = prng(0xb3c7);
  const deadline = Date.now() + 8000;
  for (let i = 0; i < 4000 && Date.now() < deadline; i++) checkOne(randomText(rand));
});

test('mutated valid fixtures: success or a positioned ConfError', () => {
  const rand = prng(20261125);
  const texts = fixtureTexts();
  const deadline = Date.now() + 8000;
  for (let i = 0; i < 3000 && Date.now() < deadline; i++) checkOne(mutate(texts[i % texts.length], rand));
});

test('pathological inputs finish quickly', () => {
  const start = Date.now();
  checkOne('{'.repeat(10_000));
  checkOne('a '.repeat(100_000));
  checkOne(`${'http { server { '.repeat(2000)}`);
  checkOne(`http { server { ${'location / { '.repeat(50_000)}`);
  checkOne('"'.repeat(50_001));
  checkOne('#'.repeat(100_000));
  assert.ok(Date.now() - start < 5000);
});
