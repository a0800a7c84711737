// nginx's built-in responses (ngx_http_special_response.c, ngx_http_header_filter_module.c): status
// lines, the Server header, error/redirect page bodies byte for byte, and absolute Location building.

export const NGINX_VERSION = '1.22.1';
export const NGINX_VER = `nginx/${NGINX_VERSION}`;

/** The `Server:` header value for `server_tokens on|off` (`build` is treated as on). */
export function serverHeader(serverTokens: boolean): string {
  return serverTokens ? NGINX_VER : 'nginx';
}

// nginx's status line table: codes absent here get an empty reason ("HTTP/1.1 203 ").
const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Moved Temporarily', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Not Allowed', 406: 'Not Acceptable', 408: 'Request Time-out', 409: 'Conflict', 410: 'Gone',
  411: 'Length Required', 412: 'Precondition Failed', 413: 'Request Entity Too Large',
  414: 'Request-URI Too Large', 415: 'Unsupported Media Type', 416: 'Requested Range Not Satisfiable',
  421: 'Misdirected Request', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out', 505: 'HTTP Version Not Supported',
  507: 'Insufficient Storage',
};

/** The reason phrase nginx puts on the status line ('' when nginx sends none). */
export function statusReason(code: number): string {
  return REASONS[code] ?? '';
}

/** `HTTP/1.1 404 Not Found` (note nginx keeps the space before an empty reason). */
export function statusLine(code: number): string {
  return `HTTP/1.1 ${code} ${statusReason(code)}`;
}

// Page titles where they differ from the status line reason.
const PAGE_TITLES: Record<number, string> = {
  302: '302 Found',
  401: '401 Authorization Required',
  501: '501 Not Implemented',
  494: '400 Request Header Or Cookie Too Large',
  495: '400 The SSL certificate error',
  496: '400 No required SSL certificate was sent',
  497: '400 The plain HTTP request was sent to HTTPS port',
  498: '404 Not Found',
};
const PAGE_CODES = [301, 302, 303, 307, 308, 400, 401, 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413,
  414, 415, 416, 421, 429, 494, 495, 496, 497, 498, 500, 501, 502, 503, 504, 505, 507];

const CRLF = '\r\n';
const TAIL_FULL = `<hr><center>${NGINX_VER}</center>${CRLF}</body>${CRLF}</html>${CRLF}`;
const TAIL = `<hr><center>nginx</center>${CRLF}</body>${CRLF}</html>${CRLF}`;
const MSIE_PADDING = `<!-- a padding to disable MSIE and Chrome friendly error page -->${CRLF}`.repeat(6);

const PAGE_HEADS = new Map<number, string>();
for (const code of PAGE_CODES) {
  const title = PAGE_TITLES[code] ?? `${code} ${REASONS[code]}`;
  let head = `<html>${CRLF}<head><title>${title}</title></head>${CRLF}<body>${CRLF}`;
  if (code >= 494 && code <= 497) {
    head += `<center><h1>400 Bad Request</h1></center>${CRLF}<center>${title.slice(4)}</center>${CRLF}`;
  } else {
    head += `<center><h1>${title}</h1></center>${CRLF}`;
  }
  PAGE_HEADS.set(code, head);
}

/** Browser flags nginx derives from User-Agent (ngx_http_process_user_agent) that change responses. */
export interface BrowserFlags { msie: boolean; chrome: boolean }

export function detectBrowser(userAgent: string | undefined): BrowserFlags {
  if (!userAgent) return { msie: false, chrome: false };
  const i = userAgent.indexOf('MSIE ');
  let msie = i >= 0 && i + 7 < userAgent.length;
  const opera = userAgent.includes('Opera');
  if (opera) msie = false;
  const chrome = !msie && !opera && !userAgent.includes('Gecko/') && userAgent.includes('Chrome/');
  return { msie, chrome };
}

export interface SpecialResponseOptions {
  serverTokens: boolean;
  /** `msie_padding` (default on). */
  msiePadding?: boolean;
  browser?: BrowserFlags;
  /** HTTP version of the request times 1000 + minor, e.g. 1001; 0.9 requests get no padding. */
  httpVersion?: number;
}

/** What nginx sends for a status it generates itself (`return 404;`, errors): null = connection closed. */
export interface SpecialResponse {
  status: number;
  /** text/html when there is a page, else none. */
  contentType?: string;
  body: Buffer;
}

/** Codes nginx never answers: the connection is closed (444 "no response", 499, 408 timeout). */
export function closesWithoutResponse(code: number): boolean {
  return code === 444 || code === 499 || code === 408;
}

/**
 * The response nginx generates for `code` (ngx_http_special_response_handler). Returns null when nginx
 * closes the connection without answering. The caller still adds Server/Date/Location and drops the
 * body for HEAD.
 */
export function specialResponse(code: number, opts: SpecialResponseOptions): SpecialResponse | null {
  if (closesWithoutResponse(code)) return null;
  const status = code >= 494 && code <= 497 ? 400 : code;
  const head = PAGE_HEADS.get(code);
  if (head === undefined) return { status, body: Buffer.alloc(0) };
  let text = head + (opts.serverTokens ? TAIL_FULL : TAIL);
  const b = opts.browser;
  if ((opts.msiePadding ?? true) && b && (b.msie || b.chrome) && (opts.httpVersion ?? 1001) >= 1000 && code >= 400) {
    text += MSIE_PADDING;
  }
  return { status, contentType: 'text/html', body: Buffer.from(text, 'latin1') };
}

/** Whether `return CODE [text]` sends a body itself (ngx_http_rewrite_return): else it is a special response. */
export function isRedirectCode(code: number): boolean {
  return code === 301 || code === 302 || code === 303 || code === 307 || code === 308;
}

export interface RedirectContext {
  absoluteRedirect: boolean;
  serverNameInRedirect: boolean;
  portInRedirect: boolean;
  /** `https` when the connection is TLS. */
  scheme: 'http' | 'https';
  /** The validated Host (lowercased, no port, no trailing dot), '' when the request had none. */
  host: string;
  /** The server{}'s primary server_name. */
  serverName: string;
  /** The local address that accepted the connection (used when there is no Host). */
  localAddress: string;
  /** The local port that accepted the connection (not the Host header's port). */
  localPort: number;
}

/**
 * Makes a Location that starts with `/` absolute the way ngx_http_header_filter does: host from
 * server_name (server_name_in_redirect) or Host or the local address, port from the accepting socket
 * unless it is the scheme's default or port_in_redirect is off. Other values pass unchanged.
 */
export function absoluteLocation(location: string, ctx: RedirectContext): string {
  if (!ctx.absoluteRedirect || location.charCodeAt(0) !== 0x2f) return location;
  let host: string;
  if (ctx.serverNameInRedirect) host = ctx.serverName;
  else if (ctx.host) host = ctx.host;
  else host = ctx.localAddress;
  const defaultPort = ctx.scheme === 'https' ? 443 : 80;
  const port = ctx.portInRedirect && ctx.localPort !== defaultPort ? `:${ctx.localPort}` : '';
  return `${ctx.scheme}://${host}${port}${location}`;
}
