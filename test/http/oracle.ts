// Test helpers: run the real nginx (the oracle) on a loopback port with a given http{} body, and
// send raw HTTP/1.x requests so URIs reach the server byte for byte.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX_BIN = '/usr/sbin/nginx';
export const haveNginx = existsSync(NGINX_BIN);

// Ports handed to servers that bind later (a config's listen) come from below the kernel's ephemeral
// range: a port from there, free when asked, could meanwhile become the local port of some client
// connection (any test's, this process's own) and the server's bind() would fail with EADDRINUSE.
const EPHEMERAL_LOW = (() => {
  try { return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768; } catch { return 32768; }
})();
const PORT_LOW = Math.max(1024, EPHEMERAL_LOW - 12000);
const given = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = PORT_LOW + Math.floor(Math.random() * (EPHEMERAL_LOW - PORT_LOW));
    // Tests in other processes pick from the same range: try the port, another one if it is taken.
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    // A config's ports must differ: this process never hands the same port out twice.
    if (free && !given.has(port)) {
      given.add(port);
      return port;
    }
  }
}

/**
 * A port on 127.0.0.1 that refuses connections and that no test can take: below 1024, where the
 * tests' servers (port 0, or freePort's range) never bind. A port from freePort() could be handed
 * to another test's server, running at the same time, before it is used as the dead one.
 * `nth` picks another one, for a second dead peer.
 */
export async function refusedPort(nth = 0): Promise<number> {
  let found = 0;
  for (let p = 1; p < 1024; p++) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(p, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', (e) => resolve((e as NodeJS.ErrnoException).code === 'ECONNREFUSED'));
    });
    if (refused && found++ === nth) return p;
  }
  throw new Error('no port below 1024 refuses connections');
}

export interface Oracle {
  port: number;
  prefix: string;
  stop(): Promise<void>;
}

/** Starts nginx in the foreground; `http` is the http{} body, `PORT` in it is replaced by the port. */
export async function startNginx(http: string, prefix = mkdtempSync(join(tmpdir(), 'bext-oracle-'))): Promise<Oracle> {
  const port = await freePort();
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const conf = [
    'daemon off;',
    'master_process off;',
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'logs', 'error.log')} info;`,
    'events { worker_connections 64; }',
    'http {',
    `  access_log ${join(prefix, 'logs', 'access.log')};`,
    `  client_body_temp_path ${join(prefix, 'tmp')};`,
    `  proxy_temp_path ${join(prefix, 'tmp')};`,
    `  fastcgi_temp_path ${join(prefix, 'tmp')};`,
    `  uwsgi_temp_path ${join(prefix, 'tmp')};`,
    `  scgi_temp_path ${join(prefix, 'tmp')};`,
    http.replaceAll('PORT', String(port)),
    '}',
  ].join('\n');
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', prefix + '/', '-c', join(prefix, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Wait until the port accepts connections.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 100) throw new Error(`nginx did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 30));
  }
  return {
    port,
    prefix,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  /** Header lines in order, as sent. */
  headerLines: string[];
  body: Buffer;
  raw: Buffer;
}

/** Sends one request (`Connection: close` is added) and parses the whole response. */
export async function rawRequest(port: number, head: string, body: Buffer | string = ''): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('end', () => {
      const raw = Buffer.concat(chunks);
      const sep = raw.indexOf('\r\n\r\n');
      const headText = raw.subarray(0, sep < 0 ? raw.length : sep).toString('latin1');
      const lines = headText.split('\r\n');
      const statusLine = lines[0] ?? '';
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({
        status: Number(statusLine.split(' ')[1]),
        statusLine,
        headers,
        headerLines: lines.slice(1),
        body: sep < 0 ? Buffer.alloc(0) : raw.subarray(sep + 4),
        raw,
      });
    });
    s.write(head.endsWith('\r\n\r\n') ? head : head + '\r\n\r\n', 'latin1');
    if (body.length) s.write(body);
  });
}

/** `GET <target> HTTP/1.0` with a Host header. */
export function get(port: number, target: string, extra: string[] = [], method = 'GET'): Promise<RawResponse> {
  return rawRequest(port, [`${method} ${target} HTTP/1.0`, 'Host: localhost', ...extra].join('\r\n'));
}
