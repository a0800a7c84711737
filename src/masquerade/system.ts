// System facts and commands (execa): init system, package ownership, dpkg-divert, systemctl.
import { execa } from 'execa';
import { readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { exists, hostPath } from './fsutil.ts';
import { DIVERT_PACKAGE, SERVICE } from './options.ts';

export interface CommandResult {
  ok: boolean;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (ENOENT, EACCES, …). */
  spawnError?: string;
}

/** Runs a command without throwing; the caller decides what a failure means. */
export async function run(file: string, args: string[], timeoutMs = 60_000): Promise<CommandResult> {
  // detached: a Ctrl-C on the terminal reaches bext only; a command is never killed half-way, the engine
  // stops at the next step boundary and rolls back.
  const r = await execa(file, args, { reject: false, timeout: timeoutMs, stdin: 'ignore', env: { LC_ALL: 'C' }, detached: true });
  const spawnError = r.exitCode === undefined && r.failed ? (r.cause instanceof Error ? r.cause.message : r.shortMessage) : undefined;
  return {
    ok: !r.failed,
    exitCode: r.exitCode ?? null,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    spawnError,
  };
}

export async function runOrThrow(file: string, args: string[]): Promise<CommandResult> {
  const r = await run(file, args);
  if (!r.ok) {
    const detail = r.spawnError ?? (r.stderr.trim() || r.stdout.trim() || `exit code ${r.exitCode}`);
    throw new Error(`${[file, ...args].join(' ')} failed: ${detail}`);
  }
  return r;
}

export type InitSystem = 'systemd' | 'other';

/** systemd's own test (sd_booted): the directory exists only when systemd is PID 1. */
export async function detectInitSystem(root: string): Promise<InitSystem> {
  return (await exists(hostPath(root, '/run/systemd/system'))) ? 'systemd' : 'other';
}

/** True when systemctl may be used: systemd runs and we operate on the real root, not a directory. */
export function usesSystemctl(root: string, init: InitSystem): boolean {
  return root === '/' && init === 'systemd';
}

async function onPath(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir && (await exists(`${dir}/${cmd}`))) return true;
  }
  return false;
}

/**
 * dpkg-divert is usable for the target: the tool exists and the target has a dpkg database
 * (under --root it is run with `--root DIR`, which needs DIR/var/lib/dpkg).
 */
export async function dpkgDivertUsable(root: string): Promise<boolean> {
  return (await onPath('dpkg-divert')) && (await exists(hostPath(root, '/var/lib/dpkg')));
}

function rootArgs(root: string): string[] {
  return root === '/' ? [] : ['--root', root];
}

export async function divertAdd(root: string, file: string, divertTo: string): Promise<void> {
  await runOrThrow('dpkg-divert', [...rootArgs(root), '--package', DIVERT_PACKAGE, '--rename', '--divert', divertTo, '--add', file]);
}

export async function divertRemove(root: string, file: string, divertTo: string): Promise<void> {
  await runOrThrow('dpkg-divert', [...rootArgs(root), '--package', DIVERT_PACKAGE, '--rename', '--divert', divertTo, '--remove', file]);
}

/** The package holding the diversion of `file`, or null. */
export async function divertedBy(root: string, file: string): Promise<string | null> {
  if (!(await dpkgDivertUsable(root))) return null;
  const r = await run('dpkg-divert', [...rootArgs(root), '--listpackage', file]);
  return r.ok && r.stdout.trim() ? r.stdout.trim() : null;
}

/** The package owning `file` (`dpkg -S` or `rpm -qf`), or null when none or no package manager. */
export async function owningPackage(root: string, file: string): Promise<string | null> {
  if (await dpkgDivertUsable(root)) {
    const r = await run('dpkg', [...(root === '/' ? [] : [`--root=${root}`]), '-S', file]);
    // "nginx-core: /usr/sbin/nginx"; diversions print "diversion by …" lines, skip those.
    const line = r.stdout.split('\n').find((l) => l.endsWith(`: ${file}`) && !l.startsWith('diversion'));
    if (r.ok && line) return line.slice(0, line.indexOf(':'));
  }
  // Only with an rpm database: Debian's rpm otherwise creates ~/.rpmdb (inside --root DIR, too).
  if ((await onPath('rpm')) && (await exists(hostPath(root, '/var/lib/rpm')))) {
    const r = await run('rpm', [...(root === '/' ? [] : ['--root', root]), '--dbpath', '/var/lib/rpm', '-qf', file]);
    if (r.ok && r.stdout.trim() && !r.stdout.includes('not owned')) return r.stdout.trim();
  }
  return null;
}

/** `nginx -v` prints "nginx version: nginx/1.22.1" on stderr. */
export async function nginxVersion(binary: string): Promise<string | null> {
  const r = await run(binary, ['-v'], 10_000);
  const m = /nginx version: (\S+(?: \([^)]*\))?)/.exec(`${r.stderr}\n${r.stdout}`);
  return m ? m[1] : null;
}

export async function systemctl(args: string[]): Promise<CommandResult> {
  return run('systemctl', args);
}

export async function serviceActive(): Promise<string> {
  const r = await systemctl(['is-active', SERVICE]);
  return r.stdout.trim() || 'unknown';
}

export async function serviceMainPid(): Promise<number | null> {
  const r = await systemctl(['show', '-p', 'MainPID', '--value', SERVICE]);
  const pid = Number.parseInt(r.stdout.trim(), 10);
  return r.ok && pid > 0 ? pid : null;
}

/** The command line of a process, from /proc (NUL-separated), or null when it is gone. */
export async function processCommand(pid: number): Promise<string | null> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.replace(/\0+$/, '').split('\0').join(' ') || null;
  } catch {
    return null;
  }
}

/** The executable behind a process (`/proc/PID/exe`), or null when it is gone or unreadable. */
export async function processExe(pid: number): Promise<string | null> {
  try {
    return (await readlink(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, '');
  } catch {
    return null;
  }
}

export interface ProcessIdentity {
  pid: number;
  command: string | null;
  exe: string | null;
  /** True when the process is bext-server: its executable is Node (the master sets its title, so its comm
   * and cmdline read `nginx` by design), or its command line still names the bext binary. */
  isBext: boolean;
}

export async function identifyProcess(pid: number, bextBin: string): Promise<ProcessIdentity> {
  const [command, exe] = await Promise.all([processCommand(pid), processExe(pid)]);
  const node = !!exe && /^(node|nodejs)[\d.]*$/.test(path.basename(exe));
  const named = !!command && command.includes(bextBin);
  return { pid, command, exe, isBext: node || named };
}
