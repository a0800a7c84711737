// The installer's settings: the paths of the spec ("Custom Paths") plus how to run, resolved once.
import path from 'node:path';
import { exists, hostPath } from './fsutil.ts';

export interface MasqueradeOptions {
  /** Target root: `/` on a real machine; tests and image builds pass a directory. */
  root: string;
  bextBin: string;
  shimBin: string;
  shimBundle: string;
  pidFile: string;
  force: boolean;
  restart: boolean;
}

/** Paths the installer derives from the options; all are target-system paths (see hostPath). */
export interface MasqueradePaths {
  bextBin: string;
  shimBin: string;
  realBin: string;
  shimBundle: string;
  pidFile: string;
  nginxConf: string;
  dropInDir: string;
  dropIn: string;
  stateFile: string;
}

export const NGINX_CONF = '/etc/nginx/nginx.conf';
export const DROP_IN_DIR = '/etc/systemd/system/nginx.service.d';
export const DROP_IN_NAME = 'bext-masquerade.conf';
export const STATE_FILE = '/var/lib/bext/masquerade.json';
export const DIVERT_PACKAGE = 'bext-masquerade';
export const SERVICE = 'nginx.service';

export function pathsOf(opts: MasqueradeOptions): MasqueradePaths {
  return {
    bextBin: opts.bextBin,
    shimBin: opts.shimBin,
    realBin: `${opts.shimBin}.real`,
    shimBundle: opts.shimBundle,
    pidFile: opts.pidFile,
    nginxConf: NGINX_CONF,
    dropInDir: DROP_IN_DIR,
    dropIn: path.posix.join(DROP_IN_DIR, DROP_IN_NAME),
    stateFile: STATE_FILE,
  };
}

/** Defaults follow how bext was installed: the packages put it under /usr, a manual install under /usr/local. */
export async function defaultOptions(root: string): Promise<MasqueradeOptions> {
  const packaged = await exists(hostPath(root, '/usr/bin/bext-server'));
  const manual = !packaged && (await exists(hostPath(root, '/usr/local/bin/bext-server')));
  const prefix = manual ? '/usr/local' : '/usr';
  return {
    root,
    bextBin: `${prefix}/bin/bext-server`,
    shimBin: '/usr/sbin/nginx',
    shimBundle: `${prefix}/lib/bext/nginx-shim`,
    pidFile: '/run/nginx.pid',
    force: false,
    restart: false,
  };
}

/**
 * Paths end up in a systemd unit written by `ini` and in a /bin/sh wrapper: `ini` escapes `;` and `#`
 * (systemd would then see `\;`), and quoting rules differ between the two, so such paths are refused.
 */
export function invalidPathReason(name: string, value: string): string | null {
  if (!path.posix.isAbsolute(value)) return `${name} must be an absolute path, got "${value}"`;
  if (/[\s;#"'`$\\]/.test(value)) return `${name} must not contain spaces, quotes, ';', '#', '$' or '\\': "${value}"`;
  return null;
}
