// The file placed at /usr/sbin/nginx. It is a two-line /bin/sh wrapper that execs the shim bundle rather
// than a copy of it: upgrading the bext package then upgrades the shim too (a copy would go stale), the
// bundle's own shebang picks the node binary the package was built for, and the marker line lets later
// runs (install, uninstall, status) tell our file from a real nginx that a package upgrade put back.
import { open } from 'node:fs/promises';

export const SHIM_MARKER = '# bext-masquerade nginx shim';

export function shimScript(shimBundle: string, realBin: string, pidFile: string): string {
  return [
    '#!/bin/sh',
    `${SHIM_MARKER}: placed by \`bext nginx masquerade install\`; undo with \`bext nginx masquerade uninstall\`.`,
    `# The real nginx binary is ${realBin}.`,
    `BEXT_PID_FILE="\${BEXT_PID_FILE:-${pidFile}}"`,
    'export BEXT_PID_FILE',
    `exec ${shimBundle} "$@"`,
    '',
  ].join('\n');
}

/** True when the file at `p` is a shim written by us (any version): looks for the marker in its head. */
export async function isOurShim(p: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(p, 'r');
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const head = buf.subarray(0, bytesRead).toString('latin1');
    return head.startsWith('#!') && head.includes(SHIM_MARKER);
  } finally {
    await fh.close();
  }
}
