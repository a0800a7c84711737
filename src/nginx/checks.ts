// The value checks nginx's directive handlers make while the configuration is read: slot setters
// (flag/size/time/number with their "is duplicate" rule) and the handlers of directives whose
// arguments have a syntax of their own (listen, location, if, return, error_page, access_log…).
// Each failure uses nginx's text; `fail` adds the file:line.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfError, type ConfNode } from './types.ts';
import type { Level, ParseState } from './catalogue.ts';
import { parseLocationInfo, systemGroupExists, systemUserExists } from './catalogue.ts';
import { parseFlag, parseNumber, parseOffset, parseSize, parseTime, parseUrl, upstreamUrl } from './values.ts';
import { parseIfCondition } from './if-condition.ts';
import { checkListen } from './listen.ts';
import { FIXED_VARIABLES } from './variables.ts';

type Fail = (message: string) => never;

const hasVariables = (s: string): boolean => s.includes('$');

// Module-level helpers rather than closures made per statement (300,000 of them in a big config).
function invalidValue(name: string, fail: Fail): never {
  return fail(`"${name}" directive invalid value`);
}

function duplicate(level: Level, node: ConfNode, fail: Fail): void {
  if (level.seen.has(node.directive)) fail(`"${node.directive}" directive is duplicate`);
  level.seen.set(node.directive, node);
}

/** Runs the check named by the catalogue's `kind` column for one statement. */
export function checkDirectiveValue(state: ParseState, level: Level, node: ConfNode, kind: string, fail: Fail): void {
  const name = node.directive;
  const a = node.args;

  if (kind.startsWith('enum:')) {
    duplicate(level, node, fail);
    if (!kind.slice(5).split('|').some((v) => v.toLowerCase() === a[0].toLowerCase())) fail(`invalid value "${a[0]}"`);
    return;
  }
  if (kind.startsWith('mask:')) {
    const allowed = kind.slice(5).split('|').map((v) => v.toLowerCase());
    for (const v of a) if (!allowed.includes(v.toLowerCase())) fail(`invalid value "${v}"`);
    return;
  }
  if (kind.startsWith('num:')) {
    duplicate(level, node, fail);
    const [lo, hi] = kind.slice(4).split('-').map(Number);
    const n = parseNumber(a[0]);
    if (n === undefined) fail(`"${name}" directive invalid number`);
    if ((n as number) < lo || (n as number) > hi) fail(`value must be between ${lo} and ${hi}`);
    return;
  }

  switch (kind) {
    case '-':
    case 'arr':
      return;
    case 'flag':
      duplicate(level, node, fail);
      if (parseFlag(a[0]) === undefined) fail(`invalid value "${a[0]}" in "${name}" directive, it must be "on" or "off"`);
      return;
    case 'str':
      duplicate(level, node, fail);
      return;
    case 'num':
      duplicate(level, node, fail);
      if (parseNumber(a[0]) === undefined) fail(`"${name}" directive invalid number`);
      return;
    case 'size':
      duplicate(level, node, fail);
      if (parseSize(a[0]) === undefined) invalidValue(name, fail);
      return;
    case 'off':
      duplicate(level, node, fail);
      if (parseOffset(a[0]) === undefined) invalidValue(name, fail);
      return;
    case 'msec':
      duplicate(level, node, fail);
      if (parseTime(a[0], false) === undefined) invalidValue(name, fail);
      return;
    case 'sec':
      duplicate(level, node, fail);
      if (parseTime(a[0], true) === undefined) invalidValue(name, fail);
      return;
    case 'path': {
      // ngx_conf_set_path_slot: levels of 1+ digits, 10 in all at most.
      duplicate(level, node, fail);
      const levels = a.slice(1).map((v) => (/^[0-9]+$/.test(v) ? Number(v) : 0));
      if (levels.some((l) => l === 0) || levels.reduce((x, y) => x + y, 0) > 10) invalidValue(name, fail);
      return;
    }
    case 'bufs': {
      duplicate(level, node, fail);
      const n = parseNumber(a[0]);
      const size = parseSize(a[1]);
      if (!n || !size) invalidValue(name, fail);
      return;
    }
    case 'limit_rate':
      duplicate(level, node, fail);
      if (!hasVariables(a[0]) && parseSize(a[0]) === undefined) invalidValue(name, fail);
      return;
    case 'events':
    case 'http':
      duplicate(level, node, fail);
      state.modulesUsed = true;
      return;
    case 'user':
      return checkUser(state, node, () => duplicate(level, node, fail), fail);
    case 'worker_processes':
      duplicate(level, node, fail);
      if (a[0] !== 'auto' && parseNumber(a[0]) === undefined) invalidValue(name, fail);
      return;
    case 'worker_connections':
      duplicate(level, node, fail);
      if (parseNumber(a[0]) === undefined) fail(`invalid number "${a[0]}"`);
      return;
    case 'use':
      duplicate(level, node, fail);
      if (!['epoll', 'poll', 'select'].includes(a[0])) fail(`invalid event type "${a[0]}"`);
      return;
    case 'error_log':
      return checkErrorLog(a, fail);
    case 'load_module':
      return checkLoadModule(state, a[0], fail);
    case 'listen':
      return checkListen(state, node, fail);
    case 'server_name':
      return checkServerName(state, node, fail);
    case 'location':
      return checkLocation(level, node, fail);
    case 'root':
    case 'alias':
      return checkRootAlias(level, node, fail);
    case 'internal':
      duplicate(level, node, fail);
      return;
    case 'resolver':
      duplicate(level, node, fail);
      return;
    case 'limit_except': {
      duplicate(level, node, fail);
      const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'OPTIONS', 'PROPFIND', 'PROPPATCH', 'LOCK', 'UNLOCK', 'PATCH'];
      for (const m of a) if (!methods.includes(m.toUpperCase())) fail(`invalid method "${m}"`);
      return;
    }
    case 'keepalive_timeout':
      duplicate(level, node, fail);
      if (parseTime(a[0], false) === undefined) invalidValue(name, fail);
      if (a.length === 2 && parseTime(a[1], true) === undefined) invalidValue(name, fail);
      return;
    case 'try_files': {
      duplicate(level, node, fail);
      const last = a[a.length - 1];
      if (last.startsWith('=')) {
        const code = parseNumber(last.slice(1));
        if (code === undefined || code > 999) fail(`invalid code "${last}"`);
      }
      return;
    }
    case 'rewrite':
      if (a.length === 3 && !['last', 'break', 'redirect', 'permanent'].includes(a[2])) fail(`invalid parameter "${a[2]}"`);
      return;
    case 'return':
      return checkReturn(a, fail);
    case 'set':
      if (!a[0].startsWith('$')) fail(`invalid variable name "${a[0]}"`);
      checkChangeableVariable(a[0].slice(1), fail);
      return;
    case 'if':
      return checkIfCondition(a, fail);
    case 'error_page':
      return checkErrorPage(a, fail);
    case 'pass':
      return checkPass(level, node, () => duplicate(level, node, fail), fail);
    case 'upstream_param': // ngx_http_upstream_param_set_slot
      if (a.length === 3 && a[2] !== 'if_not_empty') fail(`invalid parameter "${a[2]}"`);
      return;
    case 'log_format':
      return checkLogFormat(state, a, fail);
    case 'access_log':
      return checkAccessLog(state, a, fail);
    case 'access':
      return checkAccessRule(a[0], fail);
    case 'ssl':
      duplicate(level, node, fail);
      if (parseFlag(a[0]) === undefined) fail(`invalid value "${a[0]}" in "${name}" directive, it must be "on" or "off"`);
      warn(state, node, 'the "ssl" directive is deprecated, use the "listen ... ssl" directive instead');
      return;
    case 'ssl_session_cache':
      for (const v of a) {
        const size = sessionCacheSize(v);
        if (size === undefined) fail(`invalid session cache "${v}"`);
        // ngx_http_ssl_session_cache: a shared zone needs at least 8 pages.
        if ((size as number) >= 0 && (size as number) < 8 * 4096) fail(`session cache "${v}" is too small`);
      }
      return;
    case 'expires':
      return checkExpires(a, () => duplicate(level, node, fail), () => invalidValue(name, fail));
    case 'add_header':
      if (a.length === 3 && a[2] !== 'always') fail(`invalid parameter "${a[2]}"`);
      return;
    case 'map':
      if (!a[1].startsWith('$')) fail(`invalid variable name "${a[1]}"`);
      checkChangeableVariable(a[1].slice(1), fail);
      return;
    case 'upstream': {
      const upstreams = (state.upstreams ??= new Set());
      if (upstreams.has(a[0].toLowerCase())) fail(`duplicate upstream "${a[0]}"`);
      upstreams.add(a[0].toLowerCase());
      return;
    }
    case 'upstream_server':
      return checkUpstreamServer(a, fail);
    case 'limit_req_zone':
      checkLimitReqZone(node, fail);
      return checkZoneKey(state, node, fail);
    case 'limit_req':
      return checkLimitReq(node, fail);
    case 'limit_conn_zone':
      checkZoneParams(node, a.slice(1), fail);
      return checkZoneKey(state, node, fail);
    case 'limit_conn': {
      const n = parseNumber(a[1]);
      if (!n || n > 65535) fail(`invalid number of connections "${a[1]}"`);
      return;
    }
    default:
      throw new Error(`catalogue: no check named "${kind}" (for "${name}")`);
  }
}

function warn(state: ParseState, node: ConfNode, message: string): void {
  (state.warnings ??= []).push(new ConfError(message, node.file, node.line, 'warn'));
}

function checkUser(state: ParseState, node: ConfNode, duplicate: () => void, fail: Fail): void {
  duplicate();
  if (process.getuid?.() !== 0) {
    warn(state, node, 'the "user" directive makes sense only if the master process runs with super-user privileges, ignored');
    return;
  }
  const [user, group = user] = node.args;
  if (!systemUserExists(user)) fail(`getpwnam("${user}") failed`);
  if (!systemGroupExists(group)) fail(`getgrnam("${group}") failed`);
}

const LOG_LEVELS = ['stderr', 'emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'];
const DEBUG_LEVELS = ['debug_core', 'debug_alloc', 'debug_mutex', 'debug_event', 'debug_http', 'debug_mail', 'debug_stream'];

function checkErrorLog(a: string[], fail: Fail): void {
  for (const level of a.slice(1)) {
    if (!LOG_LEVELS.slice(1).includes(level) && !DEBUG_LEVELS.includes(level)) fail(`invalid log level "${level}"`);
  }
}

function checkLoadModule(state: ParseState, file: string, fail: Fail): void {
  if (state.modulesUsed) fail('"load_module" directive is specified too late');
  const path = file.startsWith('/') ? file : state.paths.prefix + file;
  if (!existsSync(path)) fail(`dlopen() "${path}" failed (${path}: cannot open shared object file: No such file or directory)`);
  state.loadedModules.add(path.slice(path.lastIndexOf('/') + 1));
}

function checkServerName(state: ParseState, node: ConfNode, fail: Fail): void {
  for (const name of node.args) {
    if ((name.startsWith('*') && (name.length < 3 || name[1] !== '.')) || (name.startsWith('.') && name.length < 2)) {
      fail(`server name "${name}" is invalid`);
    }
    if (name.includes('/')) warn(state, node, `server name "${name}" has suspicious symbols`);
  }
}

function checkLocation(level: Level, node: ConfNode, fail: Fail): void {
  if (node.args.length === 2 && !['=', '~', '~*', '^~'].includes(node.args[0])) {
    fail(`invalid location modifier "${node.args[0]}"`);
  }
  const child = parseLocationInfo(node);
  const parent = level.context === 'location' ? level.location : undefined;
  if (!parent) return;
  if (parent.exact) fail(`location "${child.name}" cannot be inside the exact location "${parent.name}"`);
  if (parent.named) fail(`location "${child.name}" cannot be inside the named location "${parent.name}"`);
  if (child.named) fail(`named location "${child.name}" can be on the server level only`);
  if (!child.regex && !child.name.startsWith(parent.name)) {
    fail(`location "${child.name}" is outside location "${parent.name}"`);
  }
}

function checkRootAlias(level: Level, node: ConfNode, fail: Fail): void {
  const name = node.directive;
  const earlier = level.seen.get('root|alias');
  if (earlier) {
    fail(earlier.directive === name
      ? `"${name}" directive is duplicate`
      : `"${name}" directive is duplicate, "${earlier.directive}" directive was specified earlier`);
  }
  level.seen.set('root|alias', node);
  if (name === 'alias' && level.location?.named) fail('the "alias" directive cannot be used inside the named location');
  const value = node.args[0];
  for (const variable of ['$document_root', '$realpath_root']) {
    if (value.includes(variable)) fail(`the ${variable} variable cannot be used in the "${name}" directive`);
  }
}

/** `set`/`map` onto a built-in variable that is not changeable: `the duplicate "NAME" variable`. */
function checkChangeableVariable(name: string, fail: Fail): void {
  if (FIXED_VARIABLES.has(name.toLowerCase())) fail(`the duplicate "${name}" variable`);
}

function checkReturn(a: string[], fail: Fail): void {
  const code = parseNumber(a[0]);
  if (code === undefined) {
    const redirect = /^(https?:\/\/|\$scheme)/.test(a[0]);
    if (a.length === 1 && redirect) return;
    fail(`invalid return code "${a[0]}"`);
  }
  if ((code as number) > 999) fail(`invalid return code "${a[0]}"`);
}

/** ngx_http_rewrite_if_condition's syntax checks. */
function checkIfCondition(args: string[], fail: Fail): void {
  const parsed = parseIfCondition(args);
  if ('error' in parsed) fail(parsed.error);
}

function checkErrorPage(a: string[], fail: Fail): void {
  const beforeUri = a[a.length - 2];
  let n = 1;
  if (beforeUri.startsWith('=')) {
    n = 2;
    if (beforeUri.length > 1 && parseNumber(beforeUri.slice(1)) === undefined) fail(`invalid value "${beforeUri}"`);
  }
  for (const codeText of a.slice(0, a.length - n)) {
    const code = parseNumber(codeText);
    if (code === undefined || code === 499) fail(`invalid value "${codeText}"`);
    if ((code as number) < 300 || (code as number) > 599) fail(`value "${codeText}" must be between 300 and 599`);
  }
}

function checkPass(level: Level, node: ConfNode, duplicate: () => void, fail: Fail): void {
  duplicate();
  const url = node.args[0];
  if (hasVariables(url)) return;
  if (node.directive === 'fastcgi_pass' || node.directive === 'uwsgi_pass' || node.directive === 'scgi_pass' || node.directive === 'memcached_pass') {
    // uwsgi_pass may name its scheme (uwsgi://; suwsgi:// is TLS, which bext does not speak).
    const address = node.directive === 'uwsgi_pass' ? url.replace(/^uwsgi:\/\//i, '') : url;
    const parsed = parseUrl(address);
    if ('error' in parsed) fail(`${parsed.error} in upstream "${address}"`);
    return;
  }
  if (node.directive !== 'proxy_pass') return;
  const target = upstreamUrl(url);
  if (target === undefined) return fail('invalid URL prefix');
  const parsed = parseUrl(target, { uriPart: true });
  if ('error' in parsed) return fail(`${parsed.error} in upstream "${target}"`);
  const hasUri = (parsed.uri ?? '') !== '';
  const location = level.location;
  const inSpecial = level.context === 'lif' || level.context === 'limit_except' || location?.regex || location?.named || location?.noname;
  if (hasUri && inSpecial) {
    fail('"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block');
  }
}

function checkLogFormat(state: ParseState, a: string[], fail: Fail): void {
  const formats = (state.logFormats ??= new Set(['combined']));
  if (formats.has(a[0])) fail(`duplicate "log_format" name "${a[0]}"`);
  formats.add(a[0]);
  if (a[1].startsWith('escape=')) {
    const escape = a[1].slice(7);
    if (!['default', 'json', 'none'].includes(escape)) fail(`unknown log format escaping "${escape}"`);
  }
}

function checkAccessLog(state: ParseState, a: string[], fail: Fail): void {
  if (a[0] === 'off') {
    if (a.length !== 1) fail(`invalid parameter "${a[1]}"`);
    return;
  }
  if (a.length >= 2) {
    const formats = state.logFormats ?? new Set(['combined']);
    if (!formats.has(a[1])) fail(`unknown log format "${a[1]}"`);
  }
  for (const p of a.slice(2)) {
    if (p.startsWith('buffer=')) {
      if (parseSize(p.slice(7)) === undefined) fail(`invalid buffer size "${p.slice(7)}"`);
    } else if (p.startsWith('flush=')) {
      if (parseTime(p.slice(6), false) === undefined) fail(`invalid flush time "${p.slice(6)}"`);
    } else if (p === 'gzip' || p.startsWith('gzip=') || p.startsWith('if=')) {
      continue;
    } else {
      fail(`invalid parameter "${p}"`);
    }
  }
}

function checkAccessRule(value: string, fail: Fail): void {
  if (value === 'all' || value === 'unix:') return;
  const slash = value.indexOf('/');
  const ip = slash < 0 ? value : value.slice(0, slash);
  const family = isIP(ip);
  if (family === 0) fail(`invalid parameter "${value}"`);
  if (slash >= 0) {
    const bits = parseNumber(value.slice(slash + 1));
    if (bits === undefined || bits > (family === 4 ? 32 : 128)) fail(`invalid parameter "${value}"`);
  }
}

/** An ssl_session_cache value: the shared zone's size, -1 for the other valid forms, undefined if invalid. */
function sessionCacheSize(v: string): number | undefined {
  if (v === 'off' || v === 'none' || v === 'builtin') return -1;
  if (v.startsWith('builtin:')) return parseNumber(v.slice(8)) === undefined ? undefined : -1;
  if (v.startsWith('shared:')) {
    const rest = v.slice(7);
    const colon = rest.lastIndexOf(':');
    if (colon <= 0) return undefined;
    return parseSize(rest.slice(colon + 1));
  }
  return undefined;
}

function checkExpires(a: string[], duplicate: () => void, invalidValue: () => never): void {
  duplicate();
  let value = a[0];
  if (a.length === 2) {
    if (a[0] !== 'modified') invalidValue();
    value = a[1];
  }
  if (['epoch', 'max', 'off'].includes(value) || hasVariables(value)) return;
  const time = value.startsWith('@') || value.startsWith('-') || value.startsWith('+') ? value.slice(1) : value;
  if (parseTime(time, true) === undefined) invalidValue();
}

function checkUpstreamServer(a: string[], fail: Fail): void {
  for (const p of a.slice(1)) {
    const [key, value] = p.includes('=') ? [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] : [p, undefined];
    const ok =
      (key === 'weight' && value !== undefined && (parseNumber(value) ?? 0) > 0) ||
      (key === 'max_fails' && value !== undefined && parseNumber(value) !== undefined) ||
      (key === 'max_conns' && value !== undefined && parseNumber(value) !== undefined) ||
      (key === 'fail_timeout' && value !== undefined && parseTime(value, true) !== undefined) ||
      ((key === 'backup' || key === 'down') && value === undefined);
    if (!ok) fail(`invalid parameter "${p}"`);
  }
}

function checkZoneParams(node: ConfNode, params: string[], fail: Fail): void {
  let zone = false;
  for (const p of params) {
    if (!p.startsWith('zone=')) fail(`invalid parameter "${p}"`);
    const spec = p.slice(5);
    const colon = spec.indexOf(':');
    if (colon < 0) fail(`invalid zone size "${p}"`);
    const size = parseSize(spec.slice(colon + 1));
    if (size === undefined) fail(`invalid zone size "${p}"`);
    if ((size as number) < 8 * 4096) fail(`zone "${p}" is too small`);
    zone = true;
  }
  if (!zone) fail(`"${node.directive}" must have "zone" parameter`);
}

/** A limit_req/limit_conn zone declared again must use the same key. */
function checkZoneKey(state: ParseState, node: ConfNode, fail: Fail): void {
  const zone = node.args.find((p) => p.startsWith('zone='))?.slice(5).split(':')[0] ?? '';
  const zones = (state.zoneKeys ??= new Map());
  const id = `${node.directive}:${zone}`;
  const key = zones.get(id);
  if (key !== undefined && key !== node.args[0]) fail(`${node.directive} "${zone}" is already bound to key "${key}"`);
  zones.set(id, node.args[0]);
}

function checkLimitReqZone(node: ConfNode, fail: Fail): void {
  const zoneParams: string[] = [];
  for (const p of node.args.slice(1)) {
    if (p.startsWith('zone=')) zoneParams.push(p);
    else if (p.startsWith('rate=')) {
      let body = p.slice(5);
      if (body.endsWith('r/s') || body.endsWith('r/m')) body = body.slice(0, -3);
      const rate = parseNumber(body);
      if (!rate) fail(`invalid rate "${p}"`);
    } else fail(`invalid parameter "${p}"`);
  }
  checkZoneParams(node, zoneParams, fail);
}

function checkLimitReq(node: ConfNode, fail: Fail): void {
  let zone = false;
  for (const p of node.args) {
    if (p.startsWith('zone=')) zone = true;
    else if (p.startsWith('burst=')) {
      if (!parseNumber(p.slice(6))) fail(`invalid burst value "${p}"`);
    } else if (p.startsWith('delay=')) {
      if (parseNumber(p.slice(6)) === undefined) fail(`invalid delay value "${p}"`);
    } else if (p !== 'nodelay') fail(`invalid parameter "${p}"`);
  }
  if (!zone) fail('"limit_req" must have "zone" parameter');
}
