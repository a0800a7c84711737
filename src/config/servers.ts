// `listen` sockets and the per-address server tables with nginx's virtual server selection
// (ngx_http_add_listen / ngx_http_add_addresses / ngx_http_server_names / ngx_http_find_virtual_server).
import { isIP } from 'node:net';
import type { ConfNode } from '../nginx/types.ts';
import { parseListenAddress, parseNumber, parseSize } from '../nginx/values.ts';
import { confError, warn, type ConvertContext } from './context.ts';
import { compileRegex } from './regex.ts';
import type { ListenSocket, ServerConf, ServerName, ServerTable } from './state.ts';

/** One `listen` directive of one server, parsed. */
export interface ListenSpec {
  key: string;
  family: ListenSocket['family'];
  host: string;
  port: number;
  wildcard: boolean;
  defaultServer: boolean;
  ssl: boolean;
  http2: boolean;
  proxyProtocol: boolean;
  /** Socket options were given (they may appear once per address). */
  setsOptions: boolean;
  bind: boolean;
  ipv6only?: boolean;
  backlog?: number;
  reuseport: boolean;
  rcvbuf?: number;
  sndbuf?: number;
  deferred: boolean;
  fastopen?: number;
  soKeepalive?: string;
  node: ConfNode;
}

function canonicalIPv6(host: string): string {
  return new URL(`http://[${host}]/`).hostname.slice(1, -1);
}

export function socketKey(family: ListenSocket['family'], host: string, port: number): string {
  if (family === 'unix') return host;
  return family === 'ipv6' ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses one `listen`; `defaultPort` is 80 (root) or 8000. */
export function parseListen(node: ConfNode, ctx: ConvertContext, defaultPort = 80): ListenSpec {
  const addr = parseListenAddress(node.args[0]!, defaultPort);
  if ('error' in addr) throw confError(node, `${addr.error} in "${node.args[0]}" of the "listen" directive`);
  let family: ListenSocket['family'];
  let host: string;
  if (addr.unix) {
    family = 'unix';
    host = addr.host;
  } else if (addr.ipv6) {
    family = 'ipv6';
    host = canonicalIPv6(addr.host);
  } else if (addr.host === '*') {
    family = 'ipv4';
    host = '0.0.0.0';
  } else if (isIP(addr.host) === 4) {
    family = 'ipv4';
    host = addr.host;
  } else {
    // nginx resolves a name here; without DNS at config time only localhost is certain.
    family = 'ipv4';
    host = addr.host.toLowerCase() === 'localhost' ? '127.0.0.1' : addr.host;
    if (host !== '127.0.0.1') warn(ctx, node, `listen host name "${addr.host}" is not resolved; use an IP address`);
  }
  const spec: ListenSpec = {
    key: socketKey(family, host, addr.port),
    family, host, port: addr.port,
    wildcard: host === '0.0.0.0' || host === '::',
    defaultServer: false, ssl: false, http2: false, proxyProtocol: false,
    setsOptions: false, bind: false, reuseport: false, deferred: false,
    node,
  };
  const number = (text: string, a: string): number => {
    const v = parseNumber(text);
    if (v === undefined || v === 0) throw confError(node, `invalid ${a.split('=')[0]} "${text}"`);
    return v;
  };
  const unapplied: string[] = [];
  for (const a of node.args.slice(1)) {
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    const value = eq < 0 ? '' : a.slice(eq + 1);
    const option = (): void => {
      spec.setsOptions = true;
      spec.bind = true;
    };
    switch (name) {
      case 'default_server': case 'default': spec.defaultServer = true; break;
      case 'ssl': spec.ssl = true; break;
      case 'http2': spec.http2 = true; break;
      case 'proxy_protocol': spec.proxyProtocol = true; break;
      case 'bind': option(); break;
      case 'deferred': option(); spec.deferred = true; unapplied.push(name); break;
      case 'reuseport': option(); spec.reuseport = true; break;
      case 'backlog': option(); spec.backlog = number(value, a); break;
      case 'rcvbuf': option(); spec.rcvbuf = parseSize(value); unapplied.push(name); break;
      case 'sndbuf': option(); spec.sndbuf = parseSize(value); unapplied.push(name); break;
      case 'fastopen': option(); spec.fastopen = number(value, a); unapplied.push(name); break;
      case 'so_keepalive': option(); spec.soKeepalive = value; unapplied.push(name); break;
      case 'setfib': case 'accept_filter': option(); unapplied.push(name); break;
      case 'ipv6only':
        if (value !== 'on' && value !== 'off') throw confError(node, `invalid ipv6only flags "${value}"`);
        if (family !== 'ipv6' || !spec.wildcard) throw confError(node, `ipv6only is not supported on addr "${spec.key}", ignored`);
        option();
        spec.ipv6only = value === 'on';
        break;
      default:
        throw confError(node, `invalid parameter "${a}"`);
    }
  }
  // Node's net module cannot set these socket options.
  for (const name of unapplied) warn(ctx, node, `listen parameter "${name}" is accepted but not applied by bext`);
  return spec;
}

/** The implicit `listen` of a server without one: `*:80` as root, `*:8000` otherwise. */
export function implicitListen(server: ConfNode, root: boolean, ctx: ConvertContext): ListenSpec {
  const node: ConfNode = { directive: 'listen', args: [root ? '*:80' : '*:8000'], file: server.file, line: server.line };
  return parseListen(node, ctx);
}

/**
 * Merges every server's listens into the socket list, with nginx's config-time errors: one
 * default_server and one set of socket options per address, no address twice in one server.
 */
export function collectSockets(perServer: { listens: ListenSpec[] }[]): ListenSocket[] {
  const sockets = new Map<string, ListenSocket>();
  const optionsSet = new Set<string>();
  for (const { listens } of perServer) {
    const seen = new Set<string>();
    for (const l of listens) {
      if (seen.has(l.key)) throw confError(l.node, `a duplicate listen ${l.key}`);
      seen.add(l.key);
      let s = sockets.get(l.key);
      if (!s) {
        s = {
          key: l.key, family: l.family, host: l.host, port: l.port, wildcard: l.wildcard, bound: true,
          ssl: false, http2: false, proxyProtocol: false, defaultServer: false, ipv6only: true,
          reuseport: false, deferred: false, file: l.node.file, line: l.node.line,
        };
        sockets.set(l.key, s);
      } else if (l.setsOptions && optionsSet.has(l.key)) {
        throw confError(l.node, `duplicate listen options for ${l.key}`);
      }
      if (l.setsOptions) {
        optionsSet.add(l.key);
        applyOptions(s, l);
      }
      if (l.defaultServer) {
        if (s.defaultServer) throw confError(l.node, `a duplicate default server for ${l.key}`);
        s.defaultServer = true;
      }
      // ssl, http2 and proxy_protocol on any listen of an address apply to the whole address.
      s.ssl ||= l.ssl;
      s.http2 ||= l.http2;
      s.proxyProtocol ||= l.proxyProtocol;
    }
  }
  const list = [...sockets.values()];
  // A specific address shares the wildcard socket of its port and family unless it asks for `bind`.
  for (const s of list) {
    if (s.family === 'unix' || s.wildcard) continue;
    const hasWildcard = list.some((w) => w.wildcard && w.family === s.family && w.port === s.port);
    s.bound = !hasWildcard || optionsSet.has(s.key);
  }
  return list;
}

function applyOptions(s: ListenSocket, l: ListenSpec): void {
  s.file = l.node.file;
  s.line = l.node.line;
  if (l.ipv6only !== undefined) s.ipv6only = l.ipv6only;
  if (l.backlog !== undefined) s.backlog = l.backlog;
  if (l.rcvbuf !== undefined) s.rcvbuf = l.rcvbuf;
  if (l.sndbuf !== undefined) s.sndbuf = l.sndbuf;
  if (l.fastopen !== undefined) s.fastopen = l.fastopen;
  if (l.soKeepalive !== undefined) s.soKeepalive = l.soKeepalive;
  s.reuseport = l.reuseport;
  s.deferred = l.deferred;
}

// ---------- server names ----------

/** Parses `server_name` arguments (names lowercased; `~` starts a regex). */
export function parseServerNames(nodes: ConfNode[], hostname: string): ServerName[] {
  if (nodes.length === 0) return [{ name: '', kind: 'exact' }];
  const names: ServerName[] = [];
  for (const node of nodes) {
    for (const arg of node.args) {
      if (arg.startsWith('~')) {
        names.push({ name: arg, kind: 'regex', regex: compileRegex(arg.slice(1), false, node) });
        continue;
      }
      const name = (arg === '$hostname' ? hostname : arg).toLowerCase();
      const star = name.indexOf('*');
      let kind: ServerName['kind'] = 'exact';
      if (name.startsWith('*.') && star === 0 && name.indexOf('*', 1) < 0) kind = 'leading';
      else if (name.startsWith('.') && star < 0 && name.length > 1) kind = 'leading';
      else if (name.endsWith('.*') && star === name.length - 1) kind = 'trailing';
      names.push({ name, kind });
    }
  }
  return names;
}

/** Builds the table for one address from the servers listening on it, in configuration order. */
export function buildServerTable(key: string, servers: ServerConf[], defaultServer: ServerConf | undefined, ctx: ConvertContext, nameNodes: Map<ServerConf, ConfNode[]>): ServerTable {
  const exact = new Map<string, ServerConf>();
  const leading = new Map<string, { suffix: string; matchesBare: boolean; server: ServerConf }>();
  const trailing = new Map<string, { prefix: string; server: ServerConf }>();
  const regexes: ServerTable['regexes'][number][] = [];
  for (const server of servers) {
    for (const n of server.names) {
      // nginx keys both `*.x` and `.x` as the wildcard "x": either conflicts with the other.
      const key2 = n.kind === 'leading' ? n.name.replace(/^\*/, '') : n.name;
      // `.x` also claims the exact name `x`, so it conflicts with an exact `x` either way round.
      const bare = n.kind === 'leading' && n.name.startsWith('.') ? exact.get(n.name.slice(1)) : undefined;
      const dotted = n.kind === 'exact' ? leading.get('.' + n.name) : undefined;
      const owner =
        n.kind === 'exact' ? exact.get(n.name) ?? (dotted?.matchesBare ? dotted.server : undefined)
        : n.kind === 'leading' ? leading.get(key2)?.server ?? bare
        : n.kind === 'trailing' ? trailing.get(n.name)?.server
        : undefined;
      const taken = owner !== undefined;
      if (taken && owner === server) continue; // the same name twice in one server is harmless
      if (taken) {
        const at = nameNodes.get(server)?.[0] ?? { file: server.file, line: server.line, directive: 'server_name', args: [] };
        ctx.warnings.push({ file: at.file, line: at.line, directive: 'server_name', message: `conflicting server name "${n.name}" on ${key}, ignored` });
        continue;
      }
      if (n.kind === 'exact') exact.set(n.name, server);
      else if (n.kind === 'leading') leading.set(key2, { suffix: key2, matchesBare: n.name.startsWith('.'), server });
      else if (n.kind === 'trailing') trailing.set(n.name, { prefix: n.name.slice(0, -1), server });
      else regexes.push({ name: n.name, regex: n.regex!, server });
    }
  }
  return {
    key,
    servers,
    defaultServer: defaultServer ?? servers[0]!,
    exact,
    leadingWildcards: [...leading.values()].sort((a, b) => b.suffix.length - a.suffix.length),
    trailingWildcards: [...trailing.values()].sort((a, b) => b.prefix.length - a.prefix.length),
    regexes,
  };
}

/**
 * ngx_http_validate_host: lowercase, strip the port and one trailing dot. Undefined means nginx
 * answers 400 (a `..`, a `/` or `\`, a NUL, or nothing left).
 */
export function normalizeHost(raw: string): string | undefined {
  const h = raw.toLowerCase();
  let dotPos = h.length;
  let hostLen = h.length;
  let inBrackets = false;
  for (let i = 0; i < h.length; i++) {
    const c = h[i]!;
    if (c === '.') {
      if (dotPos === i - 1) return undefined;
      dotPos = i;
    } else if (c === ':') {
      if (!inBrackets) {
        hostLen = i;
        break;
      }
    } else if (c === '[') {
      if (i === 0) inBrackets = true;
    } else if (c === ']') {
      inBrackets = false;
    } else if (c === '/' || c === '\\' || c === '\0') {
      return undefined;
    }
  }
  if (dotPos === hostLen - 1) hostLen--;
  if (hostLen === 0) return undefined;
  return h.slice(0, hostLen);
}

export interface ServerMatch {
  server: ServerConf;
  /** From a regex server_name (index 0 = whole match). */
  captures?: readonly (string | undefined)[];
  namedCaptures?: Readonly<Record<string, string | undefined>>;
}

/** Wildcard match helpers shared with `map … { hostnames; }`. */
export function matchLeading<T extends { suffix: string; matchesBare: boolean }>(list: readonly T[], host: string): T | undefined {
  return list.find((w) => (host.length > w.suffix.length && host.endsWith(w.suffix)) || (w.matchesBare && host === w.suffix.slice(1)));
}

export function matchTrailing<T extends { prefix: string }>(list: readonly T[], host: string): T | undefined {
  return list.find((w) => host.length > w.prefix.length && host.startsWith(w.prefix));
}

/**
 * The virtual server for a connection accepted on address `key` (see addressKeyFor) with this
 * normalised host ('' when the request has none): exact, longest leading wildcard, longest
 * trailing wildcard, first regex, then the address's default server.
 */
export function selectServerInTable(table: ServerTable, host: string): ServerMatch {
  const exact = table.exact.get(host);
  if (exact) return { server: exact };
  if (host !== '') {
    const lead = matchLeading(table.leadingWildcards, host);
    if (lead) return { server: lead.server };
    const trail = matchTrailing(table.trailingWildcards, host);
    if (trail) return { server: trail.server };
    for (const r of table.regexes) {
      r.regex.lastIndex = 0;
      const m = r.regex.exec(host);
      if (!m) continue;
      const match: ServerMatch = { server: r.server, captures: Array.from(m) };
      if (m.groups) match.namedCaptures = { ...m.groups };
      return match;
    }
  }
  return { server: table.defaultServer };
}
