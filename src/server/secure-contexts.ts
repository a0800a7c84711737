// A worker's TLS contexts, one per server with ssl, as nginx makes one SSL_CTX per server. Making one
// costs ~3 ms of the worker's event loop (parsing the key and certificate), so an in-place reload keeps
// every context whose certificates and settings did not change and makes only the changed ones: a
// reload by certbot for one renewed certificate blocks the loop for that one, not for every site.
import { constants as cryptoConstants, createHash, createHmac, randomBytes } from 'node:crypto';
import tls from 'node:tls';
import type { RoutingState, TlsSettings } from '../config/state.ts';

const PROTOCOL_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;

/** What makes a context besides its ticket keys, and the keys: each server's, from the generation's secret. */
interface Made {
  identity: string;
  ticketKeys?: Buffer;
}

export class SecureContexts {
  private pems: Record<string, string>;
  private made = new WeakMap<TlsSettings, Made>();
  /** The contexts the current state uses, by identity. */
  private byIdentity = new Map<string, tls.SecureContext>();

  constructor(state: RoutingState, pems: Record<string, string>, secret?: string) {
    this.pems = pems;
    for (const [s, m] of this.describe(state, pems, secret)) this.made.set(s, m);
  }

  /** A server's context, made on its first handshake. */
  get(s: TlsSettings): tls.SecureContext {
    const made = this.made.get(s)!;
    let ctx = this.byIdentity.get(made.identity);
    if (!ctx) this.byIdentity.set(made.identity, (ctx = tls.createSecureContext(this.options(s))));
    return ctx;
  }

  /**
   * Reload: every context of the new state is ready before anything changes, so a bad certificate
   * throws and leaves the old state whole. An unchanged one is kept and takes the new ticket keys
   * (nginx's new SSL_CTX has new keys too); contexts no server uses any more are let go.
   */
  swap(next: RoutingState, pems: Record<string, string>, secret?: string): void {
    const made = this.describe(next, pems, secret);
    const byIdentity = new Map<string, tls.SecureContext>();
    for (const entry of next.tls) {
      const m = made.get(entry.tls)!;
      const kept = this.byIdentity.get(m.identity);
      if (kept && m.ticketKeys) setTicketKeys(kept, m.ticketKeys);
      byIdentity.set(m.identity, kept ?? tls.createSecureContext(secureOptions(entry.tls, pems, m.ticketKeys)));
    }
    for (const [s, m] of made) this.made.set(s, m);
    this.pems = pems;
    this.byIdentity = byIdentity;
  }

  /** Options for a server's context (a TLS server's own, used when SNI picks nothing else). */
  options(s: TlsSettings): tls.SecureContextOptions {
    return secureOptions(s, this.pems, this.made.get(s)?.ticketKeys);
  }

  /** What a server's context is made of, minus its ticket keys: equal identities, interchangeable contexts. */
  identity(s: TlsSettings): string | undefined {
    return this.made.get(s)?.identity;
  }

  ticketKeys(s: TlsSettings): Buffer | undefined {
    return this.made.get(s)?.ticketKeys;
  }

  private describe(state: RoutingState, pems: Record<string, string>, secret = localSecret): Map<TlsSettings, Made> {
    const made = new Map<TlsSettings, Made>();
    for (const entry of state.tls) {
      // nginx gives each server's SSL_CTX its own ticket keys, made once by the master, so every worker
      // decrypts any worker's tickets and a reload changes them. Here they derive from the generation's
      // secret and the server's position (absent: this process's own random secret).
      // ssl_session_ticket_key's first file instead, when Node can take it (48 bytes): the same keys on
      // every start and on every machine given the file, as for nginx.
      const file = entry.tls.ticketKeyFiles?.[0];
      const fromFile = file === undefined ? undefined : ticketKeysFromFile(pems[file]);
      const ticketKeys = !entry.tls.sessionTickets ? undefined
        : fromFile ?? createHmac('sha384', Buffer.from(secret, 'hex')).update(`ticket ${entry.server}`).digest();
      // The server's position is part of it: two servers with the same certificate keep their own keys.
      const identity = createHash('sha256').update(JSON.stringify([entry.server, secureOptions(entry.tls, pems, undefined)])).digest('base64');
      made.set(entry.tls, { identity, ticketKeys });
    }
    return made;
  }
}

/**
 * An nginx ticket key file of 48 bytes (name, AES key, HMAC key: ngx_ssl_session_ticket_keys) in
 * Node's order (name, HMAC key, AES key); both make AES-128-CBC / HMAC-SHA256 tickets with them. Node
 * takes one key of that size only: an 80-byte file (AES-256) gives none (the config check warned),
 * and the files after the first, which nginx decrypts with, are not used.
 */
function ticketKeysFromFile(text: string | undefined): Buffer | undefined {
  if (text === undefined) return undefined;
  const b = Buffer.from(text, 'latin1');
  return b.length === 48 ? Buffer.concat([b.subarray(0, 16), b.subarray(32, 48), b.subarray(16, 32)]) : undefined;
}

function setTicketKeys(ctx: tls.SecureContext, keys: Buffer): void {
  // What tls.Server#setTicketKeys does to its own context.
  (ctx as unknown as { context: { setTicketKeys(keys: Buffer): void } }).context.setTicketKeys(keys);
}

/**
 * ssl_protocols becomes Node's version range. OpenSSL 3's default security level refuses TLSv1 and
 * TLSv1.1 for nginx too, so the range never starts below TLSv1.2.
 */
function secureOptions(s: TlsSettings, pems: Record<string, string>, ticketKeys: Buffer | undefined): tls.SecureContextOptions {
  const verify: tls.SecureContextOptions = {};
  // Client certificates verify against ssl_client_certificate and ssl_trusted_certificate only, as
  // nginx's do (an empty list keeps Node's public roots out); Node also sends both as CA names.
  if (s.verifyClient) verify.ca = [s.clientCertificate, s.trustedCertificate].filter((f) => f !== undefined).map((f) => pem(pems, f));
  // ssl_crl: Node sets the same store flags as nginx's ngx_ssl_crl (CRL_CHECK | CRL_CHECK_ALL).
  if (s.crl) verify.crl = pem(pems, s.crl);
  const listed = PROTOCOL_ORDER.filter((p) => s.protocols.includes(p));
  const min = listed.find((p) => p === 'TLSv1.2' || p === 'TLSv1.3') ?? 'TLSv1.2';
  const max = listed[listed.length - 1] === 'TLSv1.3' || listed.length === 0 ? 'TLSv1.3' : 'TLSv1.2';
  return {
    cert: s.certificates.map((c) => pem(pems, c.certificate)),
    key: s.certificates.map((c) => pem(pems, c.key)),
    minVersion: min,
    maxVersion: max,
    ciphers: s.ciphers,
    honorCipherOrder: s.preferServerCiphers,
    sessionTimeout: s.sessionTimeoutSec,
    // ssl_session_tickets off: no tickets are issued (SSL_OP_NO_TICKET, as nginx sets it).
    ...(s.sessionTickets ? (ticketKeys ? { ticketKeys } : {}) : { secureOptions: cryptoConstants.SSL_OP_NO_TICKET }),
    ...verify,
  };
}

const localSecret = randomBytes(32).toString('hex');

function pem(pems: Record<string, string>, file: string): string {
  const text = pems[file];
  if (text === undefined) throw new Error(`cannot load certificate "${file}"`);
  return text;
}
