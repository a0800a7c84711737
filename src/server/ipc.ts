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
  /** Reload in place: same sockets, user and worker count; only the state changes. */
  | { type: 'swap'; config: WorkerConfig }
  | { type: 'reopen' }
  | { type: 'stop'; graceful: boolean; timeoutMs: number };

export type ToMaster =
  /** Sent once the worker listens for messages: anything sent before that would be lost. */
  | { type: 'waiting' }
  | { type: 'ready' }
  | { type: 'swapped' }
  | { type: 'failed'; lines: string[] }
  | { type: 'log'; entry: ErrorLogEntry };
