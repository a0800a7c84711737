// The maintainer scripts' shared logic (packaging/maint-helper.sh), run against stub `bext`,
// `systemctl` and `invoke-rc.d` that record what they are asked and fail on demand. The rule under
// test: a failure leaves real nginx or bext serving, never neither, and activation obeys the
// defaults file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const helper = path.join(root, 'packaging', 'maint-helper.sh');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface World {
  running?: boolean; // nginx.service active before the script runs
  installRc?: number;
  uninstallRc?: number;
  restartRcs?: number[]; // exit codes of successive restarts
  defaults?: string; // contents of the defaults file; absent when undefined
  nginxInstalled?: boolean; // /usr/sbin/nginx exists (default true)
  masqueradeRecorded?: boolean; // /var/lib/bext/masquerade.json exists (default true)
  shimInPlace?: boolean; // /usr/sbin/nginx is our shim (has the marker line)
  realNginxStarts?: boolean; // the uninstaller's restart brings the real nginx up (default true)
}

/** Runs the helper with stubs on PATH; returns its exit code and the calls the stubs saw. */
function runHelper(args: string[], world: World): { rc: number; calls: string[]; stderr: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'bext-maint-'));
  dirs.push(dir);
  const log = path.join(dir, 'calls');
  writeFileSync(log, '');
  writeFileSync(path.join(dir, 'restart-rcs'), (world.restartRcs ?? []).join('\n') + '\n');
  const stub = (name: string, body: string) => {
    writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(dir, name), 0o755);
  };
  // nginx.service's state lives in a file: restarts (through invoke-rc.d or systemctl) take their exit
  // codes from one queue and leave the service active or not; the uninstaller restarts it itself.
  const active = path.join(dir, 'active');
  writeFileSync(active, world.running ? 'yes' : 'no');
  const restart = `echo "restart nginx" >>"${log}"
rc=$(head -n 1 "${dir}/restart-rcs"); sed -i 1d "${dir}/restart-rcs"
if [ "\${rc:-0}" = 0 ]; then echo yes >"${active}"; else echo no >"${active}"; fi; exit "\${rc:-0}"`;
  const uninstallRc = world.uninstallRc ?? 0;
  stub('bext', `echo "bext $*" >>"${log}"
case "$3" in
  install) exit ${world.installRc ?? 0};;
  uninstall) [ ${uninstallRc} = 0 ] && [ "$(cat "${active}")" = yes ] && [ ${world.realNginxStarts === false ? 1 : 0} = 1 ] && echo no >"${active}"; exit ${uninstallRc};;
esac; exit 9`);
  stub('systemctl', `case "$1" in
  is-active) [ "$(cat "${active}")" = yes ]; exit $?;;
  restart) ${restart};;
esac
echo "systemctl $*" >>"${log}"; exit 0`);
  stub('invoke-rc.d', `[ "$2" = restart ] || exit 0
${restart}`);
  const nginx = path.join(dir, 'usr-sbin-nginx');
  if (world.nginxInstalled !== false) writeFileSync(nginx, world.shimInPlace ? '#!/bin/sh\n# bext-masquerade nginx shim: placed by install\n' : '');
  const state = path.join(dir, 'masquerade.json');
  if (world.masqueradeRecorded !== false) writeFileSync(state, '{}');
  const defaults = path.join(dir, 'defaults');
  if (world.defaults !== undefined) writeFileSync(defaults, world.defaults);
  const r = spawnSync('/bin/sh', [helper, ...args.map((a) => (a === 'DEFAULTS' ? defaults : a))], {
    env: { PATH: `${dir}:/usr/bin:/bin`, BEXT_CLI: path.join(dir, 'bext'), BEXT_NGINX_BIN: nginx, BEXT_STATE_FILE: state, BEXT_DROP_IN: path.join(dir, 'no-drop-in') },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { rc: r.status ?? -1, calls: readFileSync(log, 'utf8').split('\n').filter(Boolean), stderr: r.stderr };
}

const INSTALL = 'bext nginx masquerade install --yes --bext-bin /usr/bin/bext-server --shim-bundle /usr/lib/bext/nginx-shim';
const UNINSTALL = 'bext nginx masquerade uninstall --yes';

describe('maint-helper activate', () => {
  test('installs the masquerade and restarts nginx that was running', () => {
    const r = runHelper(['activate', 'DEFAULTS'], { running: true });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, [INSTALL, 'restart nginx']);
  });

  test('does not start nginx that was stopped', () => {
    const r = runHelper(['activate', 'DEFAULTS'], { running: false });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, [INSTALL]);
  });

  test('BEXT_MASQUERADE_ACTIVATE=no in the defaults file leaves nginx alone', () => {
    for (const line of ['BEXT_MASQUERADE_ACTIVATE=no', 'BEXT_MASQUERADE_ACTIVATE="no"', "# c\nBEXT_MASQUERADE_ACTIVATE=yes\nBEXT_MASQUERADE_ACTIVATE='no'"]) {
      const r = runHelper(['activate', 'DEFAULTS'], { running: true, defaults: `${line}\n` });
      assert.equal(r.rc, 0);
      assert.deepEqual(r.calls, [], line);
      assert.match(r.stderr, /BEXT_MASQUERADE_ACTIVATE=no/);
    }
  });

  test('without nginx there is nothing to do yet (the nginx trigger comes back later)', () => {
    const r = runHelper(['activate', 'DEFAULTS'], { running: false, nginxInstalled: false });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, []);
    assert.match(r.stderr, /nginx is not installed/);
  });

  test('the defaults file is read, not run', () => {
    const r = runHelper(['activate', 'DEFAULTS'], { running: false, defaults: 'BEXT_MASQUERADE_ACTIVATE=yes\nexit 7\n' });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, [INSTALL]);
  });

  test('a failed install (rolled back by the installer) is reported, not fatal, and nginx is not touched', () => {
    const r = runHelper(['activate', 'DEFAULTS'], { running: true, installRc: 1 });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, [INSTALL]);
    assert.match(r.stderr, /could not be installed/);
  });

  test('when nginx.service does not come up on bext, the real nginx is put back and started', () => {
    const r = runHelper(['activate', 'DEFAULTS'], { running: true, restartRcs: [1, 0] });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, [INSTALL, 'restart nginx', UNINSTALL, 'restart nginx']);
  });
});

describe('maint-helper deactivate', () => {
  test('uninstalls; the uninstaller itself moves a running nginx onto the real binary', () => {
    const r = runHelper(['deactivate'], { running: true });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, [UNINSTALL]);
  });

  test('does not start nginx that was stopped', () => {
    const r = runHelper(['deactivate'], { running: false, realNginxStarts: false });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, [UNINSTALL]);
  });

  test('with no trace of an install there is nothing to undo, and the removal goes on', () => {
    const r = runHelper(['deactivate'], { running: true, masqueradeRecorded: false });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, []);
  });

  test('our shim at /usr/sbin/nginx is a trace of an install, even without the record', () => {
    const r = runHelper(['deactivate'], { running: false, masqueradeRecorded: false, shimInPlace: true });
    assert.equal(r.rc, 0);
    assert.deepEqual(r.calls, [UNINSTALL]);
  });

  test('a failed uninstall fails, so the package manager keeps bext installed', () => {
    const r = runHelper(['deactivate'], { running: true, uninstallRc: 1 });
    assert.notEqual(r.rc, 0);
    assert.deepEqual(r.calls, [UNINSTALL]);
  });

  test('when the real nginx does not come up, bext is put back and started, and the removal fails', () => {
    const r = runHelper(['deactivate'], { running: true, realNginxStarts: false });
    assert.notEqual(r.rc, 0);
    assert.deepEqual(r.calls, [UNINSTALL, INSTALL, 'restart nginx']);
    assert.match(r.stderr, /putting bext back/);
  });
});

test('maint-helper refuses an unknown action', () => {
  assert.equal(runHelper(['frobnicate'], {}).rc, 2);
});
