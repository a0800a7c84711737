// bcrypt (`$2a$`, `$2b$`, `$2y$`): Provos and Mazières' eksblowfish, as libxcrypt's crypt(3) gives
// nginx on Debian. Blowfish's initial P-array and S-boxes are the hexadecimal digits of pi; they
// are computed once here (Machin's formula in BigInt) instead of being carried as a 4 KB table.

const BCRYPT64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const WORDS = 18 + 4 * 256;

let piWords: Uint32Array | undefined;

/** The first `WORDS` 32-bit words of pi's fractional part. */
function piFraction(): Uint32Array {
  if (piWords) return piWords;
  const bits = BigInt(WORDS * 32 + 64);
  const one = 1n << bits;
  // arctan(1/x) in fixed point: sum of (-1)^k / ((2k+1) x^(2k+1)).
  const arctanInv = (x: bigint): bigint => {
    let sum = 0n;
    let term = one / x;
    const x2 = x * x;
    for (let k = 0n; term !== 0n; k++) {
      const t = term / (2n * k + 1n);
      sum += k & 1n ? -t : t;
      term /= x2;
    }
    return sum;
  };
  const pi = 16n * arctanInv(5n) - 4n * arctanInv(239n);
  const frac = (pi & (one - 1n)) >> 64n; // drop the integer part (3) and the guard bits
  const out = new Uint32Array(WORDS);
  for (let i = 0; i < WORDS; i++) out[i] = Number((frac >> BigInt((WORDS - 1 - i) * 32)) & 0xffffffffn);
  piWords = out;
  return out;
}

class Blowfish {
  readonly P: Uint32Array;
  readonly S: Uint32Array; // four boxes of 256 words, back to back

  constructor() {
    const pi = piFraction();
    this.P = pi.slice(0, 18);
    this.S = pi.slice(18);
  }

  private f(x: number): number {
    const S = this.S;
    return ((((S[x >>> 24]! + S[256 + ((x >>> 16) & 0xff)]!) >>> 0) ^ S[512 + ((x >>> 8) & 0xff)]!) + S[768 + (x & 0xff)]!) >>> 0;
  }

  /** Encrypts the block (lr[off], lr[off+1]) in place. */
  encrypt(lr: Uint32Array, off: number): void {
    let l = lr[off]!;
    let r = lr[off + 1]!;
    const P = this.P;
    for (let i = 0; i < 16; i += 2) {
      l ^= P[i]!;
      r ^= this.f(l);
      r ^= P[i + 1]!;
      l ^= this.f(r);
    }
    lr[off] = (r ^ P[17]!) >>> 0;
    lr[off + 1] = (l ^ P[16]!) >>> 0;
  }

  /** ExpandKey(state, salt, key); an empty salt is the plain Blowfish key schedule. */
  expand(key: Uint8Array, salt: Uint8Array | undefined): void {
    let kp = 0;
    const keyWord = () => {
      let w = 0;
      for (let i = 0; i < 4; i++) {
        w = ((w << 8) | key[kp]!) >>> 0;
        kp = (kp + 1) % key.length;
      }
      return w;
    };
    for (let i = 0; i < 18; i++) this.P[i] = (this.P[i]! ^ keyWord()) >>> 0;
    let sp = 0;
    const saltWord = () => {
      let w = 0;
      for (let i = 0; i < 4; i++) {
        w = ((w << 8) | salt![sp]!) >>> 0;
        sp = (sp + 1) % salt!.length;
      }
      return w;
    };
    const lr = new Uint32Array(2);
    const fill = (target: Uint32Array) => {
      for (let i = 0; i < target.length; i += 2) {
        if (salt) {
          lr[0] = (lr[0]! ^ saltWord()) >>> 0;
          lr[1] = (lr[1]! ^ saltWord()) >>> 0;
        }
        this.encrypt(lr, 0);
        target[i] = lr[0]!;
        target[i + 1] = lr[1]!;
      }
    };
    fill(this.P);
    fill(this.S);
  }
}

function encode64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const c1 = bytes[i]!;
    const c2 = bytes[i + 1];
    const c3 = bytes[i + 2];
    out += BCRYPT64[c1 >> 2];
    out += BCRYPT64[((c1 & 3) << 4) | ((c2 ?? 0) >> 4)];
    if (c2 === undefined) break;
    out += BCRYPT64[((c2 & 0xf) << 2) | ((c3 ?? 0) >> 6)];
    if (c3 === undefined) break;
    out += BCRYPT64[c3 & 0x3f];
  }
  return out;
}

function decode64(text: string, len: number): Uint8Array | undefined {
  const v = [...text].map((c) => BCRYPT64.indexOf(c));
  if (v.some((x) => x < 0)) return undefined;
  const out = new Uint8Array(len);
  let o = 0;
  for (let i = 0; o < len && i + 1 < v.length; i += 4) {
    out[o++] = (v[i]! << 2) | (v[i + 1]! >> 4);
    if (o >= len || i + 2 >= v.length) break;
    out[o++] = ((v[i + 1]! & 0xf) << 4) | (v[i + 2]! >> 2);
    if (o >= len || i + 3 >= v.length) break;
    out[o++] = ((v[i + 2]! & 3) << 6) | v[i + 3]!;
  }
  return o === len ? out : undefined;
}

const MAGIC = /^\$2([aby])\$(\d\d)\$([./A-Za-z0-9]{22})/;

/** crypt(3) of `password` with a `$2b$NN$<22 salt chars>…` setting; undefined if it is not one. */
export function bcrypt(password: Buffer, setting: string): string | undefined {
  const m = MAGIC.exec(setting);
  if (!m) return undefined;
  const cost = Number(m[2]);
  if (cost < 4 || cost > 31) return undefined;
  const salt = decode64(m[3]!, 16);
  if (!salt) return undefined;
  // The key is the password with its NUL terminator, at most 72 bytes.
  const key = Buffer.concat([password, Buffer.from([0])]).subarray(0, 72);
  const bf = new Blowfish();
  bf.expand(key, salt);
  for (let i = 2 ** cost; i > 0; i--) {
    bf.expand(key, undefined);
    bf.expand(salt, undefined);
  }
  const text = Buffer.from('OrpheanBeholderScryDoubt', 'latin1');
  const c = new Uint32Array(6);
  for (let i = 0; i < 6; i++) c[i] = text.readUInt32BE(i * 4);
  for (let n = 0; n < 64; n++) for (let i = 0; i < 6; i += 2) bf.encrypt(c, i);
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeUInt32BE(c[i]!, i * 4);
  return `$2${m[1]}$${m[2]}$${encode64(salt)}${encode64(out.subarray(0, 23))}`;
}
