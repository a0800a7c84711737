// The precomputed routing indexes (prefix-location trie, auto-redirect map, wildcard tries, regex
// prefilter) must choose exactly what the plain scans of the same lists choose: random configs and
// requests, each resolved twice, with the indexes and with them stripped off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLocation } from '../../src/config/select.ts';
import { matchLeading, matchTrailing, selectServerInTable, serverByName } from '../../src/config/servers.ts';
import type { Location, LocationLevel, ServerConf, ServerTable } from '../../src/config/state.ts';
import { buildLeadingIndex, buildTrie, longestPrefix, longestSuffix } from '../../src/config/trie.ts';
import { conv, http } from './helpers.ts';
import { mulberry32 as rng } from '../prng.ts';

const pickFrom = (r: () => number) => <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** The same level without any precomputed index: the fallback scans. */
function strip(level: LocationLevel): LocationLevel {
  const copies = new Map<Location, Location>();
  const copy = (l: Location): Location => {
    let c = copies.get(l);
    if (!c) copies.set(l, (c = { ...l, nested: strip(l.nested) }));
    return c;
  };
  return {
    exact: new Map([...level.exact].map(([k, v]) => [k, copy(v)])),
    prefixes: level.prefixes.map(copy),
    regexes: level.regexes.map(copy),
  };
}

test('trie lookups equal the scans they replace', () => {
  const r = rng(99);
  const pick = pickFrom(r);
  const word = (n: number) => Array.from({ length: Math.floor(r() * n) }, () => pick(['/', 'a', 'b', 'A', '.'])).join('');
  for (let i = 0; i < 2000; i++) {
    const keys = Array.from({ length: Math.floor(r() * 12) }, () => word(5));
    const sorted = [...keys].sort((a, b) => b.length - a.length);
    const trie = buildTrie(sorted.map((k, at) => [k, at] as const));
    const rev = buildTrie(sorted.map((k, at) => [k, at] as const), true);
    for (let j = 0; j < 20; j++) {
      const text = word(8);
      for (const shorter of [0, 1]) {
        const plainP = sorted.findIndex((k) => text.length - shorter >= k.length && text.startsWith(k));
        const plainS = sorted.findIndex((k) => text.length - shorter >= k.length && text.endsWith(k));
        assert.equal(longestPrefix(trie, text, shorter) ?? -1, plainP, `${JSON.stringify(sorted)} ${text} ${shorter}`);
        assert.equal(longestSuffix(rev, text, shorter) ?? -1, plainS, `${JSON.stringify(sorted)} ${text} ${shorter}`);
      }
    }
  }
});

test('wildcard matching through the indexes (duplicates and `.x` included, as maps may have)', () => {
  const r = rng(4242);
  const pick = pickFrom(r);
  const label = () => pick(['a', 'b', 'ab', 'x', 'www']);
  const host = () => Array.from({ length: 1 + Math.floor(r() * 4) }, label).join('.');
  for (let i = 0; i < 2000; i++) {
    const leading = Array.from({ length: Math.floor(r() * 8) }, () => ({ suffix: '.' + host(), matchesBare: r() < 0.5, id: i }))
      .map((w, id) => ({ ...w, id }))
      .sort((a, b) => b.suffix.length - a.suffix.length);
    const trailing = Array.from({ length: Math.floor(r() * 8) }, (_, id) => ({ prefix: host() + '.', id }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
    const li = buildLeadingIndex(leading);
    const ti = buildTrie(trailing.map((w) => [w.prefix, w] as const));
    for (let j = 0; j < 20; j++) {
      const h = r() < 0.1 ? '' : host();
      assert.equal(matchLeading(leading, h, li)?.id, matchLeading(leading, h)?.id, `${h} in ${JSON.stringify(leading)}`);
      assert.equal(matchTrailing(trailing, h, ti)?.id, matchTrailing(trailing, h)?.id, `${h} in ${JSON.stringify(trailing)}`);
    }
  }
});

test('server selection with and without the indexes, over random server_name sets', () => {
  const r = rng(2024);
  const pick = pickFrom(r);
  const label = () => pick(['a', 'b', 'ab', 'x', 'www']);
  const host = () => Array.from({ length: 1 + Math.floor(r() * 3) }, label).join('.');
  for (let i = 0; i < 60; i++) {
    const servers: string[] = [];
    for (let s = 0; s < 1 + Math.floor(r() * 25); s++) {
      const names = Array.from({ length: 1 + Math.floor(r() * 3) }, () => {
        const x = r();
        if (x < 0.3) return host();
        if (x < 0.5) return `*.${host()}`;
        if (x < 0.65) return `.${host()}`;
        if (x < 0.8) return `${host()}.*`;
        return pick(['~^(?<l>[a-z]+)\\.ab$', '~^www\\.', '~^a(b)?\\.', '~x$', '~(?i)^A\\.']);
      });
      servers.push(`server { listen 80; server_name ${names.join(' ')}; }`);
    }
    const { state } = conv(http(servers.join('\n')));
    const table = state.tables.get('0.0.0.0:80')!;
    const { leadingIndex: _l, trailingIndex: _t, regexIndex: _r, ...plain } = table;
    const plainTable: ServerTable = plain;
    for (let j = 0; j < 60; j++) {
      const h = r() < 0.05 ? '' : host();
      const a = selectServerInTable(table, h);
      const b = selectServerInTable(plainTable, h);
      assert.equal(a.server.index, b.server.index, h);
      assert.deepEqual(a.captures, b.captures);
      assert.deepEqual(a.namedCaptures, b.namedCaptures);
      const byName = serverByName(table, h);
      if (byName) assert.equal(byName, a.server);
    }
  }
});

test('location search with and without the indexes, over random location trees', () => {
  const r = rng(31337);
  const pick = pickFrom(r);
  const seg = () => pick(['a', 'b', 'A', 'ab', 'x.gif', 'y.PNG', '1', '22']);
  const path = (n: number) => '/' + Array.from({ length: Math.floor(r() * n) }, seg).join('/') + (r() < 0.3 ? '/' : '');
  const REGEXES = ['~ ^/a/', '~ ^/a', '~* ^/A/B', '~ \\.gif$', '~* \\.png$', '~ ^/(\\d+)/', '~ ^/b|^/x', '~ ^/ab?/', '~ ^/a/(?<n>[a-z]+)$', '~ /$'];
  let regexWins = 0;
  let redirects = 0;
  for (let i = 0; i < 80; i++) {
    const lines: string[] = [];
    const used = new Set<string>();
    const block = (parent: string | undefined, depth: number, onlyRegex = false): string => {
      const out: string[] = [];
      for (let k = 0; k < 1 + Math.floor(r() * (depth ? 4 : 14)); k++) {
        const x = r();
        const body = r() < 0.3 ? 'proxy_pass http://127.0.0.1:9;' : '';
        if (!onlyRegex && (x < 0.35 || (parent !== undefined && x < 0.6))) {
          const name = (parent ?? '') + path(3).slice(parent ? 1 : 0);
          const mod = r() < 0.3 ? '^~ ' : r() < 0.2 && parent === undefined ? '= ' : '';
          const key = `${depth}:${parent}:${mod === '= ' ? '=' : ''}${name}`;
          if (used.has(key)) continue;
          used.add(key);
          const nested = depth < 2 && mod !== '= ' && r() < 0.3 ? block(name, depth + 1) : '';
          out.push(`location ${mod}${name} { ${body} ${nested} }`);
        } else {
          const nested = depth < 2 && r() < 0.2 ? block(undefined, depth + 1, true) : '';
          out.push(`location ${pick(REGEXES)} { ${nested} }`);
        }
      }
      return out.join('\n');
    };
    lines.push(block(undefined, 0));
    const { state } = conv(http(`server { listen 80; ${lines.join('\n')} }`));
    const server = state.servers[0]!;
    const plain: ServerConf = { ...server, locations: strip(server.locations) };
    for (let j = 0; j < 80; j++) {
      const uri = path(4);
      const a = findLocation(server, uri);
      const b = findLocation(plain, uri);
      const where = (m: typeof a) => (m.location ? `${m.location.line}:${m.location.kind}:${m.location.name}` : 'none');
      assert.equal(where(a), where(b), `${uri} in\n${lines.join('\n')}`);
      assert.equal(a.redirect, b.redirect, uri);
      assert.deepEqual(a.captures, b.captures, uri);
      assert.deepEqual(a.namedCaptures, b.namedCaptures, uri);
      if (a.captures) regexWins++;
      if (a.redirect) redirects++;
    }
  }
  assert.ok(regexWins > 300, `only ${regexWins} regex wins`);
  assert.ok(redirects > 20, `only ${redirects} auto-redirects`);
});
