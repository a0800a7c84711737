// HTTP from inside the container with curl, and a request loop that counts what it sent.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { SystemdContainer } from '../lib/container.ts';

export interface Fetched {
  status: number;
  body: string;
}

/** curl inside the container; `status` is 0 when no HTTP answer came (connection refused, TLS error). */
export async function fetchIn(host: SystemdContainer, url: string, curlArgs: string[] = []): Promise<Fetched> {
  const args = [...curlArgs.map((a) => `'${a}'`), `'${url}'`].join(' ');
  const r = await host.sh(`curl -s -m 10 -w '\\n%{http_code}' ${args}`);
  const lines = r.stdout.split('\n');
  const status = Number(lines.pop() ?? 0);
  return { status, body: lines.join('\n') };
}

/** Debian's default site: 200 and its "Welcome to nginx!" page. */
export async function expectDefaultSite(host: SystemdContainer): Promise<void> {
  const r = await fetchIn(host, 'http://localhost/');
  assert.equal(r.status, 200, `GET http://localhost/ gave ${r.status}`);
  assert.match(r.body, /Welcome to nginx!/, 'the default site is not Debian\'s index.nginx-debian.html');
}

export interface LoopFigures {
  marker: string;
  sent: number;
  ok: number;
  failed: number;
  /** status code → count, for the failures */
  failures: Record<string, number>;
}

export interface RequestLoop {
  marker: string;
  /** Resolves when the loop has sent its `count` requests. */
  done: Promise<LoopFigures>;
}

/**
 * Sends `count` sequential requests from inside the container, each with a unique User-Agent marker so
 * the access-log lines can be counted exactly. Runs in the background until `done`.
 */
export function startRequestLoop(
  host: SystemdContainer,
  { url = 'http://localhost/', count = 300, pauseSeconds = 0.01, curlArgs = '' } = {},
): RequestLoop {
  const marker = `bext-it-loop-${randomBytes(4).toString('hex')}`;
  const script = `for i in $(seq 1 ${count}); do
  curl -s -o /dev/null -m 5 ${curlArgs} -A '${marker}' -w '%{http_code}\\n' '${url}' || true
  sleep ${pauseSeconds}
done`;
  const done = host.sh(script, { timeoutMs: 10 * 60_000 }).then((r) => {
    const codes = r.stdout.split('\n').filter(Boolean);
    const failures: Record<string, number> = {};
    for (const c of codes) if (c !== '200') failures[c] = (failures[c] ?? 0) + 1;
    const ok = codes.filter((c) => c === '200').length;
    return { marker, sent: codes.length, ok, failed: codes.length - ok, failures };
  });
  return { marker, done };
}

export function describeLoop(f: LoopFigures): string {
  const detail = f.failed ? ` (${Object.entries(f.failures).map(([c, n]) => `${n}× status ${c}`).join(', ')})` : '';
  return `requests sent ${f.sent}, ok ${f.ok}, failed ${f.failed}${detail}`;
}
