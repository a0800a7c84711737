// `geo` variables (config/geo.ts): the client address (after realip; from X-Forwarded-For when it
// comes from a `proxy` network), or the value of the block's address variable, looked up as
// ngx_http_geo_module does: the most specific network, else the default. An address variable
// whose value is not an address counts as 255.255.255.255 (INADDR_NONE).
import { isIPv4, isIPv6 } from 'node:net';
import type { GeoBlock } from '../config/state.ts';
import { ipv4ToInt, ipv6ToBigInt, unmapIPv4 } from './access.ts';
import { forwardedAddr } from './realip.ts';
import { compiled, evaluate, requestHeader, type VarContext } from './variables.ts';

function longestPrefix(table: GeoBlock['v4'], addr: bigint, width: number): string | undefined {
  for (let bits = width; bits >= 0; bits--) {
    const level = table.get(bits);
    if (!level) continue;
    const mask = bits === 0 ? 0n : ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - bits)) - 1n);
    const v = level.get(addr & mask);
    if (v !== undefined) return v;
  }
  return undefined;
}

export function lookupGeo(g: GeoBlock, ctx: VarContext): string {
  let addr: string;
  if (g.source !== undefined) {
    addr = unmapIPv4(evaluate(compiled(g.source), ctx));
    if (!isIPv4(addr) && !isIPv6(addr)) addr = '255.255.255.255';
  } else {
    addr = ctx.remoteAddr;
    const xff = g.proxies.length ? requestHeader(ctx, 'x-forwarded-for') : undefined;
    if (xff !== undefined) addr = forwardedAddr(addr, xff, { from: g.proxies, recursive: g.proxyRecursive })?.addr ?? addr;
  }
  if (g.ranges) {
    if (!isIPv4(addr)) return g.default;
    const n = ipv4ToInt(addr);
    let lo = 0;
    let hi = g.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = g.ranges[mid]!;
      if (n < r.start) hi = mid - 1;
      else if (n > r.end) lo = mid + 1;
      else return r.value;
    }
    return g.default;
  }
  if (isIPv4(addr)) return longestPrefix(g.v4, BigInt(ipv4ToInt(addr)), 32) ?? g.default;
  if (isIPv6(addr)) return longestPrefix(g.v6, ipv6ToBigInt(addr), 128) ?? g.default;
  return g.default; // a unix socket
}
