// Differential: max_headers, the limit Debian's nginx backports (1000 header lines by default): a
// request with more lines is refused ("400 Request Header Or Cookie Too Large") with nginx's info line, at the default and at a
// server's own limit. Before, bext took any number (node:http drops what is past 2000).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { errorLinesOf, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  pair = await startPair(wrapConfig(`
  server { listen 127.0.0.1:@P1@; server_name one.test; location / { return 200 "ok\\n"; } }
  server { listen 127.0.0.1:@P2@; server_name two.test; max_headers 5; location / { return 200 "ok\\n"; } }`), makeSite({}), ['P1', 'P2']);
});

after(async () => {
  await pair?.stop();
});

/** A request of `lines` header lines in all (Host and Connection among them). */
const withLines = (name: string, port: string, lines: number): Case => ({
  name, port, target: '/', headers: Array.from({ length: lines - 2 }, (_, i): [string, string] => [`X-H${i}`, 'v']),
});

test('max_headers: more header lines than the limit is a 400, as nginx', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const outcomes = await runCases(pair!, [
    withLines('1000 lines, the default limit', 'P1', 1000),
    withLines('1001 lines', 'P1', 1001),
    withLines('5 lines, max_headers 5', 'P2', 5),
    withLines('6 lines', 'P2', 6),
  ]);
  const { unexpected } = report('max_headers', outcomes);
  assert.deepEqual(unexpected, []);
  assert.deepEqual(outcomes.map((o) => o.nginx.status), [200, 400, 200, 400]);
  const pick = (log: string) => log.split('\n').filter((l) => l.includes('too many header lines')).map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] '));
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
  assert.equal(theirs.length, 2);
});
