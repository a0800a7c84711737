// SHA-crypt (`$5$` SHA-256 and `$6$` SHA-512, Ulrich Drepper's "Unix crypt using SHA-256 and
// SHA-512" specification), the schemes glibc's crypt(3) gives nginx on Linux.
import { createHash } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ROUNDS_DEFAULT = 5000;

type Algo = { magic: '$5$' | '$6$'; hash: 'sha256' | 'sha512'; size: number };
const SHA256: Algo = { magic: '$5$', hash: 'sha256', size: 32 };
const SHA512: Algo = { magic: '$6$', hash: 'sha512', size: 64 };

/** `len` bytes made of `block` repeated (the spec's P and S sequences). */
function repeatTo(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += block.length) block.copy(out, i, 0, Math.min(block.length, len - i));
  return out;
}

/** The spec's byte order for the final base-64 text: triples (k, k+n, k+2n) rotated by k. */
function encode(f: Buffer, algo: Algo): string {
  const n = algo.size === 32 ? 10 : 21;
  let out = '';
  const b64 = (v: number, count: number) => {
    for (let i = 0; i < count; i++, v >>>= 6) out += ITOA64[v & 0x3f];
  };
  for (let k = 0; k < n; k++) {
    const idx = [k, k + n, k + 2 * n];
    // SHA-256 rotates one way, SHA-512 the other (the spec's tables).
    const rot = algo.size === 32 ? (3 - (k % 3)) % 3 : k % 3;
    const [a, b, c] = [idx[(rot) % 3]!, idx[(rot + 1) % 3]!, idx[(rot + 2) % 3]!];
    b64((f[a]! << 16) | (f[b]! << 8) | f[c]!, 4);
  }
  if (algo.size === 32) b64((f[31]! << 8) | f[30]!, 3);
  else b64(f[63]!, 2);
  return out;
}

/** crypt(3) of `password` with a `$5$…` or `$6$…` setting; undefined if the setting is not one. */
export function shaCrypt(password: Buffer, setting: string): string | undefined {
  const algo = setting.startsWith('$5$') ? SHA256 : setting.startsWith('$6$') ? SHA512 : undefined;
  if (!algo) return undefined;
  let rest = setting.slice(3);
  let rounds = ROUNDS_DEFAULT;
  let customRounds = false;
  const m = /^rounds=(\d+)\$/.exec(rest);
  if (m) {
    rounds = Math.min(999_999_999, Math.max(1000, Number(m[1])));
    customRounds = true;
    rest = rest.slice(m[0].length);
  }
  const end = rest.indexOf('$');
  const saltText = (end < 0 ? rest : rest.slice(0, end)).slice(0, 16);
  const salt = Buffer.from(saltText, 'latin1');
  const P = password;
  const H = () => createHash(algo.hash);

  const B = H().update(P).update(salt).update(P).digest();
  const a = H().update(P).update(salt);
  a.update(repeatTo(B, P.length));
  for (let n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P);
  const A = a.digest();

  const dp = H();
  for (let i = 0; i < P.length; i++) dp.update(P);
  const Pseq = repeatTo(dp.digest(), P.length);
  const ds = H();
  for (let i = 0; i < 16 + A[0]!; i++) ds.update(salt);
  const Sseq = repeatTo(ds.digest(), salt.length);

  let C = A;
  for (let i = 0; i < rounds; i++) {
    const c = H();
    c.update(i & 1 ? Pseq : C);
    if (i % 3) c.update(Sseq);
    if (i % 7) c.update(Pseq);
    c.update(i & 1 ? C : Pseq);
    C = c.digest();
  }
  return `${algo.magic}${customRounds ? `rounds=${rounds}$` : ''}${saltText}$${encode(C, algo)}`;
}
