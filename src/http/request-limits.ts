// What nginx refuses before any phase runs, where Node's parser does not refuse the same way:
// a request line or a header line longer than one large_client_header_buffers buffer (414 / 494),
// an HTTP major version above 1 (505), and a Transfer-Encoding other than chunked (501).
import type { IncomingMessage } from 'node:http';

/** nginx's default `large_client_header_buffers 4 8k`: one line must fit in one buffer. */
export const LARGE_HEADER_BUFFER = 8 * 1024;
/**
 * All request lines and headers together: nginx holds them in at most 4 buffers. Node's own limit
 * (`maxHeaderSize`, default 16 KB) answers 431 well below that; the listeners raise it to this.
 */
export const MAX_HEADER_BYTES = 4 * LARGE_HEADER_BUFFER;

/** ngx_http_alloc_large_header_buffer: a line (with its CRLF) longer than a buffer is refused. */
function tooLong(lineLength: number): boolean {
  return lineLength + 2 > LARGE_HEADER_BUFFER;
}

/**
 * The status nginx answers while reading the request head, or undefined when it goes on:
 * 414 (request line too long), 505 (HTTP/2+ on an HTTP/1 connection), 494 (a header line too long:
 * "400 Request Header Or Cookie Too Large").
 */
export function headStatus(req: IncomingMessage, target: string): 414 | 494 | 505 | undefined {
  const protocol = `HTTP/${req.httpVersion}`;
  if (tooLong(req.method!.length + 1 + target.length + 1 + protocol.length)) return 414;
  if (req.httpVersionMajor > 1 && !('stream' in req)) return 505; // an HTTP/2 stream came through ALPN, not an HTTP/1 request line
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (tooLong(raw[i]!.length + 2 + raw[i + 1]!.length)) return 494;
  }
  return undefined;
}

/**
 * ngx_http_process_request_header's Transfer-Encoding check: only `chunked` is understood,
 * anything else is 501 ("client sent unknown \"Transfer-Encoding\"").
 */
export function transferEncodingStatus(req: IncomingMessage): 501 | undefined {
  const te = req.headers['transfer-encoding'];
  if (te === undefined) return undefined;
  return te.toLowerCase() === 'chunked' ? undefined : 501;
}

/**
 * The status nginx would have answered for a request Node's parser gave up on (`clientError`):
 * the raw bytes decide between a too long request line (414) and too large headers (494), and
 * between a version nginx does not support (505) and a malformed one (400).
 */
export function clientErrorStatus(code: string | undefined, rawPacket: Buffer | undefined): 400 | 414 | 494 | 505 {
  const head = rawPacket ? rawPacket.subarray(0, LARGE_HEADER_BUFFER + 2).toString('latin1') : '';
  const firstLine = head.split('\n', 1)[0] ?? '';
  const startsRequest = /^[A-Za-z]+ /.test(head);
  if (code === 'HPE_HEADER_OVERFLOW') {
    return startsRequest && (!head.includes('\n') || tooLong(firstLine.replace(/\r$/, '').length)) ? 414 : 494;
  }
  if (code === 'HPE_INVALID_VERSION' && /^[A-Za-z]+ \S+ HTTP\/([2-9]|\d{2,})\.\d+\r?$/.test(firstLine)) return 505;
  return 400;
}
