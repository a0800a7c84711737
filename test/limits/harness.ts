// Runs bext's request pipeline on a loopback port with configuration text (the same http{} body the
// oracle gets, `PORT` replaced), counting connections for stub_status as a worker does.
import { createServer, type Server } from 'node:http';
import { conv, http } from '../config/helpers.ts';
import { freePort } from '../http/oracle.ts';
import { createRequestHandler, type PipelineOptions } from '../../src/http/pipeline.ts';
import { serveFastHttp1 } from '../../src/server/http1-connection.ts';
import { LogFiles, formatErrorLine, type ErrorLogEntry } from '../../src/http/access-log.ts';
import { LocalZoneClient, type ZoneClient } from '../../src/http/limit-zones.ts';
import { StubStatusCounters } from '../../src/http/stub-status.ts';
import { LogZoneClient, ZoneLogKeeper, type ZoneLogMessage } from '../../src/server/zone-log.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Ours {
  port: number;
  errors: ErrorLogEntry[];
  /** The error log as nginx would write it. */
  errorText(): string;
  stop(): Promise<void>;
}

export interface OursOptions {
  zones?: ZoneClient;
  counters?: StubStatusCounters;
  port?: number;
  /** The proxy_pass content handler, for configurations that proxy. */
  proxy?: PipelineOptions['proxy'];
}

export async function startOurs(httpBody: string, opts: OursOptions = {}): Promise<Ours> {
  const port = opts.port ?? (await freePort());
  const { state } = conv(http(httpBody.replaceAll('PORT', String(port))));
  const errors: ErrorLogEntry[] = [];
  const counters = opts.counters ?? new StubStatusCounters();
  const zones = opts.zones ?? new LocalZoneClient(undefined, counters);
  const logFiles = new LogFiles();
  const server: Server = createServer({ requireHostHeader: false });
  serveFastHttp1(server); // as listeners.ts serves HTTP/1
  counters.track(server);
  server.on('request', createRequestHandler(() => state, { logFiles, zones, errorLog: (e) => errors.push(e), ...(opts.proxy ? { proxy: opts.proxy } : {}) }));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    errors,
    errorText: () => errors.map((e) => formatErrorLine(e)).join(''),
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await logFiles.flushAll();
    },
  };
}

export interface ZoneLogRig {
  keeper: ZoneLogKeeper;
  /** A worker joined to the keeper; resolves once it has its snapshot. */
  worker(id: number, onError?: (e: Error) => void, fds?: number[], clock?: () => number): Promise<LogZoneClient>;
  close(): void;
}

/**
 * The shared limit_req log in one process: a ZoneLogKeeper (the master's side) on real files in a
 * temporary directory, and LogZoneClients (workers) joined to it by in-memory channels.
 */
export function zoneLogRig(rotateBytes?: number, onError?: (e: Error) => void): ZoneLogRig {
  const dir = mkdtempSync(join(tmpdir(), 'bext-zone-log-'));
  const keeper = new ZoneLogKeeper({ dir, rotateBytes, onError });
  const failed = keeper.open();
  if (failed) throw failed;
  return {
    keeper,
    async worker(id, onError, fds = keeper.fds, clock) {
      let deliver: (m: unknown) => void = () => {};
      let ready!: () => void;
      const started = new Promise<void>((r) => (ready = r));
      const client = new LogZoneClient(fds, id, new LocalZoneClient(), {
        // The keeper answers a snapshot request at once; deliver it after the constructor returns, as IPC would.
        send: (m: ZoneLogMessage) => keeper.handle(id, m, (reply) => setImmediate(() => {
          deliver(reply);
          ready();
        })),
        onMessage: (l) => (deliver = l),
      }, onError, clock);
      await started;
      return client;
    },
    close() {
      keeper.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
