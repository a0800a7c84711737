// Semantic errors nginx reports at config time, with its text and file:line. Where real nginx is
// installed, each case is also checked against `nginx -t`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfError } from '../../src/nginx/types.ts';
import { conv } from './helpers.ts';

const NGINX = '/usr/sbin/nginx';

/** nginx -t's emerg line for `text`, with "in FILE:LINE" as nginx prints it, or undefined if it passes. */
function realNginx(text: string, file: string): string | undefined {
  try {
    execFileSync(NGINX, ['-t', '-p', join(file, '..') + '/', '-c', file], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    const out = String((err as { stderr: Buffer }).stderr);
    return /\[emerg\] \d+#\d+: (.*)/.exec(out)?.[1];
  }
}

const cases: [string, string, string][] = [
  ['duplicate default server', 'server {\nlisten 18091 default_server;\n}\nserver {\nlisten 18091 default_server;\n}', 'a duplicate default server for 0.0.0.0:18091 in FILE:8'],
  ['duplicate listen options', 'server { listen [::]:18091 ipv6only=on; }\nserver {\n listen [::]:18091 ipv6only=on; }', 'duplicate listen options for [::]:18091 in FILE:6'],
  ['duplicate listen in one server', 'server { listen 18091;\nlisten 18091; }', 'a duplicate listen 0.0.0.0:18091 in FILE:5'],
  ['duplicate location', 'server { listen 18091;\nlocation /x { }\nlocation /x { } }', 'duplicate location "/x" in FILE:6'],
  ['duplicate exact location', 'server { listen 18091;\nlocation = /x { }\nlocation = /x { } }', 'duplicate location "/x" in FILE:6'],
  ['nested duplicate', 'server { listen 18091;\nlocation /x {\nlocation /x/a { }\nlocation /x/a { } } }', 'duplicate location "/x/a" in FILE:7'],
  ['outside location', 'server { listen 18091; location /a {\nlocation /b { } } }', 'location "/b" is outside location "/a" in FILE:5'],
  ['inside exact', 'server { listen 18091; location = /a {\nlocation /a { } } }', 'location "/a" cannot be inside the exact location "/a" in FILE:5'],
  ['nested named', 'server { listen 18091; location /a {\nlocation @b { } } }', 'named location "@b" can be on the server level only in FILE:5'],
  ['proxy_pass uri in regex', 'server { listen 18091;\nlocation ~ /x { proxy_pass http://127.0.0.1/b; } }',
    '"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in FILE:5'],
  ['unknown limit_req zone', 'server { listen 18091; location / { limit_req zone=two; } }', 'zero size shared memory zone "two"'],
  ['ssl without certificate', 'server {\nlisten 18443 ssl; }', 'no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:4'],
  ['ssl default server without certificate', 'server {\nlisten 18443; }\nserver { listen 18443 ssl; ssl_certificate DIR/c.pem; ssl_certificate_key DIR/k.pem; }',
    'no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:4'],
  ['verified clients without a CA', 'server {\nlisten 18443 ssl; ssl_certificate DIR/c.pem; ssl_certificate_key DIR/k.pem; ssl_verify_client optional; }',
    'no ssl_client_certificate for ssl_verify_client'],
  ['verified upstream without a CA', 'server { listen 18091;\nlocation / { proxy_pass https://127.0.0.1:1; proxy_ssl_verify on; } }',
    'no proxy_ssl_trusted_certificate for proxy_ssl_verify'],
  ['upstream client certificate without a key', 'server { listen 18091;\nlocation / { proxy_pass https://127.0.0.1:1; proxy_ssl_certificate c.pem; } }',
    'no "proxy_ssl_certificate_key" is defined for certificate "c.pem"'],
  ['empty upstream', 'upstream u { }\nserver { listen 18091; }', 'no servers are inside upstream in FILE:4'],
  ['combined redefined', 'log_format combined x;', 'duplicate "log_format" name "combined" in FILE:4'],
  ['unknown log format', 'server { listen 18091; access_log /dev/null foo; }', 'unknown log format "foo" in FILE:4'],
  ['proxy_pass without host', 'server { listen 18091;\nlocation / { proxy_pass http://; } }', 'no host in upstream "" in FILE:5'],
  ['fastcgi_param with a third argument', 'server { listen 18091;\nlocation / { fastcgi_param A b c; } }', 'invalid parameter "c" in FILE:5'],
  ['fastcgi_split_path_info with one capture', 'server { listen 18091;\nlocation / { fastcgi_split_path_info ^(.+)$; } }', 'pattern "^(.+)$" must have 2 captures in FILE:5'],
  ['fastcgi_pass port', 'server { listen 18091;\nlocation / { fastcgi_pass 127.0.0.1:abc; } }', 'invalid port in upstream "127.0.0.1:abc" in FILE:5'],
  ['fastcgi_pass socket without a path', 'server { listen 18091;\nlocation / { fastcgi_pass unix:; } }', 'no path in the unix domain socket in upstream "unix:" in FILE:5'],
  ['uwsgi_pass port, with its scheme', 'server { listen 18091;\nlocation / { uwsgi_pass uwsgi://127.0.0.1:abc; } }', 'invalid port in upstream "127.0.0.1:abc" in FILE:5'],
  ['scgi_pass socket without a path', 'server { listen 18091;\nlocation / { scgi_pass unix:; } }', 'no path in the unix domain socket in upstream "unix:" in FILE:5'],
  ['proxy_pass port out of range', 'server { listen 18091;\nlocation / { proxy_pass http://a:99999; } }', 'invalid port in upstream "a:99999" in FILE:5'],
  ['listen ipv6only bad flags', 'server {\nlisten 127.0.0.1:18091 ipv6only=oui; }', 'invalid ipv6only flags "oui" in FILE:5'],
  ['zone too small', 'limit_req_zone $binary_remote_addr zone=one:1k rate=1r/s;', 'zone "zone=one:1k" is too small in FILE:4'],
];

test('config-time errors carry nginx\'s text and file:line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-converr-'));
  try {
    const file = join(dir, 'nginx.conf');
    // nginx loads certificates before it checks the default server's: give it a real pair.
    let haveCert = true;
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', '/CN=t', '-days', '2'], { stdio: 'ignore' });
    } catch {
      haveCert = false;
    }
    for (const [label, rawBody, expected] of cases) {
      const body = rawBody.replaceAll('DIR', dir);
      // Logs and temp dirs in the test dir so that nginx -t also works unprivileged; lines stay put.
      const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`).join(' ');
      const text = `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {} http { access_log off; ${temp}\n${body}\n}\n`;
      const want = expected.replace('FILE', file);
      assert.throws(() => conv(text, { file }), (e: unknown) => {
        assert.ok(e instanceof ConfError, label);
        assert.equal(e.message, want, label);
        return true;
      }, label);
      if (existsSync(NGINX) && (haveCert || !body.includes('ssl_certificate'))) {
        writeFileSync(file, text);
        assert.equal(realNginx(text, file), want, `real nginx: ${label}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what nginx accepts converts: keepalive_timeout in ms, ipv6only on any address', () => {
  const { state, warnings } = conv('events {} http {\nserver { listen 127.0.0.1:18091 ipv6only=on; listen [::1]:18091 ipv6only=off; keepalive_timeout 500ms 10; } }\n');
  assert.equal(state.servers[0]!.conf.keepaliveTimeoutMs, 500);
  assert.equal(state.listens.find((l) => l.key === '[::1]:18091')!.ipv6only, false);
  // ipv6only is a socket option: the IPv4 address gets a socket of its own, with no warning.
  assert.equal(state.listens.find((l) => l.key === '127.0.0.1:18091')!.bound, true);
  assert.deepEqual(warnings.filter((w) => w.directive === 'listen'), []);
});

test('what nginx accepts converts: repeated regex and named locations, same name twice in a server', () => {
  const body = 'server { listen 18091; server_name a a; location ~ /x { } location ~ /x { } location @n { } location @n { } }';
  assert.doesNotThrow(() => conv(`events {} http {\n${body}\n}\n`));
});
