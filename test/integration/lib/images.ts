// Builds the two images the suite runs: a systemd-capable Debian base (debootstrap + docker import, as
// no registry is reachable here) and the test host from Dockerfile.test. Both are tagged by a content
// hash, so an unchanged Dockerfile is never rebuilt and the debootstrap tarball is made only once.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { cacheDir, repoRoot } from './paths.ts';
import { withLock } from './lock.ts';
import { log, timed } from './log.ts';

const suite = 'bookworm';
const mirror = process.env.BEXT_IT_MIRROR ?? 'http://deb.debian.org/debian';
const basePackages = ['systemd', 'systemd-sysv', 'dbus', 'ca-certificates', 'iproute2', 'procps', 'netbase'];
export const dockerfilePath = path.join(repoRoot, 'Dockerfile.test');

function shortHash(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 12);
}

async function imageId(ref: string): Promise<string | undefined> {
  const r = await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', ref], { reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** Runs argv with stdout and stderr in one log file (follow it with tail -f); throws with its tail. */
async function runLogged(argv: string[], logFile: string, env: Record<string, string> = {}): Promise<void> {
  const r = await execa('sh', ['-c', 'exec "$@" > "$LOG_FILE" 2>&1', 'sh', ...argv], {
    env: { ...env, LOG_FILE: logFile },
    reject: false,
  });
  if (r.exitCode !== 0) {
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
    throw new Error(`${argv.slice(0, 2).join(' ')} failed (exit ${r.exitCode}); last lines of ${logFile}:\n${tail}`);
  }
}

/** Drops the images of earlier Dockerfile versions (600 MB each); one still in use is left alone. */
async function removeOtherTags(current: string): Promise<void> {
  const [repo] = current.split(':');
  const r = await execa('docker', ['images', repo!, '--format', '{{.Repository}}:{{.Tag}}'], { reject: false });
  const stale = r.stdout.split('\n').filter((ref) => ref && ref !== current);
  if (stale.length) await execa('docker', ['rmi', ...stale], { reject: false });
}

/** debootstrap once into a tarball under .cache/, reused by every later run (also after `docker system prune`). */
async function baseTarball(key: string): Promise<string> {
  const tarball = path.join(cacheDir(), `${suite}-systemd-minbase-${key}.tar`);
  if (existsSync(tarball)) return tarball;
  const rootfs = path.join(cacheDir(), `rootfs-${key}.tmp`);
  rmSync(rootfs, { recursive: true, force: true });
  const logFile = path.join(cacheDir(), 'debootstrap.log');
  log(`debootstrap ${suite} from ${mirror} (log ${logFile}); this takes a few minutes once`);
  await timed('debootstrap', () =>
    runLogged(['debootstrap', '--variant=minbase', `--include=${basePackages.join(',')}`, suite, rootfs, mirror], logFile),
  );
  await execa('tar', ['-C', rootfs, '-cf', `${tarball}.tmp`, '.']);
  renameSync(`${tarball}.tmp`, tarball);
  rmSync(rootfs, { recursive: true, force: true });
  return tarball;
}

/** The FROM of Dockerfile.test: BEXT_IT_BASE_IMAGE (e.g. debian:bookworm where a registry answers) or the local import. */
export async function ensureBaseImage(): Promise<string> {
  const given = process.env.BEXT_IT_BASE_IMAGE;
  if (given) return given;
  const key = shortHash(suite, mirror, basePackages.join(','));
  const tag = `bext-it/${suite}-systemd:${key}`;
  if (await imageId(tag)) return tag;
  return withLock('base-image', async () => {
    if (await imageId(tag)) return tag;
    const tarball = await baseTarball(key);
    await timed('docker import of the base', () => execa('docker', ['import', tarball, tag]));
    return tag;
  });
}

/** The test host image, tagged by the hash of Dockerfile.test and of the base image it starts from. */
export async function ensureTestImage(): Promise<string> {
  const base = await ensureBaseImage();
  const dockerfile = readFileSync(dockerfilePath, 'utf8');
  const tag = `bext-it/systemd-host:${shortHash(dockerfile, (await imageId(base)) ?? base)}`;
  if (await imageId(tag)) return tag;
  return withLock('test-image', async () => {
    if (await imageId(tag)) return tag;
    // The context is a folder with the Dockerfile alone: nothing of the repository is sent to the engine.
    const context = mkdtempSync(path.join(os.tmpdir(), 'bext-it-ctx-'));
    try {
      copyFileSync(dockerfilePath, path.join(context, 'Dockerfile'));
      const logFile = path.join(cacheDir(), 'image-build.log');
      log(`building ${tag} from Dockerfile.test on ${base} (log ${logFile})`);
      await timed('docker build of the test image', () =>
        // DOCKER_BUILDKIT=0: this engine has no buildx; the legacy builder works offline on a local base.
        runLogged(['docker', 'build', '--build-arg', `BASE_IMAGE=${base}`, '-t', tag, context], logFile, { DOCKER_BUILDKIT: '0' }),
      );
      await removeOtherTags(tag);
      return tag;
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  });
}
