// The pure parts of ngx_http_rewrite_module: `if` conditions, `rewrite` application and `return`.
// Regexes arrive compiled (JS RegExp, translated from PCRE by config/); templates as CompiledValue.
import { statSync } from 'node:fs';
import type { IfCondition as ConfIfCondition } from '../config/state.ts';
import { compiled, evaluate, getVariable, type CompiledValue, type VarContext } from './variables.ts';

// ---- regex matching with nginx's capture rules ----

/**
 * Runs `re` against `subject`; on success stores the captures (and named captures) in ctx, as nginx
 * does for location, server_name, rewrite and if regexes. A failed match leaves earlier captures alone.
 */
export function regexMatch(re: RegExp, subject: string, ctx: VarContext): boolean {
  re.lastIndex = 0;
  const m = re.exec(subject);
  if (!m) return false;
  ctx.captures = Array.from(m);
  if (m.groups) {
    for (const [k, v] of Object.entries(m.groups)) {
      ctx.namedCaptures[k] = v ?? '';
    }
  }
  return true;
}

// ---- if ----

export type IfCondition =
  | { kind: 'value'; value: CompiledValue }
  | { kind: 'compare'; op: '=' | '!='; left: CompiledValue; right: CompiledValue }
  | { kind: 'regex'; op: '~' | '~*' | '!~' | '!~*'; left: CompiledValue; regex: RegExp }
  | { kind: 'file'; op: '-f' | '!-f' | '-d' | '!-d' | '-e' | '!-e' | '-x' | '!-x'; operand: CompiledValue };

/** Byte-string path (see uri.ts) to a Buffer path for fs calls. */
const fsPath = (p: string): Buffer => Buffer.from(p, 'latin1');

function fileTest(op: string, path: string): boolean {
  const st = statSync(fsPath(path), { throwIfNoEntry: false });
  switch (op.replace('!', '')) {
    case '-f': return !!st && st.isFile();
    case '-d': return !!st && st.isDirectory();
    case '-e': return !!st;
    case '-x': return !!st && (st.mode & 0o100) !== 0;
  }
  return false;
}

/** Evaluates an `if (…)` condition. Empty and "0" are false for a bare value. */
export function evaluateIf(cond: IfCondition, ctx: VarContext): boolean {
  switch (cond.kind) {
    case 'value': {
      const v = evaluate(cond.value, ctx);
      return v !== '' && v !== '0';
    }
    case 'compare': {
      const eq = evaluate(cond.left, ctx) === evaluate(cond.right, ctx);
      return cond.op === '=' ? eq : !eq;
    }
    case 'regex': {
      const matched = regexMatch(cond.regex, evaluate(cond.left, ctx), ctx);
      return cond.op.startsWith('!') ? !matched : matched;
    }
    case 'file': {
      const r = fileTest(cond.op, evaluate(cond.operand, ctx));
      return cond.op.startsWith('!') ? !r : r;
    }
  }
}

/**
 * A condition as config/ hands it over (parsed by nginx/if-condition.ts, regex compiled) with its
 * operands compiled to complex values: what evaluateIf runs for a served `if`.
 */
export function compileIfCondition(c: ConfIfCondition): IfCondition {
  switch (c.kind) {
    case 'value': return { kind: 'value', value: compiled(c.value) };
    case 'compare': return { kind: 'compare', op: c.op, left: compiled(c.left), right: compiled(c.right) };
    case 'regex': return { kind: 'regex', op: c.op, left: compiled(c.left), regex: c.regex };
    case 'file': return { kind: 'file', op: c.op, operand: compiled(c.operand) };
  }
}

// ---- rewrite ----

export type RewriteFlag = 'last' | 'break' | 'redirect' | 'permanent' | null;

export interface RewriteRule {
  regex: RegExp;
  /** The replacement with a trailing `?` already removed (see compileRewrite). */
  replacement: CompiledValue;
  flag: RewriteFlag;
  /** Redirect status (301/302) when the rule redirects, else 0. */
  redirectStatus: 0 | 301 | 302;
  /** Append the request's args (false when the replacement ended in `?`). */
  addArgs: boolean;
  /** The replacement text has its own `?args` part (original args then join with `&`). */
  hasArgs: boolean;
}

/** Builds a RewriteRule from `rewrite REGEX REPLACEMENT [flag]` (ngx_http_rewrite). */
export function compileRewrite(regex: RegExp, replacement: string, flag: RewriteFlag = null): RewriteRule {
  let redirectStatus: 0 | 301 | 302 = 0;
  if (replacement.startsWith('http://') || replacement.startsWith('https://') || replacement.startsWith('$scheme')) {
    redirectStatus = 302;
  }
  if (flag === 'redirect') redirectStatus = 302;
  if (flag === 'permanent') redirectStatus = 301;
  let addArgs = true;
  if (replacement.endsWith('?')) {
    replacement = replacement.slice(0, -1);
    addArgs = false;
  }
  const cv = compiled(replacement);
  const hasArgs = cv.parts.some((p) => typeof p === 'string' && p.includes('?'));
  return { regex, replacement: cv, flag, redirectStatus, addArgs, hasArgs };
}

export type RewriteOutcome =
  | { kind: 'nomatch' }
  | { kind: 'redirect'; status: 301 | 302; location: string }
  /** URI (and args) replaced; `flag` says what the phase does next (null: continue with the next directive). */
  | { kind: 'uri'; uri: string; args: string; flag: 'last' | 'break' | null }
  /** nginx logs "the rewritten URI has a zero length" and answers 500. */
  | { kind: 'error'; status: 500; message: string };

const hexVal = (c: number): number =>
  c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;

/** ngx_unescape_uri(NGX_UNESCAPE_REDIRECT): before the first `?`, decode escapes of bytes in (0x25, 0x7f). */
function unescapeRedirect(s: string): string {
  const q = s.indexOf('?');
  const head = q < 0 ? s : s.slice(0, q);
  if (!head.includes('%')) return s;
  let out = '';
  for (let i = 0; i < head.length; i++) {
    if (head.charCodeAt(i) === 0x25 && i + 2 < head.length) {
      const h = hexVal(head.charCodeAt(i + 1));
      const l = hexVal(head.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        const ch = (h << 4) | l;
        out += ch > 0x25 && ch < 0x7f ? String.fromCharCode(ch) : head.slice(i, i + 3);
        i += 2;
        continue;
      }
    }
    out += head[i];
  }
  return q < 0 ? out : out + s.slice(q);
}

// NGX_ESCAPE_ARGS: what nginx escapes in captures copied into args or redirects.
function escapeArgs(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23 || c === 0x25 || c === 0x26 || c === 0x2b || c === 0x3b || c === 0x3f) {
      out += '%' + c.toString(16).toUpperCase().padStart(2, '0');
    } else out += s[i];
  }
  return out;
}

export interface RewriteRequestFlags {
  /** The request's path had a `%` escape (nginx's r->quoted_uri) or a `+` (r->plus_in_uri). */
  quotedOrPlus: boolean;
}

/**
 * Applies one rewrite rule to ctx.uri. On a match the captures are updated; the outcome says what to
 * do. The caller sets ctx.uri/ctx.args from a 'uri' outcome (this function does not mutate them).
 */
export function applyRewrite(rule: RewriteRule, ctx: VarContext, flags: RewriteRequestFlags = { quotedOrPlus: false }): RewriteOutcome {
  if (!regexMatch(rule.regex, ctx.uri, ctx)) return { kind: 'nomatch' };

  if (rule.redirectStatus) {
    // In a redirect every capture is escaped when the original URI was percent-encoded (e->quote),
    // then the part before `?` is unescaped again for printable bytes (NGX_UNESCAPE_REDIRECT).
    const filter = flags.quotedOrPlus ? escapeArgs : undefined;
    let location = unescapeRedirect(evaluate(rule.replacement, ctx, filter));
    if (rule.addArgs && ctx.args) location += (rule.hasArgs ? '&' : '?') + ctx.args;
    return { kind: 'redirect', status: rule.redirectStatus, location };
  }

  // Captures after the first `?` of the replacement are escaped (e->is_args) under the same condition.
  let out = '';
  let argsAt = -1;
  for (const p of rule.replacement.parts) {
    if (typeof p === 'string') {
      if (argsAt < 0) {
        const q = p.indexOf('?');
        if (q >= 0) argsAt = out.length + q;
      }
      out += p;
    } else if ('v' in p) {
      out += getVariable(ctx, p.v) ?? '';
    } else {
      const s = ctx.captures[p.cap] ?? '';
      out += argsAt >= 0 && flags.quotedOrPlus ? escapeArgs(s) : s;
    }
  }

  let uri: string;
  let args: string;
  if (argsAt >= 0) {
    uri = out.slice(0, argsAt);
    args = out.slice(argsAt + 1);
    if (rule.addArgs && ctx.args) args += '&' + ctx.args;
  } else {
    uri = out;
    args = rule.addArgs ? ctx.args : '';
  }
  if (uri === '') return { kind: 'error', status: 500, message: 'the rewritten URI has a zero length' };
  const flag = rule.flag === 'last' || rule.flag === 'break' ? rule.flag : null;
  return { kind: 'uri', uri, args, flag };
}

// ---- return ----

export interface ReturnDirective {
  code: number;
  /** URL or body text; absent for `return CODE;`. */
  text?: CompiledValue;
}

/** Builds a ReturnDirective from `return` arguments (ngx_http_rewrite_return). */
export function compileReturn(args: string[]): ReturnDirective {
  if (args.length === 1 && !/^\d+$/.test(args[0]!)) {
    const a = args[0]!;
    if (a.startsWith('http://') || a.startsWith('https://') || a.startsWith('$scheme')) {
      return { code: 302, text: compiled(a) };
    }
    throw new Error(`invalid return code "${a}"`);
  }
  const code = Number(args[0]);
  if (code > 999) throw new Error(`invalid return code "${args[0]}"`);
  return args.length > 1 ? { code, text: compiled(args[1]!) } : { code };
}

export type ReturnOutcome =
  /** 444: close the connection without a response. */
  | { kind: 'close' }
  /** A redirect page (special response) with this Location (made absolute later if it starts with /). */
  | { kind: 'redirect'; status: number; location: string }
  /** A body sent with default_type (HEAD drops it). */
  | { kind: 'text'; status: number; body: string }
  /** A status nginx finalizes with: its built-in page, or an error_page if one matches. */
  | { kind: 'status'; status: number };

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

/** Evaluates `return` for this request. */
export function evaluateReturn(ret: ReturnDirective, ctx: VarContext): ReturnOutcome {
  if (ret.code === 444) return { kind: 'close' };
  const text = ret.text ? evaluate(ret.text, ctx) : undefined;
  if (REDIRECT_CODES.has(ret.code)) return { kind: 'redirect', status: ret.code, location: text ?? '' };
  if (ret.code < 400 || text !== undefined) return { kind: 'text', status: ret.code, body: text ?? '' };
  return { kind: 'status', status: ret.code };
}
