// Value syntax nginx checks while it reads the configuration (src/core/ngx_parse.c, ngx_string.c,
// ngx_inet.c): numbers, sizes, offsets, times, flags, and `listen` addresses. Each parser returns
// the value, or undefined where nginx's parser returns NGX_ERROR.

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
  if (text.startsWith('unix:')) {
    if (text.length === 5) return { error: 'no path in the unix domain socket' };
    return { host: text, port: 0, unix: true, ipv6: false };
  }
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { error: 'invalid host' };
    const host = text.slice(1, close);
    if (!/^[0-9a-fA-F:.]+$/.test(host) || !host.includes(':')) return { error: 'invalid IPv6 address' };
    const rest = text.slice(close + 1);
    if (rest === '') return { host, port: defaultPort, unix: false, ipv6: true };
    if (!rest.startsWith(':')) return { error: 'invalid host' };
    const port = checkPort(rest.slice(1));
    return port === undefined ? { error: 'invalid port' } : { host, port, unix: false, ipv6: true };
  }
  const colon = text.lastIndexOf(':');
  if (colon >= 0) {
    const port = checkPort(text.slice(colon + 1));
    if (port === undefined) return { error: 'invalid port' };
    const host = text.slice(0, colon);
    if (host === '') return { error: 'no host' };
    return { host, port, unix: false, ipv6: false };
  }
  // A lone number is a port, anything else a host on the default port.
  if (/^[0-9]+$/.test(text)) {
    const port = checkPort(text);
    return port === undefined ? { error: 'invalid port' } : { host: '*', port, unix: false, ipv6: false };
  }
  if (text === '') return { error: 'no host' };
  return { host: text, port: defaultPort, unix: false, ipv6: false };
}

function checkPort(text: string): number | undefined {
  const n = parseNumber(text);
  return n === undefined || n < 1 || n > 65535 ? undefined : n;
}
