// `map` variables (ngx_http_map_module): the source value (even empty: `'' close;`) is looked up lowercased among exact
// keys (and hostname wildcards when `hostnames`), then matched against regexes in order; the
// result is itself a complex value. Evaluated lazily, when the variable is read.
import { firstIndexedMatch } from '../config/regex.ts';
import { matchLeading, matchTrailing } from '../config/servers.ts';
import type { GeoBlock, MapBlock, SplitClientsBlock } from '../config/state.ts';
import { lookupGeo } from './geo.ts';
import { lookupSplitClients } from './split-clients.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';
import { regexMatch } from './rewrite.ts';

/**
 * ngx_http_map_find over ngx_hash_find_combined: exact key, longest leading wildcard, longest
 * trailing wildcard, then the first regex in config order (its captures recorded), else the
 * default. The map's indexes (tables.ts) find the same entry as the scans they stand in for.
 */
export function lookupMapValue(map: MapBlock, value: string, ctx: VarContext): string {
  let v = value;
  if (map.hostnames && v.endsWith('.')) v = v.slice(0, -1);
  const low = v.toLowerCase();
  const exact = map.exact.get(low);
  if (exact !== undefined) return exact;
  // An empty value matches only an exact '' key: ngx_hash_find_combined stops at len 0, and
  // ngx_http_map_find runs its regexes only `if (len && map->nregex)`.
  if (low === '') return map.default;
  if (map.hostnames) {
    if (map.leadingWildcards.length) {
      const lead = matchLeading(map.leadingWildcards, low, map.leadingIndex);
      if (lead) return lead.value;
    }
    if (map.trailingWildcards.length) {
      const trail = matchTrailing(map.trailingWildcards, low, map.trailingIndex);
      if (trail) return trail.value;
    }
  }
  const regexes = map.regexes;
  if (regexes.length === 0) return map.default;
  if (map.regexIndex) {
    const found = firstIndexedMatch(regexes, map.regexIndex, v);
    if (!found) return map.default;
    // As regexMatch records them: a skipped or failed regex leaves earlier captures alone.
    ctx.captures = Array.from(found.match);
    const groups = found.match.groups;
    if (groups) for (const k in groups) ctx.namedCaptures[k] = groups[k] ?? '';
    return regexes[found.at]!.value;
  }
  for (const r of regexes) {
    if (regexMatch(r.regex, v, ctx)) return r.value;
  }
  return map.default;
}

/** A VarContext.extra hook serving every map (and geo, split_clients) of a configuration. */
export function createMapResolver(maps: readonly MapBlock[], geos: readonly GeoBlock[] = [], splits: readonly SplitClientsBlock[] = []): (name: string, ctx: VarContext) => string | undefined {
  const byName = new Map(maps.map((m) => [m.variable, m]));
  const geoByName = new Map(geos.map((g) => [g.variable, g]));
  const splitByName = new Map(splits.map((s) => [s.variable, s]));
  return (name, ctx) => {
    const map = byName.get(name);
    if (!map) {
      const geo = geoByName.size ? geoByName.get(name) : undefined;
      if (geo) return lookupGeo(geo, ctx);
      const split = splitByName.size ? splitByName.get(name) : undefined;
      return split ? lookupSplitClients(split, ctx) : undefined;
    }
    const source = evaluate(compiled(map.source), ctx);
    return evaluate(compiled(lookupMapValue(map, source, ctx)), ctx);
  };
}
