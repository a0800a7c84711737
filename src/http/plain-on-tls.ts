// A plain HTTP request on an `ssl` port. nginx reads it, selects the server by Host and answers
// 497 ("400 The plain HTTP request was sent to HTTPS port"), which `error_page 497 …` can turn into
// a redirect to https. Node's TLS server would just drop the connection: the first byte tells a TLS
// handshake (0x16) from anything else, and the rest goes to an HTTP/1 server running the pipeline.
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';

const TLS_HANDSHAKE = 0x16;
const FIRST_BYTE_TIMEOUT_MS = 60_000;
const plainSockets = new WeakSet<Socket>();

/** Whether this connection reached an ssl port without TLS (the pipeline answers 497). */
export function isPlainOnTls(socket: Socket): boolean {
  return plainSockets.has(socket);
}

/**
 * Puts a sniffer in front of `tlsServer`'s connection handling: TLS connections go on as before,
 * others are handed to `plain` (which shares the request handler).
 */
export function routePlainHttp(tlsServer: TlsServer, plain: HttpServer): void {
  const tlsListeners = tlsServer.listeners('connection') as ((socket: Socket) => void)[];
  tlsServer.removeAllListeners('connection');
  tlsServer.on('connection', (socket: Socket) => {
    // A silent client is dropped as nginx drops it (client_header_timeout's default, 60 s).
    const idle = () => socket.destroy();
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, idle);
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.off('timeout', idle);
      // Give the bytes back: the TLS socket (or the HTTP parser) reads them from the buffer.
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) {
        // The TLS socket drains what is buffered on the raw socket when it wraps it.
        for (const l of tlsListeners) l.call(tlsServer, socket);
      } else {
        plainSockets.add(socket);
        plain.emit('connection', socket);
        socket.resume();
      }
    });
    socket.on('error', () => socket.destroy());
  });
}
