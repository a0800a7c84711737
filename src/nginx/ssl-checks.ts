// The certificate checks nginx makes when the http block is complete (ngx_http_ssl_module).
// At merge time, per server: `ssl on` needs a certificate (at the `ssl` line), every certificate
// needs a key, and the files are loaded (errors without a position, OpenSSL 3's texts for a
// missing file or a file without the PEM block). At postconfiguration: the default server of every
// address that has a `listen … ssl` needs a certificate (at that server's line), unless it sets
// `ssl_reject_handshake on`. Certificates are inherited from http{}.
import { readFileSync } from 'node:fs';
import { errnoText } from './errno.ts';
import { ConfError, type ConfNode } from './types.ts';
import { listenKey } from './listen.ts';
import { parseListenAddress } from './values.ts';

const has = (nodes: ConfNode[], directive: string, value?: string): ConfNode | undefined =>
  nodes.find((n) => n.directive === directive && (value === undefined || n.args[0]?.toLowerCase() === value));

const all = (nodes: ConfNode[], directive: string): ConfNode[] => nodes.filter((n) => n.directive === directive);

/** At merge time, server by server: `ssl on` without a certificate, a certificate without a key, unloadable files. */
export function checkSslMerge(http: ConfNode[], confPrefix: string, loadFiles: boolean): void {
  const httpSslOn = has(http, 'ssl', 'on');
  const httpCerts = all(http, 'ssl_certificate');
  const httpKeys = all(http, 'ssl_certificate_key');
  for (const server of http) {
    if (server.directive !== 'server' || !server.block) continue;
    // Array directives are inherited only when the server sets none of its own.
    const ownCerts = all(server.block, 'ssl_certificate');
    const ownKeys = all(server.block, 'ssl_certificate_key');
    const certs = ownCerts.length > 0 ? ownCerts : httpCerts;
    const keys = ownKeys.length > 0 ? ownKeys : httpKeys;
    const sslOn = has(server.block, 'ssl', 'on') ?? (has(server.block, 'ssl') ? undefined : httpSslOn);
    if (sslOn && certs.length === 0) {
      throw new ConfError('no "ssl_certificate" is defined for the "ssl" directive', sslOn.file, sslOn.line);
    }
    if (certs.length === 0) continue;
    if (keys.length < certs.length) {
      throw new ConfError(`no "ssl_certificate_key" is defined for certificate "${certs[keys.length].args[0]}"`);
    }
    if (!loadFiles) continue;
    certs.forEach((cert, i) => {
      checkPemFile(cert.args[0], confPrefix, 'certificate');
      checkPemFile(keys[i].args[0], confPrefix, 'certificate key');
    });
  }
}

/** ngx_ssl_certificate's loading errors for the two cases we can tell without OpenSSL. */
function checkPemFile(name: string, confPrefix: string, what: 'certificate' | 'certificate key'): void {
  // Names with variables are loaded per connection; data: values are inline.
  if (name.includes('$') || name.startsWith('data:')) return;
  const path = name.startsWith('/') ? name : confPrefix + name;
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    const reason = errnoText(err);
    throw new ConfError(
      `cannot load ${what} "${path}": BIO_new_file() failed (SSL: error:80000002:system library::${reason}:calling fopen(${path}, r) error:10000080:BIO routines::no such file)`,
    );
  }
  if (what === 'certificate' && !/-----BEGIN (TRUSTED |X509 )?CERTIFICATE-----/.test(text)) {
    throw new ConfError(`cannot load certificate "${path}": PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)`);
  }
  if (what === 'certificate key' && !/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    throw new ConfError(`cannot load certificate key "${path}": PEM_read_bio_PrivateKey() failed (SSL: error:1E08010C:DECODER routines::unsupported:No supported data to decode. Input type: PEM)`);
  }
}

/** At postconfiguration: the default server of each ssl address needs a certificate. */
export function checkSslListens(http: ConfNode[]): void {
  const httpCert = has(http, 'ssl_certificate') !== undefined;
  const httpReject = has(http, 'ssl_reject_handshake', 'on') !== undefined;
  // nginx's ports (family + port, in first-seen order), each with its addresses in first-seen order.
  const ports = new Map<string, Map<string, { ssl: boolean; first: ConfNode; default?: ConfNode }>>();
  for (const server of http) {
    if (server.directive !== 'server' || !server.block) continue;
    for (const listen of server.block.filter((n) => n.directive === 'listen')) {
      const addr = parseListenAddress(listen.args[0]);
      if ('error' in addr) continue;
      const key = listenKey(addr);
      if (key === undefined) continue;
      const portKey = `${addr.unix ? 'unix' : addr.ipv6 ? 'inet6' : 'inet'}:${addr.port}`;
      const addrs = ports.get(portKey) ?? new Map();
      ports.set(portKey, addrs);
      const entry = addrs.get(key) ?? { ssl: false, first: server };
      addrs.set(key, entry);
      const params = listen.args.slice(1);
      if (params.includes('ssl')) entry.ssl = true;
      if ((params.includes('default_server') || params.includes('default')) && !entry.default) entry.default = server;
    }
  }
  for (const addrs of ports.values()) {
    for (const entry of addrs.values()) {
      if (!entry.ssl) continue;
      const server = entry.default ?? entry.first;
      const block = server.block ?? [];
      const reject = has(block, 'ssl_reject_handshake') ? has(block, 'ssl_reject_handshake', 'on') !== undefined : httpReject;
      if (httpCert || has(block, 'ssl_certificate') || reject) continue;
      throw new ConfError('no "ssl_certificate" is defined for the "listen ... ssl" directive', server.file, server.line);
    }
  }
}
