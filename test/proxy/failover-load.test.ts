// Load through proxy_pass with an upstream killed and restarted midway (issue 4): 64 concurrent
// keep-alive clients for BEXT_LOAD_SECONDS (default 30) against real nginx, then against bext-server,
// on the same config and the same kind of upstream processes. Only requests in flight on the killed
// upstream may fail, and bext may not fail more than that, nor more than nginx in the same run.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { test } from 'node:test';
import { ensureBuilt, freePort, makePrefix, readPid, run, SERVER, waitFor } from '../server/helpers.ts';

const NGINX = '/usr/sbin/nginx';
const SECONDS = Number(process.env.BEXT_LOAD_SECONDS ?? 30);
const CLIENTS = 64;

// Each upstream answers after 20 ms, so requests are in flight on it when it is killed.
const UPSTREAM = `require('http').createServer((q, r) => setTimeout(() => r.end('up ' + process.env.PORT + '\\n'), 20))
  .listen(Number(process.env.PORT), '127.0.0.1', () => process.send && process.send('up'));`;

function startUpstream(port: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', UPSTREAM], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    p.once('message', () => resolve(p));
    p.once('error', reject);
  });
}

interface Outcome {
  sent: number;
  ok: number;
  failed: number;
  /** Requests the killed upstream had accepted and not answered when it died (upper bound). */
  inFlightAtKill: number;
  byUpstream: Record<string, number>;
}

async function drive(port: number, upstreamPorts: [number, number]): Promise<Outcome> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const out: Outcome = { sent: 0, ok: 0, failed: 0, inFlightAtKill: 0, byUpstream: {} };
  let inFlight = 0;
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      out.sent++;
      inFlight++;
      const req = http.get({ host: '127.0.0.1', port, path: '/app', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          inFlight--;
          if (res.statusCode === 200) {
            out.ok++;
            out.byUpstream[body.trim()] = (out.byUpstream[body.trim()] ?? 0) + 1;
          } else out.failed++;
          resolve();
        });
      });
      req.on('error', () => {
        inFlight--;
        out.failed++;
        resolve();
      });
    });
  const [a, b] = [await startUpstream(upstreamPorts[0]), await startUpstream(upstreamPorts[1])];
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (running) await one();
  });
  await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 3));
  // Both upstreams take half of the load: at most the in-flight requests are on the killed one.
  out.inFlightAtKill = inFlight;
  b.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 3));
  const b2 = await startUpstream(upstreamPorts[1]);
  await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 3));
  running = false;
  await Promise.all(loops);
  agent.destroy();
  a.kill('SIGKILL');
  b2.kill('SIGKILL');
  return out;
}

const CONFIG = `worker_processes 2;
pid @DIR@/logs/nginx.pid;
error_log @DIR@/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    upstream app { server 127.0.0.1:@U1@ fail_timeout=2s; server 127.0.0.1:@U2@ fail_timeout=2s; keepalive 32; }
    server {
        listen 127.0.0.1:@PORT@;
        location /app { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
`;

test(`64 clients through proxy_pass for ${SECONDS} s, one upstream killed and restarted: as nginx`, { timeout: (SECONDS * 2 + 60) * 1000 }, async (t) => {
  if (!existsSync(NGINX)) return t.skip('needs /usr/sbin/nginx (scripts/install-test-deps.sh installs it)');
  ensureBuilt();
  const results: Record<string, Outcome> = {};
  for (const kind of ['nginx', 'bext'] as const) {
    const ports: [number, number] = [await freePort(), await freePort()];
    const p = await makePrefix(CONFIG.replace('@U1@', String(ports[0])).replace('@U2@', String(ports[1])));
    try {
      const args = ['-p', `${p.dir}/`, '-c', 'nginx.conf'];
      const r = kind === 'nginx' ? await run(NGINX, args) : await run(process.execPath, [SERVER, ...args]);
      assert.equal(r.code, 0, r.stderr);
      await waitFor(() => readPid(p.pidFile) !== undefined, 5000, `${kind} to start`);
      results[kind] = await drive(p.port, ports);
      process.kill(readPid(p.pidFile)!, 'SIGQUIT');
    } finally {
      p.cleanup();
    }
    const o = results[kind];
    console.log(`${kind}: ${o.sent} sent, ${o.ok} ok, ${o.failed} failed, ${o.inFlightAtKill} in flight at the kill, by upstream ${JSON.stringify(o.byUpstream)}`);
  }
  const { nginx, bext } = results;
  assert.ok(bext.failed <= bext.inFlightAtKill, `bext failed ${bext.failed} > ${bext.inFlightAtKill} in flight`);
  assert.ok(bext.failed <= Math.max(nginx.failed, 0) + bext.inFlightAtKill, 'no worse than nginx beyond the in-flight requests');
  assert.equal(Object.keys(bext.byUpstream).length, 2, 'both upstreams served (the restarted one again)');
  assert.ok(bext.ok > CLIENTS * 10);
});
