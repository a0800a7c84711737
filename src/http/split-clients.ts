// split_clients (ngx_http_split_clients_module): the key's MurmurHash2 picks the part whose share
// of the 2^32 hashes it falls in, the parts taken in order; `*` takes the rest.
import type { SplitClientsBlock } from '../config/state.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';

/** ngx_murmur_hash2 over the bytes of `text` (latin1: nginx's strings are bytes). */
export function murmurHash2(text: string): number {
  const data = Buffer.from(text, 'latin1');
  let len = data.length;
  let h = len >>> 0;
  let i = 0;
  while (len >= 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, 0x5bd1e995);
    k ^= k >>> 24;
    k = Math.imul(k, 0x5bd1e995);
    h = Math.imul(h, 0x5bd1e995) ^ k;
    i += 4;
    len -= 4;
  }
  // The C switch's fall-through: the 3, 2 and 1 trailing bytes.
  if (len === 3) h ^= data[i + 2]! << 16;
  if (len >= 2) h ^= data[i + 1]! << 8;
  if (len >= 1) {
    h ^= data[i]!;
    h = Math.imul(h, 0x5bd1e995);
  }
  h ^= h >>> 13;
  h = Math.imul(h, 0x5bd1e995);
  h ^= h >>> 15;
  return h >>> 0;
}

export function lookupSplitClients(block: SplitClientsBlock, ctx: VarContext): string {
  const hash = murmurHash2(evaluate(compiled(block.key), ctx));
  for (const part of block.parts) if (part.upTo === 0 || hash < part.upTo) return part.value;
  return '';
}
