// Server and location selection over a RoutingState (ngx_http_find_virtual_server,
// ngx_http_core_find_location), plus Host validation (ngx_http_validate_host).
import type { Location, LocationLevel, ServerConf, ServerTable } from '../config/state.ts';
import { regexMatch } from './rewrite.ts';
import type { VarContext } from './variables.ts';

/**
 * ngx_http_validate_host: lowercases, strips the port (or what follows an IPv6 literal) and one
 * trailing dot. Returns undefined for a host nginx rejects with 400: "..", "/" or "\\", bytes up to
 * and including space, DEL, an unclosed IPv6 literal, or nothing left.
 */
export function validateHost(raw: string): string | undefined {
  // nginx starts dot_pos at len, so "i - 1" (unsigned) never equals it at i = 0: a leading dot passes.
  let dotPos = raw.length;
  let hostLen = raw.length;
  let state: 'usual' | 'literal' | 'rest' = 'usual';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    switch (ch) {
      case '.':
        if (dotPos === i - 1) return undefined;
        dotPos = i;
        break;
      case ':':
        if (state === 'usual') { hostLen = i; state = 'rest'; }
        break;
      case '[':
        if (i === 0) state = 'literal';
        break;
      case ']':
        if (state === 'literal') { hostLen = i + 1; state = 'rest'; }
        break;
      default: {
        const code = ch.charCodeAt(0);
        if (ch === '/' || ch === '\\' || code <= 0x20 || code === 0x7f) return undefined;
      }
    }
  }
  if (state === 'literal') return undefined;
  let host = raw.slice(0, hostLen);
  if (dotPos === hostLen - 1 && hostLen > 0) host = host.slice(0, -1);
  if (host.length === 0) return undefined;
  return host.toLowerCase();
}

/** The server{} for a validated host on one address (exact → *.x → x.* → regex → default). */
export function selectServer(table: ServerTable, host: string, ctx?: VarContext): ServerConf {
  if (host === '') {
    // No Host: a server_name "" matches; else the default.
    return table.exact.get('') ?? table.defaultServer;
  }
  const exact = table.exact.get(host);
  if (exact) return exact;
  for (const w of table.leadingWildcards) {
    if (host.endsWith(w.suffix) && host.length > w.suffix.length) return w.server;
    if (w.matchesBare && host === w.suffix.slice(1)) return w.server;
  }
  for (const w of table.trailingWildcards) {
    if (host.startsWith(w.prefix) && host.length > w.prefix.length) return w.server;
  }
  for (const r of table.regexes) {
    const ok = ctx ? regexMatch(r.regex, host, ctx) : (r.regex.lastIndex = 0, r.regex.test(host));
    if (ok) return r.server;
  }
  return table.defaultServer;
}

export type LocationMatch =
  | { kind: 'found'; location: Location }
  /** A prefix location ending in `/` with an upstream handler: 301 to the URI with a slash. */
  | { kind: 'auto-redirect'; location: Location }
  | { kind: 'none' };

function findIn(level: LocationLevel, uri: string, ctx: VarContext): LocationMatch {
  const exact = level.exact.get(uri);
  if (exact) return { kind: 'found', location: exact };

  let prefix: Location | undefined;
  for (const p of level.prefixes) {
    if (uri.startsWith(p.name)) { prefix = p; break; }
  }
  // nginx's tree visits the deeper "/x/" node when searching "/x": auto-redirect wins there.
  const slashed = uri + '/';
  for (const p of level.prefixes) {
    if (p.autoRedirect && p.name === slashed) return { kind: 'auto-redirect', location: p };
  }
  const exactSlash = level.exact.get(slashed);
  if (exactSlash?.autoRedirect) return { kind: 'auto-redirect', location: exactSlash };

  let result: LocationMatch = { kind: 'none' };
  let noregex = false;
  if (prefix) {
    result = { kind: 'found', location: prefix };
    noregex = prefix.kind === 'prefix-noregex';
    const nested = findIn(prefix.nested, uri, ctx);
    if (nested.kind === 'auto-redirect') return nested;
    if (nested.kind === 'found') {
      // An exact or regex hit inside the prefix is final; a nested prefix continues as the candidate.
      if (nested.location.kind !== 'prefix' && nested.location.kind !== 'prefix-noregex') return nested;
      result = nested;
    }
  }
  if (!noregex) {
    for (const r of level.regexes) {
      if (r.regex && regexMatch(r.regex, uri, ctx)) {
        const nested = findIn(r.nested, uri, ctx);
        return nested.kind === 'found' ? nested : { kind: 'found', location: r };
      }
    }
  }
  return result;
}

/** ngx_http_core_find_location over a server's locations for a normalised URI. */
export function findLocation(server: ServerConf, uri: string, ctx: VarContext): LocationMatch {
  return findIn(server.locations, uri, ctx);
}
