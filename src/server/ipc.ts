// Messages between the master and its workers (node:cluster IPC, JSON-serialised).
import type { ConfPaths, ConfNode } from '../nginx/types.ts';
import type { ErrorLogEntry } from '../http/access-log.ts';

/** What a worker needs to build its own RoutingState without reading root-only files. */
export interface WorkerConfig {
  loaded: { tree: ConfNode[]; paths: ConfPaths };
  /** PEM text of every certificate and key, by absolute path (read by the master as root). */
  certificates: Record<string, string>;
  /**
   * Hex secret the TLS session ticket keys derive from: every worker of a generation has the same
   * keys, as nginx's workers share the SSL_CTX their master made (a ticket resumes on any worker).
   */
  ticketSecret: string;
  /** The `user` account the worker switches to; absent when the master is not root. */
  user?: { uid: number; gid: number };
  shutdownTimeoutMs: number;
}

export type ToWorker =
  | { type: 'start'; generation: number; config: WorkerConfig }
  /**
   * Reload in place: same sockets, user and worker count; only the state changes. The http block's
   * children follow in `parts` messages (swapMessages), so that no single message takes the worker's
   * loop long to parse.
   */
  | { type: 'swap'; config: WorkerConfig; parts: number }
  | { type: 'swap-part'; nodes: ConfNode[] }
  | { type: 'reopen' }
  | { type: 'stop'; graceful: boolean; timeoutMs: number };

export type ToMaster =
  /** Sent once the worker listens for messages: anything sent before that would be lost. */
  | { type: 'waiting' }
  | { type: 'ready' }
  | { type: 'swapped' }
  | { type: 'failed'; lines: string[] }
  | { type: 'log'; entry: ErrorLogEntry };

/** Statements per part (~40–60 KiB of JSON): parsed in well under a millisecond. */
const PART_NODES = 500;

/** A statement and everything in its block. */
function statements(n: ConfNode): number {
  let count = 1;
  if (n.block) for (const c of n.block) count += statements(c);
  return count;
}

/**
 * A swap as messages: the configuration with an empty http block, then that block's children in
 * parts. A 2,000-server configuration is ~1 MB of JSON, ~10 ms for a worker to parse in one piece.
 */
export function swapMessages(config: WorkerConfig): ToWorker[] {
  const tree = config.loaded.tree;
  const at = tree.findIndex((n) => n.directive === 'http' && n.block);
  const children = at < 0 ? [] : tree[at]!.block!;
  const parts: ConfNode[][] = [];
  let part: ConfNode[] = [];
  let count = 0;
  for (const n of children) {
    part.push(n);
    count += statements(n);
    if (count >= PART_NODES) {
      parts.push(part);
      part = [];
      count = 0;
    }
  }
  if (part.length) parts.push(part);
  const shell = at < 0 ? tree : tree.map((n, i) => (i === at ? { ...n, block: [] } : n));
  return [
    { type: 'swap', config: { ...config, loaded: { ...config.loaded, tree: shell } }, parts: parts.length },
    ...parts.map((nodes): ToWorker => ({ type: 'swap-part', nodes })),
  ];
}

/** The worker's side: the swap's configuration, whole once its last part has come. */
export class SwapAssembly {
  private config: WorkerConfig | undefined;
  private waiting = 0;
  private nodes: ConfNode[] = [];

  /** The configuration when it is complete, else undefined. */
  add(msg: Extract<ToWorker, { type: 'swap' | 'swap-part' }>): WorkerConfig | undefined {
    if (msg.type === 'swap') {
      this.config = msg.config;
      this.waiting = msg.parts;
      this.nodes = [];
    } else {
      for (const n of msg.nodes) this.nodes.push(n);
      this.waiting--;
    }
    if (this.waiting > 0 || !this.config) return undefined;
    const config = this.config;
    this.config = undefined;
    const http = config.loaded.tree.find((n) => n.directive === 'http' && n.block);
    if (http) http.block = this.nodes;
    return config;
  }
}
