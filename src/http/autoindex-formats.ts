// autoindex_format: the HTML listing (static-dir.ts) and ngx_http_autoindex_module's json, jsonp and
// xml listings. Every format lists directories first, then names in byte order.
import { autoindexHtml, type AutoindexEntry, type AutoindexOptions } from './static-dir.ts';
import { httpDate } from './static.ts';

export type AutoindexFormat = 'html' | 'json' | 'xml' | 'jsonp';

function sorted(entries: readonly AutoindexEntry[]): AutoindexEntry[] {
  return [...entries].sort((a, b) => {
    if (a.dir !== b.dir) return a.dir ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

const JSON_SHORT: Record<number, string> = { 0x0a: 'n', 0x0d: 'r', 0x09: 't', 0x08: 'b', 0x0c: 'f' };

/** ngx_escape_json over a byte string. */
function escapeJson(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c || c === 0x22) out += '\\' + s[i];
    else if (c <= 0x1f) out += '\\' + (JSON_SHORT[c] ?? 'u00' + c.toString(16).padStart(2, '0'));
    else out += s[i];
  }
  return out;
}

/** ngx_escape_html: & < > " only. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

export function autoindexJson(entries: readonly AutoindexEntry[], callback?: string): string {
  let out = callback !== undefined ? `/* callback */\r\n${callback}(` : '';
  out += '[';
  const items = sorted(entries).map((e) => {
    const mtime = httpDate(Math.floor(e.mtimeMs / 1000) * 1000);
    const tail = e.dir ? `"directory", "mtime":"${mtime}"` : `"file", "mtime":"${mtime}", "size":${e.size}`;
    return `\r\n{ "name":"${escapeJson(e.name)}", "type":${tail} }`;
  });
  out += items.join(',') + '\r\n]';
  if (callback !== undefined) out += ');';
  return out;
}

export function autoindexXml(entries: readonly AutoindexEntry[]): string {
  let out = '<?xml version="1.0"?>\r\n<list>\r\n';
  for (const e of sorted(entries)) {
    const type = e.dir ? 'directory' : 'file';
    const mtime = new Date(Math.floor(e.mtimeMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    out += `<${type} mtime="${mtime}"${e.dir ? '' : ` size="${e.size}"`}>${escapeHtml(e.name)}</${type}>\r\n`;
  }
  return out + '</list>\r\n';
}

/** `callback` from the raw query string, as ngx_http_arg finds it (undecoded). */
function argValue(args: string, name: string): string | undefined {
  for (const part of args.split('&')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key.toLowerCase() === name) return eq < 0 ? '' : part.slice(eq + 1);
  }
  return undefined;
}

/** The listing in the configured format: its Content-Type and body, or a status (bad jsonp callback). */
export function autoindexListing(
  format: AutoindexFormat, args: string, uri: string, entries: AutoindexEntry[], opts: AutoindexOptions,
): { type: string; body: string } | { status: number } {
  switch (format) {
    case 'html':
      return { type: 'text/html', body: autoindexHtml(uri, entries, opts) };
    case 'xml':
      // The module sets the charset itself; the charset filter then leaves it alone.
      return { type: 'text/xml; charset=utf-8', body: autoindexXml(entries) };
    case 'json':
      return { type: 'application/json', body: autoindexJson(entries) };
    case 'jsonp': {
      const cb = argValue(args, 'callback');
      if (cb === undefined || cb === '') return { type: 'application/json', body: autoindexJson(entries) };
      if (cb.length > 128 || !/^[A-Za-z0-9_.]+$/.test(cb)) return { status: 400 };
      return { type: 'application/javascript', body: autoindexJson(entries, cb) };
    }
  }
}
