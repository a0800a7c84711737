// Scenario 9 (issue 10): the Ansible role contrib/ansible/roles/bext_masquerade, through the example
// playbook contrib/ansible/site.yml run with `ansible-playbook -c local -i localhost,` on the test host
// (Debian's ansible-core, from the mirror). On a host where Debian's nginx serves its default site:
//   1. the first run changes the host and bext serves nginx.service;
//   2. a second run changes nothing (changed=0 in the PLAY RECAP);
//   3. a new package version is installed and nginx.service restarted onto it (then changed=0);
//   4. bext_masquerade_activate=false puts the real nginx back;
//   5. a switch whose health check fails (an unreachable health URL) is rolled back: the real nginx
//      serves and the play fails for the host.
// A second suite (its own host) runs the role with custom paths (--bext-bin, --pid-file).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describeHost, type SystemdContainer } from './harness.ts';
import { debPackage, missingDeb } from './lib/artifacts.ts';
import { ansibleDir, changedTasks, describeRun, installAnsible, remoteAnsibleDir, remoteDeb, runPlaybook } from './checks/ansible.ts';
import { bextDiagnostics, bextLogs, expectBextServes, expectRealNginxServes } from './checks/bext.ts';
import { expectDefaultSite } from './checks/http.ts';
import { mainPid } from './checks/service.ts';

const deb = debPackage();
const skip = !deb ? missingDeb : !existsSync(ansibleDir) ? `no ${ansibleDir}` : false;

interface MasqueradeStatus {
  installed: boolean;
  paths: { bextBin: string; shimBin: string; pidFile: string; shimBundle: string };
  service: { active: string | null; mainPid: number | null; mainCommand: string | null; mainExe: string | null; mainIsBext: boolean | null };
  problems: { code: string; message: string; fix: string }[];
}

/** The package file the runs pass (the repacked newer version once step 3 made it: apt refuses downgrades). */
let packageFile = remoteDeb;

async function statusJson(host: SystemdContainer): Promise<MasqueradeStatus> {
  return JSON.parse(await host.must('bext nginx masquerade status --json')) as MasqueradeStatus;
}

describeHost(
  '9 ansible: the bext_masquerade role',
  { skip, logs: bextLogs, diagnose: [...bextDiagnostics, 'cat /etc/default/bext-masquerade'] },
  (hostTest) => {
    hostTest('before: the real nginx serves', async (host) => {
      await expectRealNginxServes(host);
    });

    hostTest('install ansible-core, copy the role, the playbook and the .deb in', async (host, t) => {
      t.diagnostic(await installAnsible(host));
      await host.copyIn(ansibleDir, remoteAnsibleDir);
      await host.copyIn(deb!, remoteDeb);
      await host.must(`test -f ${remoteAnsibleDir}/site.yml && test -d ${remoteAnsibleDir}/roles/bext_masquerade/tasks`);
    }, { timeoutMs: 6 * 60_000 });

    hostTest('first run: changed, and bext serves nginx.service', async (host, t) => {
      const run = await runPlaybook(host);
      t.diagnostic(describeRun(run));
      t.diagnostic(`changed tasks: ${changedTasks(run.output).join(' | ')}`);
      assert.equal(run.exitCode, 0, `the first run failed (${describeRun(run)}):\n${run.output.slice(-6000)}`);
      assert.equal(run.recap.failed, 0);
      assert.ok(run.recap.changed > 0, 'the first run changed nothing');
      const status = await statusJson(host);
      assert.equal(status.installed, true, 'status --json: not installed after the first run');
      assert.deepEqual(status.problems, [], 'status --json reports problems');
      assert.equal(status.service.active, 'active');
      assert.equal(status.service.mainIsBext, true, `status --json: the main pid runs ${status.service.mainExe}, not bext`);
      assert.equal(status.service.mainPid, await mainPid(host), 'status --json and systemd disagree on the main pid');
      await expectBextServes(host);
    }, { timeoutMs: 6 * 60_000 });

    hostTest('second run: changed=0', async (host, t) => {
      const before = await mainPid(host);
      const run = await runPlaybook(host);
      t.diagnostic(describeRun(run));
      assert.equal(run.exitCode, 0, `the second run failed (${describeRun(run)}):\n${run.output.slice(-6000)}`);
      assert.equal(run.recap.changed, 0, `the second run changed: ${changedTasks(run.output).join(' | ')}`);
      assert.equal(await mainPid(host), before, 'the second run restarted nginx.service');
      await expectBextServes(host);
    }, { timeoutMs: 6 * 60_000 });

    hostTest('a new package version: restarted onto it, then changed=0 again', async (host, t) => {
      // The same .deb with a higher version (dpkg-deb -R/-b), as a fleet upgrade brings.
      const upgraded = '/tmp/bext-masquerade_upgrade_all.deb';
      await host.must(`rm -rf /tmp/repack && dpkg-deb -R ${remoteDeb} /tmp/repack
        sed -i 's/^Version: .*/&+it1/' /tmp/repack/DEBIAN/control
        dpkg-deb -b /tmp/repack ${upgraded} >/dev/null`);
      const version = (await host.must(`dpkg-deb -f ${upgraded} Version`)).trim();
      const before = await mainPid(host);
      packageFile = upgraded;
      const run = await runPlaybook(host, { bext_masquerade_package_file: upgraded });
      t.diagnostic(`${version}: ${describeRun(run)}`);
      t.diagnostic(`changed tasks: ${changedTasks(run.output).join(' | ')}`);
      assert.equal(run.exitCode, 0, `the upgrading run failed (${describeRun(run)}):\n${run.output.slice(-6000)}`);
      assert.match(run.output, /Restart nginx\.service onto the upgraded bext\] \*+\nchanged: \[localhost\]/, 'nginx.service was not restarted onto the new package');
      assert.equal((await host.must("dpkg-query -W -f '${Version}' bext-masquerade")).trim(), version);
      assert.notEqual(await mainPid(host), before, 'the main pid did not change');
      await expectBextServes(host);
      const again = await runPlaybook(host, { bext_masquerade_package_file: upgraded });
      t.diagnostic(`again: ${describeRun(again)}`);
      assert.equal(again.recap.changed, 0, `the run after the upgrade changed: ${changedTasks(again.output).join(' | ')}`);
    }, { timeoutMs: 8 * 60_000 });

    hostTest('bext_masquerade_activate=false: the real nginx serves again', async (host, t) => {
      const run = await runPlaybook(host, { bext_masquerade_package_file: packageFile, bext_masquerade_activate: 'false' });
      t.diagnostic(describeRun(run));
      assert.equal(run.exitCode, 0, `the deactivating run failed (${describeRun(run)}):\n${run.output.slice(-6000)}`);
      assert.ok(run.recap.changed > 0, 'the deactivating run changed nothing');
      assert.equal((await statusJson(host)).installed, false, 'status --json: still installed');
      await expectRealNginxServes(host);
      const again = await runPlaybook(host, { bext_masquerade_package_file: packageFile, bext_masquerade_activate: 'false' });
      t.diagnostic(`again: ${describeRun(again)}`);
      assert.equal(again.recap.changed, 0, `deactivating twice changed: ${changedTasks(again.output).join(' | ')}`);
    }, { timeoutMs: 8 * 60_000 });

    hostTest('a failing health check: switched back, real nginx serves, the play fails for the host', async (host, t) => {
      // Port 9 (discard) has no listener: the health check cannot succeed.
      const run = await runPlaybook(host, {
        bext_masquerade_package_file: packageFile,
        bext_masquerade_health_url: 'http://127.0.0.1:9/',
        bext_masquerade_health_retries: '2',
        bext_masquerade_health_delay: '1',
      });
      t.diagnostic(describeRun(run));
      assert.notEqual(run.exitCode, 0, `the run with a failing health check succeeded:\n${run.output.slice(-6000)}`);
      assert.equal(run.recap.failed, 1, `PLAY RECAP failed=${run.recap.failed}, expected 1`);
      assert.equal(run.recap.rescued, 1, 'the rescue (switch back) did not run');
      assert.match(run.output, /Run bext nginx masquerade install\] \*+\nchanged: \[localhost\]/, 'the switch itself did not happen');
      assert.match(run.output, /the switch to bext failed at \\?"Check the health URL\\?"/, 'the failure is not the health check');
      assert.match(run.output, /rolled back: masquerade uninstalled/);
      const status = await statusJson(host);
      assert.equal(status.installed, false, 'status --json: still installed after the rollback');
      await expectRealNginxServes(host);
    }, { timeoutMs: 6 * 60_000 });
  },
);

// Custom paths through the role: --bext-bin (a second name for bext-server) and --pid-file.
const customBextBin = '/usr/local/bin/bext-server';
const customPidFile = '/run/bext-nginx.pid';

describeHost(
  '9 ansible: the role with custom paths',
  { skip, logs: bextLogs, diagnose: [...bextDiagnostics, `cat ${customPidFile}`] },
  (hostTest) => {
    hostTest('install ansible-core, copy the role, the playbook and the .deb in', async (host, t) => {
      t.diagnostic(await installAnsible(host));
      await host.copyIn(ansibleDir, remoteAnsibleDir);
      await host.copyIn(deb!, remoteDeb);
    }, { timeoutMs: 6 * 60_000 });

    hostTest(`bext_masquerade_bext_bin=${customBextBin} bext_masquerade_pid_file=${customPidFile}: bext serves`, async (host, t) => {
      // The package is installed by the role; the custom bext-server name points at the packaged bundle.
      await host.must(`mkdir -p /usr/local/bin && ln -sf /usr/lib/bext/bext-server.js ${customBextBin}`);
      const vars = { bext_masquerade_bext_bin: customBextBin, bext_masquerade_pid_file: customPidFile };
      const run = await runPlaybook(host, vars);
      t.diagnostic(describeRun(run));
      assert.equal(run.exitCode, 0, `the run with custom paths failed (${describeRun(run)}):\n${run.output.slice(-6000)}`);
      const status = await statusJson(host);
      assert.equal(status.installed, true);
      assert.equal(status.paths.bextBin, customBextBin);
      assert.equal(status.paths.pidFile, customPidFile);
      assert.equal(status.service.mainIsBext, true, `the main pid runs ${status.service.mainExe}, not bext`);
      const pid = await mainPid(host);
      assert.equal(Number((await host.must(`cat ${customPidFile}`)).trim()), pid, `${customPidFile} does not name the main pid ${pid}`);
      await expectDefaultSite(host);
      const again = await runPlaybook(host, vars);
      t.diagnostic(`again: ${describeRun(again)}`);
      assert.equal(again.recap.changed, 0, `the second run with custom paths changed: ${changedTasks(again.output).join(' | ')}`);
    }, { timeoutMs: 8 * 60_000 });
  },
);
