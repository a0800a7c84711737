// uwsgi_pass (ngx_http_uwsgi_module): the uwsgi packet for the CGI-style upstream handler
// (cgi-upstream.ts): a 4-byte header (uwsgi_modifier1, the size in little-endian, uwsgi_modifier2)
// and the parameters as little-endian length-prefixed pairs (then uwsgi_string's bytes), then the
// body as it is; the answer is the bytes themselves, an HTTP status line or CGI headers first.
// uwsgi hides no Status header.
import { createCgiHandler, type CgiHandlerOptions, type CgiHook, type CgiProtocol } from './cgi-upstream.ts';
import { confLevels, directiveArgs } from './proxy-headers.ts';

function pair(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  const out = Buffer.alloc(4 + n.length + v.length);
  out.writeUInt16LE(n.length & 0xffff, 0);
  n.copy(out, 2);
  out.writeUInt16LE(v.length & 0xffff, 2 + n.length);
  v.copy(out, 4 + n.length);
  return out;
}

export const UWSGI: CgiProtocol = {
  name: 'uwsgi',
  settings: (conf) => conf.uwsgi,
  hidden: ['x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'],
  // `uwsgi://host:port` names the same peer as `host:port`.
  address: (raw) => (raw.slice(0, 8).toLowerCase() === 'uwsgi://' ? raw.slice(8) : raw),
  head(pairs, r) {
    const levels = confLevels(r);
    // uwsgi_string: bytes of the operator's own, after the parameters and inside the packet's size.
    const string = directiveArgs(levels, 'uwsgi_string').pop()?.[0];
    const parts = pairs.map(([n, v]) => pair(n, v));
    if (string) parts.push(Buffer.from(string, 'latin1'));
    const body = Buffer.concat(parts);
    if (body.length > 65535) return { tooBig: `uwsgi request is too big: ${body.length}` };
    const modifier = (name: string): number => Number(directiveArgs(levels, name).pop()?.[0] ?? 0) & 0xff;
    const head = Buffer.from([modifier('uwsgi_modifier1'), body.length & 0xff, body.length >> 8, modifier('uwsgi_modifier2')]);
    return Buffer.concat([head, body]);
  },
  bodyPiece: (chunk) => chunk,
  bodyEnd: Buffer.alloc(0),
  records: false,
};

export const createUwsgiHandler = (opts: CgiHandlerOptions = {}): CgiHook => createCgiHandler(UWSGI, opts);
