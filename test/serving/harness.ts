// Differential serving harness: real nginx (the oracle) and bext-server run the SAME configuration
// text, each on its own free ports, and the same raw request goes to both. Responses are compared on
// the status line, the order of the header names, a fixed set of header values and the body, after
// the instance's own ports are mapped back to their placeholders (`Location: http://h:@P1@/x`).
import http2 from 'node:http2';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { freePort } from '../http/oracle.ts';

export const NGINX_BIN = '/usr/sbin/nginx';
export const haveNginx = existsSync(NGINX_BIN);
// import.meta.dirname needs Node 20.11; the project supports 18.19.
const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** The sources through tsx by default; BEXT_SERVING_BIN=dist/bext-server.js runs the built bundle. */
const BEXT_ENTRY = process.env.BEXT_SERVING_BIN
  ? [resolve(REPO, process.env.BEXT_SERVING_BIN)]
  : ['--import', 'tsx', join(REPO, 'src/server/main.ts')];

export { freePort };
/** How the tests start bext-server: node and its arguments before bext's own. */
export const BEXT_COMMAND = [process.execPath, ...BEXT_ENTRY];

export interface Instance {
  kind: 'nginx' | 'bext';
  prefix: string;
  /** Placeholder name (`P1`) → the port this instance listens on. */
  ports: Record<string, number>;
  errorLog(): string;
  /** The access log (combined format and $bytes_sent, at @PREFIX@/access.log). */
  accessLog(): string;
  stop(): Promise<void>;
}

/**
 * The whole nginx.conf around an http{} body: one worker, pid and logs in the instance's prefix.
 * `@PREFIX@` is the instance's own directory, `@Pn@` its ports, `@SITE@` the shared document tree.
 */
export function wrapConfig(httpBody: string, main = ''): string {
  return [
    'worker_processes 1;',
    'pid @PREFIX@/nginx.pid;',
    'error_log @PREFIX@/error.log info;',
    main,
    'events { worker_connections 256; }',
    'http {',
    // combined, then $bytes_sent (head and body). ($request_length is compared in connection.test.ts.)
    `  log_format compared '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $bytes_sent';`,
    '  access_log @PREFIX@/access.log compared;',
    '  client_body_temp_path @PREFIX@/tmp/body;',
    '  proxy_temp_path @PREFIX@/tmp/proxy;',
    '  fastcgi_temp_path @PREFIX@/tmp/fastcgi;',
    '  uwsgi_temp_path @PREFIX@/tmp/uwsgi;',
    '  scgi_temp_path @PREFIX@/tmp/scgi;',
    httpBody,
    '}',
    '',
  ].join('\n');
}

function substitute(text: string, prefix: string, site: string, ports: Record<string, number>): string {
  let out = text.replaceAll('@PREFIX@', prefix).replaceAll('@SITE@', site);
  for (const [name, port] of Object.entries(ports)) out = out.replaceAll(`@${name}@`, String(port));
  return out;
}

async function waitForPort(port: number, alive: () => string | undefined): Promise<void> {
  for (let i = 0; ; i++) {
    const dead = alive();
    if (dead !== undefined) throw new Error(dead);
    const ok = await new Promise<boolean>((res) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); res(true); });
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (i > 400) throw new Error(`port ${port} never opened`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts one instance on `confText` (a whole nginx.conf with placeholders). `files` are written
 * into the instance's prefix with the same substitutions (for included files that name ports).
 */
export async function startInstance(kind: 'nginx' | 'bext', confText: string, site: string, portNames: string[], files: Record<string, string> = {}): Promise<Instance> {
  const prefix = mkdtempSync(join(tmpdir(), `bext-serving-${kind}-`));
  chmodSync(prefix, 0o755);
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const ports: Record<string, number> = {};
  for (const name of portNames) ports[name] = await freePort();
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, substitute(confText, prefix, site, ports));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(prefix, name), substitute(text, prefix, site, ports), { mode: 0o644 });
  const args = ['-p', prefix + '/', '-c', conf, '-g', 'daemon off;'];
  const child: ChildProcess = kind === 'nginx'
    ? spawn(NGINX_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(process.execPath, [...BEXT_ENTRY, ...args], { stdio: ['ignore', 'ignore', 'pipe'], cwd: REPO });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(prefix, { recursive: true, force: true });
  };
  try {
    for (const p of Object.values(ports)) await waitForPort(p, () => (child.exitCode !== null ? `${kind} exited: ${stderr}` : undefined));
  } catch (err) {
    await stop();
    throw err;
  }
  const errorLog = () => { try { return readFileSync(join(prefix, 'error.log'), 'utf8'); } catch { return ''; } };
  const accessLog = () => { try { return readFileSync(join(prefix, 'access.log'), 'latin1'); } catch { return ''; } };
  return { kind, prefix, ports, errorLog, accessLog, stop };
}

export interface Pair {
  nginx: Instance;
  bext: Instance;
  site: string;
  stop(): Promise<void>;
}

/** Starts nginx and bext on the same config; `site` is shared (both only read it). */
export async function startPair(confText: string, site: string, portNames: string[], files: Record<string, string> = {}): Promise<Pair> {
  const nginx = await startInstance('nginx', confText, site, portNames, files);
  let bext: Instance;
  try {
    bext = await startInstance('bext', confText, site, portNames, files);
  } catch (err) {
    await nginx.stop();
    throw err;
  }
  return { nginx, bext, site, stop: async () => { await Promise.all([nginx.stop(), bext.stop()]); } };
}

// ---------------------------------------------------------------- raw client

export interface RawResponse {
  /** Undefined when the server closed without answering. */
  status?: number;
  statusLine?: string;
  headers: [string, string][];
  body: Buffer;
  /** The connection was closed by the server (not by us after a complete response). */
  closed: boolean;
  /** TLS only: the CN of the certificate the server presented. */
  certSubject?: string;
  /** Milliseconds until the response was complete or the connection closed. */
  elapsedMs: number;
}

export interface SendOptions {
  address?: string;
  tls?: { servername?: string };
  /** The request is HEAD (no body follows the headers). */
  head?: boolean;
  timeoutMs?: number;
  /** Written after `firstDelayMs`, for slow-client tests. */
  later?: { delayMs: number; data: Buffer | string };
  /** Keep reading after a complete response until the server closes (or timeout). */
  untilClose?: boolean;
}

/** Tries to cut one complete response out of `buf`; undefined if more bytes are needed. */
function parseResponse(buf: Buffer, head: boolean, eof: boolean): Omit<RawResponse, 'closed' | 'elapsedMs'> | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const statusLine = lines[0]!;
  const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1]);
  const headers: [string, string][] = lines.slice(1).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
  });
  const get = (n: string) => headers.find(([k]) => k === n)?.[1];
  const rest = buf.subarray(end + 4);
  const bodiless = head || status === 304 || status === 204 || (status >= 100 && status < 200);
  if (bodiless) return { status, statusLine, headers, body: Buffer.alloc(0) };
  if (get('transfer-encoding')?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const nl = rest.indexOf('\r\n', at);
      if (nl < 0) return undefined;
      const size = parseInt(rest.subarray(at, nl).toString('latin1'), 16);
      if (Number.isNaN(size)) return { status, statusLine, headers, body: Buffer.concat(parts) };
      if (size === 0) {
        if (rest.indexOf('\r\n', nl + 2) < 0) return undefined;
        return { status, statusLine, headers, body: Buffer.concat(parts) };
      }
      if (rest.length < nl + 2 + size + 2) return undefined;
      parts.push(rest.subarray(nl + 2, nl + 2 + size));
      at = nl + 2 + size + 2;
    }
  }
  const cl = get('content-length');
  if (cl !== undefined) {
    if (rest.length < Number(cl)) return eof ? { status, statusLine, headers, body: rest } : undefined;
    return { status, statusLine, headers, body: rest.subarray(0, Number(cl)) };
  }
  return eof ? { status, statusLine, headers, body: rest } : undefined;
}

/** Sends `request` byte for byte on a new connection and reads one response. */
export function send(port: number, request: Buffer | string, opts: SendOptions = {}): Promise<RawResponse> {
  const started = Date.now();
  return new Promise((resolvePromise) => {
    const chunks: Buffer[] = [];
    let done = false;
    let sock: Socket | TLSSocket;
    const finish = (eof: boolean) => {
      if (done) return;
      const buf = Buffer.concat(chunks);
      const parsed = parseResponse(buf, opts.head ?? false, eof);
      if (!parsed && !eof) return;
      if (parsed && !eof && opts.untilClose) return;
      done = true;
      clearTimeout(timer);
      if (later) clearTimeout(later);
      const certSubject = opts.tls ? (sock as TLSSocket).getPeerCertificate?.()?.subject?.CN : undefined;
      sock.destroy();
      const base = parsed ?? { headers: [], body: buf };
      resolvePromise({ ...base, closed: eof, elapsedMs: Date.now() - started, ...(certSubject !== undefined ? { certSubject: String(certSubject) } : {}) });
    };
    const onConnect = () => {
      sock.write(request);
      if (opts.later) later = setTimeout(() => { if (!done) sock.write(opts.later!.data); }, opts.later.delayMs);
    };
    let later: NodeJS.Timeout | undefined;
    if (opts.tls) {
      sock = tlsConnect({ port, host: opts.address ?? '127.0.0.1', rejectUnauthorized: false, ...(opts.tls.servername ? { servername: opts.tls.servername } : {}) }, onConnect);
    } else {
      sock = netConnect(port, opts.address ?? '127.0.0.1', onConnect);
    }
    const timer = setTimeout(() => finish(true), opts.timeoutMs ?? 5000);
    sock.on('data', (d: Buffer) => { chunks.push(d); finish(false); });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
  });
}

// ---------------------------------------------------------------- requests and comparison

export interface Case {
  name: string;
  /** Port placeholder the request goes to. */
  port: string;
  /** Method, target, headers; or `raw` for exact bytes (`@Pn@` placeholders are substituted). */
  method?: string;
  target?: string;
  headers?: [string, string][];
  /** Host header value; null for none. Defaults to `localhost`. */
  host?: string | null;
  body?: string;
  raw?: string;
  http10?: boolean;
  tls?: { servername?: string };
  /** Local address to connect to (default 127.0.0.1): servers on a specific address. */
  address?: string;
  /** Headers compared besides the standard set. */
  compare?: string[];
  /** Why this case is expected to differ (kept in the printed list; not compared). */
  differs?: string;
  timeoutMs?: number;
  /** Optional check on the nginx response, e.g. that a secret never shows. */
  check?: (r: RawResponse) => void;
}

/** Headers compared on every case (lowercase). Date and Server-independent. */
export const COMPARED_HEADERS = [
  'location', 'content-type', 'content-length', 'etag', 'last-modified', 'content-range', 'accept-ranges',
  'allow', 'www-authenticate', 'cache-control', 'expires', 'server', 'transfer-encoding',
];

export function requestBytes(c: Case, ports: Record<string, number>): string {
  const sub = (s: string) => Object.entries(ports).reduce((t, [n, p]) => t.replaceAll(`@${n}@`, String(p)), s);
  if (c.raw !== undefined) return sub(c.raw);
  const lines = [`${c.method ?? 'GET'} ${c.target ?? '/'} HTTP/1.${c.http10 ? 0 : 1}`];
  if (c.host !== null) lines.push(`Host: ${sub(c.host ?? 'localhost')}`);
  for (const [k, v] of c.headers ?? []) lines.push(`${k}: ${sub(v)}`);
  if (c.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(c.body)}`);
  lines.push('Connection: close');
  return lines.join('\r\n') + '\r\n\r\n' + (c.body ?? '');
}

export interface Normalized {
  /** Header names in the order sent (nginx's header filter order). */
  order?: string;
  status: number | string;
  /** The status line as sent (nginx's reason phrases, `HTTP/1.1 203 ` with its trailing space). */
  statusLine?: string;
  headers: Record<string, string>;
  body: string;
  cert?: string;
}

/** Ports back to placeholders, Expires relative to Date, only the compared headers. */
export function normalize(r: RawResponse, ports: Record<string, number>, extra: string[] = []): Normalized {
  const unport = (s: string) => Object.entries(ports).reduce((t, [n, p]) => t.replaceAll(String(p), `@${n}@`), s);
  const headers: Record<string, string> = {};
  const date = r.headers.find(([k]) => k === 'date')?.[1];
  for (const name of [...COMPARED_HEADERS, ...extra.map((e) => e.toLowerCase())]) {
    const values = r.headers.filter(([k]) => k === name).map(([, v]) => v);
    if (values.length === 0) continue;
    let v = values.join(' | ');
    if (name === 'expires' && date) {
      const delta = (Date.parse(v) - Date.parse(date)) / 1000;
      // Both sides read the clock at slightly different moments: round to a minute.
      v = Number.isNaN(delta) ? v : `Date${delta >= 0 ? '+' : ''}${Math.round(delta / 60)}min`;
    }
    if (name === 'cache-control') v = v.replace(/max-age=(\d+)/, (_, n) => `max-age~${Math.round(Number(n) / 60)}min`);
    headers[name] = unport(v);
  }
  const order = r.headers.map(([k]) => k).join(',');
  return {
    order,
    status: r.status ?? (r.closed ? 'closed' : 'timeout'),
    ...(r.statusLine !== undefined ? { statusLine: r.statusLine } : {}),
    headers,
    body: unport(r.body.toString('latin1')),
    ...(r.certSubject !== undefined ? { cert: r.certSubject } : {}),
  };
}

export interface Outcome {
  c: Case;
  nginx: Normalized;
  bext: Normalized;
  same: boolean;
  rawNginx: RawResponse;
  rawBext: RawResponse;
}

/** Runs one case against both instances. */
export async function runCase(pair: Pair, c: Case): Promise<Outcome> {
  const one = async (inst: Instance) => {
    const port = inst.ports[c.port];
    if (port === undefined) throw new Error(`unknown port ${c.port}`);
    const head = c.method === 'HEAD' || (c.raw !== undefined && c.raw.startsWith('HEAD '));
    const raw = await send(port, requestBytes(c, inst.ports), { head, ...(c.address ? { address: c.address } : {}), ...(c.tls ? { tls: c.tls } : {}), ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}) });
    return { raw, norm: normalize(raw, inst.ports, c.compare) };
  };
  const [n, b] = await Promise.all([one(pair.nginx), one(pair.bext)]);
  const same = JSON.stringify(n.norm) === JSON.stringify(b.norm);
  return { c, nginx: n.norm, bext: b.norm, same, rawNginx: n.raw, rawBext: b.raw };
}

/** Explains a difference in a few lines. */
export function describeDiff(o: Outcome): string {
  const cut = (s: string | undefined) => (s !== undefined && s.length > 160 ? `${s.slice(0, 100)}…(${s.length})…${s.slice(-40)}` : s);
  const lines = [`${o.c.name}: ${JSON.stringify(cut(o.c.raw ?? `${o.c.method ?? 'GET'} ${o.c.target ?? '/'} host=${o.c.host ?? 'localhost'}`))}`];
  if (o.nginx.status !== o.bext.status) lines.push(`  status nginx=${o.nginx.status} bext=${o.bext.status}`);
  else if (o.nginx.statusLine !== o.bext.statusLine) lines.push(`  status line nginx=${JSON.stringify(o.nginx.statusLine)} bext=${JSON.stringify(o.bext.statusLine)}`);
  if (o.nginx.order !== o.bext.order) lines.push(`  order nginx=${o.nginx.order}\n        bext=${o.bext.order}`);
  if (o.nginx.cert !== o.bext.cert) lines.push(`  cert nginx=${o.nginx.cert} bext=${o.bext.cert}`);
  const names = new Set([...Object.keys(o.nginx.headers), ...Object.keys(o.bext.headers)]);
  for (const k of names) if (o.nginx.headers[k] !== o.bext.headers[k]) lines.push(`  ${k}: nginx=${JSON.stringify(cut(o.nginx.headers[k]))} bext=${JSON.stringify(cut(o.bext.headers[k]))}`);
  if (o.nginx.body !== o.bext.body) lines.push(`  body nginx=${JSON.stringify(cut(o.nginx.body))}\n       bext=${JSON.stringify(cut(o.bext.body))}`);
  return lines.join('\n');
}

/**
 * Runs every case in order (a few at a time) and returns the outcomes. Cases marked `differs`
 * are run too; the caller lists them with their reasons.
 */
export async function runCases(pair: Pair, cases: Case[], concurrency = 4): Promise<Outcome[]> {
  const out: Outcome[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      out[i] = await runCase(pair, cases[i]!);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** Summarises a run: differences that are not declared, and the declared ones. */
export function report(label: string, outcomes: Outcome[]): { unexpected: string[]; declared: string[] } {
  const unexpected: string[] = [];
  const declared: string[] = [];
  for (const o of outcomes) {
    if (o.c.differs !== undefined) declared.push(`${o.c.name}: ${o.c.differs}${o.same ? ' (currently identical)' : ''}`);
    else if (!o.same) unexpected.push(describeDiff(o));
  }
  const same = outcomes.filter((o) => o.c.differs === undefined && o.same).length;
  process.stdout.write(`# ${label}: ${outcomes.length} cases, ${same} identical to nginx, ${declared.length} declared differences, ${unexpected.length} unexpected\n`);
  for (const d of declared) process.stdout.write(`#   differs on purpose: ${d}\n`);
  return { unexpected, declared };
}

/** A document tree both servers read; world-readable because nginx's workers run as nobody. */
export function makeSite(files: Record<string, string | Buffer>): string {
  const site = mkdtempSync(join(tmpdir(), 'bext-serving-site-'));
  chmodSync(site, 0o755);
  for (const [rel, content] of Object.entries(files)) {
    const p = join(site, rel);
    mkdirSync(join(p, '..'), { recursive: true, mode: 0o755 });
    if (rel.endsWith('/')) continue;
    writeFileSync(p, content, { mode: 0o644 });
  }
  return site;
}

/**
 * The error-log lines `pick` finds in bext's log and in nginx's, once bext's have caught up: its
 * workers' lines reach the file a moment after the response, nginx's before it.
 */
export async function errorLinesOf(pair: Pair, pick: (log: string, inst: Instance) => string[]): Promise<[string[], string[]]> {
  const theirs = pick(pair.nginx.errorLog(), pair.nginx);
  let ours = pick(pair.bext.errorLog(), pair.bext);
  for (let i = 0; i < 40 && ours.length < theirs.length; i++) {
    await new Promise((r) => setTimeout(r, 50));
    ours = pick(pair.bext.errorLog(), pair.bext);
  }
  return [ours, theirs];
}

/** Self-signed certificate for `cn` (with the name as a SAN), written into `dir`. */
export async function makeCert(dir: string, cn: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${cn}.crt`);
  const key = join(dir, `${cn}.key`);
  await new Promise<void>((res, rej) => {
    const p = spawn('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
      '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`], { stdio: 'ignore' });
    p.once('exit', (code) => (code === 0 ? res() : rej(new Error(`openssl exited ${code}`))));
  });
  chmodSync(key, 0o644);
  return { cert, key };
}

/** Everything the server sends on one connection until it closes (or `timeoutMs`). */
export function sendUntilClose(port: number, request: string, timeoutMs = 3000): Promise<{ bytes: Buffer; closed: boolean }> {
  return new Promise((resolvePromise) => {
    const chunks: Buffer[] = [];
    const sock = netConnect(port, '127.0.0.1', () => sock.write(request));
    const done = (closed: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolvePromise({ bytes: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('close', () => done(true));
    sock.on('error', () => undefined);
  });
}

/** Status lines and bodies of a keep-alive exchange, Date/port-free, for comparison. */
export function exchangeSummary(bytes: Buffer, ports: Record<string, number>): string[] {
  const text = bytes.toString('latin1');
  const unport = (s: string) => Object.entries(ports).reduce((t, [n, p]) => t.replaceAll(String(p), `@${n}@`), s);
  return unport(text).split('\r\n').filter((l) => !/^(Date|Last-Modified|ETag):/i.test(l));
}

/**
 * Both access logs, time stamps and ports neutralised, sorted (cases run concurrently): the lines
 * only one side wrote. Waits a moment for the last lines to land.
 */
export async function accessLogDiff(pair: Pair, declared: Case[] = []): Promise<{ onlyNginx: string[]; onlyBext: string[]; lines: number }> {
  await new Promise((r) => setTimeout(r, 300));
  // Lines of cases declared as differing are left out: their responses differ, so their sizes do.
  const skip = declared.filter((c) => c.differs !== undefined && c.raw === undefined)
    .map((c) => `"${c.method ?? 'GET'} ${c.target ?? '/'} HTTP/1.${c.http10 ? 0 : 1}"`);
  const norm = (inst: Instance) => {
    const unport = (t: string) => Object.entries(inst.ports).reduce((x, [n, p]) => x.replaceAll(String(p), `@${n}@`), t);
    return inst.accessLog().split('\n').filter((l) => l && !skip.some((k) => l.includes(k)))
      .map((l) => unport(l.replace(/\[[^\]]+\]/, '[time]'))).sort();
  };
  const n = norm(pair.nginx);
  const b = norm(pair.bext);
  const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
  const cn = count(n);
  const cb = count(b);
  const onlyNginx = [...cn].filter(([l, k]) => (cb.get(l) ?? 0) < k).map(([l]) => l);
  const onlyBext = [...cb].filter(([l, k]) => (cn.get(l) ?? 0) < k).map(([l]) => l);
  return { onlyNginx, onlyBext, lines: n.length };
}

/**
 * One HTTP/2 request, over TLS (certificate not checked) or, `plain`, cleartext with prior
 * knowledge: `STATUS BODY`. `body` makes it a POST.
 */
export async function h2Request(
  port: number, path: string, headers: Record<string, string | string[]>,
  opts: { plain?: boolean; servername?: string; authority?: string; body?: string } = {},
): Promise<string> {
  const client = opts.plain
    ? http2.connect(`http://127.0.0.1:${port}`)
    : http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, ...(opts.servername ? { servername: opts.servername } : {}) });
  try {
    return await new Promise<string>((resolve, reject) => {
      const req = client.request({
        ':path': path, ':authority': opts.authority ?? opts.servername ?? 'localhost',
        ...(opts.body !== undefined ? { ':method': 'POST' } : {}), ...headers,
      });
      let body = '';
      let status = 0;
      req.on('response', (h) => { status = Number(h[':status']); });
      req.setEncoding('latin1');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => resolve(`${status} ${body}`));
      req.on('error', reject);
      req.end(opts.body);
    });
  } finally {
    client.close();
  }
}
