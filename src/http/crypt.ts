// The crypt(3) schemes nginx reaches through libc on Debian, for auth_basic_user_file entries that
// are not one of nginx's own ({PLAIN}, {SHA}, {SSHA}, $apr1$): SHA-crypt, bcrypt and DES.
import { timingSafeEqual } from 'node:crypto';
import { shaCrypt } from './crypt-sha.ts';
import { bcrypt } from './crypt-bcrypt.ts';
import { desCrypt } from './crypt-des.ts';

/** true/false, or undefined for a scheme not implemented here (yescrypt `$y$`, extended DES `_`, …). */
export function cryptVerify(password: Buffer, stored: string): boolean | undefined {
  let computed: string | undefined;
  if (stored.startsWith('$5$') || stored.startsWith('$6$')) computed = shaCrypt(password, stored);
  else if (/^\$2[aby]\$/.test(stored)) {
    computed = bcrypt(password, stored);
    if (computed === undefined) return false;
    // The 22nd salt character carries 4 unused bits: compare the hash part and the setting's head.
    return stored.length === 60 && stored.slice(0, 28) === computed.slice(0, 28) &&
      timingSafeEqual(Buffer.from(stored.slice(29)), Buffer.from(computed.slice(29)));
  } else if (/^[./0-9A-Za-z]{13}$/.test(stored)) computed = desCrypt(password, stored);
  else return undefined;
  if (computed === undefined) return false;
  const a = Buffer.from(computed, 'latin1');
  const b = Buffer.from(stored, 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}
