// Differential: client certificates (ssl_verify_client on | optional | optional_no_ca,
// ssl_client_certificate, ssl_trusted_certificate, ssl_verify_depth, ssl_crl) and the $ssl_*
// variables, against real nginx. A small PKI is made with openssl: a root, two intermediates, another
// CA, leaves under each, a self-signed one, an expired one and a revoked one. Every request is a new
// TLS connection; the answer (status line and body, which prints the variables) and the error log's
// lines must be the same.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { BEXT_COMMAND, errorLinesOf, haveNginx, makeSite, startPair, wrapConfig, type Pair } from './harness.ts';
import { makePki } from './pki.ts';

let pair: Pair | undefined;
let pki = '';

const SHOW = 'verify=$ssl_client_verify s_dn=$ssl_client_s_dn i_dn=$ssl_client_i_dn serial=$ssl_client_serial fp=$ssl_client_fingerprint '
  + 'remain=$ssl_client_v_remain start=$ssl_client_v_start end=$ssl_client_v_end legacy=$ssl_client_s_dn_legacy|$ssl_client_i_dn_legacy '
  + 'proto=$ssl_protocol cipher=$ssl_cipher sni=$ssl_server_name reused=$ssl_session_reused early=$ssl_early_data';

before(async () => {
  if (!haveNginx) return;
  pki = mkdtempSync(join(tmpdir(), 'bext-pki-'));
  makePki(pki);
  const locations = `location / { return 200 "$server_name ${SHOW}\\n"; }
    location /cert { return 200 "$ssl_client_cert|$ssl_client_escaped_cert|$ssl_client_raw_cert"; }`;
  const server = (port: string, extra: string) => `server { listen 127.0.0.1:@${port}@ ssl; ${extra} ${locations} }`;
  pair = await startPair(wrapConfig(`
  ssl_certificate ${pki}/srv.crt;
  ssl_certificate_key ${pki}/srv.key;
  ${server('P1', `ssl_verify_client optional; ssl_client_certificate ${pki}/root.crt;`)}
  ${server('P2', `ssl_verify_client optional; ssl_verify_depth 2; ssl_client_certificate ${pki}/root.crt;`)}
  ${server('P3', `ssl_verify_client on; ssl_verify_depth 5; ssl_client_certificate ${pki}/root.crt; ssl_crl ${pki}/root.crl;`)}
  ${server('P4', 'ssl_verify_client optional_no_ca;')}
  ${server('P5', `ssl_verify_client optional; ssl_verify_depth 0; ssl_client_certificate ${pki}/root.crt;`)}
  ${server('P6', `ssl_verify_client optional; ssl_trusted_certificate ${pki}/root.crt; ssl_client_certificate ${pki}/other.crt;`)}
  ${server('P7', 'server_name default.test;')}
  ${server('P7', `server_name mtls.test; ssl_verify_client on; ssl_client_certificate ${pki}/root.crt;`)}
  ${server('P7', 'server_name plain.test;')}
  server { listen 127.0.0.1:@P8@ ssl http2; ssl_verify_client optional; ssl_client_certificate ${pki}/root.crt; ${locations} }
  server { listen 127.0.0.1:@P9@; ${locations} }`), makeSite({}), ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7', 'P8', 'P9']);
});

after(async () => {
  await pair?.stop();
});

/** The client's certificate (a chain file for the *chain ones) and key; none: no certificate. */
function credentials(who: string): { cert?: Buffer; key?: Buffer } {
  if (who === 'none') return {};
  return { cert: readFileSync(join(pki, `${who}.crt`)), key: readFileSync(join(pki, `${who.replace(/chain$/, '')}.key`)) };
}

/**
 * One request on a new TLS connection: the status line and body, or how the handshake ended. The
 * days left ($ssl_client_v_remain) of certificates made seconds ago fall on a day's boundary, so
 * nginx's and bext's may differ by the second they ask in: not compared, unless 0.
 */
function fetch(port: number, who: string, servername: string | undefined, host: string, path = '/'): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}), ...credentials(who) });
    let data = '';
    let secure = false;
    s.on('secureConnect', () => {
      secure = true;
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    s.setEncoding('latin1');
    s.on('data', (d: string) => (data += d));
    const done = () => resolve(secure ? `${data.slice(0, data.indexOf('\r\n'))}\n${data.slice(data.indexOf('\r\n\r\n') + 4)}`.replace(/remain=[1-9]\d*/, 'remain=N') : 'handshake failed');
    s.on('close', done);
    s.on('error', () => {});
  });
}

/** The error log's lines about client certificates, without time, pid and connection numbers. */
function certLines(log: string, ports: Record<string, number>): string[] {
  const portName = new Map(Object.entries(ports).map(([name, port]) => [String(port), name]));
  return log.split('\n')
    .filter((l) => /client SSL certificate|no required SSL certificate|server name different/.test(l))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/:(\d+)"/g, (m, p: string) => `:${portName.get(p) ?? p}"`));
}

const WHO = ['none', 'alice', 'bob', 'bobchain', 'carolchain', 'mallory', 'self', 'expired', 'revoked'];

test('ssl_verify_client, depth, trusted CAs and CRLs: every answer and log line as nginx\'s', { skip: !haveNginx, timeout: 120_000 }, async () => {
  const p = pair!;
  const seen = new Map<string, string>();
  for (const port of ['P1', 'P2', 'P3', 'P4', 'P5', 'P6']) {
    for (const who of WHO) {
      const [n, b] = [await fetch(p.nginx.ports[port]!, who, 'srv.test', 'srv.test'), await fetch(p.bext.ports[port]!, who, 'srv.test', 'srv.test')];
      assert.equal(b, n, `${port} ${who}`);
      seen.set(`${port} ${who}`, n.split('\n')[0] + ' ' + (/verify=(\S+)/.exec(n)?.[1] ?? ''));
    }
  }
  // What nginx did, for the reader: depth 1 takes one intermediate; optional_no_ca serves failures;
  // the CRL turns away the revoked leaf, and every chain whose issuer has no CRL.
  assert.equal(seen.get('P1 bobchain'), 'HTTP/1.1 200 OK SUCCESS');
  assert.equal(seen.get('P1 carolchain'), 'HTTP/1.1 400 Bad Request ');
  assert.equal(seen.get('P2 carolchain'), 'HTTP/1.1 200 OK SUCCESS');
  assert.equal(seen.get('P3 none'), 'HTTP/1.1 400 Bad Request ');
  assert.equal(seen.get('P3 revoked'), 'HTTP/1.1 400 Bad Request ');
  assert.equal(seen.get('P4 self'), 'HTTP/1.1 200 OK FAILED:self-signed');
  assert.equal(seen.get('P6 mallory'), 'HTTP/1.1 200 OK SUCCESS');
  assert.deepEqual(...(await errorLinesOf(p, (log, inst) => certLines(log, inst.ports))));
});

test('the $ssl_client_* certificate texts and a plain HTTP request\'s variables are as nginx\'s', { skip: !haveNginx }, async () => {
  const p = pair!;
  for (const who of ['alice', 'bobchain', 'none']) {
    const [n, b] = [await fetch(p.nginx.ports.P1!, who, 'srv.test', 'srv.test', '/cert'), await fetch(p.bext.ports.P1!, who, 'srv.test', 'srv.test', '/cert')];
    assert.equal(b, n, who);
  }
  // On a plain port every $ssl_* variable is not found: `return` prints them empty.
  const get = (port: number) => new Promise<string>((resolve) => {
    let d = '';
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
    s.on('data', (c) => (d += c));
    s.on('close', () => resolve(d.slice(d.indexOf('\r\n\r\n') + 4)));
  });
  assert.equal(await get(p.bext.ports.P9!), await get(p.nginx.ports.P9!));
});

test('SNI picks the server that asks for a certificate; a Host that differs from it is 421', { skip: !haveNginx }, async () => {
  const p = pair!;
  const cases: [string, string | undefined, string][] = [
    ['alice', 'mtls.test', 'mtls.test'], // asked for, verified
    ['none', 'mtls.test', 'mtls.test'], // asked for, none sent: 400
    ['alice', 'plain.test', 'plain.test'], // not asked for: NONE
    ['alice', 'plain.test', 'mtls.test'], // SNI plain, Host needs a certificate: 421
    ['alice', 'mtls.test', 'plain.test'], // Host's server verifies nothing: served, the certificate visible
    ['alice', undefined, 'mtls.test'], // no SNI: the default server's handshake asked for nothing: 400
    ['alice', 'unknown.test', 'mtls.test'], // SNI matched no server: no 421, but no certificate either
    ['self', 'mtls.test', 'mtls.test'], // a certificate that does not verify: 400
  ];
  const statuses: string[] = [];
  for (const [who, sni, host] of cases) {
    const [n, b] = [await fetch(p.nginx.ports.P7!, who, sni, host), await fetch(p.bext.ports.P7!, who, sni, host)];
    assert.equal(b, n, `${who} SNI ${sni} Host ${host}`);
    statuses.push(n.split(' ')[1]!);
  }
  assert.deepEqual(statuses, ['200', '400', '200', '421', '200', '400', '400', '400']);
  assert.deepEqual(...(await errorLinesOf(p, (log, inst) => certLines(log, inst.ports))));
});

test('HTTP/2: the client certificate of the session is verified and seen', { skip: !haveNginx }, async () => {
  const p = pair!;
  const h2 = (port: number, who: string) => new Promise<string>((resolve, reject) => {
    const session = http2.connect(`https://srv.test:${port}`, { host: '127.0.0.1', servername: 'srv.test', rejectUnauthorized: false, ...credentials(who) } as http2.SecureClientSessionOptions);
    session.on('error', reject);
    const stream = session.request({ ':path': '/', ':authority': 'srv.test' });
    let body = '';
    let status = 0;
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('latin1');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => {
      session.close();
      resolve(`${status} ${body}`);
    });
  });
  for (const who of ['alice', 'bobchain', 'none', 'self']) {
    assert.equal(await h2(p.bext.ports.P8!, who), await h2(p.nginx.ports.P8!, who), who);
  }
});

test('a CA file, CRL or upstream certificate that cannot be read stops the start with nginx\'s line', { skip: !haveNginx }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-pki-conf-'));
  writeFileSync(join(dir, 'empty.pem'), 'no certificate here\n');
  const conf = join(dir, 'nginx.conf');
  const first = (extra: string, bin: string[]) => {
    writeFileSync(conf, `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp { client_body_temp_path ${dir}/body; server { listen 127.0.0.1:1 ssl; ssl_certificate ${pki}/srv.crt; ssl_certificate_key ${pki}/srv.key; ${extra} } }\n`);
    try {
      execFileSync(bin[0]!, [...bin.slice(1), '-c', conf, '-g', 'daemon off;'], { stdio: 'pipe', timeout: 10_000 });
      return 'started';
    } catch (err) {
      return String((err as { stderr: Buffer }).stderr).split('\n').find((l) => l.includes('[emerg]'))?.replace(/^.*\[emerg\] (\d+#\d+: )?/, '') ?? 'failed';
    }
  };
  for (const extra of [
    `ssl_verify_client on; ssl_client_certificate ${dir}/missing.crt;`,
    `ssl_verify_client on; ssl_client_certificate ${dir}/empty.pem;`,
    `ssl_trusted_certificate ${dir}/missing.crt;`,
    `ssl_crl ${dir}/missing.crl;`,
    'ssl_verify_client optional;',
    `location / { proxy_pass https://127.0.0.1:1; proxy_ssl_verify on; proxy_ssl_trusted_certificate ${dir}/missing.crt; }`,
    `location / { proxy_pass https://127.0.0.1:1; proxy_ssl_certificate ${dir}/missing.crt; proxy_ssl_certificate_key ${pki}/alice.key; }`,
  ]) {
    const theirs = first(extra, ['/usr/sbin/nginx']);
    assert.equal(first(extra, BEXT_COMMAND), theirs, extra);
    assert.notEqual(theirs, 'started', extra);
  }
});
