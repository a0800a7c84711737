// The grammar of `if (…)` (ngx_http_rewrite_if_condition): read once here for both the parse-time
// check (nginx's error texts) and the conversion (which compiles the regex).

export type IfConditionParts =
  | { kind: 'value'; value: string }
  | { kind: 'compare'; op: '=' | '!='; left: string; right: string }
  | { kind: 'regex'; op: '~' | '~*' | '!~' | '!~*'; left: string; right: string }
  | { kind: 'file'; op: '-f' | '!-f' | '-d' | '!-d' | '-e' | '!-e' | '-x' | '!-x'; operand: string };

const REGEX_OPS = ['~', '~*', '!~', '!~*'];

/**
 * Splits an `if` statement's arguments, parentheses included (alone or glued to the first and last
 * words), into a condition; or nginx's error text.
 */
export function parseIfCondition(args: readonly string[]): IfConditionParts | { error: string } {
  const v = [...args];
  const invalid = (word: string | undefined): { error: string } => ({ error: `invalid condition "${word ?? ''}"` });
  let cur = 0;
  let last = v.length - 1;
  if (!v[0]!.startsWith('(')) return invalid(v[0]);
  if (v[0]!.length === 1) cur = 1;
  else v[0] = v[0]!.slice(1);
  if (!v[last]!.endsWith(')')) return invalid(v[last]);
  if (v[last]!.length === 1) last--;
  else v[last] = v[last]!.slice(0, -1);
  if (cur > last) return invalid(v[cur]);

  const p = v[cur]!;
  if (p.length > 1 && p.startsWith('$')) {
    if (cur === last) return { kind: 'value', value: p };
    if (cur + 2 !== last) return invalid(p);
    const op = v[cur + 1]!;
    const right = v[last]!;
    if (op === '=' || op === '!=') return { kind: 'compare', op, left: p, right };
    if (REGEX_OPS.includes(op)) return { kind: 'regex', op: op as '~', left: p, right };
    return { error: `unexpected "${op}" in condition` };
  }
  if ((p.length === 2 && p[0] === '-') || (p.length === 3 && p.startsWith('!-'))) {
    if (cur + 1 !== last) return invalid(p);
    if (!'fdex'.includes(p[p.length - 1]!)) return invalid(p);
    return { kind: 'file', op: p as '-f', operand: v[last]! };
  }
  return invalid(p);
}
