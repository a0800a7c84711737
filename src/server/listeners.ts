// A worker's sockets: one Node server per bound `listen` address, plain HTTP, HTTPS, or HTTP/2 with
// HTTP/1.1 alongside. TLS on every `listen … ssl` socket: SNI picks the certificate of the server
// that the name selects by nginx's server_name rules; the address's default server is the fallback.
import cluster from 'node:cluster';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { Server, Socket } from 'node:net';
import tls from 'node:tls';
import type { ListenSocket, LocationConf, RoutingState, TlsSettings } from '../config/state.ts';
import { addressKeyFor, matchServerName } from '../config/select.ts';
import { unmapIPv4 } from '../http/access.ts';
import { LogFiles, type ErrorLogEntry } from '../http/access-log.ts';
import { LocalZoneClient, type ZoneClient } from '../http/limit-zones.ts';
import { connectionIdOf, createRequestHandler } from '../http/pipeline.ts';
import { createProxyHandler, createUpgradeListener } from '../http/proxy.ts';
import { createFastcgiHandler } from '../http/fastcgi.ts';
import { attachSessionCache } from './ssl-session-cache.ts';
import { createUwsgiHandler } from '../http/uwsgi.ts';
import { createScgiHandler } from '../http/scgi.ts';
import { createMemcachedHandler } from '../http/memcached.ts';
import { createGrpcHandler } from '../http/grpc.ts';
import { StubStatusCounters } from '../http/stub-status.ts';
import { IpcZoneClient } from './zones.ts';
import { LogZoneClient, zoneLogFds } from './zone-log.ts';
import { createClientErrorHandler, createConnectHandler } from '../http/client-error.ts';
import { routePlainHttp } from '../http/plain-on-tls.ts';
import { MAX_HEADER_BYTES } from '../http/request-limits.ts';
import { errnoSuffix } from '../nginx/errno.ts';
import { serveFastHttp1 } from './http1-connection.ts';
import { workerSlots } from './connection-slots.ts';
import { noteHandshake } from '../http/tls-peer.ts';
import { SecureContexts } from './secure-contexts.ts';

export interface Listeners {
  /** Stop accepting, let in-flight requests finish (at most timeoutMs), then resolve. */
  close(timeoutMs: number): Promise<void>;
  /**
   * Reload in place: the same sockets serve the new state from the next request on; requests in
   * flight finish on the state they started with. Throws (keeping the old state) on a bad certificate.
   */
  swap(state: RoutingState, pems: Record<string, string>, ticketSecret?: string): void;
  reopenLogs(): void;
}

/** limit_req through the log the workers share when the master made one; the rest through the master. */
function workerZones(counters: StubStatusCounters, log: Log): ZoneClient {
  const master = new IpcZoneClient(counters);
  const fds = zoneLogFds();
  if (!fds || !cluster.worker) return master;
  return new LogZoneClient(fds, cluster.worker.id, master, undefined, (err) => log({ level: 'alert', message: err.message }));
}

const BIND_TRIES = 5; // nginx tries five times, 500 ms apart, before "still could not bind()"
const BIND_RETRY_MS = 500;

type Log = (entry: ErrorLogEntry) => void;

export async function startListeners(state: RoutingState, pems: Record<string, string>, log: Log, ticketSecret?: string): Promise<Listeners> {
  // One reference to swap on reload; every request and handshake reads it when it starts.
  let current = { state, pems };
  const contexts = new SecureContexts(state, pems, ticketSecret);
  const getState = () => current.state;
  const logFiles = new LogFiles();
  // Created once, not per swap: limit zones and stub_status counters outlive in-place reloads.
  // Workers share them (the zone log, the master); a single process keeps its own.
  const counters = new StubStatusCounters();
  const zones = cluster.isWorker ? workerZones(counters, log) : new LocalZoneClient(undefined, counters);
  // Upstream pools and balancer state are keyed by the state's groups: a swap gets fresh ones.
  const proxy = createProxyHandler({ errorLog: log, pems: () => current.pems });
  const fastcgi = createFastcgiHandler({ errorLog: log });
  const uwsgi = createUwsgiHandler({ errorLog: log });
  const scgi = createScgiHandler({ errorLog: log });
  const memcached = createMemcachedHandler({ errorLog: log });
  const grpc = createGrpcHandler({ errorLog: log, pems: () => current.pems });
  const handler = createRequestHandler(getState, { logFiles, errorLog: log, zones, proxy, fastcgi, uwsgi, scgi, memcached, grpc });
  const upgrade = createUpgradeListener(handler); // websockets arrive as 'upgrade', not 'request'
  const clientError = createClientErrorHandler(getState, logFiles);
  const refuseConnect = createConnectHandler(getState, logFiles);
  const servers: Server[] = [];
  const boundServers: { server: Server; listen: ListenSocket }[] = [];
  /** Each TLS server with the identity of its own context (the default server's; undefined: none). */
  const tlsServers: { server: tls.Server; listen: ListenSocket; identity: string | undefined }[] = [];
  try {
    for (const listen of state.listens) {
      if (!listen.bound) continue;
      const server = createServer(getState, listen, contexts);
      applyTimeouts(server, state, listen);
      if (listen.ssl) tlsServers.push({ server: server as tls.Server, listen, identity: ownIdentity(state, listen, contexts) });
      counters.trackConnections(server);
      const serve = listen.http2 ? http2Adapter(handler) : handler;
      // One 'request' listener: with two, every emit copies the listener array.
      server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        counters.onRequest(req, res);
        serve(req, res);
      });
      server.on('upgrade', upgrade);
      // nginx sends no automatic "100 Continue", and answers parser errors with its own pages.
      server.on('checkContinue', handler);
      server.on('clientError', clientError);
      server.on('connect', refuseConnect);
      // Plain HTTP on an ssl port reaches the pipeline, which answers 497 as nginx does.
      if (listen.ssl) routePlainHttp(server as tls.Server, plainServer(handler, clientError));
      else if (listen.http2) {
        // What a session's line names, read when it starts (a failed session's socket is unbound).
        const peers = new WeakMap<http2.ServerHttp2Session, { connection: number; client: string; server: string }>();
        server.on('session', (session: http2.ServerHttp2Session) => {
          const socket = session.socket as Socket;
          peers.set(session, {
            connection: connectionIdOf(socket), client: unmapIPv4(socket.remoteAddress ?? ''),
            server: `${unmapIPv4(socket.localAddress ?? '')}:${socket.localPort ?? 0}`,
          });
        });
        server.on('sessionError', (err: Error, session: http2.ServerHttp2Session) => {
          const peer = session && peers.get(session);
          if (peer && /magic/i.test(err.message)) log({ level: 'info', message: 'invalid connection preface while processing HTTP/2 connection', ...peer });
        });
      }
      guardConnections(server, counters);
      await bind(server, listen);
      servers.push(server);
      boundServers.push({ server, listen });
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  // worker_connections: the listening sockets and the channel to the master (a worker's) take a slot each.
  const fixed = servers.length + (cluster.isWorker ? 1 : 0);
  const slotsFor = (s: RoutingState) => workerSlots.configure(s.main.workerConnections, fixed, (level, message) => log({ level, message }));
  slotsFor(state);
  return {
    reopenLogs: () => void logFiles.reopenAll(),
    swap(next, nextPems, nextSecret) {
      // Every certificate is loaded before anything changes, so a bad one leaves the old state whole.
      contexts.swap(next, nextPems, nextSecret);
      const defaults = tlsServers.map(({ listen }) => next.tables.get(listen.key)?.defaultServer.tls);
      current = { state: next, pems: nextPems };
      slotsFor(next);
      // A reload's timeouts apply to the connections accepted from now on (and Node's checks).
      for (const { server, listen } of boundServers) applyTimeouts(server, next, listen);
      tlsServers.forEach((entry, i) => {
        const { server, listen } = entry;
        const d = defaults[i];
        // The server's own context is made again only if it changed (it costs what an SNI one costs).
        const identity = ownIdentity(next, listen, contexts);
        const keys = d && contexts.ticketKeys(d);
        if (d && identity === entry.identity && keys) server.setTicketKeys(keys);
        else if (d && identity !== entry.identity) server.setSecureContext(d.rejectHandshake ? {} : contexts.options(d));
        entry.identity = identity;
        // A handshake without SNI asks for a certificate as the default server says (Node reads this per connection).
        (server as tls.Server & { requestCert: boolean }).requestCert = d?.verifyClient !== undefined;
      });
    },
    async close(timeoutMs) {
      const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      for (const s of servers) (s as http.Server).closeIdleConnections?.();
      await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      await logFiles.flushAll();
      await proxy.close(); // idle upstream keep-alive connections
      await Promise.all([fastcgi.close(), uwsgi.close(), scgi.close(), memcached.close(), grpc.close()]);
    },
  };
}

/**
 * The default server's client_header_timeout and keepalive_timeout become the Node server's
 * headersTimeout and keepAliveTimeout; Node checks for expired heads every connectionsCheckingInterval
 * (30 s by default), so that interval follows the timeout. A head not complete in time is dropped
 * without an answer (client-error.ts), as nginx drops it. keepalive_timeout 0 (no keep-alive) is
 * answered with `Connection: close` by the pipeline; Node's 0 would mean "never time out".
 */
export function nodeTimeouts(conf: LocationConf): { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number } {
  const headersTimeout = Math.max(1, conf.clientHeaderTimeoutMs);
  return {
    headersTimeout,
    // nginx has no cap on a whole request; Node's (300 s by default) must not undercut the head's.
    requestTimeout: Math.max(300_000, headersTimeout),
    keepAliveTimeout: conf.keepaliveTimeoutMs || 1,
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(headersTimeout / 4))),
  };
}

function timeoutsFor(state: RoutingState, listen: ListenSocket): Partial<ReturnType<typeof nodeTimeouts>> {
  const conf = state.tables.get(listen.key)?.defaultServer.conf;
  return conf ? nodeTimeouts(conf) : {};
}

function applyTimeouts(server: Server, state: RoutingState, listen: ListenSocket): void {
  const conf = state.tables.get(listen.key)?.defaultServer.conf;
  if (!conf) return;
  const t = nodeTimeouts(conf);
  // On an http2 port these are for its HTTP/1 connections (HTTP/2 sessions have their own).
  const s = server as Partial<http.Server>;
  s.requestTimeout = t.requestTimeout;
  s.headersTimeout = t.headersTimeout;
  s.keepAliveTimeout = t.keepAliveTimeout;
}

function plainServer(handler: http.RequestListener, clientError: (err: Error, socket: import('node:net').Socket) => void): http.Server {
  const s = http.createServer({ keepAliveTimeout: 65_000, requireHostHeader: false, maxHeaderSize: MAX_HEADER_BYTES }, handler);
  serveFastHttp1(s);
  s.on('checkContinue', handler);
  s.on('clientError', clientError);
  return s;
}

/** What a TLS server's own context is made of: its default server's settings ('reject' for ssl_reject_handshake). */
function ownIdentity(state: RoutingState, listen: ListenSocket, contexts: SecureContexts): string | undefined {
  const d = state.tables.get(listen.key)?.defaultServer.tls;
  return d?.rejectHandshake ? 'reject' : d && contexts.identity(d);
}

function createServer(getState: () => RoutingState, listen: ListenSocket, contexts: SecureContexts): Server {
  // requireHostHeader: nginx answers a Host-less HTTP/1.1 request itself (400), through the log.
  // maxHeaderSize: nginx's 4 × 8k header buffers, not Node's 16k (which answers 431).
  const timeouts = timeoutsFor(getState(), listen);
  // `listen … http2` without ssl is HTTP/2 with prior knowledge only (nginx 1.22 closes a
  // connection that does not begin with the preface, as Node's cleartext HTTP/2 server does).
  if (!listen.ssl && listen.http2) return closeSessionsOnClose(http2.createServer()) as unknown as Server;
  if (!listen.ssl) return withFastPath(http.createServer({ ...timeouts, requireHostHeader: false, maxHeaderSize: MAX_HEADER_BYTES }));
  const fallback = getState().tables.get(listen.key)?.defaultServer.tls;
  // ssl_session_cache of the address's default server as configured now (a reload keeps the server).
  const defaultTls = (): TlsSettings | undefined => getState().tables.get(listen.key)?.defaultServer.tls;
  const options: tls.TlsOptions = {
    // The server's own context (used when SNI picks nothing else): the default server's certificate.
    // A default server with ssl_reject_handshake gives no certificate: a handshake without SNI fails.
    ...(fallback && !fallback.rejectHandshake ? contexts.options(fallback) : {}),
    // ssl_verify_client: a certificate is asked for, and any result accepted (the request decides,
    // as nginx's verify callback does). The SNI callback sets it again for the server the name picks.
    requestCert: fallback?.verifyClient !== undefined,
    rejectUnauthorized: false,
    // A function, not an arrow: Node calls it on the TLSSocket, whose local address picks the server
    // table (a specific address without its own socket is accepted on the wildcard one).
    SNICallback(this: tls.TLSSocket, servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) {
      // nginx validates the SNI name like a Host header: lowercased, one trailing dot dropped.
      const name = servername.toLowerCase().replace(/\.$/, '');
      const state = getState();
      const key = this?.localAddress ? addressKeyFor(state, unmapIPv4(this.localAddress), this.localPort ?? 0) : undefined;
      const byAddress = (key && state.tables.get(key)) || state.tables.get(listen.key);
      // A name no server_name matches keeps the default server's context (nginx's servername callback).
      const settings = ((byAddress && matchServerName(byAddress, name)?.server) ?? byAddress?.defaultServer)?.tls;
      if (settings) noteHandshake(this, settings);
      // ssl_reject_handshake on the server the name picks: the handshake ends here, with an alert.
      if (settings?.rejectHandshake) {
        cb(new Error('the handshake was rejected (ssl_reject_handshake)'), undefined);
        return;
      }
      try {
        cb(null, settings ? contexts.get(settings) : undefined);
      } catch (err) {
        cb(err as Error, undefined);
      }
    },
  };
  if (listen.http2) {
    // HTTP/1 on an http2 port (no h2 in ALPN) is served as on an ssl port; node:http keeps what
    // bext's handling hands over (as it does for every server).
    const h2 = closeSessionsOnClose(http2.createSecureServer({ ...options, allowHTTP1: true }));
    serveFastHttp1(h2 as unknown as http.Server, (socket) => (socket as tls.TLSSocket).alpnProtocol !== 'h2');
    attachSessionCache(h2, defaultTls);
    return h2 as unknown as Server;
  }
  const server = withFastPath(https.createServer({ ...options, ...timeouts, requireHostHeader: false, maxHeaderSize: MAX_HEADER_BYTES }));
  attachSessionCache(server, defaultTls);
  return server;
}

/**
 * Every connection takes one of the worker's worker_connections slots first (connection-slots.ts):
 * one that finds none is closed before anything else sees it (stub_status counts it accepted only).
 */
function guardConnections(server: Server, counters: StubStatusCounters): void {
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (!workerSlots.accept(socket)) {
      counters.dropped();
      socket.destroy();
      return;
    }
    for (const l of listeners) l.call(server, socket);
  });
}

/** HTTP/1 connections start on bext's own request handling (http1-connection.ts). */
function withFastPath<S extends http.Server>(server: S): S {
  serveFastHttp1(server);
  return server;
}

/**
 * A graceful stop (an old generation, QUIT) ends HTTP/2 sessions as nginx does: each gets GOAWAY and
 * closes once its streams in progress are done; node's server.close() would leave them open. The
 * HTTP/1 connections this server also takes (no h2 in ALPN) end after their response.
 */
function closeSessionsOnClose<S extends http2.Http2SecureServer | http2.Http2Server>(server: S): S {
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.httpVersionMajor < 2) res.shouldKeepAlive = false;
    });
    close(cb);
    for (const session of sessions) session.close();
    return server;
  }) as typeof server.close;
  return server;
}

/**
 * HTTP/2 requests through Node's compatibility API lack what the pipeline reads from HTTP/1 ones:
 * `headersDistinct`, and a Host header (HTTP/2 carries it as `:authority`).
 */
function http2Adapter(handler: http.RequestListener): http.RequestListener {
  return (req, res) => {
    const headers = req.headers as Record<string, string | string[] | undefined>;
    if (headers.host === undefined && typeof headers[':authority'] === 'string') headers.host = headers[':authority'];
    if (!('headersDistinct' in req)) {
      const distinct: Record<string, string[]> = {};
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') && v !== undefined) distinct[k] = Array.isArray(v) ? v : [v];
      Object.defineProperty(req, 'headersDistinct', { value: distinct });
    }
    handler(req, res);
  };
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
        // Both handlers go on a failed try: the retries must not pile 'listening' listeners up.
        const onListening = () => {
          server.off('error', onError);
          resolve();
        };
        const onError = (err: Error) => {
          server.off('listening', onListening);
          reject(err);
        };
        server.once('error', onError);
        server.once('listening', onListening);
        const opts =
          listen.family === 'unix'
            ? { path: listen.host }
            : { host: listen.host, port: listen.port, ipv6Only: listen.family === 'ipv6' && listen.ipv6only, backlog: listen.backlog ?? 511 };
        server.listen(opts);
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
