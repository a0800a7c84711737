// auth_basic / auth_basic_user_file (ngx_http_auth_basic_module) with the password schemes nginx's
// ngx_crypt knows itself: {PLAIN}, {SHA}, {SSHA} and $apr1$ (plus $1$, the same MD5-crypt), and
// those it hands to crypt(3) that crypt.ts implements ($5$, $6$, bcrypt, DES). Other crypt(3)
// schemes (yescrypt) are refused (fail closed) with a log line.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { cryptVerify } from './crypt.ts';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function to64(v: number, n: number): string {
  let s = '';
  while (n-- > 0) { s += ITOA64[v & 0x3f]; v >>>= 6; }
  return s;
}

/** MD5-crypt as in FreeBSD/APR: `$apr1$salt$hash` or `$1$salt$hash`. */
export function md5Crypt(password: Buffer, salt: string, magic: '$apr1$' | '$1$'): string {
  const saltBuf = Buffer.from(salt, 'latin1');
  const md5 = () => createHash('md5');
  let final = md5().update(password).update(saltBuf).update(password).digest();
  const ctx = md5().update(password).update(magic).update(saltBuf);
  for (let pl = password.length; pl > 0; pl -= 16) ctx.update(final.subarray(0, Math.min(pl, 16)));
  for (let i = password.length; i; i >>= 1) ctx.update(i & 1 ? Buffer.from([0]) : password.subarray(0, 1));
  final = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const c = md5();
    c.update(i & 1 ? password : final);
    if (i % 3) c.update(saltBuf);
    if (i % 7) c.update(password);
    c.update(i & 1 ? final : password);
    final = c.digest();
  }
  const f = final;
  const enc =
    to64((f[0]! << 16) | (f[6]! << 8) | f[12]!, 4) + to64((f[1]! << 16) | (f[7]! << 8) | f[13]!, 4) +
    to64((f[2]! << 16) | (f[8]! << 8) | f[14]!, 4) + to64((f[3]! << 16) | (f[9]! << 8) | f[15]!, 4) +
    to64((f[4]! << 16) | (f[10]! << 8) | f[5]!, 4) + to64(f[11]!, 2);
  return `${magic}${salt}$${enc}`;
}

const same = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

/** true/false, or undefined when the scheme is one nginx would hand to crypt(3). */
export function verifyPassword(password: Buffer, stored: string): boolean | undefined {
  if (stored.startsWith('{PLAIN}')) return same(password, Buffer.from(stored.slice(7), 'latin1'));
  if (stored.startsWith('{SHA}')) {
    return same(createHash('sha1').update(password).digest(), Buffer.from(stored.slice(5), 'base64'));
  }
  if (stored.startsWith('{SSHA}')) {
    const raw = Buffer.from(stored.slice(6), 'base64');
    if (raw.length < 20) return false;
    const salt = raw.subarray(20);
    return same(createHash('sha1').update(password).update(salt).digest(), raw.subarray(0, 20));
  }
  for (const magic of ['$apr1$', '$1$'] as const) {
    if (stored.startsWith(magic)) {
      const rest = stored.slice(magic.length);
      const end = rest.indexOf('$');
      const salt = (end < 0 ? rest : rest.slice(0, end)).slice(0, 8);
      return same(Buffer.from(md5Crypt(password, salt, magic), 'latin1'), Buffer.from(stored, 'latin1'));
    }
  }
  return undefined;
}

/** Decodes `Authorization: Basic …` into user and password bytes (byte strings). */
export function parseBasicAuth(header: string | undefined): { user: string; password: Buffer } | undefined {
  if (!header) return undefined;
  const m = /^basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  if (!m) return undefined;
  const raw = Buffer.from(m[1]!, 'base64');
  const colon = raw.indexOf(0x3a);
  if (colon <= 0) return undefined;
  return { user: raw.subarray(0, colon).toString('latin1'), password: raw.subarray(colon + 1) };
}

export type AuthResult =
  | { kind: 'ok'; user: string }
  /** 401 with `WWW-Authenticate: Basic realm="…"`; `log` is nginx's error-log text if any. */
  | { kind: 'challenge'; log?: string }
  | { kind: 'status'; status: 403 | 500; log: string };

/** Checks a request against an htpasswd-style user file, as ngx_http_auth_basic_handler does. */
export async function checkBasicAuth(authorization: string | undefined, userFile: string): Promise<AuthResult> {
  const creds = parseBasicAuth(authorization);
  if (!creds) return authorization ? { kind: 'challenge', log: 'client sent invalid authorization header' } : { kind: 'challenge' };
  let text: string;
  try {
    text = (await readFile(Buffer.from(userFile, 'latin1'))).toString('latin1');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { kind: 'status', status: code === 'ENOENT' ? 403 : 500, log: `open() "${userFile}" failed (${code})` };
  }
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const l = line.replace(/\r$/, '');
    const colon = l.indexOf(':');
    if (colon < 0 || l.slice(0, colon) !== creds.user) continue;
    const rest = l.slice(colon + 1);
    const c2 = rest.indexOf(':');
    const stored = c2 < 0 ? rest : rest.slice(0, c2);
    const ok = verifyPassword(creds.password, stored) ?? cryptVerify(creds.password, stored);
    if (ok === undefined) return { kind: 'challenge', log: `user "${creds.user}": password scheme not supported by bext (crypt(3): yescrypt is not implemented)` };
    return ok ? { kind: 'ok', user: creds.user } : { kind: 'challenge', log: `user "${creds.user}": password mismatch` };
  }
  return { kind: 'challenge', log: `user "${creds.user}" was not found in "${userFile}"` };
}
