// Pure lookups over a RoutingState for the serving engine: which address table a connection
// belongs to, which server{} a host selects, which location a URI selects.
import { isIPv4 } from 'node:net';
import { selectServerInTable, socketKey, type ServerMatch } from './servers.ts';

export { matchServerName } from './servers.ts';
import type { RoutingState, ServerConf, ServerTable } from './state.ts';

export { findLocation, findNamedLocation, type LocationMatch } from './locations.ts';
export { normalizeHost, type ServerMatch } from './servers.ts';

/**
 * The server table key for a connection's local address, as nginx finds its addr_conf: the exact
 * address when some server listens on it, else the wildcard of that port and family. Node reports
 * IPv4 clients of a dual-stack `[::]` socket as `::ffff:a.b.c.d`: they belong to `[::]:port`.
 */
export function addressKeyFor(state: RoutingState, localAddress: string, localPort: number): string | undefined {
  if (localAddress.startsWith('/') || localAddress.startsWith('unix:')) {
    const key = localAddress.startsWith('unix:') ? localAddress : `unix:${localAddress}`;
    return state.tables.has(key) ? key : undefined;
  }
  const family = isIPv4(localAddress) ? 'ipv4' : 'ipv6';
  const exact = socketKey(family, localAddress, localPort);
  if (state.tables.has(exact)) return exact;
  const wildcard = socketKey(family, family === 'ipv4' ? '0.0.0.0' : '::', localPort);
  return state.tables.has(wildcard) ? wildcard : undefined;
}

/**
 * nginx's virtual server selection. With a state and a socket key: the match with regex captures
 * (undefined for an unknown key). With one address's table: just the server (for SNI).
 */
export function selectServer(state: RoutingState, socketKey: string, host: string): ServerMatch | undefined;
export function selectServer(table: ServerTable, host: string): ServerConf;
export function selectServer(a: RoutingState | ServerTable, b: string, c?: string): ServerMatch | ServerConf | undefined {
  if ('tables' in a) {
    const table = a.tables.get(b);
    return table ? selectServerInTable(table, c ?? '') : undefined;
  }
  return selectServerInTable(a, b).server;
}
