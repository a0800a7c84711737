// Response header filters: add_header (ngx_http_headers_filter_module) and expires.
import type { Expires, HeaderSetting } from '../config/state.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';
import { httpDate } from './static.ts';

/** Statuses add_header and expires apply to without `always`. */
const HEADER_STATUSES = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

export function addHeaderApplies(status: number, always: boolean): boolean {
  return always || HEADER_STATUSES.has(status);
}

/** add_header lines for this response: values expanded, empty values skipped. */
export function addHeaders(settings: readonly HeaderSetting[], status: number, ctx: VarContext): [string, string][] {
  const out: [string, string][] = [];
  for (const h of settings) {
    if (!addHeaderApplies(status, h.always)) continue;
    const v = evaluate(compiled(h.value), ctx);
    if (v !== '') out.push([h.name, v]);
  }
  return out;
}

const MAX_EXPIRES = 'Thu, 31 Dec 2037 23:55:55 GMT';

/** `expires` headers (Expires + Cache-Control) or none; `lastModifiedSec` for `modified`. */
export function expiresHeaders(exp: Expires | undefined, status: number, nowMs: number, lastModifiedSec?: number): [string, string][] {
  if (!exp || exp.kind === 'off' || exp.kind === 'variable' || !HEADER_STATUSES.has(status)) return [];
  if (exp.kind === 'epoch') return [['Expires', 'Thu, 01 Jan 1970 00:00:01 GMT'], ['Cache-Control', 'no-cache']];
  if (exp.kind === 'max') return [['Expires', MAX_EXPIRES], ['Cache-Control', 'max-age=315360000']];
  const seconds = exp.seconds ?? 0;
  const nowSec = Math.floor(nowMs / 1000);
  let expiresSec: number;
  if (exp.daily) {
    const d = new Date(nowSec * 1000);
    const midnight = Math.floor(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) / 1000);
    expiresSec = midnight + seconds;
    if (expiresSec <= nowSec) expiresSec += 86400;
  } else if (exp.modified && lastModifiedSec !== undefined) {
    expiresSec = lastModifiedSec + seconds;
  } else {
    expiresSec = nowSec + seconds;
  }
  const maxAge = expiresSec - nowSec;
  const cc = maxAge < 0 || (seconds < 0 && !exp.daily) ? 'no-cache' : `max-age=${maxAge}`;
  return [['Expires', httpDate(expiresSec * 1000)], ['Cache-Control', cc]];
}
