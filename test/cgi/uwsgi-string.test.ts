// Differential: uwsgi_string's bytes go into the uwsgi packet after the parameters, counted in its
// size, byte for byte as nginx sends them (a raw listener records each packet and answers).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { haveNginx, makeSite, send, startPair, wrapConfig, type Pair } from '../serving/harness.ts';

let pair: Pair | undefined;
let raw: Server | undefined;
const packets: Buffer[] = [];

before(async () => {
  if (!haveNginx) return;
  raw = createServer((s) => {
    let got = Buffer.alloc(0);
    s.on('error', () => s.destroy());
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length < 4 || got.length < 4 + got.readUInt16LE(1)) return;
      packets.push(got.subarray(0, 4 + got.readUInt16LE(1)));
      s.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n');
    });
  });
  await new Promise<void>((resolve) => raw!.listen(0, '127.0.0.1', resolve));
  const port = (raw.address() as { port: number }).port;
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    uwsgi_pass_request_headers off;
    uwsgi_param QUERY $arg_q;
    location /s/ { uwsgi_string "raw\\tbytes\\n"; uwsgi_pass 127.0.0.1:${port}; }
    location /m/ { uwsgi_modifier1 5; uwsgi_string "five"; uwsgi_pass 127.0.0.1:${port}; }
    location /none/ { uwsgi_pass 127.0.0.1:${port}; }
  }`), makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
  raw?.close();
});

test('uwsgi_string: the packet nginx sends', { skip: !haveNginx, timeout: 30_000 }, async () => {
  for (const target of ['/s/?q=1', '/m/', '/none/?q=x']) {
    const seen: string[] = [];
    for (const port of [pair!.nginx.ports.P1!, pair!.bext.ports.P1!]) {
      const n = packets.length;
      const r = await send(port, `GET ${target} HTTP/1.0\r\n\r\n`);
      assert.equal(r.status, 200, `${target} on ${port}`);
      assert.equal(packets.length, n + 1, target);
      seen.push(packets[n]!.toString('hex'));
    }
    assert.equal(seen[1], seen[0], target);
  }
  assert.ok(packets[0]!.subarray(-10).equals(Buffer.from('raw\tbytes\n')), packets[0]!.toString('latin1'));
});
