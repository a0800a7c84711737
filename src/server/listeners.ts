// A worker's sockets: one Node server per bound `listen` address, plain HTTP, HTTPS, or HTTP/2 with
// HTTP/1.1 alongside. TLS on every `listen … ssl` socket: SNI picks the certificate of the server
// that the name selects by nginx's server_name rules; the address's default server is the fallback.
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { Server } from 'node:net';
import tls from 'node:tls';
import type { ListenSocket, RoutingState, ServerConf, TlsSettings } from '../config/state.ts';
import { addressKeyFor, selectServer } from '../config/select.ts';
import { unmapIPv4 } from '../http/access.ts';
import { LogFiles, type ErrorLogEntry } from '../http/access-log.ts';
import { createRequestHandler } from '../http/pipeline.ts';
import { errnoSuffix } from '../nginx/errno.ts';

export interface Listeners {
  /** Stop accepting, let in-flight requests finish (at most timeoutMs), then resolve. */
  close(timeoutMs: number): Promise<void>;
  /**
   * Reload in place: the same sockets serve the new state from the next request on; requests in
   * flight finish on the state they started with. Throws (keeping the old state) on a bad certificate.
   */
  swap(state: RoutingState, pems: Record<string, string>): void;
  reopenLogs(): void;
}

const BIND_TRIES = 5; // nginx tries five times, 500 ms apart, before "still could not bind()"
const BIND_RETRY_MS = 500;

type Log = (entry: ErrorLogEntry) => void;

export async function startListeners(state: RoutingState, pems: Record<string, string>, log: Log): Promise<Listeners> {
  // One reference to swap on reload; every request and handshake reads it when it starts.
  let current = { state, pems, contexts: new Map<TlsSettings, tls.SecureContext>() };
  const getState = () => current.state;
  const logFiles = new LogFiles();
  const handler = createRequestHandler(getState, { logFiles, errorLog: log });
  const contextFor = (s: TlsSettings) => {
    let ctx = current.contexts.get(s);
    if (!ctx) current.contexts.set(s, (ctx = tls.createSecureContext(secureOptions(s, current.pems))));
    return ctx;
  };
  const servers: Server[] = [];
  const tlsServers: { server: tls.Server; listen: ListenSocket }[] = [];
  try {
    for (const listen of state.listens) {
      if (!listen.bound) continue;
      const server = createServer(getState, listen, pems, contextFor);
      if (listen.ssl) tlsServers.push({ server: server as tls.Server, listen });
      server.on('request', handler);
      await bind(server, listen);
      servers.push(server);
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  return {
    reopenLogs: () => void logFiles.reopenAll(),
    swap(next, nextPems) {
      // Every certificate is loaded before anything changes, so a bad one leaves the old state whole.
      const contexts = new Map<TlsSettings, tls.SecureContext>();
      for (const entry of next.tls) contexts.set(entry.tls, tls.createSecureContext(secureOptions(entry.tls, nextPems)));
      const defaults = tlsServers.map(({ listen }) => next.tables.get(listen.key)?.defaultServer.tls);
      current = { state: next, pems: nextPems, contexts };
      tlsServers.forEach(({ server }, i) => {
        const d = defaults[i];
        if (d) server.setSecureContext(secureOptions(d, nextPems));
      });
    },
    async close(timeoutMs) {
      const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      for (const s of servers) (s as http.Server).closeIdleConnections?.();
      await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      await logFiles.flushAll();
    },
  };
}

function createServer(
  getState: () => RoutingState,
  listen: ListenSocket,
  pems: Record<string, string>,
  contextFor: (s: TlsSettings) => tls.SecureContext,
): Server {
  // requireHostHeader: nginx answers a Host-less HTTP/1.1 request itself (400), through the log.
  if (!listen.ssl) return http.createServer({ keepAliveTimeout: 65_000, requireHostHeader: false });
  const fallback = getState().tables.get(listen.key)?.defaultServer.tls;
  const options: tls.TlsOptions = {
    // The server's own context (used when SNI picks nothing else): the default server's certificate.
    ...(fallback ? secureOptions(fallback, pems) : {}),
    // A function, not an arrow: Node calls it on the TLSSocket, whose local address picks the server
    // table (a specific address without its own socket is accepted on the wildcard one).
    SNICallback(this: tls.TLSSocket, servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) {
      // nginx validates the SNI name like a Host header: lowercased, one trailing dot dropped.
      const name = servername.toLowerCase().replace(/\.$/, '');
      const state = getState();
      const key = this?.localAddress ? addressKeyFor(state, unmapIPv4(this.localAddress), this.localPort ?? 0) : undefined;
      const byAddress = (key && state.tables.get(key)) || state.tables.get(listen.key);
      const chosen: ServerConf | undefined = byAddress && selectServer(byAddress, name);
      const settings = chosen?.tls ?? byAddress?.defaultServer.tls;
      try {
        cb(null, settings ? contextFor(settings) : undefined);
      } catch (err) {
        cb(err as Error, undefined);
      }
    },
  };
  if (listen.http2) return http2.createSecureServer({ ...options, allowHTTP1: true }) as unknown as Server;
  return https.createServer({ ...options, keepAliveTimeout: 65_000, requireHostHeader: false });
}

const PROTOCOL_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;

/**
 * ssl_protocols becomes Node's version range. OpenSSL 3's default security level refuses TLSv1 and
 * TLSv1.1 for nginx too, so the range never starts below TLSv1.2.
 */
function secureOptions(s: TlsSettings, pems: Record<string, string>): tls.SecureContextOptions {
  const listed = PROTOCOL_ORDER.filter((p) => s.protocols.includes(p));
  const min = listed.find((p) => p === 'TLSv1.2' || p === 'TLSv1.3') ?? 'TLSv1.2';
  const max = listed[listed.length - 1] === 'TLSv1.3' || listed.length === 0 ? 'TLSv1.3' : 'TLSv1.2';
  return {
    cert: s.certificates.map((c) => pem(pems, c.certificate)),
    key: s.certificates.map((c) => pem(pems, c.key)),
    minVersion: min,
    maxVersion: max,
    ciphers: s.ciphers,
    honorCipherOrder: s.preferServerCiphers,
    sessionTimeout: s.sessionTimeoutSec,
  };
}

function pem(pems: Record<string, string>, file: string): string {
  const text = pems[file];
  if (text === undefined) throw new Error(`cannot load certificate "${file}"`);
  return text;
}

/**
 * Listens, retrying an address in use as nginx does (five tries, 500 ms apart); the error carries
 * every line nginx would print, one per line.
 */
async function bind(server: Server, listen: ListenSocket): Promise<void> {
  const where = listen.family === 'unix' ? listen.host : listen.key;
  const lines: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        const opts =
          listen.family === 'unix'
            ? { path: listen.host }
            : { host: listen.host, port: listen.port, ipv6Only: listen.family === 'ipv6' && listen.ipv6only, backlog: listen.backlog ?? 511 };
        server.listen(opts, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return;
    } catch (err) {
      lines.push(`bind() to ${where} failed${errnoSuffix(err)}`);
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw new Error(lines.join('\n'));
      if (attempt === BIND_TRIES) throw new Error([...lines, 'still could not bind()'].join('\n'));
      await new Promise((r) => setTimeout(r, BIND_RETRY_MS));
    }
  }
}
