// PCRE (as nginx compiles it: no UTF mode, newline = LF) → JavaScript RegExp. Patterns are matched
// against byte strings (one char per byte, see http/uri.ts), so code points 0-255 behave as PCRE's
// bytes do. Whatever JavaScript cannot express is refused with a reason instead of being guessed.
import { ConfError, type ConfNode } from '../nginx/types.ts';

export class RegexTranslationError extends Error {}

export interface TranslatedRegex {
  source: string;
  flags: string;
}

// POSIX classes as JS class members; the negated form is only expressible where JS has an escape.
const POSIX: Record<string, string> = {
  alpha: 'a-zA-Z', digit: '0-9', alnum: 'a-zA-Z0-9', upper: 'A-Z', lower: 'a-z', space: '\\t\\n\\v\\f\\r ',
  blank: ' \\t', punct: '!-\\/:-@\\[-`{-~', print: ' -~', graph: '!-~', cntrl: '\\x00-\\x1f\\x7f',
  xdigit: '0-9A-Fa-f', word: '\\w', ascii: '\\x00-\\x7f',
};
const POSIX_NEGATED: Record<string, string> = { digit: '\\D', space: '\\S', word: '\\W' };

const HSPACE = '\\t \\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000';
const VSPACE = '\\n\\v\\f\\r\\x85\\u2028\\u2029';
const PCRE_SPACE = '\\t\\n\\v\\f\\r ';

const escapeLiteral = (ch: string): string => (/[\\^$.*+?()[\]{}|/]/.test(ch) ? '\\' + ch : ch);

/** Translates a PCRE pattern; `caseless` is `~*`. Throws RegexTranslationError. */
export function translatePcre(pattern: string, caseless = false): TranslatedRegex {
  const flags = new Set<string>(caseless ? ['i'] : []);
  let i = 0;
  // Leading option settings such as (?i) or (?is) apply to the whole pattern.
  for (;;) {
    const m = /^\(\?([a-z]+)\)/.exec(pattern.slice(i));
    if (!m) break;
    for (const f of m[1]!) {
      if (f === 'i' || f === 's' || f === 'm') flags.add(f);
      else throw new RegexTranslationError(`inline option "(?${f})" has no JavaScript equivalent`);
    }
    i += m[0].length;
  }
  const dotAll = flags.has('s');
  let out = '';
  let needsUnicode = false;
  const n = pattern.length;

  const fail = (why: string): never => {
    throw new RegexTranslationError(why);
  };

  // One escape sequence at pattern[i] === '\\'; returns the JS text and the new index.
  const escape = (at: number, inClass: boolean): [string, number] => {
    const c = pattern[at + 1];
    if (c === undefined) fail('pattern ends with a backslash');
    const next = at + 2;
    switch (c) {
      case 'A': if (inClass) fail('\\A inside a character class'); return ['^', next];
      case 'z': if (inClass) fail('\\z inside a character class'); return ['$', next];
      case 'Z': if (inClass) fail('\\Z inside a character class'); return ['(?=\\n?$)', next];
      case 'h': return [inClass ? HSPACE : `[${HSPACE}]`, next];
      case 'H': if (inClass) fail('\\H inside a character class'); return [`[^${HSPACE}]`, next];
      case 'v': return [inClass ? VSPACE : `[${VSPACE}]`, next];
      case 'V': if (inClass) fail('\\V inside a character class'); return [`[^${VSPACE}]`, next];
      case 'R': if (inClass) fail('\\R inside a character class'); return [`(?:\\r\\n|[${VSPACE}])`, next];
      case 's': return [inClass ? PCRE_SPACE : `[${PCRE_SPACE}]`, next];
      case 'S': return [inClass ? '\\S' : `[^${PCRE_SPACE}]`, next];
      case 'e': return ['\\x1b', next];
      case 'a': return ['\\x07', next];
      case 'p': case 'P': {
        needsUnicode = true;
        if (pattern[next] === '{') {
          const close = pattern.indexOf('}', next);
          if (close < 0) fail(`unterminated \\${c}{`);
          let name = pattern.slice(next + 1, close);
          let neg = c === 'P';
          if (name.startsWith('^')) { neg = !neg; name = name.slice(1); }
          if (name === 'Any') return [neg ? '[]' : '[\\s\\S]', close + 1];
          if (name === 'L&') name = 'LC';
          return [`\\${neg ? 'P' : 'p'}{${name}}`, close + 1];
        }
        const one = pattern[next];
        if (one === undefined) fail(`\\${c} without a property`);
        return [`\\${c}{${one}}`, next + 1];
      }
      case 'x': {
        if (pattern[next] === '{') {
          const close = pattern.indexOf('}', next);
          const hex = pattern.slice(next + 1, close);
          if (close < 0 || !/^[0-9a-fA-F]+$/.test(hex)) fail('malformed \\x{…}');
          const cp = parseInt(hex, 16);
          if (cp > 0xff) fail(`\\x{${hex}} is above 0xff, which nginx's non-UTF patterns cannot match`);
          return ['\\x' + cp.toString(16).padStart(2, '0'), close + 1];
        }
        const m = /^[0-9a-fA-F]{1,2}/.exec(pattern.slice(next));
        const cp = m ? parseInt(m[0], 16) : 0;
        return ['\\x' + cp.toString(16).padStart(2, '0'), next + (m ? m[0].length : 0)];
      }
      case 'g': {
        const m = /^(?:\{(-?\w+)\}|(-?\d+)|<(\w+)>|'(\w+)')/.exec(pattern.slice(next));
        if (!m) fail('malformed \\g reference');
        const ref = m![1] ?? m![2] ?? m![3] ?? m![4]!;
        if (m![3] !== undefined || m![4] !== undefined) fail('subroutine calls (\\g<…>) are not supported');
        if (ref.startsWith('-')) fail('relative back-references are not supported');
        return [/^\d+$/.test(ref) ? `\\${ref}` : `\\k<${ref}>`, next + m![0].length];
      }
      case 'k': {
        const m = /^(?:\{(\w+)\}|<(\w+)>|'(\w+)')/.exec(pattern.slice(next));
        if (!m) fail('malformed \\k reference');
        return [`\\k<${m![1] ?? m![2] ?? m![3]}>`, next + m![0].length];
      }
      case 'G': case 'K': case 'X': case 'C': case 'N': case 'o':
        return fail(`\\${c} is not supported`);
      case 'Q': {
        const end = pattern.indexOf('\\E', next);
        const lit = pattern.slice(next, end < 0 ? n : end);
        return [Array.from(lit, inClass ? escapeClassChar : escapeLiteral).join(''), end < 0 ? n : end + 2];
      }
      case 'E': return ['', next]; // a stray \E is ignored
    }
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(pattern.slice(at + 1))!;
      return ['\\' + m[0], at + 1 + m[0].length];
    }
    if (/[a-zA-Z]/.test(c)) {
      // \d \D \w \W \b \B \t \n \r \f and \cX mean the same in both.
      if ('dDwWbBtnrf'.includes(c)) return ['\\' + c, next];
      if (c === 'c' && pattern[next] !== undefined) return ['\\c' + pattern[next], next + 1];
      return fail(`unknown escape \\${c}`);
    }
    // An escaped non-alphanumeric is that character, literally.
    return [inClass ? escapeClassChar(c) : escapeLiteral(c), next];
  };

  const groupNames: string[] = [];
  while (i < n) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      const [text, j] = escape(i, false);
      out += text;
      i = j;
      continue;
    }
    if (ch === '[') {
      const [text, j] = charClass(i);
      out += text;
      i = j;
      continue;
    }
    if (ch === '(') {
      if (pattern[i + 1] !== '?') {
        if (pattern[i + 1] === '*') fail('verbs such as (*UTF8) are not supported');
        out += '(';
        i++;
        continue;
      }
      const rest = pattern.slice(i + 2);
      let m: RegExpExecArray | null;
      if ((m = /^P?<([A-Za-z_]\w*)>/.exec(rest)) || (m = /^'([A-Za-z_]\w*)'/.exec(rest))) {
        if (groupNames.includes(m[1]!)) fail(`duplicate group name "${m[1]}"`);
        groupNames.push(m[1]!);
        out += `(?<${m[1]}>`;
        i += 2 + m[0].length;
        continue;
      }
      if ((m = /^P=(\w+)\)/.exec(rest))) {
        out += `\\k<${m[1]}>`;
        i += 2 + m[0].length;
        continue;
      }
      if ((m = /^#[^)]*\)/.exec(rest))) {
        i += 2 + m[0].length;
        continue;
      }
      if (/^(?::|=|!|<=|<!)/.test(rest)) {
        const len = rest.startsWith('<') ? 3 : 1;
        out += '(?' + rest.slice(0, len);
        i += 2 + len;
        continue;
      }
      if (rest.startsWith('>')) fail('atomic groups (?>…) are not supported');
      if (rest.startsWith('|')) fail('branch reset groups (?|…) are not supported');
      if (/^(?:R|[+-]?\d|&|P>)/.test(rest)) fail('recursion and subroutine calls are not supported');
      if (rest.startsWith('(')) fail('conditional groups are not supported');
      if (rest.startsWith('C')) fail('callouts are not supported');
      if (/^[a-zA-Z^-]/.test(rest)) fail('inline options other than at the start of the pattern are not supported');
      fail('unrecognised group syntax');
    }
    if (ch === '.') {
      out += dotAll ? '[\\s\\S]' : '[^\\n]';
      i++;
      continue;
    }
    if (ch === '$' && !flags.has('m')) {
      // PCRE's $ also matches before a final newline.
      out += '(?=\\n?$)';
      i++;
      continue;
    }
    if (ch === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i)) ?? /^\{,(\d+)\}/.exec(pattern.slice(i));
      if (m && m[0].startsWith('{,')) {
        out += `{0,${m[1]}}`;
        i += m[0].length;
      } else if (m) {
        out += m[0];
        i += m[0].length;
      } else {
        out += '\\{'; // not a quantifier: a literal brace in PCRE
        i++;
        continue;
      }
      checkPossessive();
      continue;
    }
    if (ch === '}') {
      out += '\\}';
      i++;
      continue;
    }
    if (ch === '*' || ch === '+' || ch === '?') {
      out += ch;
      i++;
      checkPossessive();
      continue;
    }
    if (ch === ']') {
      out += '\\]';
      i++;
      continue;
    }
    out += ch;
    i++;
  }

  function checkPossessive(): void {
    if (pattern[i] === '+') fail('possessive quantifiers are not supported');
    if (pattern[i] === '?') {
      out += '?';
      i++;
    }
  }

  function charClass(start: number): [string, number] {
    let j = start + 1;
    let text = '[';
    if (pattern[j] === '^') {
      text += '^';
      j++;
    }
    // A `]` right after `[` or `[^` is a literal in PCRE; JS would read an empty class.
    if (pattern[j] === ']') {
      text += '\\]';
      j++;
    }
    for (;;) {
      if (j >= n) fail('missing terminating ] for character class');
      const c = pattern[j]!;
      if (c === ']') return [text + ']', j + 1];
      if (c === '[' && pattern[j + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(j));
        if (m) {
          const name = m[2]!;
          if (!(name in POSIX)) fail(`unknown POSIX class name "${name}"`);
          if (m[1]) {
            const neg = POSIX_NEGATED[name];
            if (!neg) fail(`negated POSIX class [:^${name}:] is not supported`);
            text += neg;
          } else text += POSIX[name];
          j += m[0].length;
          continue;
        }
      }
      if (c === '\\') {
        const [t, k] = escape(j, true);
        text += t;
        j = k;
        continue;
      }
      text += c === '[' ? '\\[' : c;
      j++;
    }
  }

  if (needsUnicode) {
    // The u flag forbids identity escapes of ordinary characters; recheck by compiling.
    flags.add('u');
  }
  const flagText = ['i', 'm', 's', 'u'].filter((f) => flags.has(f)).join('');
  return { source: out, flags: flagText };
}

function escapeClassChar(ch: string): string {
  return /[\\\]\[^-]/.test(ch) ? '\\' + ch : ch;
}

/**
 * Compiles a config regex, reporting at the directive's file:line what nginx would have accepted but
 * bext cannot translate, or what PCRE itself would have refused.
 */
export function compileRegex(pattern: string, caseless: boolean, node: Pick<ConfNode, 'file' | 'line'>): RegExp {
  let t: TranslatedRegex;
  try {
    t = translatePcre(pattern, caseless);
  } catch (err) {
    if (err instanceof RegexTranslationError) {
      throw new ConfError(`bext cannot translate regex "${pattern}": ${err.message}`, node.file, node.line);
    }
    throw err;
  }
  try {
    return new RegExp(t.source, t.flags);
  } catch (err) {
    throw new ConfError(`pcre2_compile() failed: ${(err as Error).message.replace(/^Invalid regular expression: /, '')} in "${pattern}"`, node.file, node.line);
  }
}

/** Captures as the engine hands them on: index 0 is the whole match. */
export interface RegexCaptures {
  captures: (string | undefined)[];
  namedCaptures?: Record<string, string | undefined>;
}

/**
 * The first entry whose regex matches `text`, in order (ngx_regex_exec_array), with its captures.
 * With the list's index (buildRegexIndex) only the entries the text's prefix allows are tried.
 */
export function firstRegexMatch<T extends { regex: RegExp }>(list: readonly T[], text: string, index?: RegexIndex): ({ entry: T } & RegexCaptures) | undefined {
  if (index) {
    const found = firstIndexedMatch(list, index, text);
    return found && withCaptures(list[found.at]!, found.match);
  }
  for (const entry of list) {
    entry.regex.lastIndex = 0;
    const m = entry.regex.exec(text);
    if (m) return withCaptures(entry, m);
  }
  return undefined;
}

function withCaptures<T>(entry: T, m: RegExpExecArray): { entry: T } & RegexCaptures {
  return { entry, captures: Array.from(m), ...(m.groups ? { namedCaptures: { ...m.groups } } : {}) };
}

/** How many capturing groups a regex has (nginx's `captures`): an empty alternative always matches. */
export const captureCount = (re: RegExp): number => new RegExp(`${re.source}|`, re.flags.replace(/[gy]/g, '')).exec('')!.length - 1;

// ---------- literal-prefix prefilter ----------
//
// A config regex anchored with `^` and followed by literal characters can only match a text that
// starts with those characters. Each regex of a list gets its provable prefix once per state; the
// prefixes go into a trie (ASCII letters folded) whose nodes each hold, in list order, every entry
// that could still match a text reaching that node: a lookup walks the text down the trie and
// returns one precomputed array, so a request allocates nothing and tries only the regexes whose
// prefix it has. Whatever cannot be proved gets the empty prefix: tried for every text.

/** The first-matching-regex search structure of one list (see buildRegexIndex). */
export interface RegexIndex {
  /** Entries tried for a text that reaches no deeper node than the root (no provable prefix). */
  readonly root: RegexIndexNode;
  /** The deepest node: no text needs to walk further. */
  readonly depth: number;
  /**
   * Per entry: the case-sensitive prefix to check exactly before running the regex (the trie folds
   * ASCII letters), undefined when the trie position already proves it.
   */
  readonly verify: readonly (string | undefined)[];
}

export interface RegexIndexNode {
  /** Children by folded char code (A-Z → a-z). */
  readonly next?: ReadonlyMap<number, RegexIndexNode>;
  /** Indexes of the entries whose prefix is a prefix of any text reaching this node, in list order. */
  readonly candidates: readonly number[];
}

const QUANTIFIER_START = new Set(['?', '*', '+', '{']);
// Outside a class these mean something in a JS pattern; `{`, `}` and `]` can be literals in non-`u`
// patterns, but treating them as syntax only shortens a prefix.
const SYNTAX = new Set(['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}']);
const SIMPLE_ESCAPES: Record<string, string> = { t: '\t', n: '\n', r: '\r', f: '\f', v: '\v' };

/** Whether a JS pattern has a `|` outside every group (an alternative that may not be anchored). */
function hasTopLevelAlternation(source: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}

/**
 * The literal text every match of `re` starts with at index 0 ('' when none can be proved):
 * `^` then literal characters, less the last one when a quantifier follows it. Refuses a top-level
 * `|`, the `m` flag (`^` after a newline), unknown flags and `iu` (Unicode case folding maps
 * characters outside ASCII onto ASCII letters). Under `i` the prefix stops at the first non-ASCII
 * character and is compared with ASCII letters folded, which is exactly how a non-`u` JS regex
 * compares ASCII: a non-ASCII character never canonicalizes to an ASCII one.
 */
export function regexLiteralPrefix(re: RegExp): string {
  const flags = re.flags;
  for (const f of flags) if (f !== 'i' && f !== 's' && f !== 'u') return '';
  const caseless = flags.includes('i');
  if (caseless && flags.includes('u')) return '';
  const src = re.source;
  if (src[0] !== '^' || hasTopLevelAlternation(src)) return '';
  const lits: string[] = [];
  let i = 1;
  while (i < src.length) {
    const c = src[i]!;
    let lit: string | undefined;
    let next = i + 1;
    if (c === '\\') {
      const e = src[i + 1];
      if (e === undefined) break;
      if (e in SIMPLE_ESCAPES) {
        lit = SIMPLE_ESCAPES[e];
        next = i + 2;
      } else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(src.slice(i + 2, i + 4))) {
        lit = String.fromCharCode(parseInt(src.slice(i + 2, i + 4), 16));
        next = i + 4;
      } else if (/^[!-/:-@[-`{-~]$/.test(e)) {
        lit = e; // an identity escape of ASCII punctuation
        next = i + 2;
      } else break; // classes, back-references, assertions, \u, \c, …
    } else if (QUANTIFIER_START.has(c)) {
      lits.pop(); // the last literal is optional or repeated
      break;
    } else if (SYNTAX.has(c)) break;
    else lit = c;
    const code = lit!.charCodeAt(0);
    // A surrogate may be half of a code point a quantifier applies to as a whole (u flag).
    if (code >= 0xd800 && code <= 0xdfff) break;
    if (caseless && code > 0x7f) break;
    lits.push(lit!);
    i = next;
  }
  return lits.join('');
}

const fold = (code: number): number => (code >= 65 && code <= 90 ? code + 32 : code);

/** Builds the prefilter for a list of regexes (in the order they are tried). */
export function buildRegexIndex(regexes: readonly RegExp[]): RegexIndex {
  interface Building {
    next?: Map<number, Building>;
    own: number[];
  }
  const root: Building = { own: [] };
  const verify: (string | undefined)[] = [];
  let depth = 0;
  regexes.forEach((re, index) => {
    const prefix = regexLiteralPrefix(re);
    let node = root;
    for (let k = 0; k < prefix.length; k++) {
      const key = fold(prefix.charCodeAt(k));
      node.next ??= new Map();
      let child = node.next.get(key);
      if (!child) node.next.set(key, (child = { own: [] }));
      node = child;
    }
    node.own.push(index);
    depth = Math.max(depth, prefix.length);
    verify.push(!re.flags.includes('i') && /[A-Za-z]/.test(prefix) ? prefix : undefined);
  });
  // Each node's candidates: its own entries merged (in list order) with its parent's. A node
  // without entries of its own shares its parent's array.
  const finish = (b: Building, inherited: readonly number[]): RegexIndexNode => {
    const candidates = b.own.length === 0 ? inherited : [...inherited, ...b.own].sort((x, y) => x - y);
    if (!b.next) return { candidates };
    const next = new Map<number, RegexIndexNode>();
    for (const [k, child] of b.next) next.set(k, finish(child, candidates));
    return { next, candidates };
  };
  return { root: finish(root, []), depth, verify };
}

/**
 * The entries that may match `text`, in list order (a shared array: do not modify). An entry with
 * `index.verify[i]` set matches only if `text` starts with it.
 */
export function regexCandidates(index: RegexIndex, text: string): readonly number[] {
  let node = index.root;
  const n = text.length < index.depth ? text.length : index.depth;
  for (let i = 0; i < n; i++) {
    const child = node.next?.get(fold(text.charCodeAt(i)));
    if (!child) break;
    node = child;
  }
  return node.candidates;
}

/**
 * The first entry whose regex matches `text`, as a scan of the whole list in order would find it,
 * trying only the index's candidates. Returns the match (lastIndex reset) and the entry's index.
 */
export function firstIndexedMatch(list: readonly { regex?: RegExp }[], index: RegexIndex, text: string): { at: number; match: RegExpExecArray } | undefined {
  const candidates = regexCandidates(index, text);
  for (let k = 0; k < candidates.length; k++) {
    const at = candidates[k]!;
    const prefix = index.verify[at];
    if (prefix !== undefined && !text.startsWith(prefix)) continue;
    const re = list[at]!.regex!;
    re.lastIndex = 0;
    const match = re.exec(text);
    if (match) return { at, match };
  }
  return undefined;
}
