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
import { createHash } from 'node:crypto';
import type { ConfNode } from '../nginx/types.ts';
import type { ConvertContext } from './context.ts';
import type { ListenSpec } from './servers.ts';
import type { ServerConf, TlsSettings } from './state.ts';

/** One server block's conversion, as the server loop of conversionSteps builds it. */
export interface BuiltServer {
  server: ServerConf;
  listens: ListenSpec[];
  nameNodes: ConfNode[];
  tls: TlsSettings;
}

interface Kept extends BuiltServer {
  /** The block it was converted from. */
  node: ConfNode;
  warnings: ConvertContext['warnings'];
  zoneRefs: ConvertContext['zoneRefs'];
}

const digest = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('base64');
const placeOf = (node: ConfNode): string => `${node.file}:${node.line}`;

function sameNode(a: ConfNode, b: ConfNode): boolean {
  if (a === b) return true;
  if (a.directive !== b.directive || a.line !== b.line || a.file !== b.file || a.args.length !== b.args.length) return false;
  for (let i = 0; i < a.args.length; i++) if (a.args[i] !== b.args[i]) return false;
  if (a.block === undefined || b.block === undefined) return a.block === b.block;
  if (a.block.length !== b.block.length) return false;
  for (let i = 0; i < a.block.length; i++) if (!sameNode(a.block[i]!, b.block[i]!)) return false;
  return true;
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
    ctx.warnings.push(...k.warnings);
    ctx.zoneRefs.push(...k.zoneRefs);
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

  /** Keeps a fresh conversion of `node`; `warnings`/`zoneRefs` are what it added to the context. */
  keep(node: ConfNode, built: BuiltServer, warnings: ConvertContext['warnings'], zoneRefs: ConvertContext['zoneRefs']): void {
    this.next.set(placeOf(node), { node, server: built.server, listens: built.listens, nameNodes: built.nameNodes, tls: built.tls, warnings, zoneRefs });
  }

  commit(): void {
    this.context = this.nextContext;
    this.kept = this.next;
    this.next = new Map();
  }
}
