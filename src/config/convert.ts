// The conversion: a parsed nginx configuration tree → one immutable RoutingState, plus warnings for
// everything not served exactly as nginx would. Throws ConfError where nginx refuses at config time.
import { hostname } from 'node:os';
import { ConfError, type ConfNode, type ConversionWarning, type LoadedConfig } from '../nginx/types.ts';
import { confError, type ConvertContext } from './context.ts';
import { buildLocations } from './locations.ts';
import { deepFreeze } from './freeze.ts';
import { effectsMark, effectsSince, type BuiltServer, type KeptLocations, type ServerReuse } from './reuse.ts';
import { buildServerTable, collectSockets, implicitListen, parseListen, parseServerNames } from './servers.ts';
import { buildConf, rootDefaults } from './settings.ts';
import type { ListenSocket, LocationConf, RoutingState, ServerConf, ServerTable, SplitClientsBlock, TlsCertificateEntry, TlsSettings } from './state.ts';
import { limitZones, logFormats, mainSettings, maps, TLS_DEFAULTS, tlsSettings, upstreams } from './tables.ts';
import { catalogueWarnings } from '../nginx/catalogue.ts';
import { readGeoBlock } from '../nginx/geo.ts';
import { splitClientsPercent } from '../nginx/catalogue.ts';

export type { RoutingState } from './state.ts';

export interface ConversionResult {
  state: RoutingState;
  warnings: ConversionWarning[];
}

export interface ConvertOptions {
  /** Whether the server runs as root: a server without `listen` gets *:80, else *:8000. */
  root?: boolean;
  /** false: the caller discards the warnings (a worker), so the catalogue's are not looked for. */
  warnings?: boolean;
  /**
   * false: the state is not frozen. The master's and `nginx -t`'s conversion only validates and
   * reads settings, and serves nothing: freezing it cost a sixth of the conversion. Workers, whose
   * state every request shares, keep the default.
   */
  freeze?: boolean;
  /**
   * What a reload converts again: server blocks unchanged since the last conversion with the same
   * ServerReuse are taken from it (the master's and each worker's own, across reloads).
   */
  reuse?: ServerReuse;
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** Builds the immutable RoutingState; throws ConfError (with file:line) where nginx would refuse. */
export function convert(loaded: LoadedConfig, options: ConvertOptions = {}): ConversionResult {
  const steps = conversionSteps(loaded, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * The same conversion, letting the event loop run between its steps (the http level, each location,
 * each server, each address's table): a worker reloading in place keeps answering its connections meanwhile, instead of
 * holding every request for the whole conversion (milliseconds: code that runs once per reload
 * is never optimized).
 */
export async function convertInSteps(loaded: LoadedConfig, options: ConvertOptions = {}): Promise<ConversionResult> {
  const steps = conversionSteps(loaded, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function* conversionSteps(loaded: LoadedConfig, options: ConvertOptions): Generator<void, ConversionResult> {
  const root = options.root ?? isRoot();
  const { tree, paths } = loaded;
  const https = tree.filter((n) => n.directive === 'http');
  const httpNode = https[0];
  // One hostname() (a system call) for all server blocks, not one each.
  const host = hostname();
  const reuse = options.reuse;
  // What a server's conversion reads besides its block: everything but the servers (reuse.ts).
  reuse?.begin([root, host, paths, tree.map((n) => (n === httpNode ? httpNode.block?.filter((x) => x.directive !== 'server') : n))]);
  // Unchanged server blocks are the last conversion's own nodes: already frozen, not walked again.
  const http = reuse ? reuse.share(httpNode?.block ?? []) : httpNode?.block ?? [];
  if (reuse) yield;

  const formats = logFormats(http);
  const groups = upstreams(http);
  const ctx: ConvertContext = {
    paths,
    warnings: [],
    upstreamNames: new Set(groups.keys()),
    logFormatNames: new Set(formats.keys()),
    zoneRefs: [],
    freeze: options.freeze !== false,
  };
  const main = mainSettings(tree, paths.prefix);
  const zones = limitZones(http);
  const mapBlocks = maps(http);
  // Read again (the parser did, and reported nginx's warnings then).
  const geos = http.filter((n) => n.directive === 'geo').map((g) => readGeoBlock(g, () => {}));
  yield;

  const httpConf = buildConf(rootDefaults(paths.prefix), http, { kind: 'http' }, ctx);
  const httpTls = tlsSettings(TLS_DEFAULTS, http, ctx);
  const mergeSlashesHttp = lastFlag(http, 'merge_slashes') ?? true;
  const ignoreInvalidHttp = lastFlag(http, 'ignore_invalid_headers') ?? true;
  const underscoresHttp = lastFlag(http, 'underscores_in_headers') ?? false;
  const maxHeadersHttp = lastNumber(http, 'max_headers') ?? 1000;
  yield;

  const built: BuiltServer[] = [];
  let taken = 0;
  for (const node of http) {
    if (node.directive !== 'server') continue;
    const again = reuse?.take(node, built.length, ctx);
    if (again) {
      built.push(again);
      // Taken servers cost microseconds each: a step per hundred.
      if (++taken % 100 === 0) yield;
      continue;
    }
    const mark = effectsMark(ctx);
    ctx.orderDependent = false;
    const block = node.block ?? [];
    const listenNodes = block.filter((n) => n.directive === 'listen');
    const listens = listenNodes.length
      ? listenNodes.map((n) => parseListen(n, ctx, root ? 80 : 8000))
      : [implicitListen(node, root, ctx)];
    const nameNodes = block.filter((n) => n.directive === 'server_name');
    const names = parseServerNames(nameNodes, host);
    const conf = buildConf(httpConf, block, { kind: 'server' }, ctx);
    // A changed server keeps its unchanged locations when its own directives are unchanged.
    const locations = reuse && { from: reuse.locationsFor(node), into: new Map() as KeptLocations };
    const { level, named } = yield* buildLocations(block, conf, undefined, ctx, locations);
    // Frozen now, in this server's step: the final freeze skips what is frozen already.
    if (ctx.freeze) {
      deepFreeze(conf);
      deepFreeze(level);
    }
    const server: ServerConf = {
      index: built.length,
      names,
      primaryName: names[0]!.name,
      listenKeys: [...new Set(listens.map((l) => l.key))],
      conf,
      locations: level,
      named,
      mergeSlashes: lastFlag(block, 'merge_slashes') ?? mergeSlashesHttp,
      ignoreInvalidHeaders: lastFlag(block, 'ignore_invalid_headers') ?? ignoreInvalidHttp,
      underscoresInHeaders: lastFlag(block, 'underscores_in_headers') ?? underscoresHttp,
      maxHeaders: lastNumber(block, 'max_headers') ?? maxHeadersHttp,
      file: node.file,
      line: node.line,
    };
    const b: BuiltServer = { server, listens, nameNodes, tls: tlsSettings(httpTls, block, ctx) };
    built.push(b);
    if (reuse && !ctx.orderDependent) reuse.keep(node, b, effectsSince(ctx, mark), locations!.into);
    yield;
  }

  const listens = collectSockets(built);
  const tables = new Map<string, ServerTable>();
  for (const socket of listens) {
    const here = built.filter((b) => b.listens.some((l) => l.key === socket.key));
    const dflt = here.find((b) => b.listens.some((l) => l.key === socket.key && l.defaultServer));
    const nameNodes = new Map(here.map((b) => [b.server, b.nameNodes]));
    tables.set(socket.key, buildServerTable(socket.key, here.map((b) => b.server), dflt?.server, ctx, nameNodes));
    yield;
  }

  // The deprecated `ssl on;` in an address's default server makes the whole address TLS.
  for (const socket of listens) {
    if (lastFlag(tables.get(socket.key)!.defaultServer.conf.directives, 'ssl') === true) socket.ssl = true;
  }
  // Every server on an ssl address has TLS settings, even if its own listen did not say ssl.
  const sslKeys = new Set(listens.filter((s) => s.ssl).map((s) => s.key));
  for (const b of built) {
    if (b.server.listenKeys.some((k) => sslKeys.has(k))) b.server.tls = b.tls;
  }
  checkDefaultCertificates(listens, tables);
  for (const ref of ctx.zoneRefs) {
    const known = ref.kind === 'req' ? zones.req.has(ref.zone) : zones.conn.has(ref.zone);
    // nginx reports an unknown zone when it sizes shared memory, without a file:line.
    if (!known) throw new ConfError(`zero size shared memory zone "${ref.zone}"`);
  }

  yield;
  const servers = built.map((b) => b.server);
  // The servers are complete only now (TLS settings above); frozen a hundred per step.
  for (let i = 0; ctx.freeze && i < servers.length; i++) {
    deepFreeze(servers[i]);
    if (i % 100 === 99) yield;
  }
  const tlsTable: TlsCertificateEntry[] = servers
    .filter((s): s is ServerConf & { tls: TlsSettings } => s.tls !== undefined)
    .map((s) => ({ server: s.index, names: s.names, listenKeys: s.listenKeys, tls: s.tls }));

  const state: RoutingState = {
    main,
    paths: { prefix: paths.prefix, confPrefix: paths.confPrefix, confFile: paths.confFile },
    listens,
    tables,
    servers,
    upstreams: groups,
    limitReqZones: zones.req,
    limitConnZones: zones.conn,
    maps: mapBlocks,
    geos,
    splitClients: splitClientsBlocks(http),
    logFormats: formats,
    tls: tlsTable,
    ...(httpNode ? { httpDirectives: http } : {}),
  };
  yield;
  // A worker's conversion logs nothing (the master has): it skips the walk that finds these.
  const warnings = [...(options.warnings === false ? [] : catalogueWarnings(tree)), ...ctx.warnings];
  options.reuse?.commit();
  return { state: ctx.freeze ? deepFreeze(state) : state, warnings };
}

function lastFlag(nodes: readonly ConfNode[], name: string): boolean | undefined {
  const n = nodes.filter((x) => x.directive === name).pop();
  return n ? n.args[0]!.toLowerCase() === 'on' : undefined;
}

function lastNumber(nodes: readonly ConfNode[], name: string): number | undefined {
  const n = nodes.filter((x) => x.directive === name).pop();
  return n ? Number(n.args[0]) : undefined;
}

/**
 * split_clients blocks: each part's bound is the running total of the shares, scaled to 2^32 as
 * ngx_http_split_clients does (the parser checked the percentages).
 */
function splitClientsBlocks(http: readonly ConfNode[]): SplitClientsBlock[] {
  return http.filter((n) => n.directive === 'split_clients').map((n) => {
    let last = 0;
    const parts = (n.block ?? []).map((e) => {
      if (e.directive === '*') return { upTo: 0, value: e.args[0] ?? '' };
      last += Math.floor(((splitClientsPercent(e.directive) ?? 0) * 0xffffffff) / 10000);
      return { upTo: last, value: e.args[0] ?? '' };
    });
    return { key: n.args[0]!, variable: n.args[1]!.slice(1), parts };
  });
}

/**
 * ngx_http_ssl_init: the default server of every ssl address needs a certificate (other servers
 * there may lack one); nginx names that server block's position.
 */
function checkDefaultCertificates(sockets: readonly ListenSocket[], tables: ReadonlyMap<string, ServerTable>): void {
  for (const socket of sockets) {
    if (!socket.ssl) continue;
    const server = tables.get(socket.key)!.defaultServer;
    // ssl_reject_handshake: the server refuses every handshake that picks it, and needs no certificate.
    if (server.tls?.rejectHandshake) continue;
    if (!server.tls || server.tls.certificates.length === 0) {
      throw confError(server, 'no "ssl_certificate" is defined for the "listen ... ssl" directive');
    }
  }
}

export type { LocationConf };
