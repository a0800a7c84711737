// proxy_cookie_domain, proxy_cookie_path and proxy_cookie_flags: an upstream's Set-Cookie rewritten
// as ngx_http_proxy_rewrite_cookie does. The header is split into its attributes (spaces trimmed);
// the first rule that matches a domain (case-insensitively, a leading dot kept) or a path (as a
// prefix) replaces it; regex rules (~, ~*) replace the whole value, with captures. The flags of
// the first rule whose cookie name matches are edited (secure, httponly, samesite=…, and their
// no… forms). Nothing matched: the header goes on untouched; else it is joined again with "; ".
import type { CookieFlagsRule, CookieRewrite, CookieRule } from '../config/state.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';
import { regexMatch } from './rewrite.ts';

interface Attr {
  key: string | undefined;
  value: string | undefined;
}

/** ngx_http_proxy_parse_cookie: `name[=value]` parts between semicolons, spaces trimmed. */
function parseCookie(header: string): Attr[] {
  return header.split(';').map((part) => {
    const eq = part.indexOf('=');
    if (eq < 0) return { key: part.replace(/^ +| +$/g, ''), value: undefined };
    return { key: part.slice(0, eq).replace(/^ +| +$/g, ''), value: part.slice(eq + 1).replace(/^ +| +$/g, '') };
  });
}

function applyRules(value: string, rules: readonly CookieRule[], domain: boolean, ctx: VarContext): string | undefined {
  for (const rule of rules) {
    if (rule.pattern instanceof RegExp) {
      if (regexMatch(rule.pattern, value, ctx)) return evaluate(compiled(rule.replacement), ctx);
      continue;
    }
    const pattern = evaluate(compiled(rule.pattern), ctx);
    if (domain) {
      // ngx_http_proxy_rewrite_domain_handler: the whole domain, without a leading dot, which stays.
      const dot = value.startsWith('.') ? '.' : '';
      if (value.slice(dot.length).toLowerCase() === pattern.toLowerCase()) return dot + evaluate(compiled(rule.replacement), ctx);
    } else if (value.startsWith(pattern)) {
      return evaluate(compiled(rule.replacement), ctx) + value.slice(pattern.length);
    }
  }
  return undefined;
}

/** The Set-Cookie value to send, rewritten where a rule applies. */
export function rewriteSetCookie(header: string, rw: CookieRewrite, ctx: VarContext): string {
  const attrs = parseCookie(header);
  if (attrs[0]!.value === undefined) return header;
  let changed = false;
  for (let i = 1; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (a.value === undefined) continue;
    const key = a.key!.toLowerCase();
    const rules = key === 'domain' ? rw.domains : key === 'path' ? rw.paths : undefined;
    if (!rules) continue;
    const v = applyRules(a.value, rules, key === 'domain', ctx);
    if (v !== undefined) {
      a.value = v;
      changed = true;
    }
  }
  if (rw.flags && editFlags(attrs, rw.flags, ctx)) changed = true;
  if (!changed) return header;
  return attrs.filter((a) => a.key !== undefined).map((a) => (a.value === undefined ? a.key! : `${a.key}=${a.value}`)).join('; ');
}

/** ngx_http_proxy_rewrite_cookie_flags and _edit_cookie_flags. True when something changed. */
function editFlags(attrs: Attr[], rules: readonly CookieFlagsRule[], ctx: VarContext): boolean {
  const name = attrs[0]!.key!;
  const rule = rules.find((r) => (r.cookie instanceof RegExp ? regexMatch(r.cookie, name, ctx) : evaluate(compiled(r.cookie), ctx).toLowerCase() === name.toLowerCase()));
  if (!rule) return false;
  const flags = new Set(rule.flags.map((f) => evaluate(compiled(f), ctx).toLowerCase()).filter((f) => f !== ''));
  const want = {
    secure: flags.has('secure') ? true : flags.has('nosecure') ? false : undefined,
    httponly: flags.has('httponly') ? true : flags.has('nohttponly') ? false : undefined,
    samesite: flags.has('samesite=strict') ? 'Strict' : flags.has('samesite=lax') ? 'Lax' : flags.has('samesite=none') ? 'None' : flags.has('nosamesite') ? null : undefined,
  };
  if (want.secure === undefined && want.httponly === undefined && want.samesite === undefined) return false;
  let addSecure = want.secure === true;
  let addHttpOnly = want.httponly === true;
  let addSameSite = typeof want.samesite === 'string';
  for (let i = 1; i < attrs.length; i++) {
    const a = attrs[i]!;
    const key = a.key?.toLowerCase();
    if (key === 'secure') {
      if (want.secure === true) addSecure = false;
      else if (want.secure === false) a.key = undefined;
    } else if (key === 'httponly') {
      if (want.httponly === true) addHttpOnly = false;
      else if (want.httponly === false) a.key = undefined;
    } else if (key === 'samesite') {
      if (typeof want.samesite === 'string') {
        addSameSite = false;
        if (a.value?.toLowerCase() !== want.samesite.toLowerCase()) {
          a.key = 'SameSite';
          a.value = want.samesite;
        }
      } else if (want.samesite === null) a.key = undefined;
    }
  }
  if (addSecure) attrs.push({ key: 'Secure', value: undefined });
  if (addHttpOnly) attrs.push({ key: 'HttpOnly', value: undefined });
  if (addSameSite) attrs.push({ key: 'SameSite', value: want.samesite as string });
  return true;
}
