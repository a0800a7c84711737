// nginx's request-target parsing and URI normalisation (ngx_http_parse_complex_uri).
//
// Convention for the whole http/ layer: URIs are "byte strings" — one JS char per byte (latin1), the
// way node:http hands us `req.url`. A decoded `%C3%A9` is the two chars "\xC3\xA9", exactly the bytes
// nginx puts in $uri. Convert with Buffer.from(uri, 'latin1') before touching the filesystem.

export interface ParsedUri {
  /** The normalised, percent-decoded path ($uri). */
  uri: string;
  /** Everything after the first `?` up to a `#`, still encoded ($args); '' when none. */
  args: string;
  /** The target as received ($request_uri), host part of an absolute-form target removed. */
  rawUri: string;
  /** The host of an absolute-form target (`GET http://host/x`), which wins over Host. */
  host?: string;
  /** Whether the target contained a `?` (even an empty query). */
  hasQuery: boolean;
}

/** Thrown for targets nginx answers with 400 Bad Request. */
export class BadUriError extends Error {
  readonly status = 400;
  constructor(message: string) {
    super(message);
    this.name = 'BadUriError';
  }
}

const enum S { Usual, Slash, Dot, DotDot, Quoted, QuotedSecond }

const SLASH = 0x2f, DOT = 0x2e, PCT = 0x25, QM = 0x3f, HASH = 0x23;

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** True when the path needs the full state machine (what sets complex_uri/quoted_uri in nginx). */
function isComplex(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === PCT || c === HASH) return true;
    if (c === SLASH && i + 1 < path.length) {
      const n = path.charCodeAt(i + 1);
      if (n === SLASH || n === DOT) return true;
    }
  }
  return false;
}

interface Normalised { uri: string; args: string; hasQuery: boolean }

/**
 * Normalises an origin-form target `/path?args#frag`: percent-decoding, `//` merging, `/./` and `/../`
 * resolution. Throws BadUriError where nginx answers 400 (climbing above root, bad `%` escapes, `%00`).
 */
export function normaliseUri(target: string, mergeSlashes = true): Normalised {
  const q = target.indexOf('?');
  const pathPart = q < 0 ? target : target.slice(0, q);
  if (!isComplex(pathPart)) {
    if (q < 0) return { uri: target, args: '', hasQuery: false };
    let args = target.slice(q + 1);
    const h = args.indexOf('#');
    if (h >= 0) args = args.slice(0, h);
    return { uri: pathPart, args, hasQuery: true };
  }

  const out: number[] = [];
  const end = target.length;
  let state = S.Usual;
  let quotedState = S.Usual;
  let decoded = 0;
  let p = 0;
  let argsStart = -1;
  // `ch` is the character under consideration; `p` the index of the next one. A decoded escape is
  // re-dispatched in the state it interrupted, exactly like nginx (so %2F acts as a slash, %2E as a dot).
  let ch = target.charCodeAt(p++);

  const climb = (): void => {
    // out ends with "/.."; drop it and the previous segment, keeping that segment's leading slash.
    let u = out.length - 4;
    for (;;) {
      if (u < 0) throw new BadUriError('URI climbs above root');
      if (out[u] === SLASH) { u++; break; }
      u--;
    }
    out.length = u;
  };

  loop: while (p <= end) {
    switch (state) {
      case S.Usual:
        switch (ch) {
          case SLASH: state = S.Slash; out.push(ch); break;
          case PCT: quotedState = state; state = S.Quoted; break;
          case QM: argsStart = p; break loop;
          case HASH: break loop;
          default: out.push(ch);
        }
        ch = target.charCodeAt(p++);
        break;

      case S.Slash:
        switch (ch) {
          case SLASH: if (!mergeSlashes) out.push(ch); break;
          case DOT: state = S.Dot; out.push(ch); break;
          case PCT: quotedState = state; state = S.Quoted; break;
          case QM: argsStart = p; break loop;
          case HASH: break loop;
          default: state = S.Usual; out.push(ch);
        }
        ch = target.charCodeAt(p++);
        break;

      case S.Dot:
        switch (ch) {
          case SLASH: state = S.Slash; out.length--; break;
          case DOT: state = S.DotDot; out.push(ch); break;
          case PCT: quotedState = state; state = S.Quoted; break;
          case QM: out.length--; argsStart = p; state = S.Usual; break loop;
          case HASH: out.length--; state = S.Usual; break loop;
          default: state = S.Usual; out.push(ch);
        }
        ch = target.charCodeAt(p++);
        break;

      case S.DotDot:
        switch (ch) {
          case SLASH: case QM: case HASH:
            climb();
            state = S.Slash;
            if (ch === QM) { argsStart = p; state = S.Usual; break loop; }
            if (ch === HASH) { state = S.Usual; break loop; }
            break;
          case PCT: quotedState = state; state = S.Quoted; break;
          default: state = S.Usual; out.push(ch);
        }
        ch = target.charCodeAt(p++);
        break;

      case S.Quoted: {
        const v = hexVal(ch);
        if (v < 0) throw new BadUriError('bad percent escape');
        decoded = v;
        state = S.QuotedSecond;
        ch = target.charCodeAt(p++);
        break;
      }

      case S.QuotedSecond: {
        const v = hexVal(ch);
        if (v < 0) throw new BadUriError('bad percent escape');
        ch = (decoded << 4) + v;
        if (ch === 0) throw new BadUriError('encoded NUL');
        if (ch === PCT || ch === HASH || ch === QM) {
          // Decoded %, # and ? are plain data: never an escape, fragment or query start.
          state = S.Usual;
          out.push(ch);
          ch = target.charCodeAt(p++);
          break;
        }
        state = quotedState; // re-dispatch the decoded byte
        break;
      }
    }
  }

  if (argsStart < 0) {
    if (state === S.Quoted || state === S.QuotedSecond) throw new BadUriError('truncated percent escape');
    if (state === S.Dot) out.length--;
    else if (state === S.DotDot) climb();
  }

  let args = '';
  if (argsStart >= 0) {
    args = target.slice(argsStart);
    const h = args.indexOf('#');
    if (h >= 0) args = args.slice(0, h);
  }
  return { uri: bytesToString(out), args, hasQuery: argsStart >= 0 };
}

function bytesToString(bytes: number[]): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.slice(i, i + 8192));
  return s;
}

const ABSOLUTE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(\[[^\]\/]*\]|[a-zA-Z0-9.-]*)(?::([0-9]*))?(?=[/?]|$)/;

/**
 * Parses a request-target as nginx does: origin-form or absolute-form (`http://host[:port]/path`,
 * whose host is returned). Throws BadUriError for what nginx rejects with 400.
 */
export function parseRequestTarget(target: string, mergeSlashes = true): ParsedUri {
  let host: string | undefined;
  let rest = target;
  if (target.charCodeAt(0) !== SLASH) {
    const m = ABSOLUTE.exec(target);
    if (!m) throw new BadUriError('invalid request target');
    host = m[2]!;
    rest = target.slice(m[0].length);
    if (rest === '') rest = '/';
  }
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) throw new BadUriError('control character in URI');
  }
  // `http://host?a` has an empty path: nginx uses "/" but keeps the raw "?a" as $request_uri.
  const n = normaliseUri(rest.charCodeAt(0) === QM ? '/' + rest : rest, mergeSlashes);
  return { uri: n.uri, args: n.args, rawUri: rest, hasQuery: n.hasQuery, ...(host !== undefined ? { host } : {}) };
}

/** The extension nginx derives from a URI for MIME lookup (ngx_http_set_exten): text after the last
 * `.` of the last segment, unless that dot starts the segment. */
export function uriExtension(uri: string): string {
  for (let i = uri.length - 1; i > 1; i--) {
    const c = uri.charCodeAt(i);
    if (c === DOT && uri.charCodeAt(i - 1) !== SLASH) return uri.slice(i + 1);
    if (c === SLASH) return '';
  }
  return '';
}

// NGX_ESCAPE_URI as of 1.22: space, `#`, `%`, `?` and the bytes RFC 3986 does not allow
// (`"` `<` `>` `\` `^` `` ` `` `{` `|` `}`, controls, DEL, 8-bit).
const ESCAPE_URI = [0xffffffff, 0xd000002d, 0x50000000, 0xb8000001];
// NGX_ESCAPE_URI_COMPONENT: everything but unreserved characters.
const ESCAPE_URI_COMPONENT = [0xffffffff, 0xfc009fff, 0x78000001, 0xb8000001];

/** ngx_escape_uri with one of its masks (a bit per byte 0x00..0x7f; 0x80 and up always escaped). */
export function escapeWith(mask: readonly number[], s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || (mask[c >> 5]! & (1 << (c & 31))) !== 0) out += '%' + c.toString(16).toUpperCase().padStart(2, '0');
    else out += s[i];
  }
  return out;
}

/** ngx_escape_uri(NGX_ESCAPE_URI): how nginx escapes a URI it puts in a Location (directory redirects). */
export function escapeUri(uri: string): string {
  return escapeWith(ESCAPE_URI, uri);
}

/** ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT): autoindex links, $ssl_client_escaped_cert. */
export function escapeUriComponent(s: string): string {
  return escapeWith(ESCAPE_URI_COMPONENT, s);
}
