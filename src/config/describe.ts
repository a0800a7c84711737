// A JSON-able summary of a RoutingState, for `bext-server nginx check --json`.
import type { Location, LocationLevel, RoutingState } from './state.ts';

export interface LocationSummary {
  match: 'exact' | 'prefix' | 'prefix-noregex' | 'regex' | 'regex-caseless' | 'named';
  name: string;
  autoRedirect?: true;
  at: string;
  nested?: LocationSummary[];
}

export interface StateSummary {
  listen: { address: string; ssl: boolean; http2: boolean; defaultServer: boolean; bound: boolean; ipv6only?: boolean; options: Record<string, string | number | boolean> }[];
  addresses: { address: string; servers: { names: string[]; default: boolean; at: string; locations: LocationSummary[] }[] }[];
  upstreams: { name: string; method: string; servers: string[] }[];
  limitReqZones: { name: string; key: string; size: number; ratePerSecond: number }[];
  limitConnZones: { name: string; key: string; size: number }[];
  maps: { source: string; variable: string; entries: number }[];
  logFormats: string[];
  certificates: { names: string[]; certificate: string; key: string }[];
  main: { user?: string; workerProcesses: number | 'auto'; pid: string; daemon: boolean; errorLog: string[] };
}

function locations(level: LocationLevel, named: Iterable<Location> = []): LocationSummary[] {
  // Config order is what a reader recognises.
  const all = [...level.exact.values(), ...level.prefixes, ...level.regexes, ...named].sort((a, b) =>
    a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1,
  );
  return all.map((l) => {
    const s: LocationSummary = { match: l.kind, name: l.name, at: `${l.file}:${l.line}` };
    if (l.autoRedirect) s.autoRedirect = true;
    const nested = locations(l.nested);
    if (nested.length) s.nested = nested;
    return s;
  });
}

export function describeState(state: RoutingState): StateSummary {
  return {
    listen: state.listens.map((l) => {
      const options: Record<string, string | number | boolean> = {};
      if (l.backlog !== undefined) options.backlog = l.backlog;
      if (l.reuseport) options.reuseport = true;
      if (l.deferred) options.deferred = true;
      if (l.rcvbuf !== undefined) options.rcvbuf = l.rcvbuf;
      if (l.sndbuf !== undefined) options.sndbuf = l.sndbuf;
      if (l.fastopen !== undefined) options.fastopen = l.fastopen;
      if (l.soKeepalive !== undefined) options.so_keepalive = l.soKeepalive;
      if (l.proxyProtocol) options.proxy_protocol = true;
      return {
        address: l.key, ssl: l.ssl, http2: l.http2, defaultServer: l.defaultServer, bound: l.bound,
        ...(l.family === 'ipv6' && l.wildcard ? { ipv6only: l.ipv6only } : {}), options,
      };
    }),
    addresses: [...state.tables.values()].map((t) => ({
      address: t.key,
      servers: t.servers.map((s) => ({
        names: s.names.map((n) => n.name),
        default: t.defaultServer === s,
        at: `${s.file}:${s.line}`,
        locations: locations(s.locations, s.named.values()),
      })),
    })),
    upstreams: [...state.upstreams.values()].map((u) => ({
      name: u.name,
      method: u.method.kind === 'hash' && u.method.consistent ? 'hash consistent' : u.method.kind,
      servers: u.servers.map((s) => s.address + (s.backup ? ' backup' : '') + (s.down ? ' down' : '')),
    })),
    limitReqZones: [...state.limitReqZones.values()].map(({ name, key, size, ratePerSecond }) => ({ name, key, size, ratePerSecond })),
    limitConnZones: [...state.limitConnZones.values()].map(({ name, key, size }) => ({ name, key, size })),
    maps: state.maps.map((m) => ({
      source: m.source, variable: '$' + m.variable,
      entries: m.exact.size + m.leadingWildcards.length + m.trailingWildcards.length + m.regexes.length,
    })),
    logFormats: [...state.logFormats.keys()],
    certificates: state.tls.flatMap((t) =>
      t.tls.certificates.map((c) => ({ names: t.names.map((n) => n.name), certificate: c.certificate, key: c.key })),
    ),
    main: {
      ...(state.main.user ? { user: state.main.user.user } : {}),
      workerProcesses: state.main.workerProcesses,
      pid: state.main.pid,
      daemon: state.main.daemon,
      errorLog: state.main.errorLogs.map((e) => e.path),
    },
  };
}
