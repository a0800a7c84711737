// `listen`: the address and parameter syntax (ngx_http_core_listen), and the two per-address
// rules nginx applies while reading (ngx_http_add_addresses): one default_server and one set of
// socket options per address:port.
import { isIP } from 'node:net';
import { ConfError, type ConfNode } from './types.ts';
import type { ParseState } from './catalogue.ts';
import { parseListenAddress, parseNumber, parseSize, parseTime } from './values.ts';

type Fail = (message: string) => never;

/** The per-address socket options of `listen` (nginx allows them on one listen of an address). */
export interface SocketOptions {
  backlog?: number;
  reuseport: boolean;
  rcvbuf?: number;
  sndbuf?: number;
  deferred: boolean;
  fastopen?: number;
  soKeepalive?: string;
}

/** The parameters after a listen address, as ngx_http_core_listen reads them. */
export interface ListenParams extends SocketOptions {
  defaultServer: boolean;
  ssl: boolean;
  http2: boolean;
  proxyProtocol: boolean;
  /** Socket options were given (`lsopt.set`): allowed on one listen of an address only. */
  setsOptions: boolean;
  /** The address gets a socket of its own (`lsopt.bind`). */
  bind: boolean;
  /** As given; nginx sets IPV6_V6ONLY on IPv6 sockets only and ignores it elsewhere, silently. */
  ipv6only?: boolean;
  /** What nginx logs (at emerg level) and then ignores: accept filters do not exist on Linux. */
  ignored: string[];
}

/** Parses listen parameters with nginx's (Linux build's) rules and error texts. */
export function parseListenParams(params: readonly string[]): ListenParams | { error: string } {
  const out: ListenParams = {
    defaultServer: false, ssl: false, http2: false, proxyProtocol: false, setsOptions: false, bind: false,
    reuseport: false, deferred: false, ignored: [],
  };
  const option = (): void => {
    out.setsOptions = true;
    out.bind = true;
  };
  for (const p of params) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? undefined : p.slice(eq + 1);
    if (value === undefined) {
      switch (key) {
        case 'default_server': case 'default': out.defaultServer = true; continue;
        case 'ssl': out.ssl = true; continue;
        case 'http2': out.http2 = true; continue;
        case 'proxy_protocol': out.proxyProtocol = true; continue;
        case 'bind': option(); continue;
        case 'deferred': option(); out.deferred = true; continue;
        case 'reuseport': option(); out.reuseport = true; continue;
      }
    } else {
      switch (key) {
        case 'backlog': {
          const n = parseNumber(value);
          if (!n) return { error: `invalid backlog "${p}"` };
          option();
          out.backlog = n;
          continue;
        }
        case 'rcvbuf': case 'sndbuf': {
          const n = parseSize(value);
          if (n === undefined) return { error: `invalid ${key} "${p}"` };
          option();
          out[key] = n;
          continue;
        }
        case 'fastopen': {
          const n = parseNumber(value);
          if (n === undefined) return { error: `invalid fastopen "${p}"` };
          option();
          out.fastopen = n;
          continue;
        }
        case 'accept_filter':
          out.ignored.push(`accept filters "${p}" are not supported on this platform, ignored`);
          continue;
        case 'ipv6only':
          if (!value.startsWith('o')) break; // nginx matches `ipv6only=o`
          if (value !== 'on' && value !== 'off') return { error: `invalid ipv6only flags "${value}"` };
          option();
          out.ipv6only = value === 'on';
          continue;
        case 'so_keepalive':
          if (!validSoKeepalive(value)) return { error: `invalid so_keepalive value: "${value}"` };
          option();
          out.soKeepalive = value;
          continue;
      }
    }
    return { error: `invalid parameter "${p}"` };
  }
  return out;
}

export function checkListen(state: ParseState, node: ConfNode, fail: Fail): void {
  const [address, ...rest] = node.args;
  const parsed = parseListenAddress(address);
  if ('error' in parsed) return fail(`${parsed.error} in "${address}" of the "listen" directive`);
  const params = parseListenParams(rest);
  if ('error' in params) return fail(params.error);
  for (const text of params.ignored) (state.warnings ??= []).push(new ConfError(text, node.file, node.line, 'emerg'));

  // ngx_http_add_addresses: these two checks need the literal address (host names resolve).
  const key = listenKey(parsed);
  if (key === undefined) return;
  const { defaultServer, setsOptions } = params;
  const listens = (state.listens ??= new Map());
  const seen = listens.get(key) ?? { defaultServer: false, options: false };
  if (setsOptions && seen.options) fail(`duplicate listen options for ${key}`);
  if (defaultServer && seen.defaultServer) fail(`a duplicate default server for ${key}`);
  listens.set(key, { defaultServer: seen.defaultServer || defaultServer, options: seen.options || setsOptions });
}

/** nginx's text for a socket address: `0.0.0.0:80`, `[::1]:443`, or the `unix:` path itself. */
export function socketKey(family: 'ipv4' | 'ipv6' | 'unix', host: string, port: number): string {
  if (family === 'unix') return host;
  return family === 'ipv6' ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The socket address nginx prints for a listen (`0.0.0.0:80`, `[::]:80`), for literal addresses only. */
export function listenKey(addr: { host: string; port: number; unix: boolean; ipv6: boolean }): string | undefined {
  if (addr.unix) return socketKey('unix', addr.host, 0);
  if (addr.ipv6) {
    const normal = canonicalIPv6(addr.host);
    return normal === undefined ? undefined : socketKey('ipv6', normal, addr.port);
  }
  const host = addr.host === '*' ? '0.0.0.0' : addr.host;
  return isIP(host) === 4 ? socketKey('ipv4', host, addr.port) : undefined;
}

/** An IPv6 literal the way nginx prints it (RFC 5952, as ngx_inet6_ntop), or undefined if it is not one. */
export function canonicalIPv6(text: string): string | undefined {
  if (isIP(text) !== 6) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** ngx_http_core_listen's so_keepalive: on, off, or `idle:intvl:cnt` with at least one part not zero. */
function validSoKeepalive(value: string): boolean {
  if (value === 'on' || value === 'off') return true;
  // Split at the first two colons only: a third one stays in the count, which then is not a number.
  const first = value.indexOf(':');
  const second = first < 0 ? -1 : value.indexOf(':', first + 1);
  const idle = first < 0 ? value : value.slice(0, first);
  const intvl = first < 0 ? '' : value.slice(first + 1, second < 0 ? value.length : second);
  const cnt = second < 0 ? '' : value.slice(second + 1);
  const times = [idle, intvl].map((t) => (t === '' ? 0 : parseTime(t, true)));
  const count = cnt === '' ? 0 : parseNumber(cnt);
  if (times.includes(undefined) || count === undefined) return false;
  return times.some((t) => t !== 0) || count !== 0;
}
