// A reload converts again only the server blocks that changed. nginx's master parses the whole
// configuration and forks workers that inherit it; a bext worker (and the master, to check it) has to
// convert what it is sent, and a configuration of thousands of virtual hosts costs each of them
// hundreds of milliseconds of CPU per reload when the JIT is cold (that is, at every real reload),
// for what is usually one changed site. A server block whose text (file and line included) and
// surroundings (every statement outside the http{} servers, the hostname, the paths) are the same
// as at the last conversion converts to the same thing, so the last result is taken again.
//
// What a server's conversion reads besides its own block is in the context key. Its side effects on
// the conversion (warnings, limit zones it names) are recorded with it and replayed. A conversion that
// reads what earlier servers left behind (the first spelling of a charset name) is not kept.
//
// A changed server whose own directives (all but its locations) are unchanged takes its unchanged
// top-level locations (nested ones inside) the same way: what a location converts to depends on
// its block and on the server's and http's directives only.
import { createHash } from 'node:crypto';
import type { ConfNode } from '../nginx/types.ts';
import type { ConvertContext } from './context.ts';
import type { ListenSpec } from './servers.ts';
import type { Location, ServerConf, TlsSettings } from './state.ts';

/** One server block's conversion, as the server loop of conversionSteps builds it. */
export interface BuiltServer {
  server: ServerConf;
  listens: ListenSpec[];
  nameNodes: ConfNode[];
  tls: TlsSettings;
}

/** What converting a block added to the conversion besides its result, replayed when it is taken. */
export interface SideEffects {
  warnings: ConvertContext['warnings'];
  zoneRefs: ConvertContext['zoneRefs'];
}

/** Where the context's warnings and zone names stand, before a block is converted. */
export function effectsMark(ctx: ConvertContext): { warnings: number; zoneRefs: number } {
  return { warnings: ctx.warnings.length, zoneRefs: ctx.zoneRefs.length };
}

/** What converting a block added since `mark`. */
export function effectsSince(ctx: ConvertContext, mark: { warnings: number; zoneRefs: number }): SideEffects {
  return { warnings: ctx.warnings.slice(mark.warnings), zoneRefs: ctx.zoneRefs.slice(mark.zoneRefs) };
}

/** Replays what a kept block's conversion added. */
export function replayEffects(ctx: ConvertContext, kept: SideEffects): void {
  ctx.warnings.push(...kept.warnings);
  ctx.zoneRefs.push(...kept.zoneRefs);
}

/** A server's top-level location, as converted, by the file:line of its block. */
export interface KeptLocation extends SideEffects {
  node: ConfNode;
  loc: Location;
}

export type KeptLocations = Map<string, KeptLocation>;

interface Kept extends BuiltServer, SideEffects {
  /** The block it was converted from. */
  node: ConfNode;
  locations: KeptLocations;
}

const digest = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('base64');
export const placeOf = (node: ConfNode): string => `${node.file}:${node.line}`;

export function sameNode(a: ConfNode, b: ConfNode): boolean {
  if (a === b) return true;
  if (a.directive !== b.directive || a.line !== b.line || a.file !== b.file || a.args.length !== b.args.length) return false;
  for (let i = 0; i < a.args.length; i++) if (a.args[i] !== b.args[i]) return false;
  if (a.block === undefined || b.block === undefined) return a.block === b.block;
  if (a.block.length !== b.block.length) return false;
  for (let i = 0; i < a.block.length; i++) if (!sameNode(a.block[i]!, b.block[i]!)) return false;
  return true;
}

/** The same server block but for its locations. */
function sameShell(a: ConfNode, b: ConfNode): boolean {
  if (a.directive !== b.directive || a.line !== b.line || a.file !== b.file || a.args.length !== b.args.length) return false;
  const own = (n: ConfNode) => (n.block ?? []).filter((x) => x.directive !== 'location');
  const [x, y] = [own(a), own(b)];
  return x.length === y.length && x.every((n, i) => sameNode(n, y[i]!));
}

export class ServerReuse {
  private context: string | undefined;
  private kept = new Map<string, Kept>();
  private next = new Map<string, Kept>();
  private nextContext: string | undefined;
  /** The conversion under way has the last one's context: its servers may be taken. */
  private usable = false;

  /** Starts a conversion; what it keeps replaces the last one's only once it has succeeded (commit). */
  begin(context: unknown): void {
    this.nextContext = digest(context);
    this.usable = this.nextContext === this.context;
    this.next = new Map();
  }

  /** The http{} block with each unchanged server block replaced by the one last converted. */
  share(http: ConfNode[]): ConfNode[] {
    if (!this.usable || this.kept.size === 0) return http;
    return http.map((n) => {
      if (n.directive !== 'server') return n;
      const k = this.kept.get(placeOf(n));
      return k !== undefined && sameNode(k.node, n) ? k.node : n;
    });
  }

  /**
   * The last conversion of this block (the same statements, file and line, compared node by node:
   * cheaper than a digest of its text), now at position `index`, with its warnings and zone names
   * replayed into `ctx`; undefined if there is none.
   */
  take(node: ConfNode, index: number, ctx: ConvertContext): BuiltServer | undefined {
    const k = this.usable ? this.kept.get(placeOf(node)) : undefined;
    if (k === undefined || !sameNode(k.node, node)) return undefined;
    this.next.set(placeOf(node), k);
    replayEffects(ctx, k);
    // A new object: the index may differ, and `tls` is set again once the sockets are known. What it
    // holds (the frozen conf and locations) is shared.
    const s = k.server;
    const server: ServerConf = {
      index, names: s.names, primaryName: s.primaryName, listenKeys: s.listenKeys, conf: s.conf,
      locations: s.locations, named: s.named, mergeSlashes: s.mergeSlashes, ignoreInvalidHeaders: s.ignoreInvalidHeaders,
      underscoresInHeaders: s.underscoresInHeaders, maxHeaders: s.maxHeaders, file: s.file, line: s.line,
    };
    return { server, listens: k.listens, nameNodes: k.nameNodes, tls: k.tls };
  }

  /**
   * For a server block that changed: the last conversion's top-level locations at the same place,
   * if the server's own directives (all but its locations) are unchanged; else undefined.
   */
  locationsFor(node: ConfNode): KeptLocations | undefined {
    const k = this.usable ? this.kept.get(placeOf(node)) : undefined;
    return k !== undefined && sameShell(k.node, node) ? k.locations : undefined;
  }

  /**
   * Keeps a fresh conversion of `node`: `effects`, what it added to the context; `locations`, its
   * top-level ones.
   */
  keep(node: ConfNode, built: BuiltServer, effects: SideEffects, locations: KeptLocations): void {
    this.next.set(placeOf(node), {
      node, server: built.server, listens: built.listens, nameNodes: built.nameNodes, tls: built.tls,
      warnings: effects.warnings, zoneRefs: effects.zoneRefs, locations,
    });
  }

  commit(): void {
    this.context = this.nextContext;
    this.kept = this.next;
    this.next = new Map();
  }
}
