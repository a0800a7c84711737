// A gRPC-style upstream on node:http2 (h2c, or TLS with ALPN h2) for the grpc_pass tests: it records
// what each request brought (header lines in order, body bytes) and answers by the method, the
// path's last segment (any service name, so that locations can tell cases apart):
//   /Unary         one length-prefixed message, then trailers
//   /TrailersOnly  a HEADERS frame with END_STREAM holding grpc-status
//   /Echo          each request DATA chunk echoed as it arrives, trailers at the end
//   /Slow          answers after 1.5 s
//   /Stall         reads nothing and answers nothing (its flow-control window stays shut)
//   /Reset         RST_STREAM (INTERNAL_ERROR) before any answer
//   /ResetMid      head and a message, then the stream closed with INTERNAL_ERROR
//   /CloseMid      head and a message, then the connection closed
//   /Unavailable   503 (for grpc_next_upstream http_503)
//   anything else  a plain 404 with a text body
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface Seen {
  /** Header lines as received, pseudo-headers first: [name, value, name, value, …]. */
  headers: string[];
  body: Buffer;
  /** The session (connection) number it came on. */
  session: number;
}

export interface GrpcUpstream {
  port: number;
  name: string;
  seen: Seen[];
  /** Sessions (connections) accepted so far. */
  sessions(): number;
  close(): Promise<void>;
}

/** gRPC's framing: flag byte 0, 4-byte length, message. */
export function message(text: string): Buffer {
  const m = Buffer.from(text);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(m.length, 1);
  return Buffer.concat([head, m]);
}

export async function startGrpcUpstream(name: string, tls?: { cert: string; key: string }): Promise<GrpcUpstream> {
  const seen: Seen[] = [];
  let sessions = 0;
  const server = tls ? http2.createSecureServer({ ...tls, allowHTTP1: false }) : http2.createServer();
  const open = new Set<http2.ServerHttp2Session>();
  server.on('session', (s: http2.ServerHttp2Session) => {
    const n = ++sessions;
    (s as unknown as { n: number }).n = n;
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
  });
  server.on('stream', (stream: http2.ServerHttp2Stream, _h: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
    const full = String(_h[':path']);
    const path = full.slice(full.lastIndexOf('/')).replace(/\?.*$/, '');
    const record: Seen = { headers: raw, body: Buffer.alloc(0), session: (stream.session as unknown as { n: number }).n };
    seen.push(record);
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    const head = { ':status': 200, 'content-type': 'application/grpc', 'x-up': name, date: 'Thu, 01 Jan 1970 00:00:00 GMT', server: 'up/1' };
    const trailers = { 'grpc-status': '0', 'grpc-message': 'ok', 'x-trail': 't' };
    if (path === '/Echo') {
      stream.respond(head, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      stream.on('data', (d: Buffer) => {
        chunks.push(d);
        stream.write(d);
      });
      stream.on('end', () => {
        record.body = Buffer.concat(chunks);
        stream.end();
      });
      return;
    }
    if (path === '/Stall') {
      stream.pause();
      return;
    }
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => {
      record.body = Buffer.concat(chunks);
      switch (path) {
        case '/Unary':
        case '/Slow': {
          const go = () => {
            if (stream.destroyed) return;
            stream.respond(head, { waitForTrailers: true });
            stream.on('wantTrailers', () => stream.sendTrailers(trailers));
            stream.end(message(`hello ${name}`));
          };
          if (path === '/Slow') setTimeout(go, 1500);
          else go();
          return;
        }
        case '/TrailersOnly':
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unimpl' }, { endStream: true });
          return;
        case '/Reset':
          stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          return;
        case '/ResetMid':
          stream.respond(head);
          stream.write(message('partial'), () => setTimeout(() => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 50));
          return;
        case '/CloseMid':
          stream.respond(head);
          stream.write(message('partial'), () => setTimeout(() => stream.session?.destroy(), 50));
          return;
        case '/Unavailable':
          stream.respond({ ':status': 503, 'content-type': 'text/plain', 'x-up': name });
          stream.end(`unavailable ${name}\n`);
          return;
        default:
          stream.respond({ ':status': 404, 'content-type': 'text/plain', 'x-up': name });
          stream.end('not here\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    name,
    seen,
    sessions: () => sessions,
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
}
