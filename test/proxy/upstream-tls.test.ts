// Differential: proxy_pass to https upstreams with proxy_ssl_verify, proxy_ssl_trusted_certificate,
// proxy_ssl_verify_depth, proxy_ssl_name, proxy_ssl_server_name and proxy_ssl_certificate, against
// real nginx. The
// upstreams are https servers in this process (certificates from test/serving/pki.ts) that answer
// with the SNI name they saw; the answers and the error log's lines must be nginx's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { errorLinesOf, haveNginx, makeSite, send, startPair, wrapConfig, type Pair } from '../serving/harness.ts';
import { makePki } from '../serving/pki.ts';

let pair: Pair | undefined;
const upstreams: https.Server[] = [];
const ports: Record<string, number> = {};

/**
 * An https upstream with `cert`: it answers with the SNI name it was sent ("none" without); one that
 * asks for client certificates (`clientCa`) adds the one it got.
 */
async function upstream(name: string, dir: string, cert: string, key: string, clientCa?: string): Promise<void> {
  const asks = clientCa ? { requestCert: true, rejectUnauthorized: false, ca: readFileSync(join(dir, clientCa)) } : {};
  const server = https.createServer({ cert: readFileSync(join(dir, cert)), key: readFileSync(join(dir, key)), ...asks }, (req, res) => {
    const socket = req.socket as TLSSocket;
    const client = clientCa ? ` client=${socket.getPeerCertificate().subject?.CN ?? 'none'} authorized=${socket.authorized}` : '';
    res.end(`${name} sni=${socket.servername || 'none'}${client} ${req.url} HTTP/${req.httpVersion}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  upstreams.push(server);
  ports[name] = (server.address() as AddressInfo).port;
}

before(async () => {
  if (!haveNginx) return;
  const dir = mkdtempSync(join(tmpdir(), 'bext-upstream-tls-'));
  makePki(dir);
  await upstream('good', dir, 'backend.crt', 'backend.key'); // backend.test under the root
  await upstream('fake', dir, 'fake.crt', 'fake.key'); // backend.test, self-signed
  await upstream('elsewhere', dir, 'elsewhere.crt', 'elsewhere.key'); // other.test under the root
  await upstream('deep', dir, 'deepchain.crt', 'deep.key'); // deep.test under an intermediate, sent with it
  // The same again: nginx resumes a peer's last TLS session in every location that proxies to it,
  // and a resumed session keeps the verification it had; the depth test needs a fresh peer.
  await upstream('deep2', dir, 'deepchain.crt', 'deep.key');
  // The SNI cases each have their own peer: a resumed session reports its first handshake's name.
  for (const name of ['sni', 'sni-var', 'sni-ip']) await upstream(name, dir, 'backend.crt', 'backend.key');
  for (const name of ['client', 'no-client']) await upstream(name, dir, 'backend.crt', 'backend.key', 'root.crt');
  const verify = `proxy_ssl_verify on; proxy_ssl_trusted_certificate ${dir}/root.crt;`;
  const loc = (path: string, up: string, extra: string) => `location /${path}/ { proxy_pass https://127.0.0.1:${ports[up]}/; ${extra} }`;
  pair = await startPair(wrapConfig(`
  upstream pair { server 127.0.0.1:${ports.fake}; server 127.0.0.1:${ports.good}; }
  server {
    listen 127.0.0.1:@P1@;
    ${loc('good', 'good', `${verify} proxy_ssl_name backend.test;`)}
    ${loc('fake', 'fake', `${verify} proxy_ssl_name backend.test;`)}
    ${loc('wrong-name', 'elsewhere', `${verify} proxy_ssl_name backend.test;`)}
    ${loc('ip-name', 'good', verify)}
    ${loc('deep', 'deep', `${verify} proxy_ssl_name deep.test;`)}
    ${loc('too-deep', 'deep2', `${verify} proxy_ssl_name deep.test; proxy_ssl_verify_depth 0;`)}
    ${loc('unverified', 'fake', '')}
    ${loc('sni', 'sni', `${verify} proxy_ssl_name backend.test; proxy_ssl_server_name on;`)}
    ${loc('sni-var', 'sni-var', `proxy_ssl_name $http_x_name:8443; proxy_ssl_server_name on;`)}
    ${loc('sni-ip', 'sni-ip', 'proxy_ssl_server_name on;')}
    ${loc('client', 'client', `proxy_ssl_certificate ${dir}/bob.crt; proxy_ssl_certificate_key ${dir}/bob.key;`)}
    ${loc('no-client', 'no-client', '')}
    location /pair/ { proxy_pass https://pair/; ${verify} proxy_ssl_name backend.test; }
  }`), makeSite({}), ['P1']);
});

after(async () => {
  await pair?.stop();
  for (const s of upstreams) s.close();
});

/** The status line and body of one request. */
async function get(port: number, path: string, headers = ''): Promise<string> {
  const r = await send(port, `GET ${path} HTTP/1.0\r\nHost: x\r\n${headers}\r\n`);
  return `${r.statusLine} ${r.body.toString('latin1').split(/\r?\n/)[0]}`;
}

/** The error log's upstream lines, with the ports named. */
function upstreamLines(log: string, own: number): string[] {
  let out = log;
  for (const [name, port] of Object.entries(ports)) out = out.replaceAll(`:${port}`, `:${name}`);
  return out.replaceAll(`:${own}`, ':P1').split('\n')
    .filter((l) => /upstream/.test(l))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] '));
}

test('proxy_ssl_verify, its CA, depth and name, and the SNI name sent: answers and log lines as nginx\'s', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const p = pair!;
  const seen: Record<string, string> = {};
  for (const [path, headers] of [
    ['/good/a', ''], ['/fake/a', ''], ['/wrong-name/a', ''], ['/ip-name/a', ''], ['/deep/a', ''], ['/too-deep/a', ''],
    ['/unverified/a', ''], ['/sni/a', ''], ['/sni-var/a', 'X-Name: named.test\r\n'], ['/sni-ip/a', ''], ['/client/a', ''], ['/no-client/a', ''], ['/pair/a', ''], ['/pair/b', ''],
  ] as const) {
    const [n, b] = [await get(p.nginx.ports.P1!, path, headers), await get(p.bext.ports.P1!, path, headers)];
    assert.equal(b, n, path);
    seen[path] = n;
  }
  assert.deepEqual(seen, {
    '/good/a': 'HTTP/1.1 200 OK good sni=none /a HTTP/1.0',
    '/fake/a': 'HTTP/1.1 502 Bad Gateway <html>',
    '/wrong-name/a': 'HTTP/1.1 502 Bad Gateway <html>',
    '/ip-name/a': 'HTTP/1.1 502 Bad Gateway <html>',
    '/deep/a': 'HTTP/1.1 200 OK deep sni=none /a HTTP/1.0',
    '/too-deep/a': 'HTTP/1.1 502 Bad Gateway <html>',
    '/unverified/a': 'HTTP/1.1 200 OK fake sni=none /a HTTP/1.0',
    '/sni/a': 'HTTP/1.1 200 OK sni sni=backend.test /a HTTP/1.0',
    '/sni-var/a': 'HTTP/1.1 200 OK sni-var sni=named.test /a HTTP/1.0',
    '/sni-ip/a': 'HTTP/1.1 200 OK sni-ip sni=none /a HTTP/1.0',
    // proxy_ssl_certificate: bob's (under an intermediate the upstream does not know).
    '/client/a': 'HTTP/1.1 200 OK client sni=none client=bob authorized=false /a HTTP/1.0',
    '/no-client/a': 'HTTP/1.1 200 OK no-client sni=none client=none authorized=false /a HTTP/1.0',
    // The self-signed peer fails its check and the next one answers (both requests, round-robin).
    '/pair/a': 'HTTP/1.1 200 OK good sni=none /a HTTP/1.0',
    '/pair/b': 'HTTP/1.1 200 OK good sni=none /b HTTP/1.0',
  });
  assert.deepEqual(...(await errorLinesOf(p, (log, inst) => upstreamLines(log, inst.ports.P1!))));
});
