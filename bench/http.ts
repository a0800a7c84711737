// Benchmark: real nginx and bext-server on the same generated config (ports shifted), driven in turn
// by wrk over loopback, alternating A B A B so drift hits both. Reports req/s, p50/p99 latency, peak
// RSS (master + workers) and bext/nginx ratios (min/median/max over the rounds), the reload cost, and
// writes bench/results/http-<date>.json. Not a timed test: run it by hand.
// Run: node scripts/build.mjs && node --import tsx bench/http.ts [--rounds 3] [--duration 5] [--only NAME]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NGINX = '/usr/sbin/nginx';
// BEXT_SERVER: another bundle (say one built with BEXT_DIST=/tmp/x node scripts/build.mjs).
const SERVER = process.env.BEXT_SERVER ?? path.join(ROOT, 'dist/bext-server.js');

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const ROUNDS = Number(opt('rounds', '3'));
const DURATION = Number(opt('duration', '5'));
const ONLY = opt('only', '');
const CONNECTIONS = 32;
const WARMUP_S = 2;
const UPSTREAM_PORT = 18920;

interface Scenario {
  name: string;
  /** Extra http{} text and the server{} body; @PORT@ and @DIR@ are filled in per server. */
  http?: string;
  server: string;
  extraServers?: string;
  path: string;
  https?: boolean;
  host?: string;
  /** Also run bench/node-floor.ts as a reference: bare node:http serving the same file, or a bare node:net proxy. */
  floor?: 'static' | 'proxy';
  /**
   * The latency run at equal load: each connection pauses this long on average (ms) between a response
   * and its next request, so both servers get the same request rate, below what either saturates at
   * (default 2: about 18k req/s over 32 connections here).
   */
  pauseMs?: number;
}

function routingHeavy(): { servers: string; locations: string } {
  const names: string[] = [];
  for (let i = 0; i < 2000; i++) names.push(`server { listen 127.0.0.1:@PORT@; server_name site${i}.example.test; return 200 "site ${i}"; }`);
  const locs: string[] = [];
  for (let i = 0; i < 1000; i++) locs.push(`location ~ ^/r${i}/(\\d+)$ { return 200 "r${i} $1"; }`);
  return { servers: names.join('\n'), locations: locs.join('\n') };
}

const heavy = routingHeavy();
const SCENARIOS: Scenario[] = [
  { name: 'small static 1 KiB', server: 'location / { }', path: '/small.html', floor: 'static' },
  { name: 'static 1 MiB', server: 'location / { }', path: '/big.bin', pauseMs: 20 },
  // Debian's default site serves files through try_files: a stat per candidate before the open.
  { name: 'try_files 1 KiB', server: 'location / { try_files $uri $uri/ =404; }', path: '/small.html' },
  { name: 'HTTPS small static', server: 'location / { }', path: '/small.html', https: true },
  // The Host matches none of the 2,000 names, so the default server (the one with the 1,000 regex
  // locations) answers and /r999/42 goes through every regex before the last one matches.
  { name: 'routing-heavy config', server: heavy.locations, extraServers: heavy.servers, path: '/r999/42', host: 'unknown.example.test', pauseMs: 4 },
  { name: 'access logging on', http: 'access_log @DIR@/logs/bench-access.log;', server: 'location / { }', path: '/small.html' },
  // The same upstream process for both, kept alive: what a reverse-proxy vhost does.
  {
    name: 'proxy_pass keep-alive',
    http: `upstream bench_app { server 127.0.0.1:${UPSTREAM_PORT}; keepalive 32; }`,
    server: 'location / { proxy_pass http://bench_app; proxy_http_version 1.1; proxy_set_header Connection ""; }',
    path: '/',
    pauseMs: 4,
    floor: 'proxy',
  },
  {
    name: 'limit_req in the path',
    http: 'limit_req_zone $binary_remote_addr zone=bench:10m rate=1000000r/s;',
    server: 'location / { limit_req zone=bench burst=1000000 nodelay; }',
    path: '/small.html',
  },
];

function config(s: Scenario, dir: string, port: number): string {
  const fill = (t: string) => t.replaceAll('@PORT@', String(port)).replaceAll('@DIR@', dir);
  return fill(`worker_processes auto;
pid @DIR@/logs/nginx-@PORT@.pid;
error_log @DIR@/logs/error-@PORT@.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000;
    ${s.http ?? ''}
    default_type application/octet-stream;
    ${s.extraServers ?? ''}
    server {
        listen 127.0.0.1:@PORT@${s.https ? ' ssl' : ''} default_server;
        ${s.https ? 'ssl_certificate @DIR@/cert.pem; ssl_certificate_key @DIR@/key.pem;' : ''}
        root @DIR@/html;
        ${s.server}
    }
}
`);
}

interface Latency {
  rps: number;
  p50ms: number;
  p99ms: number;
}

interface Run extends Latency {
  /**
   * The first WARMUP_S seconds after start, at full speed: the JIT compiling (bext, the Node floor),
   * first upstream connections. Kept out of the measured run, as real traffic meets a warm server.
   */
  cold: Latency;
  rssMiB: number;
  /** The same server at equal load (see Scenario.pauseMs): throughput no longer decides latency. */
  paced: Latency & { maxms: number };
}

function parseWrk(out: string): Latency {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const lat = (q: string) => {
    const m = new RegExp(`\\s${q}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  return { rps, p50ms: lat('50'), p99ms: lat('99') };
}

/** Resident memory of a process tree (master + workers), in MiB. */
function treeRss(pid: number): number {
  const out = spawnSync('ps', ['-o', 'rss=', '--ppid', String(pid), '-p', String(pid)], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).reduce((a, l) => a + Number(l.trim()), 0) / 1024;
}

async function waitUp(port: number, https: boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = spawnSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `${https ? 'https' : 'http'}://127.0.0.1:${port}/`]).stdout?.toString();
    if (ok && ok !== '000') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answers on port ${port}`);
}

type Kind = 'nginx' | 'bext' | 'node';

/** `floor`: node-floor.ts's arguments (mode, port, file or upstream port), for kind 'node'. */
function startServer(kind: Kind, dir: string, conf: string, floor?: string[]): ChildProcess {
  const args = ['-p', `${dir}/`, '-c', conf, '-g', 'daemon off;'];
  if (kind === 'node') return spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/node-floor.ts'), ...floor!], { stdio: 'ignore', cwd: ROOT });
  return kind === 'nginx'
    ? spawn(NGINX, args, { stdio: 'ignore' })
    : spawn(process.execPath, [SERVER, ...args], { stdio: 'ignore' });
}

async function stopServer(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGQUIT');
  await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
  if (p.exitCode === null) p.kill('SIGKILL');
}

/** The largest resident memory of one worker (a child of the master), in MiB. */
function workerRss(pid: number): number {
  const out = spawnSync('ps', ['-o', 'rss=', '--ppid', String(pid)], { encoding: 'utf8' }).stdout;
  return Math.max(0, ...out.split('\n').filter(Boolean).map((l) => Number(l.trim()) / 1024));
}

function wrk(s: Scenario, port: number, pid: number, pacer: string): Run {
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, treeRss(pid))), 500);
  const url = `${s.https ? 'https' : 'http'}://127.0.0.1:${port}${s.path}`;
  const args = ['-t', '2', '-c', String(CONNECTIONS), '--latency', url];
  if (s.host) args.push('-H', `Host: ${s.host}`);
  const cold = parseWrk(spawnSync('wrk', ['-d', `${WARMUP_S}s`, ...args], { encoding: 'utf8' }).stdout);
  args.unshift('-d', `${DURATION}s`);
  const r = spawnSync('wrk', args, { encoding: 'utf8' });
  clearInterval(timer);
  peak = Math.max(peak, treeRss(pid));
  // Then at equal load: wrk at full speed measures how long requests queue behind each other, which
  // is throughput again; at a rate both sustain it measures what one request costs.
  const paced = spawnSync('wrk', ['-s', pacer, ...args], { encoding: 'utf8', env: { ...process.env, BENCH_PAUSE_MS: String(s.pauseMs ?? 2) } });
  return { ...parseWrk(r.stdout), cold, rssMiB: Math.round(peak), paced: { ...parseWrk(paced.stdout), maxms: wrkLatency(paced.stdout).maxms } };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');

/**
 * The reload scenarios' configuration, generation `gen`: /gen answers which one serves. Beside it an
 * HTTPS server, as the example configuration has one (a reload must not make its context again).
 */
const reloadConfig = (gen: number, dir: string, port: number, large = false) =>
  config({
    name: 'reload', server: `location = /gen { return 200 "gen ${gen}"; }${large ? heavy.locations : ''}`, path: '/gen',
    extraServers: `server { listen 127.0.0.1:${port + 1000} ssl; ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem; }` +
      (large ? heavy.servers : ''),
  }, dir, port);

/** Time from SIGHUP to the new configuration answering, for bext and nginx. */
async function reloadCost(kind: 'nginx' | 'bext', dir: string, port: number): Promise<number[]> {
  const conf = path.join(dir, `reload-${kind}.conf`);
  const write = (gen: number) => writeFileSync(conf, reloadConfig(gen, dir, port));
  write(0);
  const p = startServer(kind, dir, conf);
  const times: number[] = [];
  try {
    await waitUp(port, false);
    const pidFile = path.join(dir, `logs/nginx-${port}.pid`);
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    for (let gen = 1; gen <= 10; gen++) {
      write(gen);
      const t0 = performance.now();
      process.kill(pid, 'SIGHUP');
      for (;;) {
        const body = await new Promise<string>((resolve) =>
          http.get({ host: '127.0.0.1', port, path: '/gen', agent: false }, (res) => {
            let b = '';
            res.on('data', (c) => (b += c));
            res.on('end', () => resolve(b));
          }).on('error', () => resolve('')),
        );
        if (body === `gen ${gen}`) break;
        if (performance.now() - t0 > 10_000) throw new Error('reload never became live');
      }
      times.push(performance.now() - t0);
    }
  } finally {
    await stopServer(p);
  }
  return times;
}

interface ReloadLatency {
  /** Without reloads: p99 and the slowest request, ms. */
  baseline: { p99ms: number; maxms: number };
  /** While 20 reloads (each a changed config) happen: p99 and the slowest request, ms. */
  during: { p99ms: number; maxms: number };
  errors: number;
}

const toMs = (v: string, unit: string) => (unit === 'us' ? Number(v) / 1000 : unit === 's' ? Number(v) * 1000 : Number(v));

function wrkLatency(out: string): { p99ms: number; maxms: number; errors: number } {
  const m = /Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)/.exec(out);
  const errors = [...out.matchAll(/(?:Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+))|Non-2xx or 3xx responses: (\d+)/g)]
    .flatMap((x) => x.slice(1).filter(Boolean).map(Number))
    .reduce((a, b) => a + b, 0);
  return { p99ms: parseWrk(out).p99ms, maxms: m ? toMs(m[1]!, m[2]!) : NaN, errors };
}

/**
 * Request latency under load, first without reloads, then while 20 reloads (SIGHUP, 200 ms apart) happen;
 * at full speed, or with `pacer` at equal load (each connection pausing 2 ms on average between requests).
 */
async function reloadLatency(kind: 'nginx' | 'bext', dir: string, port: number, pacer?: string, large = false): Promise<ReloadLatency> {
  const conf = path.join(dir, `reload-load-${kind}.conf`);
  const write = (gen: number) => writeFileSync(conf, reloadConfig(gen, dir, port, large));
  write(0);
  const p = startServer(kind, dir, conf);
  try {
    await waitUp(port, false);
    const pidFile = path.join(dir, `logs/nginx-${port}.pid`);
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const args = ['-t', '2', '-c', String(CONNECTIONS), '--latency', `http://127.0.0.1:${port}/gen`];
    spawnSync('wrk', [...args, '-d', `${WARMUP_S}s`]); // warm-up (JIT), not counted
    if (pacer) args.unshift('-s', pacer);
    const env = { ...process.env, BENCH_PAUSE_MS: '2' };
    const baseline = wrkLatency(spawnSync('wrk', [...args, '-d', '4s'], { encoding: 'utf8', env }).stdout);
    const load = spawn('wrk', [...args, '-d', '5s'], { stdio: ['ignore', 'pipe', 'ignore'], env });
    let out = '';
    load.stdout.on('data', (c) => (out += c));
    const finished = new Promise((r) => load.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    for (let gen = 1; gen <= 20; gen++) {
      write(gen);
      process.kill(pid, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 200));
    }
    await finished;
    const during = wrkLatency(out);
    return { baseline: { p99ms: baseline.p99ms, maxms: baseline.maxms }, during: { p99ms: during.p99ms, maxms: during.maxms }, errors: during.errors };
  } finally {
    await stopServer(p);
  }
}

async function main(): Promise<void> {
  if (!existsSync(NGINX)) throw new Error('real nginx is needed (apt-get install nginx)');
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is needed (apt-get install wrk)');
  if (!existsSync(SERVER)) throw new Error('build first: node scripts/build.mjs');
  const dir = mkdtempSync(path.join(tmpdir(), 'bext-bench-'));
  spawnSync('chmod', ['755', dir]);
  mkdirSync(path.join(dir, 'html'));
  mkdirSync(path.join(dir, 'logs'));
  writeFileSync(path.join(dir, 'html/small.html'), 'x'.repeat(1024));
  writeFileSync(path.join(dir, 'html/big.bin'), Buffer.alloc(1024 * 1024, 1));
  writeFileSync(path.join(dir, 'html/index.html'), 'index');
  // wrk's pacing hook: each connection pauses after a response before its next request, for a random
  // time averaging BENCH_PAUSE_MS (exponential, so arrivals are close to independent; a fixed pause
  // lines all connections up on wrk's millisecond timer and measures bursts of 32 instead).
  const pacer = path.join(dir, 'pace.lua');
  writeFileSync(pacer, [
    'local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "2")',
    'math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))',
    'function delay() return -math.log(1 - math.random()) * pause end',
    '',
  ].join('\n'));
  spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });

  // The proxy scenario's upstream: one small Node server, shared by nginx and bext.
  const upstream = spawn(process.execPath, ['-e',
    `require('http').createServer((q, r) => r.end('x'.repeat(1024))).listen(${UPSTREAM_PORT}, '127.0.0.1')`], { stdio: 'ignore' });
  const results: Record<string, unknown>[] = [];
  const rows: string[] = [];
  const floorRows: string[] = [];
  const coldCells: string[] = [];
  try {
    for (const s of SCENARIOS.filter((x) => !ONLY || x.name.includes(ONLY))) {
      const runs: Record<Kind, Run[]> = { nginx: [], bext: [], node: [] };
      const idleWorker: Record<Kind, number[]> = { nginx: [], bext: [], node: [] };
      const ports = { nginx: 18900, bext: 18901, node: 18902 };
      const kinds: Kind[] = s.floor ? ['nginx', 'bext', 'node'] : ['nginx', 'bext'];
      for (let round = 0; round < ROUNDS; round++) {
        for (const kind of kinds) {
          const conf = `${kind}.conf`;
          writeFileSync(path.join(dir, conf), config(s, dir, ports[kind]));
          const floorArgs = [s.floor ?? '', String(ports.node), s.floor === 'proxy' ? String(UPSTREAM_PORT) : path.join(dir, 'html', s.path)];
          const p = startServer(kind, dir, conf, floorArgs);
          try {
            await waitUp(ports[kind], !!s.https);
            await new Promise((r) => setTimeout(r, 1000)); // settle: the idle figure is after start-up
            idleWorker[kind].push(workerRss(p.pid!));
            runs[kind].push(wrk(s, ports[kind], p.pid!, pacer));
          } finally {
            await stopServer(p);
          }
        }
      }
      const ratio = runs.bext.map((b, i) => b.rps / runs.nginx[i].rps);
      const entry = {
        scenario: s.name,
        nginx: runs.nginx,
        bext: runs.bext,
        ratio: { min: Math.min(...ratio), median: median(ratio), max: Math.max(...ratio) },
        p99Ratio: median(runs.bext.map((b) => b.p99ms)) / median(runs.nginx.map((n) => n.p99ms)),
        pacedP99Ratio: median(runs.bext.map((b) => b.paced.p99ms)) / median(runs.nginx.map((n) => n.paced.p99ms)),
        idleWorkerRssMiB: { nginx: median(idleWorker.nginx), bext: median(idleWorker.bext) },
        ...(s.floor ? { nodeFloor: runs.node, nodeFloorRatio: median(runs.node.map((n, i) => n.rps / runs.nginx[i]!.rps)) } : {}),
      };
      results.push(entry);
      rows.push(
        `| ${s.name} | ${fmt(median(runs.nginx.map((r) => r.rps)), 0)} | ${fmt(median(runs.bext.map((r) => r.rps)), 0)} | ` +
          `${fmt(entry.ratio.min)} / ${fmt(entry.ratio.median)} / ${fmt(entry.ratio.max)} | ` +
          `${fmt(median(runs.nginx.map((r) => r.p99ms)))} / ${fmt(median(runs.bext.map((r) => r.p99ms)))} | ` +
          `${fmt(median(runs.nginx.map((r) => r.paced.rps)), 0)} / ${fmt(median(runs.bext.map((r) => r.paced.rps)), 0)} req/s: ` +
          `${fmt(median(runs.nginx.map((r) => r.paced.p99ms)))} / ${fmt(median(runs.bext.map((r) => r.paced.p99ms)))} (${fmt(entry.pacedP99Ratio, 1)}×) | ` +
          `${median(runs.nginx.map((r) => r.rssMiB))} / ${median(runs.bext.map((r) => r.rssMiB))} | ` +
          `${fmt(median(idleWorker.nginx), 0)} / ${fmt(median(idleWorker.bext), 0)} |`,
      );
      coldCells.push(`${s.name} ${fmt(median(runs.nginx.map((r) => r.cold.p99ms)))} / ${fmt(median(runs.bext.map((r) => r.cold.p99ms)))}`);
      if (s.floor) {
        floorRows.push(
          `| ${s.name}: ${s.floor === 'proxy' ? 'bare node:net proxy, same upstream' : 'bare node:http, same file'} (bench/node-floor.ts) | ${fmt(median(runs.nginx.map((r) => r.rps)), 0)} | ` +
            `${fmt(median(runs.node.map((r) => r.rps)), 0)} | ${fmt(entry.nodeFloorRatio ?? NaN)} | ` +
            `${fmt(median(runs.nginx.map((r) => r.paced.p99ms)))} / ${fmt(median(runs.node.map((r) => r.paced.p99ms)))} |`,
        );
      }
      console.error(`done: ${s.name}`);
    }
    // The reload runs (two minutes) belong to a full run and to `--only reload`, not to another --only.
    const reloadLines: string[] = [];
    if (!ONLY || ONLY === 'reload') {
      const reload = { nginx: await reloadCost('nginx', dir, 18910), bext: await reloadCost('bext', dir, 18911) };
      results.push({ scenario: 'reload (SIGHUP to new config live, ms)', ...reload });
      const underLoad = { nginx: await reloadLatency('nginx', dir, 18912), bext: await reloadLatency('bext', dir, 18913) };
      results.push({ scenario: 'latency during 20 reloads under load (ms)', ...underLoad });
      const underPacedLoad = { nginx: await reloadLatency('nginx', dir, 18914, pacer), bext: await reloadLatency('bext', dir, 18915, pacer) };
      results.push({ scenario: 'latency during 20 reloads at equal load (ms)', ...underPacedLoad });
      // The routing-heavy configuration (2,000 servers, 1,000 regex locations): what a reload costs grows with it.
      const largePaced = { nginx: await reloadLatency('nginx', dir, 18916, pacer, true), bext: await reloadLatency('bext', dir, 18917, pacer, true) };
      results.push({ scenario: 'latency during 20 reloads of the routing-heavy config at equal load (ms)', ...largePaced });
      const lat = (l: ReloadLatency) =>
        `p99 ${fmt(l.during.p99ms)} ms, slowest ${fmt(l.during.maxms, 1)} ms (without reloads: p99 ${fmt(l.baseline.p99ms)}, slowest ${fmt(l.baseline.maxms, 1)}), ${l.errors} errors`;
      reloadLines.push(
        '',
        `Reload, SIGHUP to the new config answering (median of 10): nginx ${fmt(median(reload.nginx), 1)} ms, bext ${fmt(median(reload.bext), 1)} ms.`,
        `During 20 reloads under wrk -c${CONNECTIONS}: nginx ${lat(underLoad.nginx)}; bext ${lat(underLoad.bext)}.`,
        `The same at equal load (2 ms average pause per connection): nginx ${lat(underPacedLoad.nginx)}; bext ${lat(underPacedLoad.bext)}.`,
        `The routing-heavy config (2,000 servers, 1,000 regex locations), 20 reloads at equal load: nginx ${lat(largePaced.nginx)}; bext ${lat(largePaced.bext)}.`,
      );
    }
    const table = [
      `bext vs nginx, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ` +
        `wrk -c${CONNECTIONS} -d${DURATION}s, ${ROUNDS} rounds, worker_processes auto, Node ${process.version}`,
      '',
      '| scenario | nginx req/s | bext req/s | ratio min / median / max | p99 ms nginx / bext | at equal load: p99 ms nginx / bext | peak RSS MiB nginx / bext | idle RSS MiB per worker nginx / bext |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `Not in the table, the first ${WARMUP_S} s after start (the JIT warming up), p99 ms nginx / bext: ${coldCells.join('; ')}.`,
      ...reloadLines,
      ...(floorRows.length
        ? ['', "Node's own floor in the same run (what a bare Node server reaches here):", '',
          '| reference | nginx req/s | node req/s | ratio (median) | at equal load: p99 ms nginx / node |', '| --- | --- | --- | --- | --- |', ...floorRows]
        : []),
    ].join('\n');
    console.log(table);
    mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
    // A run of chosen scenarios does not replace the day's full result.
    const part = ONLY ? `-only-${ONLY.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}` : '';
    const out = path.join(ROOT, `bench/results/http-${new Date().toISOString().slice(0, 10)}${part}.json`);
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, node: process.version, results }, null, 2) + '\n');
    console.log(`\nwritten: ${path.relative(ROOT, out)}`);
  } finally {
    upstream.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
