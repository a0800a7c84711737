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
