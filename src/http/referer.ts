// $invalid_referer (ngx_http_referer_module): "" when the Referer header is one valid_referers
// accepts (or there are none), else "1". The host after http:// or https:// is looked up among the
// names (exact, then wildcards), where a name written with a URI needs the rest to start with it;
// then the server's regex names (server_names), then the regexes, against all after the scheme.
import type { ServerName, ValidReferers } from '../config/state.ts';
import { matchLeading, matchTrailing } from '../config/servers.ts';

const SCHEME = /^https?:\/\//i;

export function invalidReferer(v: ValidReferers | undefined, serverNames: readonly ServerName[], referer: string | undefined): string {
  if (v === undefined) return '';
  if (referer === undefined) return v.none ? '' : '1';
  const scheme = referer.length >= 'http://i.ru'.length ? SCHEME.exec(referer) : null;
  if (!scheme) return v.blocked ? '' : '1';
  const ref = referer.slice(scheme[0].length);
  const end = ref.search(/[/:]/);
  const host = (end < 0 ? ref : ref.slice(0, end)).toLowerCase();
  if (host.length > 256) return '1';
  const found = lookup(v, serverNames, host);
  if (found !== undefined) {
    if (found === true) return '';
    // The URI part: the rest from the first '/' (a port is skipped) must start with it.
    const slash = ref.indexOf('/', host.length);
    const rest = slash < 0 ? '' : ref.slice(slash);
    return rest.startsWith(found) ? '' : '1';
  }
  if (v.serverNames && serverNames.some((n) => n.kind === 'regex' && n.regex!.test(host))) return '';
  return v.regexes.some((r) => r.test(ref)) ? '' : '1';
}

/** true: the host is accepted as it is; a string: only with that URI prefix; undefined: not listed. */
function lookup(v: ValidReferers, serverNames: readonly ServerName[], host: string): true | string | undefined {
  if (v.exact.has(host)) return v.exact.get(host) ?? true;
  if (v.serverNames && serverNames.some((n) => n.kind === 'exact' && n.name === host)) return true;
  const lead = v.leading.length ? matchLeading(v.leading, host) : undefined;
  if (lead) return lead.uri ?? true;
  const trail = v.trailing.length ? matchTrailing(v.trailing, host) : undefined;
  if (trail) return trail.uri ?? true;
  if (v.serverNames && serverNames.some((n) => wildcardMatches(n, host))) return true;
  return undefined;
}

/** A server_name wildcard (`*.x`, `.x`, `x.*`) matching the host, as in the names hash. */
function wildcardMatches(n: ServerName, host: string): boolean {
  if (n.kind === 'leading') {
    const suffix = n.name.startsWith('*') ? n.name.slice(1) : n.name;
    return (host.length > suffix.length && host.endsWith(suffix)) || (n.name.startsWith('.') && host === n.name.slice(1));
  }
  if (n.kind === 'trailing') {
    const prefix = n.name.slice(0, -1);
    return host.length > prefix.length && host.startsWith(prefix);
  }
  return false;
}
