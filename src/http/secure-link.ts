// $secure_link and $secure_link_expires (ngx_http_secure_link_module). With secure_link and
// secure_link_md5: the hash (base64url of an MD5) and an optional expiry time from `secure_link`
// must match the MD5 of the secure_link_md5 expression: "1", or "0" once expired, else not found.
// With secure_link_secret: the URI's "/prefix/<md5 hex>/link" must have the MD5 of link and the
// secret, and $secure_link is the link.
import { createHash } from 'node:crypto';
import type { LocationConf } from '../config/state.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';

/** `value[,expires]` of the secure_link expression: the hash text and the expiry ('' without). */
function parts(conf: LocationConf, ctx: VarContext): { hash: string; expires: string } | undefined {
  if (conf.secureLink?.variable === undefined) return undefined;
  const v = evaluate(compiled(conf.secureLink.variable), ctx);
  const comma = v.indexOf(',');
  return comma < 0 ? { hash: v, expires: '' } : { hash: v.slice(0, comma), expires: v.slice(comma + 1) };
}

/** ngx_atotm: digits only, else invalid (-1). */
function atotm(text: string): number {
  return /^[0-9]+$/.test(text) ? Number(text) : -1;
}

/** ngx_decode_base64url: up to the first '=', only URL-safe letters, a length that can be whole bytes. */
function decodeBase64Url(text: string): Buffer | undefined {
  const eq = text.indexOf('=');
  const body = eq < 0 ? text : text.slice(0, eq);
  if (!/^[A-Za-z0-9_-]*$/.test(body) || body.length % 4 === 1) return undefined;
  return Buffer.from(body, 'base64url');
}

export function secureLinkExpires(conf: LocationConf, ctx: VarContext): string | undefined {
  const p = parts(conf, ctx);
  return p && p.expires !== '' && atotm(p.expires) > 0 ? p.expires : undefined;
}

export function secureLink(conf: LocationConf, ctx: VarContext, rawUri: string): string | undefined {
  if (conf.secureLinkSecret !== undefined) {
    // "/anything/<32 hex>/link" (the query included): the link is everything after the second '/'.
    const m = /^\/[^/]*\/([^/]*)\/(.+)$/s.exec(rawUri);
    if (!m || !/^[0-9a-fA-F]{32}$/.test(m[1]!)) return undefined;
    const md5 = createHash('md5').update(m[2]!, 'latin1').update(conf.secureLinkSecret, 'latin1').digest('hex');
    return md5 === m[1]!.toLowerCase() ? m[2] : undefined;
  }
  const p = parts(conf, ctx);
  if (!p || conf.secureLink?.md5 === undefined) return undefined;
  const expires = p.expires === '' ? 0 : atotm(p.expires);
  if (expires <= 0 && p.expires !== '') return undefined;
  if (p.hash.length > 24) return undefined;
  const hash = decodeBase64Url(p.hash);
  if (!hash || hash.length !== 16) return undefined;
  const md5 = createHash('md5').update(evaluate(compiled(conf.secureLink.md5), ctx), 'latin1').digest();
  if (!md5.equals(hash)) return undefined;
  return expires && expires < Math.floor(Date.now() / 1000) ? '0' : '1';
}
