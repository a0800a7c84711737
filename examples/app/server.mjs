// The example's upstream: a tiny app that `npm start` runs beside bext-server, so the example shows a
// proxied application. It answers JSON describing the request it received (as bext forwarded it).
import http from 'node:http';

const port = Number(process.env.PORT ?? 8081);
http
  .createServer((req, res) => {
    const body = JSON.stringify({ app: 'example', method: req.method, url: req.url, headers: req.headers }, null, 2);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  })
  .on('error', (err) => {
    console.error(`example app: cannot listen on 127.0.0.1:${port} (${err.code ?? err.message}); /app/ answers 502 without it`);
    process.exit(1);
  })
  .listen(port, '127.0.0.1');
