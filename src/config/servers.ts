// `listen` sockets and the per-address server tables with nginx's virtual server selection
// (ngx_http_add_listen / ngx_http_add_addresses / ngx_http_server_names / ngx_http_find_virtual_server).
import { isIP } from 'node:net';
import type { ConfNode } from '../nginx/types.ts';
import { canonicalIPv6, parseListenParams, socketKey, type ListenParams } from '../nginx/listen.ts';
import { parseListenAddress } from '../nginx/values.ts';
import { confError, warn, type ConvertContext } from './context.ts';
import { buildRegexIndex, captureCount, compileRegex, firstRegexMatch } from './regex.ts';
import type { ListenSocket, ServerConf, ServerName, ServerTable } from './state.ts';
import { buildLeadingIndex, buildTrie, longestPrefix, longestSuffix, type LeadingIndex, type TrieNode } from './trie.ts';

export { socketKey };

/** One `listen` directive of one server, parsed. */
export interface ListenSpec extends Omit<ListenParams, 'ignored'> {
  key: string;
  family: ListenSocket['family'];
  host: string;
  port: number;
  wildcard: boolean;
  node: ConfNode;
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
    host = canonicalIPv6(addr.host)!; // parseListenAddress has checked the literal
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
  const params = parseListenParams(node.args.slice(1));
  if ('error' in params) throw confError(node, params.error);
  // Built field by field: V8 (11.x) makes an object from a spread plus further properties through a
  // slow path (~1 µs per property), and a large configuration has thousands of listens.
  const spec: ListenSpec = {
    key: socketKey(family, host, addr.port),
    family, host, port: addr.port,
    wildcard: host === '0.0.0.0' || host === '::',
    node,
    defaultServer: params.defaultServer, ssl: params.ssl, http2: params.http2, proxyProtocol: params.proxyProtocol,
    setsOptions: params.setsOptions, bind: params.bind, reuseport: params.reuseport, deferred: params.deferred,
    backlog: params.backlog, rcvbuf: params.rcvbuf, sndbuf: params.sndbuf, fastopen: params.fastopen,
    soKeepalive: params.soKeepalive,
    // Only an IPv6 socket has IPV6_V6ONLY to set.
    ipv6only: family === 'ipv6' ? params.ipv6only : undefined,
  };
  // Node's net module cannot set these socket options.
  for (const a of node.args.slice(1)) {
    const name = a.split('=')[0]!;
    if (UNAPPLIED.has(name)) warn(ctx, node, `listen parameter "${name}" is accepted but not applied by bext`);
  }
  return spec;
}

const UNAPPLIED = new Set(['deferred', 'rcvbuf', 'sndbuf', 'fastopen', 'so_keepalive']);

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
  // ngx_http_optimize_servers builds the names hash (and so finds conflicts) only for an address with
  // several servers, or whose default server has a regex name with captures.
  const hashed = servers.length > 1 || (defaultServer ?? servers[0])?.names.some((n) => n.regex && captureCount(n.regex) > 0) === true;
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
      if (taken && !hashed) continue; // one server alone: its repeated names are never compared
      if (taken) {
        const at = nameNodes.get(server)?.[0] ?? { file: server.file, line: server.line, directive: 'server_name', args: [] };
        // ngx_http_server_names logs this with the cycle's log: no file:line, before "syntax is ok".
        ctx.warnings.push({
          file: at.file, line: at.line, directive: 'server_name', message: `conflicting server name "${n.name}" on ${key}, ignored`,
          beforeSyntaxOk: true, noLocation: true,
        });
        continue;
      }
      if (n.kind === 'exact') exact.set(n.name, server);
      else if (n.kind === 'leading') leading.set(key2, { suffix: key2, matchesBare: n.name.startsWith('.'), server });
      else if (n.kind === 'trailing') trailing.set(n.name, { prefix: n.name.slice(0, -1), server });
      else regexes.push({ name: n.name, regex: n.regex!, server });
    }
  }
  const leadingWildcards = [...leading.values()].sort((a, b) => b.suffix.length - a.suffix.length);
  const trailingWildcards = [...trailing.values()].sort((a, b) => b.prefix.length - a.prefix.length);
  return {
    key,
    servers,
    defaultServer: defaultServer ?? servers[0]!,
    exact,
    leadingWildcards,
    trailingWildcards,
    regexes,
    ...(leadingWildcards.length ? { leadingIndex: buildLeadingIndex(leadingWildcards) } : {}),
    ...(trailingWildcards.length ? { trailingIndex: buildTrie(trailingWildcards.map((w) => [w.prefix, w] as const)) } : {}),
    ...(regexes.length ? { regexIndex: buildRegexIndex(regexes.map((r) => r.regex)) } : {}),
  };
}

/**
 * ngx_http_validate_host: lowercases, strips the port (or what follows an IPv6 literal) and one
 * trailing dot. Undefined means nginx answers 400: "..", "/" or "\\", bytes up to and including
 * space, DEL, an unclosed IPv6 literal, or nothing left.
 */
export function normalizeHost(raw: string): string | undefined {
  // nginx starts dot_pos at len, so "i - 1" (unsigned) never equals it at i = 0: a leading dot passes.
  let dotPos = raw.length;
  let hostLen = raw.length;
  let state: 'usual' | 'literal' | 'rest' = 'usual';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    switch (ch) {
      case '.':
        if (dotPos === i - 1) return undefined;
        dotPos = i;
        break;
      case ':':
        if (state === 'usual') {
          hostLen = i;
          state = 'rest';
        }
        break;
      case '[':
        if (i === 0) state = 'literal';
        break;
      case ']':
        if (state === 'literal') {
          hostLen = i + 1;
          state = 'rest';
        }
        break;
      default: {
        const code = ch.charCodeAt(0);
        if (ch === '/' || ch === '\\' || code <= 0x20 || code === 0x7f) return undefined;
      }
    }
  }
  if (state === 'literal') return undefined;
  let host = raw.slice(0, hostLen);
  if (dotPos === hostLen - 1 && hostLen > 0) host = host.slice(0, -1);
  if (host.length === 0) return undefined;
  return host.toLowerCase();
}

export interface ServerMatch {
  server: ServerConf;
  /** From a regex server_name (index 0 = whole match). */
  captures?: readonly (string | undefined)[];
  namedCaptures?: Readonly<Record<string, string | undefined>>;
}

/**
 * Wildcard match helpers shared with `map … { hostnames; }`: the first of the list (most specific
 * first) that `host` ends with (leaving something before it) or, for `.x`, that is `host` itself.
 * With the list's index the same entry is found by walking the host once.
 */
export function matchLeading<T extends { suffix: string; matchesBare: boolean }>(list: readonly T[], host: string, index?: LeadingIndex<T>): T | undefined {
  // `.x` matching `x` itself is longer than any suffix of `x`: it comes first in the list.
  if (index) return index.bare.get(host) ?? longestSuffix(index.proper, host, 1);
  return list.find((w) => (host.length > w.suffix.length && host.endsWith(w.suffix)) || (w.matchesBare && host === w.suffix.slice(1)));
}

/** The first of the list (longest first) that `host` starts with, leaving something after it. */
export function matchTrailing<T extends { prefix: string }>(list: readonly T[], host: string, index?: TrieNode<T>): T | undefined {
  if (index) return longestPrefix(index, host, 1);
  return list.find((w) => host.length > w.prefix.length && host.startsWith(w.prefix));
}

/** The server an exact or wildcard name selects (no captures), or undefined. */
export function serverByName(table: ServerTable, host: string): ServerConf | undefined {
  const exact = table.exact.get(host);
  if (exact) return exact;
  if (host === '') return undefined;
  if (table.leadingWildcards.length) {
    const lead = matchLeading(table.leadingWildcards, host, table.leadingIndex);
    if (lead) return lead.server;
  }
  if (table.trailingWildcards.length) {
    const trail = matchTrailing(table.trailingWildcards, host, table.trailingIndex);
    if (trail) return trail.server;
  }
  return undefined;
}

/**
 * The virtual server for a connection accepted on address `key` (see addressKeyFor) with this
 * normalised host ('' when the request has none): exact, longest leading wildcard, longest
 * trailing wildcard, first regex, then the address's default server.
 */
export function selectServerInTable(table: ServerTable, host: string): ServerMatch {
  return matchServerName(table, host) ?? { server: table.defaultServer };
}

/** The server whose server_name matches `host` (ngx_http_find_virtual_server); undefined: none does. */
export function matchServerName(table: ServerTable, host: string): ServerMatch | undefined {
  const named = serverByName(table, host);
  if (named) return { server: named };
  if (host !== '') {
    const re = firstRegexMatch(table.regexes, host, table.regexIndex);
    if (re) return { server: re.entry.server, captures: re.captures, ...(re.namedCaptures ? { namedCaptures: re.namedCaptures } : {}) };
  }
  return undefined;
}
