// The certificate checks nginx makes when the http block is complete (ngx_http_ssl_module, and
// the proxy module's TLS). At merge time, per server: `ssl on` needs a certificate (at the `ssl`
// line), every certificate needs a key, and the files are loaded, with the CA and CRL lists of
// client verification; per https proxy_pass, its CA list and client certificate (errors without a position, OpenSSL 3's texts for a
// missing file or a file without the PEM block). At postconfiguration: the default server of every
// address that has a `listen … ssl` needs a certificate (at that server's line), unless it sets
// `ssl_reject_handshake on`. Certificates are inherited from http{}.
import { readFileSync } from 'node:fs';
import { errnoSuffix, errnoText } from './errno.ts';
import { ConfError, type ConfNode } from './types.ts';
import { listenKey } from './listen.ts';
import { parseListenAddress } from './values.ts';

const has = (nodes: ConfNode[], directive: string, value?: string): ConfNode | undefined =>
  nodes.find((n) => n.directive === directive && (value === undefined || n.args[0]?.toLowerCase() === value));

const all = (nodes: ConfNode[], directive: string): ConfNode[] => nodes.filter((n) => n.directive === directive);

/** At merge time, server by server: `ssl on` without a certificate, a certificate without a key, unloadable files. */
export function checkSslMerge(http: ConfNode[], confPrefix: string, loadFiles: boolean, end: { file: string; line: number }, warn: (w: ConfError) => void): void {
  const httpSslOn = has(http, 'ssl', 'on');
  const httpCerts = all(http, 'ssl_certificate');
  const httpKeys = all(http, 'ssl_certificate_key');
  const warned = new Set<ConfNode>(); // an http-level key file is checked per server, warned about once
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
    if (loadFiles) {
      certs.forEach((cert, i) => {
        checkPemFile(cert.args[0], confPrefix, 'certificate');
        checkPemFile(keys[i].args[0], confPrefix, 'certificate key');
      });
    }
    checkClientVerification(server.block, http, confPrefix, loadFiles);
    if (loadFiles) {
      const own = all(server.block, 'ssl_session_ticket_key');
      for (const key of own.length > 0 ? own : all(http, 'ssl_session_ticket_key')) {
        if (checkTicketKeyFile(key.args[0]!, confPrefix, end) === 80 && !warned.has(key)) {
          warned.add(key);
          warn(new ConfError(`"ssl_session_ticket_key" "${key.args[0]}" holds an 80-byte (AES-256) key, which bext cannot use: tickets are made with keys of its own`, key.file, key.line, 'warn'));
        }
      }
    }
  }
  checkProxySsl(http, confPrefix, loadFiles);
}

/** A single-value directive's value in a server, else in http{}. */
const inherited = (server: ConfNode[], http: ConfNode[], directive: string): string | undefined =>
  (has(server, directive) ?? has(http, directive))?.args[0];

const CERTIFICATES = /-----BEGIN (TRUSTED )?CERTIFICATE-----/;

/**
 * ngx_http_ssl_merge_srv_conf for a server with a certificate: verifying clients needs
 * ssl_client_certificate (unless optional_no_ca); its CAs, ssl_trusted_certificate's and ssl_crl's
 * lists are loaded.
 */
function checkClientVerification(server: ConfNode[], http: ConfNode[], confPrefix: string, loadFiles: boolean): void {
  const verify = inherited(server, http, 'ssl_verify_client')?.toLowerCase() ?? 'off';
  const client = inherited(server, http, 'ssl_client_certificate');
  if (verify !== 'off' && verify !== 'optional_no_ca' && client === undefined) throw new ConfError('no ssl_client_certificate for ssl_verify_client');
  if (!loadFiles) return;
  if (verify !== 'off' && client !== undefined) checkListFile(client, confPrefix, 'SSL_CTX_load_verify_locations', CERTIFICATES);
  const trusted = inherited(server, http, 'ssl_trusted_certificate');
  if (trusted !== undefined) checkListFile(trusted, confPrefix, 'SSL_CTX_load_verify_locations', CERTIFICATES);
  const crl = inherited(server, http, 'ssl_crl');
  if (crl !== undefined) checkListFile(crl, confPrefix, 'X509_LOOKUP_load_file', /-----BEGIN X509 CRL-----/);
}

const PROXY_SSL = ['proxy_ssl_verify', 'proxy_ssl_trusted_certificate', 'proxy_ssl_certificate', 'proxy_ssl_certificate_key'];

/**
 * ngx_http_proxy_set_ssl, for every block whose proxy_pass is https (or has variables): verifying
 * needs proxy_ssl_trusted_certificate, a client certificate needs its key, and the files load.
 */
function checkProxySsl(nodes: ConfNode[], confPrefix: string, loadFiles: boolean, outer: Record<string, string | undefined> = {}): void {
  const here = { ...outer };
  for (const d of PROXY_SSL) {
    const own = has(nodes, d);
    if (own) here[d] = own.args[0];
  }
  const pass = has(nodes, 'proxy_pass')?.args[0];
  if (pass !== undefined && /^https:\/\/|\$/i.test(pass)) {
    const trusted = here.proxy_ssl_trusted_certificate;
    if (here.proxy_ssl_verify?.toLowerCase() === 'on') {
      if (trusted === undefined) throw new ConfError('no proxy_ssl_trusted_certificate for proxy_ssl_verify');
      if (loadFiles) checkListFile(trusted, confPrefix, 'SSL_CTX_load_verify_locations', CERTIFICATES);
    }
    const cert = here.proxy_ssl_certificate;
    if (cert !== undefined && cert !== '') {
      const key = here.proxy_ssl_certificate_key;
      if (key === undefined) throw new ConfError(`no "proxy_ssl_certificate_key" is defined for certificate "${cert}"`);
      if (loadFiles) {
        checkPemFile(cert, confPrefix, 'certificate');
        checkPemFile(key, confPrefix, 'certificate key');
      }
    }
  }
  for (const n of nodes) if (n.block && n.directive !== 'upstream' && n.directive !== 'map' && n.directive !== 'types') checkProxySsl(n.block, confPrefix, loadFiles, here);
}

/** A CA or CRL list nginx loads with OpenSSL: its errors for a missing file or one without entries. */
function checkListFile(name: string, confPrefix: string, call: string, marker: RegExp): void {
  const path = name.startsWith('/') ? name : confPrefix + name;
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    const errno = Math.abs((err as NodeJS.ErrnoException).errno ?? 0);
    const sys = `error:8${errno.toString(16).toUpperCase().padStart(7, '0')}:system library::${errnoText(err)}:calling fopen(${path}, r)`;
    throw new ConfError(`${call}("${path}") failed (SSL: ${sys} error:10000080:BIO routines::no such file error:05880002:x509 certificate routines::system lib)`);
  }
  if (!marker.test(text)) throw new ConfError(`${call}("${path}") failed (SSL: error:05800088:x509 certificate routines::no certificate or crl found)`);
}

/**
 * ngx_ssl_session_ticket_keys: each ssl_session_ticket_key file opens and holds 48 or 80 bytes,
 * reported at the http block's closing brace (merge time).
 */
function checkTicketKeyFile(name: string, confPrefix: string, end: { file: string; line: number }): number {
  const path = name.startsWith('/') ? name : confPrefix + name;
  let size: number;
  try {
    size = readFileSync(path).length;
  } catch (err) {
    throw new ConfError(`open() "${path}" failed${errnoSuffix(err)}`, end.file, end.line);
  }
  if (size !== 48 && size !== 80) throw new ConfError(`"${path}" must be 48 or 80 bytes`, end.file, end.line);
  return size;
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
