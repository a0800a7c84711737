// Runtime state of an upstream group's servers, and nginx's round-robin peer selection
// (ngx_http_upstream_round_robin.c): smooth weighted round-robin over the primary servers, the
// backup servers only when no primary can be chosen, max_fails/fail_timeout bookkeeping.
import type { UpstreamServer } from '../config/state.ts';

/** Seconds, as nginx's ngx_time(): fail_timeout comparisons are whole seconds. */
export const nowSec = (): number => Math.floor(Date.now() / 1000);

export interface Peer {
  /** The server as written (`127.0.0.1:8080`): consistent hash points are made from it. */
  server: string;
  /** Where to connect. */
  host: string;
  port: number;
  socketPath?: string;
  /** `$upstream_addr` text: `127.0.0.1:8080` or `unix:/path`. */
  name: string;
  weight: number;
  effectiveWeight: number;
  currentWeight: number;
  maxFails: number;
  failTimeoutSec: number;
  maxConns: number;
  down: boolean;
  fails: number;
  accessed: number;
  checked: number;
  conns: number;
}

export interface PeerList {
  peers: Peer[];
  totalWeight: number;
  /** One primary server and no backups: nginx skips max_fails accounting and never retries. */
  single: boolean;
  backup?: PeerList;
}

export function makePeer(s: Pick<UpstreamServer, 'weight' | 'maxFails' | 'failTimeoutMs' | 'maxConns' | 'down'>, server: string, addr: { host: string; port: number; socketPath?: string }): Peer {
  return {
    server, host: addr.host, port: addr.port, ...(addr.socketPath ? { socketPath: addr.socketPath } : {}),
    name: addr.socketPath ? `unix:${addr.socketPath}` : `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`,
    weight: s.weight, effectiveWeight: s.weight, currentWeight: 0, maxFails: s.maxFails,
    failTimeoutSec: Math.floor(s.failTimeoutMs / 1000), maxConns: s.maxConns, down: s.down,
    fails: 0, accessed: 0, checked: 0, conns: 0,
  };
}

export function makePeerList(primary: Peer[], backup: Peer[]): PeerList {
  const list: PeerList = {
    peers: primary, totalWeight: primary.reduce((n, p) => n + p.weight, 0), single: primary.length === 1 && backup.length === 0,
  };
  if (backup.length) list.backup = { peers: backup, totalWeight: backup.reduce((n, p) => n + p.weight, 0), single: false };
  return list;
}

/** One request's walk over a group: which list it is on, which peers it tried, tries left. */
export interface PeerWalk {
  list: PeerList;
  tried: Set<Peer>;
  tries: number;
  current?: Peer;
}

export function startWalk(list: PeerList): PeerWalk {
  return { list, tried: new Set(), tries: list.peers.length + (list.backup?.peers.length ?? 0) };
}

/** Whether a peer may be chosen now (not tried, not down, not failed within fail_timeout, under max_conns). */
export function usable(p: Peer, walk: PeerWalk, now: number): boolean {
  if (walk.tried.has(p) || p.down) return false;
  if (p.maxFails && p.fails >= p.maxFails && now - p.checked <= p.failTimeoutSec) return false;
  if (p.maxConns && p.conns >= p.maxConns) return false;
  return true;
}

/** Smooth weighted round-robin among `candidates` (all usable): the largest current weight wins. */
export function smoothPick(candidates: Iterable<Peer>): Peer | undefined {
  let best: Peer | undefined;
  let total = 0;
  for (const p of candidates) {
    p.currentWeight += p.effectiveWeight;
    total += p.effectiveWeight;
    if (p.effectiveWeight < p.weight) p.effectiveWeight++;
    if (!best || p.currentWeight > best.currentWeight) best = p;
  }
  if (best) best.currentWeight -= total;
  return best;
}

/** Marks `p` as this walk's choice (ngx's tried bit, checked time, connection count). */
export function choose(walk: PeerWalk, p: Peer, now: number): Peer {
  walk.current = p;
  walk.tried.add(p);
  if (now - p.checked > p.failTimeoutSec) p.checked = now;
  p.conns++;
  return p;
}

export type Selector = (walk: PeerWalk, now: number) => Peer | undefined;

export const roundRobinSelector: Selector = (walk, now) => {
  const list = walk.list;
  if (list.single) {
    const p = list.peers[0]!;
    if (p.down || (p.maxConns && p.conns >= p.maxConns)) return undefined;
    return p;
  }
  return smoothPick(list.peers.filter((p) => usable(p, walk, now)));
};

/**
 * Picks the next peer with `select` on the walk's list, switching to the backup list when the
 * primaries give nothing. Undefined means "no live upstreams".
 */
export function getPeer(walk: PeerWalk, select: Selector): Peer | undefined {
  const now = nowSec();
  let p = select(walk, now);
  if (!p && walk.list.backup && walk.list.backup !== walk.list) {
    walk.list = walk.list.backup;
    walk.tried.clear();
    p = select(walk, now);
  }
  if (!p) return undefined;
  if (walk.list.single) {
    walk.current = p;
    p.conns++;
    return p;
  }
  return choose(walk, p, now);
}

/** ngx_http_upstream_free_round_robin_peer: counts a failure (or clears fails after a success). */
export function freePeer(walk: PeerWalk, failed: boolean, onDisabled?: (p: Peer) => void): void {
  const p = walk.current;
  if (!p) return;
  walk.current = undefined;
  p.conns = Math.max(0, p.conns - 1);
  if (walk.list.single) {
    walk.tries = 0;
    return;
  }
  if (failed) {
    const now = nowSec();
    p.fails++;
    p.accessed = now;
    p.checked = now;
    if (p.maxFails) {
      p.effectiveWeight -= Math.floor(p.weight / p.maxFails);
      if (p.fails >= p.maxFails) onDisabled?.(p);
    }
    if (p.effectiveWeight < 0) p.effectiveWeight = 0;
  } else if (p.accessed < p.checked) {
    p.fails = 0;
  }
  if (walk.tries) walk.tries--;
}
