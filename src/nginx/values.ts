// Value syntax nginx checks while it reads the configuration (src/core/ngx_parse.c, ngx_string.c,
// ngx_inet.c): numbers, sizes, offsets, times, flags, and addresses
// (`listen`, upstream URLs). Each parser returns
// the value, or undefined where nginx's parser returns NGX_ERROR.
import { isIP } from 'node:net';

/** ngx_atoi: one or more ASCII digits, no sign, no overflow past a signed 64-bit int. */
export function parseNumber(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= Number.MAX_SAFE_INTEGER ? n : BigInt(text) <= 0x7fffffffffffffffn ? n : undefined;
}

/** ngx_parse_size: a number with an optional k/K or m/M suffix (no g: that is ngx_parse_offset). */
export function parseSize(text: string): number | undefined {
  return parseScaled(text, { k: 1024, m: 1024 * 1024 });
}

/** ngx_parse_offset: like a size, and g/G too. */
export function parseOffset(text: string): number | undefined {
  return parseScaled(text, { k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 });
}

function parseScaled(text: string, units: Record<string, number>): number | undefined {
  const last = text.slice(-1).toLowerCase();
  const scale = units[last];
  const digits = scale === undefined ? text : text.slice(0, -1);
  const n = parseNumber(digits);
  return n === undefined ? undefined : n * (scale ?? 1);
}

const TIME_UNITS: { unit: string; ms: number }[] = [
  { unit: 'y', ms: 365 * 86400_000 },
  { unit: 'M', ms: 30 * 86400_000 },
  { unit: 'w', ms: 7 * 86400_000 },
  { unit: 'd', ms: 86400_000 },
  { unit: 'h', ms: 3600_000 },
  { unit: 'm', ms: 60_000 },
  { unit: 's', ms: 1000 },
  { unit: 'ms', ms: 1 },
];

/**
 * ngx_parse_time: numbers with units in decreasing order (`1h30m`, `1h 30m`), y M w d h m s ms;
 * a trailing bare number counts as seconds. `ms` is refused when seconds are wanted
 * (ngx_conf_set_sec_slot). Returns milliseconds (or seconds for isSec).
 */
export function parseTime(text: string, isSec: boolean): number | undefined {
  let i = 0;
  let step = -1;
  let total = 0;
  let sawValue = false;
  while (i < text.length) {
    if (text[i] === ' ') { i++; continue; }
    let digits = '';
    while (i < text.length && text[i] >= '0' && text[i] <= '9') digits += text[i++];
    if (digits === '') return undefined;
    sawValue = true;
    let unitIndex: number;
    if (i >= text.length || text[i] === ' ') {
      // A bare number: seconds, and it must be the last part.
      unitIndex = TIME_UNITS.findIndex((u) => u.unit === 's');
      const rest = text.slice(i).trim();
      if (rest !== '') return undefined;
    } else if (text.startsWith('ms', i)) {
      if (isSec) return undefined;
      unitIndex = TIME_UNITS.length - 1;
      i += 2;
    } else {
      unitIndex = TIME_UNITS.findIndex((u) => u.unit === text[i]);
      if (unitIndex < 0) return undefined;
      i++;
    }
    if (unitIndex <= step) return undefined;
    step = unitIndex;
    total += Number(digits) * TIME_UNITS[unitIndex].ms;
  }
  if (!sawValue) return undefined;
  return isSec ? Math.floor(total / 1000) : total;
}

/** ngx_conf_set_flag_slot: on/off, case-insensitively. */
export function parseFlag(text: string): boolean | undefined {
  const lower = text.toLowerCase();
  return lower === 'on' ? true : lower === 'off' ? false : undefined;
}

export interface ListenAddress {
  /** "unix:/path", an IPv4/IPv6 literal, a host name, or "*" for all addresses. */
  host: string;
  port: number;
  unix: boolean;
  ipv6: boolean;
}

/** ngx_parse_url for `listen`: `[v6]:port`, `addr:port`, `port`, `addr`, `*:port`, `unix:path`. */
export function parseListenAddress(text: string, defaultPort = 80): ListenAddress | { error: string } {
  const url = parseUrl(text, { listen: true, defaultPort });
  if ('error' in url) return url;
  return { host: url.host, port: url.unix ? 0 : url.port, unix: url.unix, ipv6: url.ipv6 };
}

export interface UrlParts {
  /** An IPv4 literal or host name, an IPv6 literal without brackets, `*` (listen only), or `unix:PATH`. */
  host: string;
  /** The port given, or the default one (0 for unix sockets). */
  port: number;
  /** No port was given. */
  noPort: boolean;
  unix: boolean;
  ipv6: boolean;
  /** The text before the URI part: `host[:port]`, `[v6][:port]` or `unix:PATH`. */
  authority: string;
  /** With uriPart: the URI part (from `/`, or `?` for IPv4 and names; after `unix:PATH:`), if any. */
  uri?: string;
}

export interface UrlOptions {
  /** `listen`: a lone number is a port, `*` is the wildcard address, a URI part is an error. */
  listen?: boolean;
  /** proxy_pass and friends: the URL may carry a URI part. */
  uriPart?: boolean;
  defaultPort?: number;
}

/**
 * ngx_parse_url without name resolution: the error texts are nginx's `u->err` ("invalid port",
 * "no host", …), which each caller wraps in its own message.
 */
export function parseUrl(text: string, opts: UrlOptions = {}): UrlParts | { error: string } {
  if (text.slice(0, 5).toLowerCase() === 'unix:') return parseUnixUrl(text, opts);
  if (text.startsWith('[')) return parseInet6Url(text, opts);
  return parseInetUrl(text, opts);
}

/** sizeof(sun_path) on Linux, the terminating NUL included. */
const SUN_PATH_SIZE = 108;

function parseUnixUrl(text: string, opts: UrlOptions): UrlParts | { error: string } {
  let path = text.slice(5);
  let uri: string | undefined;
  if (opts.uriPart) {
    const colon = path.indexOf(':');
    if (colon >= 0) {
      uri = path.slice(colon + 1);
      path = path.slice(0, colon);
    }
  }
  if (path === '') return { error: 'no path in the unix domain socket' };
  if (Buffer.byteLength(path) + 1 > SUN_PATH_SIZE) return { error: 'too long path in the unix domain socket' };
  const host = text.slice(0, 5 + path.length);
  return { host, port: 0, noPort: true, unix: true, ipv6: false, authority: host, ...(uri === undefined ? {} : { uri }) };
}

function parseInet6Url(text: string, opts: UrlOptions): UrlParts | { error: string } {
  const close = text.indexOf(']');
  if (close < 0) return { error: 'invalid host' };
  let after = text.slice(close + 1);
  let uri: string | undefined;
  // Only `/` starts the URI part here: a `?` stays in the port and makes it invalid.
  const slash = after.indexOf('/');
  if (slash >= 0) {
    if (opts.listen || !opts.uriPart) return { error: 'invalid host' };
    uri = after.slice(slash);
    after = after.slice(0, slash);
  }
  let port = opts.defaultPort ?? 80;
  const noPort = after === '';
  if (!noPort && !after.startsWith(':')) return { error: 'invalid host' };
  if (!noPort) {
    const n = checkPort(after.slice(1));
    if (n === undefined) return { error: 'invalid port' };
    port = n;
  }
  const host = text.slice(1, close);
  if (host === '') return { error: 'no host' };
  if (!/^[0-9a-fA-F:.]+$/.test(host) || isIP(host) !== 6) return { error: 'invalid IPv6 address' };
  const authority = text.slice(0, text.length - (uri?.length ?? 0));
  return { host, port, noPort, unix: false, ipv6: true, authority, ...(uri === undefined ? {} : { uri }) };
}

function parseInetUrl(text: string, opts: UrlOptions): UrlParts | { error: string } {
  let colon = text.indexOf(':');
  const slash = text.indexOf('/');
  const query = text.indexOf('?');
  const uriStart = slash < 0 ? query : query < 0 ? slash : Math.min(slash, query);
  let last = text.length;
  let uri: string | undefined;
  if (uriStart >= 0) {
    if (opts.listen || !opts.uriPart) return { error: 'invalid host' };
    uri = text.slice(uriStart);
    last = uriStart;
    if (uriStart < colon) colon = -1;
  }
  let port = opts.defaultPort ?? 80;
  let noPort = true;
  if (colon >= 0) {
    const n = checkPort(text.slice(colon + 1, last));
    if (n === undefined) return { error: 'invalid port' };
    port = n;
    noPort = false;
    last = colon;
  } else if (uri === undefined && opts.listen && parseNumber(text) !== undefined) {
    // `listen 8080`: a lone number is a port on all addresses.
    const n = checkPort(text);
    if (n === undefined) return { error: 'invalid port' };
    return { host: '*', port: n, noPort: false, unix: false, ipv6: false, authority: text };
  }
  const host = text.slice(0, last);
  if (host === '') return { error: 'no host' };
  const authority = text.slice(0, uriStart < 0 ? text.length : uriStart);
  return { host, port, noPort, unix: false, ipv6: false, authority, ...(uri === undefined ? {} : { uri }) };
}

function checkPort(text: string): number | undefined {
  const n = parseNumber(text);
  return n === undefined || n < 1 || n > 65535 ? undefined : n;
}

/** proxy_pass's URL without its `http://` or `https://` (matched case-insensitively), else undefined. */
export function upstreamUrl(text: string): string | undefined {
  const lower = text.slice(0, 8).toLowerCase();
  return lower.startsWith('http://') ? text.slice(7) : lower.startsWith('https://') ? text.slice(8) : undefined;
}
