import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRegex, translatePcre } from '../../src/config/regex.ts';
import { ConfError } from '../../src/nginx/types.ts';

const at = { file: '/etc/nginx/nginx.conf', line: 7 };
const re = (p: string, caseless = false): RegExp => compileRegex(p, caseless, at);

test('translation table: PCRE source → JavaScript source and flags', () => {
  const table: [string, boolean, string, string][] = [
    ['^/(?P<id>\\d+)$', false, '^/(?<id>\\d+)(?=\\n?$)', ''],
    ["^(?'x'a)", false, '^(?<x>a)', ''],
    ['^(?<x>a)', false, '^(?<x>a)', ''],
    ['\\Qa.b*c\\E$', false, 'a\\.b\\*c(?=\\n?$)', ''],
    ['^[[:alpha:][:digit:]_]+', false, '^[a-zA-Z0-9_]+', ''],
    ['\\Aabc\\z', false, '^abc$', ''],
    ['(?i)^/Admin', false, '^/Admin', 'i'],
    ['\\.php', true, '\\.php', 'i'],
    ['^\\p{N}+', false, '^\\p{N}+', 'u'],
    ['a{2,}b{,3}', false, 'a{2,}b{0,3}', ''],
    ['x{y', false, 'x\\{y', ''],
    ['[]a]', false, '[\\]a]', ''],
    ['a.b', false, 'a[^\\n]b', ''],
    ['(?s)a.b', false, 'a[\\s\\S]b', 's'],
    ['(?P=id)', false, '\\k<id>', ''],
    ['a(?#comment)b', false, 'ab', ''],
  ];
  for (const [pcre, caseless, source, flags] of table) {
    const t = translatePcre(pcre, caseless);
    assert.deepEqual([t.source, t.flags], [source, flags], pcre);
  }
});

test('translated regexes match as PCRE does', () => {
  assert.equal(re('^/(?P<id>\\d+)$').exec('/42')?.groups?.id, '42');
  assert.ok(re('\\.PHP$', true).test('/index.php'));
  assert.ok(re('(?i)^/admin').test('/ADMIN/x'));
  assert.ok(re('^\\Q.example.com\\E$').test('.example.com'));
  assert.ok(!re('^\\Q.example.com\\E$').test('xexample.com'));
  assert.ok(re('^www\\p{N}\\.example\\.com$').test('www1.example.com'));
  assert.ok(re('^[[:alpha:]]+$').test('abcXYZ'));
  assert.ok(!re('^[[:alpha:]]+$').test('abc1'));
  assert.ok(re('^a\\h+b$').test('a \tb'));
  // PCRE's $ matches before a final newline; \z does not.
  assert.ok(re('a$').test('a\n'));
  assert.ok(!re('a\\z').test('a\n'));
  assert.ok(re('a\\Z').test('a\n'));
  // PCRE's dot matches \r (JavaScript's does not).
  assert.ok(re('^a.b$').test('a\rb'));
  assert.ok(!re('^a.b$').test('a\nb'));
});

test('untranslatable regexes are a ConfError at the directive', () => {
  for (const [p, why] of [
    ['a++', 'possessive'],
    ['(?>a)', 'atomic'],
    ['(?R)', 'recursion'],
    ['(?x) a', '(?x)'],
    ['a(?i)b', 'inline options'],
    ['(?|a|b)', 'branch reset'],
    ['[[:^alpha:]]', 'negated POSIX'],
  ] as const) {
    assert.throws(() => re(p), (e: unknown) => {
      assert.ok(e instanceof ConfError);
      assert.match(e.message, new RegExp(`^bext cannot translate regex "${p.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}": .*${why.replace(/[()?]/g, '\\$&')}.* in /etc/nginx/nginx.conf:7$`));
      return true;
    }, p);
  }
});

test('a pattern PCRE would refuse is reported too', () => {
  assert.throws(() => re('a(b'), /pcre2_compile\(\) failed: .* in "a\(b" in \/etc\/nginx\/nginx.conf:7/);
});
