// The proxy_pass content handler: picks peers of the upstream group as nginx does, sends the
// request over undici pools, retries per proxy_next_upstream, streams the response back through
// the pipeline's header writer, tunnels websockets, and answers 502/504 with nginx's log lines.
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ErrorLogEntry } from './access-log.ts';
import { logError, redirectContext, writeHead, type ContentOutcome, type RequestState } from './pipeline.ts';
import { absoluteLocation } from './responses.ts';
import { upstreamUri, proxyTarget, redirectRules, rewriteRedirect, rewriteRefresh } from './proxy-uri.ts';
import {
  directiveArgs, flagDirective, hiddenResponseHeaders, proxyVarContext, rawPairs, upstreamRequestHeaders, type ConfLevels,
} from './proxy-headers.ts';
import { GroupError, poolFor, selectorFor, UpstreamRegistry, type GroupRuntime } from './upstream-groups.ts';
import { freePeer, getPeer, startWalk, type Peer, type PeerWalk } from './upstream-peers.ts';
import { classifyUpstreamError, NEXT_STATUS, type Failure } from './proxy-errors.ts';
import { compiled, evaluate, formatMsec } from './variables.ts';

export interface ProxyHandlerOptions {
  errorLog?: (entry: ErrorLogEntry) => void;
}

/** The pipeline's proxy hook, plus close() to drop idle upstream connections at shutdown. */
export type ProxyHook = ((req: IncomingMessage, res: ServerResponse, r: RequestState) => Promise<ContentOutcome>) & { close(): Promise<void> };

/** Requests that arrived through the server's 'upgrade' event: their raw socket and early bytes. */
const upgrades = new WeakMap<IncomingMessage, { socket: Duplex; head: Buffer }>();

/**
 * The listener for http.Server's 'upgrade' event: runs the normal request handler on a response
 * bound to the raw socket, so a proxied location can tunnel it (websockets) and any other
 * location answers as usual and closes.
 */
export function createUpgradeListener(handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    upgrades.set(req, { socket, head });
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as import('node:net').Socket);
    res.on('finish', () => socket.end());
    socket.on('error', () => socket.destroy());
    handler(req, res);
  };
}

const NON_IDEMPOTENT = new Set(['POST', 'LOCK', 'PATCH']);

/** Per-request record behind $upstream_addr / $upstream_status / $upstream_response_time. */
interface Tries { addr: string[]; status: string[]; time: string[]; connect: string[]; header: string[] }

function publish(r: RequestState, t: Tries): void {
  const v = r.ctx.userVars;
  v.set('upstream_addr', t.addr.join(', '));
  v.set('upstream_status', t.status.join(', '));
  v.set('upstream_response_time', t.time.join(', '));
  v.set('upstream_connect_time', t.connect.join(', '));
  v.set('upstream_header_time', t.header.join(', '));
}

/** What one attempt on one peer came to. */
type Attempt =
  | { kind: 'done' }
  | { kind: 'failed'; failure: Failure }
  | { kind: 'intercept'; status: number }
  | { kind: 'accel'; target: string };

/** Builds the pipeline's proxy hook; per-group state (peers, pools) lives as long as its RoutingState. */
export function createProxyHandler(opts: ProxyHandlerOptions = {}): ProxyHook {
  const registry = new UpstreamRegistry();
  const hook = async (req: IncomingMessage, res: ServerResponse, r: RequestState): Promise<ContentOutcome> => {
    const conf = r.conf;
    const pp = conf.proxyPass!;
    const target = proxyTarget(pp, r.ctx);
    if (!target) {
      logError(r, opts, 'error', `invalid URL prefix in "${pp.hasVariables ? evaluate(compiled(pp.raw), r.ctx) : pp.raw}"`);
      return { kind: 'status', status: 500 };
    }
    let group: GroupRuntime;
    try {
      group = await registry.group(r.state, target, pp.hasVariables);
    } catch (e) {
      logError(r, opts, 'error', e instanceof GroupError ? e.message : `host not found in upstream "${target.host}"`);
      return { kind: 'status', status: 502 };
    }

    const upgrade = upgrades.get(req);
    const levels = confLevels(r);
    const setBody = directiveArgs(levels, 'proxy_set_body').pop()?.[0];
    const clientLength = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    // proxy_request_buffering off streams the body when the upstream can take it as it comes:
    // with a known length, or chunked to an HTTP/1.1 upstream. Then no retry once it is sent.
    const streaming = setBody === undefined && !upgrade && !flagDirective(levels, 'proxy_request_buffering', true)
      && (clientLength !== undefined || (chunked && conf.proxyHttpVersion === '1.1'));
    let body: Buffer | IncomingMessage;
    if (setBody !== undefined) {
      if (!upgrade) await readBody(req); // read and dropped, as nginx discards it
      body = Buffer.from(evaluate(compiled(setBody), r.ctx), 'latin1');
    } else body = upgrade || streaming ? (streaming ? req : Buffer.alloc(0)) : await readBody(req);
    const hasBody = setBody !== undefined || (Buffer.isBuffer(body) && body.length > 0) || clientLength !== undefined || chunked;
    const bodyLength = Buffer.isBuffer(body) ? body.length : clientLength !== undefined ? Number(clientLength) : undefined;
    const loc = r.location;
    const locationIsPrefix = !!loc && (loc.kind === 'prefix' || loc.kind === 'prefix-noregex' || loc.kind === 'exact');
    const uri = upstreamUri(target, pp.hasVariables, {
      uri: r.ctx.uri, args: r.ctx.args, rawUri: r.ctx.rawUri, validUnparsedUri: r.validUnparsedUri, // kept by named locations
      validLocation: r.validLocation, locationName: locationIsPrefix ? loc!.name : '',
      escape: r.internal || !r.validUnparsedUri || /%/.test(r.ctx.rawUri.split('?')[0] ?? ''),
    });
    const pctx = proxyVarContext(r.ctx, target, hasBody ? bodyLength : undefined);
    const headers = upstreamRequestHeaders(conf, levels, pctx, req.rawHeaders);

    const walk = startWalk(group.peers);
    const maxTries = Number(directiveArgs(levels, 'proxy_next_upstream_tries').pop()?.[0] ?? 0);
    if (maxTries > 0 && walk.tries > maxTries) walk.tries = maxTries;
    const select = selectorFor(group, r.ctx);
    const tries: Tries = { addr: [], status: [], time: [], connect: [], header: [] };
    const next = new Set(conf.proxyNextUpstream);
    const retryNonIdempotent = next.has('non_idempotent');
    const hidden = hiddenResponseHeaders(levels);
    const ignored = new Set(directiveArgs(levels, 'proxy_ignore_headers').flat().map((h) => h.toLowerCase()));
    const rules = redirectRules(conf, loc?.name ?? '', locationIsPrefix);
    const scheme = target.scheme;

    for (;;) {
      const peer = getPeer(walk, select);
      if (!peer) {
        logError(r, opts, 'error', 'no live upstreams while connecting to upstream', `${scheme}://${group.name}${uri}`);
        tries.addr.push(group.name);
        tries.status.push('502');
        tries.time.push('0.000');
        publish(r, tries);
        return { kind: 'status', status: 502 };
      }
      const upstreamUrl = `${scheme}://${peer.name}${uri}`;
      tries.addr.push(peer.name);
      const attempt = await attemptPeer({
        accelRedirects: !ignored.has('x-accel-redirect'), passed: { server: !hidden.has('server'), date: !hidden.has('date') }, r, res, req, peer, group, scheme, uri, body, hasBody, headers, upgrade, hidden, rules, pctx,
        tries, log: opts, canRetry: (status) => {
          const ft = NEXT_STATUS.get(status);
          if (!ft || !next.has(ft) || walk.tries <= 1) return false;
          return !NON_IDEMPOTENT.has(r.method) || retryNonIdempotent;
        },
      });
      if (attempt.kind !== 'failed') {
        freePeer(walk, false);
        publish(r, tries);
        if (attempt.kind === 'done') return { kind: 'done' };
        if (attempt.kind === 'intercept') return { kind: 'status', status: attempt.status };
        return accelRedirect(r, attempt.target);
      }
      const f = attempt.failure;
      if (f.message) logError(r, opts, 'error', f.message, upstreamUrl);
      freePeer(walk, f.type !== 'http_403' && f.type !== 'http_404', () => {
        logError(r, opts, 'warn', `upstream server temporarily disabled${f.action ? ` ${f.action}` : ''}`, upstreamUrl);
      });
      const blocked = f.requestSent && ((NON_IDEMPOTENT.has(r.method) && !retryNonIdempotent) || streaming);
      if (walk.tries === 0 || !next.has(f.type) || blocked) {
        publish(r, tries);
        return { kind: 'status', status: f.status };
      }
    }
  };
  return Object.assign(hook, { close: () => registry.close() });
}

/** The request's levels, innermost first (intermediate nested locations are not reachable here). */
function confLevels(r: RequestState): ConfLevels {
  const levels = [r.conf.directives];
  if (r.location && r.location.conf !== r.conf) levels.push(r.location.conf.directives);
  if (r.server.conf !== r.conf) levels.push(r.server.conf.directives);
  levels.push(r.state.httpDirectives ?? []);
  return levels;
}

/** X-Accel-Redirect: an internal redirect (GET unless HEAD) to the URI or named location. */
function accelRedirect(r: RequestState, target: string): ContentOutcome {
  if (target.startsWith('@')) return { kind: 'named', name: target };
  if (r.method !== 'HEAD') r.method = 'GET';
  const q = target.indexOf('?');
  let uri = q < 0 ? target : target.slice(0, q);
  try {
    uri = decodeURIComponent(uri);
  } catch { /* kept as sent */ }
  if (!uri.startsWith('/') || /(^|\/)\.\.?(\/|$)/.test(uri)) return { kind: 'status', status: 404 };
  return { kind: 'redirect-internal', uri, args: q < 0 ? '' : target.slice(q + 1) };
}

// The buffered body stays with the request: an internal redirect (X-Accel-Redirect, error_page)
// to another proxied location sends it again, as nginx does.
const bodies = new WeakMap<IncomingMessage, Promise<Buffer>>();

function readBody(req: IncomingMessage): Promise<Buffer> {
  let b = bodies.get(req);
  if (!b) {
    b = (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    })();
    bodies.set(req, b);
  }
  return b;
}

interface AttemptInput {
  r: RequestState;
  req: IncomingMessage;
  res: ServerResponse;
  peer: Peer;
  group: GroupRuntime;
  scheme: 'http' | 'https';
  uri: string;
  body: Buffer | IncomingMessage;
  hasBody: boolean;
  headers: [string, string][];
  upgrade?: { socket: Duplex; head: Buffer };
  hidden: Set<string>;
  /** X-Accel-Redirect is acted on unless proxy_ignore_headers names it. */
  accelRedirects: boolean;
  passed: { server: boolean; date: boolean };
  rules: ReturnType<typeof redirectRules>;
  pctx: RequestState['ctx'];
  tries: Tries;
  log: ProxyHandlerOptions;
  /** Whether an upstream status may go to the next peer (proxy_next_upstream http_NNN). */
  canRetry: (status: number) => boolean;
}

/** Splits our header list into what undici accepts as headers and what it takes as options. */
function undiciRequest(inp: AttemptInput): { headers: string[]; reset: boolean; upgrade?: string } {
  const out: string[] = [];
  let connection = '';
  let upgrade = '';
  for (const [k, v] of inp.headers) {
    const l = k.toLowerCase();
    if (l === 'connection') connection = v.toLowerCase();
    else if (l === 'upgrade') upgrade = v;
    else if (l === 'content-length') {
      // undici frames a Buffer itself; a streamed body needs its announced length (else chunked).
      if (!Buffer.isBuffer(inp.body)) out.push(k, v);
    } else if (l === 'transfer-encoding' || l === 'keep-alive' || l === 'expect') continue;
    else out.push(k, v);
  }
  const wantsUpgrade = inp.upgrade !== undefined && upgrade !== '' && connection.includes('upgrade');
  // nginx keeps an upstream connection only with `keepalive` in the upstream and a request that
  // does not say `Connection: close` (HTTP/1.1 with `proxy_set_header Connection ""`).
  const reset = !wantsUpgrade && (inp.group.keepalive === 0 || connection === 'close');
  return { headers: out, reset, ...(wantsUpgrade ? { upgrade } : {}) };
}

function attemptPeer(inp: AttemptInput): Promise<Attempt> {
  const { r, res, peer, group, tries } = inp;
  const conf = r.conf;
  const started = Date.now();
  const { headers, reset, upgrade } = undiciRequest(inp);
  const pool = poolFor(group, peer, inp.scheme, conf.proxyConnectTimeoutMs);
  const elapsed = (): string => formatMsec(Date.now() - started);

  return new Promise<Attempt>((resolve) => {
    let abort: ((err?: Error) => void) | undefined;
    // proxy_read_timeout with native timers: undici's own are coarse (about a second late).
    let readTimer: NodeJS.Timeout | undefined;
    const armRead = (code: string): void => {
      clearTimeout(readTimer);
      readTimer = setTimeout(() => abort?.(Object.assign(new Error('upstream timed out'), { code })), conf.proxyReadTimeoutMs);
    };
    const disarm = (): void => clearTimeout(readTimer);
    let headSent = false;
    let settled = false;
    let statusPushed = false;
    const settle = (a: Attempt): void => {
      if (settled) return;
      settled = true;
      disarm();
      res.removeListener('close', onClientClose);
      if (!statusPushed) tries.status.push(a.kind === 'failed' && a.failure.upstreamStatus ? String(a.failure.upstreamStatus) : a.kind === 'failed' ? String(a.failure.status) : '');
      tries.time.push(elapsed());
      if (tries.header.length < tries.time.length) tries.header.push('-');
      if (tries.connect.length < tries.time.length) tries.connect.push('-');
      tries.connect.length = tries.time.length;
      resolve(a);
    };
    // The client went away (nginx logs 499): stop the upstream request, and do not try another peer.
    const onClientClose = (): void => {
      if (res.writableFinished) return;
      settle({ kind: 'done' });
      abort?.(new Error('client closed'));
    };
    res.once('close', onClientClose);

    const handler: Dispatcher.DispatchHandlers = {
      onConnect(a) {
        abort = a;
        // undici hands the request to a connected socket: the connection is made by now.
        tries.connect.push(elapsed());
        armRead('UND_ERR_HEADERS_TIMEOUT');
      },
      onUpgrade(statusCode, rawHeaders, socket) {
        disarm();
        tries.status.push(String(statusCode));
        tries.header.push(elapsed());
        statusPushed = true;
        const pairs = rawPairs((rawHeaders ?? []) as (Buffer | string)[]).filter(([k]) => !inp.hidden.has(k.toLowerCase()) || k.toLowerCase() === 'connection');
        const out = responseHeaders(inp, pairs.filter(([k]) => k.toLowerCase() !== 'connection'));
        out.push(['Connection', 'upgrade']);
        writeHead(r, res, 101, out, undefined, 'Switching Protocols', inp.passed);
        res.flushHeaders();
        tunnel(inp.upgrade!.socket, inp.upgrade!.head, socket, conf.proxyReadTimeoutMs, () => {
          res.removeListener('close', onClientClose);
          settle({ kind: 'done' });
        });
      },
      onHeaders(statusCode, rawHeaders, resume, statusText) {
        if (statusCode < 200) return true;
        tries.status.push(String(statusCode));
        tries.header.push(elapsed());
        statusPushed = true;
        if (inp.canRetry(statusCode)) {
          const ft = `http_${statusCode}` as Failure['type'];
          settle({ kind: 'failed', failure: { type: ft, status: statusCode, requestSent: true, message: '' } });
          abort?.(new Error('next upstream'));
          return false;
        }
        if (conf.proxyInterceptErrors && statusCode >= 300 && conf.errorPages.some((e) => e.codes.includes(statusCode))) {
          settle({ kind: 'intercept', status: statusCode });
          abort?.(new Error('intercepted'));
          return false;
        }
        const pairs = rawPairs(rawHeaders);
        const accel = inp.accelRedirects ? pairs.find(([k]) => k.toLowerCase() === 'x-accel-redirect')?.[1] : undefined;
        if (accel) {
          settle({ kind: 'accel', target: accel });
          abort?.(new Error('x-accel-redirect'));
          return false;
        }
        for (const [k, v] of pairs) r.ctx.userVars.set(`upstream_http_${k.toLowerCase().replaceAll('-', '_')}`, v);
        // add_header may name $upstream_* variables: they are set before the head is written, with
        // this try's response time still "-" (it ends with the body), as nginx shows it then.
        publish(r, { ...tries, time: [...tries.time, '-'] });
        const out = responseHeaders(inp, pairs.filter(([k]) => !inp.hidden.has(k.toLowerCase())));
        writeHead(r, res, r.errStatus ?? statusCode, out, undefined, r.errStatus ? undefined : statusText || undefined, inp.passed);
        headSent = true;
        r.ctx.response.bodyBytesSent = 0;
        armRead('UND_ERR_BODY_TIMEOUT');
        res.on('drain', () => {
          armRead('UND_ERR_BODY_TIMEOUT');
          resume();
        });
        return true;
      },
      onData(chunk) {
        if (r.method === 'HEAD') return true;
        r.ctx.response.bodyBytesSent += chunk.length;
        r.ctx.response.bytesSent += chunk.length;
        const more = res.write(chunk);
        if (more) armRead('UND_ERR_BODY_TIMEOUT');
        else disarm(); // the client is slow: nginx would be writing, not waiting on the upstream
        return more;
      },
      onComplete() {
        disarm();
        res.removeListener('close', onClientClose);
        res.end();
        settle({ kind: 'done' });
      },
      onError(err) {
        disarm();
        res.removeListener('close', onClientClose);
        if (settled) return;
        const failure = classifyUpstreamError(err, headSent);
        if (!headSent) {
          settle({ kind: 'failed', failure });
          return;
        }
        // The response is under way: nginx logs and cuts the client connection.
        logError(r, inp.log, 'error', failure.message, `${inp.scheme}://${peer.name}${inp.uri}`);
        res.destroy();
        settle({ kind: 'done' });
      },
    };

    try {
      pool.dispatch({
        path: inp.uri,
        method: r.method as Dispatcher.HttpMethod,
        headers,
        body: inp.hasBody ? inp.body : null,
        reset,
        ...(upgrade ? { upgrade } : {}),
        headersTimeout: 0,
        bodyTimeout: 0,
      }, handler);
    } catch (e) {
      settle({ kind: 'failed', failure: { type: 'error', status: 502, requestSent: false, message: `invalid upstream request: ${(e as Error).message}` } });
    }
  });
}

/** Upstream headers for the client: Location/Refresh rewritten by proxy_redirect. */
function responseHeaders(inp: AttemptInput, pairs: [string, string][]): [string, string][] {
  return pairs.map(([k, v]) => {
    const l = k.toLowerCase();
    // A relative Location is made absolute by the header filter, as nginx's own redirects are.
    if (l === 'location') return ['Location', absoluteLocation(rewriteRedirect(v, inp.rules, inp.r.ctx), redirectContext(inp.r))];
    if (l === 'refresh') return [k, rewriteRefresh(v, inp.rules, inp.r.ctx)];
    if (l === 'content-type') return ['Content-Type', v];
    if (l === 'content-length') return ['Content-Length', v];
    if (l === 'last-modified') return ['Last-Modified', v];
    return [k, v];
  });
}

/** Joins client and upstream sockets after a 101; proxy_read_timeout is the idle limit. */
function tunnel(client: Duplex, head: Buffer, upstream: Duplex, idleMs: number, done: () => void): void {
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    client.destroy();
    upstream.destroy();
    done();
  };
  if (head.length) upstream.write(head);
  client.pipe(upstream);
  upstream.pipe(client);
  for (const s of [client, upstream]) {
    s.on('close', finish);
    s.on('error', finish);
    s.on('end', finish);
    const sock = s as Duplex & { setTimeout?: (ms: number, cb: () => void) => void };
    sock.setTimeout?.(idleMs, finish);
  }
}

