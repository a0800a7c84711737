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
  .listen(port, '127.0.0.1');
