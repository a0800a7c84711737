// ngx_http_realip_module: a request from a trusted peer (set_real_ip_from) takes its client address
// from a header (real_ip_header: X-Real-IP by default, X-Forwarded-For, or any other); with
// real_ip_recursive on, the rightmost entry that is not itself trusted. $remote_addr, $remote_port,
// allow/deny, limit keys and the error log's client then see it; $realip_remote_addr keeps the peer.
import { isIP, isIPv4 } from 'node:net';
import type { RealIpSettings } from '../config/state.ts';
import { canonicalIPv6 } from '../nginx/listen.ts';
import { addressMatches } from './access.ts';
import { requestHeader, type VarContext } from './variables.ts';

const trusted = (addr: string, from: readonly string[]): boolean => from.some((f) => addressMatches(f, addr));

/** ngx_parse_addr_port: `addr`, `addr:port` or `[v6]:port`, as nginx prints the address. */
export function parseAddrPort(text: string): { addr: string; port: number } | undefined {
  let host = text;
  let port = 0;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return undefined;
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest !== '') {
      if (!/^:\d{1,5}$/.test(rest)) return undefined;
      port = Number(rest.slice(1));
    }
    if (isIP(host) !== 6) return undefined;
  } else if (isIP(text) === 0) {
    const colon = text.lastIndexOf(':');
    if (colon < 0 || !/^\d{1,5}$/.test(text.slice(colon + 1))) return undefined;
    host = text.slice(0, colon);
    port = Number(text.slice(colon + 1));
    if (!isIPv4(host)) return undefined;
  }
  if (port > 65535) return undefined;
  const addr = isIP(host) === 6 ? canonicalIPv6(host) : host;
  return addr === undefined ? undefined : { addr, port };
}

/**
 * ngx_http_get_forwarded_addr: the entries (split on commas and spaces) from the right. The peer
 * must be trusted; then each entry taken must be trusted for the next one to the left to be read
 * (real_ip_recursive), and one that does not parse stops the walk at what was found.
 */
export function forwardedAddr(peer: string, list: string, s: Pick<RealIpSettings, 'from' | 'recursive'>): { addr: string; port: number } | undefined {
  if (!trusted(peer, s.from)) return undefined;
  const entries = list.split(/[ ,]+/).filter((e) => e !== '');
  let found: { addr: string; port: number } | undefined;
  for (let i = entries.length - 1; i >= 0; i--) {
    if (found && !trusted(found.addr, s.from)) break;
    const a = parseAddrPort(entries[i]!);
    if (!a) break;
    found = a;
    if (!s.recursive) break;
  }
  return found;
}

/**
 * Applies the level's settings once per request (the POST_READ phase with the server's, else the
 * PREACCESS phase with the location's, as nginx runs the module in both). True when the address changed.
 */
export function applyRealIp(ctx: VarContext, s: RealIpSettings | undefined): boolean {
  if (!s || s.from.length === 0 || ctx.realipRemoteAddr !== undefined) return false;
  // proxy_protocol: bext reads no PROXY protocol header, so there is no address to take.
  if (s.header === 'proxy_protocol') return false;
  const value = requestHeader(ctx, s.header);
  if (value === undefined) return false;
  const found = forwardedAddr(ctx.remoteAddr, value, s);
  if (!found) return false;
  ctx.realipRemoteAddr = ctx.remoteAddr;
  ctx.realipRemotePort = ctx.remotePort;
  ctx.remoteAddr = found.addr;
  ctx.remotePort = found.port;
  return true;
}
