// Header rules of ngx_http_proxy_module / ngx_http_upstream: what the upstream receives (the
// proxy_set_header list with nginx's defaults, then the client's headers not overridden) and what
// the client receives (upstream headers minus hop-by-hop and the ones nginx hides or sets itself).
import type { LocationConf } from '../config/state.ts';
import type { ConfNode } from '../nginx/types.ts';
import { effectiveProxyHeaders } from '../config/settings.ts';
import { compiled, requestHeader, type CompiledValue, type VarContext } from './variables.ts';
import type { ProxyTarget } from './proxy-uri.ts';
import type { RequestState } from './pipeline.ts';

/**
 * nginx's own defaults after Host and Connection: body framing is recomputed, and these
 * hop-by-hop or expectation headers are never forwarded unless set explicitly.
 */
const INTERNAL_DEFAULTS = [
  { name: 'Content-Length', value: '$proxy_internal_body_length' },
  { name: 'Transfer-Encoding', value: '$proxy_internal_chunked' },
  { name: 'TE', value: '' },
  { name: 'Keep-Alive', value: '' },
  { name: 'Expect', value: '' },
  { name: 'Upgrade', value: '' },
];

/**
 * Raw directives of the levels around a request, innermost first (location or `if` block,
 * location, server, http): what settings.ts does not model is read from them.
 */
export type ConfLevels = readonly (readonly ConfNode[])[];

/** The request's levels, innermost first (intermediate nested locations are not reachable here). */
export function confLevels(r: RequestState): ConfLevels {
  const levels = [r.conf.directives];
  if (r.location && r.location.conf !== r.conf) levels.push(r.location.conf.directives);
  if (r.server.conf !== r.conf) levels.push(r.server.conf.directives);
  levels.push(r.state.httpDirectives ?? []);
  return levels;
}

/** A directive's values from the innermost level that has it (nginx's inheritance). */
export function directiveArgs(levels: ConfLevels, name: string): string[][] {
  for (const nodes of levels) {
    const own = nodes.filter((d) => d.directive === name);
    if (own.length) return own.map((d) => [...d.args]);
  }
  return [];
}

export function flagDirective(levels: ConfLevels, name: string, dflt: boolean): boolean {
  const all = directiveArgs(levels, name);
  const last = all[all.length - 1];
  return last ? last[0] === 'on' : dflt;
}

/** $proxy_add_x_forwarded_for: the client's X-Forwarded-For (all of them) plus $remote_addr. */
export function proxyAddXForwardedFor(ctx: VarContext): string {
  const xff = requestHeader(ctx, 'x-forwarded-for');
  return xff ? `${xff}, ${ctx.remoteAddr}` : ctx.remoteAddr;
}

/** A view of the request's variables with the proxy module's own ($proxy_host, …) added. */
export function proxyVarContext(ctx: VarContext, target: ProxyTarget, bodyLength: number | undefined): VarContext {
  const outer = ctx.extra;
  return {
    ...ctx,
    extra: (name, c) => {
      switch (name.toLowerCase()) {
        case 'proxy_host': return target.proxyHost;
        case 'proxy_port': return target.proxyPort;
        case 'proxy_add_x_forwarded_for': return proxyAddXForwardedFor(ctx);
        case 'proxy_internal_body_length': return bodyLength === undefined ? '' : String(bodyLength);
        case 'proxy_internal_chunked': return '';
      }
      return outer?.(name, c);
    },
  };
}

/** The proxy module's own variables, answered by proxyVarContext's `extra`. */
const PROXY_VARS = new Set(['proxy_host', 'proxy_port', 'proxy_add_x_forwarded_for', 'proxy_internal_body_length', 'proxy_internal_chunked']);

/** One proxy_set_header line (configured or default), compiled once per location. */
export interface HeaderTemplate {
  name: string;
  lower: string;
  cv: CompiledValue;
  /** The value is exactly one proxy variable (`$proxy_host`): read without a context copy. */
  proxyVar?: string;
}

/**
 * The configuration's part of the header lines nginx sends upstream, kept per location: the
 * proxy_set_header list (configured, then the defaults not overridden) in nginx's order. Per
 * request (proxy.ts) values are evaluated and empty ones dropped, then the client's headers
 * whose names are not in that set follow (unless proxy_pass_request_headers off).
 */
export interface RequestHeaderPlan {
  templates: readonly HeaderTemplate[];
  /** Lower-case names of every template: the client's headers of these names are not passed. */
  names: ReadonlySet<string>;
  /** proxy_pass_request_headers. */
  passClient: boolean;
}

export function requestHeaderPlan(conf: LocationConf, levels: ConfLevels): RequestHeaderPlan {
  const configured = effectiveProxyHeaders(conf.proxySetHeaders);
  const names = new Set(configured.map((h) => h.name.toLowerCase()));
  const all = [...configured, ...INTERNAL_DEFAULTS.filter((h) => !names.has(h.name.toLowerCase()))];
  const templates = all.map((h): HeaderTemplate => {
    const cv = compiled(h.value);
    const only = cv.parts.length === 1 ? cv.parts[0] : undefined;
    const proxyVar = typeof only === 'object' && 'v' in only && PROXY_VARS.has(only.v) ? only.v : undefined;
    return { name: h.name, lower: h.name.toLowerCase(), cv, ...(proxyVar ? { proxyVar } : {}) };
  });
  return { templates, names: new Set(templates.map((t) => t.lower)), passClient: flagDirective(levels, 'proxy_pass_request_headers', true) };
}

/**
 * A proxy variable's value as proxyVarContext gives it, without building that context; undefined
 * when a user variable or a named capture of that name takes precedence (getVariable's order).
 */
export function proxyVarValue(name: string, ctx: VarContext, target: ProxyTarget, bodyLength: number | undefined): string | undefined {
  if (ctx.userVars.has(name) || name in ctx.namedCaptures) return undefined;
  switch (name) {
    case 'proxy_host': return target.proxyHost;
    case 'proxy_port': return target.proxyPort;
    case 'proxy_add_x_forwarded_for': return proxyAddXForwardedFor(ctx);
    case 'proxy_internal_body_length': return bodyLength === undefined ? '' : String(bodyLength);
    case 'proxy_internal_chunked': return '';
  }
  return undefined;
}

/** Never passed to the client: hop-by-hop, and the ones nginx answers itself or keeps for itself. */
const HIDDEN_ALWAYS = new Set(['connection', 'keep-alive', 'transfer-encoding']);
const HIDDEN_BY_DEFAULT = ['date', 'server', 'x-pad', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'];

/** proxy_hide_header / proxy_pass_header applied to nginx's default hidden list. */
export function hiddenResponseHeaders(levels: ConfLevels): Set<string> {
  const hidden = new Set(HIDDEN_BY_DEFAULT);
  for (const [n] of directiveArgs(levels, 'proxy_hide_header')) if (n) hidden.add(n.toLowerCase());
  for (const [n] of directiveArgs(levels, 'proxy_pass_header')) if (n) hidden.delete(n.toLowerCase());
  for (const h of HIDDEN_ALWAYS) hidden.add(h);
  return hidden;
}

/** Upstream header pairs from undici's raw list (Buffers, name/value alternating). */
export function rawPairs(raw: readonly (Buffer | string)[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!.toString('latin1'), raw[i + 1]!.toString('latin1')]);
  return out;
}
