// TLS to https upstreams as nginx makes it (ngx_http_upstream_ssl_init_connection): SNI only with
// proxy_ssl_server_name on (and never an IP address); with proxy_ssl_verify on, the chain must lead
// to proxy_ssl_trusted_certificate within proxy_ssl_verify_depth and the certificate must match
// the name (proxy_ssl_name, else the proxy_pass host), or the try fails as an upstream error
// ("… while SSL handshaking to upstream") and the next peer is tried. Sessions are reused per
// upstream address (proxy_ssl_session_reuse, on by default). proxy_ssl_certificate is presented
// when the upstream asks for a client certificate.
import { isIP } from 'node:net';
import tls, { type DetailedPeerCertificate } from 'node:tls';
import { errors, type buildConnector } from 'undici';
import type { ProxySsl } from '../config/state.ts';
import { verification } from './tls-peer.ts';

/** What one upstream TLS connection is made with: the settings in effect and the name. */
export interface UpstreamTls {
  ssl: ProxySsl;
  /** proxy_ssl_name's value, or the proxy_pass host, without a port. */
  name: string;
  /** proxy_ssl_trusted_certificate's PEM text, when verifying. */
  ca?: string;
  /** proxy_ssl_certificate and _key's PEM texts. */
  cert?: { cert: string; key: string };
  sessionReuse: boolean;
}

/** Pools are kept per peer and per these (connections made differently are not shared). */
export function upstreamTlsKey(t: UpstreamTls): string {
  const verify = t.ssl.verify ? `${t.ssl.trustedCertificate}|${t.ssl.verifyDepth}` : '-';
  return `${t.name}|${t.ssl.serverName ? 1 : 0}|${verify}|${t.cert ? t.ssl.certificate : '-'}|${t.sessionReuse ? 1 : 0}`;
}

/** An error the proxy reports as nginx's line for a failed upstream handshake check. */
export class UpstreamTlsError extends Error {
  readonly code = 'BEXT_UPSTREAM_TLS';
}

/** ngx_http_upstream_ssl_name: a port written in the name (from $proxy_host, $http_host) is dropped. */
export function sslName(name: string): string {
  if (name.startsWith('[')) return name.slice(0, name.indexOf(']') + 1) || name;
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(0, colon);
}

/**
 * The last TLS session of each upstream address. nginx keeps it per peer, and every proxy_pass to
 * the same address shares the peer: a location resumes a session another one made (a resumed
 * session keeps its first verification's result), here as there. Node gives no peer certificate
 * for a resumed session, so the one the session was made with is kept beside it.
 */
interface Saved { session: Buffer; cert: DetailedPeerCertificate }
const sessions = new Map<string, Saved>();
const MAX_SESSIONS = 10_000;

function saveSession(peer: string, saved: Saved): void {
  if (sessions.size >= MAX_SESSIONS && !sessions.has(peer)) sessions.delete(sessions.keys().next().value!);
  sessions.set(peer, saved);
}

/**
 * A TLS connection to an upstream as nginx makes it: `done` once the handshake and nginx's checks
 * are over (an UpstreamTlsError when a check failed; the socket is then to be destroyed).
 */
export function openTls(t: UpstreamTls, host: string, port: number, done: (err: Error | null) => void, alpn: readonly string[] = ['http/1.1']): tls.TLSSocket {
  const servername = t.ssl.serverName && t.name !== '' && !isIP(t.name.replace(/^\[|\]$/g, '')) ? t.name : undefined;
  const peer = `${host}:${port}`;
  const offered = t.sessionReuse ? sessions.get(peer) : undefined;
  const socket = tls.connect({
    host,
    port,
    ...(servername ? { servername } : {}),
    ...(t.ssl.verify && t.ca !== undefined ? { ca: t.ca } : {}),
    ...(t.cert ?? {}),
    ...(offered ? { session: offered.session } : {}),
    // The checks are nginx's, made below once the handshake is done.
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
    ALPNProtocols: [...alpn],
  });
  let cert: DetailedPeerCertificate | undefined;
  if (t.sessionReuse) socket.on('session', (session: Buffer) => cert?.raw && saveSession(peer, { session, cert }));
  socket.once('secureConnect', () => {
    socket.setNoDelay(true);
    cert = socket.isSessionReused() && offered ? offered.cert : socket.getPeerCertificate(true);
    if (!t.ssl.verify) return done(null);
    const v = verification(socket, cert, t.ssl.verifyDepth);
    if (v.result !== 0) return done(new UpstreamTlsError(`upstream SSL certificate verify error: (${v.result}:${v.reason})`));
    if (!cert.raw || !matchesHost(t.name, cert)) return done(new UpstreamTlsError(`upstream SSL certificate does not match "${t.name}"`));
    done(null);
  });
  return socket;
}

/** undici's connector for one pool's https connections (upgrades, bodies streamed chunked). */
export function tlsConnector(t: UpstreamTls, connectTimeoutMs: number): buildConnector.connector {
  return (opts, callback) => {
    let finished = false;
    const finish = (err: Error | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (err) {
        socket.destroy();
        callback(err, null);
      } else callback(null, socket);
    };
    const socket = openTls(t, opts.hostname, Number(opts.port) || 443, finish);
    const timer = setTimeout(() => finish(new errors.ConnectTimeoutError()), connectTimeoutMs);
    socket.once('error', finish);
  };
}

/**
 * ngx_ssl_check_host, X509_check_host: the name against the DNS names (wildcards as OpenSSL takes
 * them), else the common name. An address is a name like any other there, never an IP entry.
 */
function matchesHost(name: string, cert: tls.PeerCertificate): boolean {
  if (!isIP(name)) return tls.checkServerIdentity(name, cert) === undefined;
  const dns = (cert.subjectaltname ?? '').split(', ').filter((e) => e.startsWith('DNS:')).map((e) => e.slice(4));
  return dns.length ? dns.includes(name) : cert.subject?.CN === name;
}
