// `geo` blocks (ngx_http_geo_module): a variable whose value depends on the client address (or on
// the one another variable gives). Networks, each with its value, the most specific one winning;
// `default` is 0.0.0.0/0 (and ::/0); `delete` takes a network out; `proxy` addresses (with
// `proxy_recursive`) have the address taken from X-Forwarded-For; `ranges` switches to IPv4 ranges
// (`a-b value`), where a later range overrides the part of an earlier one it covers, and `delete`
// takes out only a range with exactly its bounds. nginx's warnings on the way are kept.
import { isIPv4, isIPv6 } from 'node:net';
import { ipv4ToInt, ipv6ToBigInt } from './addresses.ts';
import { ConfError, type ConfNode } from './types.ts';

/** A `geo` block read: values by network, the longest prefix winning. */
export interface GeoBlock {
  /** Without the `$`. */
  variable: string;
  /** The address variable (`geo $address $var`); absent: the client address. */
  source?: string;
  default: string;
  /** Networks by prefix length, then by their (masked) address. */
  v4: Map<number, Map<bigint, string>>;
  v6: Map<number, Map<bigint, string>>;
  /** `ranges`: IPv4 ranges, sorted and disjoint (the networks are unused then). */
  ranges?: { start: number; end: number; value: string }[];
  /** `proxy` networks: from these the address comes from X-Forwarded-For. */
  proxies: string[];
  proxyRecursive: boolean;
}

const confError = (node: ConfNode, text: string) => new ConfError(text, node.file, node.line);

/** A network as nginx reads it (ngx_ptocidr); `lowBits` when the address has bits outside the mask. */
function parseNetwork(text: string): { v6: boolean; bits: number; addr: bigint; lowBits: boolean } | undefined {
  const [net, lenText, extra] = text.split('/');
  if (extra !== undefined || net === undefined) return undefined;
  const v6 = isIPv6(net);
  if (!v6 && !isIPv4(net)) return undefined;
  const max = v6 ? 128 : 32;
  if (lenText !== undefined && !/^\d+$/.test(lenText)) return undefined;
  const bits = lenText === undefined ? max : Number(lenText);
  if (bits > max) return undefined;
  const value = v6 ? ipv6ToBigInt(net) : BigInt(ipv4ToInt(net));
  const mask = bits === 0 ? 0n : ((1n << BigInt(max)) - 1n) ^ ((1n << BigInt(max - bits)) - 1n);
  return { v6, bits, addr: value & mask, lowBits: (value & mask) !== value };
}

/**
 * ngx_http_geo_block over a geo block: the table, nginx's errors (thrown) and its `[warn]`s (to
 * `warn`). The parser runs it when the block is read, as nginx does; the conversion again, quietly.
 */
export function readGeoBlock(g: ConfNode, warn: (node: ConfNode, message: string) => void): GeoBlock {
  const variable = g.args[g.args.length - 1]!;
  if (!variable.startsWith('$')) throw confError(g, `invalid variable name "${variable}"`);
  const source = g.args.length === 2 ? g.args[0] : undefined;
  if (source !== undefined && !source.startsWith('$')) throw confError(g, `invalid variable name "${source}"`);
  const block: GeoBlock = { variable: variable.slice(1), ...(source ? { source } : {}), default: '', v4: new Map(), v6: new Map(), proxies: [], proxyRecursive: false };
  let ranges = false;
  let rangeList: { start: number; end: number; value: string }[] = [];
  for (const e of g.block ?? []) {
    const [key = '', value] = [e.directive, e.args[0]];
    if (key === 'ranges' && e.args.length === 0) {
      ranges = true;
      continue;
    }
    if (key === 'proxy_recursive' && e.args.length === 0) {
      block.proxyRecursive = true;
      continue;
    }
    if (e.args.length !== 1) throw confError(e, `invalid number of the geo parameters`);
    if (key === 'proxy') {
      if (!parseNetwork(value!)) throw confError(e, `invalid network "${value}"`);
      block.proxies.push(value!);
      continue;
    }
    if (key === 'default') {
      block.default = value!;
      continue;
    }
    if (ranges) {
      const del = key === 'delete';
      const text = del ? value! : key;
      const m = /^(\d+\.\d+\.\d+\.\d+)-(\d+\.\d+\.\d+\.\d+)$/.exec(text);
      if (!m || !isIPv4(m[1]!) || !isIPv4(m[2]!)) throw confError(e, `invalid range "${text}"`);
      const start = ipv4ToInt(m[1]!);
      const end = ipv4ToInt(m[2]!);
      if (start > end) throw confError(e, `invalid range "${text}"`);
      if (!del) rangeList = addRange(rangeList, { start, end, value: value! });
      else {
        // ngx_http_geo_delete_range: only a range with exactly these bounds goes.
        const at = rangeList.findIndex((r) => r.start === start && r.end === end);
        if (at < 0) warn(e, `no address range "${text}" to delete`);
        else rangeList.splice(at, 1);
      }
      continue;
    }
    const del = key === 'delete';
    const text = del ? value! : key;
    const net = parseNetwork(text === 'default' ? '0.0.0.0/0' : text);
    if (!net) throw confError(e, `invalid network "${text}"`);
    if (net.lowBits) warn(e, `low address bits of ${text} are meaningless`);
    const table = net.v6 ? block.v6 : block.v4;
    let level = table.get(net.bits);
    if (!level) table.set(net.bits, (level = new Map()));
    const old = level.get(net.addr);
    if (del) {
      if (old === undefined) warn(e, `no network "${text}" to delete`);
      level.delete(net.addr);
    } else {
      if (old !== undefined) warn(e, `duplicate network "${text}", value: "${value}", old value: "${old}"`);
      level.set(net.addr, value!);
    }
  }
  if (ranges) block.ranges = rangeList;
  // The default is the /0 network's value when one was given that way.
  const zero = block.v4.get(0)?.get(0n);
  if (zero !== undefined && !(g.block ?? []).some((e) => e.directive === 'default')) block.default = zero;
  return block;
}

/** A later range overrides what it covers of earlier ones (which are cut around it). Sorted, disjoint. */
function addRange(list: { start: number; end: number; value: string }[], r: { start: number; end: number; value: string }): { start: number; end: number; value: string }[] {
  const next: typeof list = [];
  for (const o of list) {
    if (o.end < r.start || o.start > r.end) next.push(o);
    else {
      if (o.start < r.start) next.push({ start: o.start, end: r.start - 1, value: o.value });
      if (o.end > r.end) next.push({ start: r.end + 1, end: o.end, value: o.value });
    }
  }
  next.push(r);
  return next.sort((a, b) => a.start - b.start);
}
