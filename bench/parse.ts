// Benchmark: read a large configuration (5,000 server blocks, 50,000 locations, spread over include
// files) with loadConfig + convert, and time `nginx -t` on the same files for comparison.
// Run: node --import tsx bench/parse.ts [servers] [locationsPerServer]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { convert } from '../src/config/convert.ts';
import { loadConfig } from '../src/nginx/parser.ts';

const SERVERS = Number(process.argv[2] ?? 5000);
const LOCATIONS_PER_SERVER = Number(process.argv[3] ?? 10);
const SERVERS_PER_FILE = 100;
const NGINX = '/usr/sbin/nginx';

function serverBlock(i: number): string {
  const port = 18500 + (i % 10);
  const lines = [
    'server {',
    `    listen 127.0.0.1:${port};`,
    `    server_name site${i}.example.test www.site${i}.example.test;`,
    `    root ${'$'}{DIR}/www/site${i};`,
    '    index index.html;',
    `    access_log off;`,
  ];
  for (let l = 0; l < LOCATIONS_PER_SERVER; l++) {
    if (l % 5 === 0) lines.push(`    location = /exact${l} { return 200 "ok ${i}/${l}"; }`);
    else if (l % 5 === 1) lines.push(`    location ~ ^/re${l}/(?<id>[0-9]+)$ { return 301 /new/$id; }`);
    else if (l % 5 === 2) lines.push(`    location /api${l}/ { proxy_pass http://127.0.0.1:9${l % 10}00; proxy_set_header Host $host; }`);
    else if (l % 5 === 3) lines.push(`    location ^~ /static${l}/ { expires 7d; add_header Cache-Control "public"; try_files $uri =404; }`);
    else lines.push(`    location /p${l} { if ($request_method = POST) { return 405; } try_files $uri $uri/ /index.html; }`);
  }
  lines.push('}');
  return lines.join('\n');
}

function generate(dir: string): void {
  mkdirSync(join(dir, 'sites'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), [
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log;`,
    'events { worker_connections 1024; }',
    'http {',
    '    server_names_hash_max_size 32768;',
    '    server_names_hash_bucket_size 128;',
    `    client_body_temp_path ${dir}/tmp/body;`,
    `    proxy_temp_path ${dir}/tmp/proxy;`,
    `    fastcgi_temp_path ${dir}/tmp/fastcgi;`,
    `    uwsgi_temp_path ${dir}/tmp/uwsgi;`,
    `    scgi_temp_path ${dir}/tmp/scgi;`,
    '    include sites/*.conf;',
    '}',
    '',
  ].join('\n'));
  for (let f = 0; f * SERVERS_PER_FILE < SERVERS; f++) {
    const blocks: string[] = [];
    for (let i = f * SERVERS_PER_FILE; i < Math.min(SERVERS, (f + 1) * SERVERS_PER_FILE); i++) blocks.push(serverBlock(i));
    writeFileSync(join(dir, 'sites', `${String(f).padStart(4, '0')}.conf`), blocks.join('\n').replaceAll('${DIR}', dir) + '\n');
  }
}

function time<T>(fn: () => T): { ms: number; value: T } {
  const start = performance.now();
  const value = fn();
  return { ms: performance.now() - start, value };
}

const dir = mkdtempSync(join(tmpdir(), 'bext-bench-parse-'));
try {
  generate(dir);
  const confFile = join(dir, 'nginx.conf');
  console.log(`config: ${SERVERS} servers, ${SERVERS * LOCATIONS_PER_SERVER} locations, in ${dir}`);

  const parsed = time(() => loadConfig({ prefix: `${dir}/`, confFile }));
  // As `nginx -t` converts (src/nginx/check.ts): to validate, not to serve, so the state is not frozen.
  const converted = time(() => convert(parsed.value, { freeze: false }));
  const ours = parsed.ms + converted.ms;
  console.log(`bext loadConfig: ${parsed.ms.toFixed(0)} ms (${parsed.value.files.length} files)`);
  console.log(`bext convert:    ${converted.ms.toFixed(0)} ms (${converted.value.warnings.length} warnings)`);
  console.log(`bext total:      ${ours.toFixed(0)} ms`);

  if (existsSync(NGINX)) {
    const real = time(() => spawnSync(NGINX, ['-t', '-q', '-p', `${dir}/`, '-c', confFile, '-e', join(dir, 'error.log')], { encoding: 'utf8' }));
    if (real.value.status !== 0) console.log(`nginx -t failed:\n${real.value.stderr}`);
    console.log(`nginx -t:        ${real.ms.toFixed(0)} ms`);
    console.log(`ratio bext/nginx: ${(ours / real.ms).toFixed(2)}`);
  } else {
    console.log(`${NGINX} not installed: no comparison`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
