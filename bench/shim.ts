// How long `nginx -v` takes through the built shim, beside the real nginx and a bare `node -e 0`
// (the floor any Node program pays). certbot, monitoring and scripts call it often; it must stay close
// to that floor. Build first: `node scripts/build.mjs`. Usage: node --import tsx bench/shim.ts [RUNS]
// (BEXT_SHIM_BUNDLE=FILE times another build of the shim, e.g. the installed /usr/lib/bext/nginx-shim).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 30);
const shim = path.resolve(process.env.BEXT_SHIM_BUNDLE ?? path.join(root, 'dist', 'nginx-shim.js'));

interface Subject {
  name: string;
  file: string;
  args: string[];
}

const subjects: Subject[] = [
  { name: 'node -e 0', file: process.execPath, args: ['-e', '0'] },
  { name: 'shim -v', file: process.execPath, args: [shim, '-v'] },
  { name: 'shim -V', file: process.execPath, args: [shim, '-V'] },
];
// `nginx -t` on a small config, the way certbot calls it before every run.
const conf = mkdtempSync(path.join(tmpdir(), 'bext-bench-shim-'));
writeFileSync(
  path.join(conf, 'nginx.conf'),
  `pid ${conf}/nginx.pid;\nerror_log ${conf}/error.log;\nevents { }\nhttp { access_log off; server { listen 127.0.0.1:18999; location / { return 200; } } }\n`,
);
const testArgs = ['-t', '-q', '-p', `${conf}/`, '-c', 'nginx.conf'];
subjects.push({ name: 'shim -t', file: process.execPath, args: [shim, ...testArgs] });
if (existsSync('/usr/sbin/nginx')) {
  subjects.push({ name: '/usr/sbin/nginx -v', file: '/usr/sbin/nginx', args: ['-v'] });
  subjects.push({ name: '/usr/sbin/nginx -t', file: '/usr/sbin/nginx', args: testArgs });
}

function timeOnce(s: Subject): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(s.file, s.args, { stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${s.name} exited ${r.status}`);
  return ms;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

if (!existsSync(shim)) {
  console.error(`${shim} is missing: run \`node scripts/build.mjs\` first`);
  process.exit(1);
}

const samples = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
timeOnce(subjects[1]); // warm the page cache once
// Interleave the subjects so a noisy neighbour slows all of them alike.
for (let i = 0; i < runs; i++) for (const s of subjects) samples.get(s.name)!.push(timeOnce(s));

const width = Math.max(...subjects.map((s) => s.name.length));
console.log(`${runs} runs each, median wall time`);
for (const s of subjects) {
  const xs = samples.get(s.name)!;
  console.log(`${s.name.padEnd(width)}  ${median(xs).toFixed(1).padStart(7)} ms   (min ${Math.min(...xs).toFixed(1)} ms)`);
}
