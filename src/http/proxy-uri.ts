// What proxy_pass sends and how it names the upstream (ngx_http_proxy_module.c): the request URI
// (raw client URI, location prefix replaced, or the evaluated URL's URI), $proxy_host/$proxy_port,
// and proxy_redirect's rewriting of Location/Refresh.
import type { LocationConf, ProxyPass } from '../config/state.ts';
import { escapeUri } from './uri.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';

/** A proxy_pass URL taken apart (after variables are evaluated). */
export interface ProxyTarget {
  scheme: 'http' | 'https';
  /** Upstream name or host (no port); for unix sockets the path. */
  host: string;
  port: number;
  /** Whether a port was written. */
  portGiven: boolean;
  unix: boolean;
  /** undefined when the URL has no URI part. */
  uri?: string;
  /** $proxy_host: host, plus `:port` when a non-default port was written; `localhost` for unix. */
  proxyHost: string;
  /** $proxy_port. */
  proxyPort: string;
}

/** Parses `http://host[:port][/uri]` or `http://unix:/path[:/uri]`; undefined if it is not a URL. */
export function parseProxyUrl(url: string): ProxyTarget | undefined {
  const m = /^(https?):\/\//i.exec(url);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase() as 'http' | 'https';
  const defaultPort = scheme === 'https' ? 443 : 80;
  const rest = url.slice(m[0].length);
  if (rest.toLowerCase().startsWith('unix:')) {
    const colon = rest.indexOf(':', 5);
    const path = colon < 0 ? rest.slice(5) : rest.slice(5, colon);
    const uri = colon < 0 ? undefined : rest.slice(colon + 1);
    return { scheme, host: path, port: 0, portGiven: false, unix: true, ...(uri !== undefined ? { uri } : {}), proxyHost: 'localhost', proxyPort: '' };
  }
  const slash = rest.search(/[/?]/);
  const hostPort = slash < 0 ? rest : rest.slice(0, slash);
  let uri = slash < 0 ? undefined : rest.slice(slash);
  // "http://h?x" has the URI "/?x" in nginx.
  if (uri?.startsWith('?')) uri = '/' + uri;
  const pm = /^(.*):(\d+)$/.exec(hostPort);
  const host = pm ? pm[1]! : hostPort;
  if (!host) return undefined;
  const port = pm ? Number(pm[2]) : defaultPort;
  const nonDefault = pm !== null && port !== defaultPort;
  return {
    scheme, host, port, portGiven: pm !== null, unix: false, ...(uri !== undefined ? { uri } : {}),
    proxyHost: nonDefault ? hostPort : host, proxyPort: String(port),
  };
}

/** The URL proxy_pass names for this request (variables evaluated). */
export function proxyTarget(pp: ProxyPass, ctx: VarContext): ProxyTarget | undefined {
  return parseProxyUrl(pp.hasVariables ? evaluate(compiled(pp.raw), ctx) : pp.raw);
}

export interface UriInputs {
  /** r->uri: decoded, normalised, maybe rewritten. */
  uri: string;
  args: string;
  /** r->unparsed_uri: the request target as received. */
  rawUri: string;
  /** False once rewrite or an internal redirect changed the URI. */
  validUnparsedUri: boolean;
  /** False after `rewrite … break`: the location prefix is not replaced then. */
  validLocation: boolean;
  /** The matched location's name ('' for regex or named locations). */
  locationName: string;
  /** The URI had %-escapes, or the request was rewritten/redirected internally: re-escape. */
  escape: boolean;
}

/** ngx_http_proxy_create_request's URI: what goes on the request line to the upstream. */
export function upstreamUri(target: ProxyTarget, hasVariables: boolean, inp: UriInputs): string {
  const part = target.uri ?? '';
  if (hasVariables && part) return part;
  if (!part && inp.validUnparsedUri) return inp.rawUri;
  const locLen = inp.validLocation && part ? inp.locationName.length : 0;
  const rest = inp.uri.length >= locLen ? inp.uri.slice(locLen) : '';
  const tail = inp.escape ? escapeUri(rest) : rest;
  return (inp.validLocation ? part : '') + tail + (inp.args ? '?' + inp.args : '');
}

/** One proxy_redirect rule, ready to apply. */
interface RedirectRule { from: string; regex?: RegExp; to: string }

/** The rules in force: `default` is `proxy_pass-URL → location` (or `URL/ → /` without a URI part). */
export function redirectRules(conf: LocationConf, locationName: string, locationIsPrefix: boolean): readonly RedirectRule[] {
  const pr = conf.proxyRedirect;
  if (pr === 'off') return [];
  const pp = conf.proxyPass;
  const defaultRule = (): RedirectRule | undefined => {
    if (!pp || pp.hasVariables || !locationIsPrefix) return undefined;
    if (pp.uri !== undefined) return { from: pp.raw, to: locationName };
    return { from: pp.raw + '/', to: '/' };
  };
  if (pr === 'default') {
    const d = defaultRule();
    return d ? [d] : [];
  }
  const out: RedirectRule[] = [];
  for (const r of pr) {
    if (r.from === 'default') {
      const d = defaultRule();
      if (d) out.push(d);
    } else out.push(r);
  }
  return out;
}

/** Applies the first matching rule to a Location value (unchanged if none matches). */
export function rewriteRedirect(value: string, rules: readonly RedirectRule[], ctx: VarContext): string {
  return rewriteRedirectMatch(value, rules, ctx) ?? value;
}

/** The value the first matching rule makes of a Location, or undefined when none matches. */
export function rewriteRedirectMatch(value: string, rules: readonly RedirectRule[], ctx: VarContext): string | undefined {
  for (const rule of rules) {
    if (rule.regex) {
      const m = rule.regex.exec(value);
      if (!m) continue;
      const inner: VarContext = { ...ctx, captures: Array.from(m) };
      return evaluate(compiled(rule.to), inner); // a regex rule replaces the whole value
    }
    const from = compiled(rule.from).isStatic ? rule.from : evaluate(compiled(rule.from), ctx);
    if (value.startsWith(from)) return evaluate(compiled(rule.to), ctx) + value.slice(from.length);
  }
  return undefined;
}

/** Refresh: only the part after `url=` is a redirect target. */
export function rewriteRefresh(value: string, rules: readonly RedirectRule[], ctx: VarContext): string {
  const i = value.toLowerCase().indexOf('url=');
  if (i < 0) return value;
  return value.slice(0, i + 4) + rewriteRedirect(value.slice(i + 4), rules, ctx);
}
