import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { runOurs } from './harness.ts';
import { removeTempDirs, writeConfigDir } from './tempfiles.ts';
import { checkCommand } from '../../src/nginx/check.ts';
import { Writable } from 'node:stream';
import { makeCert } from '../serving/harness.ts';

after(removeTempDirs);

const GOOD = 'pid @DIR@/nginx.pid;\nevents {}\nhttp {\n  server {\n    listen 127.0.0.1:18400;\n    ssi on;\n  }\n}\n';
const BAD = 'events {}\nhttp {\n  include inc.conf;\n}\n';

test('success: the two nginx lines, then bext warnings as nginx: [warn] … in FILE:LINE', async () => {
  const dir = writeConfigDir({ 'nginx.conf': GOOD });
  const conf = join(dir, 'nginx.conf');
  const r = await runOurs(dir);
  assert.equal(r.code, 0);
  const lines = r.stderr.split('\n');
  assert.deepEqual(lines.slice(0, 2), [
    `nginx: the configuration file ${conf} syntax is ok`,
    `nginx: configuration file ${conf} test is successful`,
  ]);
  assert.ok(lines.includes(`nginx: [warn] the "ssi" directive is not supported by bext (server-side includes are not implemented), ignored in ${conf}:6`), r.stderr);
  assert.equal(r.stdout, '');
});

test('-q hides only the success lines', async () => {
  const dir = writeConfigDir({ 'nginx.conf': GOOD });
  const r = await runOurs(dir, { quiet: true });
  assert.equal(r.code, 0);
  assert.doesNotMatch(r.stderr, /syntax is ok|test is successful/);
  assert.match(r.stderr, /\[warn\] the "ssi" directive/);
});

test('failure: error line, "test failed", exit 1, nothing dumped; -e FILE gets the timestamped line', async () => {
  const dir = writeConfigDir({ 'nginx.conf': BAD, 'inc.conf': '\nfoo;\n' });
  const r = await runOurs(dir, { dump: true });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `nginx: [emerg] unknown directive "foo" in ${join(dir, 'inc.conf')}:2\nnginx: configuration file ${join(dir, 'nginx.conf')} test failed\n`);
  assert.equal(r.stdout, '');
  assert.match(readFileSync(join(dir, 'error.log'), 'utf8'), /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[emerg\] \d+#\d+: unknown directive "foo" in .*inc\.conf:2\n$/);
});

test('Debian default (-e stderr): the log is stderr, so errors are timestamped there', async () => {
  const dir = writeConfigDir({ 'nginx.conf': BAD, 'inc.conf': 'foo;\n' });
  const err = new Sink();
  const code = await checkCommand({ prefix: `${dir}/`, confFile: join(dir, 'nginx.conf') }, { stdout: new Sink(), stderr: err });
  assert.equal(code, 1);
  assert.match(err.text, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[emerg\] \d+#\d+: unknown directive "foo" in .*inc\.conf:1\nnginx: configuration file .* test failed\n$/);
});

test('no events: "syntax is ok" comes before the error, as in nginx', async () => {
  const dir = writeConfigDir({ 'nginx.conf': 'http {}\n' });
  const r = await runOurs(dir);
  assert.equal(r.code, 1);
  assert.deepEqual(r.stderr.split('\n').slice(0, 2), [
    `nginx: the configuration file ${join(dir, 'nginx.conf')} syntax is ok`,
    'nginx: [emerg] no "events" section in configuration',
  ]);
});

test('--json: a report on stdout and nothing on stderr', async () => {
  const good = writeConfigDir({ 'nginx.conf': GOOD });
  const ok = await runOurs(good, { json: true });
  assert.equal(ok.code, 0);
  assert.equal(ok.stderr, '');
  const report = JSON.parse(ok.stdout);
  assert.equal(report.ok, true);
  assert.equal(report.file, join(good, 'nginx.conf'));
  assert.ok(report.warnings.some((w: { directive?: string; line?: number }) => w.directive === 'ssi' && w.line === 6));

  const bad = writeConfigDir({ 'nginx.conf': BAD, 'inc.conf': 'foo;\n' });
  const failed = await runOurs(bad, { json: true });
  assert.equal(failed.code, 1);
  const r2 = JSON.parse(failed.stdout);
  assert.equal(r2.ok, false);
  assert.deepEqual(r2.error, { message: 'unknown directive "foo"', file: join(bad, 'inc.conf'), line: 1, level: 'emerg' });
});

test('-T: each file once, in the order first opened, raw bytes', async () => {
  const dir = writeConfigDir({
    'nginx.conf': 'events {}\nhttp { include a.conf; include b.conf; include a.conf; }\n',
    'a.conf': '# a\r\n',
    'b.conf': '',
  });
  const r = await runOurs(dir, { dump: true, quiet: true });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, [
    `# configuration file ${join(dir, 'nginx.conf')}:\nevents {}\nhttp { include a.conf; include b.conf; include a.conf; }\n\n`,
    `# configuration file ${join(dir, 'a.conf')}:\n# a\r\n\n`,
    `# configuration file ${join(dir, 'b.conf')}:\n\n`,
  ].join(''));
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

test('an 80-byte ssl_session_ticket_key file (AES-256, which Node cannot take): accepted as nginx does, with one warning at its line', async () => {
  const dir = writeConfigDir({
    'nginx.conf': 'pid @DIR@/nginx.pid;\nevents {}\nhttp {\n  ssl_certificate @DIR@/t.test.crt;\n  ssl_certificate_key @DIR@/t.test.key;\n' +
      '  ssl_session_ticket_key ticket.key;\n  server { listen 127.0.0.1:18401 ssl; }\n  server { listen 127.0.0.1:18402 ssl; }\n}\n',
    'ticket.key': 'k'.repeat(80),
  });
  await makeCert(dir, 't.test');
  const conf = join(dir, 'nginx.conf');
  const r = await runOurs(dir);
  assert.equal(r.code, 0, r.stderr);
  // Once, though both servers inherit it.
  assert.equal(r.stderr.split('\n').filter((l) => l ===
    `nginx: [warn] "ssl_session_ticket_key" "ticket.key" holds an 80-byte (AES-256) key, which bext cannot use: tickets are made with keys of its own in ${conf}:6`).length, 1, r.stderr);
});
