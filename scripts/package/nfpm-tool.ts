// nfpm itself where it runs: `nfpm` on PATH or the binary named by $NFPM, else through npx
// (`@goreleaser/nfpm`, the version pinned). That npm wrapper downloads nfpm's release binary from
// GitHub when it installs, which these machines cannot reach, so there the distributions' tools build
// the packages from the same nfpm.yaml instead (scripts/package/deb.ts, rpm.ts).
import path from 'node:path';
import { onPath, run } from './project.ts';

export const NFPM_VERSION = '2.47.0';
const NPX_NFPM = ['--yes', `@goreleaser/nfpm@${NFPM_VERSION}`];

export interface NfpmTool {
  cmd: string;
  /** Arguments before nfpm's own (npx's package spec). */
  args?: string[];
}

async function versionOf(tool: NfpmTool, env: NodeJS.ProcessEnv, timeout: number): Promise<string | undefined> {
  const { stdout, stderr } = await run(tool.cmd, [...(tool.args ?? []), '--version'], { encoding: 'utf8', timeout, env });
  return /(\d+\.\d+\.\d+)/.exec(stdout + stderr)?.[1];
}

/** The nfpm command to use, or a reason why the fallback builds the packages. */
export async function findNfpm(env: NodeJS.ProcessEnv = process.env): Promise<NfpmTool | { reason: string }> {
  const cmd = env['NFPM'] || 'nfpm';
  if (env['NFPM'] || (await onPath('nfpm', env))) {
    try {
      const version = await versionOf({ cmd }, env, 10_000);
      if (version !== NFPM_VERSION) return { reason: `${cmd} is version ${version ?? 'unknown'}, not the pinned ${NFPM_VERSION}` };
      return { cmd };
    } catch (e) {
      return { reason: `${cmd} --version failed: ${(e as Error).message.split('\n')[0]}` };
    }
  }
  const npx: NfpmTool = { cmd: 'npx', args: NPX_NFPM };
  try {
    if ((await versionOf(npx, env, 120_000)) === NFPM_VERSION) return npx;
  } catch {
    // below
  }
  return { reason: `nfpm is not installed, and npx @goreleaser/nfpm@${NFPM_VERSION} does not run here` };
}

export async function nfpmPackage(tool: string | NfpmTool, packager: 'deb' | 'rpm', opts: { root: string; outDir: string; env: NodeJS.ProcessEnv }): Promise<void> {
  const { cmd, args = [] } = typeof tool === 'string' ? { cmd: tool } : tool;
  await run(cmd, [...args, 'package', '--config', path.join('packaging', 'nfpm.yaml'), '--packager', packager, '--target', opts.outDir + path.sep], {
    cwd: opts.root,
    env: opts.env,
    timeout: 120_000,
  });
}
