import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyRewrite, compileIfCondition, compileRewrite, compileReturn, evaluateReturn, evaluateIf, regexMatch,
  type RewriteFlag,
} from '../../src/http/rewrite.ts';
import { ifCondition } from '../../src/config/settings.ts';
import { newVarContext } from '../../src/http/variables.ts';
import { parseRequestTarget } from '../../src/http/uri.ts';
import { haveNginx, startNginx, get } from './oracle.ts';

// `if (ARGS)` as served: the config's parse and regex translation (ifCondition), then the operands compiled.
const ifNode = (args: string[]) => ({ directive: 'if', args: ['(', ...args, ')'], file: '/etc/nginx/nginx.conf', line: 1 });

test('if conditions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-if-'));
  try {
    writeFileSync(join(dir, 'f'), 'x');
    writeFileSync(join(dir, 'x'), 'x');
    chmodSync(join(dir, 'x'), 0o755);
    mkdirSync(join(dir, 'd'));
    const ctx = newVarContext({ uri: '/Foo/bar', host: 'www.example.com' });
    ctx.userVars.set('dir', dir);
    ctx.userVars.set('zero', '0');
    const t = (...args: string[]) => evaluateIf(compileIfCondition(ifCondition(ifNode(args))), ctx);
    assert.equal(t('$host'), true);
    assert.equal(t('$zero'), false);
    assert.equal(t('$nothing'), false);
    assert.equal(t('$host', '=', 'www.example.com'), true);
    assert.equal(t('$host', '!=', 'www.example.com'), false);
    assert.equal(t('$uri', '~', '^/foo'), false);
    assert.equal(t('$uri', '~*', '^/foo/(.*)'), true);
    assert.equal(ctx.captures[1], 'bar');
    assert.equal(t('$uri', '!~', '^/x'), true);
    assert.equal(t('$uri', '!~*', '^/FOO'), false);
    assert.equal(t('-f', '$dir/f'), true);
    assert.equal(t('-f', '$dir/d'), false);
    assert.equal(t('!-f', '$dir/none'), true);
    assert.equal(t('-d', '$dir/d'), true);
    assert.equal(t('-e', '$dir/d'), true);
    assert.equal(t('!-e', '$dir/f'), false);
    assert.equal(t('-x', '$dir/x'), true);
    assert.equal(t('-x', '$dir/f'), false);
    assert.throws(() => ifCondition(ifNode(['$a', 'like', 'b'])), /unexpected "like" in condition/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('named captures become variables; a failed match keeps old captures', () => {
  const ctx = newVarContext({ uri: '/u/42' });
  assert.ok(regexMatch(/^\/u\/(?<id>\d+)$/, ctx.uri, ctx));
  assert.equal(ctx.namedCaptures['id'], '42');
  assert.ok(!regexMatch(/^\/nope(.*)/, ctx.uri, ctx));
  assert.equal(ctx.captures[1], '42');
});

test('return semantics', () => {
  const ctx = newVarContext({ uri: '/x' });
  assert.deepEqual(evaluateReturn(compileReturn(['https://$host$uri']), { ...ctx, host: 'h' }), { kind: 'redirect', status: 302, location: 'https://h/x' });
  assert.deepEqual(evaluateReturn(compileReturn(['301', '/y']), ctx), { kind: 'redirect', status: 301, location: '/y' });
  assert.deepEqual(evaluateReturn(compileReturn(['200', 'hi $uri']), ctx), { kind: 'text', status: 200, body: 'hi /x' });
  assert.deepEqual(evaluateReturn(compileReturn(['404']), ctx), { kind: 'status', status: 404 });
  assert.deepEqual(evaluateReturn(compileReturn(['404', 'gone']), ctx), { kind: 'text', status: 404, body: 'gone' });
  assert.deepEqual(evaluateReturn(compileReturn(['204']), ctx), { kind: 'text', status: 204, body: '' });
  assert.deepEqual(evaluateReturn(compileReturn(['444']), ctx), { kind: 'close' });
  assert.throws(() => compileReturn(['/rel']));
});

// [name, regex, replacement, flag] — each becomes `location /NAME/ { rewrite … }` in nginx.
const RULES: [string, string, string, RewriteFlag][] = [
  ['r1', '^/r1/(.*)$', '/dest/$1', 'last'],
  ['r2', '^/r2/(.*)$', '/dest/$1?', 'last'],
  ['r3', '^/r3/(.*)$', '/dest?x=$1', 'last'],
  ['r4', '^/r4/(.*)$', '/dest/$1', 'permanent'],
  ['r5', '^/r5/(.*)$', 'http://ex.com/$1?y=1', null],
  ['r6', '^/r6/(.*)$', '$scheme://ex.com/$1?', 'redirect'],
  ['r7', '^/r7/(.*)$', '/dest/$1?a=$1', 'redirect'],
  ['r8', '^/r8/(?<name>[^/]+)/(.*)$', '/dest/$name/$2?n=$name', 'last'],
  ['r9', '^/r9/(.*)$', '/dest/$1', 'redirect'],
  ['ra', '^/ra/(.*)$', 'http://ex.com/$1?y=$1', null],
  ['rb', '^/rb/(.*)$', '/dest/%41%20$1', 'redirect'],
];
const TARGETS = ['/r1/a/b?q=1', '/r1/x%20y+z', '/r2/a?q=1', '/r3/a%20b+c?q=1', '/r3/plain?q=1', '/r4/p?q=1',
  '/r4/s%20p', '/r5/z?q=2', '/r5/a%26b', '/r6/z?q=2', '/r7/a%3Fb?q=3', '/r7/plain', '/r8/nm/rest?k=v',
  '/r9/a%20b', '/r9/a%3Fb', '/r9/a%3Fb?z=1', '/ra/a%26b', '/ra/a&b', '/ra/a+b', '/ra/a%3Bb', '/r3/a%20%3F%23;b',
  '/r3/a%C3%A9', '/rb/x'];

test('differential: rewrite results match real nginx', { skip: !haveNginx }, async () => {
  const locs = RULES.map(([n, re, rep, flag]) => `location /${n}/ { rewrite ${re} ${rep}${flag ? ' ' + flag : ''}; }`).join('\n');
  const o = await startNginx(`server { listen 127.0.0.1:PORT; server_name localhost; ${locs}
    location /dest { return 200 "$uri|$args"; } }`);
  try {
    for (const target of TARGETS) {
      const r = await get(o.port, target);
      const p = parseRequestTarget(target);
      const name = p.uri.split('/')[1]!;
      const [, re, rep, flag] = RULES.find(([n]) => n === name)!;
      const rule = compileRewrite(new RegExp(re), rep, flag);
      const ctx = newVarContext({ uri: p.uri, args: p.args, scheme: 'http' });
      const pathPart = p.rawUri.split('?')[0]!;
      const out = applyRewrite(rule, ctx, { quotedOrPlus: /[%+]/.test(pathPart) });
      if (out.kind === 'redirect') {
        assert.equal(r.status, out.status, target);
        assert.equal(r.headers['location'], out.location.startsWith('/') ? `http://localhost:${o.port}${out.location}` : out.location, target);
      } else {
        assert.equal(out.kind, 'uri', target);
        if (out.kind !== 'uri') continue;
        assert.equal(r.status, 200, target);
        assert.equal(r.body.toString('latin1'), `${out.uri}|${out.args}`, target);
      }
    }
  } finally {
    await o.stop();
  }
});
