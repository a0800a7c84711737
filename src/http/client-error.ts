// Node's `clientError`: the parser refused the request (bad method or version, malformed header,
// headers too large, timeout). Node's own answer is a bare `400`/`431` without Server or a page;
// nginx answers with its error page (400, 414, 494 → 400, 505) and closes, or, when the client
// was too slow sending its head, closes without a word.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { RoutingState } from '../config/state.ts';
import { clientErrorStatus, LARGE_HEADER_BUFFER } from './request-limits.ts';
import { serverHeader, specialResponse, statusReason } from './responses.ts';
import { httpDate } from './static.ts';
import { logRefused, tableFor } from './pipeline.ts';
import { unmapIPv4 } from './access.ts';
import type { LogFiles } from './access-log.ts';

interface ParserError extends Error {
  code?: string;
  rawPacket?: Buffer;
}

/** Error codes that mean the peer is gone or too slow: nothing is sent. */
const SILENT = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ERR_HTTP_REQUEST_TIMEOUT', 'HPE_CLOSED_CONNECTION']);

/** nginx's response bytes for a request it refused while reading the head. */
export function refusalBytes(status: number, serverTokens: boolean): { bytes: Buffer; bodyBytes: number } {
  const sp = specialResponse(status, { serverTokens })!;
  const head = [
    `HTTP/1.1 ${sp.status} ${statusReason(sp.status)}`,
    `Server: ${serverHeader(serverTokens)}`,
    `Date: ${httpDate(Date.now())}`,
    `Content-Type: ${sp.contentType ?? 'text/html'}`,
    `Content-Length: ${sp.body.length}`,
    'Connection: close',
  ].join('\r\n');
  return { bytes: Buffer.concat([Buffer.from(head + '\r\n\r\n', 'latin1'), sp.body]), bodyBytes: sp.body.length };
}

/** The request line as nginx logs it for a refused request: the first line, as far as it came. */
function refusedRequestLine(rawPacket: Buffer | undefined): string {
  if (!rawPacket) return '';
  const text = rawPacket.subarray(0, 64 * 1024).toString('latin1');
  const end = text.search(/\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}

/**
 * A `clientError` listener answering as nginx does; server_tokens and access_log come from the
 * default server of the address.
 */
export function createClientErrorHandler(getState: () => RoutingState, logFiles?: LogFiles): (err: ParserError, socket: Socket) => void {
  return (err, socket) => {
    // A response on this connection already started (pipelining): nothing more can be said.
    const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (SILENT.has(err.code ?? '') || !socket.writable || current?.headersSent) {
      socket.destroy();
      return;
    }
    const status = clientErrorStatus(err.code, err.rawPacket);
    const state = getState();
    const table = tableFor(state, unmapIPv4(socket.localAddress ?? ''), socket.localPort ?? 0);
    const tokens = table ? table.defaultServer.conf.serverTokens !== 'off' : true;
    const out = refusalBytes(status, tokens);
    // Logged before the socket ends, while its addresses are still known.
    if (logFiles) {
      const requestLine = refusedRequestLine(err.rawPacket).slice(0, LARGE_HEADER_BUFFER);
      const refusal = { requestLine, status: status === 494 ? 400 : status, bodyBytes: out.bodyBytes, bytes: out.bytes.length };
      logRefused(state, socket, refusal, logFiles);
    }
    socket.end(out.bytes);
    socket.once('finish', () => socket.destroy());
  };
}

/**
 * Node's `connect` event (a CONNECT request, which Node never hands to the request listener):
 * nginx is no forward proxy and answers 400.
 */
export function createConnectHandler(getState: () => RoutingState, logFiles?: LogFiles): (req: IncomingMessage, socket: Socket) => void {
  const onError = createClientErrorHandler(getState, logFiles);
  return (req, socket) => {
    const rawPacket = Buffer.from(`${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`, 'latin1');
    onError(Object.assign(new Error('CONNECT'), { code: 'CONNECT', rawPacket }), socket);
  };
}
