// The floor under any Node.js server on this machine: a bare node:http cluster (one worker per
// core, as `worker_processes auto`) answering every request with the same file, read per request as
// nginx reads it (open, fstat, read, close), with nginx's response headers and nothing else: no
// configuration, no routing, no logging. bench/http.ts runs it beside nginx and bext so the table
// shows how much of the gap is Node's own and how much is bext's.
// Run: node --import tsx bench/node-floor.ts PORT FILE
import cluster from 'node:cluster';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism } from 'node:os';

const [port, file] = [Number(process.argv[2]), process.argv[3]!];
cluster.schedulingPolicy = cluster.SCHED_NONE; // as bext: each worker accepts for itself
if (cluster.isPrimary) {
  for (let i = 0; i < availableParallelism(); i++) cluster.fork();
  process.on('SIGQUIT', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const buf = Buffer.allocUnsafe(64 * 1024);
  http
    .createServer((_req, res) => {
      const fd = openSync(file, 'r');
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
}
