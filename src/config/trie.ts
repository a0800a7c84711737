// Character tries for the longest-prefix / longest-suffix lookups of routing (prefix locations,
// server_name and map wildcards): built once per state, walked per request without allocating,
// in time bounded by the text's length instead of the number of entries.

export interface TrieNode<T> {
  /** Children by char code (the key's characters in order, or reversed for a suffix trie). */
  readonly next?: ReadonlyMap<number, TrieNode<T>>;
  /** The entry whose whole key ends at this node. */
  readonly value?: T;
}

interface Building<T> {
  next?: Map<number, Building<T>>;
  value?: T;
}

/** A trie of `keys` (read backwards when `reversed`); for a repeated key the first entry stays. */
export function buildTrie<T>(entries: Iterable<readonly [string, T]>, reversed = false): TrieNode<T> {
  const root: Building<T> = {};
  for (const [key, value] of entries) {
    let node = root;
    for (let k = 0; k < key.length; k++) {
      const code = key.charCodeAt(reversed ? key.length - 1 - k : k);
      node.next ??= new Map();
      let child = node.next.get(code);
      if (!child) node.next.set(code, (child = {}));
      node = child;
    }
    if (node.value === undefined) node.value = value;
  }
  return root;
}

/**
 * The entry with the longest key that `text` starts with, the key at most `text.length - shorter`
 * long (`shorter` 1: a proper prefix only).
 */
export function longestPrefix<T>(root: TrieNode<T>, text: string, shorter = 0): T | undefined {
  let node: TrieNode<T> | undefined = root;
  const end = text.length - shorter;
  let best = end >= 0 ? root.value : undefined;
  for (let i = 0; i < end; i++) {
    node = node.next?.get(text.charCodeAt(i));
    if (!node) break;
    if (node.value !== undefined) best = node.value;
  }
  return best;
}

/** The same from the end, over a reversed trie: the longest key `text` ends with. */
export function longestSuffix<T>(root: TrieNode<T>, text: string, shorter = 0): T | undefined {
  let node: TrieNode<T> | undefined = root;
  let best = text.length >= shorter ? root.value : undefined;
  for (let i = text.length - 1; i >= shorter; i--) {
    node = node.next?.get(text.charCodeAt(i));
    if (!node) break;
    if (node.value !== undefined) best = node.value;
  }
  return best;
}

/** Leading wildcards (`*.x`, `.x`) as matchLeading finds them: see buildLeadingIndex. */
export interface LeadingIndex<T> {
  /** By suffix (with its dot), reversed. */
  readonly proper: TrieNode<T>;
  /** `.x` entries by `x`: the name itself. */
  readonly bare: ReadonlyMap<string, T>;
}

/** From a list sorted most specific first (the order matchLeading scans). */
export function buildLeadingIndex<T extends { suffix: string; matchesBare: boolean }>(list: readonly T[]): LeadingIndex<T> {
  const bare = new Map<string, T>();
  for (const w of list) if (w.matchesBare && !bare.has(w.suffix.slice(1))) bare.set(w.suffix.slice(1), w);
  return { proper: buildTrie(list.map((w) => [w.suffix, w] as const), true), bare };
}
