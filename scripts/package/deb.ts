// Builds the .deb with dpkg-deb from the resolved nfpm view: the control archive nfpm would write
// (control, md5sums, conffiles, triggers, and the scripts mapped postinstall→postinst,
// preremove→prerm, postremove→postrm) next to the staged file tree.
import { createHash } from 'node:crypto';
import { chmod, copyFile, lutimes, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PackageInfo } from './nfpm-config.ts';
import { packageVersions, run } from './project.ts';
import { stageTree, type StagedEntry } from './stage-tree.ts';

const SCRIPT_NAMES = { postinstall: 'postinst', preremove: 'prerm', postremove: 'postrm' } as const;

/** nfpm's ConventionalFileName for deb: name_version-release_arch.deb. */
export function debFileName(info: PackageInfo): string {
  return `${info.name}_${packageVersions(info.version, info.release).deb}_${debArch(info.arch)}.deb`;
}

function debArch(arch: string): string {
  return arch === 'all' ? 'all' : arch;
}

/** A Description field as nfpm writes it: synopsis, then each line trimmed and indented by one space, blank lines as " .". */
export function debDescription(description: string): string {
  const [synopsis, ...rest] = description.trim().split('\n').map((l) => l.trim());
  return [synopsis, ...rest.map((l) => (l === '' ? ' .' : ` ${l}`))].join('\n');
}

/** Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, and 1 per other entry. */
function installedSizeKiB(entries: StagedEntry[]): number {
  return entries.reduce((sum, e) => sum + (e.kind === 'file' ? Math.ceil(e.size / 1024) : 1), 0);
}

export function debControl(info: PackageInfo, entries: StagedEntry[]): string {
  const fields: [string, string][] = [
    ['Package', info.name],
    ['Version', packageVersions(info.version, info.release).deb],
    ['Architecture', debArch(info.arch)],
    ['Maintainer', info.maintainer],
    ['Installed-Size', String(installedSizeKiB(entries))],
    ['Depends', info.depends.join(', ')],
    ['Recommends', info.recommends.join(', ')],
    ['Section', info.section],
    ['Priority', info.priority],
    ['Homepage', info.homepage],
    ['Description', debDescription(info.description)],
  ];
  return fields.filter(([, v]) => v !== '').map(([k, v]) => `${k}: ${v}\n`).join('');
}

export async function buildDeb(info: PackageInfo, opts: { root: string; workDir: string; outDir: string; epoch: number }): Promise<string> {
  const tree = path.join(opts.workDir, 'deb-root');
  const entries = await stageTree(info.contents, opts.root, tree, opts.epoch);
  const debian = path.join(tree, 'DEBIAN');
  await mkdir(debian);

  const conffiles = entries.filter((e) => e.content && (e.content.type === 'config' || e.content.type === 'config|noreplace')).map((e) => e.path);
  const control: Record<string, string> = { control: debControl(info, entries) };
  if (conffiles.length) control['conffiles'] = conffiles.map((p) => `${p}\n`).join('');
  control['md5sums'] = await md5sums(tree, entries.filter((e) => e.kind === 'file' && !conffiles.includes(e.path)));
  if (info.debTriggers.interest_noawait.length) {
    control['triggers'] = info.debTriggers.interest_noawait.map((t) => `interest-noawait ${t}\n`).join('');
  }
  for (const [name, file] of Object.entries(control)) {
    await writeFile(path.join(debian, name), file);
    await chmod(path.join(debian, name), 0o644);
  }
  for (const [key, name] of Object.entries(SCRIPT_NAMES)) {
    const src = info.scripts[key as keyof typeof SCRIPT_NAMES];
    if (!src) continue;
    await copyFile(path.join(opts.root, src), path.join(debian, name));
    await chmod(path.join(debian, name), 0o755);
  }
  await chmod(debian, 0o755);
  const when = new Date(opts.epoch * 1000);
  for (const name of [...Object.keys(control), ...Object.values(SCRIPT_NAMES), '']) {
    await lutimes(path.join(debian, name), when, when).catch(() => undefined);
  }
  await lutimes(tree, when, when);

  await mkdir(opts.outDir, { recursive: true });
  const out = path.join(opts.outDir, debFileName(info));
  const compress = { gzip: ['-Zgzip', '-z9'], xz: ['-Zxz'], none: ['-Znone'] }[info.debCompression];
  await run('dpkg-deb', ['--root-owner-group', ...compress, '--build', tree, out], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(opts.epoch) },
  });
  return out;
}

async function md5sums(tree: string, files: StagedEntry[]): Promise<string> {
  const lines: string[] = [];
  for (const f of files) {
    const sum = createHash('md5').update(await readFile(path.join(tree, f.path))).digest('hex');
    lines.push(`${sum}  ${f.path.slice(1)}\n`);
  }
  return lines.join('');
}
