// The request side of ngx_http_ssl_module: client certificates (ssl_verify_client) and the $ssl_*
// variables. OpenSSL verifies the client's chain during the handshake, as in nginx, and accepts it
// whatever the result (nginx's verify callback returns 1); each request then checks the result
// against its server's ssl_verify_client, and the variables read it.
import { createHash, X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { TlsSettings } from '../config/state.ts';
import { escapeUriComponent } from './uri.ts';

/** OpenSSL's X509_V_ERR_* numbers by the names Node gives them (x509_vfy.h), for nginx's log line. */
const X509_ERRORS: Record<string, number> = {
  UNABLE_TO_GET_ISSUER_CERT: 2, UNABLE_TO_GET_CRL: 3, UNABLE_TO_DECRYPT_CERT_SIGNATURE: 4,
  UNABLE_TO_DECRYPT_CRL_SIGNATURE: 5, UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 6, CERT_SIGNATURE_FAILURE: 7,
  CRL_SIGNATURE_FAILURE: 8, CERT_NOT_YET_VALID: 9, CERT_HAS_EXPIRED: 10, CRL_NOT_YET_VALID: 11,
  CRL_HAS_EXPIRED: 12, ERROR_IN_CERT_NOT_BEFORE_FIELD: 13, ERROR_IN_CERT_NOT_AFTER_FIELD: 14,
  ERROR_IN_CRL_LAST_UPDATE_FIELD: 15, ERROR_IN_CRL_NEXT_UPDATE_FIELD: 16, OUT_OF_MEM: 17,
  DEPTH_ZERO_SELF_SIGNED_CERT: 18, SELF_SIGNED_CERT_IN_CHAIN: 19, UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 20,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 21, CERT_CHAIN_TOO_LONG: 22, CERT_REVOKED: 23, INVALID_CA: 24,
  PATH_LENGTH_EXCEEDED: 25, INVALID_PURPOSE: 26, CERT_UNTRUSTED: 27, CERT_REJECTED: 28,
};

/** ngx_ssl_verify_error_optional: what `ssl_verify_client optional_no_ca` lets through. */
const OPTIONAL_NO_CA = new Set([18, 19, 2, 20, 21]);

interface Peer {
  cert: X509Certificate | undefined;
  /** SSL_get_verify_result: 0 when the chain verified (or no certificate came). */
  result: number;
  reason: string;
  derived?: Record<string, string>;
}

// On the TLS socket itself, not in WeakMaps: an HTTP/2 request's socket is a proxy of the session's,
// which reads and writes the real socket's properties.
const HANDSHAKE = Symbol('bext.tlsHandshake'); // the TLS settings the handshake used (SNI's server)
const PEER = Symbol('bext.tlsPeer');
type Marked = TLSSocket & { [HANDSHAKE]?: TlsSettings; [PEER]?: Peer };

/**
 * In the SNI callback, as ngx_http_ssl_servername does with SSL_set_verify: the server the name
 * picks decides whether a certificate is asked for. Node sets the mode for the whole listening
 * socket (the default server's), so the connection's own TLS handle is told (an internal of Node's
 * TLSWrap, the call its own TLSSocket makes at start; absent, the listening socket's mode stays).
 */
export function noteHandshake(socket: TLSSocket, settings: TlsSettings): void {
  (socket as Marked)[HANDSHAKE] = settings;
  const handle = (socket as TLSSocket & { _handle?: { setVerifyMode?(request: boolean, reject: boolean): void } })._handle;
  handle?.setVerifyMode?.(settings.verifyClient !== undefined, false);
}

/** The peer certificate and the verification result, once per connection. */
function peerOf(socket: TLSSocket, fallback: TlsSettings | undefined): Peer {
  let peer = (socket as Marked)[PEER];
  if (peer) return peer;
  // One call for the certificate and its chain: after getPeerX509Certificate(), Node's detailed
  // certificate comes without its chain.
  const detailed = socket.getPeerCertificate(true);
  const cert = detailed?.raw ? new X509Certificate(detailed.raw) : undefined;
  peer = { cert, result: 0, reason: 'ok', ...(cert ? verification(socket, detailed, ((socket as Marked)[HANDSHAKE] ?? fallback)?.verifyDepth ?? 1) : {}) };
  (socket as Marked)[PEER] = peer;
  return peer;
}

/**
 * SSL_get_verify_result of a TLS connection whose peer sent `detailed`, with nginx's depth limit
 * (SSL_set_verify_depth; Node has no setting for it): a chain with more than `depth` intermediates
 * stops short of its trust anchor, which OpenSSL reports as "unable to get local issuer certificate".
 */
export function verification(socket: TLSSocket, detailed: DetailedPeerCertificate, depth: number): { result: number; reason: string } {
  const handle = (socket as TLSSocket & { _handle?: { verifyError?(): (Error & { code?: string }) | null | undefined } })._handle;
  const err = handle?.verifyError?.();
  if (err) return { result: X509_ERRORS[err.code ?? ''] ?? 1, reason: err.message };
  if (chainLength(detailed) > depth + 2) return { result: 20, reason: 'unable to get local issuer certificate' };
  return { result: 0, reason: 'ok' };
}

/** The verified chain's length, trust anchor included (Node completes it from the context's store). */
function chainLength(leaf: DetailedPeerCertificate): number {
  let c = leaf;
  let n = 1;
  while (c.issuerCertificate && c.issuerCertificate !== c && c.issuerCertificate.raw && n < 100) {
    c = c.issuerCertificate;
    n++;
  }
  return n;
}

export interface ClientRefusal {
  status: 421 | 495 | 496;
  line: string;
}

/**
 * ngx_http_set_virtual_server and ngx_http_process_request for a request on a TLS connection:
 * `server` is the one its Host chose. `sniServer` is the server the handshake's SNI name matched
 * (undefined: no SNI, or it matched none); `host` the request's validated host.
 */
export function clientRefusal(socket: TLSSocket, server: TlsSettings | undefined, fallback: TlsSettings | undefined, sniName: string | undefined, host: string): ClientRefusal | undefined {
  const verify = server?.verifyClient;
  if (!verify) return undefined;
  if (sniName !== undefined && sniName !== host) {
    return { status: 421, line: 'client attempted to request the server name different from the one that was negotiated' };
  }
  const peer = peerOf(socket, fallback);
  if (peer.result !== 0 && (verify !== 'optional_no_ca' || !OPTIONAL_NO_CA.has(peer.result))) {
    return { status: 495, line: `client SSL certificate verify error: (${peer.result}:${peer.reason})` };
  }
  if (verify === 'on' && !peer.cert) return { status: 496, line: 'client sent no required SSL certificate' };
  return undefined;
}

/** The name the client sent in SNI as nginx validates it (lowercased, one trailing dot dropped). */
export function sniNameOf(socket: TLSSocket): string | undefined {
  const name = socket.servername;
  return typeof name === 'string' && name !== '' ? name.toLowerCase().replace(/\.$/, '') : undefined;
}

/** $ssl_* by name (without `ssl_`): undefined where nginx's is not found (not TLS, or unknown here). */
export function sslVariable(socket: TLSSocket, name: string, fallback: TlsSettings | undefined): string | undefined {
  switch (name) {
    case 'protocol':
      return socket.getProtocol() ?? undefined;
    case 'cipher':
      return socket.getCipher()?.name;
    case 'server_name':
      return typeof socket.servername === 'string' ? socket.servername : '';
    case 'session_reused':
      return socket.isSessionReused() ? 'r' : '.';
    case 'early_data':
      return ''; // early data is not accepted
  }
  if (!name.startsWith('client_')) return undefined;
  const peer = peerOf(socket, fallback);
  if (name === 'client_verify') return !peer.cert ? 'NONE' : peer.result === 0 ? 'SUCCESS' : `FAILED:${peer.reason}`;
  if (!peer.cert) return name in CLIENT_CERT_VARIABLES ? '' : undefined;
  const derive = CLIENT_CERT_VARIABLES[name];
  if (!derive) return undefined;
  peer.derived ??= {};
  return (peer.derived[name] ??= derive(peer.cert));
}

const CLIENT_CERT_VARIABLES: Record<string, (cert: X509Certificate) => string> = {
  client_s_dn: (c) => rfc2253(c.subject),
  client_i_dn: (c) => rfc2253(c.issuer),
  client_s_dn_legacy: (c) => oneline(c.subject),
  client_i_dn_legacy: (c) => oneline(c.issuer),
  client_serial: (c) => c.serialNumber.toUpperCase(),
  client_fingerprint: (c) => createHash('sha1').update(c.raw).digest('hex'),
  client_raw_cert: pemOf,
  // ngx_ssl_get_certificate: the PEM without its last newline, a tab after every other one.
  client_cert: (c) => pemOf(c).slice(0, -1).replaceAll('\n', '\n\t'),
  client_escaped_cert: (c) => escapeUriComponent(pemOf(c)),
  client_v_start: (c) => c.validFrom,
  client_v_end: (c) => c.validTo,
  // Whole seconds, as nginx's ngx_time().
  client_v_remain: (c) => {
    const left = Date.parse(c.validTo) / 1000 - Math.floor(Date.now() / 1000);
    return left < 86400 ? '0' : String(Math.floor(left / 86400));
  },
};

/** The $ssl_* variables served, without `ssl_` ($ssl_ciphers, $ssl_curve(s), $ssl_session_id are not). */
export const SSL_VARIABLES = ['protocol', 'cipher', 'server_name', 'session_reused', 'early_data', 'client_verify', ...Object.keys(CLIENT_CERT_VARIABLES)];

function pemOf(c: X509Certificate): string {
  const b64 = c.raw.toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

/**
 * Node prints a name one RDN per line, in order, multi-valued ones joined by " + ", with RFC 2253's
 * escapes but UTF-8 kept (XN_FLAG_SEP_MULTILINE). These are its entries, each RDN's in order.
 */
function rdns(multiline: string): string[][] {
  return multiline === '' ? [] : multiline.split('\n').map((rdn) => rdn.split(/(?<!\\) \+ /));
}

/** The UTF-8 bytes of each run `pattern` matches as `prefix` and two hex digits. */
function escapeBytes(s: string, pattern: RegExp, prefix: string): string {
  return s.replace(pattern, (m) => [...Buffer.from(m, 'utf8')].map((b) => prefix + b.toString(16).toUpperCase().padStart(2, '0')).join(''));
}

/** X509_NAME_print_ex(XN_FLAG_RFC2253): the entries last first, RDNs by ",", their parts by "+"; bytes above 0x7f as \HH. */
function rfc2253(multiline: string): string {
  return escapeBytes(rdns(multiline).reverse().map((rdn) => rdn.reverse().join('+')).join(','), /[^\x00-\x7f]+/g, '\\');
}

/** X509_NAME_oneline: "/TYPE=value" per entry in order, unescaped, bytes outside 0x20..0x7e as \xHH. */
function oneline(multiline: string): string {
  const text = rdns(multiline).map((rdn) => '/' + rdn.map((entry) => entry.replace(/\\(.)/g, '$1')).join('+')).join('');
  return escapeBytes(text, /[^\x20-\x7e]+/g, '\\x');
}
