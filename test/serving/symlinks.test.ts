// Differential: disable_symlinks on, if_not_owner and from=, on static files and try_files: a link
// as the last component is 403, one on the way 404, a link whose owner differs from its target's
// refused under if_not_owner; try_files passes over a refused candidate. Answers and error lines
// as nginx's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lchownSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { errorLinesOf, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;
const asRoot = process.getuid?.() === 0;

before(async () => {
  if (!haveNginx) return;
  const site = makeSite({ 'real/f.txt': 'file\n', 'other/g.txt': 'g\n' });
  symlinkSync('real', join(site, 'linkdir'));
  symlinkSync('real/f.txt', join(site, 'link.txt'));
  symlinkSync('other/g.txt', join(site, 'foreign.txt'));
  // A link owned by another account than its target (if_not_owner refuses it).
  if (asRoot) lchownSync(join(site, 'foreign.txt'), 65534, 65534);
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    location /on/ { alias @SITE@/; disable_symlinks on; }
    location /owner/ { alias @SITE@/; disable_symlinks if_not_owner; }
    location /from/ { alias @SITE@/; disable_symlinks on from=@SITE@/linkdir; }
    location /off/ { alias @SITE@/; }
    location /tf/ { root @SITE@; disable_symlinks on; try_files /link.txt /real/f.txt =404; }
  }`), site, ['P1']);
});

after(async () => {
  await pair?.stop();
});

const c = (target: string): Case => ({ name: target, port: 'P1', target });
const cases: Case[] = [
  c('/on/real/f.txt'), c('/on/link.txt'), c('/on/linkdir/f.txt'), c('/owner/link.txt'), c('/owner/linkdir/f.txt'),
  c('/from/linkdir/f.txt'), c('/from/link.txt'), c('/off/link.txt'), c('/off/linkdir/f.txt'), c('/tf/x'),
  ...(asRoot ? [c('/owner/foreign.txt'), c('/on/foreign.txt')] : []),
];

test('disable_symlinks: identical to nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, cases);
  const { unexpected } = report('disable_symlinks', outcomes);
  assert.deepEqual(unexpected, []);
  assert.equal(outcomes[1]!.nginx.status, 403);
  const pick = (log: string) => log.split('\n').filter((l) => l.includes('openat()')).map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/\/tmp\/[^/"]+/g, 'SITE'));
  const [ours, theirs] = await errorLinesOf(pair!, pick);
  assert.deepEqual(ours, theirs);
});
