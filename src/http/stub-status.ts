// stub_status (ngx_http_stub_status_module): connection and request counters, and the exact text
// nginx prints (trailing spaces included: the Prometheus exporter scans it with that template).
import type { Server, Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { whenDone } from '../server/http1-connection.ts';

export interface StatusNumbers {
  active: number;
  accepts: number;
  handled: number;
  requests: number;
  reading: number;
  writing: number;
  waiting: number;
}

/** The page, byte for byte as nginx writes it. */
export function formatStubStatus(n: StatusNumbers): string {
  return `Active connections: ${n.active} \nserver accepts handled requests\n ${n.accepts} ${n.handled} ${n.requests} \n` +
    `Reading: ${n.reading} Writing: ${n.writing} Waiting: ${n.waiting} \n`;
}

/** Cumulative counts plus the gauges of one process. */
export interface CounterSnapshot {
  accepts: number;
  handled: number;
  requests: number;
  active: number;
  reading: number;
  writing: number;
}

/** Adds snapshots up (several workers, or retired ones) into what stub_status shows. */
export function sumSnapshots(snaps: readonly CounterSnapshot[]): StatusNumbers {
  const t = { accepts: 0, handled: 0, requests: 0, active: 0, reading: 0, writing: 0 };
  for (const s of snaps) for (const k of Object.keys(t) as (keyof CounterSnapshot)[]) t[k] += s[k];
  return { ...t, waiting: Math.max(0, t.active - t.reading - t.writing) };
}

type SocketState = { inFlight: number; counters: StubStatusCounters };

/** A request on the connection of `st` is done (whenDone: one shared function, no closure per request). */
function requestDone(st: SocketState): void {
  if (st.inFlight > 0 && --st.inFlight === 0) st.counters.connectionIdle();
}

/**
 * One process's counters. A connection is `writing` while a request on it is in progress and
 * waiting otherwise, as in nginx, where a new connection also waits until its first bytes arrive.
 * nginx's `reading` (a request head partly received) stays 0: Node reports a request only once
 * its head is complete, so such a connection counts as waiting here.
 */
export class StubStatusCounters {
  private s: CounterSnapshot = { accepts: 0, handled: 0, requests: 0, active: 0, reading: 0, writing: 0 };
  private readonly sockets = new WeakMap<Socket, SocketState>();

  snapshot(): CounterSnapshot {
    return { ...this.s };
  }

  /** Counts the connections and requests of a node:http / https server. */
  track(server: Server): void {
    this.trackConnections(server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
  }

  /** The connections only: the caller passes each request to onRequest itself. */
  trackConnections(server: Server): void {
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    // TLS servers report the raw socket on 'connection' and the TLS one on the request.
    server.on('secureConnection', (socket: Socket) => this.alias(socket));
  }

  /** A connection closed at once for want of a worker_connections slot: accepted, not handled. */
  dropped(): void {
    this.s.accepts++;
  }

  onConnection(socket: Socket): void {
    const st: SocketState = { inFlight: 0, counters: this };
    this.sockets.set(socket, st);
    this.s.accepts++;
    this.s.handled++;
    this.s.active++;
    socket.once('close', () => {
      if (st.inFlight > 0) this.s.writing--;
      st.inFlight = 0;
      this.s.active--;
    });
  }

  private alias(tlsSocket: Socket): void {
    const raw = (tlsSocket as unknown as { _parent?: Socket })._parent;
    const st = raw && this.sockets.get(raw);
    if (st) this.sockets.set(tlsSocket, st);
  }

  onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.s.requests++;
    const st = this.sockets.get(req.socket);
    if (!st) return;
    if (st.inFlight++ === 0) this.s.writing++;
    whenDone(res, requestDone, st);
  }

  /** The last request in progress on a connection is done: it waits again. */
  connectionIdle(): void {
    this.s.writing--;
  }
}
