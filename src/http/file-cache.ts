// Small static files kept in memory per worker process, each request still checked against the
// file system by one stat() (issue 9). A request for a small file otherwise costs open + fstat +
// read + close; a hit costs one statx.
//
// Why serving from here is the same as opening the file again:
// - An entry is added only after this process opened and read the file itself (so it was allowed
//   to), and is used only while stat() of the same path (following symlinks, as open does) shows the
//   same device, inode, size, mtime and ctime to the nanosecond. Writing, truncating, touching,
//   chmod/chown, renaming another file over it or swapping a symlink all change one of them; the
//   ctime cannot be set from user space. Any difference or stat error drops the entry and the
//   caller opens the file as usual (and sees the 403/404 nginx would).
// - Directory permissions are checked by the stat's path walk like open's (search permission only).
// - File timestamps come from a coarse clock: a second write in the same clock tick as the one
//   before the read would leave mtime and ctime unchanged. A file changed less than RACY_MS before
//   it was read is therefore not cached (git's "racily clean" rule); it is read again next time.
// - Requests read in one event-loop iteration share one stat (see readCallback below): a stat made
//   after the iteration's epoll_wait returned sees every change made before those requests were sent.
import { statSync, type BigIntStats, type Stats } from 'node:fs';

/**
 * Files up to this size are read whole and may be kept; larger ones are streamed and never kept.
 * nginx sends a file with sendfile() (no copy through the process); without it, a cached 1 MiB file
 * is one copy (into the socket) instead of two (read, then write).
 */
export const CACHE_FILE_MAX = 1024 * 1024;
/** Bytes of content (plus a per-entry allowance) kept per worker. */
export const CACHE_TOTAL_MAX = 16 * 1024 * 1024;
/** Rough per-entry cost (key, object, headers) counted against the total. */
const ENTRY_OVERHEAD = 256;
/** A file changed this recently before it was read may change again with the same timestamps. */
const RACY_MS = 2000;

export interface CachedFile {
  /** The whole file. */
  readonly data: Buffer;
  readonly size: number;
  /** st_mtime in seconds (Last-Modified, ETag). */
  readonly mtimeSec: number;
  /** What the entry was validated with. */
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  /** The same as numbers, as a plain stat() gives them (see cachedFile). */
  readonly devNum: number;
  readonly inoNum: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  /** Formatted once: Last-Modified and the ETag of this version. */
  readonly lastModified: string;
  readonly etag: string;
  /** The event-loop iteration in which a stat in a read callback last showed it unchanged. */
  checkedIn: number;
}

// Insertion order is recency order: a hit moves its entry to the end, eviction takes from the front.
const entries = new Map<string, CachedFile>();
let totalBytes = 0;
/** The key last moved to the end (a hit on it again need not move it). */
let lastKey: string | undefined;
/** Every entry's bytes (http1-connection.ts reuses a response built from them: they never change). */
const cachedData = new WeakSet<Buffer>();

/** `b` is the content of a cache entry (never written to). */
export function isCachedFileData(b: Buffer): boolean {
  return cachedData.has(b);
}

/** Counters for tests and profiling. */
export const fileCacheStats = { hits: 0, misses: 0, fills: 0, evictions: 0, reusedStats: 0, sharedStats: 0 };

const cost = (key: string, e: CachedFile): number => e.data.length + key.length + ENTRY_OVERHEAD;

function drop(key: string, e: CachedFile): void {
  entries.delete(key);
  if (lastKey === key) lastKey = undefined;
  totalBytes -= cost(key, e);
}

/** A timestamp in ns as a number stat() gives it in ms (node: sec * 1e3 + nsec / 1e6). */
function msOf(ns: bigint): number {
  const sec = ns / 1_000_000_000n;
  let nsec = ns - sec * 1_000_000_000n;
  let s = sec;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    s -= 1n;
  }
  return Number(s) * 1e3 + Number(nsec) / 1e6;
}

/** floor(ns / 1e9) for st_mtime (a BigInt division truncates towards zero). */
export function nsToSec(ns: bigint): number {
  const s = ns / 1_000_000_000n;
  return Number(ns < 0n && s * 1_000_000_000n !== ns ? s - 1n : s);
}

// try_files has just stat'ed the file the static handler is about to serve (its winning candidate):
// that stat validates the cache entry, so the request makes one stat, as nginx's does. The static
// handler runs in the same call; the stat is forgotten at the end of the current tick anyway
// (process.nextTick, before any I/O): a stat is never reused later.
let noted: BigIntStats | undefined;
let notedKey = '';
let forgetScheduled = false;
const forget = (): void => {
  noted = undefined;
  forgetScheduled = false;
};

// One stat per event-loop iteration for the requests read in it (issue 9). Under load a worker's
// epoll_wait returns several connections at once, each with a request for the same few files; one
// stat instead of one per request was +15% small-file throughput here (92-94k -> 102-128k req/s).
// Why it still serves what opening the file would:
// - It applies only to a request handled synchronously inside its socket's read callback
//   (readCallback true; Http1Connection.onData checks that it runs in the socket's own read, by its
//   async id). Reads run in libuv's poll phase, after that iteration's epoll_wait returned, and the
//   first request in a read had its first byte in the kernel by then. A pipelined request behind it
//   is served later (from a write callback) and makes its own stat, as does everything served from
//   timers, immediates or promises.
// - So the stat that validated the entry, made in a read callback of the same iteration, came after
//   the client started sending: any change the client made before sending is in it.
// - The iteration ends at its check phase (setImmediate, queued from the poll phase, runs there
//   before the next epoll_wait); `iteration` moves on and every entry is stat'ed again.
// - One exception, from libuv: when epoll_wait fills its whole array (1,024 events), libuv polls
//   again in the same iteration, and requests from that second poll would share the first's stats.
//   A worker needs over a thousand ready connections at once for this; the file would have to change
//   during that iteration.
let readCallback = false;
let iteration = 0;
let iterationEndScheduled = false;
const endIteration = (): void => {
  iteration++;
  iterationEndScheduled = false;
};

/** Http1Connection: `on` while a request is handled inside its socket's read callback (see above). */
export function setReadCallback(on: boolean): void {
  readCallback = on;
}

/**
 * try_files: `key` is a regular file by a stat made in this event-loop iteration (see above), so its
 * candidate test needs no stat of its own; the static handler then shares the same stat.
 */
export function isFileThisIteration(key: string): boolean {
  if (!readCallback) return false;
  const e = entries.get(key);
  if (e === undefined || e.checkedIn !== iteration) return false;
  fileCacheStats.sharedStats++;
  return true;
}

/** Lends the cache a stat of `key` just made (see above). */
export function noteStat(key: string, st: BigIntStats): void {
  if (entries.size === 0) return;
  noted = st;
  notedKey = key;
  if (!forgetScheduled) {
    forgetScheduled = true;
    process.nextTick(forget);
  }
}

/**
 * The cached file at `key` if one stat of `path` shows it unchanged; otherwise undefined (the entry,
 * if any, is dropped and the caller opens the file). `path` is what open() would get.
 */
export function cachedFile(key: string, path: string | Buffer): CachedFile | undefined {
  const e = entries.get(key);
  if (e === undefined) return undefined;
  let same: boolean;
  if (readCallback && e.checkedIn === iteration) {
    same = true;
    fileCacheStats.sharedStats++;
  } else if (noted !== undefined && notedKey === key) {
    const st = noted;
    noted = undefined;
    fileCacheStats.reusedStats++;
    same = st.ino === e.ino && st.dev === e.dev && st.size === BigInt(e.size) && st.mtimeNs === e.mtimeNs && st.ctimeNs === e.ctimeNs && st.isFile();
  } else {
    // A plain stat (numbers, no BigInts: half the allocation). Its mtime and ctime in ms are exact
    // enough: an entry's ctime is at least RACY_MS older than its read, so any change since gives
    // a ctime at least that much later (and a number stat's ms are exact to well under 1 µs).
    let st: Stats | undefined;
    try {
      st = statSync(path, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    same = st !== undefined && st.ino === e.inoNum && st.dev === e.devNum && st.size === e.size
      && st.mtimeMs === e.mtimeMs && st.ctimeMs === e.ctimeMs && st.isFile();
  }
  if (!same) {
    drop(key, e);
    fileCacheStats.misses++;
    return undefined;
  }
  fileCacheStats.hits++;
  if (readCallback && e.checkedIn !== iteration) {
    e.checkedIn = iteration;
    if (!iterationEndScheduled) {
      iterationEndScheduled = true;
      setImmediate(endIteration);
    }
  }
  // Most recently used goes last (only when it is not already: a Map re-insert is not free).
  if (entries.size > 1 && lastKey !== key) {
    entries.delete(key);
    entries.set(key, e);
    lastKey = key;
  }
  return e;
}

/**
 * Offers a file this process has just opened and read whole: `st` is the fstat of the descriptor
 * the bytes came from, `readStartMs` the wall clock before the read. Kept only when it is small,
 * regular and not changed too recently to trust its timestamps.
 */
export function offerFile(key: string, st: BigIntStats, data: Buffer, readStartMs: number, lastModified: string, etag: string): void {
  if (!st.isFile() || data.length > CACHE_FILE_MAX || BigInt(data.length) !== st.size) return;
  if (Number(st.ctimeNs / 1_000_000n) > readStartMs - RACY_MS) return;
  const old = entries.get(key);
  if (old !== undefined) drop(key, old);
  const e: CachedFile = {
    data, size: data.length, mtimeSec: nsToSec(st.mtimeNs),
    dev: st.dev, ino: st.ino, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs,
    devNum: Number(st.dev), inoNum: Number(st.ino), mtimeMs: msOf(st.mtimeNs), ctimeMs: msOf(st.ctimeNs),
    lastModified, etag, checkedIn: -1,
  };
  const c = cost(key, e);
  if (c > CACHE_TOTAL_MAX) return;
  while (totalBytes + c > CACHE_TOTAL_MAX) {
    const first = entries.entries().next().value as [string, CachedFile] | undefined;
    if (first === undefined) break;
    drop(first[0], first[1]);
    fileCacheStats.evictions++;
  }
  entries.set(key, e);
  lastKey = key;
  cachedData.add(data);
  totalBytes += c;
  fileCacheStats.fills++;
}

/** Empties the cache (tests). */
export function clearFileCache(): void {
  entries.clear();
  lastKey = undefined;
  totalBytes = 0;
}

/** Entries and bytes held (tests). */
export function fileCacheSize(): { entries: number; bytes: number } {
  return { entries: entries.size, bytes: totalBytes };
}
