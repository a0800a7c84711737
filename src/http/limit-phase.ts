// nginx's preaccess phase for a request: limit_req (a delay or a refusal), then limit_conn (a
// counter held until the request ends). Each applies once per request, the first time a location
// with a non-empty key is reached (r->main->limit_req_set / limit_conn_status).
import type { ConfNode } from '../nginx/types.ts';
import type { LocationConf, RoutingState, ServerConf } from '../config/state.ts';
import type { ErrorLevel } from './access-log.ts';
import { compiled, evaluate, type VarContext } from './variables.ts';
import { formatExcess, milliRate, NODELAY, type LimitReqDecision } from './limit-req.ts';
import type { LimitConnQuery, LimitReqQuery, ZoneClient } from './limit-zones.ts';

/** What the phase reads of the pipeline's request state. */
export interface PreaccessRequest {
  state: RoutingState;
  server: ServerConf;
  location?: { conf: LocationConf };
  conf: LocationConf;
  ctx: VarContext;
}

export type PreaccessLog = (level: ErrorLevel, message: string) => void;

/** Bits of ctx.limitsApplied (a field, not a WeakMap: a WeakMap entry per request made every scavenge longer). */
const REQ_APPLIED = 1;
const CONN_APPLIED = 2;

const LEVELS: readonly ErrorLevel[] = ['info', 'notice', 'warn', 'error'];
/** nginx logs delays one level below refusals (error → warn …, info → debug). */
function lower(level: ErrorLevel): ErrorLevel {
  const i = LEVELS.indexOf(level);
  return i <= 0 ? 'debug' : LEVELS[i - 1]!;
}

/**
 * A directive not modelled in LocationConf, found the way nginx inherits it: this level (an `if`
 * block or the location), the location, the server, then http. Nested locations' parents are not
 * visible here: a value set only on an enclosing location is missed.
 */
export function inheritedDirective(r: PreaccessRequest, name: string): ConfNode | undefined {
  const levels: (readonly ConfNode[] | undefined)[] = [
    r.conf.directives, r.location?.conf.directives, r.server.conf.directives, r.state.httpDirectives,
  ];
  for (const nodes of levels) {
    const found = nodes?.filter((n) => n.directive === name).at(-1);
    if (found) return found;
  }
  return undefined;
}

function logLevel(r: PreaccessRequest, directive: string): ErrorLevel {
  const v = inheritedDirective(r, directive)?.args[0];
  return v === 'info' || v === 'notice' || v === 'warn' || v === 'error' ? v : 'error';
}

function dryRun(r: PreaccessRequest, directive: string): boolean {
  return inheritedDirective(r, directive)?.args[0] === 'on';
}

export interface PreaccessResult {
  /** Refuse with this status (limit_req_status / limit_conn_status), through error_page. */
  status?: number;
}

/**
 * Runs limit_req then limit_conn for the request; waits out a limit_req delay; `onEnd` is given
 * the limit_conn release to call once the request is over. Synchronous when the zones answer at once
 * (a worker reading the shared log, a single process): most requests pass, and a promise per request
 * was a visible share of their cost and of their p99.
 */
export function preaccess(r: PreaccessRequest, zones: ZoneClient, log: PreaccessLog, onEnd: (release: () => void) => void): PreaccessResult | Promise<PreaccessResult> {
  if (!(r.ctx.limitsApplied! & REQ_APPLIED) && r.conf.limitReq.length > 0) {
    const queries: LimitReqQuery[] = [];
    for (const l of r.conf.limitReq) {
      const zone = r.state.limitReqZones.get(l.zone);
      if (!zone) continue;
      queries.push({
        zone: zone.name, size: zone.size, rate: milliRate(zone.ratePerSecond), key: keyOf(zone.key, r, log),
        burst: l.burst, delay: l.nodelay ? NODELAY : l.delay ?? 0,
      });
    }
    const d = zones.limitReq(queries);
    if (d instanceof Promise) return d.then((d) => afterLimitReq(r, d, zones, log, onEnd));
    return afterLimitReq(r, d, zones, log, onEnd);
  }
  return limitConnPhase(r, zones, log, onEnd);
}

function afterLimitReq(r: PreaccessRequest, d: LimitReqDecision, zones: ZoneClient, log: PreaccessLog, onEnd: (release: () => void) => void): PreaccessResult | Promise<PreaccessResult> {
  if (d.kind === 'pass') {
    r.ctx.limitsApplied! |= REQ_APPLIED;
    r.ctx.userVars.set('limit_req_status', 'PASSED');
  } else if (d.kind !== 'declined') {
    r.ctx.limitsApplied! |= REQ_APPLIED;
    // Looked up only here: the directives' walk is most of the phase's cost for a request that passes.
    const dry = dryRun(r, 'limit_req_dry_run');
    const level = logLevel(r, 'limit_req_log_level');
    // $limit_req_status
    r.ctx.userVars.set('limit_req_status', `${d.kind === 'reject' ? 'REJECTED' : 'DELAYED'}${dry ? '_DRY_RUN' : ''}`);
    if (d.kind === 'reject') {
      log(level, `limiting requests${dry ? ', dry run' : ''}, excess: ${formatExcess(d.excess)} by zone "${d.zone}"`);
      if (!dry) return { status: r.conf.limitReqStatus };
    } else if (d.kind === 'delay') {
      log(lower(level), `delaying request${dry ? ', dry run' : ''}, excess: ${formatExcess(d.excess)}, by zone "${d.zone}"`);
      if (!dry) return new Promise((resolve) => setTimeout(resolve, d.ms)).then(() => limitConnPhase(r, zones, log, onEnd));
    }
  }
  return limitConnPhase(r, zones, log, onEnd);
}

const NOTHING: PreaccessResult = Object.freeze({});

function limitConnPhase(r: PreaccessRequest, zones: ZoneClient, log: PreaccessLog, onEnd: (release: () => void) => void): PreaccessResult | Promise<PreaccessResult> {
  if (r.ctx.limitsApplied! & CONN_APPLIED || r.conf.limitConn.length === 0) return NOTHING;
  const queries: LimitConnQuery[] = [];
  for (const l of r.conf.limitConn) {
    const zone = r.state.limitConnZones.get(l.zone);
    if (!zone) continue;
    const key = keyOf(zone.key, r, log, 255);
    queries.push({ zone: zone.name, size: zone.size, key, conn: l.conn });
  }
  if (!queries.some((q) => q.key !== '')) return NOTHING;
  r.ctx.limitsApplied! |= CONN_APPLIED;
  return zones.limitConn(queries).then((d) => {
    if (d.kind === 'pass') {
      r.ctx.userVars.set('limit_conn_status', 'PASSED');
      onEnd(d.release);
      return NOTHING;
    }
    const dry = dryRun(r, 'limit_conn_dry_run');
    r.ctx.userVars.set('limit_conn_status', dry ? 'REJECTED_DRY_RUN' : 'REJECTED');
    if (!d.full) log(logLevel(r, 'limit_conn_log_level'), `limiting connections${dry ? ', dry run' : ''} by zone "${d.zone}"`);
    return dry ? NOTHING : { status: r.conf.limitConnStatus };
  });
}

/** The zone key's value; over-long keys are skipped with nginx's message. */
function keyOf(template: string, r: PreaccessRequest, log: PreaccessLog, max = 65535): string {
  const key = evaluate(compiled(template), r.ctx);
  if (key.length > max) { // latin1: one byte per character
    log('error', `the value of the "${template}" key is more than ${max} bytes: "${key}"`);
    return '';
  }
  return key;
}
