// Upstream groups as the workers use them: peers resolved from upstream{} blocks (or made
// implicitly from a proxy_pass host:port), their balancing state, and one set of undici
// connections per peer. Everything is keyed by the RoutingState, so a reload starts with fresh state.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Client } from 'undici';
import type { RoutingState, UpstreamGroup, UpstreamServer } from '../config/state.ts';
import { makePeer, makePeerList, roundRobinSelector, type Peer, type PeerList, type Selector } from './upstream-peers.ts';
import { chashSelector, hashSelector, ipHashSelector, leastConnSelector, randomSelector } from './upstream-balance.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';
import type { ProxyTarget } from './proxy-uri.ts';

export interface GroupRuntime {
  /** The upstream{} name, or `host:port` for an implicit group ($upstream_addr on "no live upstreams"). */
  name: string;
  peers: PeerList;
  method: UpstreamGroup['method'];
  /** Cached idle connections (upstream `keepalive N`); 0 means a new connection per request. */
  keepalive: number;
  keepaliveTimeoutMs: number;
  keepaliveRequests: number;
  pools: Map<string, PeerConns>;
  /** The pool each peer used last, with what it was made for: most requests find theirs here. */
  lastPool: Map<Peer, { scheme: string; connectTimeoutMs: number; pool: PeerConns }>;
}

/**
 * One upstream connection: an undici Client (one request at a time) and its proxy_read_timeout.
 * The timeout is a deadline moved on every read, watched by one timer per connection that is
 * set again only when it would fire late: no timer is made, refreshed or cleared per request.
 */
export class UpstreamConn {
  private deadline = 0;
  private fireAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private onTimeout: (() => void) | undefined;

  constructor(readonly client: Client) {}

  /** Calls `onTimeout` unless arm() or disarm() is called again within `ms`. */
  arm(ms: number, onTimeout: () => void): void {
    const now = Date.now();
    this.deadline = now + ms;
    this.onTimeout = onTimeout;
    if (this.timer === undefined || this.deadline < this.fireAt) this.schedule(ms, now);
  }

  /** No deadline: the timer, if set, lapses without effect. */
  disarm(): void {
    this.onTimeout = undefined;
  }

  dispose(): void {
    this.onTimeout = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number, now: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.fireAt = now + ms;
    // Unreferenced: a request under way keeps its sockets (and so the process) alive.
    this.timer = setTimeout(this.fire, ms).unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const cb = this.onTimeout;
    if (cb === undefined) return;
    const now = Date.now();
    if (now >= this.deadline) {
      this.onTimeout = undefined;
      cb();
    } else this.schedule(this.deadline - now, now);
  };
}

/**
 * One peer's upstream connections, the idle ones reused last in, first out (nginx's keepalive
 * cache). A Pool would do the same with a search of its clients and 'drain' events on every
 * request; here the proxy hands a connection back itself when its response is complete.
 */
export class PeerConns {
  private readonly idle: UpstreamConn[] = [];
  private readonly all = new Set<UpstreamConn>();
  closed = false;

  /** `maxIdle`: the `keepalive N` of the upstream block, the most idle connections kept per worker. */
  constructor(private readonly origin: string, private readonly options: Client.Options, private readonly maxIdle = Infinity) {}

  /** An idle connection (its socket may have closed meanwhile: undici connects again), or a new one. */
  acquire(): UpstreamConn {
    let c: UpstreamConn | undefined;
    while ((c = this.idle.pop()) !== undefined) {
      if (!c.client.closed && !c.client.destroyed) return c;
      this.drop(c);
    }
    c = new UpstreamConn(new Client(this.origin, this.options));
    this.all.add(c);
    return c;
  }

  /** A connection whose response is complete: for the next request. */
  release(c: UpstreamConn): void {
    c.disarm();
    if (!this.closed && !c.client.closed && !c.client.destroyed && this.idle.length < this.maxIdle) {
      this.idle.push(c);
      return;
    }
    this.drop(c);
    // Beyond the cache's size the connection is closed, as nginx closes it.
    if (!c.client.closed && !c.client.destroyed) c.client.close().catch(() => {});
  }

  /** A connection whose request failed: not reused (its socket is gone or going). */
  discard(c: UpstreamConn): void {
    this.drop(c);
    if (!c.client.destroyed) c.client.destroy().catch(() => {});
  }

  private drop(c: UpstreamConn): void {
    c.dispose();
    this.all.delete(c);
  }

  /** Closes every connection once its request is over (graceful). */
  async close(): Promise<void> {
    this.closed = true;
    this.idle.length = 0;
    const all = [...this.all];
    this.all.clear();
    await Promise.allSettled(all.map(async (c) => {
      await c.client.close();
      c.dispose();
    }));
  }
}

export class GroupError extends Error {}

/** `host[:port]`, `[v6]:port` or `unix:/path` → where to connect (hosts resolved, all addresses). */
async function resolveAddress(address: string, defaultPort: number): Promise<{ host: string; port: number; socketPath?: string }[]> {
  if (address.toLowerCase().startsWith('unix:')) return [{ host: 'localhost', port: 0, socketPath: address.slice(5) }];
  let host = address;
  let port = defaultPort;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) {
    host = v6[1]!;
    if (v6[2]) port = Number(v6[2]);
  } else {
    const m = /^(.*):(\d+)$/.exec(address);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
  }
  if (isIP(host)) return [{ host, port }];
  // nginx resolves names once, when it reads the configuration (getaddrinfo, every address).
  const addrs = await lookup(host, { all: true });
  return addrs.map((a) => ({ host: a.address, port }));
}

async function buildPeers(servers: readonly UpstreamServer[]): Promise<PeerList> {
  const primary: Peer[] = [];
  const backup: Peer[] = [];
  for (const s of servers) {
    for (const addr of await resolveAddress(s.address, 80)) (s.backup ? backup : primary).push(makePeer(s, s.address, addr));
  }
  return makePeerList(primary, backup);
}

const IMPLICIT_SERVER = { weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, down: false };

/** Resolves and caches groups per RoutingState. */
export class UpstreamRegistry {
  private readonly byState = new WeakMap<RoutingState, Map<string, Promise<GroupRuntime>>>();
  /** The newest state's groups: when a reload brings another state, the old pools are closed. */
  private current?: { state: RoutingState; groups: Promise<GroupRuntime>[] };

  /** Closes every pool of the current state (graceful: requests under way finish first). */
  async close(): Promise<void> {
    const cur = this.current;
    this.current = undefined;
    if (cur) await closeGroups(cur.groups);
  }

  /** The group a proxy_pass target names; rejects with GroupError when the host cannot be used. */
  group(state: RoutingState, target: ProxyTarget, hasVariables: boolean): Promise<GroupRuntime> {
    let groups = this.byState.get(state);
    if (!groups) {
      groups = new Map();
      this.byState.set(state, groups);
    }
    const explicit = !target.portGiven && !target.unix ? state.upstreams.get(target.host) : undefined;
    const key = explicit ? `upstream ${explicit.name}` : target.unix ? `unix:${target.host}` : `${target.host}:${target.port}`;
    let g = groups.get(key);
    if (!g) {
      g = this.build(target, explicit, hasVariables);
      groups.set(key, g);
      g.catch(() => groups!.delete(key));
      if (this.current?.state !== state) {
        // Old pools close once their requests finish; a reload's in-flight requests keep working.
        if (this.current) void closeGroups(this.current.groups);
        this.current = { state, groups: [] };
      }
      this.current.groups.push(g);
    }
    return g;
  }

  private async build(target: ProxyTarget, explicit: UpstreamGroup | undefined, hasVariables: boolean): Promise<GroupRuntime> {
    const common = { pools: new Map<string, PeerConns>(), lastPool: new Map<Peer, { scheme: string; connectTimeoutMs: number; pool: PeerConns }>() };
    if (explicit) {
      return {
        name: explicit.name, peers: await buildPeers(explicit.servers), method: explicit.method,
        keepalive: explicit.keepalive ?? 0, keepaliveTimeoutMs: explicit.keepaliveTimeoutMs,
        keepaliveRequests: explicit.keepaliveRequests, ...common,
      };
    }
    // Without a resolver nginx cannot look up a name that only appears at run time.
    if (hasVariables && !target.unix && !isIP(target.host) && target.host !== 'localhost') {
      throw new GroupError(`no resolver defined to resolve ${target.host}`);
    }
    const address = target.unix ? `unix:${target.host}` : `${target.host}:${target.port}`;
    const peers = target.unix
      ? [makePeer(IMPLICIT_SERVER, address, { host: 'localhost', port: 0, socketPath: target.host })]
      : (await resolveAddress(`${target.host}:${target.port}`, target.port)).map((a) => makePeer(IMPLICIT_SERVER, address, a));
    return {
      name: target.unix ? address : target.portGiven ? `${target.host}:${target.port}` : target.host,
      peers: makePeerList(peers, []), method: { kind: 'round-robin' }, keepalive: 0,
      keepaliveTimeoutMs: 60_000, keepaliveRequests: 1000, ...common,
    };
  }
}

async function closeGroups(groups: Promise<GroupRuntime>[]): Promise<void> {
  const settled = await Promise.allSettled(groups);
  const pools = settled.flatMap((s) => (s.status === 'fulfilled' ? [...s.value.pools.values()] : []));
  await Promise.allSettled(pools.map((p) => p.close()));
}

/** The peer selector for one request (hash methods evaluate their key per request). */
export function selectorFor(g: GroupRuntime, ctx: VarContext): Selector {
  const m = g.method;
  switch (m.kind) {
    case 'round-robin': return roundRobinSelector;
    case 'least_conn': return leastConnSelector;
    case 'ip_hash': return ipHashSelector(ctx.remoteAddr);
    case 'hash': {
      const key = evaluate(compiled(m.key), ctx);
      return m.consistent ? chashSelector(key) : hashSelector(key);
    }
    case 'random': return randomSelector(m.twoChoices);
  }
}

/** The connections to a peer; without `keepalive` every request closes its connection. */
export function poolFor(g: GroupRuntime, peer: Peer, scheme: 'http' | 'https', connectTimeoutMs: number): PeerConns {
  const last = g.lastPool.get(peer);
  if (last && last.scheme === scheme && last.connectTimeoutMs === connectTimeoutMs && !last.pool.closed) return last.pool;
  const key = `${scheme}|${peer.name}|${connectTimeoutMs}`;
  let pool = g.pools.get(key);
  // A request that began before a reload may outlive its state's pools: it gets a fresh one.
  if (!pool || pool.closed) {
    const host = peer.host.includes(':') ? `[${peer.host}]` : peer.host;
    pool = new PeerConns(`${scheme}://${peer.socketPath ? 'localhost' : host}:${peer.port || (scheme === 'https' ? 443 : 80)}`, {
      ...(peer.socketPath ? { socketPath: peer.socketPath } : {}),
      // nginx does not verify upstream certificates unless proxy_ssl_verify is on.
      connect: { timeout: connectTimeoutMs, ...(scheme === 'https' ? { rejectUnauthorized: false } : {}) },
      pipelining: 1,
      keepAliveTimeout: g.keepalive ? g.keepaliveTimeoutMs : 1,
      keepAliveMaxTimeout: g.keepalive ? g.keepaliveTimeoutMs : 1,
      maxRequestsPerClient: g.keepaliveRequests,
      headersTimeout: 0,
      bodyTimeout: 0,
    }, g.keepalive || Infinity);
    g.pools.set(key, pool);
  }
  g.lastPool.set(peer, { scheme, connectTimeoutMs, pool });
  return pool;
}
