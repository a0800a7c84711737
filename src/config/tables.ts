// http-level and main-level tables: main settings, upstream groups, limit zones, maps, log formats,
// and the TLS settings of a server.
import type { ConfNode } from '../nginx/types.ts';
import { parseNumber, parseSize, parseTime } from '../nginx/values.ts';
import { confError, fullPath, type ConvertContext } from './context.ts';
import { buildRegexIndex, compileRegex } from './regex.ts';
import { logTarget } from './settings.ts';
import { buildLeadingIndex, buildTrie } from './trie.ts';
import type { LimitConnZone, LimitReqZone, LogFormat, MainSettings, MapBlock, TlsSettings, UpstreamGroup, UpstreamServer } from './state.ts';

/** Debian's build: --pid-path=/run/nginx.pid --error-log-path=/var/log/nginx/error.log. */
export const DEFAULT_PID = '/run/nginx.pid';
export const DEFAULT_ERROR_LOG = '/var/log/nginx/error.log';

const lastOf = (nodes: readonly ConfNode[], name: string): ConfNode | undefined => nodes.filter((n) => n.directive === name).pop();

export function mainSettings(tree: readonly ConfNode[], prefix: string): MainSettings {
  const user = lastOf(tree, 'user');
  const wp = lastOf(tree, 'worker_processes');
  const pid = lastOf(tree, 'pid');
  const daemon = lastOf(tree, 'daemon');
  const master = lastOf(tree, 'master_process');
  const logs = tree.filter((n) => n.directive === 'error_log');
  const wc = lastOf(tree.find((n) => n.directive === 'events')?.block ?? [], 'worker_connections');
  let workerProcesses: MainSettings['workerProcesses'] = 1;
  if (wp) {
    const v = wp.args[0]!;
    if (v === 'auto') workerProcesses = 'auto';
    else {
      const n = parseNumber(v);
      if (n === undefined) throw confError(wp, `invalid value "${v}" in "worker_processes" directive`);
      workerProcesses = n;
    }
  }
  return {
    ...(user ? { user: user.args[1] === undefined ? { user: user.args[0]! } : { user: user.args[0]!, group: user.args[1] } } : {}),
    workerProcesses,
    pid: pid ? fullPath(prefix, pid.args[0]!) : DEFAULT_PID,
    daemon: daemon ? daemon.args[0]!.toLowerCase() === 'on' : true,
    masterProcess: master ? master.args[0]!.toLowerCase() === 'on' : true,
    errorLogs: logs.length ? logs.map((n) => logTarget(n, prefix)) : [{ path: DEFAULT_ERROR_LOG }],
    workerConnections: wc ? Number(wc.args[0]) : 512,
  };
}

export const COMBINED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

export function logFormats(http: readonly ConfNode[]): Map<string, LogFormat> {
  const formats = new Map<string, LogFormat>([['combined', { name: 'combined', escape: 'default', format: COMBINED_FORMAT }]]);
  for (const n of http.filter((x) => x.directive === 'log_format')) {
    const name = n.args[0]!;
    if (formats.has(name)) throw confError(n, `duplicate "log_format" name "${name}"`);
    let rest = n.args.slice(1);
    let escape: LogFormat['escape'] = 'default';
    if (rest[0]?.startsWith('escape=')) {
      const e = rest[0].slice(7);
      if (e !== 'default' && e !== 'json' && e !== 'none') throw confError(n, `unknown log format escaping "${e}"`);
      escape = e;
      rest = rest.slice(1);
    }
    // nginx concatenates the strings without separators.
    formats.set(name, { name, escape, format: rest.join('') });
  }
  return formats;
}

const MIN_ZONE_SIZE = 8 * 4096;

function zoneArg(n: ConfNode, arg: string): { name: string; size: number } {
  const spec = arg.slice(5);
  const colon = spec.lastIndexOf(':');
  if (colon <= 0) throw confError(n, `invalid zone size "${arg}"`);
  const size = parseSize(spec.slice(colon + 1));
  if (size === undefined) throw confError(n, `invalid zone size "${arg}"`);
  if (size < MIN_ZONE_SIZE) throw confError(n, `zone "${arg}" is too small`);
  return { name: spec.slice(0, colon), size };
}

export function limitZones(http: readonly ConfNode[]): { req: Map<string, LimitReqZone>; conn: Map<string, LimitConnZone> } {
  const req = new Map<string, LimitReqZone>();
  const conn = new Map<string, LimitConnZone>();
  for (const n of http) {
    if (n.directive !== 'limit_req_zone' && n.directive !== 'limit_conn_zone') continue;
    const key = n.args[0]!;
    let zone: { name: string; size: number } | undefined;
    let rate = 0;
    for (const a of n.args.slice(1)) {
      if (a.startsWith('zone=')) zone = zoneArg(n, a);
      else if (a.startsWith('rate=') && n.directive === 'limit_req_zone') {
        const m = /^(\d+)r\/([sm])$/.exec(a.slice(5));
        if (!m) throw confError(n, `invalid rate "${a}"`);
        rate = m[2] === 's' ? Number(m[1]) : Number(m[1]) / 60;
      } else if (a !== 'sync') throw confError(n, `invalid parameter "${a}"`);
    }
    if (!zone) throw confError(n, `"${n.directive}" must have "zone" parameter`);
    const where = { file: n.file, line: n.line };
    if (n.directive === 'limit_req_zone') {
      if (rate === 0) throw confError(n, `invalid rate "${n.args.join(' ')}"`);
      req.set(zone.name, { name: zone.name, key, size: zone.size, ratePerSecond: rate, ...where });
    } else conn.set(zone.name, { name: zone.name, key, size: zone.size, ...where });
  }
  return { req, conn };
}

export function upstreams(http: readonly ConfNode[]): Map<string, UpstreamGroup> {
  const groups = new Map<string, UpstreamGroup>();
  for (const u of http.filter((n) => n.directive === 'upstream')) {
    const name = u.args[0]!;
    if (groups.has(name)) throw confError(u, `duplicate upstream "${name}"`);
    const servers: UpstreamServer[] = [];
    let method: UpstreamGroup['method'] = { kind: 'round-robin' };
    let keepalive: number | undefined;
    let keepaliveTimeoutMs = 60_000;
    let keepaliveRequests = 1000;
    for (const n of u.block ?? []) {
      switch (n.directive) {
        case 'server': servers.push(upstreamServer(n)); break;
        case 'least_conn': method = { kind: 'least_conn' }; break;
        case 'ip_hash': method = { kind: 'ip_hash' }; break;
        case 'hash': method = { kind: 'hash', key: n.args[0]!, consistent: n.args[1] === 'consistent' }; break;
        case 'random': method = { kind: 'random', twoChoices: n.args[0] === 'two' }; break;
        case 'keepalive': keepalive = parseNumber(n.args[0]!); break;
        case 'keepalive_timeout': keepaliveTimeoutMs = parseTime(n.args[0]!, false) ?? keepaliveTimeoutMs; break;
        case 'keepalive_requests': keepaliveRequests = parseNumber(n.args[0]!) ?? keepaliveRequests; break;
      }
    }
    if (servers.length === 0) throw confError(u, 'no servers are inside upstream');
    groups.set(name, {
      name, servers, method, ...(keepalive === undefined ? {} : { keepalive }), keepaliveTimeoutMs, keepaliveRequests,
      implicit: false, file: u.file, line: u.line,
    });
  }
  return groups;
}

function upstreamServer(n: ConfNode): UpstreamServer {
  const s: UpstreamServer = {
    address: n.args[0]!, weight: 1, maxFails: 1, failTimeoutMs: 10_000, backup: false, down: false, maxConns: 0,
    file: n.file, line: n.line,
  };
  for (const a of n.args.slice(1)) {
    const [k, v = ''] = a.split('=', 2) as [string, string | undefined];
    const num = (): number => {
      const x = parseNumber(v);
      if (x === undefined) throw confError(n, `invalid parameter "${a}"`);
      return x;
    };
    switch (k) {
      case 'weight': s.weight = num(); if (s.weight === 0) throw confError(n, `invalid parameter "${a}"`); break;
      case 'max_fails': s.maxFails = num(); break;
      case 'max_conns': s.maxConns = num(); break;
      case 'fail_timeout': {
        const t = parseTime(v, true);
        if (t === undefined) throw confError(n, `invalid parameter "${a}"`);
        s.failTimeoutMs = t * 1000;
        break;
      }
      case 'backup': s.backup = true; break;
      case 'down': s.down = true; break;
      case 'resolve': case 'service': case 'route': case 'slow_start': break;
      default: throw confError(n, `invalid parameter "${a}"`);
    }
  }
  return s;
}

export function maps(http: readonly ConfNode[]): MapBlock[] {
  return http.filter((n) => n.directive === 'map').map((m) => {
    const variable = m.args[1]!;
    if (!variable.startsWith('$')) throw confError(m, `invalid variable name "${variable}"`);
    const entries = m.block ?? [];
    const hostnames = entries.some((e) => e.directive === 'hostnames' && e.args.length === 0);
    const volatile = entries.some((e) => e.directive === 'volatile' && e.args.length === 0);
    let dflt: string | undefined;
    const exact = new Map<string, string>();
    const leading: MapBlock['leadingWildcards'][number][] = [];
    const trailing: MapBlock['trailingWildcards'][number][] = [];
    const regexes: MapBlock['regexes'][number][] = [];
    // ngx_hash_add_key's conflict sets: the exact hash (which `.x` also marks with "x", so `.x` and
    // `x` refuse each other), the leading-wildcard names (`*.x` and `.x` are both "x"), the trailing ones.
    const exactNames = new Set<string>();
    const leadNames = new Set<string>();
    const tailNames = new Set<string>();
    // nginx sets ctx->hostnames when it reads `hostnames;`: keys before it are plain exact keys.
    let wildcards = false;
    for (const e of entries) {
      if ((e.directive === 'hostnames' || e.directive === 'volatile') && e.args.length === 0) {
        if (e.directive === 'hostnames') wildcards = true;
        continue;
      }
      const value = e.args[0] ?? '';
      if (e.args.length !== 1) throw confError(e, `invalid number of the map parameters`);
      if (e.directive === 'default') {
        if (dflt !== undefined) throw confError(e, 'duplicate default map parameter');
        dflt = value;
        continue;
      }
      // `\` protects a key that would otherwise be special (\default, \~).
      const key = e.directive.startsWith('\\') ? e.directive.slice(1) : e.directive;
      if (!e.directive.startsWith('\\') && key.startsWith('~')) {
        const caseless = key.startsWith('~*');
        const src = key.slice(caseless ? 2 : 1);
        regexes.push({ source: key, regex: compileRegex(src, caseless, e), value });
        continue;
      }
      // Exact keys are case-insensitive: nginx lowercases both the key and the looked-up value
      // (in place, before it reports a conflict: the message shows the lowercased key).
      const low = key.toLowerCase();
      const conflict = () => confError(e, `conflicting parameter "${low}"`);
      let kind: 'exact' | 'leading' | 'trailing' = 'exact';
      if (wildcards) {
        // ngx_hash_add_key's NGX_HASH_WILDCARD_KEY checks, in its order; refused as written.
        const stars = key.split('*').length - 1;
        if (stars > 1 || key.includes('..') || key.includes('\0')) throw confError(e, `invalid hostname or wildcard "${key}"`);
        if (key.length > 1 && key.startsWith('.')) kind = 'leading';
        else if (key.length > 2 && key.startsWith('*.')) kind = 'leading';
        else if (key.length > 2 && key.endsWith('.*')) kind = 'trailing';
        else if (stars) throw confError(e, `invalid hostname or wildcard "${key}"`);
      }
      if (kind === 'leading') {
        const name = low.slice(low.startsWith('.') ? 1 : 2);
        if (low.startsWith('.')) {
          if (exactNames.has(name)) throw conflict();
          exactNames.add(name);
        }
        if (leadNames.has(name)) throw conflict();
        leadNames.add(name);
        leading.push({ suffix: low.replace(/^\*/, ''), matchesBare: low.startsWith('.'), value });
      } else if (kind === 'trailing') {
        const name = low.slice(0, -1);
        if (tailNames.has(name)) throw conflict();
        tailNames.add(name);
        trailing.push({ prefix: name, value });
      } else {
        if (exactNames.has(low)) throw conflict();
        exactNames.add(low);
        exact.set(low, value);
      }
    }
    // Longest first (stable: config order among equals), the order the scans and tries both resolve.
    const leadingWildcards = leading.sort((a, b) => b.suffix.length - a.suffix.length);
    const trailingWildcards = trailing.sort((a, b) => b.prefix.length - a.prefix.length);
    return {
      source: m.args[0]!, variable: variable.slice(1), hostnames, volatile, default: dflt ?? '', exact,
      leadingWildcards, trailingWildcards, regexes,
      // Per-state indexes so a lookup costs the value's length, not the number of entries.
      ...(leadingWildcards.length ? { leadingIndex: buildLeadingIndex(leadingWildcards) } : {}),
      ...(trailingWildcards.length ? { trailingIndex: buildTrie(trailingWildcards.map((w) => [w.prefix, w] as const)) } : {}),
      ...(regexes.length ? { regexIndex: buildRegexIndex(regexes.map((r) => r.regex)) } : {}),
      file: m.file, line: m.line,
    };
  });
}

/** The TLS settings of one level (http or server), merged over the parent's. */
export function tlsSettings(parent: TlsSettings, nodes: readonly ConfNode[], ctx: ConvertContext): TlsSettings {
  // Every directive read below is an ssl_* one: a block without any inherits everything.
  if (!nodes.some((n) => n.directive.startsWith('ssl_'))) return { ...parent };
  const last = (name: string) => lastOf(nodes, name);
  const t: TlsSettings = { ...parent };
  const conf = (p: string) => fullPath(ctx.paths.confPrefix, p);
  const certs = nodes.filter((n) => n.directive === 'ssl_certificate');
  const keys = nodes.filter((n) => n.directive === 'ssl_certificate_key');
  if (certs.length || keys.length) {
    t.certificates = certs.map((c, i) => ({ certificate: conf(c.args[0]!), key: keys[i] ? conf(keys[i]!.args[0]!) : '' }));
    const missing = certs.findIndex((_, i) => !keys[i]);
    if (missing >= 0) {
      throw confError(certs[missing]!, `no "ssl_certificate_key" is defined for certificate "${certs[missing]!.args[0]}"`);
    }
  }
  const p = last('ssl_protocols');
  if (p) t.protocols = p.args;
  const c = last('ssl_ciphers');
  if (c) t.ciphers = c.args[0]!;
  const psc = last('ssl_prefer_server_ciphers');
  if (psc) t.preferServerCiphers = psc.args[0]!.toLowerCase() === 'on';
  const sc = last('ssl_session_cache');
  if (sc) t.sessionCache = sc.args;
  const st = last('ssl_session_timeout');
  if (st) t.sessionTimeoutSec = parseTime(st.args[0]!, true) ?? t.sessionTimeoutSec;
  const stk = last('ssl_session_tickets');
  if (stk) t.sessionTickets = stk.args[0]!.toLowerCase() === 'on';
  // An array directive: a level's own list replaces the inherited one.
  const tkeys = nodes.filter((n) => n.directive === 'ssl_session_ticket_key');
  if (tkeys.length > 0) t.ticketKeyFiles = tkeys.map((n) => conf(n.args[0]!));
  const dh = last('ssl_dhparam');
  if (dh) t.dhparam = conf(dh.args[0]!);
  const rh = last('ssl_reject_handshake');
  if (rh) t.rejectHandshake = rh.args[0]!.toLowerCase() === 'on';
  const vc = last('ssl_verify_client');
  if (vc) {
    const mode = vc.args[0]!.toLowerCase();
    if (mode === 'off') delete t.verifyClient;
    else t.verifyClient = mode as TlsSettings['verifyClient'];
  }
  const vd = last('ssl_verify_depth');
  if (vd) t.verifyDepth = Number(vd.args[0]);
  const cc = last('ssl_client_certificate');
  if (cc) t.clientCertificate = conf(cc.args[0]!);
  const tc = last('ssl_trusted_certificate');
  if (tc) t.trustedCertificate = conf(tc.args[0]!);
  const crl = last('ssl_crl');
  if (crl) t.crl = conf(crl.args[0]!);
  const sp = last('ssl_stapling');
  if (sp) t.stapling = sp.args[0]!.toLowerCase() === 'on';
  return t;
}

/** nginx 1.22's defaults. */
export const TLS_DEFAULTS: TlsSettings = {
  certificates: [],
  protocols: ['TLSv1', 'TLSv1.1', 'TLSv1.2'], // TLSv1.3 joined the default in 1.23.4
  ciphers: 'HIGH:!aNULL:!MD5',
  preferServerCiphers: false,
  sessionTimeoutSec: 300,
  sessionTickets: true,
  stapling: false,
  verifyDepth: 1,
};
