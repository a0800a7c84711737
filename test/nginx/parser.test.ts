import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig, parseString, resolvePaths } from '../../src/nginx/parser.ts';
import { ConfError, type ConfNode } from '../../src/nginx/types.ts';
import { removeTempDirs, writeConfigDir } from './tempfiles.ts';

after(removeTempDirs);

const EVENTS = 'events {}\n';

function errorOf(fn: () => unknown): ConfError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfError, String(err));
    return err;
  }
  assert.fail('expected a ConfError');
}

const shape = (nodes: ConfNode[]): unknown =>
  nodes.map((n) => (n.block ? [n.directive, ...n.args, shape(n.block)] : [n.directive, ...n.args]));

test('-p/-c resolution: Debian defaults, relative -c against the prefix, conf prefix = its dir', () => {
  assert.deepEqual(resolvePaths({}), { prefix: '/usr/share/nginx/', confPrefix: '/etc/nginx/', confFile: '/etc/nginx/nginx.conf' });
  assert.deepEqual(resolvePaths({ confFile: 'nginx.conf' }), {
    prefix: '/usr/share/nginx/', confPrefix: '/usr/share/nginx/', confFile: '/usr/share/nginx/nginx.conf',
  });
  assert.deepEqual(resolvePaths({ prefix: '/srv/n', confFile: 'conf/x.conf' }), {
    prefix: '/srv/n/', confPrefix: '/srv/n/conf/', confFile: '/srv/n/conf/x.conf',
  });
});

test('the top-level file missing: open() failed without a position', () => {
  const err = errorOf(() => loadConfig({ confFile: '/nonexistent/bext/nginx.conf' }));
  assert.equal(err.message, 'open() "/nonexistent/bext/nginx.conf" failed (2: No such file or directory)');
});

test('include: nodes replaced by the included files, relative to the conf dir, sorted glob', () => {
  const dir = writeConfigDir({
    'conf/nginx.conf': `${EVENTS}http {\n  include sites/*;\n  include extra.conf;\n}\n`,
    'conf/sites/b': 'server { listen 127.0.0.1:18301; }\n',
    'conf/sites/a': '\n\nserver { listen 127.0.0.1:18300; }\n',
    'conf/sites/.hidden': 'this is not read;\n',
    'conf/extra.conf': 'gzip on;\ninclude extra.conf.d/*.conf;\n',
  });
  const loaded = loadConfig({ prefix: dir, confFile: 'conf/nginx.conf' });
  assert.deepEqual(shape(loaded.tree), [
    ['events', []],
    ['http', [['server', [['listen', '127.0.0.1:18300']]], ['server', [['listen', '127.0.0.1:18301']]], ['gzip', 'on']]],
  ]);
  const http = loaded.tree[1].block as ConfNode[];
  assert.equal(http[0].file, join(dir, 'conf/sites/a'));
  assert.equal(http[0].line, 3);
  assert.equal(http[2].file, join(dir, 'conf/extra.conf'));
  assert.deepEqual(
    loaded.files.map((f) => f.path),
    ['conf/nginx.conf', 'conf/sites/a', 'conf/sites/b', 'conf/extra.conf'].map((p) => join(dir, p)),
  );
  assert.equal(loaded.files[0].content.toString(), `${EVENTS}http {\n  include sites/*;\n  include extra.conf;\n}\n`);
});

test('a file included twice is listed once in files', () => {
  const dir = writeConfigDir({
    'nginx.conf': `${EVENTS}http { include a.conf; server { listen 127.0.0.1:18302; include a.conf; } }\n`,
    'a.conf': 'gzip on;\n',
  });
  const loaded = loadConfig({ prefix: dir, confFile: join(dir, 'nginx.conf') });
  assert.deepEqual(loaded.files.map((f) => f.path), [join(dir, 'nginx.conf'), join(dir, 'a.conf')]);
});

test('missing plain include is an error at the include; a glob with no match is not', () => {
  const dir = writeConfigDir({ 'nginx.conf': `${EVENTS}http {\ninclude none/*.conf;\ninclude missing.conf;\n}\n` });
  const err = errorOf(() => loadConfig({ prefix: dir, confFile: join(dir, 'nginx.conf') }));
  assert.equal(err.text, `open() "${join(dir, 'missing.conf')}" failed (2: No such file or directory)`);
  assert.deepEqual([err.file, err.line], [join(dir, 'nginx.conf'), 4]);
});

test('-g: parsed first as main context, errors in command line, duplicates against the file', () => {
  const dir = writeConfigDir({ 'nginx.conf': `${EVENTS}pid /tmp/x.pid;\n` });
  const confFile = join(dir, 'nginx.conf');
  const ok = loadConfig({ prefix: dir, confFile, globals: 'daemon off; master_process on;' });
  assert.deepEqual(ok.tree.slice(0, 2).map((n) => [n.directive, n.file]), [['daemon', 'command line'], ['master_process', 'command line']]);
  assert.equal(errorOf(() => loadConfig({ prefix: dir, confFile, globals: 'pid /a;' })).message, `"pid" directive is duplicate in ${confFile}:2`);
  assert.equal(errorOf(() => loadConfig({ prefix: dir, confFile, globals: 'nope;' })).message, 'unknown directive "nope" in command line');
  assert.equal(errorOf(() => loadConfig({ prefix: dir, confFile, globals: 'events {}' })).message, 'block directives are not supported in -g option in command line');
});

test('no events section: reported without a position', () => {
  const err = errorOf(() => parseString('http {}\n', '/x/nginx.conf', { requireEvents: true }));
  assert.equal(err.message, 'no "events" section in configuration');
  assert.doesNotThrow(() => parseString('http {}\n', '/x/nginx.conf'));
});

test('grammar errors at the right line', () => {
  const cases: [string, string][] = [
    ['http {\n server {\n', 'unexpected end of file, expecting "}" in /x/n.conf:3'],
    ['}\n', 'unexpected "}" in /x/n.conf:1'],
    ['http {\n  sendfile on {\n}\n}', 'directive "sendfile" is not terminated by ";" in /x/n.conf:2'],
    ['http;\n', 'directive "http" has no opening "{" in /x/n.conf:1'],
    ['http { types { text/html { } } }', 'unexpected "{" in /x/n.conf:1'],
    ['http {\n\n listen 80;\n}', '"listen" directive is not allowed here in /x/n.conf:3'],
    ['frobnicate;', 'unknown directive "frobnicate" in /x/n.conf:1'],
    ['http { default_type; }', 'invalid number of arguments in "default_type" directive in /x/n.conf:1'],
  ];
  for (const [text, message] of cases) assert.equal(errorOf(() => parseString(text, '/x/n.conf')).message, message, text);
});

test('blocks with free-form contents keep their entries as nodes', () => {
  const loaded = parseString('http { map $host $x { default 0; hostnames; ~^www 1; } types { text/html html htm; } }', '/x/n.conf');
  assert.deepEqual(shape(loaded.tree), [
    ['http', [['map', '$host', '$x', [['default', '0'], ['hostnames'], ['~^www', '1']]], ['types', [['text/html', 'html', 'htm']]]]],
  ]);
});

test('if blocks in server and location; rewrite-module directives allowed there', () => {
  const loaded = parseString(
    'http { server { if ($host = a) { return 301 https://$host$request_uri; } location / { if (-f $request_filename) { root /x; break; } } } }',
    '/x/n.conf',
  );
  const server = (loaded.tree[0].block as ConfNode[])[0];
  assert.equal(server.block?.[0].directive, 'if');
  assert.equal(errorOf(() => parseString('http { server { if ($a) { root /x; } } }', '/x/n.conf')).message,
    '"root" directive is not allowed here in /x/n.conf:1');
});
