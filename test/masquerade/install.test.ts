// Whole installs through the library: rollback at every step, Ctrl-C, idempotence, uninstall, status.
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { install, installSteps } from '../../src/masquerade/install.ts';
import { readState } from '../../src/masquerade/state.ts';
import { status } from '../../src/masquerade/status.ts';
import { uninstall, uninstallSteps } from '../../src/masquerade/uninstall.ts';
import { FAKE_NGINX, makeRoot, optionsFor, removeRoot, treeListing, type RootSpec } from './helpers.ts';

const changing = (steps: { id: string; readOnly?: boolean }[]) => steps.filter((s) => !s.readOnly).map((s) => s.id);

for (const spec of [{}, { dpkg: true }, { nginx: false }] as RootSpec[]) {
  const label = spec.dpkg ? 'dpkg-divert' : spec.nginx === false ? 'no nginx' : 'rename';
  for (const stepId of changing(installSteps)) {
    for (const when of ['before', 'after'] as const) {
      test(`install (${label}): a failure ${when} ${stepId} rolls back to a byte-identical root`, async () => {
        const root = await makeRoot(spec);
        try {
          const before = await treeListing(root);
          const fail = () => {
            throw new Error(`injected failure ${when} ${stepId}`);
          };
          const result = await install(optionsFor(root), { hooks: when === 'before' ? { beforeDo: (id) => (id === stepId ? fail() : undefined) } : { afterDo: (id) => (id === stepId ? fail() : undefined) } });
          // Steps skipped under --root never run their hooks: those installs succeed.
          const ran = result.steps.some((s) => s.id === stepId && (s.outcome === 'failed' || s.outcome === 'undone'));
          if (!ran) return assert.equal(result.outcome, 'changed');
          assert.equal(result.outcome, 'failed');
          assert.match(result.error ?? '', /injected failure/);
          assert.ok(!result.steps.some((s) => s.outcome === 'undo-failed'));
          assert.deepEqual(await treeListing(root), before);
        } finally {
          await removeRoot(root);
        }
      });
    }
  }
}

test('Ctrl-C (SIGINT) in the middle of an install undoes the completed steps', async () => {
  const root = await makeRoot();
  try {
    const before = await treeListing(root);
    const result = await install(optionsFor(root), {
      hooks: {
        async afterDo(id) {
          if (id !== 'place-shim') return;
          process.kill(process.pid, 'SIGINT');
          await new Promise((r) => setTimeout(r, 100)); // let the signal arrive
        },
      },
    });
    assert.equal(result.outcome, 'failed');
    assert.equal(result.interrupted, true);
    assert.match(result.error ?? '', /interrupted by SIGINT/);
    assert.deepEqual(result.steps.filter((s) => s.outcome === 'undone').map((s) => s.id), ['place-shim', 'backup-binary']);
    assert.deepEqual(await treeListing(root), before);
  } finally {
    await removeRoot(root);
  }
});

test('install, install again (nothing changes), uninstall (byte-identical), uninstall again', async () => {
  const root = await makeRoot({ config: 'warn' });
  try {
    const before = await treeListing(root);
    const first = await install(optionsFor(root));
    assert.equal(first.outcome, 'changed', first.error ?? '');
    const installed = await treeListing(root);
    const second = await install(optionsFor(root));
    assert.equal(second.outcome, 'unchanged');
    assert.deepEqual(second.steps.filter((s) => s.outcome === 'done').map((s) => s.id), ['preflight', 'verify']);
    assert.deepEqual(await treeListing(root), installed);

    const state = await readState(root);
    assert.ok(state);
    const removed = await uninstall(optionsFor(root), state);
    assert.equal(removed.outcome, 'changed', removed.error ?? '');
    assert.equal(await readFile(path.join(root, 'usr/sbin/nginx'), 'utf8'), FAKE_NGINX);
    assert.deepEqual(await treeListing(root), before);
    assert.equal(await readState(root), null);
  } finally {
    await removeRoot(root);
  }
});

test('uninstall failures roll back to the installed tree', async () => {
  for (const stepId of changing(uninstallSteps)) {
    const root = await makeRoot({ dpkg: true });
    try {
      assert.equal((await install(optionsFor(root))).outcome, 'changed');
      const installed = await treeListing(root);
      const result = await uninstall(optionsFor(root), (await readState(root))!, {
        hooks: {
          afterDo: (id) => {
            if (id === stepId) throw new Error('injected');
          },
        },
      });
      const ran = result.steps.some((s) => s.id === stepId && s.outcome === 'failed');
      if (!ran) continue; // systemctl steps are skipped under --root
      assert.equal(result.outcome, 'failed', stepId);
      assert.deepEqual(await treeListing(root), installed, stepId);
    } finally {
      await removeRoot(root);
    }
  }
});

test('dry run plans and changes nothing', async () => {
  const root = await makeRoot();
  try {
    const before = await treeListing(root);
    const result = await install(optionsFor(root), { dryRun: true });
    assert.equal(result.outcome, 'planned');
    assert.deepEqual(result.steps.filter((s) => s.outcome === 'planned').map((s) => s.id), ['backup-binary', 'place-shim', 'write-dropin', 'record-state', 'verify']);
    assert.deepEqual(await treeListing(root), before);
  } finally {
    await removeRoot(root);
  }
});

test('status: not installed, installed, then the shim overwritten by an upgrade (with the fix); install repairs it', async () => {
  const root = await makeRoot();
  try {
    const none = await status(optionsFor(root));
    assert.equal(none.installed, false);
    assert.deepEqual(none.problems, []);
    assert.equal(none.versions.nginx, 'nginx/1.22.1');

    await install(optionsFor(root, { pidFile: '/run/bext-test.pid' }));
    await writeFile(path.join(root, 'run-placeholder'), '');
    const ok = await status(optionsFor(root));
    assert.equal(ok.installed, true);
    assert.equal(ok.paths.pidFile, '/run/bext-test.pid', 'paths come from the state');
    assert.equal(ok.binary.shimIsOurs, true);
    assert.equal(ok.binary.realChecksumOk, true);
    assert.equal(ok.binary.method, 'rename');
    assert.deepEqual(ok.dropIn, { present: true, current: true });
    assert.equal(ok.service.checked, false);
    assert.deepEqual(ok.problems, []);

    const newer = '#!/bin/sh\necho "nginx version: nginx/1.22.2" >&2\n';
    await writeFile(path.join(root, 'usr/sbin/nginx.new'), newer, { mode: 0o755 });
    await rename(path.join(root, 'usr/sbin/nginx.new'), path.join(root, 'usr/sbin/nginx'));
    const broken = await status(optionsFor(root));
    assert.deepEqual(broken.problems.map((p) => p.code), ['shim-replaced']);
    assert.equal(broken.problems[0].fix, 'bext nginx masquerade install');

    const repair = await install(optionsFor(root, { pidFile: '/run/bext-test.pid' }));
    assert.equal(repair.outcome, 'changed', repair.error ?? '');
    assert.equal(await readFile(path.join(root, 'usr/sbin/nginx.real'), 'utf8'), newer);
    const fixed = await status(optionsFor(root));
    assert.deepEqual(fixed.problems, []);
    assert.equal(fixed.versions.nginx, 'nginx/1.22.2');

    const removed = await uninstall(optionsFor(root), (await readState(root))!);
    assert.equal(removed.outcome, 'changed');
    assert.equal(await readFile(path.join(root, 'usr/sbin/nginx'), 'utf8'), newer);
  } finally {
    await removeRoot(root);
  }
});

test('an nginx upgrade through the dpkg diversion changes nginx.real: status says so, install records the new checksum', async () => {
  const root = await makeRoot({ dpkg: true });
  try {
    assert.equal((await install(optionsFor(root))).outcome, 'changed');
    const newer = '#!/bin/sh\necho "nginx version: nginx/1.22.3" >&2\n';
    await writeFile(path.join(root, 'usr/sbin/nginx.real'), newer, { mode: 0o755 });
    const st = await status(optionsFor(root));
    assert.deepEqual(st.problems.map((p) => p.code), ['real-changed']);
    assert.equal(st.binary.divertedBy, 'bext-masquerade');
    const repair = await install(optionsFor(root));
    assert.equal(repair.outcome, 'changed', repair.error ?? '');
    assert.deepEqual((await status(optionsFor(root))).problems, []);
    const removed = await uninstall(optionsFor(root), (await readState(root))!);
    assert.equal(removed.outcome, 'changed', removed.error ?? '');
    assert.equal(await readFile(path.join(root, 'usr/sbin/nginx'), 'utf8'), newer);
  } finally {
    await removeRoot(root);
  }
});
