// allow/deny (ngx_http_access_module): the first rule matching the client address decides.
import { isIPv4, isIPv6 } from 'node:net';
import type { AccessRule } from '../config/state.ts';
import { ipv4ToInt, ipv6ToBigInt } from '../nginx/addresses.ts';

export { ipv4ToInt, ipv6ToBigInt };

/** `::ffff:1.2.3.4` (how node reports IPv4 clients on a dual-stack socket) → `1.2.3.4`. */
export function unmapIPv4(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1]! : addr;
}

/** Whether `addr` matches `what` (`all`, an address, or CIDR). */
export function addressMatches(what: string, addr: string): boolean {
  if (what === 'all') return true;
  if (what.startsWith('unix:')) return addr.startsWith('unix:');
  const a = unmapIPv4(addr);
  const [net, bitsText] = what.split('/') as [string, string | undefined];
  if (isIPv4(net) && isIPv4(a)) {
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    if (bits === 0) return true;
    const mask = bits >= 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0;
    return ((ipv4ToInt(net) & mask) >>> 0) === ((ipv4ToInt(a) & mask) >>> 0);
  }
  if (isIPv6(net) && isIPv6(a)) {
    const bits = BigInt(bitsText === undefined ? 128 : Number(bitsText));
    const all = (1n << 128n) - 1n;
    const mask = bits === 0n ? 0n : (all << (128n - bits)) & all;
    return (ipv6ToBigInt(net) & mask) === (ipv6ToBigInt(a) & mask);
  }
  return false;
}

/** True when the rules let `addr` in (no rules: allowed). */
export function accessAllowed(rules: readonly AccessRule[], addr: string): boolean {
  for (const r of rules) {
    if (addressMatches(r.what, addr)) return r.allow;
  }
  return true;
}
