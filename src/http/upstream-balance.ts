// The other balancing methods, as nginx computes them: least_conn, ip_hash (first three octets of
// IPv4), hash KEY (Cache::Memcached-compatible crc32 rehashing) and hash KEY consistent (ketama
// points: 160 per weight unit from crc32(host \0 port prev_hash)), random. After 20 failed hash
// probes nginx falls back to round-robin, and so do we.
import { roundRobinSelector, smoothPick, usable, type Peer, type PeerList, type PeerWalk, type Selector } from './upstream-peers.ts';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE) running state: start with 0xffffffff, finish with `^ 0xffffffff`. */
export function crc32Update(crc: number, data: Uint8Array): number {
  let c = crc;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

export function crc32(data: Uint8Array): number {
  return (crc32Update(0xffffffff, data) ^ 0xffffffff) >>> 0;
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** ngx_http_upstream_get_least_conn_peer: fewest conns per weight, ties by smooth round-robin. */
export const leastConnSelector: Selector = (walk, now) => {
  if (walk.list.single) return roundRobinSelector(walk, now);
  const cands = walk.list.peers.filter((p) => usable(p, walk, now));
  let best: Peer | undefined;
  let many = false;
  for (const p of cands) {
    if (!best || p.conns * best.weight < best.conns * p.weight) {
      best = p;
      many = false;
    } else if (p.conns * best.weight === best.conns * p.weight) {
      many = true;
    }
  }
  if (!best || !many) return best;
  const b = best;
  const from = cands.indexOf(b);
  return smoothPick(cands.slice(from).filter((p) => p.conns * b.weight === b.conns * p.weight));
};

/** Walks `w` (0 ≤ w < total weight) over the weights, as nginx maps a hash to a peer. */
function peerAtWeight(list: PeerList, w: number): Peer {
  let i = 0;
  while (w >= list.peers[i]!.weight) {
    w -= list.peers[i]!.weight;
    i++;
  }
  return list.peers[i]!;
}

/** ip_hash: a hash of the first three octets of an IPv4 address (all 16 bytes of IPv6). */
export function ipHashSelector(clientAddr: string): Selector {
  let addr: number[];
  if (/^\d+\.\d+\.\d+\.\d+$/.test(clientAddr)) addr = clientAddr.split('.').slice(0, 3).map(Number);
  else addr = ipv6Bytes(clientAddr);
  let hash = 89;
  let probes = 0;
  return (walk, now) => {
    if (walk.list.single || walk.list !== rootList(walk) || probes > 20) return roundRobinSelector(walk, now);
    for (;;) {
      for (const b of addr) hash = (hash * 113 + b) % 6271;
      const p = peerAtWeight(walk.list, hash % walk.list.totalWeight);
      if (usable(p, walk, now)) return p;
      if (++probes > 20) return roundRobinSelector(walk, now);
    }
  };
}

function ipv6Bytes(a: string): number[] {
  const [head = '', tail = ''] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.flatMap((g) => {
    const v = parseInt(g || '0', 16);
    return [v >> 8, v & 0xff];
  });
}

// The walk's original list: hash methods do not hash over backups (nginx forbids them there).
const roots = new WeakMap<PeerWalk, PeerList>();
function rootList(walk: PeerWalk): PeerList {
  let r = roots.get(walk);
  if (!r) {
    r = walk.list;
    roots.set(walk, r);
  }
  return r;
}

/** hash KEY: ((crc32([rehash] key) >> 16) & 0x7fff) accumulated, mod total weight. */
export function hashSelector(key: string): Selector {
  let hash = 0;
  let rehash = 0;
  let probes = 0;
  const keyBytes = bytes(key);
  return (walk, now) => {
    if (walk.list.single || key.length === 0 || probes > 20) return roundRobinSelector(walk, now);
    for (;;) {
      let c = 0xffffffff;
      if (rehash > 0) c = crc32Update(c, bytes(String(rehash)));
      c = (crc32Update(c, keyBytes) ^ 0xffffffff) >>> 0;
      hash += (c >>> 16) & 0x7fff;
      rehash++;
      const p = peerAtWeight(walk.list, hash % walk.list.totalWeight);
      if (usable(p, walk, now)) return p;
      if (++probes > 20) return roundRobinSelector(walk, now);
    }
  };
}

interface ChashPoint { hash: number; server: string }

const pointCache = new WeakMap<PeerList, ChashPoint[]>();

/** The ketama continuum of a list: weight × 160 points per server, sorted, duplicates dropped. */
export function chashPoints(list: PeerList): ChashPoint[] {
  const cached = pointCache.get(list);
  if (cached) return cached;
  const points: ChashPoint[] = [];
  for (const p of list.peers) {
    const s = p.server;
    let host = s;
    let port = '';
    if (s.toLowerCase().startsWith('unix:')) host = s.slice(5);
    else {
      const m = /:(\d*)$/.exec(s);
      if (m) {
        host = s.slice(0, m.index);
        port = m[1]!;
      }
    }
    const base = crc32Update(crc32Update(crc32Update(0xffffffff, bytes(host)), new Uint8Array(1)), bytes(port));
    let prev = 0;
    for (let j = 0; j < p.weight * 160; j++) {
      const le = new Uint8Array(4);
      new DataView(le.buffer).setUint32(0, prev, true);
      const h = (crc32Update(base, le) ^ 0xffffffff) >>> 0;
      points.push({ hash: h, server: s });
      prev = h;
    }
  }
  points.sort((a, b) => a.hash - b.hash);
  const unique = points.filter((p, i) => i === 0 || p.hash !== points[i - 1]!.hash);
  pointCache.set(list, unique);
  return unique;
}

/** hash KEY consistent: the first point at or after crc32(key), then the following points. */
export function chashSelector(key: string): Selector {
  let index = -1;
  let probes = 0;
  const keyHash = crc32(bytes(key));
  return (walk, now) => {
    if (walk.list.single || key.length === 0 || probes > 20 || walk.list !== rootList(walk)) return roundRobinSelector(walk, now);
    const points = chashPoints(walk.list);
    if (index < 0) {
      let lo = 0;
      let hi = points.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (points[mid]!.hash < keyHash) lo = mid + 1;
        else hi = mid;
      }
      index = lo;
    }
    for (;;) {
      const server = points[index % points.length]!.server;
      const best = smoothPick(walk.list.peers.filter((p) => p.server === server && usable(p, walk, now)));
      if (best) return best;
      index++;
      if (++probes > 20) return roundRobinSelector(walk, now);
    }
  };
}

/** random [two]: by weight; with `two`, the less loaded of two picks. */
export function randomSelector(two: boolean): Selector {
  return (walk, now) => {
    const cands = walk.list.peers.filter((p) => usable(p, walk, now));
    if (cands.length === 0) return undefined;
    const pick = (): Peer => {
      const total = cands.reduce((n, p) => n + p.weight, 0);
      let w = Math.floor(Math.random() * total);
      for (const p of cands) {
        if (w < p.weight) return p;
        w -= p.weight;
      }
      return cands[cands.length - 1]!;
    };
    const a = pick();
    if (!two || cands.length < 2) return a;
    const b = pick();
    return b.conns * a.weight < a.conns * b.weight ? b : a;
  };
}
