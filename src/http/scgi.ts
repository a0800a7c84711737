// scgi_pass (ngx_http_scgi_module): SCGI's netstring for the CGI-style upstream handler
// (cgi-upstream.ts): `LEN:` then CONTENT_LENGTH (the body's length, always first) and every
// parameter as NUL-terminated name and value, then `,` and the body as it is; the answer is the
// bytes themselves, an HTTP status line or CGI headers first.
import { createCgiHandler, type CgiHandlerOptions, type CgiHook, type CgiProtocol } from './cgi-upstream.ts';

export const SCGI: CgiProtocol = {
  name: 'scgi',
  settings: (conf) => conf.scgi,
  hidden: ['status', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'],
  head(pairs, _r, bodyLength) {
    const parts = [Buffer.from(`CONTENT_LENGTH\0${bodyLength}\0`, 'latin1')];
    for (const [n, v] of pairs) parts.push(Buffer.from(`${n}\0${v}\0`, 'latin1'));
    const packet = Buffer.concat(parts);
    return Buffer.concat([Buffer.from(`${packet.length}:`, 'latin1'), packet, Buffer.from(',', 'latin1')]);
  },
  bodyPiece: (chunk) => chunk,
  bodyEnd: Buffer.alloc(0),
  records: false,
};

export const createScgiHandler = (opts: CgiHandlerOptions = {}): CgiHook => createCgiHandler(SCGI, opts);
