import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLocation } from '../../src/config/select.ts';
import { effectiveProxyHeaders } from '../../src/config/settings.ts';
import { conv, http } from './helpers.ts';

test('add_header and proxy_set_header are inherited only by levels that define none', () => {
  const { state } = conv(http(`
    add_header X-Http 1;
    proxy_set_header X-A a;
    server { listen 80;
      add_header X-Server 1 always;
      location /inherit { }
      location /own { add_header X-Own 1; proxy_set_header X-B b; proxy_pass http://127.0.0.1:1; }
      location /nested { location /nested/deeper { } }
    }
    server { listen 81; }
  `));
  const [s1, s2] = state.servers;
  const h = (uri: string, s = s1!) => findLocation(s, uri).conf;
  assert.deepEqual(h('/inherit').addHeaders, [{ name: 'X-Server', value: '1', always: true }]);
  assert.deepEqual(h('/own').addHeaders, [{ name: 'X-Own', value: '1', always: false }]);
  assert.deepEqual(h('/nested/deeper').addHeaders.map((x) => x.name), ['X-Server']);
  assert.deepEqual(h('/', s2).addHeaders.map((x) => x.name), ['X-Http']);
  assert.deepEqual(h('/inherit').proxySetHeaders, [{ name: 'X-A', value: 'a' }]);
  assert.deepEqual(h('/own').proxySetHeaders, [{ name: 'X-B', value: 'b' }]);
  assert.deepEqual(effectiveProxyHeaders(h('/own').proxySetHeaders), [
    { name: 'X-B', value: 'b' },
    { name: 'Host', value: '$proxy_host' },
    { name: 'Connection', value: 'close' },
  ]);
  assert.deepEqual(effectiveProxyHeaders([{ name: 'host', value: '$host' }]).map((x) => x.value), ['$host', 'close']);
});

test('scalars merge down; root, alias and logs resolve against the prefix', () => {
  const { state } = conv(http(`
    root www;
    client_max_body_size 10m;
    server { listen 80;
      access_log logs/site.log;
      location /a/ { alias /srv/a/; client_max_body_size 0; }
      location /b { root /srv/b/; }
      location /c { }
      location /off { access_log off; }
    }
  `));
  const s = state.servers[0]!;
  const c = (uri: string) => findLocation(s, uri).conf;
  assert.deepEqual(c('/c').root, { path: '/usr/share/nginx/www', alias: false, hasVariables: false });
  assert.deepEqual(c('/a/x').root, { path: '/srv/a/', alias: true, hasVariables: false });
  assert.equal(c('/b').root.path, '/srv/b');
  assert.equal(c('/c').clientMaxBodySize, 10 * 1024 * 1024);
  assert.equal(c('/a/').clientMaxBodySize, 0);
  assert.deepEqual(c('/c').accessLog, [{ path: '/usr/share/nginx/logs/site.log', format: 'combined' }]);
  assert.equal(c('/off').accessLog, 'off');
  assert.equal(c('/c').index[0], 'index.html');
  assert.equal(c('/c').defaultType, 'text/plain');
});

test('proxy_pass is parsed; the URI part is refused where nginx refuses it', () => {
  const { state } = conv(http(`
    upstream backend { server 127.0.0.1:3000; }
    server { listen 80;
      location /a/ { proxy_pass http://backend/v1/; }
      location /b/ { proxy_pass https://example.com:8443; }
      location ~ ^/c { proxy_pass http://backend; }
      location /d/ { proxy_pass http://$host:8080/x$request_uri; }
      location /e/ { proxy_pass http://unix:/run/app.sock:/api/; }
      location /f/ { proxy_pass http://[::1]:8080/y?z; }
      location /g/ { proxy_pass http://a?b; }
    }
  `));
  const p = (uri: string) => findLocation(state.servers[0]!, uri).conf.proxyPass;
  assert.deepEqual(p('/a/'), { raw: 'http://backend/v1/', scheme: 'http', host: 'backend', upstream: 'backend', uri: '/v1/', hasVariables: false });
  assert.deepEqual(p('/b/'), { raw: 'https://example.com:8443', scheme: 'https', host: 'example.com:8443', port: 8443, hasVariables: false });
  assert.equal(p('/c')?.uri, undefined);
  assert.equal(p('/d/')?.hasVariables, true);
  assert.equal(p('/e/')?.scheme, 'unix');
  assert.equal(p('/e/')?.uri, '/api/');
  assert.equal(p('/e/')?.host, 'unix:/run/app.sock');
  assert.deepEqual(p('/f/'), { raw: 'http://[::1]:8080/y?z', scheme: 'http', host: '[::1]:8080', port: 8080, uri: '/y?z', hasVariables: false });
  assert.deepEqual(p('/g/'), { raw: 'http://a?b', scheme: 'http', host: 'a', uri: '?b', hasVariables: false });
  for (const where of ['location ~ ^/x { proxy_pass http://b/; }', 'location @n { proxy_pass http://b/; }', 'location /x { if ($arg_a) { proxy_pass http://b/; } }']) {
    assert.throws(
      () => conv(http(`upstream b { server 127.0.0.1; } server { listen 80; ${where} }`)),
      /^ConfError: "proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in \/etc\/nginx\/nginx.conf:3$/,
    );
  }
});

test('rewrite programs: server level and location level, with if blocks as pseudo-locations', () => {
  const { state } = conv(http(`
    server { listen 80;
      rewrite ^(/.well-known/acme-challenge/.*) $1 break;
      if ($host = example.com) { return 301 https://$host$request_uri; }
      set $x 1;
      location / {
        add_header X-Loc 1;
        if ($request_uri ~* "^/A(?<rest>.*)") { add_header X-If 1; }
        if (-f $request_filename) { break; }
        rewrite ^/old/(.*)$ /new/$1 permanent;
        return 404;
      }
    }
  `));
  const s = state.servers[0]!;
  assert.deepEqual(s.conf.rewrite.map((o) => o.op), ['rewrite', 'if', 'set']);
  const ifOp = s.conf.rewrite[1]!;
  assert.ok(ifOp.op === 'if');
  assert.deepEqual(ifOp.condition, { kind: 'compare', op: '=', left: '$host', right: 'example.com' });
  assert.deepEqual(ifOp.block.rewrite.map((o) => o.op === 'return' && [o.code, o.text]), [[301, 'https://$host$request_uri']]);
  const loc = findLocation(s, '/').conf;
  assert.deepEqual(loc.rewrite.map((o) => o.op), ['if', 'if', 'rewrite', 'return']);
  const first = loc.rewrite[0]!;
  assert.ok(first.op === 'if' && first.condition.kind === 'regex');
  assert.equal(first.condition.regex.exec('/abc')?.groups?.rest, 'bc');
  // The if block inherits the location's settings, with its own add_header replacing them.
  assert.deepEqual(first.block.addHeaders.map((h) => h.name), ['X-If']);
  const second = loc.rewrite[1]!;
  assert.ok(second.op === 'if');
  assert.deepEqual(second.condition, { kind: 'file', op: '-f', operand: '$request_filename' });
  assert.deepEqual(second.block.addHeaders.map((h) => h.name), ['X-Loc']);
  const rw = loc.rewrite[2]!;
  assert.ok(rw.op === 'rewrite' && rw.flag === 'permanent' && rw.regex.test('/old/x'));
});

test('error_page, limit_except, types, expires and access rules', () => {
  const { state } = conv(http(`
    types { text/html html htm; application/json json; }
    limit_req_zone $binary_remote_addr zone=z:1m rate=10r/s;
    server { listen 80;
      error_page 404 /404.html;
      error_page 500 502 =200 /50x.html;
      deny 10.0.0.0/8;
      allow all;
      location /a { limit_except GET { deny all; } expires 1h; limit_req zone=z burst=5 nodelay; }
      location /b { error_page 403 = @x; expires epoch; }
    }
  `));
  const s = state.servers[0]!;
  const a = findLocation(s, '/a').conf;
  const b = findLocation(s, '/b').conf;
  assert.deepEqual(a.errorPages, [{ codes: [404], uri: '/404.html' }, { codes: [500, 502], overwrite: 200, uri: '/50x.html' }]);
  assert.deepEqual(b.errorPages, [{ codes: [403], overwrite: 'upstream', uri: '@x' }]);
  assert.deepEqual(a.limitExcept?.methods, ['GET']);
  assert.deepEqual(a.limitExcept?.conf.access, [{ allow: false, what: 'all' }]);
  assert.deepEqual(a.access, [{ allow: false, what: '10.0.0.0/8' }, { allow: true, what: 'all' }]);
  assert.equal(a.expires?.seconds, 3600);
  assert.equal(b.expires?.kind, 'epoch');
  assert.deepEqual(a.limitReq, [{ zone: 'z', burst: 5, nodelay: true }]);
  assert.equal(a.types.get('htm'), 'text/html');
  assert.equal(a.types.get('json'), 'application/json');
});
