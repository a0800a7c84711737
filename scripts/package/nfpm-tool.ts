// nfpm itself, when it is installed: `nfpm` on PATH, or the binary named by $NFPM. It is not on
// npm (there is no `npx nfpm`), and its release binary comes from GitHub, which these machines cannot
// reach; so it is used when present and at the pinned version, and the distributions' tools otherwise.
import path from 'node:path';
import { onPath, run } from './project.ts';

export const NFPM_VERSION = '2.48.0';

/** The nfpm command to use, or a reason why the fallback builds the packages. */
export async function findNfpm(env: NodeJS.ProcessEnv = process.env): Promise<{ cmd: string } | { reason: string }> {
  const cmd = env['NFPM'] || 'nfpm';
  if (!env['NFPM'] && !(await onPath('nfpm', env))) return { reason: 'nfpm is not installed' };
  try {
    const { stdout, stderr } = await run(cmd, ['--version'], { encoding: 'utf8', timeout: 10_000, env });
    const version = /(\d+\.\d+\.\d+)/.exec(stdout + stderr)?.[1];
    if (version !== NFPM_VERSION) return { reason: `${cmd} is version ${version ?? 'unknown'}, not the pinned ${NFPM_VERSION}` };
    return { cmd };
  } catch (e) {
    return { reason: `${cmd} --version failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

export async function nfpmPackage(cmd: string, packager: 'deb' | 'rpm', opts: { root: string; outDir: string; env: NodeJS.ProcessEnv }): Promise<void> {
  await run(cmd, ['package', '--config', path.join('packaging', 'nfpm.yaml'), '--packager', packager, '--target', opts.outDir + path.sep], {
    cwd: opts.root,
    env: opts.env,
    timeout: 120_000,
  });
}
