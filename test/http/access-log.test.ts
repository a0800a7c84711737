import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compileLogFormat, formatLogLine, escapeDefault, escapeJson, logCondition, LogFile, LogFiles, formatErrorLine, COMBINED,
} from '../../src/http/access-log.ts';
import { newVarContext, type VarContext } from '../../src/http/variables.ts';
import { parseRequestTarget } from '../../src/http/uri.ts';
import { haveNginx, startNginx, rawRequest } from './oracle.ts';

test('escaping rules', () => {
  assert.equal(escapeDefault('a"b\\c\x01\x7f\xe9'), 'a\\x22b\\x5Cc\\x01\\x7F\\xE9');
  assert.equal(escapeJson('a"b\\c\x01\x1f\x7f\xe9\t\n'), 'a\\"b\\\\c\\u0001\\u001F\x7f\xe9\\t\\n');
});

test('format compilation', () => {
  assert.deepEqual(compileLogFormat('x', ['$a-${b}c', ' $d']).parts, [{ v: 'a' }, '-', { v: 'b' }, 'c ', { v: 'd' }]);
  assert.throws(() => compileLogFormat('x', ['${a']));
  assert.equal(logCondition(''), false);
  assert.equal(logCondition('0'), false);
  assert.equal(logCondition(undefined), false);
  assert.equal(logCondition('1'), true);
});

test('error log line', () => {
  const t = new Date(2026, 10, 25, 14, 16, 58).getTime();
  assert.equal(
    formatErrorLine({ level: 'error', message: 'open() "/x" failed (2: No such file or directory)', connection: 2, client: '127.0.0.1', server: 'localhost', request: 'GET /x HTTP/1.0', host: 'localhost', referrer: 'http://r/', timeMs: t, pid: 77 }),
    '2026/11/25 14:16:58 [error] 77#77: *2 open() "/x" failed (2: No such file or directory), client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.0", host: "localhost", referrer: "http://r/"\n',
  );
});

test('LogFile appends, flushes, and reopen() leaves a renamed file alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-log-'));
  try {
    const path = join(dir, 'access.log');
    const f = new LogFile(path, { bufferSize: 1 << 20, flushMs: 50 });
    f.write('one\n');
    await new Promise((r) => setTimeout(r, 150)); // the interval flush
    assert.equal(readFileSync(path, 'latin1'), 'one\n');
    f.write('two\n');
    renameSync(path, path + '.1'); // logrotate
    f.write('three\n');
    await f.reopen(); // queued lines go to the old file
    f.write('four\n');
    await f.flush();
    assert.equal(readFileSync(path + '.1', 'latin1'), 'one\ntwo\nthree\n');
    assert.equal(readFileSync(path, 'latin1'), 'four\n');
    await f.close();
    const files = new LogFiles();
    const a = files.get(join(dir, 'b.log'));
    assert.equal(files.get(join(dir, 'b.log')), a);
    a.write('x\xe9\n');
    await new Promise((r) => setImmediate(r));
    await files.flushAll();
    assert.deepEqual(readFileSync(join(dir, 'b.log')), Buffer.from([0x78, 0xe9, 0x0a]));
    await files.closeAll();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const FIELDS = '$request_uri|$http_x|$remote_user|$args|$http_referer|$arg_q|$cookie_c|$sent_http_x|$is_args|$query_string';

test('differential: log lines match what real nginx writes', { skip: !haveNginx }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-logd-'));
  const o = await startNginx(`log_format j escape=json '${FIELDS}';
    log_format n escape=none '${FIELDS}';
    log_format d '${FIELDS}';
    server { listen 127.0.0.1:PORT; server_name localhost; location / { return 404; }
      access_log ${dir}/j.log j; access_log ${dir}/n.log n; access_log ${dir}/d.log d; access_log ${dir}/c.log combined; }`);
  const requests: [string, string[]][] = [
    ['/x?', ['X: a"b\\c\x01\x1f\x7f\xe9\tq', 'Referer: http://r/"x"', 'User-Agent: UA \xe9']],
    ['/y', []],
    ['/z?q=1&r', ['Authorization: Basic dXNlcjpwYXNz', 'X: ', 'Cookie: c=5']],
  ];
  const ours: Record<string, string> = { j: '', n: '', d: '', c: '' };
  const formats = { j: compileLogFormat('j', [FIELDS], 'json'), n: compileLogFormat('n', [FIELDS], 'none'), d: compileLogFormat('d', [FIELDS]), c: COMBINED };
  try {
    for (const [target, headers] of requests) {
      const line = `GET ${target} HTTP/1.0`;
      const r = await rawRequest(o.port, [line, 'Host: localhost', ...headers].join('\r\n'));
      const hdrs: Record<string, string[]> = {};
      for (const h of ['Host: localhost', ...headers]) {
        const i = h.indexOf(':');
        (hdrs[h.slice(0, i).toLowerCase()] ??= []).push(h.slice(i + 1).trim());
      }
      const p = parseRequestTarget(target);
      const ctx: VarContext = newVarContext({ requestLine: line, protocol: 'HTTP/1.0', rawUri: p.rawUri, uri: p.uri, args: p.args, headers: hdrs, host: 'localhost', serverName: 'localhost' });
      ctx.response.status = r.status;
      ctx.response.bodyBytesSent = r.body.length;
      for (const k of Object.keys(ours)) ours[k] += formatLogLine(formats[k as keyof typeof formats], ctx);
    }
    await new Promise((r) => setTimeout(r, 100));
    for (const k of Object.keys(ours)) {
      let theirs = readFileSync(join(dir, `${k}.log`), 'latin1');
      let mine = ours[k]!;
      if (k === 'c') {
        theirs = theirs.replace(/\[[^\]]+\]/g, '[T]');
        mine = mine.replace(/\[[^\]]+\]/g, '[T]');
      }
      assert.equal(mine, theirs, `format ${k}`);
    }
  } finally {
    await o.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
