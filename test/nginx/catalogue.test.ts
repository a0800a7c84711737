import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { catalogueWarnings, directiveInfo, directiveNames, directiveSpecs } from '../../src/nginx/catalogue.ts';
import { parseString } from '../../src/nginx/parser.ts';
import { ConfError } from '../../src/nginx/types.ts';
import { join } from 'node:path';
import { after } from 'node:test';
import { removeTempDirs, writeConfigDir } from './tempfiles.ts';

after(removeTempDirs);

function errorText(text: string): string {
  try {
    parseString(text, '/c/n.conf');
  } catch (err) {
    assert.ok(err instanceof ConfError, String(err));
    return err.message;
  }
  assert.fail(`accepted: ${text}`);
}

test('the catalogue covers the stock, certbot and common configs (~250 directives)', () => {
  assert.ok(directiveNames().length >= 250, `${directiveNames().length} directives`);
  const needed = [
    // Debian nginx.conf + sites-available/default + snippets
    'user', 'worker_processes', 'pid', 'error_log', 'include', 'events', 'worker_connections', 'http', 'sendfile',
    'tcp_nopush', 'types_hash_max_size', 'default_type', 'ssl_protocols', 'ssl_prefer_server_ciphers', 'access_log',
    'gzip', 'server', 'listen', 'root', 'index', 'server_name', 'location', 'try_files', 'fastcgi_split_path_info',
    'set', 'fastcgi_param', 'fastcgi_index', 'fastcgi_pass', 'ssl_certificate', 'ssl_certificate_key',
    // certbot
    'server_names_hash_bucket_size', 'rewrite', 'return', 'if', 'ssl_session_cache', 'ssl_session_timeout',
    'ssl_session_tickets', 'ssl_ciphers', 'ssl_dhparam', 'add_header', 'ssl_trusted_certificate', 'ssl_stapling',
    'ssl_stapling_verify',
    // proxies, limits, the rest
    'proxy_pass', 'proxy_set_header', 'proxy_http_version', 'upstream', 'keepalive', 'map', 'limit_req_zone',
    'limit_req', 'limit_conn_zone', 'limit_conn', 'load_module', 'keepalive_timeout', 'expires', 'stub_status',
  ];
  for (const name of needed) assert.ok(directiveSpecs(name).length > 0, name);
  for (const file of ['/etc/nginx/nginx.conf', '/etc/nginx/sites-available/default', '/etc/nginx/fastcgi.conf']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^\s*([a-z_0-9]+)\s/gm)) assert.ok(directiveSpecs(m[1]).length > 0, `${m[1]} (${file})`);
  }
});

test('every directive has a status, and ignored/unsupported ones say why', () => {
  for (const name of directiveNames()) {
    for (const spec of directiveSpecs(name)) {
      assert.ok(['served', 'ignored', 'unsupported'].includes(spec.status), name);
      if (spec.status !== 'served') assert.ok(spec.reason && spec.reason.length > 5, `${name} needs a reason`);
    }
  }
  assert.equal(directiveInfo('sendfile')?.status, 'ignored');
  assert.equal(directiveInfo('worker_connections')?.status, 'ignored');
  assert.equal(directiveInfo('load_module')?.status, 'ignored');
  assert.equal(directiveInfo('proxy_pass')?.status, 'served');
  assert.equal(directiveInfo('proxy_cache')?.status, 'unsupported');
  assert.equal(directiveInfo('server', 'upstream')?.status, 'served');
  assert.equal(directiveInfo('no_such_directive'), undefined);
});

test('catalogue warnings list each unsupported directive used, with file:line', () => {
  const loaded = parseString('http {\n  proxy_cache_path /c keys_zone=z:1m;\n  server {\n    ssi on;\n    sendfile on;\n  }\n}\n', '/c/n.conf');
  const warnings = catalogueWarnings(loaded.tree);
  assert.deepEqual(warnings.map((w) => [w.directive, w.line]), [['proxy_cache_path', 2], ['ssi', 4]]);
  assert.match(warnings[0].message, /^the "proxy_cache_path" directive is not supported by bext \(response caching is not implemented\), ignored$/);
});

test('context, arity and value checks use nginx texts', () => {
  assert.equal(errorText('http { server { location / { listen 80; } } }'), '"listen" directive is not allowed here in /c/n.conf:1');
  assert.equal(errorText('events { worker_connections; }'), 'invalid number of arguments in "worker_connections" directive in /c/n.conf:1');
  assert.equal(errorText('http { sendfile maybe; }'), 'invalid value "maybe" in "sendfile" directive, it must be "on" or "off" in /c/n.conf:1');
  assert.equal(errorText('http { client_max_body_size 1q; }'), '"client_max_body_size" directive invalid value in /c/n.conf:1');
  assert.equal(errorText('http { server { location / { root /a; alias /b; } } }'),
    '"alias" directive is duplicate, "root" directive was specified earlier in /c/n.conf:1');
  assert.equal(errorText('http { server { ssl_session_timeout 1d; ssl_session_timeout 2d; } }'),
    '"ssl_session_timeout" directive is duplicate in /c/n.conf:1');
  assert.equal(errorText('http { server { location / { } location / { } } }'), 'duplicate location "/" in /c/n.conf:1');
});

test('array directives may repeat; certbot\'s shared session cache may be declared in each server', () => {
  assert.doesNotThrow(() => parseString(
    'http { server { add_header A 1; add_header B 2; listen 127.0.0.1:1; listen 127.0.0.1:2; ssl_session_cache shared:le_nginx_SSL:10m; }' +
      ' server { listen 127.0.0.1:3; ssl_session_cache shared:le_nginx_SSL:10m; } }',
    '/c/n.conf',
  ));
});

test('stream and mail are unknown unless their module is loaded', () => {
  assert.equal(errorText('stream { }'), 'unknown directive "stream" in /c/n.conf:1');
});

test('dynamic modules: their directives exist only after load_module; third-party ones are accepted and warned about', () => {
  const dir = writeConfigDir({ 'modules/ngx_http_geoip_module.so': '', 'modules/ngx_http_headers_more_filter_module.so': '' });
  const file = join(dir, 'nginx.conf');
  assert.match(errorText('http { geoip_country /x.dat; }'), /^unknown directive "geoip_country"/);
  const geoip = parseString(`load_module ${dir}/modules/ngx_http_geoip_module.so;\nhttp { geoip_country /x.dat; }\n`, file);
  assert.deepEqual(catalogueWarnings(geoip.tree).map((w) => w.directive), ['geoip_country']);
  assert.throws(() => parseString(`load_module ${dir}/modules/ngx_http_geoip_module.so;\nhttp { more_set_headers "A: b"; }\n`, file), /unknown directive "more_set_headers"/);

  const foreign = parseString(
    `load_module modules/ngx_http_headers_more_filter_module.so;\nhttp {\n  more_set_headers "Server: x";\n  server { foo_block { anything goes; } }\n}\n`,
    file,
    { prefix: dir },
  );
  assert.deepEqual(catalogueWarnings(foreign.tree).map((w) => [w.directive, w.line]), [['more_set_headers', 3], ['foo_block', 4]]);
  assert.match(catalogueWarnings(foreign.tree)[0].message, /unknown to bext/);
  assert.match(errorText('load_module /nonexistent/ngx_x.so;'), /^dlopen\(\) "\/nonexistent\/ngx_x.so" failed \(\/nonexistent\/ngx_x.so: cannot open shared object file: No such file or directory\)/);
});

test('every directive Debian\'s nginx knows is in the catalogue (none is refused as unknown)', { skip: !existsSync('/usr/sbin/nginx'), timeout: 120_000 }, async () => {
  // Candidates: the identifiers in nginx's binary; nginx -t tells which are directives (any answer
  // but "unknown directive"). A directive missing from the catalogue made bext refuse a config
  // nginx accepts (uwsgi_pass_request_headers, fastcgi_send_lowat, … before 2026-11-26).
  const known = new Set(directiveNames());
  const text = readFileSync('/usr/sbin/nginx').toString('latin1');
  const candidates = [...new Set(text.match(/(?<=\0)[a-z][a-z0-9_]{2,40}(?=\0)/g) ?? [])].filter((w) => !known.has(w));
  const dir = mkdtempSync(join(tmpdir(), 'bext-catalogue-'));
  const missing: string[] = [];
  try {
    let next = 0;
    const worker = async (n: number): Promise<void> => {
      const file = join(dir, `t${n}.conf`);
      while (next < candidates.length) {
        const name = candidates[next++]!;
        writeFileSync(file, `events {}\nhttp { ${name} x; }\n`);
        const out = await new Promise<string>((resolve) => execFile('/usr/sbin/nginx', ['-t', '-c', file], (_e, _o, stderr) => resolve(stderr)));
        if (!out.includes('unknown directive')) missing.push(name);
      }
    };
    await Promise.all(Array.from({ length: 4 }, (_, n) => worker(n)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(candidates.length > 500, `${candidates.length} candidates: the binary was not read`);
  assert.deepEqual(missing.sort(), []);
});
