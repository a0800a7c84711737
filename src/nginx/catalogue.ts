// The directive catalogue: every directive bext knows, where nginx allows it, how many arguments it
// takes (nginx's NGX_CONF_* masks), the value checks nginx makes while reading, its duplicate rule,
// and what bext does with it: `served`, `ignored` (accepted, with the reason), or `unsupported`
// (accepted so the config still loads, and always warned about).
import { existsSync, readFileSync } from 'node:fs';
import { ConfError, type ConfNode, type ConfPaths } from './types.ts';
import { checkDirectiveValue } from './checks.ts';
import { MODULE_DIRECTIVES, TABLE } from './table.ts';
import { checkHttpVariables } from './variables.ts';
import { checkSslListens, checkSslMerge } from './ssl-checks.ts';
import { readGeoBlock } from './geo.ts';

/** Where a statement is: nginx's cmd_type of the enclosing block. */
export type Context =
  | 'main' | 'events' | 'http' | 'server' | 'location' | 'sif' | 'lif' | 'limit_except' | 'upstream'
  // blocks whose contents nginx hands to a custom handler instead of the directive table
  | 'map' | 'geo' | 'types' | 'split_clients' | 'charset_map'
  // stream{} / mail{}: known but not served; contents are only tokenised
  | 'opaque';

export type Status = 'served' | 'ignored' | 'unsupported';

export interface DirectiveInfo {
  status: Status;
  /** Why it is ignored or unsupported (absent for served). */
  reason?: string;
}

/** Argument count rule, after the directive name (nginx's TAKE/FLAG/1MORE/2MORE/ANY masks). */
export type Arity = { take: number[] } | 'flag' | '1more' | '2more' | 'any';

export interface DirectiveSpec {
  name: string;
  contexts: Context[];
  arity: Arity;
  /** For block directives: the context of the block's contents. */
  block?: Context;
  /** Value syntax (see checks.ts): slot kinds such as flag/size/msec, or a named custom check. */
  kind: string;
  status: Status;
  reason?: string;
}

/** One block level being parsed: the per-level state nginx keeps in its conf structures. */
export interface Level {
  context: Context;
  parent?: Level;
  /** The block's own directive node (absent for main). */
  node?: ConfNode;
  /** Slot key → first node that set it, for `"X" directive is duplicate`. */
  seen: Map<string, ConfNode>;
  /** For location blocks: the parsed location, for the nesting rules. */
  location?: LocationInfo;
  /** Extension → content type of this level's `types {}` blocks (all of them share one table). */
  mimeTypes?: Map<string, string>;
}

export interface LocationInfo {
  name: string;
  exact: boolean;
  regex: boolean;
  named: boolean;
  noname: boolean;
}

/** State shared by the whole parse (nginx's cycle and main confs). */
export interface ParseState {
  paths: ConfPaths;
  /** Module file names (`ngx_stream_module.so`) loaded by load_module: their directives become known. */
  loadedModules: Set<string>;
  logFormats?: Set<string>;
  upstreams?: Set<string>;
  /** Non-fatal messages nginx prints as `[warn]` while reading. */
  warnings?: ConfError[];
  /** Set once the http block has been read (load_module is then too late). */
  httpSeen?: boolean;
  eventsSeen?: boolean;
  /** Set once events{}/http{} has been read: load_module is then "specified too late". */
  modulesUsed?: boolean;
  /** Per literal listen address: whether a default_server and socket options were given. */
  listens?: Map<string, { defaultServer: boolean; options: boolean }>;
  /** limit_req_zone/limit_conn_zone name → the key it was declared with. */
  zoneKeys?: Map<string, string>;
  /** false in parseString: fragments need no events{} section. */
  requireEvents?: boolean;
  /** false in parseString: certificate files are not opened (fragments name files that do not exist). */
  loadCertificates?: boolean;
}

/** An error nginx finds after reading the files (so `-t` prints "syntax is ok" before it). */
export class PostParseError extends ConfError {}

export function newLevel(context: Context, parent?: Level, node?: ConfNode): Level {
  return { context, parent, node, seen: new Map() };
}

// ---------------------------------------------------------------------------------------------
// The table (table.ts) is compact text; here it becomes lookups by name.

const CONTEXT_LETTERS: Record<string, Context> = {
  M: 'main', E: 'events', H: 'http', S: 'server', L: 'location', s: 'sif', l: 'lif', X: 'limit_except', U: 'upstream',
};

function parseArity(text: string): { arity: Arity; block: boolean } {
  const block = text.startsWith('B');
  const rest = block ? text.slice(1) : text;
  let arity: Arity;
  if (rest === 'f') arity = 'flag';
  else if (rest === '+') arity = '1more';
  else if (rest === '++') arity = '2more';
  else if (rest === '*') arity = 'any';
  else arity = { take: [...rest].map(Number) };
  return { arity, block };
}

const BLOCK_CONTEXT: Record<string, Context> = {
  events: 'events', http: 'http', server: 'server', location: 'location', if: 'sif', limit_except: 'limit_except',
  upstream: 'upstream', map: 'map', geo: 'geo', types: 'types', split_clients: 'split_clients', charset_map: 'charset_map',
  stream: 'opaque', mail: 'opaque',
};

const STATUS: Record<string, Status> = { S: 'served', I: 'ignored', U: 'unsupported' };

function loadTable(): Map<string, DirectiveSpec[]> {
  const byName = new Map<string, DirectiveSpec[]>();
  for (const raw of TABLE.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('//')) continue;
    const [name, contexts, arityText, kind, status, ...reason] = line.split(/\s+/);
    const { arity, block } = parseArity(arityText);
    const spec: DirectiveSpec = {
      name,
      contexts: [...contexts].map((c) => CONTEXT_LETTERS[c]),
      arity,
      block: block ? BLOCK_CONTEXT[name] : undefined,
      kind,
      status: STATUS[status],
      reason: reason.length > 0 ? reason.join(' ') : undefined,
    };
    if (!spec.status || spec.contexts.some((c) => c === undefined) || (block && !spec.block)) {
      throw new Error(`bad catalogue line: ${line}`);
    }
    const list = byName.get(name) ?? [];
    list.push(spec);
    byName.set(name, list);
  }
  return byName;
}

const CATALOGUE = loadTable();

/** Directive name → the dynamic module file that provides it. */
const MODULE_OF = new Map(Object.entries(MODULE_DIRECTIVES).flatMap(([file, names]) => names.map((n) => [n, file] as const)));

/** True when load_module loaded a module bext has no directive list for (a third-party one). */
export function hasForeignModules(state: ParseState): boolean {
  return [...state.loadedModules].some((file) => !(file in MODULE_DIRECTIVES));
}

/** Every spec for a directive name (some names differ by context, e.g. `server`). */
export function directiveSpecs(name: string): readonly DirectiveSpec[] {
  return CATALOGUE.get(name) ?? [];
}

/** All known directive names. */
export function directiveNames(): string[] {
  return [...CATALOGUE.keys()];
}

/**
 * What bext does with a directive (in a given context when the status differs by context), for the
 * conversion's warnings. Undefined for names the catalogue does not know.
 */
export function directiveInfo(name: string, context?: Context): DirectiveInfo | undefined {
  const specs = directiveSpecs(name);
  const spec = (context && specs.find((s) => s.contexts.includes(context))) || specs[0];
  return spec ? { status: spec.status, reason: spec.reason } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Statement checks, in nginx's order (ngx_conf_handler).

export interface StatementOutcome {
  /** For block directives: the level of the block's contents. */
  child?: Level;
  /** For `include`: the (unresolved) name to include. */
  include?: string;
}

const FREE_FORM: ReadonlySet<Context> = new Set(['map', 'geo', 'types', 'split_clients', 'charset_map']);

/** Checks one statement where it stands; throws ConfError with nginx's text at the node's file:line. */
/** A statement's `fail`: nginx's message at the statement's file:line. */
function failAt(node: ConfNode): (message: string) => never {
  return (message) => {
    throw new ConfError(message, node.file, node.line);
  };
}

export function checkStatement(state: ParseState, level: Level, node: ConfNode, opensBlock: boolean): StatementOutcome {
  const fail = failAt(node);

  if (level.context === 'opaque') {
    return opensBlock ? { child: newLevel('opaque', level, node) } : {};
  }
  if (FREE_FORM.has(level.context)) {
    if (opensBlock) fail('unexpected "{"');
    return checkFreeFormEntry(state, level, node, fail);
  }

  const name = node.directive;
  let specs = directiveSpecs(name);
  const module = MODULE_OF.get(name);
  if (module !== undefined && !state.loadedModules.has(module)) specs = [];
  if (specs.length === 0) {
    // A third-party module's directives cannot be checked: accept them (they are warned about as
    // unknown to bext) rather than refuse a configuration nginx loads.
    if (hasForeignModules(state)) return opensBlock ? { child: newLevel('opaque', level, node) } : {};
    fail(`unknown directive "${name}"`);
  }

  const spec = specs.find((s) => s.contexts.includes(level.context));
  if (!spec) fail(`"${name}" directive is not allowed here`);
  const found = spec as DirectiveSpec;

  if (!found.block && opensBlock) fail(`directive "${name}" is not terminated by ";"`);
  if (found.block && !opensBlock) fail(`directive "${name}" has no opening "{"`);
  if (!arityOk(found.arity, node.args.length)) fail(`invalid number of arguments in "${name}" directive`);

  checkDirectiveValue(state, level, node, found.kind, fail);

  if (name === 'include') return { include: node.args[0] };
  if (found.block) {
    const childContext = found.block === 'sif' && level.context !== 'server' ? 'lif' : found.block;
    const child = newLevel(childContext, level, node);
    if (name === 'location') child.location = parseLocationInfo(node);
    if (name === 'if') child.location = { name: '', exact: false, regex: false, named: false, noname: true };
    return { child };
  }
  return {};
}

function arityOk(arity: Arity, n: number): boolean {
  if (arity === 'any') return true;
  if (arity === 'flag') return n === 1;
  if (arity === '1more') return n >= 1;
  if (arity === '2more') return n >= 2;
  return n <= 7 && arity.take.includes(n);
}

export function parseLocationInfo(node: ConfNode): LocationInfo {
  const [first, second] = node.args;
  const modifier = node.args.length === 2 ? first : '';
  const name = node.args.length === 2 ? second : first;
  if (node.args.length === 2) {
    return { name, exact: modifier === '=', regex: modifier === '~' || modifier === '~*', named: false, noname: false };
  }
  // One argument: nginx also accepts the modifier glued to the URI (`=/x`, `~\.php$`, `^~/x`).
  if (name.startsWith('=')) return { name: name.slice(1), exact: true, regex: false, named: false, noname: false };
  if (name.startsWith('^~')) return { name: name.slice(2), exact: false, regex: false, named: false, noname: false };
  if (name.startsWith('~*')) return { name: name.slice(2), exact: false, regex: true, named: false, noname: false };
  if (name.startsWith('~')) return { name: name.slice(1), exact: false, regex: true, named: false, noname: false };
  return { name, exact: false, regex: false, named: name.startsWith('@'), noname: false };
}

/** Entries of map/geo/types/split_clients/charset_map blocks, checked by those modules' handlers. */
function checkFreeFormEntry(state: ParseState, level: Level, node: ConfNode, fail: (m: string) => never): StatementOutcome {
  const words = [node.directive, ...node.args];
  switch (level.context) {
    case 'types':
      if (node.directive === 'include') {
        if (words.length !== 2) fail('invalid number of arguments in "include" directive');
        return { include: node.args[0] };
      }
      checkMimeTypes(state, level, node);
      return {};
    case 'map':
      if (words.length === 1 && (node.directive === 'hostnames' || node.directive === 'volatile')) return {};
      if (words.length !== 2) fail('invalid number of the map parameters');
      if (node.directive === 'include') return { include: node.args[0] };
      return {};
    case 'geo':
      if (words.length === 1 && (node.directive === 'ranges' || node.directive === 'proxy_recursive')) return {};
      if (words.length !== 2) fail('invalid number of the geo parameters');
      if (node.directive === 'include') return { include: node.args[0] };
      return {};
    case 'split_clients': {
      if (words.length !== 2) fail('invalid number of the split_clients parameters');
      const percent = node.directive;
      if (percent !== '*' && splitClientsPercent(percent) === undefined) fail(`invalid percent value "${percent}"`);
      return {};
    }
    default:
      if (words.length !== 2) fail('invalid parameters number');
      return {};
  }
}

/** ngx_http_core_type: a repeated extension (lowercased) takes the later type, with nginx's warning. */
function checkMimeTypes(state: ParseState, level: Level, node: ConfNode): void {
  const table = ((level.parent ?? level).mimeTypes ??= new Map());
  for (const arg of node.args) {
    const ext = arg.toLowerCase();
    const previous = table.get(ext);
    if (previous !== undefined) {
      const text = `duplicate extension "${ext}", content type: "${node.directive}", previous content type: "${previous}"`;
      (state.warnings ??= []).push(new ConfError(text, node.file, node.line, 'warn'));
    }
    table.set(ext, node.directive);
  }
}

/** ngx_atofp(…, 2) of a split_clients `N%` / `N.NN%` entry, in hundredths of a percent; 0 is invalid. */
export function splitClientsPercent(text: string): number | undefined {
  const m = /^([0-9]+)(?:\.([0-9]{0,2}))?%$/.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
  return value === 0 ? undefined : value;
}

/** Checks nginx makes when a block (or, with node undefined, the whole main context) is complete. */
export function finishBlock(state: ParseState, level: Level, node: ConfNode | undefined, file: string, line: number): void {
  if (level.context === 'http' && node?.block) {
    state.httpSeen = true;
    // In ngx_http_block's order: merge, locations, postconfiguration, variables.
    checkSslMerge(node.block, state.paths.confPrefix, state.loadCertificates !== false, { file, line }, (w) => (state.warnings ??= []).push(w));
    checkDuplicateLocations(node.block);
    checkSslListens(node.block);
    checkHttpVariables(node.block);
  }
  if (level.context === 'events') state.eventsSeen = true;
  // ngx_http_geo_block: its networks and ranges are read as the block is, with nginx's warnings.
  if (level.context === 'geo' && node) readGeoBlock(node, (n, text) => (state.warnings ??= []).push(new ConfError(text, n.file, n.line, 'warn')));
  if (level.context === 'split_clients' && node?.block) {
    // ngx_http_split_clients: checked once the block is read, at the line of its closing brace.
    let total = 0;
    for (const entry of node.block) {
      total = entry.directive === '*' ? 10_000 : total + (splitClientsPercent(entry.directive) ?? 0);
      if (total > 10_000) throw new ConfError('percent total is greater than 100%', file, line);
    }
  }
  if (level.context === 'main' && node === undefined && state.requireEvents !== false && !state.eventsSeen) {
    // ngx_event_init_conf logs this without a position, after "syntax is ok".
    throw new PostParseError('no "events" section in configuration');
  }
}

/**
 * nginx's ngx_http_init_locations: per server, locations sorted (exact before prefix, by name),
 * nested ones first, then `duplicate location "X"` at the later one's file:line.
 */
function checkDuplicateLocations(httpBlock: ConfNode[]): void {
  for (const server of httpBlock) {
    if (server.directive === 'server' && server.block) checkLocationList(server.block);
  }
}

function checkLocationList(block: ConfNode[]): void {
  // One pass: static locations (to sort), regex ones, named ones, each in configuration order.
  const sorted: { node: ConfNode; info: LocationInfo; i: number }[] = [];
  const regexes: ConfNode[] = [];
  const named: ConfNode[] = [];
  for (const node of block) {
    if (node.directive !== 'location' || !node.block) continue;
    const info = parseLocationInfo(node);
    if (info.regex) regexes.push(node);
    else if (info.named) named.push(node);
    else sorted.push({ node, info, i: sorted.length });
  }
  sorted.sort((a, b) => filenameCompare(a.info.name, b.info.name) || Number(b.info.exact) - Number(a.info.exact) || a.i - b.i);
  for (const l of sorted) checkLocationList(l.node.block!);
  for (const node of regexes) checkLocationList(node.block!);
  for (const node of named) checkLocationList(node.block!);
  for (let k = 1; k < sorted.length; k++) {
    const prev = sorted[k - 1];
    const cur = sorted[k];
    if (prev.info.name === cur.info.name && prev.info.exact === cur.info.exact) {
      throw new ConfError(`duplicate location "${cur.info.name}"`, cur.node.file, cur.node.line);
    }
  }
}

/** ngx_filename_cmp on Linux: byte order, with '/' sorting before every other byte. */
function filenameCompare(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i) === 0x2f ? 0 : a.charCodeAt(i);
    const cb = b.charCodeAt(i) === 0x2f ? 0 : b.charCodeAt(i);
    if (ca !== cb) return ca - cb;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------
// What the conversion needs from the catalogue.

/** A catalogue warning for every unsupported directive used in the tree. */
export function catalogueWarnings(tree: ConfNode[]): { file: string; line: number; directive: string; message: string }[] {
  const out: { file: string; line: number; directive: string; message: string }[] = [];
  const walk = (nodes: ConfNode[], context: Context): void => {
    for (const node of nodes) {
      const specs = directiveSpecs(node.directive);
      if (specs.length === 0) {
        // Only accepted because a third-party module was loaded (see checkStatement).
        out.push({
          file: node.file,
          line: node.line,
          directive: node.directive,
          message: `the "${node.directive}" directive is unknown to bext (from a loaded third-party module?), ignored`,
        });
        continue;
      }
      const spec = specs.find((s) => s.contexts.includes(context));
      if (spec?.status === 'unsupported') {
        out.push({
          file: node.file,
          line: node.line,
          directive: node.directive,
          message: `the "${node.directive}" directive is not supported by bext${spec.reason ? ` (${spec.reason})` : ''}, ignored`,
        });
      }
      if (node.block && spec?.block && spec.block !== 'opaque' && !FREE_FORM.has(spec.block)) {
        walk(node.block, spec.block === 'sif' && context !== 'server' ? 'lif' : spec.block);
      }
    }
  };
  walk(tree, 'main');
  return out;
}

// ---------------------------------------------------------------------------------------------
// System lookups nginx makes while reading (`user`), kept here so checks.ts stays pure.

export function systemUserExists(name: string): boolean {
  return passwdNames('/etc/passwd').has(name);
}

export function systemGroupExists(name: string): boolean {
  return passwdNames('/etc/group').has(name);
}

function passwdNames(file: string): Set<string> {
  if (!existsSync(file)) return new Set();
  return new Set(readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')[0]).filter(Boolean));
}
