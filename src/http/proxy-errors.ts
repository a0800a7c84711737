// Upstream failures in nginx's terms: the proxy_next_upstream condition they count as, the status
// the client gets when nobody else can answer (502, or 504 for timeouts), and the error-log text.
export type FailureType =
  | 'error' | 'timeout' | 'invalid_header'
  | 'http_500' | 'http_502' | 'http_503' | 'http_504' | 'http_403' | 'http_404' | 'http_429';

export interface Failure {
  type: FailureType;
  /** What the client gets if this is the last try. */
  status: number;
  /** Whether the request reached the upstream (non-idempotent methods are then not retried). */
  requestSent: boolean;
  /** The error-log message ('' for upstream statuses, which nginx does not log). */
  message: string;
  /** nginx's current action, appended to follow-up lines ("while connecting to upstream"). */
  action?: string;
  /** $upstream_status for this try when the upstream answered. */
  upstreamStatus?: number;
  /** The try went over a kept (cached) connection: an error there earns one more try, as in nginx. */
  cached?: boolean;
}

/** proxy_next_upstream http_NNN conditions by upstream status. */
export const NEXT_STATUS: ReadonlyMap<number, FailureType> = new Map([
  [500, 'http_500'], [502, 'http_502'], [503, 'http_503'], [504, 'http_504'], [403, 'http_403'], [404, 'http_404'], [429, 'http_429'],
]);

const CONNECTING = 'while connecting to upstream';
const HANDSHAKING = 'while SSL handshaking to upstream';
const READING_HEADER = 'while reading response header from upstream';
const READING_BODY = 'while reading upstream';
const SENDING = 'while sending request to upstream';

const ERRNO: Record<string, string> = {
  ECONNREFUSED: '111: Connection refused',
  ECONNRESET: '104: Connection reset by peer',
  EHOSTUNREACH: '113: No route to host',
  ENETUNREACH: '101: Network is unreachable',
  ETIMEDOUT: '110: Connection timed out',
  ENOENT: '2: No such file or directory',
  EACCES: '13: Permission denied',
  EPIPE: '32: Broken pipe',
};

/** Maps an undici / socket error to nginx's failure; `reading` says whether headers already came. */
export function classifyUpstreamError(err: Error, bodyPhase: boolean): Failure {
  const code = (err as { code?: string }).code ?? '';
  const during = bodyPhase ? READING_BODY : READING_HEADER;
  switch (code) {
    case 'ECONNREFUSED': case 'EHOSTUNREACH': case 'ENETUNREACH': case 'ENOENT': case 'EACCES':
      return { type: 'error', status: 502, requestSent: false, message: `connect() failed (${ERRNO[code]}) ${CONNECTING}`, action: CONNECTING };
    case 'BEXT_UPSTREAM_TLS': // proxy_ssl_verify's checks (upstream-tls.ts)
      return { type: 'error', status: 502, requestSent: false, message: `${err.message} ${HANDSHAKING}`, action: HANDSHAKING };
    case 'UND_ERR_CONNECT_TIMEOUT': case 'ETIMEDOUT':
      return { type: 'timeout', status: 504, requestSent: false, message: `upstream timed out (110: Connection timed out) ${CONNECTING}`, action: CONNECTING };
    case 'BEXT_SEND_TIMEOUT': // proxy_send_timeout (proxy.ts)
      return { type: 'timeout', status: 504, requestSent: true, message: `upstream timed out (110: Connection timed out) ${SENDING}`, action: SENDING };
    case 'UND_ERR_HEADERS_TIMEOUT':
      return { type: 'timeout', status: 504, requestSent: true, message: `upstream timed out (110: Connection timed out) ${READING_HEADER}`, action: READING_HEADER };
    case 'UND_ERR_BODY_TIMEOUT':
      return { type: 'timeout', status: 504, requestSent: true, message: `upstream timed out (110: Connection timed out) ${READING_BODY}`, action: READING_BODY };
    case 'ECONNRESET': case 'EPIPE':
      return { type: 'error', status: 502, requestSent: true, message: `recv() failed (${ERRNO[code]}) ${during}`, action: during };
    case 'UND_ERR_SOCKET':
      return { type: 'error', status: 502, requestSent: true, message: `upstream prematurely closed connection ${during}`, action: during };
  }
  // A status line nginx cannot read: it would pass the bytes on as an HTTP/0.9 answer; we answer 502.
  if (code === 'HPE_INVALID_CONSTANT' || code === 'HPE_INVALID_STATUS' || code === 'HPE_INVALID_VERSION') {
    return { type: 'invalid_header', status: 502, requestSent: true, message: `upstream sent no valid HTTP/1.0 header ${READING_HEADER}`, action: READING_HEADER };
  }
  if (code.startsWith('HPE_') || err.name === 'HTTPParserError') {
    return { type: 'invalid_header', status: 502, requestSent: true, message: `upstream sent invalid header ${READING_HEADER}`, action: READING_HEADER };
  }
  return { type: 'error', status: 502, requestSent: true, message: `${err.message} ${during}`, action: during };
}
