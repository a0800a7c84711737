// `listen`: the address and parameter syntax (ngx_http_core_listen), and the two per-address
// rules nginx applies while reading (ngx_http_add_addresses): one default_server and one set of
// socket options per address:port.
import { isIP } from 'node:net';
import type { ConfNode } from './types.ts';
import type { ParseState } from './catalogue.ts';
import { parseListenAddress, parseNumber, parseSize, parseTime } from './values.ts';

type Fail = (message: string) => never;

/** The listen options that nginx allows only once per address:port (`lsopt.set`). */
const SOCKET_OPTIONS = ['bind', 'backlog', 'rcvbuf', 'sndbuf', 'deferred', 'ipv6only', 'reuseport', 'so_keepalive', 'fastopen'];

export function checkListen(state: ParseState, node: ConfNode, fail: Fail): void {
  const [address, ...params] = node.args;
  const parsed = parseListenAddress(address);
  if ('error' in parsed) fail(`${parsed.error} in "${address}" of the "listen" directive`);
  const addr = parsed as Exclude<typeof parsed, { error: string }>;

  let defaultServer = false;
  let socketOptions = false;
  for (const p of params) {
    const [key, value] = p.includes('=') ? [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] : [p, undefined];
    if ((key === 'default_server' || key === 'default') && value === undefined) defaultServer = true;
    else if (['ssl', 'http2', 'proxy_protocol', 'bind', 'deferred', 'reuseport'].includes(key) && value === undefined) {
      if (SOCKET_OPTIONS.includes(key)) socketOptions = true;
    } else if (key === 'backlog' && value !== undefined) {
      if (!parseNumber(value)) fail(`invalid backlog "${p}"`);
      socketOptions = true;
    } else if ((key === 'rcvbuf' || key === 'sndbuf') && value !== undefined) {
      if (parseSize(value) === undefined) fail(`invalid ${key} "${p}"`);
      socketOptions = true;
    } else if (key === 'fastopen' && value !== undefined) {
      if (parseNumber(value) === undefined) fail(`invalid fastopen "${p}"`);
      socketOptions = true;
    } else if (key === 'ipv6only' && (value === 'on' || value === 'off')) {
      socketOptions = true;
    } else if (key === 'so_keepalive' && value !== undefined) {
      if (!validSoKeepalive(value)) fail(`invalid so_keepalive value: "${p}"`);
      socketOptions = true;
    } else {
      fail(`invalid parameter "${p}"`);
    }
  }

  // ngx_http_add_addresses: these two checks need the literal address (host names resolve).
  const key = listenKey(addr);
  if (key === undefined) return;
  const listens = (state.listens ??= new Map());
  const seen = listens.get(key) ?? { defaultServer: false, options: false };
  if (socketOptions && seen.options) fail(`duplicate listen options for ${key}`);
  if (defaultServer && seen.defaultServer) fail(`a duplicate default server for ${key}`);
  listens.set(key, { defaultServer: seen.defaultServer || defaultServer, options: seen.options || socketOptions });
}

/** The socket address nginx prints for a listen (`0.0.0.0:80`, `[::]:80`), for literal addresses only. */
export function listenKey(addr: { host: string; port: number; unix: boolean; ipv6: boolean }): string | undefined {
  if (addr.unix) return addr.host;
  if (addr.ipv6) {
    const normal = normaliseIPv6(addr.host);
    return normal === undefined ? undefined : `[${normal}]:${addr.port}`;
  }
  const host = addr.host === '*' ? '0.0.0.0' : addr.host;
  return isIP(host) === 4 ? `${host}:${addr.port}` : undefined;
}

function normaliseIPv6(text: string): string | undefined {
  if (isIP(text) !== 6) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

function validSoKeepalive(value: string): boolean {
  if (value === 'on' || value === 'off') return true;
  const parts = value.split(':');
  if (parts.length !== 3) return false;
  return parts.every((p, i) => p === '' || (i === 2 ? parseNumber(p) !== undefined : parseTime(p, true) !== undefined));
}
