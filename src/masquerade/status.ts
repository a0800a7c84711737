// `bext nginx masquerade status`: what is installed, where, whether it still holds together, and fixes.
import { renderDropIn } from './dropin.ts';
import { exists, hostPath, readIfExists, sha256File } from './fsutil.ts';
import { pathsOf, SERVICE, type MasqueradeOptions } from './options.ts';
import { isOurShim } from './shim-file.ts';
import { readState, type BackupMethod } from './state.ts';
import { detectInitSystem, divertedBy, identifyProcess, nginxVersion, serviceActive, serviceMainPid, usesSystemctl } from './system.ts';
import { optionsFromState } from './uninstall.ts';
import { BEXT_VERSION } from './version.ts';

export interface Problem {
  code: string;
  message: string;
  fix: string;
}

export interface StatusReport {
  installed: boolean;
  root: string;
  installedAt: string | null;
  paths: { shimBin: string; realBin: string; shimBundle: string; bextBin: string; pidFile: string; dropIn: string; stateFile: string };
  binary: { method: BackupMethod | null; shimIsOurs: boolean; realPresent: boolean; realSha256: string | null; realChecksumOk: boolean | null; divertedBy: string | null };
  dropIn: { present: boolean; current: boolean };
  service: { initSystem: 'systemd' | 'other'; checked: boolean; active: string | null; mainPid: number | null; mainCommand: string | null; mainExe: string | null; mainIsBext: boolean | null };
  pidFile: { present: boolean; pid: number | null; command: string | null; exe: string | null; isBext: boolean | null };
  versions: { bext: string; nginx: string | null; nginxPackage: string | null };
  problems: Problem[];
}

const REINSTALL = 'bext nginx masquerade install';

export async function status(base: MasqueradeOptions): Promise<StatusReport> {
  const state = await readState(base.root);
  const opts = state ? optionsFromState(base, state) : base;
  const p = pathsOf(opts);
  const h = (t: string) => hostPath(opts.root, t);
  const problems: Problem[] = [];

  const shimIsOurs = await isOurShim(h(p.shimBin));
  const realPresent = await exists(h(p.realBin));
  const realSha256 = realPresent ? await sha256File(h(p.realBin)) : null;
  const recordedSha = state?.binary.realSha256 ?? null;
  const realChecksumOk = state && recordedSha && realSha256 ? realSha256 === recordedSha : null;
  const dropInText = (await readIfExists(h(p.dropIn)))?.toString() ?? null;
  const dropInCurrent = dropInText === renderDropIn({ bextBin: p.bextBin, pidFile: p.pidFile });
  const diversion = await divertedBy(opts.root, p.shimBin);

  const initSystem = await detectInitSystem(opts.root);
  const checked = usesSystemctl(opts.root, initSystem);
  const active = checked ? await serviceActive() : null;
  const mainPid = checked ? await serviceMainPid() : null;
  const main = mainPid ? await identifyProcess(mainPid, p.bextBin) : null;
  const mainCommand = main?.command ?? null;

  const pidText = (await readIfExists(h(p.pidFile)))?.toString().trim() ?? null;
  const pid = pidText && /^\d+$/.test(pidText) ? Number(pidText) : null;
  // A pid file inside --root names a pid of this host only by accident: report it, do not inspect it.
  const pidProcess = pid && opts.root === '/' ? await identifyProcess(pid, p.bextBin) : null;
  const pidCommand = pidProcess?.command ?? null;
  const pidIsBext = pidProcess && (pidProcess.command || pidProcess.exe) ? pidProcess.isBext : null;

  if (state) {
    if (!shimIsOurs) {
      problems.push((await exists(h(p.shimBin)))
        ? { code: 'shim-replaced', message: `${p.shimBin} is no longer bext's shim (an nginx package upgrade overwrote it?)`, fix: REINSTALL }
        : { code: 'shim-missing', message: `${p.shimBin} is missing`, fix: REINSTALL });
    }
    if (state.binary.method !== 'none' && !realPresent) problems.push({ code: 'real-missing', message: `the real nginx ${p.realBin} is missing`, fix: 'reinstall the nginx package, then bext nginx masquerade install' });
    if (realChecksumOk === false) problems.push({ code: 'real-changed', message: `${p.realBin} changed since install (an nginx upgrade through the diversion?)`, fix: REINSTALL });
    if (state.binary.method === 'dpkg-divert' && diversion !== 'bext-masquerade') problems.push({ code: 'diversion-missing', message: `the dpkg diversion of ${p.shimBin} is gone`, fix: REINSTALL });
    if (!dropInText) problems.push({ code: 'dropin-missing', message: `${p.dropIn} is missing`, fix: REINSTALL });
    else if (!dropInCurrent) problems.push({ code: 'dropin-changed', message: `${p.dropIn} differs from what bext writes`, fix: REINSTALL });
    // The master's title is `nginx` by design (start-stop-daemon --name nginx): judge by the executable.
    if (checked && active === 'active' && main && (main.command || main.exe) && !main.isBext) {
      problems.push({ code: 'service-not-bext', message: `${SERVICE} runs ${main.exe ?? main.command}, not bext`, fix: `systemctl daemon-reload && systemctl restart ${SERVICE}` });
    }
  } else if (shimIsOurs) {
    problems.push({ code: 'no-state', message: `${p.shimBin} is bext's shim but ${p.stateFile} is missing`, fix: REINSTALL });
  }

  const nginxBinary = realPresent ? h(p.realBin) : !shimIsOurs && (await exists(h(p.shimBin))) ? h(p.shimBin) : null;
  return {
    installed: !!state,
    root: opts.root,
    installedAt: state?.installedAt ?? null,
    paths: { shimBin: p.shimBin, realBin: p.realBin, shimBundle: p.shimBundle, bextBin: p.bextBin, pidFile: p.pidFile, dropIn: p.dropIn, stateFile: p.stateFile },
    binary: { method: state?.binary.method ?? null, shimIsOurs, realPresent, realSha256, realChecksumOk, divertedBy: diversion },
    dropIn: { present: dropInText !== null, current: dropInCurrent },
    service: { initSystem, checked, active, mainPid, mainCommand, mainExe: main?.exe ?? null, mainIsBext: main ? main.isBext : null },
    pidFile: { present: pidText !== null, pid, command: pidCommand, exe: pidProcess?.exe ?? null, isBext: pidIsBext },
    versions: { bext: BEXT_VERSION, nginx: nginxBinary ? await nginxVersion(nginxBinary) : null, nginxPackage: state?.nginxPackage ?? null },
    problems,
  };
}

