// Differential: Debian's stock http{} block and default site (as /etc/nginx/nginx.conf and
// sites-available/default ship them, paths and ports moved), plus a typical user vhost next to it
// (single-page app fallback, `.ht` denial, static caching), over IPv4 and IPv6, with and without
// gzip negotiation (bodies compared decompressed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { accessLogDiff, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Outcome, type Pair } from './harness.ts';

const CONF = wrapConfig(`
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
	ssl_prefer_server_ciphers on;
	gzip on;

server {
	listen 127.0.0.1:@P1@ default_server;
	listen [::1]:@P1@ default_server;
	root @SITE@/html;
	index index.html index.htm index.nginx-debian.html;
	server_name _;
	location / {
		try_files $uri $uri/ =404;
	}
}

server {
	listen 127.0.0.1:@P1@;
	listen [::1]:@P1@;
	server_name app.example www.app.example;
	root @SITE@/app;
	index index.html;
	location / {
		try_files $uri $uri/ /index.html;
	}
	location ~ /\\.ht {
		deny all;
	}
	location ~* \\.(css|js|png)$ {
		expires 7d;
		add_header Cache-Control "public";
	}
	location = /health { access_log off; return 200 "ok\\n"; }
}
`);

const PAGE = '<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n' + '<p>filler text for compression</p>\n'.repeat(40) + '</body>\n</html>\n';
const FILES = {
  'html/index.nginx-debian.html': PAGE,
  'html/robots.txt': 'User-agent: *\nDisallow:\n',
  'html/sub/index.htm': 'htm\n',
  'app/index.html': '<div id="app"></div>\n'.repeat(10),
  'app/.htaccess': 'deny from all\n',
  'app/static/app.js': 'console.log("app");\n'.repeat(20),
  'app/static/site.css': 'body{margin:0}\n',
  'app/static/logo.png': 'PNG\n',
};

let pair: Pair | undefined;
let site = '';
before(async () => {
  if (!haveNginx) return;
  site = makeSite(FILES);
  pair = await startPair(CONF, site, ['P1']);
});
after(async () => {
  await pair?.stop();
  if (site) rmSync(site, { recursive: true, force: true });
});

const GZ: [string, string][] = [['Accept-Encoding', 'gzip, deflate, br']];
const d = (name: string, target: string, extra: Partial<Case> = {}): Case => ({ name, port: 'P1', target, host: 'localhost', compare: ['content-encoding', 'vary'], ...extra });
const a = (name: string, target: string, extra: Partial<Case> = {}): Case => d(name, target, { host: 'app.example', ...extra });
const v6 = { address: '::1' };

const CASES: Case[] = [
  d('debian welcome page', '/'),
  d('debian welcome page HEAD', '/', { method: 'HEAD' }),
  d('debian welcome page gzip', '/', { headers: GZ }),
  d('debian welcome page gzip HEAD', '/', { method: 'HEAD', headers: GZ }),
  d('debian welcome page gzip, HTTP/1.0', '/', { headers: GZ, http10: true }),
  d('robots.txt (not gzip-typed)', '/robots.txt', { headers: GZ }),
  d('directory index.htm', '/sub/'),
  d('directory redirect', '/sub'),
  d('missing → 404', '/nope'),
  d('missing → 404 gzip', '/nope', { headers: GZ }),
  d('server_name _ is not special', '/', { host: '_' }),
  d('unknown host → default', '/', { host: 'whatever.example' }),
  d('over IPv6', '/', v6),
  d('over IPv6 redirect', '/sub', { ...v6, host: null, http10: true }),
  d('range on welcome page', '/', { headers: [['Range', 'bytes=0-15']] }),
  d('range with gzip asked', '/', { headers: [...GZ, ['Range', 'bytes=0-15']] }),
  d('welcome page 304', '/', { headers: [['If-Modified-Since', new Date(Date.now() + 86_400_000).toUTCString()]] }),
  a('app index', '/'),
  a('app deep link → SPA fallback', '/users/42/profile'),
  a('app deep link with args', '/search?q=nginx'),
  a('app .htaccess denied', '/.htaccess'),
  a('app .htpasswd denied (missing)', '/.htpasswd'),
  a('app js cached', '/static/app.js'),
  a('app js gzip', '/static/app.js', { headers: GZ }),
  a('app css', '/static/site.css'),
  a('app png', '/static/logo.png'),
  a('app missing js (regex location, no fallback)', '/static/none.js'),
  a('app www alias', '/', { host: 'www.app.example' }),
  a('app health', '/health'),
  a('app over IPv6', '/users/1', v6),
  a('app POST to SPA fallback', '/form', { method: 'POST', body: 'a=1' }),
];

/** Bodies compared decompressed: the compressed bytes depend on each side's zlib settings. */
function gunzipBodies(o: Outcome): Outcome {
  const unzip = (raw: Outcome['rawNginx'], n: Outcome['nginx']) => {
    if (n.headers['content-encoding'] !== 'gzip' || raw.body.length === 0) return n;
    try { return { ...n, body: gunzipSync(raw.body).toString('latin1') }; } catch { return n; }
  };
  const nginx = unzip(o.rawNginx, o.nginx);
  const bext = unzip(o.rawBext, o.bext);
  return { ...o, nginx, bext, same: JSON.stringify(nginx) === JSON.stringify(bext) };
}

test('Debian default site and a user vhost: nginx and bext answer alike', { skip: !haveNginx, timeout: 80_000 }, async () => {
  const outcomes = (await runCases(pair!, CASES)).map(gunzipBodies);
  const { unexpected } = report('debian default', outcomes);
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
});

// Differs on purpose: $body_bytes_sent of a gzipped response is the compressed size, and nginx
// sizes zlib's window and memory to the response while Node's zlib uses its defaults. The lines of
// the paths fetched with gzip are compared with that number masked, and $bytes_sent by the head's
// part of it ($bytes_sent - $body_bytes_sent).
const GZIPPED = /"GET (\/|\/nope|\/static\/app\.js) HTTP\/1\.[01]" (200|404) \d+/;
const GZIPPED_SIZES = /("GET (?:\/|\/nope|\/static\/app\.js) HTTP\/1\.[01]" (?:200|404)) (\d+) (".*") (\d+)$/;
test('access log lines match nginx', { skip: !haveNginx, timeout: 10_000 }, async () => {
  const diff = await accessLogDiff(pair!);
  const mask = (lines: string[]) => lines
    .map((l) => l.replace(GZIPPED_SIZES, (_, request: string, body: string, quoted: string, total: string) => `${request} N ${quoted} head=${Number(total) - Number(body)}`))
    .sort();
  const masked = (lines: string[]) => lines.filter((l) => GZIPPED.test(l)).length;
  process.stdout.write(`# access log: ${diff.lines} lines, ${diff.onlyNginx.length + diff.onlyBext.length} different before masking gzip sizes (${masked(diff.onlyNginx)} lines)\n`);
  assert.deepEqual(mask(diff.onlyBext), mask(diff.onlyNginx));
});
