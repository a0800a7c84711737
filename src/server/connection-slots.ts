// worker_connections, as a worker of nginx 1.22 keeps it: a fixed number of connection slots, of
// which the listening sockets and the channel to the master take one each. When a new connection
// finds none free, the oldest connections that are only waiting for a request (a first one, or the
// next on keep-alive: nginx's "reusable" ones) are closed to make room, with a warning at most once
// a second; if none is waiting, the new connection is closed with an alert. Upstream connections,
// which nginx counts too, are not counted here, and neither is a TLS connection reusable before
// its handshake is done (nginx can close one that has not sent a byte).
import type { Socket } from 'node:net';

type Log = (level: 'warn' | 'alert', message: string) => void;

export class ConnectionSlots {
  private limit = Infinity;
  private workerConnections = 0;
  private used = 0;
  /** The connections waiting for a request, oldest first (a Set keeps insertion order). */
  private readonly waiting = new Set<Socket>();
  /** Connections whose slot was given back early (closed to make room), not to count again at 'close'. */
  private readonly released = new WeakSet<Socket>();
  /** Sockets whose 'close' takes them out of `waiting` (a TLS socket is not the one accept() saw). */
  private readonly watched = new WeakSet<Socket>();
  private warnedAt = -1;
  private log: Log = () => {};

  /** worker_connections and the slots that are not for clients (listening sockets, the channel). */
  configure(workerConnections: number, fixed: number, log: Log): void {
    this.workerConnections = workerConnections;
    this.limit = Math.max(0, workerConnections - fixed);
    this.log = log;
  }

  /** A new client connection: false when there is no slot for it (it is to be closed). */
  accept(socket: Socket): boolean {
    if (this.used >= this.limit) this.drain();
    if (this.used >= this.limit) {
      this.log('alert', `${this.workerConnections} worker_connections are not enough`);
      return false;
    }
    this.used++;
    socket.once('close', () => {
      if (!this.released.has(socket)) this.used--;
    });
    return true;
  }

  /** The connection waits for a request (it may be closed to make room) or is busy with one. */
  waitingForRequest(socket: Socket, waiting: boolean): void {
    if (this.limit === Infinity) return;
    // Deleted first: waiting again makes it the newest.
    this.waiting.delete(socket);
    if (!waiting || socket.destroyed) return;
    this.waiting.add(socket);
    if (!this.watched.has(socket)) {
      this.watched.add(socket);
      socket.once('close', () => this.waiting.delete(socket));
    }
  }

  /** ngx_drain_connections: the oldest waiting connections, an eighth of them (1 to 32). */
  private drain(): void {
    if (this.waiting.size === 0) return;
    const now = Math.floor(Date.now() / 1000);
    if (now !== this.warnedAt) {
      this.warnedAt = now;
      this.log('warn', `${this.workerConnections} worker_connections are not enough, reusing connections`);
    }
    let n = Math.max(Math.min(32, Math.floor(this.waiting.size / 8)), 1);
    for (const socket of this.waiting) {
      if (n-- === 0) break;
      this.waiting.delete(socket);
      // The slot is the accepted socket's: a TLS socket's is the one under it.
      this.released.add((socket as Socket & { _parent?: Socket })._parent ?? socket);
      this.used--;
      socket.destroy();
    }
  }
}

/** This worker's slots (unlimited until the listeners configure them). */
export const workerSlots = new ConnectionSlots();
