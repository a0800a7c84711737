// Location blocks: building each block's search structure (with nginx's config-time checks) and the
// search itself, in ngx_http_core_find_location's order.
import { deepFreeze } from './freeze.ts';
import type { ConfNode } from '../nginx/types.ts';
import { confError, type ConvertContext } from './context.ts';
import { buildRegexIndex, compileRegex, firstIndexedMatch, type RegexIndex } from './regex.ts';
import { buildTrie, longestPrefix } from './trie.ts';
import { buildConf, PASS_DIRECTIVES } from './settings.ts';
import { effectsMark, effectsSince, placeOf, replayEffects, sameNode, type KeptLocations } from './reuse.ts';
import type { Location, LocationConf, LocationKind, LocationLevel, ServerConf } from './state.ts';

/** `location` arguments, including the glued forms nginx accepts (`=/x`, `~*\.php$`, `^~/x`). */
function locationKind(node: ConfNode): { kind: LocationKind; name: string } {
  const [a, b] = node.args as [string, string | undefined];
  const mods: Record<string, LocationKind> = { '=': 'exact', '~': 'regex', '~*': 'regex-caseless', '^~': 'prefix-noregex' };
  if (b !== undefined) {
    const kind = mods[a];
    if (!kind) throw confError(node, `invalid location modifier "${a}"`);
    return { kind, name: b };
  }
  if (a.startsWith('@')) return { kind: 'named', name: a };
  for (const m of ['^~', '~*', '=', '~']) {
    if (a.startsWith(m) && a.length > m.length) return { kind: mods[m]!, name: a.slice(m.length) };
  }
  return { kind: 'prefix', name: a };
}

const isRegex = (k: LocationKind): boolean => k === 'regex' || k === 'regex-caseless';

/** The level of a location without nested ones (read-only, like all of a RoutingState). */
const EMPTY_LEVEL: LocationLevel = Object.freeze({
  exact: Object.freeze(new Map<string, Location>()),
  prefixes: Object.freeze([] as Location[]),
  regexes: Object.freeze([] as Location[]),
  redirects: Object.freeze(new Map<string, Location>()),
});

export interface BuiltLocations {
  level: LocationLevel;
  named: Map<string, Location>;
}

/**
 * Builds the locations directly inside `nodes` (a server or location block). `parent` is the
 * enclosing location, undefined at server level. Each location is a step of the conversion
 * (convert.ts's convertInSteps lets the event loop run between them).
 */
export function* buildLocations(
  nodes: readonly ConfNode[], parentConf: LocationConf, parent: Location | undefined, ctx: ConvertContext,
  reuse?: { from: KeptLocations | undefined; into: KeptLocations },
): Generator<void, BuiltLocations> {
  // Most locations have none nested: they share one empty (frozen) level instead of five objects each.
  if (!nodes.some((n) => n.directive === 'location')) return { level: EMPTY_LEVEL, named: new Map() };
  const exact = new Map<string, Location>();
  const prefixes = new Map<string, Location>();
  const regexes: Location[] = [];
  const named = new Map<string, Location>();
  const place = (loc: Location): void => {
    const { kind, name } = loc;
    if (kind === 'exact') {
      if (exact.has(name)) throw confError(loc, `duplicate location "${name}"`);
      exact.set(name, loc);
    } else if (kind === 'prefix' || kind === 'prefix-noregex') {
      if (prefixes.has(name)) throw confError(loc, `duplicate location "${name}"`);
      prefixes.set(name, loc);
    } else if (kind === 'named') {
      // nginx accepts a repeated name; the first one is found.
      if (!named.has(name)) named.set(name, loc);
    } else regexes.push(loc);
  };

  let taken = 0;
  for (const node of nodes) {
    if (node.directive !== 'location') continue;
    const { kind, name } = locationKind(node);

    if (parent) {
      if (kind === 'named') throw confError(node, `named location "${name}" can be on the server level only`);
      if (parent.kind === 'exact') throw confError(node, `location "${name}" cannot be inside the exact location "${parent.name}"`);
      if (parent.kind === 'named') throw confError(node, `location "${name}" cannot be inside the named location "${parent.name}"`);
      if (!isRegex(kind) && !name.startsWith(parent.name)) {
        throw confError(node, `location "${name}" is outside location "${parent.name}"`);
      }
    }

    const loc = reuse ? takeLocation(node, reuse, ctx) : undefined;
    if (loc) {
      place(loc);
      // Taken locations cost microseconds each: a step per hundred.
      if (++taken % 100 === 0) yield;
      continue;
    }
    const mark = effectsMark(ctx);
    const orderDependent = ctx.orderDependent;
    ctx.orderDependent = false;
    const built = yield* buildLocation(node, kind, name, parentConf, ctx);
    if (reuse && !ctx.orderDependent) reuse.into.set(placeOf(node), { node, loc: built, ...effectsSince(ctx, mark) });
    ctx.orderDependent ||= orderDependent;
    place(built);
    // A step of the conversion per location (convertInSteps lets the event loop run here).
    yield;
  }

  const sorted = [...prefixes.values()].sort((x, y) => y.name.length - x.name.length);
  // searchStatic's auto-redirect candidate for the URI `name` less its slash: the exact location
  // when it redirects, else the prefix one.
  const redirects = new Map<string, Location>();
  for (const p of sorted) if (p.autoRedirect) redirects.set(p.name, p);
  for (const e of exact.values()) if (e.autoRedirect) redirects.set(e.name, e);
  const level: LocationLevel = {
    exact, prefixes: sorted, regexes, redirects,
    ...(sorted.length ? { prefixIndex: buildTrie(sorted.map((p) => [p.name, p] as const)) } : {}),
    ...(regexes.length ? { regexIndex: regexIndexOf(regexes.map((l) => l.regex!)) } : {}),
  };
  return { level, named };
}

/**
 * The last index built for a list of regexes, by its first: a reload that took every regex location
 * of a level from the last conversion (reuse.ts) takes its index too (1,000 regexes: ~15 ms).
 */
const regexIndexes = new WeakMap<RegExp, { regexes: readonly RegExp[]; index: RegexIndex }>();

function regexIndexOf(regexes: RegExp[]): RegexIndex {
  const memo = regexIndexes.get(regexes[0]!);
  if (memo && memo.regexes.length === regexes.length && memo.regexes.every((r, i) => r === regexes[i])) return memo.index;
  const index = buildRegexIndex(regexes);
  regexIndexes.set(regexes[0]!, { regexes, index });
  return index;
}

/** One location block, its nested ones inside. */
function* buildLocation(node: ConfNode, kind: LocationKind, name: string, parentConf: LocationConf, ctx: ConvertContext): Generator<void, Location> {
  const block = node.block ?? [];
  const conf = buildConf(parentConf, block, { kind: 'location', regexOrNamed: isRegex(kind) || kind === 'named' }, ctx);
  const passes = block.some((n) => PASS_DIRECTIVES.has(n.directive));
  const loc: Location = {
    kind,
    name,
    autoRedirect: passes && name.endsWith('/') && !isRegex(kind) && kind !== 'named',
    conf,
    nested: EMPTY_LEVEL, // replaced below
    file: node.file,
    line: node.line,
  };
  if (isRegex(kind)) loc.regex = compileRegex(name, kind === 'regex-caseless', node);
  loc.nested = (yield* buildLocations(block, conf, loc, ctx)).level;
  // Complete: frozen now, in this location's step, so the final freeze of the state skips it.
  if (ctx.freeze !== false) deepFreeze(loc);
  return loc;
}

/** The last conversion of an unchanged location block (reuse.ts), its side effects replayed. */
function takeLocation(node: ConfNode, reuse: { from: KeptLocations | undefined; into: KeptLocations }, ctx: ConvertContext): Location | undefined {
  const kept = reuse.from?.get(placeOf(node));
  if (kept === undefined || !sameNode(kept.node, node)) return undefined;
  reuse.into.set(placeOf(node), kept);
  replayEffects(ctx, kept);
  return kept.loc;
}

export interface LocationMatch {
  /** Undefined when nothing matched: the server's own conf applies. */
  location?: Location;
  conf: LocationConf;
  /** Captures of the regex location that matched (index 0 = whole match). */
  captures?: readonly (string | undefined)[];
  namedCaptures?: Readonly<Record<string, string | undefined>>;
  /** nginx answers 301 to `uri + "/"` (auto_redirect of a `*_pass` prefix location). */
  redirect: boolean;
}

type SearchResult = 'exact' | 'prefix' | 'none' | 'redirect';

interface SearchState {
  location?: Location;
  captures?: RegExpExecArray;
}

/** The static part: exact, then the longest prefix, noting an auto-redirect candidate. */
function searchStatic(level: LocationLevel, uri: string, st: SearchState): SearchResult {
  const ex = level.exact.get(uri);
  if (ex) {
    st.location = ex;
    return 'exact';
  }
  const best = level.prefixIndex ? longestPrefix(level.prefixIndex, uri) : level.prefixes.find((p) => uri.startsWith(p.name));
  if (best && best.name.length === uri.length) {
    st.location = best;
    return 'prefix';
  }
  // `/x` when `location /x/` proxies: nginx's tree reaches that node with one byte to spare.
  const candidate = level.redirects ? (level.redirects.size ? level.redirects.get(uri + '/') : undefined) : redirectCandidate(level, uri + '/');
  if (candidate) {
    st.location = candidate;
    return 'redirect';
  }
  if (best) {
    st.location = best;
    return 'prefix';
  }
  return 'none';
}

/** The same without the precomputed map (a level built by hand). */
function redirectCandidate(level: LocationLevel, slash: string): Location | undefined {
  return level.exact.get(slash)?.autoRedirect ? level.exact.get(slash) : level.prefixes.find((p) => p.name === slash && p.autoRedirect);
}

function search(level: LocationLevel, uri: string, st: SearchState): SearchResult {
  let rc = searchStatic(level, uri, st);
  let noregex = false;
  if (rc === 'prefix') {
    const matched = st.location!;
    noregex = matched.kind === 'prefix-noregex';
    // Nested locations of the matched prefix come first (their own regexes included).
    rc = search(matched.nested, uri, st);
    if (rc === 'none') rc = 'prefix';
  }
  if (rc === 'exact' || rc === 'redirect') return rc;
  if (!noregex && level.regexes.length) {
    // In configuration order; the index skips regexes whose literal prefix the URI lacks.
    const found = level.regexIndex ? firstIndexedMatch(level.regexes, level.regexIndex, uri) : scan(level.regexes, uri);
    if (found) {
      const loc = level.regexes[found.at]!;
      st.location = loc;
      st.captures = found.match;
      search(loc.nested, uri, st);
      return 'exact';
    }
  }
  return rc;
}

/** The unindexed search (a level built by hand, without regexIndex). */
function scan(regexes: readonly Location[], uri: string): { at: number; match: RegExpExecArray } | undefined {
  for (let at = 0; at < regexes.length; at++) {
    const re = regexes[at]!.regex!;
    re.lastIndex = 0;
    const match = re.exec(uri);
    if (match) return { at, match };
  }
  return undefined;
}

/**
 * Finds the location for a normalised URI (decoded, dot segments resolved, slashes merged as the
 * server says, no args), exactly as ngx_http_core_find_location does.
 */
export function findLocation(server: ServerConf, uri: string): LocationMatch {
  const st: SearchState = {};
  const rc = search(server.locations, uri, st);
  const match: LocationMatch = { conf: st.location?.conf ?? server.conf, redirect: rc === 'redirect' };
  if (st.location) match.location = st.location;
  if (st.captures) {
    match.captures = Array.from(st.captures);
    if (st.captures.groups) match.namedCaptures = { ...st.captures.groups };
  }
  return match;
}

/** A named location (`@name`), for try_files / error_page / internal redirects. */
export function findNamedLocation(server: ServerConf, name: string): Location | undefined {
  return server.named.get(name);
}
