// Broken (and a few borderline-valid) configurations for the differential test against real nginx.
// Each case is a set of files; `nginx.conf` is the main one. @DIR@ becomes the temp dir.

const PRE = 'pid @DIR@/nginx.pid;\nerror_log @DIR@/error.log;\nevents {}\n';
const TEMP = [
  'client_body_temp_path @DIR@/tmp/body;', 'proxy_temp_path @DIR@/tmp/proxy;', 'fastcgi_temp_path @DIR@/tmp/fastcgi;',
  'uwsgi_temp_path @DIR@/tmp/uwsgi;', 'scgi_temp_path @DIR@/tmp/scgi;', 'access_log @DIR@/access.log;',
].join('\n');

/** A main file with `body` inside http{}. */
const http = (body: string): string => `${PRE}http {\n${TEMP}\n${body}\n}\n`;
/** A main file with `body` inside a server{} on a high loopback port. */
/** A main file with a `map $host $v { … }` of `body` inside http{}. */
const mapOf = (body: string): string => http(`map $host $v {\n${body}\n}`);
const server = (body: string): string => http(`server {\nlisten 127.0.0.1:18190;\n${body}\n}`);

// A throw-away self-signed pair (CN=example.test), so nginx -t can load it.
const CERT = `-----BEGIN CERTIFICATE-----
MIIBhjCCASugAwIBAgIUBlDT6VkTTd3vrYmehvklFPPEa/cwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMZXhhbXBsZS50ZXN0MCAXDTI2MTEyNTE0MjYzN1oYDzIxMjYx
MTAxMTQyNjM3WjAXMRUwEwYDVQQDDAxleGFtcGxlLnRlc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAARFGt02GrWYmGb+TxufWQ3dTz0EVHrl0KDmxfD/I5nlULmT
eQ+JeCWh0pL8TG0aqUsAw6fv3bvl0mutzfVHPgXQo1MwUTAdBgNVHQ4EFgQUnmsr
Iau/2oenWS9Efu1ENcR0uIgwHwYDVR0jBBgwFoAUnmsrIau/2oenWS9Efu1ENcR0
uIgwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAjdxcEkM0d9Kp
I9uvN5rjHac1QsFIUoc7sJS3D+Q7/g8CIQDkUdatkAQ4Tc2YdfM+1t6cZV8t9v5b
tLHAWiFLxF7y4g==
-----END CERTIFICATE-----
`;
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVRzWGeOzbE22bMD9
oYRSKeBDMyfgIXHcxuStny9lxQuhRANCAARFGt02GrWYmGb+TxufWQ3dTz0EVHrl
0KDmxfD/I5nlULmTeQ+JeCWh0pL8TG0aqUsAw6fv3bvl0mutzfVHPgXQ
-----END PRIVATE KEY-----
`;

export interface ConfCase {
  name: string;
  files: Record<string, string>;
  globals?: string;
}

const one = (name: string, conf: string, extra: Record<string, string> = {}, globals?: string): ConfCase => ({
  name,
  files: { 'nginx.conf': conf, ...extra },
  globals,
});

export const CASES: ConfCase[] = [
  // tokenizer
  one('unexpected } at top', `${PRE}}\n`),
  one('missing ; at eof', `${PRE}worker_processes 1`),
  one('missing } at eof', `${PRE}http {\nserver {\n`),
  one('unexpected { alone', `${PRE}{\n`),
  one('unexpected ; alone', `${PRE}http { ; }\n`),
  one('char after closing quote', http('default_type "text/plain"x;')),
  one('single-quote char after closing', http("default_type 'a'b;")),
  one('quoted paren is fine', http('server { listen 127.0.0.1:18191; if ($request_uri ~ "(a)") { return 404; } }')),
  one('brace inside word is one token', server('location /a}b { return 200; }\n}')),
  one('hash inside word', server('return 200 a#b;')),
  one('unterminated quote', http('default_type "text/plain;\n')),
  one('long comment line', `${PRE}#${'x'.repeat(5000)}\nhttp {}\n`),
  one('too long quoted word', http(`default_type "${'a'.repeat(5000)}";`)),
  one('dollar brace is not a block', server('set $a 1;\nreturn 200 ${a}x;')),
  one('multiline directive', `${PRE}worker_processes\n  2\n  ;\nhttp { foo\n bar\n ;\n}\n`),
  // grammar and catalogue
  one('unknown directive', http('foo bar;')),
  one('unknown directive in include', http('include conf.d/*.conf;'), { 'conf.d/a.conf': 'gzip on;\n', 'conf.d/b.conf': '\n\nbogus_directive 1;\n' }),
  one('directive not allowed here (listen in http)', http('listen 80;')),
  one('directive not allowed in location (server_name)', server('location / { server_name a; }')),
  one('worker_connections in main', `${PRE}worker_connections 10;\n`),
  one('http inside http', http('http { }')),
  one('invalid number of arguments', http('sendfile;')),
  one('too many arguments', http('default_type a b;')),
  one('flag value', http('sendfile yes;')),
  one('flag case-insensitive ok', http('sendfile ON;')),
  one('no opening brace', http('server;')),
  one('not terminated by ;', http('sendfile on {')),
  one('block directive in -g', `${PRE}`, {}, 'http { }'),
  one('-g duplicate pid', `${PRE}http {}\n`, {}, 'pid @DIR@/other.pid;'),
  one('-g unknown directive', `${PRE}http {}\n`, {}, 'foo;'),
  one('-g missing semicolon', `${PRE}http {}\n`, {}, 'daemon off'),
  one('no events section', 'pid @DIR@/nginx.pid;\nhttp {}\n'),
  one('duplicate events', `${PRE}events {}\n`),
  one('duplicate root', server('location / { root /a; root /b; }')),
  one('root then alias', server('location / { root /a; alias /b; }')),
  one('alias in named location', server('location @x { alias /b; }')),
  one('duplicate flag same level', http('gzip on;\ngzip off;')),
  one('same flag at different levels ok', http('gzip on;\nserver { listen 127.0.0.1:18192; gzip off; location / { gzip on; } }')),
  one('duplicate proxy_pass', server('location / { proxy_pass http://127.0.0.1:9; proxy_pass http://127.0.0.1:8; }')),
  one('add_header repeated ok', server('add_header A b;\nadd_header C d always;\nadd_header E f;')),
  one('add_header bad flag', server('add_header A b sometimes;')),
  one('size value', http('client_body_buffer_size 1g;')),
  one('offset value', http('client_max_body_size 10x;')),
  one('time value', http('keepalive_timeout 30m1h;')),
  one('keepalive_timeout in milliseconds', server('keepalive_timeout 500ms;')),
  one('keepalive_timeout header time in seconds only', server('keepalive_timeout 500ms 1s;\nlocation / { keepalive_timeout 1s 500ms; }')),
  one('proxy timeouts in milliseconds', server('proxy_connect_timeout 500ms; proxy_read_timeout 1m30s; proxy_send_timeout 250ms;')),
  one('time ms not in sec slot', http('ssl_session_timeout 5ms;')),
  one('number value', http('types_hash_max_size 2k;')),
  one('enum value', http('proxy_http_version 2.0;')),
  one('bitmask value', http('ssl_protocols TLSv1.2 TLSv9;')),
  one('bounds', http('gzip_comp_level 0;')),
  one('worker_processes value', `${PRE}worker_processes many;\nhttp {}\n`),
  one('unknown user', `user nosuchuser-bext;\n${PRE}http {}\n`),
  one('event method', `pid @DIR@/nginx.pid;\nevents { use kqueue; }\n`),
  one('error_log level', http('error_log @DIR@/e.log verbose;')),
  // includes
  one('missing include', http('include missing.conf;')),
  one('glob with no match ok', http('include nothing/*.conf;')),
  one('include of a directory', http('include conf.d;'), { 'conf.d/x.conf': '' }),
  one('unbalanced } in include', http('include inc.conf;'), { 'inc.conf': 'gzip on;\n}\n' }),
  one('include relative to conf dir', http('include sub/a.conf;'), { 'sub/a.conf': 'include sub/b.conf;\n', 'sub/b.conf': 'gzip maybe;\n' }),
  // listen, server_name, location
  one('listen bad port', server('listen 70000;')),
  one('listen port 0', server('listen 0;')),
  one('listen bad parameter', server('listen 127.0.0.1:18193 fast;')),
  one('listen bad backlog', server('listen 127.0.0.1:18194 backlog=x;')),
  one('listen bad ipv6', server('listen [::1:80;')),
  one('duplicate default server', http('server { listen 127.0.0.1:18195 default_server; }\nserver { listen 127.0.0.1:18195 default_server; }')),
  one('duplicate listen options', http('server { listen 127.0.0.1:18196 backlog=10; }\nserver { listen 127.0.0.1:18196 reuseport; }')),
  // ipv6only: nginx 1.22 takes it on any address (silently: IPV6_V6ONLY is set on IPv6 sockets only)
  one('listen ipv6only on an IPv4 address', server('listen 127.0.0.1:18230 ipv6only=on;')),
  one('listen ipv6only on a specific IPv6 address', server('listen [::1]:18231 ipv6only=off;')),
  one('listen ipv6only counts as a socket option', http('server { listen 127.0.0.1:18232 ipv6only=on; }\nserver { listen 127.0.0.1:18232 ipv6only=off; }')),
  one('listen ipv6only bad flags', server('listen 127.0.0.1:18233 ipv6only=of;')),
  one('listen ipv6only= is no ipv6only', server('listen 127.0.0.1:18234 ipv6only=;')),
  one('listen colon in port', server('listen a:b:80;')),
  one('listen URI part', server('listen 127.0.0.1/x;')),
  one('listen text after IPv6', server('listen [::1]x;')),
  one('listen fastopen=0 is a number', server('listen 127.0.0.1:18235 fastopen=0;')),
  one('listen fastopen not a number', server('listen 127.0.0.1:18236 fastopen=x;')),
  one('listen accept_filter: logged at emerg and ignored on Linux', server('listen 127.0.0.1:18237 accept_filter=dataready;')),
  one('listen so_keepalive idle only', server('listen 127.0.0.1:18238 so_keepalive=1m;')),
  one('listen so_keepalive all zero', server('listen 127.0.0.1:18239 so_keepalive=::;')),
  one('listen so_keepalive bad count (text after the value)', server('listen 127.0.0.1:18239 so_keepalive=1:2:3:4;')),
  one('listen so_keepalive bad time', server('listen 127.0.0.1:18239 so_keepalive=:x:;')),
  one('listen bind counts as a socket option', http('server { listen 127.0.0.1:18244 bind; }\nserver { listen 127.0.0.1:18244 backlog=5; }')),
  one('invalid server name', server('server_name *bad.example;')),
  one('location modifier', server('location ! /a { }')),
  one('location outside parent', server('location /a { location /b { } }')),
  one('location in exact', server('location = /a { location /a/b { } }')),
  one('named location nested', server('location /a { location @b { } }')),
  one('duplicate location', server('location /a { }\nlocation /b { }\nlocation /a { }')),
  one('duplicate exact location', server('location = /a { }\nlocation /a { }\nlocation = /a { }')),
  one('duplicate location then later syntax error', `${server('location /a { }\nlocation /a { }')}\n`.replace(/\}\n$/, '}\nfoo;\n')),
  // rewrite module
  one('if without parens', server('if $host { return 404; }')),
  one('if bad operator', server('if ($host ~~ a) { return 404; }')),
  one('if too many words', server('if ($host = a b) { return 404; }')),
  one('if file test without operand', server('if (-f) { return 404; }')),
  one('if empty condition', server('if ( ) { return 404; }')),
  one('if unknown file test', server('if (-z $uri) { return 404; }')),
  one('if certbot redirect ok', server('if ($host = example.test) {\n    return 301 https://$host$request_uri;\n} # managed by Certbot\nreturn 404;')),
  one('return bad code', server('return 1000;')),
  one('return text code', server('return abc;')),
  one('return url ok', server('return https://example.test$request_uri;')),
  one('rewrite bad flag', server('rewrite ^/a /b forever;')),
  one('set bad name', server('set a 1;')),
  one('error_page code range', server('error_page 200 /x;')),
  one('error_page bad value', server('error_page abc /x;')),
  one('try_files bad code', server('location / { try_files $uri =abc; }')),
  // proxy, logs, limits, misc
  one('proxy_pass URI in regex location', server('location ~ \\.php$ { proxy_pass http://127.0.0.1:9000/x; }')),
  one('proxy_pass URI in if', server('location / { if ($host) { proxy_pass http://127.0.0.1:9000/; } }')),
  one('proxy_pass bad scheme', server('location / { proxy_pass ftp://a; }')),
  // ngx_parse_url's errors, wrapped as `… in upstream "URL-after-scheme"`, before the URI-part rule
  one('proxy_pass without host', server('location / { proxy_pass http://; }')),
  one('proxy_pass port out of range', server('location / { proxy_pass http://a:99999; }')),
  one('proxy_pass port 0 (scheme in capitals)', server('location / { proxy_pass HTTP://a:0; }')),
  one('proxy_pass empty host before port', server('location / { proxy_pass http://:80/x; }')),
  one('proxy_pass port error comes before the URI-part rule', server('location ~ /x { proxy_pass http://a:99999/x; }')),
  one('proxy_pass no host comes before the URI-part rule', server('location ~ /x { proxy_pass http:///x; }')),
  one('proxy_pass colon in port', server('location / { proxy_pass http://a:b:c; }')),
  one('proxy_pass unterminated IPv6', server('location / { proxy_pass http://[::1; }')),
  one('proxy_pass bad IPv6', server('location / { proxy_pass http://[zz]:80; }')),
  one('proxy_pass text after IPv6', server('location / { proxy_pass http://[::1]x/y; }')),
  one('proxy_pass IPv6 port takes the query', server('location / { proxy_pass http://[::1]:80?x; }')),
  one('proxy_pass unix socket without path', server('location / { proxy_pass http://unix:; }')),
  one('proxy_pass unix socket path too long', server(`location / { proxy_pass http://unix:/tmp/${'a'.repeat(110)}.sock; }`)),
  one('proxy_pass unix socket with an empty URI in a regex location', server('location ~ /x { proxy_pass http://unix:/tmp/x.sock:; }')),
  one('proxy_pass query is a URI part', server('location ~ /x { proxy_pass http://a?x:99999; }')),
  one('proxy_pass IPv6 with a URI', server('location / { proxy_pass http://[::1]:8080/y; }')),
  one('unknown log format', http('access_log @DIR@/a.log nosuch;')),
  one('log format used before defined', http('access_log @DIR@/a.log main;\nlog_format main "$remote_addr";')),
  one('duplicate log_format', http('log_format a "x";\nlog_format a "y";')),
  one('redefine combined', http('log_format combined "x";')),
  one('ssl_session_cache bad', http('ssl_session_cache shared:x;')),
  one('limit_req_zone small zone size', http('limit_req_zone $binary_remote_addr zone=z:1k rate=1r/s;')),
  one('limit_req_zone no zone', http('limit_req_zone $binary_remote_addr rate=1r/s;')),
  one('limit_req_zone bad rate', http('limit_req_zone $binary_remote_addr zone=z:1m rate=fast;')),
  one('limit_req bad parameter', http('limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\nserver { listen 127.0.0.1:18197; limit_req zone=z burst=x; }')),
  one('limit_conn bad number', http('limit_conn_zone $binary_remote_addr zone=c:1m;\nlimit_conn c x;')),
  one('allow bad address', server('allow 10.0.0.300;')),
  one('expires bad', server('expires soon;')),
  one('upstream bad server parameter', http('upstream u { server 127.0.0.1:1 weight=0; }')),
  one('duplicate upstream', http('upstream u { server 127.0.0.1:1; }\nupstream u { server 127.0.0.1:2; }')),
  one('map bad variable', http('map $host a { default 1; }')),
  one('map entry with three words', http('map $host $a { default 1 2; }')),
  // ngx_hash_add_key with `hostnames`: which duplicate keys conflict (message with the key lowercased),
  // which keys are not hostnames or wildcards (message as written), and which pairs coexist.
  one('map hostnames: *.x twice', mapOf('hostnames;\n*.x 1;\n*.x 2;')),
  one('map hostnames: *.x then .x', mapOf('hostnames;\n*.x 1;\n.x 2;')),
  one('map hostnames: .x then *.x', mapOf('hostnames;\n.x 1;\n*.X 2;')),
  one('map hostnames: .x twice', mapOf('hostnames;\n.x 1;\n.x 2;')),
  one('map hostnames: .x then exact x', mapOf('hostnames;\n.x 1;\nx 2;')),
  one('map hostnames: exact x then .x', mapOf('hostnames;\nx 1;\n.X 2;')),
  one('map hostnames: exact x then escaped .x', mapOf('hostnames;\nx 1;\n\\.x 2;')),
  one('map hostnames: x.* twice', mapOf('hostnames;\nx.* 1;\nX.* 2;')),
  one('map hostnames: exact key twice, second uppercase', mapOf('hostnames;\nx 1;\nX 2;')),
  one('map without hostnames: exact key twice, second uppercase', mapOf('x 1;\nX 2;')),
  one('map hostnames: regex twice ok', mapOf('hostnames;\n~^a 1;\n~^a 2;')),
  one('map hostnames: *.x with exact x, x.* with x. ok', mapOf('hostnames;\n*.x 1;\nx 2;\nx.* 3;\nx. 4;\n*.y 5;\ny.* 6;')),
  one('map hostnames: keys before hostnames are exact ok', mapOf('*.x 1;\n.y 2;\nhostnames;\n*.x 3;\ny 4;')),
  one('map without hostnames: wildcard-like keys ok', mapOf('*.x 1;\n.x 2;\nx.* 3;\na..b 4;\n* 5;')),
  one('map hostnames: a lone *', mapOf('hostnames;\n* 1;')),
  one('map hostnames: *. too short', mapOf('hostnames;\n*. 1;')),
  one('map hostnames: star inside', mapOf('hostnames;\nA*B 1;')),
  one('map hostnames: two stars', mapOf('hostnames;\n*.x.* 1;')),
  one('map hostnames: double dot', mapOf('hostnames;\na..b 1;')),
  one('map duplicate default', mapOf('default 1;\nhostnames;\ndefault 2;')),
  one('types block with brace', http('types { text/html { } }')),
  one('limit_except bad method', server('location / { limit_except BREW { deny all; } }')),
  one('stream without module', `${PRE}stream { }\n`),
  one('load_module missing file', `load_module modules/ngx_stream_module.so;\n${PRE}`),
  one('set a built-in variable', server('set $remote_addr 1;')),
  one('set changeable and prefixed variables ok', server('set $args a; set $limit_rate 1k; set $http_x_custom 1;')),
  one('map onto a built-in variable', http('map $uri $host { default 1; }')),
  one('root with $document_root', server('root $document_root/x;')),
  one('split_clients over 100%', http('split_clients $remote_addr $variant {\n  50% a;\n  60% b;\n}')),
  one('split_clients bad percent', http('split_clients $remote_addr $variant {\n  5x a;\n}')),
  one('split_clients ok', http('split_clients "${remote_addr}AAA" $variant {\n  0.5% a;\n  49.5% b;\n  * c;\n}')),
  one('unknown variable in return', server('return 200 "x $nosuchvar";')),
  one('unknown variable in if', server('location / { if ($undefined_flag) { return 404; } }')),
  one('variables from set, map, captures and prefixes ok', http(
    'map $http_upgrade $conn_upgrade { default upgrade; "" close; }\n' +
    'server { listen 127.0.0.1:18198; server_name ~^(?<sub>[a-z]+)\\.example\\.test$;\n' +
    'location ~ ^/u/(?P<user>[0-9]+)$ { set $who "$sub-$user"; return 200 "$who $1 $arg_q $cookie_c $http_x_y $sent_http_etag $conn_upgrade ${server_protocol}"; } }')),
  one('unknown variable after duplicate location', server('location /a { }\nlocation /a { return 200 $nope; }')),
  one('listen ssl without certificate', http('server {\nlisten 127.0.0.1:18210 ssl;\n}')),
  one('listen ssl: the default server of the address is checked', http(
    'server {\nlisten 127.0.0.1:18211;\n}\nserver {\nlisten 127.0.0.1:18212 ssl;\nssl_reject_handshake on;\n}\n' +
    'server {\nlisten 127.0.0.1:18211 ssl default_server;\n}')),
  one('listen ssl with the certificate inherited from http', http(
    'ssl_certificate @DIR@/certs/example.pem;\nssl_certificate_key @DIR@/certs/example.key;\nserver {\nlisten 127.0.0.1:18213 ssl;\n}'),
    { 'certs/example.pem': CERT, 'certs/example.key': KEY }),
  one('ssl on without certificate', server('ssl on;')),
  one('certificate file missing', server('ssl_certificate @DIR@/nope.pem;\nssl_certificate_key @DIR@/certs/example.key;'),
    { 'certs/example.key': KEY }),
  one('certificate key file missing (relative to the conf dir)', server('ssl_certificate certs/example.pem;\nssl_certificate_key nokey.pem;'),
    { 'certs/example.pem': CERT }),
  one('certificate without its key', server('listen 127.0.0.1:18214 ssl;\nssl_certificate certs/example.pem;'), { 'certs/example.pem': CERT }),
  one('certificate file is not PEM', server('ssl_certificate certs/example.key;\nssl_certificate_key certs/example.pem;'),
    { 'certs/example.pem': CERT, 'certs/example.key': KEY }),
  one('key file is not PEM', server('ssl_certificate certs/example.pem;\nssl_certificate_key certs/junk;'),
    { 'certs/example.pem': CERT, 'certs/junk': 'junk\n' }),
  one('ssl_session_ticket_key file missing', server('ssl_certificate certs/example.pem;\nssl_certificate_key certs/example.key;\nssl_session_ticket_key @DIR@/nokey.bin;'),
    { 'certs/example.pem': CERT, 'certs/example.key': KEY }),
  one('ssl_session_ticket_key file neither 48 nor 80 bytes', server('ssl_certificate certs/example.pem;\nssl_certificate_key certs/example.key;\nssl_session_ticket_key ticket.key;'),
    { 'certs/example.pem': CERT, 'certs/example.key': KEY, 'ticket.key': 'k'.repeat(47) }),
  one('ssl_session_ticket_key from http, a later file wrong', http(
    'ssl_certificate @DIR@/certs/example.pem;\nssl_certificate_key @DIR@/certs/example.key;\n' +
    'ssl_session_ticket_key @DIR@/good.key;\nssl_session_ticket_key @DIR@/bad.key;\nserver { listen 127.0.0.1:18216; }\n'),
    { 'certs/example.pem': CERT, 'certs/example.key': KEY, 'good.key': 'g'.repeat(48), 'bad.key': 'b'.repeat(81) }),
  one('http-level certificate loaded for each server', http('ssl_certificate @DIR@/gone.pem;\nssl_certificate_key @DIR@/gone.key;\nserver { listen 127.0.0.1:18215; }')),
  one('limit_except twice', server('location / { limit_except GET { deny all; } limit_except POST { deny all; } }')),
  one('resolver twice', http('resolver 127.0.0.1;\nresolver 127.0.0.2;')),
  one('limit_req_zone rebound to another key', http('limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\nlimit_req_zone $server_name zone=z:1m rate=1r/s;')),
  one('ssl_session_cache too small', http('ssl_session_cache shared:x:1k;')),
  one('http2 directive unknown in 1.22', server('http2 on;')),
  one('ssl deprecated warning is fine', server('ssl off;')),
];

/**
 * Valid configurations on which nginx prints `[warn]`s while reading: the warnings, their order and
 * whether they carry `in FILE:LINE` must match up to "syntax is ok".
 */
export const WARN_CASES: ConfCase[] = [
  one('conflicting server names: no file:line, before syntax is ok', http(
    'server { listen 127.0.0.1:18240; server_name x X; }\nserver { listen 127.0.0.1:18240; server_name x y; }\n' +
    'server { listen 127.0.0.1:18241; server_name *.a.test; }\nserver { listen 127.0.0.1:18241; server_name .a.test; }')),
  one('one server alone: its repeated names are never compared', server('server_name a a A;')),
  one('one server whose regex name has captures: repeated names conflict', server('server_name a a ~^(b)$;')),
  one('duplicate MIME extensions, across types blocks and lowercased', server(
    'types { text/a aa; text/b AA\n  ab; }\ntypes { text/c ab; }\nlocation / { types { text/d aa; } }')),
  one('parse warnings and conflicting names in nginx order', http(
    'server { listen 127.0.0.1:18242; server_name z; ssl off; }\nserver { listen 127.0.0.1:18242; server_name z; types { a/b c; a/d c; } }')),
];
