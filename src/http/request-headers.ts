// The client's header lines as nginx lists them (r->headers_in.headers), for the handlers that pass
// them upstream: over HTTP/1 as received; over HTTP/2 (ngx_http_v2_state_process_header) the
// pseudo-headers are the request line, :authority becomes a `host` line where it came, and the
// cookie fields are joined with "; " into one `cookie` line after all the others.
import type { IncomingMessage } from 'node:http';

/** Flat name/value list, as IncomingMessage.rawHeaders. */
export function clientHeaderLines(req: IncomingMessage): readonly string[] {
  const raw = req.rawHeaders;
  if (req.httpVersionMajor < 2) return raw;
  const out: string[] = [];
  let cookies: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (name === ':authority') out.push('host', raw[i + 1]!);
      continue;
    }
    if (name.length === 6 && name.toLowerCase() === 'cookie') (cookies ??= []).push(raw[i + 1]!);
    else out.push(name, raw[i + 1]!);
  }
  if (cookies) out.push('cookie', cookies.join('; '));
  return out;
}
