// The YAML subset reader and the nfpm.yaml reader built on it: what they accept, what they refuse,
// and the per-format view of packaging/nfpm.yaml the fallback packages are built from.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { debControl, debDescription } from '../../scripts/package/deb.ts';
import { loadNfpmConfig, loadRpmTriggers, NfpmConfigError, resolve } from '../../scripts/package/nfpm-config.ts';
import { packageVersions } from '../../scripts/package/project.ts';
import { parseYamlSubset, YamlSubsetError } from '../../scripts/package/yaml-subset.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const scratch = mkdtempSync(path.join(tmpdir(), 'bext-nfpm-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('YAML subset reader', () => {
  test('reads mappings, sequences at and below their key, quoted scalars, comments and | blocks', () => {
    const doc = parseYamlSubset(
      [
        '# comment',
        'name: bext # trailing comment',
        'quoted: "a \\"b\\" # not a comment"',
        "single: 'it''s'",
        'list:',
        '- one',
        '- "two"',
        'nested:',
        '  items:',
        '    - src: a',
        '      dst: /b',
        '      file_info:',
        '        mode: 0755',
        '    - dst: /c',
        'text: |',
        '  first',
        '',
        '    indented',
        'stripped: |-',
        '  no newline',
      ].join('\n'),
    );
    assert.deepEqual(doc, {
      name: 'bext',
      quoted: 'a "b" # not a comment',
      single: "it's",
      list: ['one', 'two'],
      nested: { items: [{ src: 'a', dst: '/b', file_info: { mode: '0755' } }, { dst: '/c' }] },
      text: 'first\n\n  indented\n',
      stripped: 'no newline',
    });
  });

  for (const [what, text] of [
    ['flow sequences', 'a: [1, 2]'],
    ['flow mappings', 'a: {b: 1}'],
    ['anchors', 'a: &x 1'],
    ['aliases', 'a: *x'],
    ['tags', 'a: !!str 1'],
    ['folded blocks', 'a: >\n  text'],
    ['document markers', '---\na: 1'],
    ['tabs in indentation', 'a:\n\tb: 1'],
    ['duplicate keys', 'a: 1\na: 2'],
    ['empty values', 'a:\nb: 1'],
    ['one-line nested mappings', 'a: b: c'],
    ['multi-line quoted strings', 'a: "open\n  still"'],
    ['bad indentation', 'a:\n  b: 1\n   c: 2'],
  ] as const) {
    test(`refuses ${what}, with the line`, () => {
      assert.throws(() => parseYamlSubset(text, 'x.yaml'), (e: unknown) => e instanceof YamlSubsetError && /^x\.yaml:\d+: /.test(e.message));
    });
  }
});

describe('nfpm.yaml reader', () => {
  const env = { BEXT_VERSION: '0.1.0' };

  test('packaging/nfpm.yaml: deb and rpm views with their own depends and scripts', async () => {
    const cfg = await loadNfpmConfig(path.join(root, 'packaging', 'nfpm.yaml'));
    const deb = resolve(cfg, 'deb', env);
    const rpm = resolve(cfg, 'rpm', env);
    assert.equal(deb.name, 'bext-masquerade');
    assert.equal(deb.arch, 'all');
    assert.equal(deb.version, '0.1.0');
    assert.deepEqual(deb.depends, ['nodejs (>= 18.19)']);
    assert.deepEqual(rpm.depends, ['nodejs >= 18']);
    assert.deepEqual(deb.recommends, ['nginx']);
    assert.deepEqual(rpm.recommends, ['nginx']);
    assert.equal(deb.scripts.postinstall, 'packaging/deb/postinst');
    assert.equal(rpm.scripts.preremove, 'packaging/rpm/preun');
    const dsts = (i: typeof deb) => i.contents.map((c) => c.dst);
    assert.ok(dsts(deb).includes('/etc/default/bext-masquerade') && !dsts(deb).includes('/etc/sysconfig/bext-masquerade'));
    assert.ok(dsts(rpm).includes('/etc/sysconfig/bext-masquerade') && !dsts(rpm).includes('/etc/default/bext-masquerade'));
    assert.equal(deb.contents.find((c) => c.dst === '/usr/lib/bext/nginx-shim')?.mode, 0o755);
    assert.deepEqual(deb.debTriggers.interest_noawait, ['/usr/sbin/nginx']);
  });

  test('packaging/rpm/triggers.yaml: %triggerin -- nginx', async () => {
    assert.deepEqual(await loadRpmTriggers(path.join(root, 'packaging', 'rpm', 'triggers.yaml')), [{ type: 'in', conditions: ['nginx'], script: 'packaging/rpm/triggerin' }]);
  });

  const minimal = 'name: p\narch: all\nversion: ${V}\nmaintainer: M <m@example.org>\ndescription: d\n';
  const load = async (text: string) => {
    const file = path.join(scratch, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, text);
    return loadNfpmConfig(file);
  };

  for (const [what, extra] of [
    ['an nfpm key outside the subset', 'suggests:\n  - x\n'],
    ['a typo', 'dependz:\n  - x\n'],
    ['an unknown content type', 'contents:\n  - src: a\n    dst: /a\n    type: tree\n'],
    ['a mode without a leading 0', 'contents:\n  - src: a\n    dst: /a\n    file_info:\n      mode: 755\n'],
    ['an unknown file_info key', 'contents:\n  - src: a\n    dst: /a\n    file_info:\n      owner: www\n'],
    ['an override for another packager', 'overrides:\n  apk:\n    depends:\n      - x\n'],
    ['rpm triggers inside nfpm.yaml (they live in rpm/triggers.yaml)', 'rpm:\n  triggers:\n    - type: in\n'],
  ] as const) {
    test(`refuses ${what}`, async () => {
      await assert.rejects(load(minimal + extra), NfpmConfigError);
    });
  }

  test('expands ${VAR} in version and refuses an unset one', async () => {
    const cfg = await load(minimal);
    assert.equal(resolve(cfg, 'deb', { V: '1.2.3' }).version, '1.2.3');
    assert.throws(() => resolve(cfg, 'deb', { OTHER: 'x' }), /\$\{V\}, which is not set/);
  });
});

describe('control data', () => {
  test('versions follow nfpm: release appended, prerelease sorted with ~', () => {
    assert.deepEqual(packageVersions('0.1.0', '1'), { upstream: '0.1.0', deb: '0.1.0-1', rpmVersion: '0.1.0', rpmRelease: '1' });
    assert.equal(packageVersions('1.0.0-beta.2', '3').deb, '1.0.0~beta.2-3');
  });

  test('Description: synopsis, then the text indented, blank lines as " ."', () => {
    assert.equal(debDescription('short\nline one\n\nline two\n'), 'short\n line one\n .\n line two');
  });

  test('control fields in dpkg order, empty ones left out', async () => {
    const cfg = await loadNfpmConfig(path.join(root, 'packaging', 'nfpm.yaml'));
    const control = debControl(resolve(cfg, 'deb', { BEXT_VERSION: '0.1.0' }), [{ path: '/usr/bin/x', kind: 'file', mode: 0o755, size: 2048, content: null }]);
    assert.deepEqual(
      control.split('\n').filter((l) => /^\S/.test(l)).map((l) => l.split(':')[0]),
      ['Package', 'Version', 'Architecture', 'Maintainer', 'Installed-Size', 'Depends', 'Recommends', 'Section', 'Priority', 'Homepage', 'Description'],
    );
    assert.match(control, /^Installed-Size: 2$/m);
  });
});
