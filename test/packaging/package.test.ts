// `npm run package` end to end, with the distributions' tools (the fallback; nfpm is not installed
// here): builds the .deb and .rpm in a scratch copy of the packaging inputs, then inspects them with
// dpkg-deb, rpm and lintian, and builds the .deb a second time to compare bytes. Nothing is installed.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
const DEB = `bext-masquerade_${version}-1_all.deb`;
const RPM = `bext-masquerade-${version}-1.noarch.rpm`;
const EPOCH = '1767225600';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missingTools = ['dpkg-deb', 'rpmbuild', 'rpm'].filter((t) => !has(t));
const skip = missingTools.length ? `${missingTools.join(', ')} not installed (scripts/install-test-deps.sh installs dpkg-dev, rpm, lintian)` : false;

const scratches: string[] = [];
after(() => scratches.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of what packaging reads, with src/ and node_modules/ linked: the real dist/ is left alone. */
function scratchTree(withTemplate: boolean): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bext-package-'));
  scratches.push(dir);
  for (const entry of ['scripts', 'packaging', 'package.json', 'tsconfig.json']) cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  mkdirSync(path.join(dir, 'docs'));
  cpSync(path.join(root, 'docs', 'man'), path.join(dir, 'docs', 'man'), { recursive: true });
  for (const entry of ['src', 'node_modules']) symlinkSync(path.join(root, entry), path.join(dir, entry));
  if (withTemplate) {
    mkdirSync(path.join(dir, 'systemd'));
    const template = path.join(root, 'systemd', 'bext-masquerade.conf');
    // The drop-in template is written by the installer work; until it lands, package a stand-in.
    if (existsSync(template)) cpSync(template, path.join(dir, 'systemd', 'bext-masquerade.conf'));
    else writeFileSync(path.join(dir, 'systemd', 'bext-masquerade.conf'), '# stand-in drop-in template for the packaging test\n[Service]\n');
  }
  return dir;
}

function packageIn(dir: string, args: string[] = []): { rc: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/package.ts', '--fallback', ...args], {
    cwd: dir,
    env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH },
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { rc: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// TZ=UTC: dpkg-deb -c prints mtimes in local time.
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, env: { ...process.env, TZ: 'UTC' } });

describe('npm run package (dpkg-deb and rpmbuild)', { skip }, () => {
  let dir = '';
  let deb = '';
  let rpm = '';
  before(() => {
    dir = scratchTree(true);
    const r = packageIn(dir);
    assert.equal(r.rc, 0, `package failed:\n${r.stdout}\n${r.stderr}`);
    deb = path.join(dir, 'dist', DEB);
    rpm = path.join(dir, 'dist', RPM);
  });

  test('writes both packages under nfpm\'s file names', () => {
    assert.ok(existsSync(deb), DEB);
    assert.ok(existsSync(rpm), RPM);
  });

  test('dpkg-deb -I: control fields, conffiles, triggers and maintainer scripts', () => {
    const field = (name: string) => sh('dpkg-deb', ['-f', deb, name]).trim();
    assert.equal(field('Package'), 'bext-masquerade');
    assert.equal(field('Version'), `${version}-1`);
    assert.equal(field('Architecture'), 'all');
    assert.equal(field('Depends'), 'nodejs (>= 18.19)');
    assert.equal(field('Recommends'), 'nginx');
    assert.equal(field('Section'), 'httpd');
    assert.equal(field('Priority'), 'optional');
    assert.match(field('Maintainer'), /<.+@.+>/);
    assert.match(field('Homepage'), /^https:\/\//);
    assert.match(field('Description'), /^drop-in replacement for nginx/);
    assert.match(field('Installed-Size'), /^\d+$/);
    const info = sh('dpkg-deb', ['-I', deb]);
    for (const member of ['control', 'md5sums', 'conffiles', 'triggers', 'postinst', 'prerm', 'postrm']) assert.match(info, new RegExp(`\\s${member}\\s`), member);
    assert.equal(sh('dpkg-deb', ['-I', deb, 'conffiles']), '/etc/default/bext-masquerade\n');
    assert.equal(sh('dpkg-deb', ['-I', deb, 'triggers']), 'interest-noawait /usr/sbin/nginx\n');
    assert.equal(sh('dpkg-deb', ['-I', deb, 'postinst']), readFileSync(path.join(root, 'packaging', 'deb', 'postinst'), 'utf8'));
    assert.match(sh('dpkg-deb', ['-I', deb, 'md5sums']), /^[0-9a-f]{32} {2}usr\/lib\/bext\/bext-server\.js$/m);
  });

  test('dpkg-deb -c: files, modes, symlinks, root ownership, fixed mtimes', () => {
    const listing = sh('dpkg-deb', ['-c', deb]);
    const entry = (p: string) => listing.split('\n').find((l) => l.endsWith(` ./${p}`) || l.includes(` ./${p} -> `));
    const expect: [string, RegExp][] = [
      ['usr/lib/bext/bext-server.js', /^-rwxr-xr-x root\/root/],
      ['usr/lib/bext/nginx-shim', /^-rwxr-xr-x root\/root/],
      ['usr/lib/bext/bext.js', /^-rwxr-xr-x root\/root/],
      ['usr/lib/bext/package.json', /^-rw-r--r-- root\/root/],
      ['usr/lib/bext/maint-helper', /^-rwxr-xr-x root\/root/],
      ['usr/bin/bext', /^lrwxrwxrwx root\/root .* -> \.\.\/lib\/bext\/bext\.js$/],
      ['usr/bin/bext-server', /^lrwxrwxrwx root\/root .* -> \.\.\/lib\/bext\/bext-server\.js$/],
      ['usr/share/bext/systemd/bext-masquerade.conf', /^-rw-r--r-- root\/root/],
      ['usr/share/man/man1/bext.1.gz', /^-rw-r--r-- root\/root/],
      ['usr/share/man/man8/bext-server.8.gz', /^-rw-r--r-- root\/root/],
      ['usr/share/doc/bext-masquerade/copyright', /^-rw-r--r-- root\/root/],
      ['usr/share/doc/bext-masquerade/changelog.Debian.gz', /^-rw-r--r-- root\/root/],
      ['usr/share/lintian/overrides/bext-masquerade', /^-rw-r--r-- root\/root/],
      ['etc/default/bext-masquerade', /^-rw-r--r-- root\/root/],
    ];
    for (const [p, re] of expect) assert.match(entry(p) ?? `(missing ${p})`, re, p);
    assert.equal(entry('etc/sysconfig/bext-masquerade'), undefined);
    for (const line of listing.trim().split('\n')) {
      assert.match(line, /^[-dl]r.{8} root\/root/, line);
      assert.match(line, / 2026-01-01 00:00 /, line);
    }
  });

  test('the bundles carry the packages\' shebang', () => {
    const out = path.join(dir, 'extract');
    sh('dpkg-deb', ['-x', deb, out]);
    for (const f of ['bext-server.js', 'nginx-shim', 'bext.js']) {
      assert.equal(readFileSync(path.join(out, 'usr/lib/bext', f), 'utf8').split('\n')[0], '#!/usr/bin/node', f);
    }
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'usr/lib/bext/package.json'), 'utf8')), { type: 'module' });
  });

  test('rpm -qpi: name, version, release, arch, license', () => {
    const info = sh('rpm', ['-qpi', rpm]);
    assert.match(info, /^Name\s*: bext-masquerade$/m);
    assert.match(info, new RegExp(`^Version\\s*: ${version.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(info, /^Release\s*: 1$/m);
    assert.match(info, /^Architecture: noarch$/m);
    assert.match(info, /^License\s*: MIT$/m);
    assert.match(info, /^Summary\s*: drop-in replacement for nginx/m);
  });

  test('rpm -qpl: files (with modes), sysconfig as noreplace config, no Debian-only files', () => {
    const files = sh('rpm', ['-qpl', rpm]).trim().split('\n');
    for (const p of ['/usr/lib/bext/bext-server.js', '/usr/lib/bext/nginx-shim', '/usr/lib/bext/bext.js', '/usr/lib/bext/maint-helper', '/usr/bin/bext', '/usr/bin/bext-server', '/usr/share/bext/systemd/bext-masquerade.conf', '/usr/share/man/man1/bext.1.gz', '/usr/share/man/man8/bext-server.8.gz', '/usr/share/doc/bext-masquerade/copyright', '/usr/share/doc/bext-masquerade/changelog', '/etc/sysconfig/bext-masquerade']) {
      assert.ok(files.includes(p), p);
    }
    for (const p of ['/etc/default/bext-masquerade', '/usr/share/lintian/overrides/bext-masquerade', '/usr/share/doc/bext-masquerade/changelog.Debian.gz']) assert.ok(!files.includes(p), p);
    const modes = sh('rpm', ['-qp', '--qf', '[%{FILEMODES:perms} %{FILENAMES}\n]', rpm]);
    assert.match(modes, /^-rwxr-xr-x \/usr\/lib\/bext\/nginx-shim$/m);
    assert.match(modes, /^lrwxrwxrwx \/usr\/bin\/bext$/m);
    assert.match(modes, /^drwxr-xr-x \/usr\/lib\/bext$/m);
    assert.deepEqual(sh('rpm', ['-qpc', rpm]).trim().split('\n'), ['/etc/sysconfig/bext-masquerade']);
  });

  test('rpm -qp --scripts: %post, %preun, %postun and %triggerin -- nginx', () => {
    const scripts = sh('rpm', ['-qp', '--scripts', rpm]);
    assert.match(scripts, /^postinstall scriptlet \(using \/bin\/sh\):\n[^]*maint-helper activate \/etc\/sysconfig\/bext-masquerade/m);
    assert.match(scripts, /^preuninstall scriptlet \(using \/bin\/sh\):\n[^]*maint-helper deactivate/m);
    assert.match(scripts, /^postuninstall scriptlet \(using \/bin\/sh\):\n[^]*rm -rf \/var\/lib\/bext/m);
    const triggers = sh('rpm', ['-qp', '--triggers', rpm]);
    assert.match(triggers, /^triggerin scriptlet \(using \/bin\/sh\) -- nginx\n[^]*maint-helper activate/m);
  });

  test('rpm -qpR and --recommends: nodejs required, nginx only recommended', () => {
    const requires = sh('rpm', ['-qpR', rpm]).trim().split('\n');
    assert.ok(requires.includes('nodejs >= 18'), requires.join(', '));
    assert.ok(!requires.some((r) => r.startsWith('nginx')), 'nginx must not be required');
    assert.deepEqual(sh('rpm', ['-qp', '--recommends', rpm]).trim().split('\n'), ['nginx']);
  });

  test('lintian: nothing but the reasoned overrides', { skip: has('lintian') ? false : 'lintian not installed' }, () => {
    const r = spawnSync('lintian', ['-I', '-E', '--pedantic', '--display-level', '>=pedantic', deb], { encoding: 'utf8' });
    const tags = r.stdout.split('\n').filter((l) => /^[EWIPX]: /.test(l));
    assert.deepEqual(tags, [], r.stdout + r.stderr);
    assert.equal(r.status, 0, r.stderr);
  });

  test('reproducible: a second build gives the same bytes, for the .deb and the .rpm', () => {
    const r = packageIn(dir, ['--out-dir', 'dist2']);
    assert.equal(r.rc, 0, r.stderr);
    assert.ok(readFileSync(path.join(dir, 'dist2', DEB)).equals(readFileSync(deb)), 'the two .deb files differ');
    assert.ok(readFileSync(path.join(dir, 'dist2', RPM)).equals(readFileSync(rpm)), 'the two .rpm files differ');
  });
});

test('the build fails clearly when the systemd drop-in template is missing', { skip }, () => {
  const dir = scratchTree(false);
  const r = packageIn(dir);
  assert.notEqual(r.rc, 0);
  assert.match(r.stderr, /missing: systemd\/bext-masquerade\.conf/);
  assert.ok(!existsSync(path.join(dir, 'dist', DEB)));
});
