// `npm run package`: builds dist/bext-masquerade_<version>-1_all.deb and
// dist/bext-masquerade-<version>-1.noarch.rpm (nfpm's file names) from packaging/nfpm.yaml.
// nfpm builds them when it is installed at the pinned version; otherwise dpkg-deb and rpmbuild do,
// from the same file. The rpm is always built with rpmbuild while its triggers cannot be declared in
// nfpm.yaml (packaging/rpm/triggers.yaml says why).
//
//   node --import tsx scripts/package.ts [--formats deb,rpm] [--out-dir DIR] [--fallback]
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildDeb, debFileName } from './package/deb.ts';
import { buildBundles, GENERATED_DIR, writeDebianChangelog, writeManPages } from './package/generated.ts';
import { loadNfpmConfig, loadRpmTriggers, resolve, type Format } from './package/nfpm-config.ts';
import { findNfpm, nfpmPackage } from './package/nfpm-tool.ts';
import { onPath, packageJsonVersion, packageVersions, repoRoot, sourceDateEpoch } from './package/project.ts';
import { buildRpm } from './package/rpm.ts';
import { checkSources } from './package/stage-tree.ts';

const TOOL_FOR: Record<Format, string> = { deb: 'dpkg-deb', rpm: 'rpmbuild' };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      formats: { type: 'string', default: 'deb,rpm' },
      'out-dir': { type: 'string', default: 'dist' },
      fallback: { type: 'boolean', default: false },
    },
  });
  const formats = values.formats.split(',').map((f) => f.trim()) as Format[];
  for (const f of formats) if (f !== 'deb' && f !== 'rpm') throw new Error(`unknown format "${f}" (deb, rpm)`);
  const root = repoRoot;
  const outDir = path.resolve(root, values['out-dir']);

  const epoch = await sourceDateEpoch();
  const env = { ...process.env, BEXT_VERSION: await packageJsonVersion(root), SOURCE_DATE_EPOCH: String(epoch) };
  const config = await loadNfpmConfig(path.join(root, 'packaging', 'nfpm.yaml'));
  const triggers = await loadRpmTriggers(path.join(root, 'packaging', 'rpm', 'triggers.yaml'));
  const infos = Object.fromEntries(formats.map((f) => [f, resolve(config, f, env)])) as Record<Format, ReturnType<typeof resolve>>;

  const nfpm = values.fallback ? { reason: '--fallback given' } : await findNfpm();
  if ('reason' in nfpm) console.log(`package: ${nfpm.reason}; building with the distributions' tools`);
  for (const f of formats) {
    const needed = f === 'rpm' || !('cmd' in nfpm);
    if (needed && !(await onPath(TOOL_FOR[f]))) throw new Error(`${TOOL_FOR[f]} is not installed (apt-get install ${f === 'deb' ? 'dpkg' : 'rpm'})`);
  }
  // Check the declared sources that are not generated before spending time on the build.
  for (const f of formats) await checkSources(infos[f].contents.filter((c) => !c.src.startsWith(`${GENERATED_DIR}/`)), root);

  const anyInfo = infos[formats[0]!];
  await buildBundles(root);
  await writeManPages(root);
  await writeDebianChangelog(anyInfo.name, packageVersions(anyInfo.version, anyInfo.release).deb, root);
  for (const f of formats) await checkSources(infos[f].contents, root);

  const workDir = path.join(root, GENERATED_DIR, 'work');
  await mkdir(outDir, { recursive: true });
  for (const f of formats) {
    if (f === 'deb') {
      if ('cmd' in nfpm) {
        await nfpmPackage(nfpm, 'deb', { root, outDir, env });
        console.log(`built ${path.join(outDir, debFileName(infos.deb))} (nfpm)`);
      } else {
        console.log(`built ${await buildDeb(infos.deb, { root, workDir, outDir, epoch })}`);
      }
    } else {
      console.log(`built ${await buildRpm(infos.rpm, triggers, { root, workDir, outDir, epoch })}`);
    }
  }
}

main().catch((e: unknown) => {
  // A failed tool: its own words (execFile's message repeats them after the command line).
  const err = e as Error & { cmd?: string; stderr?: string };
  console.error(err.cmd ? `package: ${err.cmd} failed:\n${err.stderr || err.message}` : `package: ${err.message}`);
  process.exitCode = 1;
});
