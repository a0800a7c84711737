// The integration harness: a Docker engine (started if none runs), the test image (built once per
// Dockerfile content), one booted systemd container per scenario file, diagnostics when a test fails,
// and cleanup of all of it however the run ends.
//
// As a library:  describeHost('title', { units, logs, skip, setup }, (hostTest) => { hostTest(...) })
// As a command:  node --import tsx test/integration/harness.ts prepare   (engine + images, for run.sh)
//                node --import tsx test/integration/harness.ts clean     (remove leftover containers)
//                node --import tsx test/integration/harness.ts shell     (a booted host to explore; Ctrl-C ends it)
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { SystemdContainer, containerLabel } from './lib/container.ts';
import { ensureDockerEngine } from './lib/docker-engine.ts';
import { ensureTestImage } from './lib/images.ts';
import { installHandlers, cleanupNow } from './lib/cleanup.ts';
import { log, timed } from './lib/log.ts';
import { debPackage } from './lib/artifacts.ts';

export type { SystemdContainer } from './lib/container.ts';

let prepared: Promise<string> | undefined;

/** Engine up and image built; memoized, so every suite of a process shares one preparation. */
export function prepareHostImage(): Promise<string> {
  installHandlers();
  prepared ??= (async () => {
    await ensureDockerEngine();
    return ensureTestImage();
  })();
  return prepared;
}

export async function startHost(scenario: string): Promise<SystemdContainer> {
  const image = await prepareHostImage();
  return timed(`boot of ${scenario}`, () => SystemdContainer.start(image, scenario));
}

/** What a failed scenario prints: failed units, the units' status and journal, the tails of its logs. */
export async function printDiagnostics(host: SystemdContainer, units: string[], logs: string[], commands: string[] = []): Promise<void> {
  const parts = [
    'systemctl --failed --no-pager',
    ...commands,
    ...units.map((u) => `systemctl status --no-pager -l ${u}`),
    ...units.map((u) => `journalctl --no-pager -o short-precise -n 120 -u ${u}`),
    ...logs.map((f) => `tail -n 60 ${f}`),
  ];
  // Run from a file, so `ps` in the list shows a short command line, not this whole script.
  const script = parts.map((c) => `echo "===== ${c}"; ${c} 2>&1 || true`).join('\n');
  await host.writeFile('/tmp/bext-it-diagnostics.sh', `${script}\n`, '0755');
  const r = await host.sh('/tmp/bext-it-diagnostics.sh', { timeoutMs: 60_000 });
  process.stderr.write(`\n===== diagnostics of ${host.name} =====\n${r.stdout}${r.stderr}\n===== end of diagnostics =====\n`);
}

export interface HostSuiteOptions {
  /** A reason to skip the whole suite (e.g. the .deb is missing), or false/undefined to run it. */
  skip?: string | false;
  /** systemd units whose status and journal are printed when a test fails. */
  units?: string[];
  /** Files in the container whose tails are printed when a test fails. */
  logs?: string[];
  /** More commands whose output helps when a test fails (e.g. `bext nginx masquerade status`). */
  diagnose?: string[];
  /** Runs once after the boot, before the first test (e.g. install the package). */
  setup?: (host: SystemdContainer) => Promise<void>;
}

export type HostTestFn = (host: SystemdContainer, t: TestContext) => Promise<void>;
export type HostTest = (name: string, fn: HostTestFn, options?: { timeoutMs?: number }) => void;

/**
 * A suite of steps run in order on one booted container. The steps depend on each other, so once one
 * fails the following ones are skipped (their failure would only repeat it); the failing one prints
 * the diagnostics.
 */
export function describeHost(title: string, options: HostSuiteOptions, body: (hostTest: HostTest) => void): void {
  const units = options.units ?? ['nginx'];
  const logs = options.logs ?? ['/var/log/nginx/error.log'];
  describe(title, { skip: options.skip || false }, () => {
    let host: SystemdContainer | undefined;
    let failedStep: string | undefined;

    // Generous: when a file runs alone, its first suite may debootstrap and build the image.
    before(async () => {
      host = await startHost(title);
      if (options.setup) {
        try {
          await options.setup(host);
        } catch (error) {
          await printDiagnostics(host, units, logs, options.diagnose);
          throw error;
        }
      }
    }, { timeout: 20 * 60_000 });

    after(async () => {
      await host?.remove();
    });

    body((name, fn, testOptions) => {
      it(name, { timeout: testOptions?.timeoutMs ?? 2 * 60_000 }, async (t) => {
        if (!host) throw new Error('no container: the suite setup failed');
        if (failedStep) return t.skip(`an earlier step failed: ${failedStep}`);
        const t0 = Date.now();
        try {
          await fn(host, t);
        } catch (error) {
          failedStep = name;
          await printDiagnostics(host, units, logs, options.diagnose);
          throw error;
        } finally {
          t.diagnostic(`took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        }
      });
    });
  });
}

/** Removes containers left by an earlier run that was killed too hard to clean up (SIGKILL). */
async function removeLeftovers(): Promise<void> {
  const r = await execa('docker', ['ps', '-aq', '--filter', `label=${containerLabel}`], { reject: false });
  const ids = r.stdout.split('\n').filter(Boolean);
  if (ids.length) await execa('docker', ['rm', '-f', '-v', ...ids], { reject: false });
  log(`removed ${ids.length} leftover container(s)`);
}

async function main(command: string | undefined): Promise<void> {
  installHandlers();
  if (command === 'prepare') {
    const image = await timed('prepare (engine + images)', prepareHostImage);
    log(`test image ready: ${image}`);
  } else if (command === 'shell') {
    const host = await startHost('shell');
    const deb = debPackage();
    if (deb) await host.copyIn(deb, '/tmp/bext-masquerade.deb');
    log(`ready: docker exec -it ${host.name} bash${deb ? `   (the .deb is at /tmp/bext-masquerade.deb)` : ''}`);
    log('Ctrl-C removes the container');
    setInterval(() => {}, 1 << 30); // stay up until SIGINT; the cleanup handlers remove the container
    return;
  } else if (command === 'clean') {
    await ensureDockerEngine();
    await removeLeftovers();
  } else {
    throw new Error('usage: harness.ts prepare|clean|shell');
  }
  cleanupNow();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv[2]).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  });
}
