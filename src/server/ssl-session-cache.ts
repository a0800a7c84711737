// ssl_session_cache: TLS sessions kept on the server side, so a client that comes back with a
// session ID (or, under TLSv1.3 with tickets off, a stateful ticket) resumes without a full
// handshake. `shared:NAME:SIZE` is one cache for every worker, as nginx keeps it in shared memory:
// here the master holds it and the workers ask it over IPC (the handshake waits, briefly);
// `builtin[:N]` is each worker's own; `none` and `off` keep nothing (nginx's default is none).
// nginx's sizing: one megabyte holds about 4000 sessions; the oldest go first when it is full.
import cluster from 'node:cluster';
import type { Server as TlsServer } from 'node:tls';
import type { TlsSettings } from '../config/state.ts';
import { parseSize } from '../nginx/values.ts';

const MESSAGE = 'bext-ssl-session';
/** A worker that gets no answer in this time does a full handshake (nginx never waits at all). */
const LOOKUP_TIMEOUT_MS = 200;
const BUILTIN_DEFAULT = 20480; // OpenSSL's SSL_SESSION_CACHE_MAX_SIZE_DEFAULT
const PER_MEGABYTE = 4000;

type Request =
  | { type: typeof MESSAGE; op: 'put'; zone: string; max: number; id: string; data: string; ttlMs: number }
  | { type: typeof MESSAGE; op: 'get'; zone: string; id: string; req: number };
type Reply = { type: typeof MESSAGE; op: 'got'; req: number; data: string | null };

const isMessage = (m: unknown): m is Request | Reply => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === MESSAGE;

/** Where a server's sessions go, from its ssl_session_cache arguments (undefined: nowhere). */
export function sessionCacheOf(s: TlsSettings | undefined): { kind: 'shared'; zone: string; max: number } | { kind: 'builtin'; max: number } | undefined {
  let builtin: number | undefined;
  for (const arg of s?.sessionCache ?? []) {
    const shared = /^shared:([^:]+):(.+)$/.exec(arg);
    if (shared) return { kind: 'shared', zone: shared[1]!, max: Math.max(1, Math.floor(((parseSize(shared[2]!) ?? 0) / 1048576) * PER_MEGABYTE)) };
    if (arg === 'builtin') builtin = BUILTIN_DEFAULT;
    else if (arg.startsWith('builtin:')) builtin = Number(arg.slice(8)) || BUILTIN_DEFAULT;
  }
  return builtin === undefined ? undefined : { kind: 'builtin', max: builtin };
}

/** Sessions by ID (hex), oldest first; expired ones go when met. */
class SessionStore {
  private readonly zones = new Map<string, Map<string, { data: Buffer; expires: number }>>();

  put(zone: string, max: number, id: string, data: Buffer, ttlMs: number): void {
    let z = this.zones.get(zone);
    if (!z) this.zones.set(zone, (z = new Map()));
    z.delete(id);
    z.set(id, { data, expires: Date.now() + ttlMs });
    // ngx_ssl_expire_sessions: the oldest make room.
    while (z.size > max) z.delete(z.keys().next().value as string);
  }

  get(zone: string, id: string): Buffer | undefined {
    const z = this.zones.get(zone);
    const e = z?.get(id);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      z!.delete(id);
      return undefined;
    }
    return e.data;
  }
}

/** The master's side: every worker's shared caches (they outlive reloads, as nginx's zones do). */
export class SessionCacheMaster {
  private readonly store = new SessionStore();

  attach(): void {
    cluster.on('message', (worker, msg) => {
      if (!isMessage(msg)) return;
      if (msg.op === 'put') this.store.put(msg.zone, msg.max, msg.id, Buffer.from(msg.data, 'base64'), msg.ttlMs);
      else if (msg.op === 'get' && !worker.isDead()) {
        const data = this.store.get(msg.zone, msg.id);
        worker.send({ type: MESSAGE, op: 'got', req: msg.req, data: data ? data.toString('base64') : null } satisfies Reply);
      }
    });
  }
}

/** A worker's (or a single process's) side. */
class SessionCacheClient {
  /** builtin caches, and shared ones when there is no master to ask. */
  private readonly local = new SessionStore();
  private nextReq = 1;
  private readonly waiting = new Map<number, (data: Buffer | undefined) => void>();
  private readonly viaMaster = cluster.isWorker && typeof process.send === 'function';

  constructor() {
    if (this.viaMaster) {
      process.on('message', (msg: unknown) => {
        if (!isMessage(msg) || msg.op !== 'got') return;
        const done = this.waiting.get(msg.req);
        this.waiting.delete(msg.req);
        done?.(msg.data === null ? undefined : Buffer.from(msg.data, 'base64'));
      });
    }
  }

  put(s: TlsSettings, id: Buffer, data: Buffer): void {
    const c = sessionCacheOf(s);
    if (!c) return;
    const ttlMs = s.sessionTimeoutSec * 1000;
    if (c.kind === 'shared' && this.viaMaster) {
      process.send!({ type: MESSAGE, op: 'put', zone: c.zone, max: c.max, id: id.toString('hex'), data: data.toString('base64'), ttlMs } satisfies Request);
    } else this.local.put(c.kind === 'shared' ? `shared:${c.zone}` : `builtin:${s.certificates[0]?.certificate ?? ''}`, c.max, id.toString('hex'), data, ttlMs);
  }

  get(s: TlsSettings, id: Buffer, done: (data: Buffer | undefined) => void): void {
    const c = sessionCacheOf(s);
    if (!c) return done(undefined);
    if (c.kind !== 'shared' || !this.viaMaster) {
      return done(this.local.get(c.kind === 'shared' ? `shared:${c.zone}` : `builtin:${s.certificates[0]?.certificate ?? ''}`, id.toString('hex')));
    }
    const req = this.nextReq++;
    const timer = setTimeout(() => {
      this.waiting.delete(req);
      done(undefined);
    }, LOOKUP_TIMEOUT_MS);
    timer.unref();
    this.waiting.set(req, (data) => {
      clearTimeout(timer);
      done(data);
    });
    process.send!({ type: MESSAGE, op: 'get', zone: c.zone, id: id.toString('hex'), req } satisfies Request);
  }
}

let client: SessionCacheClient | undefined;

/**
 * Keeps and finds the sessions of one TLS server, by the ssl_session_cache of the settings in
 * force for its socket now (the default server's: a reload may change them without a new server).
 */
export function attachSessionCache(server: TlsServer, settingsNow: () => TlsSettings | undefined): void {
  const c = (client ??= new SessionCacheClient());
  server.on('newSession', (id: Buffer, data: Buffer, cb: () => void) => {
    const s = settingsNow();
    if (s) c.put(s, id, data);
    cb();
  });
  server.on('resumeSession', (id: Buffer, cb: (err: Error | null, data?: Buffer | null) => void) => {
    const s = settingsNow();
    if (!s) return cb(null, null);
    c.get(s, id, (data) => cb(null, data ?? null));
  });
}
