// Server and location selection for the pipeline: the lookups are src/config's (one
// implementation of ngx_http_find_virtual_server and ngx_http_core_find_location); this adds what
// the pipeline needs: regex captures recorded in the request's variables, and a tagged result.
import type { Location, ServerConf, ServerTable } from '../config/state.ts';
import { findLocation as findConfLocation, normalizeHost } from '../config/select.ts';
import { selectServerInTable, serverByName } from '../config/servers.ts';
import type { VarContext } from './variables.ts';

/** ngx_http_validate_host: undefined means 400. */
export const validateHost = normalizeHost;

/** A regex match's captures become $1..$9 and named variables, as the last successful match does. */
function recordCaptures(ctx: VarContext, captures: readonly (string | undefined)[], named?: Readonly<Record<string, string | undefined>>): void {
  ctx.captures = captures;
  if (named) for (const [k, v] of Object.entries(named)) ctx.namedCaptures[k] = v ?? '';
}

/** The server{} for a validated host on one address (exact → *.x → x.* → regex → default). */
// The last answer without captures, for the same table and host (a reload makes new tables).
let lastTable: ServerTable | undefined;
let lastHost = '';
let lastSelected: ServerConf | undefined;

export function selectServer(table: ServerTable, host: string, ctx?: VarContext): ServerConf {
  if (table === lastTable && host === lastHost) return lastSelected!;
  // The usual case, by name, allocates nothing; regexes (with captures) and the default follow.
  let server = serverByName(table, host);
  if (!server) {
    const m = selectServerInTable(table, host);
    if (m.captures) {
      if (ctx) recordCaptures(ctx, m.captures, m.namedCaptures);
      return m.server;
    }
    server = m.server;
  }
  lastTable = table;
  lastHost = host;
  lastSelected = server;
  return server;
}

export type LocationMatch =
  | { kind: 'found'; location: Location }
  /** A prefix location ending in `/` with an upstream handler: 301 to the URI with a slash. */
  | { kind: 'auto-redirect'; location: Location }
  | { kind: 'none' };

const NONE: LocationMatch = { kind: 'none' };

// The last answer without captures, for the same server{} and URI (the next request usually asks
// the same): the search depends on nothing else, and a reload makes new ServerConfs.
let lastServer: ServerConf | undefined;
let lastUri = '';
let lastMatch: LocationMatch = NONE;

/** ngx_http_core_find_location over a server's locations for a normalised URI. */
export function findLocation(server: ServerConf, uri: string, ctx: VarContext): LocationMatch {
  if (server === lastServer && uri === lastUri) return lastMatch;
  const m = findConfLocation(server, uri);
  if (m.captures) recordCaptures(ctx, m.captures, m.namedCaptures);
  // Results are shared: nobody changes them.
  const match: LocationMatch = !m.location ? NONE : { kind: m.redirect ? 'auto-redirect' : 'found', location: m.location };
  if (!m.captures) {
    lastServer = server;
    lastUri = uri;
    lastMatch = match;
  }
  return match;
}
