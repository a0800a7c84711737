import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileComplexValue, expandComplexValue, getVariable, setVariable, newVarContext, argValue, cookieValue,
  formatTimeLocal, formatTimeIso8601, ComplexValueError, type VarContext,
} from '../../src/http/variables.ts';
import { haveNginx, startNginx, rawRequest } from './oracle.ts';

test('complex value parse rules', () => {
  assert.deepEqual(compileComplexValue('a$b-c').parts, ['a', { v: 'b' }, '-c']);
  assert.deepEqual(compileComplexValue('${b}c').parts, [{ v: 'b' }, 'c']);
  assert.deepEqual(compileComplexValue('$10x').parts, [{ cap: 1 }, '0x']);
  assert.deepEqual(compileComplexValue('/p/$uri.html').parts, ['/p/', { v: 'uri' }, '.html']);
  assert.equal(compileComplexValue('plain').isStatic, true);
  assert.equal(compileComplexValue('$2$9').maxCapture, 9);
  assert.throws(() => compileComplexValue('a$'), ComplexValueError);
  assert.throws(() => compileComplexValue('${a'), /closing bracket/);
  assert.throws(() => compileComplexValue('${}'), /invalid variable name/);
  assert.throws(() => compileComplexValue('a$-'), /invalid variable name/);
});

test('expansion with captures, set variables, unknowns', () => {
  const ctx = newVarContext({ uri: '/x', args: 'a=1&B=2', captures: ['/x/y', 'x', 'y'] });
  setVariable(ctx, 'foo', 'bar');
  assert.equal(expandComplexValue('$uri|$1|$2|$3|$foo|$nope|$is_args$args|${arg_b}', ctx), '/x|x|y||bar||?a=1&B=2|2');
  setVariable(ctx, 'args', 'z=9');
  assert.equal(ctx.args, 'z=9');
});

test('argValue and cookieValue follow ngx_http_arg / multi header parsing', () => {
  assert.equal(argValue('a=1&b=2', 'b'), '2');
  assert.equal(argValue('xa=1&a=3', 'a'), '3');
  assert.equal(argValue('a', 'a'), undefined);
  assert.equal(argValue('A=5', 'a'), '5');
  assert.equal(argValue('a=&b', 'a'), '');
  assert.equal(cookieValue(['x=1; y=2'], 'y'), '2');
  assert.equal(cookieValue(['xy=1; y = 2 ;z=3'], 'y'), '2 ');
  assert.equal(cookieValue(['a=1', 'b=2'], 'b'), '2');
  assert.equal(cookieValue(['a=1'], 'b'), undefined);
});

test('time formats', () => {
  const ms = Date.UTC(2026, 10, 5, 3, 4, 9);
  const tl = formatTimeLocal(ms);
  assert.match(tl, /^\d\d\/Nov\/2026:\d\d:\d\d:09 [+-]\d{4}$/);
  assert.match(formatTimeIso8601(ms), /^2026-11-0\dT\d\d:\d\d:09[+-]\d\d:\d\d$/);
});

const VARS = ['host', 'uri', 'document_uri', 'request_uri', 'args', 'query_string', 'is_args', 'request',
  'request_method', 'scheme', 'https', 'server_name', 'server_port', 'server_addr', 'server_protocol',
  'remote_addr', 'remote_user', 'http_user_agent', 'http_x_forwarded_for', 'http_cookie', 'http_x_multi',
  'cookie_a', 'cookie_B', 'arg_q', 'arg_Z', 'content_type', 'content_length', 'nginx_version', 'status',
  'connection_requests'];

test('differential: variables match real nginx', { skip: !haveNginx }, async () => {
  const template = VARS.map((v) => `${v}=[$${v}]`).join('\n');
  const o = await startNginx(`server { listen 127.0.0.1:PORT; server_name first.example second;
    location / { return 200 "${template}"; } }`);
  try {
    const requests: { line: string; headers: string[] }[] = [
      { line: 'GET /p/../a%20b?q=1&z=2&Z=3 HTTP/1.1', headers: ['Host: WWW.Example.com:8080', 'User-Agent: t', 'Cookie: a=1; b=2', 'Cookie: B=3', 'X-Forwarded-For: 1.1.1.1', 'X-Forwarded-For: 2.2.2.2', 'X-Multi: one', 'X-Multi: two', 'Authorization: Basic dXNlcjpwYXNz', 'Content-Type: text/x', 'Content-Length: 0', 'Connection: close'] },
      { line: 'GET /only HTTP/1.0', headers: [] },
      { line: 'HEAD http://abs.example/x?y HTTP/1.1', headers: ['Host: other', 'Connection: close'] },
    ];
    for (const rq of requests) {
      const r = await rawRequest(o.port, [rq.line, ...rq.headers].join('\r\n'));
      assert.equal(r.status, 200);
      if (rq.line.startsWith('HEAD')) continue;
      const theirs = r.body.toString('latin1');
      // Build our context the way the pipeline will.
      const [method, target, protocol] = rq.line.split(' ') as [string, string, string];
      const headers: Record<string, string[]> = {};
      for (const h of rq.headers) {
        const i = h.indexOf(':');
        (headers[h.slice(0, i).toLowerCase()] ??= []).push(h.slice(i + 1).trim());
      }
      const { parseRequestTarget } = await import('../../src/http/uri.ts');
      const p = parseRequestTarget(target);
      const hostHeader = headers['host']?.[0];
      const ctx: VarContext = newVarContext({
        method, requestLine: rq.line, protocol, rawUri: p.rawUri, uri: p.uri, args: p.args, headers,
        host: (p.host ?? hostHeader?.replace(/:\d+$/, '') ?? '').toLowerCase(), serverName: 'first.example',
        serverPort: o.port, serverAddr: '127.0.0.1', remoteAddr: '127.0.0.1',
      });
      ctx.response.status = 200;
      const ours = VARS.map((v) => `${v}=[${getVariable(ctx, v) ?? ''}]`).join('\n');
      assert.equal(ours, theirs);
    }
  } finally {
    await o.stop();
  }
});
