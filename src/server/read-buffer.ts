// One read buffer per worker, for client connections and upstream ones (plain TCP, and TLS once
// its handshake is done).
//
// A socket Node reads itself costs, for every read, a 64 KiB malloc that is then shrunk and wrapped
// in an ArrayBuffer, and a trip through the Readable machinery (push, addChunk, 'data'). net's
// `onread` option reads into a buffer the caller gives and calls back with the byte count instead.
// Reads are handled one at a time, so one buffer serves every socket of the worker — as long as
// nothing of it is kept past the callback without a copy (`owned`).
import { Socket } from 'node:net';

export const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** `chunk` itself when it is its own memory, else a copy (a view of READ_BUFFER is overwritten by the next read). */
export function owned(chunk: Buffer): Buffer {
  return chunk.buffer === READ_BUFFER.buffer ? Buffer.from(chunk) : chunk;
}

/** Called with the bytes of one read, in READ_BUFFER; false stops reading (as push() returning false). */
export type OnRead = (n: number, buf: Buffer) => boolean;

// net.connect takes `onread`; the sockets a server accepts cannot. A Socket keeps the option under
// its own symbols (set on every Socket since Node 12, null unless given) and asks its handle to read
// into the buffer; readIntoShared does the same for an accepted socket before its first read. The
// symbols are found by name on a Socket; if a Node lacks them, sockets are read as before. A TLS
// socket's handle (TLSWrap) takes a user buffer the same way (tls.connect's `onread`): the
// decrypted bytes are copied into it.
const probe = new Socket();
const symbolNamed = (name: string) => Object.getOwnPropertySymbols(probe).find((s) => s.description === name);
const kBuffer = symbolNamed('kBuffer');
const kBufferCb = symbolNamed('kBufferCb');
const kBufferGen = symbolNamed('kBufferGen');
probe.destroy();

type Internals = Record<symbol, unknown> & { _handle?: { useUserBuffer?(buf: Uint8Array): void } | null };

/**
 * From now on `socket`'s reads land in READ_BUFFER and go to `onRead` instead of 'data' events.
 * Only for a socket (plain, or TLS after its handshake) nothing has read yet (no bytes buffered, no
 * 'data' listener); false, with nothing changed, for any other.
 */
export function readIntoShared(socket: Socket, onRead: OnRead): boolean {
  const s = socket as unknown as Internals;
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined) return false;
  if (s[kBuffer] !== null || s[kBufferGen] !== null || typeof s._handle?.useUserBuffer !== 'function') return false;
  if (socket.readableFlowing !== null || socket.readableLength > 0) return false;
  s[kBuffer] = READ_BUFFER;
  s[kBufferCb] = onRead;
  s._handle.useUserBuffer(READ_BUFFER);
  return true;
}

/**
 * A socket readIntoShared took is read as a stream again ('data' events, pipe, unshift) for whoever
 * takes it over: each read is pushed as its own copy. The handle keeps reading into READ_BUFFER.
 */
export function readAsStream(socket: Socket): void {
  (socket as unknown as Internals)[kBufferCb as symbol] = (n: number, buf: Buffer) => socket.push(Buffer.from(buf.subarray(0, n)));
}
