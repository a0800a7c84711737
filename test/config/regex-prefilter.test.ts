// The literal-prefix prefilter (regexLiteralPrefix / buildRegexIndex) must never exclude a regex that
// would have matched: checked on a table of patterns, then as a property over generated
// patterns and texts against the plain in-order scan, and through findLocation/selectServer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRegexIndex, compileRegex, firstIndexedMatch, regexCandidates, regexLiteralPrefix } from '../../src/config/regex.ts';
import { findLocation, selectServer } from '../../src/config/select.ts';
import { conv, http } from './helpers.ts';
import { mulberry32 as rng } from '../prng.ts';

const at = { file: '/etc/nginx/nginx.conf', line: 1 };
const re = (p: string, caseless = false): RegExp => compileRegex(p, caseless, at);

test('literal prefixes: what can be proved, and nothing more', () => {
  const table: [string, boolean, string][] = [
    ['^/r1/(\\d+)$', false, '/r1/'],
    ['^/api/v1', false, '/api/v1'],
    ['^/api/v1$', false, '/api/v1'],
    ['\\.php$', false, ''], // not anchored
    ['^/a|^/b', false, ''], // a top-level alternative
    ['^/(a|b)', false, '/'], // alternatives inside a group are fine
    ['^/x[|]', false, '/x'],
    ['^/x\\|y', false, '/x|y'],
    ['^/ab?', false, '/a'], // a quantifier after the last literal
    ['^/ab*c', false, '/a'],
    ['^/ab+', false, '/a'],
    ['^/ab{2}', false, '/a'],
    ['^/ab{,2}', false, '/a'],
    ['^/a.b', false, '/a'],
    ['^/a(?=b)', false, '/a'],
    ['^(?=/a)/a', false, ''],
    ['^/a\\b', false, '/a'],
    ['^/a\\d', false, '/a'],
    ['^/a\\x41', false, '/aA'],
    ['^/a\\x41?', false, '/a'],
    ['^\\Q/a.b\\E', false, '/a.b'],
    ['\\A/a', false, '/a'],
    ['^/Admin', true, '/Admin'],
    ['(?i)^/Admin', false, '/Admin'],
    ['^/caf\\xe9', true, '/caf'], // under i the prefix stays ASCII
    ['^/caf\\xe9', false, '/caf\xe9'],
    ['(?m)^/a', false, ''], // ^ after any newline
    ['^/a\\p{N}', false, ''], // u flag: fine but only the i+u combination is refused
    ['^/a\\p{N}', true, ''],
    ['^^/a', false, ''],
    ['^/a\\tb', false, '/a\tb'],
    ['^/a\\1', false, '/a'],
    ['^/\u{1F600}?\\p{L}', false, '/'], // u flag: the quantifier takes both halves of the pair
    ['^/\u{1F600}?', false, '/'],
    ['^', false, ''],
    ['^$', false, ''],
  ];
  for (const [p, caseless, prefix] of table) {
    const r = re(p, caseless);
    const got = regexLiteralPrefix(r);
    // u-flag patterns may keep a prefix: only check what the table pins down.
    if (p === '^/a\\p{N}' && !caseless) {
      assert.equal(got, '/a', p);
      continue;
    }
    assert.equal(got, prefix, `${p} ${caseless ? '~*' : '~'}`);
  }
});

test('the index hands back candidates in list order, skipping impossible prefixes', () => {
  const list = ['^/a/', '\\.php$', '^/a/b', '^/A/', '^/b'].map((p) => re(p));
  list.push(re('^/A/b', true));
  const idx = buildRegexIndex(list);
  assert.deepEqual(regexCandidates(idx, '/a/b/c'), [0, 1, 2, 3, 5]); // /A/ verified exactly later
  assert.deepEqual(regexCandidates(idx, '/b'), [1, 4]);
  assert.deepEqual(regexCandidates(idx, ''), [1]);
  assert.equal(firstIndexedMatch(list.map((regex) => ({ regex })), idx, '/A/x')?.at, 3);
  assert.equal(firstIndexedMatch(list.map((regex) => ({ regex })), idx, '/a/B')?.at, 0);
  assert.equal(firstIndexedMatch(list.map((regex) => ({ regex })), idx, '/x/B/x')?.at, undefined);
});

// ---------- property test ----------

// Texts are made of these (bytes as nginx hands them over, plus two characters that fold onto
// ASCII letters under Unicode case folding).
const CHARS = ['a', 'A', 'b', 'B', 'k', 'K', 's', '/', '.', '-', '1', '\xe9', '\xc9', '\n', '|', '\u017f', '\u212a'];
// Pattern literals (PCRE syntax): the same characters, some escaped.
const LITS = ['a', 'A', 'b', 'B', 'k', 'K', 's', '/', '\\.', '-', '1', '\\xe9', '\\xC9', '\\|', '\\/', '\\x41', '\\Q.a\\E'];
const ATOMS = ['.', '\\d', '[a-b]', '[^/]', '[|]', '\\w', '(?=a)', '(?!b)', '\\b', '$', '\\z', '\\p{Ll}', '\n'];
const QUANTS = ['?', '*', '+', '{0,2}', '{1}', '{2,}', '??', '*?'];

function genPattern(r: () => number, depth = 0): string {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  let p = '';
  const n = 1 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const x = r();
    let atom: string;
    if (x < 0.6) atom = pick(LITS);
    else if (x < 0.8) atom = pick(ATOMS);
    else if (depth < 2) {
      const inner = genPattern(r, depth + 1);
      atom = r() < 0.5 ? `(${inner}|${genPattern(r, depth + 1)})` : `(${inner})`;
    } else atom = pick(LITS);
    p += atom;
    if (r() < 0.2 && !/^(?:\$|\\z|\\b|\(\?[=!])/.test(atom)) p += pick(QUANTS);
  }
  if (depth === 0 && r() < 0.1) p += '|' + genPattern(r, 1);
  return p;
}

function genText(r: () => number, pattern: string): string {
  // Mostly the pattern's own literal characters (so matches happen), sometimes case-flipped.
  const lits = pattern.replace(/\\Q|\\E|\\x[0-9a-fA-F]{2}|\\[a-zA-Z]|[\\^$()?*+{}[\]|]/g, '');
  let t = '';
  const n = Math.floor(r() * 8);
  for (let i = 0; i < n; i++) {
    const x = r();
    let c = x < 0.6 && lits.length ? lits[Math.floor(r() * lits.length)]! : CHARS[Math.floor(r() * CHARS.length)]!;
    if (r() < 0.2) c = r() < 0.5 ? c.toUpperCase() : c.toLowerCase();
    t += c;
  }
  return t;
}

test('property: the prefilter never excludes a regex that matches (single regexes)', () => {
  const r = rng(12345);
  let matched = 0;
  let withPrefix = 0;
  for (let i = 0; i < 4000; i++) {
    const prefixed = r() < 0.85;
    const inline = r() < 0.15 ? ['(?i)', '(?m)', '(?s)'][Math.floor(r() * 3)]! : '';
    const pattern = inline + (prefixed ? (r() < 0.9 ? '^' : '\\A') : '') + genPattern(r);
    const caseless = r() < 0.3;
    let regex: RegExp;
    try {
      regex = re(pattern, caseless);
    } catch {
      continue; // something PCRE or the translation refuses
    }
    const prefix = regexLiteralPrefix(regex);
    if (prefix) withPrefix++;
    const idx = buildRegexIndex([regex]);
    for (let j = 0; j < 30; j++) {
      const text = genText(r, pattern);
      regex.lastIndex = 0;
      const full = regex.exec(text) !== null;
      const viaIndex = firstIndexedMatch([{ regex }], idx, text) !== undefined;
      if (full) matched++;
      assert.equal(viaIndex, full, `/${regex.source}/${regex.flags} (from ${JSON.stringify(pattern)}${caseless ? ' ~*' : ''}) on ${JSON.stringify(text)}: prefix ${JSON.stringify(prefix)}`);
    }
  }
  // The generator must exercise both sides.
  assert.ok(matched > 5000, `only ${matched} matches`);
  assert.ok(withPrefix > 1000, `only ${withPrefix} prefixed patterns`);
});

test('property: the first match of an indexed list is the first match of the plain scan', () => {
  const r = rng(777);
  let hits = 0;
  for (let i = 0; i < 400; i++) {
    const list: { regex: RegExp }[] = [];
    const patterns: string[] = [];
    const n = 1 + Math.floor(r() * 40);
    while (list.length < n) {
      const pattern = (r() < 0.8 ? '^' : '') + genPattern(r);
      try {
        list.push({ regex: re(pattern, r() < 0.3) });
        patterns.push(pattern);
      } catch { /* refused */ }
    }
    const idx = buildRegexIndex(list.map((e) => e.regex));
    for (let j = 0; j < 50; j++) {
      const text = genText(r, patterns[Math.floor(r() * patterns.length)]!);
      const plain = list.findIndex((e) => {
        e.regex.lastIndex = 0;
        return e.regex.test(text);
      });
      const found = firstIndexedMatch(list, idx, text);
      if (plain >= 0) hits++;
      assert.equal(found?.at ?? -1, plain, `${JSON.stringify(text)} over ${JSON.stringify(list.map((e) => `/${e.regex.source}/${e.regex.flags}`))}`);
      if (found) assert.deepEqual(Array.from(found.match), Array.from(list[plain]!.regex.exec(text)!));
    }
  }
  assert.ok(hits > 2000, `only ${hits} hits`);
});

test('findLocation and server_name regexes through the index: the benchmark shape and mixed kinds', () => {
  const locs: string[] = [];
  for (let i = 0; i < 300; i++) locs.push(`location ~ ^/r${i}/(\\d+)$ { }`);
  locs.splice(150, 0, 'location ~* ^/R15 { }', 'location ~ \\.(gif|jpg)$ { }');
  const names: string[] = [];
  for (let i = 0; i < 200; i++) names.push(`server { listen 80; server_name ~^s${i}\\.(?<d>[a-z]+)\\.test$; }`);
  names.push('server { listen 80; server_name ~^(?<any>.+)\\.other$; }');
  const { state } = conv(http(`server { listen 80 default_server; ${locs.join('\n')} }\n${names.join('\n')}`));
  const server = state.servers[0]!;
  const name = (uri: string) => findLocation(server, uri).location?.name ?? 'none';
  assert.equal(name('/r299/42'), '^/r299/(\\d+)$');
  assert.equal(name('/r15/1'), '^/r15/(\\d+)$'); // before ~* ^/R15 in config order
  assert.equal(name('/r151/1'), '^/R15'); // ~* ^/R15 comes before ^/r151/
  assert.equal(name('/R151/x.gif'), '^/R15');
  assert.equal(name('/x/y.gif'), '\\.(gif|jpg)$');
  assert.equal(name('/r3/x'), 'none');
  assert.deepEqual(findLocation(server, '/r7/99').captures, ['/r7/99', '99']);
  const pick = (host: string) => {
    const m = selectServer(state, '0.0.0.0:80', host)!;
    return [m.server.index, m.namedCaptures ?? {}];
  };
  assert.deepEqual(pick('s199.abc.test'), [200, { d: 'abc' }]);
  assert.deepEqual(pick('s1.x.test'), [2, { d: 'x' }]);
  assert.deepEqual(pick('s1.other'), [201, { any: 's1' }]);
  assert.deepEqual(pick('nothing'), [0, {}]);
});
