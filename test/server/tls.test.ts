// TLS through the real master and workers: SNI picks the certificate by server_name on an ssl port
// that is not 443, HTTP/2 where the listen asks for it (HTTP/1.1 alongside), and a reload after a
// renewal (certbot replaces the files in place) puts the new certificate in service.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt, makePrefix, readPid, run, SERVER, waitFor, type Prefix } from './helpers.ts';

function makeCert(dir: string, name: string, cn: string): void {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`,
    '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`),
  ], { stdio: 'ignore' });
}

/** The certificate a TLS client is served for this SNI name: [subject CN, serial]. */
function servedCert(port: number, servername: string): Promise<[string, string]> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve([String(c.subject.CN), c.serialNumber]);
    });
    s.on('error', reject);
  });
}

const CONFIG = `worker_processes 2;
pid @DIR@/logs/nginx.pid;
error_log @DIR@/logs/error.log;
events { }
http {
    access_log off;
    server {
        listen 127.0.0.1:@PORT@ ssl http2 default_server;
        server_name a.test;
        ssl_certificate @DIR@/a.crt;
        ssl_certificate_key @DIR@/a.key;
        location / { return 200 "a $server_protocol\\n"; }
    }
    server {
        listen 127.0.0.1:@PORT@ ssl http2;
        server_name b.test *.b.test;
        ssl_certificate @DIR@/b.crt;
        ssl_certificate_key @DIR@/b.key;
        location / { return 200 "b $server_protocol\\n"; }
    }
}
`;

describe('TLS on a non-443 port', () => {
  let p: Prefix;
  before(async () => {
    ensureBuilt();
    p = await makePrefix(CONFIG);
    makeCert(p.dir, 'a', 'a.test');
    makeCert(p.dir, 'b', 'b.test');
    makeCert(p.dir, 'b2', 'b.test'); // the "renewed" certificate
    const r = await run(process.execPath, [SERVER, '-p', `${p.dir}/`, '-c', 'nginx.conf']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    const pid = readPid(p.pidFile);
    if (pid) process.kill(pid, 'SIGQUIT');
    p.cleanup();
  });

  test('SNI picks the certificate by nginx server_name rules; unknown names get the default server', async () => {
    assert.equal((await servedCert(p.port, 'a.test'))[0], 'a.test');
    assert.equal((await servedCert(p.port, 'b.test'))[0], 'b.test');
    assert.equal((await servedCert(p.port, 'www.b.test'))[0], 'b.test', 'leading wildcard');
    assert.equal((await servedCert(p.port, 'B.TEST.'))[0], 'b.test', 'case and trailing dot');
    assert.equal((await servedCert(p.port, 'other.test'))[0], 'a.test', 'default server');
  });

  test('HTTP/2 where the listen says http2, with the Host picking the server', async () => {
    const client = http2.connect(`https://127.0.0.1:${p.port}`, { servername: 'b.test', rejectUnauthorized: false });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = client.request({ ':path': '/', ':authority': 'b.test' });
        let data = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (data += c));
        req.on('end', () => resolve(data));
        req.on('error', reject);
      });
      assert.match(body, /^b HTTP\/2/);
    } finally {
      client.close();
    }
  });

  test('a renewal written over the same files is served after a reload', async () => {
    const [, before] = await servedCert(p.port, 'b.test');
    copyFileSync(path.join(p.dir, 'b2.crt'), path.join(p.dir, 'b.crt'));
    copyFileSync(path.join(p.dir, 'b2.key'), path.join(p.dir, 'b.key'));
    process.kill(readPid(p.pidFile)!, 'SIGHUP');
    await waitFor(async () => (await servedCert(p.port, 'b.test'))[1] !== before, 5000, 'the renewed certificate');
    assert.equal((await servedCert(p.port, 'a.test'))[0], 'a.test', 'the other certificate is unchanged');
  });
});
