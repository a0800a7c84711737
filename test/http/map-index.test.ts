// `map` lookups through the per-state indexes (wildcard tries, regex prefilter) must resolve exactly
// as the plain scans do, in nginx's order (exact, longest leading wildcard, longest trailing wildcard,
// regexes in config order, default), recording the same captures: random maps resolved with and
// without the indexes, and a sample of them against real nginx.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MapBlock } from '../../src/config/state.ts';
import { createMapResolver, lookupMapValue } from '../../src/http/maps.ts';
import { getVariable, newVarContext, type VarContext } from '../../src/http/variables.ts';
import { conv, http } from '../config/helpers.ts';
import { haveNginx, rawRequest, startNginx } from './oracle.ts';
import { mulberry32 as rng } from '../prng.ts';

const escapeRe = (s: string): string => s.replace(/[.*+?^$()[\]\\|]/g, '\\$&');

interface Gen {
  /** `map` block bodies (without the braces). */
  body: string;
  hostnames: boolean;
}

/**
 * A random map body. `nginxSafe` keeps to what nginx (and bext) accept without "conflicting
 * parameter": one wildcard per name, no `.x` beside an exact `x` or `*.x`.
 */
function genMap(r: () => number, id: number, nginxSafe: boolean): Gen {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const label = () => pick(['a', 'b', 'ab', 'x', 'www', 'B', 'Ab']);
  const host = (max = 3) => Array.from({ length: 1 + Math.floor(r() * max) }, label).join('.');
  const hostnames = r() < 0.7;
  const lines: string[] = [];
  if (hostnames) lines.push('hostnames;');
  if (r() < 0.7) lines.push(`default d${id};`);
  const exact = new Set<string>();
  const wild = new Set<string>();
  const n = Math.floor(r() * 30);
  for (let k = 0; k < n; k++) {
    const x = r();
    // The value tells which kind of entry matched: e(xact), w(ildcard), r(egex).
    let v = `e${id}_${k}`;
    if (x < 0.2) {
      const key = host();
      const low = key.toLowerCase();
      if (exact.has(low) || (nginxSafe && hostnames && wild.has('.' + low))) continue;
      exact.add(low);
      lines.push(`${key} ${v};`);
    } else if (x < 0.5) {
      v = `${hostnames ? 'w' : 'e'}${id}_${k}`;
      const kind = pick(['*.', '.', '.*']);
      const base = host();
      const low = base.toLowerCase();
      // nginx: `*.x`, `.x` share one name; `.x` also conflicts with an exact `x`.
      const name = kind === '.*' ? low + '.*' : '.' + low;
      const key = kind === '.*' ? base + kind : kind + base;
      if (!hostnames) {
        // Without `hostnames` it is an exact key like any other.
        if (exact.has(key.toLowerCase())) continue;
        exact.add(key.toLowerCase());
      } else if (nginxSafe && (wild.has(name) || (kind === '.' && exact.has(low)))) continue;
      wild.add(name);
      lines.push(`${key} ${v};`);
    } else {
      v = `r${id}_${k}`;
      const lit = escapeRe(host(2));
      const lit2 = escapeRe(host(2));
      const t = pick([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      const ci = r() < 0.35 ? '~*' : '~';
      switch (t) {
        case 0: lines.push(`${ci}^${lit} ${v};`); break;
        case 1: lines.push(`${ci}^${lit}\\.(\\d+) ${v}-$1;`); break;
        case 2: lines.push(`${ci}^(?<n${id}_${k}>[a-z]+)\\.${lit} ${v}-$n${id}_${k};`); break;
        case 3: lines.push(`${ci}${lit}$ ${v};`); break;
        case 4: lines.push(`${ci}^(${lit}|${lit2})\\. ${v}-$1;`); break;
        case 5: lines.push(`${ci}^${lit}|${lit2}$ ${v};`); break;
        case 6: lines.push(`${ci}^${lit}?x ${v};`); break;
        case 7: lines.push(`${ci}^${lit}(.*)$ ${v}-$1;`); break;
        case 8: lines.push(`${ci}^$ ${v}-empty;`); break;
      }
    }
  }
  return { body: lines.join('\n'), hostnames };
}

function genInput(r: () => number): string {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const x = r();
  if (x < 0.05) return '';
  const label = () => pick(['a', 'b', 'ab', 'x', 'www', 'A', 'WWW', 'AB', 'q', '7', '42']);
  let s = Array.from({ length: 1 + Math.floor(r() * 4) }, label).join('.');
  if (r() < 0.15) s += '.';
  return s;
}

/** The map without its indexes: every lookup scans, as hand-built states do. */
function strip(m: MapBlock): MapBlock {
  const { leadingIndex: _l, trailingIndex: _t, regexIndex: _r, ...plain } = m;
  return plain;
}

const freshCtx = (): VarContext => newVarContext({ captures: ['earlier', 'e1'], namedCaptures: { keep: 'k' } });

test('map lookups with and without the indexes, over random maps', () => {
  const r = rng(7177);
  let regexHits = 0;
  let wildHits = 0;
  let indexed = 0;
  for (let i = 0; i < 250; i++) {
    const g = genMap(r, i, true);
    const { state } = conv(http(`map $http_x_key $m {\n${g.body}\n}`));
    const map = state.maps[0]!;
    if (map.regexIndex || map.leadingIndex || map.trailingIndex) indexed++;
    const plain = strip(map);
    for (let j = 0; j < 60; j++) {
      const input = genInput(r);
      const a = freshCtx();
      const b = freshCtx();
      const va = lookupMapValue(map, input, a);
      const vb = lookupMapValue(plain, input, b);
      const why = `${JSON.stringify(input)} in\n${g.body}`;
      assert.equal(va, vb, why);
      assert.deepEqual(a.captures, b.captures, why);
      assert.deepEqual(a.namedCaptures, b.namedCaptures, why);
      if (va.startsWith('r')) regexHits++;
      if (va.startsWith('w')) wildHits++;
      // The served value (complex value evaluated with those captures) agrees too.
      const ra = newVarContext({ headers: { 'x-key': [input] }, extra: createMapResolver([map]) });
      const rb = newVarContext({ headers: { 'x-key': [input] }, extra: createMapResolver([plain]) });
      assert.equal(getVariable(ra, 'm'), getVariable(rb, 'm'), why);
    }
  }
  assert.ok(indexed > 200, `only ${indexed} maps had an index`);
  assert.ok(regexHits > 1000, `only ${regexHits} regex matches`);
  console.log(`${indexed} indexed maps, ${regexHits} regex and ${wildHits} wildcard matches`);
  assert.ok(wildHits > 500, `only ${wildHits} wildcard matches`);
});

test('an empty value meets only an exact \'\' key, never a regex (ngx_http_map_find: `len && nregex`)', async () => {
  const body = `
    map $http_x_key $a { ~^$ re; ~.* any; default dflt; }
    map $http_x_key $b { '' empty; ~^$ re; default dflt; }
    map $http_x_key $c { hostnames; . dot; ~^$ re; ~.* any; default dflt; }`;
  const { state } = conv(http(body));
  for (const m of state.maps) for (const map of [m, strip(m)]) {
    const ctx = freshCtx();
    const v = lookupMapValue(map, '', ctx);
    assert.equal(v, { a: 'dflt', b: 'empty', c: 'dflt' }[m.variable]);
    assert.deepEqual(ctx.captures, ['earlier', 'e1']);
  }
  // With `hostnames`, "." loses its dot first: empty too.
  assert.equal(lookupMapValue(state.maps[2]!, '.', freshCtx()), 'dflt');
  if (!haveNginx) return;
  const o = await startNginx(`${body}\nserver { listen 127.0.0.1:PORT; location / { return 200 "$a|$b|$c"; } }`);
  try {
    for (const input of ['', '.', 'x']) {
      const res = await rawRequest(o.port, ['GET / HTTP/1.0', 'Host: t', `X-Key: ${input}`].join('\r\n'));
      const ctx = newVarContext({ headers: { 'x-key': [input] }, extra: createMapResolver(state.maps) });
      assert.equal(['a', 'b', 'c'].map((n) => getVariable(ctx, n)).join('|'), res.body.toString(), JSON.stringify(input));
    }
  } finally {
    await o.stop();
  }
});

test('hand-built maps (no indexes) still resolve', () => {
  const map: MapBlock = {
    source: '$host', variable: 'h', hostnames: true, volatile: false, default: 'd', exact: new Map([['a.b', 'e']]),
    leadingWildcards: [{ suffix: '.b', matchesBare: true, value: 'lead' }], trailingWildcards: [{ prefix: 'x.', value: 'trail' }],
    regexes: [{ source: '~^(\\d+)', regex: /^(\d+)/, value: 'num' }], file: 't.conf', line: 1,
  };
  const ctx = newVarContext();
  assert.deepEqual(['A.B.', 'c.b', 'b', 'x.y', '12z', 'zz'].map((v) => lookupMapValue(map, v, ctx)), ['e', 'lead', 'lead', 'trail', 'num', 'd']);
  assert.deepEqual(ctx.captures, ['12', '12']);
});

test('differential: random maps resolve as real nginx resolves them', { skip: !haveNginx }, async () => {
  const r = rng(90210);
  const MAPS = 12;
  let nonDefault = 0;
  let withCapture = 0;
  for (let round = 0; round < 3; round++) {
    const gens = Array.from({ length: MAPS }, (_, i) => genMap(r, round * 100 + i, true));
    const body = gens.map((g, i) => `map $http_x_key $m${i} {\n${g.body}\n}`).join('\n');
    const { state } = conv(http(body));
    const resolver = createMapResolver(state.maps);
    const plainResolver = createMapResolver(state.maps.map(strip));
    const names = gens.map((_, i) => `m${i}`);
    const o = await startNginx(`${body}\nserver { listen 127.0.0.1:PORT; location / { return 200 "${names.map((n) => '$' + n).join('|')}"; } }`);
    try {
      for (let j = 0; j < 40; j++) {
        const input = genInput(r);
        const res = await rawRequest(o.port, ['GET / HTTP/1.0', 'Host: t', `X-Key: ${input}`].join('\r\n'));
        const served = res.body.toString();
        nonDefault += served.split('|').filter((v) => v !== '' && !v.startsWith('d')).length;
        withCapture += served.split('|').filter((v) => /^r\d+_\d+-./.test(v)).length;
        for (const resolve of [resolver, plainResolver]) {
          const ctx = newVarContext({ headers: { 'x-key': [input] }, extra: resolve });
          assert.equal(names.map((n) => getVariable(ctx, n) ?? '').join('|'), served, `${JSON.stringify(input)} in\n${body}`);
        }
      }
    } finally {
      await o.stop();
    }
  }
  console.log(`nginx: ${nonDefault} entries matched, ${withCapture} with captures`);
  assert.ok(nonDefault > 150 && withCapture > 10, `only ${nonDefault} entries matched, ${withCapture} with captures`);
});
