// `map` variables (ngx_http_map_module): the source value (even empty: `'' close;`) is looked up lowercased among exact
// keys (and hostname wildcards when `hostnames`), then matched against regexes in order; the
// result is itself a complex value. Evaluated lazily, when the variable is read.
import type { MapBlock } from '../config/state.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';
import { regexMatch } from './rewrite.ts';

function lookup(map: MapBlock, value: string, ctx: VarContext): string {
  let v = value;
  if (map.hostnames && v.endsWith('.')) v = v.slice(0, -1);
  const low = v.toLowerCase();
  const exact = map.exact.get(low);
  if (exact !== undefined) return exact;
  if (map.hostnames) {
    for (const w of map.leadingWildcards) {
      if ((low.endsWith(w.suffix) && low.length > w.suffix.length) || (w.matchesBare && low === w.suffix.slice(1))) return w.value;
    }
    for (const w of map.trailingWildcards) {
      if (low.startsWith(w.prefix) && low.length > w.prefix.length) return w.value;
    }
  }
  for (const r of map.regexes) {
    if (regexMatch(r.regex, v, ctx)) return r.value;
  }
  return map.default;
}

/** A VarContext.extra hook serving every map of a configuration. */
export function createMapResolver(maps: readonly MapBlock[]): (name: string, ctx: VarContext) => string | undefined {
  const byName = new Map(maps.map((m) => [m.variable, m]));
  return (name, ctx) => {
    const map = byName.get(name);
    if (!map) return undefined;
    const source = evaluate(compiled(map.source), ctx);
    return evaluate(compiled(lookup(map, source, ctx)), ctx);
  };
}
