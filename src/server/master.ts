// The master process, like nginx's: it stays root, reads the configuration and the TLS keys, owns
// the pid file and the signals, and supervises workers that serve as the `user` account. Sockets are
// bound by the master on the workers' behalf (node:cluster with SCHED_NONE: the master binds, every
// worker accepts on the shared socket), so privileged ports work after the workers drop root.
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../nginx/parser.ts';
import { errnoSuffix } from '../nginx/errno.ts';
import { ConfError, type ConfNode, type LoadedConfig } from '../nginx/types.ts';
import { convert, type RoutingState } from '../config/convert.ts';
import { ServerReuse } from '../config/reuse.ts';
import type { LocationLevel } from '../config/state.ts';
import { daemonize, isDaemonChild, reportToCaller } from './daemon.ts';
import { ErrorLog } from './error-log.ts';
import { swapMessages, type ToMaster, type ToWorker, type WorkerConfig } from './ipc.ts';
import { mainSettings, fromPrefix, type MainSettings } from './settings.ts';
import { removePidFile, writePidFile } from './pid-file.ts';
import { ZoneRegistry } from './zones.ts';
import { SessionCacheMaster } from './ssl-session-cache.ts';
import { ZoneLogKeeper } from './zone-log.ts';
import type { ServeOptions } from './options.ts';

/** One configuration generation: its settings and the workers serving it. */
interface Generation {
  id: number;
  loaded: LoadedConfig;
  settings: MainSettings;
  config: WorkerConfig;
  /** What only new worker processes can change: sockets, account, count. Equal shapes reload in place. */
  shape: string;
  workers: Set<Worker>;
  /** Set while its workers swap to a new configuration in place (reloadInPlace). */
  swapping?: Promise<unknown>;
}

const READY_TIMEOUT_MS = 15_000;

export class Master {
  private current?: Generation;
  private nextId = 1;
  private stopping = false;
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  private readonly log: ErrorLog;
  /** limit_conn zones (limit_req's too when there is no log) and stub_status totals, for every worker of every generation. */
  private readonly zones = new ZoneRegistry();
  /** limit_req zones: the log the workers share (src/server/zone-log.ts). */
  private readonly zoneLog = new ZoneLogKeeper({ onError: (err) => this.log.log('alert', err.message) });

  /** The server blocks of the last configuration read: a reload converts only those that changed. */
  private readonly reuse = new ServerReuse();
  /** Workers sent their start: only those can take a swap (a message sent earlier would be lost). */
  private readonly started = new WeakSet<Worker>();

  constructor(private readonly opts: ServeOptions) {
    this.log = new ErrorLog(opts.errorLog ?? 'stderr');
  }

  /** Reads the configuration; a ConfError is printed nginx's way (`[emerg] … in FILE:LINE`). */
  private load(): { loaded: LoadedConfig; settings: MainSettings; config: WorkerConfig; shape: string } {
    const loaded = loadConfig({ prefix: this.opts.prefix, confFile: this.opts.confFile, globals: this.opts.globals });
    // The workers convert again (and freeze theirs); here it has to succeed.
    const { state, warnings } = convert(loaded, { freeze: false, reuse: this.reuse });
    for (const w of warnings) this.log.log('warn', `${w.message} in ${w.file}:${w.line}`);
    const settings = mainSettings(loaded, { errorLog: this.opts.errorLog ?? 'stderr' });
    // The drop-in's --pid-file (a custom `bext nginx masquerade install --pid-file`): the file systemd watches.
    if (this.opts.pidFile) settings.pidFile = this.opts.pidFile;
    const config: WorkerConfig = {
      loaded: { tree: loaded.tree, paths: loaded.paths },
      certificates: { ...readCertificates(loaded), ...readTlsFiles(state) },
      ticketSecret: randomBytes(32).toString('hex'),
      user: settings.user && resolveUser(settings.user),
      shutdownTimeoutMs: settings.shutdownTimeoutMs,
    };
    prepareLogFiles(loaded, config.user);
    createTempPaths(state, config.user);
    const sockets = state.listens
      .filter((l) => l.bound)
      .map((l) => [l.key, l.ssl, l.http2, l.ipv6only, l.backlog, l.reuseport]);
    const shape = JSON.stringify([sockets, config.user, settings.workers]);
    return { loaded, settings, config, shape };
  }

  async run(): Promise<number> {
    let first;
    try {
      first = this.load();
    } catch (err) {
      const text = describe(err);
      if (isDaemonChild()) reportToCaller([`nginx: [emerg] ${text}`], false);
      else process.stderr.write(`nginx: [emerg] ${text}\n`);
      return 1;
    }
    if (first.settings.daemon && !this.opts.masquerade && !isDaemonChild()) return daemonize();

    // comm must be exactly "nginx": start-stop-daemon --name nginx and pgrep -x nginx look for it.
    process.title = 'nginx';
    this.installSignals();
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    this.zones.attach();
    new SessionCacheMaster().attach();
    const noLog = this.zoneLog.open();
    if (!noLog) this.zoneLog.attach();
    else this.log.log('warn', `limit_req zones: no zone log (${noLog.message}); the workers ask the master for every limit_req decision`);
    this.log.retarget(first.settings.errorLog.target, first.settings.errorLog.level);

    const gen = this.makeGeneration(first);
    const failure = await this.startWorkers(gen);
    if (failure) {
      for (const l of failure) this.log.log('emerg', l);
      if (isDaemonChild()) reportToCaller(failure.map((l) => `nginx: [emerg] ${l}`), false);
      else for (const l of failure) process.stderr.write(`nginx: [emerg] ${l}\n`);
      return 1;
    }
    this.current = gen;
    // Written once every worker listens: the drop-in's ExecStartPost (`bext-server wait-ready`) waits for
    // it, so `systemctl start` returns only once bext serves. A start that fails leaves the pid file of a
    // server that may already run untouched.
    writePidFile(first.settings.pidFile);
    reportToCaller([], true);
    this.log.log('notice', `bext-masquerade serving ${first.loaded.paths.confFile} with ${gen.workers.size} worker(s)`);
    return new Promise<number>((resolve) => (this.exit = resolve));
  }

  private exit: (code: number) => void = () => {};

  private makeGeneration(l: ReturnType<Master['load']>): Generation {
    return { id: this.nextId++, loaded: l.loaded, settings: l.settings, config: l.config, shape: l.shape, workers: new Set() };
  }

  /** Forks the generation's workers; resolves with error lines if any cannot serve. */
  private startWorkers(gen: Generation): Promise<string[] | undefined> {
    const pending = [];
    for (let i = 0; i < gen.settings.workers; i++) pending.push(this.forkWorker(gen));
    return Promise.all(pending).then((results) => {
      const errors = results.find((r) => r !== undefined);
      if (errors) for (const w of gen.workers) w.process.kill('SIGKILL');
      return errors;
    });
  }

  private forkWorker(gen: Generation): Promise<string[] | undefined> {
    const worker = cluster.fork({ BEXT_WORKER: '1', ...this.zoneLog.workerEnv() });
    // A worker that is already gone (Ctrl-C reaches the whole process group) closes its channel: a
    // message to it then fails with an 'error' event, which must not take the master down.
    worker.on('error', () => {});
    gen.workers.add(worker);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve([`worker process ${worker.process.pid} did not start in time`]), READY_TIMEOUT_MS);
      worker.on('message', (msg: ToMaster) => {
        if (msg.type === 'waiting') {
          // Forked just before a shutdown (a replacement for a worker that died): the stop sent then
          // may have come before the worker listened, so it gets one now instead of a configuration.
          if (this.stopping) worker.send({ type: 'stop', graceful: false, timeoutMs: 0 } satisfies ToWorker);
          else {
            const start = () => {
              if (this.stopping) return;
              this.started.add(worker);
              worker.send({ type: 'start', generation: gen.id, config: gen.config } satisfies ToWorker);
            };
            // A replacement that asks while the others swap starts with what they end up serving.
            if (gen.swapping) gen.swapping.then(start, start);
            else start();
          }
        }
        else if (msg.type === 'ready') {
          clearTimeout(timer);
          resolve(undefined);
        } else if (msg.type === 'failed') {
          clearTimeout(timer);
          resolve(msg.lines);
        } else if (msg.type === 'log') this.log.write(msg.entry);
      });
      worker.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve([`worker process ${worker.process.pid} ${signal ? `exited on signal ${signal}` : `exited with code ${code}`} before it was ready`]);
        gen.workers.delete(worker);
        this.onWorkerExit(gen, worker, code, signal);
      });
    });
  }

  /** A worker of the serving generation that dies unasked is replaced, as nginx's master does. */
  private onWorkerExit(gen: Generation, worker: Worker, code: number | null, signal: string | null): void {
    if (this.stopping) {
      if (this.allWorkersGone()) this.finish(0);
      return;
    }
    if (gen !== this.current || worker.exitedAfterDisconnect) return;
    const how = signal ? `exited on signal ${signal}` : `exited with code ${code}`;
    this.log.log('alert', `worker process ${worker.process.pid} ${how}`);
    void this.forkWorker(gen).then((err) => {
      if (err) for (const l of err) this.log.log('alert', l);
    });
  }

  private allWorkersGone(): boolean {
    // node:cluster drops a worker from its list at 'exit' only if its channel has closed, else at
    // 'disconnect', which can come after 'exit': one that has exited counts as gone.
    return Object.values(cluster.workers ?? {}).every((w) => w === undefined || w.isDead());
  }

  private installSignals(): void {
    // Node's defaults would kill us on HUP and USR2 and start the inspector on USR1.
    process.on('SIGHUP', () => void this.reload());
    process.on('SIGUSR1', () => this.reopen());
    process.on('SIGTERM', () => this.shutdown(true));
    process.on('SIGQUIT', () => this.shutdown(false));
    process.on('SIGINT', () => this.shutdown(false));
    process.on('SIGWINCH', () => {});
    process.on('SIGUSR2', () =>
      this.log.log('notice', 'USR2 (binary upgrade) is not supported by bext-masquerade: the running server keeps serving; a package upgrade falls back to a restart'),
    );
  }

  /** HUP: a new generation from a fresh read of the configuration; on any error the old one serves on. */
  reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = this.doReload().finally(() => {
      this.reloading = undefined;
      if (this.reloadAgain) {
        this.reloadAgain = false;
        void this.reload();
      }
    });
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    if (this.stopping || !this.current) return;
    this.log.log('notice', 'signal 1 (SIGHUP) received, reconfiguring');
    let next;
    try {
      next = this.load();
    } catch (err) {
      this.log.log('emerg', describe(err));
      return;
    }
    if (next.shape === this.current.shape && (await this.reloadInPlace(this.current, next))) return;
    const gen = this.makeGeneration(next);
    const failure = await this.startWorkers(gen);
    if (failure) {
      for (const l of failure) this.log.log('emerg', l);
      this.log.log('alert', 'reload failed: the previous configuration keeps serving');
      return;
    }
    const old = this.current;
    this.current = gen;
    this.log.retarget(gen.settings.errorLog.target, gen.settings.errorLog.level);
    if (gen.settings.pidFile !== old.settings.pidFile) {
      writePidFile(gen.settings.pidFile);
      removePidFile(old.settings.pidFile);
    }
    for (const w of old.workers) this.stopWorker(w, true, old.settings.shutdownTimeoutMs);
  }

  /**
   * The fast reload: the running workers swap to the new state (certbot waits only a second).
   * If any worker refuses it, those that took it go back, and the caller starts a new generation.
   */
  private reloadInPlace(gen: Generation, next: ReturnType<Master['load']>): Promise<boolean> {
    const swapping = this.swapInPlace(gen, next);
    gen.swapping = swapping;
    return swapping.finally(() => (gen.swapping = undefined));
  }

  private async swapInPlace(gen: Generation, next: ReturnType<Master['load']>): Promise<boolean> {
    const swap = (w: Worker, messages: ToWorker[]) =>
      new Promise<string[] | undefined>((resolve) => {
        const timer = setTimeout(() => done([`worker process ${w.process.pid} did not take the new configuration in time`]), READY_TIMEOUT_MS);
        const onMessage = (msg: ToMaster) => {
          if (msg.type === 'swapped') done(undefined);
          else if (msg.type === 'failed') done(msg.lines);
        };
        // A worker that dies meanwhile serves nothing: its replacement starts with what the others took.
        const onExit = () => done(undefined);
        const done = (r: string[] | undefined) => {
          clearTimeout(timer);
          w.off('message', onMessage);
          w.off('exit', onExit);
          resolve(r);
        };
        w.on('message', onMessage);
        w.on('exit', onExit);
        for (const m of messages) w.send(m);
      });
    // A worker not yet sent its start gets the new configuration once this is over (forkWorker).
    const workers = [...gen.workers].filter((w) => this.started.has(w));
    const forward = swapMessages(next.config);
    const results = await Promise.all(workers.map((w) => swap(w, forward)));
    const failed = results.find((r) => r !== undefined);
    if (failed) {
      for (const l of failed) this.log.log('emerg', l);
      const back = swapMessages(gen.config);
      await Promise.all(workers.filter((_, i) => results[i] === undefined).map((w) => swap(w, back)));
      return false;
    }
    const oldPid = gen.settings.pidFile;
    Object.assign(gen, { loaded: next.loaded, settings: next.settings, config: next.config });
    this.log.retarget(gen.settings.errorLog.target, gen.settings.errorLog.level);
    if (gen.settings.pidFile !== oldPid) {
      writePidFile(gen.settings.pidFile);
      removePidFile(oldPid);
    }
    return true;
  }

  /** USR1: logrotate renamed the files; recreate them for the workers' account, and every process reopens. */
  reopen(): void {
    this.log.log('notice', 'signal 10 (SIGUSR1) received, reopening logs');
    this.log.reopen();
    if (!this.current) return;
    prepareLogFiles(this.current.loaded, this.current.config.user);
    for (const w of this.current.workers) w.send({ type: 'reopen' } satisfies ToWorker);
  }

  private shutdown(graceful: boolean): void {
    if (this.stopping && graceful) return;
    this.stopping = true;
    this.log.log('notice', graceful ? 'graceful shutdown' : 'exiting');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    if (workers.length === 0) return this.finish(0);
    const timeout = this.current?.settings.shutdownTimeoutMs ?? 10_000;
    for (const w of workers) this.stopWorker(w, graceful, timeout);
  }

  private stopWorker(w: Worker, graceful: boolean, timeoutMs: number): void {
    if (!w.isConnected()) return; // already exiting on its own
    w.send({ type: 'stop', graceful, timeoutMs } satisfies ToWorker);
    // A worker that cannot finish (a stuck request) is killed after the drain time.
    setTimeout(() => w.isDead() || w.process.kill('SIGKILL'), graceful ? timeoutMs + 1000 : 1000).unref();
  }

  private finish(code: number): void {
    if (this.current) removePidFile(this.current.settings.pidFile);
    this.exit(code);
  }
}

function describe(err: unknown): string {
  if (err instanceof ConfError) return err.message;
  return (err as Error)?.message ?? String(err);
}

/** The master reads every certificate and key (root-only files); workers get the PEM text. */
function readCertificates(loaded: LoadedConfig): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (nodes: LoadedConfig['tree']) => {
    for (const n of nodes) {
      if ((n.directive === 'ssl_certificate' || n.directive === 'ssl_certificate_key') && !n.args[0].includes('$')) {
        const file = path.resolve(loaded.paths.confPrefix, n.args[0]);
        if (!(file in out)) {
          try {
            out[file] = readFileSync(file, 'utf8');
          } catch (err) {
            const e = err as NodeJS.ErrnoException;
            throw new ConfError(`cannot load certificate${n.directive.endsWith('key') ? ' key' : ''} "${file}": ${e.code === 'ENOENT' ? 'No such file or directory' : e.message}`, n.file, n.line);
          }
        }
      }
      if (n.block) walk(n.block);
    }
  };
  walk(loaded.tree);
  return out;
}

/**
 * The other TLS files the workers need, read as root like the keys: the CA lists and CRLs servers
 * verify clients with, the session ticket keys, and for https upstreams the CA lists and client certificates. The parser
 * has checked that they load (ssl-checks.ts), as nginx does at merge time.
 */
function readTlsFiles(state: RoutingState): Record<string, string> {
  const files = new Set<string>();
  for (const { tls } of state.tls) {
    if (tls.verifyClient && tls.clientCertificate) files.add(tls.clientCertificate);
    if (tls.trustedCertificate) files.add(tls.trustedCertificate);
    if (tls.crl) files.add(tls.crl);
    // Ticket key files are secrets too (root's alone, as a rule); a binary file reads as latin1 whole.
    if (tls.sessionTickets && tls.ticketKeyFiles?.[0]) files.add(tls.ticketKeyFiles[0]);
  }
  const walk = (nodes: readonly ConfNode[]) => {
    for (const n of nodes) {
      if (/^(proxy|grpc)_ssl_(trusted_certificate|certificate|certificate_key)$/.test(n.directive) && !n.args[0]!.includes('$')) {
        files.add(path.resolve(state.paths.confPrefix, n.args[0]!));
      }
      if (n.block) walk(n.block);
    }
  };
  walk(state.httpDirectives ?? []);
  const out: Record<string, string> = {};
  for (const file of files) {
    try {
      out[file] = readFileSync(file, 'latin1');
    } catch {
      // Not a file nginx loads (the parser checked those): a proxy_pass that is not https.
    }
  }
  return out;
}

/**
 * The workers open their logs by path as the `user` account, so the master creates each file and
 * gives it to that account, as nginx's master does when it reopens logs.
 */
function prepareLogFiles(loaded: LoadedConfig, user: { uid: number; gid: number } | undefined): void {
  const walk = (nodes: LoadedConfig['tree']) => {
    for (const n of nodes) {
      const isLog = n.directive === 'access_log' || n.directive === 'error_log';
      const target = n.args[0];
      if (isLog && target && target !== 'off' && target !== 'stderr' && !target.startsWith('syslog:') && !target.includes('$')) {
        const file = fromPrefix(loaded, target);
        try {
          closeSync(openSync(file, 'a', 0o644));
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          throw new ConfError(`open() "${file}" failed${errnoSuffix(e)}`);
        }
        if (user) chownSync(file, user.uid, user.gid);
      }
      if (n.block) walk(n.block);
    }
  };
  walk(loaded.tree);
}

/**
 * ngx_create_paths, at start and on every reload: each client_body_temp_path in effect exists (the
 * last component is made, mode 0700) and belongs to the workers' account, which writes there.
 */
function createTempPaths(state: RoutingState, user: { uid: number; gid: number } | undefined): void {
  const paths = new Set<string>();
  const walk = (level: LocationLevel): void => {
    for (const loc of [...level.exact.values(), ...level.prefixes, ...level.regexes]) {
      paths.add(loc.conf.clientBody.tempPath);
      walk(loc.nested);
    }
  };
  for (const server of state.servers) {
    paths.add(server.conf.clientBody.tempPath);
    walk(server.locations);
    for (const named of server.named.values()) paths.add(named.conf.clientBody.tempPath);
  }
  for (const p of paths) {
    try {
      mkdirSync(p, 0o700);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'EEXIST') throw new ConfError(`mkdir() "${p}" failed${errnoSuffix(e)}`);
    }
    if (!user) continue;
    const st = statSync(p);
    try {
      if (st.uid !== user.uid) chownSync(p, user.uid, -1);
    } catch (err) {
      throw new ConfError(`chown("${p}", ${user.uid}) failed${errnoSuffix(err as NodeJS.ErrnoException)}`);
    }
    try {
      if ((st.mode & 0o700) !== 0o700) chmodSync(p, (st.mode & 0o7777) | 0o700);
    } catch (err) {
      throw new ConfError(`chmod() "${p}" failed${errnoSuffix(err as NodeJS.ErrnoException)}`);
    }
  }
}

function resolveUser({ name, group, node }: NonNullable<MainSettings['user']>): { uid: number; gid: number } {
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':'));
  const groups = readFileSync('/etc/group', 'utf8').split('\n').map((l) => l.split(':'));
  const u = passwd.find((f) => f[0] === name);
  if (!u) throw new ConfError(`getpwnam("${name}") failed`, node.file, node.line);
  const g = groups.find((f) => f[0] === group);
  if (!g) throw new ConfError(`getgrnam("${group}") failed`, node.file, node.line);
  return { uid: Number(u[2]), gid: Number(g[2]) };
}
