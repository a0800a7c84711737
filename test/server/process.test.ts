// The process model on real processes and real signals (issue 5): start through the shim, reloads
// under load, a broken reload, log reopen after a rename, graceful TERM, a killed worker, bind errors.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, renameSync, statSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  alive, ensureBuilt, freePort, get, makePrefix, readPid, requestLoop, run, SERVER, SHIM, waitFor, workerPids, type Prefix,
} from './helpers.ts';

const asRoot = process.getuid?.() === 0;

function config(gen: string, extra = ''): string {
  return `${asRoot ? 'user www-data;' : ''}
worker_processes 2;
pid @DIR@/logs/nginx.pid;
error_log @DIR@/logs/error.log notice;
events { worker_connections 64; }
http {
    log_format bypid '$pid "$request" $status';
    access_log @DIR@/logs/access.log bypid;
    server {
        listen 127.0.0.1:@PORT@;
        root @DIR@/html;
        location /gen { return 200 "${gen}\\n"; }
        ${extra}
    }
}
`;
}

const shimEnv = { BEXT_SERVER_BIN: SERVER };

async function start(p: Prefix): Promise<number> {
  const r = await run(process.execPath, [SHIM, '-p', `${p.dir}/`, '-c', 'nginx.conf'], shimEnv);
  assert.equal(r.code, 0, `nginx start failed: ${r.stderr}`);
  const pid = readPid(p.pidFile);
  assert.ok(pid, 'pid file written');
  return pid;
}

async function stop(p: Prefix): Promise<void> {
  const pid = readPid(p.pidFile);
  const r = await run(process.execPath, [SHIM, '-p', `${p.dir}/`, '-c', 'nginx.conf', '-s', 'quit'], shimEnv);
  assert.equal(r.code, 0, r.stderr);
  if (pid) await waitFor(() => !alive(pid), 10_000, 'the master to exit');
}

before(ensureBuilt);

describe('start, pid file, comm, stop', () => {
  let p: Prefix;
  before(async () => (p = await makePrefix(config('gen 1'))));
  after(() => p.cleanup());

  test('plain `nginx` daemonizes: exits 0 once listening, pipes closed; comm is nginx', async () => {
    const pid = await start(p);
    // run() resolved, so the caller's stdout/stderr pipes were closed by the daemon: certbot's wait returns.
    assert.equal((await get(p.port, '/gen')).body, 'gen 1\n');
    assert.equal(readFileSync(p.pidFile, 'utf8'), `${pid}\n`);
    assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'nginx');
    const workers = workerPids(pid);
    assert.equal(workers.length, 2);
    for (const w of workers) {
      assert.match(readFileSync(`/proc/${w}/cmdline`, 'utf8'), /^bext: worker process/);
      if (asRoot) assert.match(readFileSync(`/proc/${w}/status`, 'utf8'), /^Uid:\s+33\s/m, 'worker runs as www-data');
    }
    if (asRoot) assert.equal(statSync(path.join(p.dir, 'logs/access.log')).uid, 33, 'access log given to the user');
  });

  test('`pgrep -x nginx` and start-stop-daemon --name nginx find the master', async () => {
    const pid = readPid(p.pidFile)!;
    const pg = spawnSync('pgrep', ['-x', 'nginx'], { encoding: 'utf8' }).stdout.split('\n').map(Number);
    assert.ok(pg.includes(pid));
    const ssd = spawnSync('start-stop-daemon', ['--stop', '--signal', 'USR1', '--quiet', '--pidfile', p.pidFile, '--name', 'nginx']);
    if (ssd.error) return; // start-stop-daemon absent (not Debian)
    assert.equal(ssd.status, 0, 'start-stop-daemon found a process named nginx with that pid');
    await waitFor(() => readFileSync(path.join(p.dir, 'logs/error.log'), 'utf8').includes('reopening logs'), 5000, 'the reopen notice');
    assert.ok(alive(pid), 'USR1 did not kill the master');
  });

  test('USR2 and WINCH are declined harmlessly', async () => {
    const pid = readPid(p.pidFile)!;
    process.kill(pid, 'SIGUSR2');
    process.kill(pid, 'SIGWINCH');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(alive(pid));
    assert.equal((await get(p.port, '/gen')).status, 200);
    assert.match(readFileSync(path.join(p.dir, 'logs/error.log'), 'utf8'), /USR2 \(binary upgrade\) is not supported/);
  });

  test('`nginx -s quit` stops it and removes the pid file', async () => {
    const pid = readPid(p.pidFile)!;
    await stop(p);
    assert.ok(!alive(pid));
    assert.ok(!existsSync(p.pidFile));
  });
});

describe('reload', () => {
  let p: Prefix;
  before(async () => {
    p = await makePrefix(config('gen 0'));
    await start(p);
  });
  after(async () => {
    await stop(p).catch(() => {});
    p.cleanup();
  });

  test('20 reloads while a request loop runs: 0 failed requests, the last config is live', async () => {
    const loop = requestLoop(p.port, '/gen');
    const pid = readPid(p.pidFile)!;
    const workersBefore = workerPids(pid).sort();
    for (let i = 1; i <= 20; i++) {
      p.write(config(`gen ${i}`));
      const r = await run(process.execPath, [SHIM, '-p', `${p.dir}/`, '-c', 'nginx.conf', '-s', 'reload'], shimEnv);
      assert.equal(r.code, 0, r.stderr);
      await waitFor(async () => (await get(p.port, '/gen')).body === `gen ${i}\n`, 5000, `generation ${i} to serve`);
    }
    const stats = await loop.stop();
    console.log(`reload under load: ${stats.sent} requests sent, ${stats.failed} failed, ${stats.bodies.size} generations seen`);
    assert.equal(stats.failed, 0, stats.failures.join('\n'));
    assert.ok(stats.sent > 20);
    assert.equal(readPid(p.pidFile), pid, 'same master');
    // Same sockets, user and worker count: the running workers took each new state in place.
    assert.deepEqual(workerPids(pid).sort(), workersBefore);
  });

  test('a reload that adds a socket starts a new generation of workers, which serve both ports', async () => {
    const pid = readPid(p.pidFile)!;
    const workersBefore = workerPids(pid);
    const second = await freePort();
    p.write(config('gen moved', `listen 127.0.0.1:${second};`));
    process.kill(pid, 'SIGHUP');
    await waitFor(async () => (await get(second, '/gen').catch(() => ({ body: '' }))).body === 'gen moved\n', 10_000, 'the new socket');
    // Until the old generation has stopped accepting, both may answer on the old port (as with nginx):
    // asked until the new state answers. (What the old workers do with the connections they hold is
    // reload-connections.test.ts.)
    await waitFor(async () => (await get(p.port, '/gen').catch(() => ({ body: '' }))).body === 'gen moved\n', 10_000, 'the old port on the new state');
    await waitFor(() => workerPids(pid).every((w) => !workersBefore.includes(w)), 10_000, 'the old generation to exit');
  });

  test('a broken config: reload keeps the old one serving and logs the error with file:line', async () => {
    const before = (await get(p.port, '/gen')).body;
    writeFileSync(p.conf, readFileSync(p.conf, 'utf8').replace('events {', 'bogus_directive on;\nevents {'));
    const pid = readPid(p.pidFile)!;
    process.kill(pid, 'SIGHUP');
    const log = path.join(p.dir, 'logs/error.log');
    await waitFor(() => readFileSync(log, 'utf8').includes('bogus_directive'), 5000, 'the error line');
    assert.match(readFileSync(log, 'utf8'), new RegExp(`\\[emerg\\] \\d+#\\d+: unknown directive "bogus_directive" in ${p.conf}:\\d+`));
    assert.equal((await get(p.port, '/gen')).body, before);
    // and `nginx -s reload` refuses to send anything for it, as nginx does
    const r = await run(process.execPath, [SHIM, '-p', `${p.dir}/`, '-c', 'nginx.conf', '-s', 'reload'], shimEnv);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown directive "bogus_directive"/);
  });
});

describe('logs, workers, shutdown', () => {
  let p: Prefix;
  before(async () => {
    p = await makePrefix(config('gen 1'));
    // a large file for slow downloads in flight during TERM
    writeFileSync(path.join(p.dir, 'html/big.bin'), Buffer.alloc(8 * 1024 * 1024, 7));
    await start(p);
  });
  after(async () => {
    await stop(p).catch(() => {});
    p.cleanup();
  });

  test('USR1 after logrotate renames the log: every request in exactly one file, new lines in the new one', async () => {
    const log = path.join(p.dir, 'logs/access.log');
    const loop = requestLoop(p.port, '/gen?tag=reopen');
    await waitFor(() => loop.stats.sent > 30, 10_000, 'requests before the rename');
    renameSync(log, `${log}.1`);
    process.kill(readPid(p.pidFile)!, 'SIGUSR1');
    await waitFor(() => existsSync(log) && loop.stats.sent > 120, 10_000, 'requests after the reopen');
    const stats = await loop.stop();
    const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => l.includes('tag=reopen'));
    // Log writes are buffered off the request path: wait (bounded) until the workers have flushed.
    await waitFor(() => lines(`${log}.1`).length + lines(log).length >= stats.sent, 10_000, 'the buffered log lines').catch(() => {});
    const oldLines = lines(`${log}.1`);
    const newLines = lines(log);
    const ids = [...oldLines, ...newLines].map((l) => /n=(\d+)/.exec(l)![1]);
    console.log(`reopen: ${stats.sent} sent, ${stats.failed} failed, ${oldLines.length} lines in access.log.1, ${newLines.length} in access.log`);
    assert.equal(stats.failed, 0);
    assert.equal(ids.length, stats.sent, 'no line lost');
    assert.equal(new Set(ids).size, ids.length, 'no line twice');
    assert.ok(newLines.length > 0, 'new lines go to the new file');
    // Each worker reopens when its own message arrives (as nginx's do), so the order holds per worker:
    // a request another worker served between the two reopens may still land in the old file.
    const byPid = (ls: string[]) => {
      const m = new Map<string, number[]>();
      for (const l of ls) {
        const [pid] = l.split(' ');
        m.set(pid, [...(m.get(pid) ?? []), Number(/n=(\d+)/.exec(l)![1])]);
      }
      return m;
    };
    const oldBy = byPid(oldLines);
    for (const [pid, ns] of byPid(newLines)) {
      const lastOld = Math.max(...(oldBy.get(pid) ?? [-1]));
      assert.ok(lastOld < Math.min(...ns), `worker ${pid}: nothing written to the renamed file after its reopen`);
    }
  });

  test('a killed worker is replaced; only its in-flight requests could fail', async () => {
    const master = readPid(p.pidFile)!;
    const loop = requestLoop(p.port, '/gen');
    await waitFor(() => loop.stats.sent > 10, 5000, 'traffic');
    const [victim] = workerPids(master);
    process.kill(victim, 'SIGKILL');
    await waitFor(() => workerPids(master).length === 2 && !workerPids(master).includes(victim), 10_000, 'a new worker');
    await waitFor(() => loop.stats.sent > 60, 10_000, 'traffic after the respawn');
    const stats = await loop.stop();
    console.log(`worker killed: ${stats.sent} sent, ${stats.failed} failed`);
    assert.ok(stats.failed <= 1, stats.failures.join('\n'));
    assert.match(readFileSync(path.join(p.dir, 'logs/error.log'), 'utf8'), new RegExp(`worker process ${victim} exited on signal SIGKILL`));
  });

  test('a reload while a worker dies or is being replaced: every worker serves the new configuration at once', async () => {
    const master = readPid(p.pidFile)!;
    // Each worker swaps when its conversion is done: until both have, either may answer (and a
    // connection the killed worker had accepted fails).
    const allServe = async (body: string) => {
      for (let i = 0; i < 20; i++) if ((await get(p.port, '/gen').catch(() => ({ body: '' }))).body !== body) return false;
      return true;
    };
    // A reload right after a worker died: its replacement is forked but not yet started.
    const [victim] = workerPids(master);
    process.kill(victim, 'SIGKILL');
    await waitFor(() => !workerPids(master).includes(victim), 5000, 'the master to see the exit');
    p.write(config('gen after respawn'));
    process.kill(master, 'SIGHUP');
    await waitFor(() => allServe('gen after respawn\n'), 5000, 'the new configuration on both workers');
    // A worker that dies in the middle of a reload.
    p.write(config('gen after a death'));
    process.kill(master, 'SIGHUP');
    process.kill(workerPids(master)[0]!, 'SIGKILL');
    await waitFor(() => allServe('gen after a death\n'), 5000, 'the new configuration on both workers');
    await waitFor(() => workerPids(master).length === 2, 5000, 'two workers');
    const log = readFileSync(path.join(p.dir, 'logs/error.log'), 'utf8');
    assert.doesNotMatch(log, /did not take the new configuration|reload failed/);
  });

  test('TERM is graceful: slow downloads in flight complete, then the master exits', async () => {
    const master = readPid(p.pidFile)!;
    const size = statSync(path.join(p.dir, 'html/big.bin')).size;
    const downloads = [0, 1, 2].map(
      () =>
        new Promise<number>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: p.port, path: '/big.bin', agent: false }, (res) => {
            let got = 0;
            res.on('data', (c: Buffer) => {
              got += c.length;
              res.pause(); // a slow client: the response is still in flight when TERM arrives
              setTimeout(() => res.resume(), 5);
            });
            res.on('end', () => resolve(got));
            res.on('error', reject);
          }).on('error', reject);
        }),
    );
    await new Promise((r) => setTimeout(r, 300));
    process.kill(master, 'SIGTERM');
    // new connections are refused soon after, while the downloads go on
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(p.port, '127.0.0.1');
          s.on('connect', () => (s.destroy(), resolve(false)));
          s.on('error', () => resolve(true));
        }),
      5000,
      'the listening socket to close',
    );
    const got = await Promise.all(downloads);
    assert.deepEqual(got, [size, size, size]);
    await waitFor(() => !alive(master), 15_000, 'the master to exit');
    assert.ok(!existsSync(p.pidFile));
  });
});

test('a worker forked just before a shutdown does not hold it up', async () => {
  const p = await makePrefix(config('x'));
  try {
    const master = await start(p);
    const before = workerPids(master);
    process.kill(before[0]!, 'SIGKILL');
    // TERM while the replacement is still starting: the stop it is sent can come before it listens.
    await waitFor(() => workerPids(master).some((w) => !before.includes(w)), 5000, 'a replacement');
    process.kill(master, 'SIGTERM');
    const t0 = Date.now();
    await waitFor(() => !alive(master), 5000, 'the master to exit'); // else: the drain time + 1 s, then a SIGKILL
    console.log(`master exited ${Date.now() - t0} ms after TERM`);
  } finally {
    p.cleanup();
  }
});

test("`nginx -g 'daemon off;'` serves in the process that was started: its pid is in the pid file", async () => {
  const p = await makePrefix(config('fg'));
  try {
    const shim = spawn(process.execPath, [SHIM, '-p', `${p.dir}/`, '-c', 'nginx.conf', '-g', 'daemon off;'], {
      env: { ...process.env, ...shimEnv },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => shim.once('exit', (code) => r(code)));
    await waitFor(() => readPid(p.pidFile) !== undefined, 10_000, 'the pid file');
    assert.equal(readPid(p.pidFile), shim.pid, 'nginx-tests signal the pid they started');
    assert.equal(readFileSync(`/proc/${shim.pid}/comm`, 'utf8').trim(), 'nginx');
    assert.equal((await get(p.port, '/gen')).body, 'fg\n');
    shim.kill('SIGQUIT');
    assert.equal(await exited, 0);
  } finally {
    p.cleanup();
  }
});

test('an address in use: the caller reports nginx\'s bind errors and exits 1', async () => {
  const p = await makePrefix(config('x'));
  const blocker = net.createServer().listen(p.port, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  try {
    const t0 = Date.now();
    const r = await run(process.execPath, [SHIM, '-p', `${p.dir}/`, '-c', 'nginx.conf'], shimEnv);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`bind\\(\\) to 127.0.0.1:${p.port} failed \\(98: Address already in use\\)`));
    assert.match(r.stderr, /still could not bind\(\)/);
    assert.ok(Date.now() - t0 >= 2000, 'retried as nginx does (5 × 500 ms)');
    assert.ok(!existsSync(p.pidFile), 'no pid file left behind');
  } finally {
    blocker.close();
    p.cleanup();
  }
});
