// The floor under any Node.js server on this machine, run beside nginx and bext by bench/http.ts so
// the table shows how much of the gap is Node's own and how much is bext's. One worker per core, as
// `worker_processes auto`, each accepting for itself; nginx's response headers and nothing else: no
// configuration, no routing, no logging.
//   static PORT FILE: a bare node:http cluster answering every request with FILE, read per request
//     as nginx reads it (open, fstat, read, close).
//   proxy PORT UPSTREAM_PORT: a bare node:net proxy to a keep-alive upstream: the request line's
//     target to an idle upstream connection, the answer (framed by Content-Length only) back. It
//     parses nothing else, so it is below what any correct proxy on Node can cost.
// Run: node --import tsx bench/node-floor.ts static|proxy PORT FILE|UPSTREAM_PORT
import cluster from 'node:cluster';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import http from 'node:http';
import net, { type Socket } from 'node:net';
import { availableParallelism } from 'node:os';

const [mode, port, arg] = [process.argv[2], Number(process.argv[3]), process.argv[4]!];
cluster.schedulingPolicy = cluster.SCHED_NONE; // as bext: each worker accepts for itself
if (cluster.isPrimary) {
  for (let i = 0; i < availableParallelism(); i++) cluster.fork();
  process.on('SIGQUIT', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else if (mode === 'static') {
  const buf = Buffer.allocUnsafe(64 * 1024);
  http
    .createServer((_req, res) => {
      const fd = openSync(arg, 'r');
      const st = fstatSync(fd);
      const n = readSync(fd, buf, 0, Math.min(st.size, buf.length), 0);
      closeSync(fd);
      res.sendDate = false;
      res.writeHead(200, [
        'Server', 'nginx', 'Date', new Date().toUTCString(), 'Content-Type', 'text/html', 'Content-Length', String(n),
        'Last-Modified', st.mtime.toUTCString(), 'Connection', 'keep-alive', 'ETag', `"${st.mtimeMs.toString(16)}"`, 'Accept-Ranges', 'bytes',
      ]);
      res.end(Buffer.from(buf.subarray(0, n)));
    })
    .listen(port, '127.0.0.1');
} else {
  const upstreamPort = Number(arg);
  const idle: Socket[] = [];
  const clientOf = new Map<Socket, Socket>();
  const upstream = (): Socket => {
    const u = idle.pop();
    if (u) return u;
    const s = net.connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
    let got: Buffer | undefined;
    s.on('data', (d: Buffer) => {
      got = got ? Buffer.concat([got, d]) : d;
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(got.toString('latin1', 0, end))?.[1] ?? 0);
      if (got.length < end + 4 + length) return;
      const head =
        `HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: text/html\r\n` +
        `Content-Length: ${length}\r\nConnection: keep-alive\r\n\r\n`;
      const out = Buffer.allocUnsafe(head.length + length);
      out.write(head, 0, "latin1");
      got.copy(out, head.length, end + 4, end + 4 + length);
      got = undefined;
      const client = clientOf.get(s);
      clientOf.delete(s);
      idle.push(s);
      client?.write(out);
    });
    s.on('error', () => {});
    s.on('close', () => {
      const i = idle.indexOf(s);
      if (i >= 0) idle.splice(i, 1);
      clientOf.get(s)?.destroy();
    });
    return s;
  };
  net
    .createServer({ noDelay: true }, (c) => {
      let pending: Buffer | undefined;
      c.on('error', () => {});
      c.on('data', (d: Buffer) => {
        pending = pending ? Buffer.concat([pending, d]) : d;
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const line = pending.toString('latin1', 0, pending.indexOf('\r\n'));
        pending = undefined;
        const u = upstream();
        clientOf.set(u, c);
        u.write(`GET ${line.split(' ')[1]} HTTP/1.1\r\nHost: bench_app\r\n\r\n`, 'latin1');
      });
    })
    .listen(port, '127.0.0.1');
}
