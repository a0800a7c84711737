import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import ini from 'ini';
import { expectedLines, renderDropIn, verifyDropIn } from '../../src/masquerade/dropin.ts';
import { REPO } from './helpers.ts';

const defaults = { bextBin: '/usr/bin/bext-server', pidFile: '/run/nginx.pid' };

test('the packaged template systemd/bext-masquerade.conf is what install writes with the default paths', async () => {
  assert.equal(await readFile(path.join(REPO, 'systemd/bext-masquerade.conf'), 'utf8'), renderDropIn(defaults));
});

test('the drop-in clears the packaged commands before setting bext\'s, in order', () => {
  const text = renderDropIn({ bextBin: '/opt/bext/bext-server', pidFile: '/run/bext.pid' });
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
  assert.equal(lines[0], '[Service]');
  const idx = (l: string) => lines.indexOf(l);
  assert.ok(idx('ExecStart=') > 0 && idx('ExecStart=') < idx('ExecStart=/opt/bext/bext-server --nginx-masquerade --pid-file /run/bext.pid'));
  assert.ok(idx('ExecStartPre=') > 0);
  assert.ok(idx('ExecReload=') < idx('ExecReload=/opt/bext/bext-server nginx check -q'));
  assert.ok(idx('ExecReload=/opt/bext/bext-server nginx check -q') < idx('ExecReload=/bin/kill -s HUP $MAINPID'));
  assert.ok(idx('ExecStop=') < idx('ExecStop=/bin/kill -s TERM $MAINPID'));
  // Type=exec: start/restart return only once bext listens (its pid file names $MAINPID).
  assert.ok(idx('ExecStartPost=') > 0 && idx('ExecStartPost=') < idx('ExecStartPost=/opt/bext/bext-server wait-ready /run/bext.pid $MAINPID --timeout 60'));
  for (const l of ['Type=exec', 'PIDFile=/run/bext.pid', 'ExecStopPost=/bin/rm -f /run/bext.pid', 'Restart=on-failure', 'RestartSec=5', 'LimitNOFILE=65535']) {
    assert.ok(lines.includes(l), l);
  }
  assert.ok(lines.some((l) => /^TimeoutStopSec=\d+$/.test(l)));
  assert.ok(!text.includes('[]'), 'no ini array brackets');
  assert.match(text, /refuses a service\n# with a second ExecStart=/);
});

test('the pid file is passed to bext-server, so it writes the file systemd watches', () => {
  assert.match(renderDropIn({ bextBin: '/b', pidFile: '/run/x/nginx.pid' }), /^ExecStart=\/b --nginx-masquerade --pid-file \/run\/x\/nginx\.pid$/m);
  assert.match(renderDropIn({ bextBin: '/b', pidFile: '/run/nginx.pid' }), /^ExecStart=\/b --nginx-masquerade --pid-file \/run\/nginx\.pid$/m);
});

test('ini collapses repeated keys when reading: why the file is verified line by line', () => {
  const text = renderDropIn(defaults);
  const parsed = ini.parse(text) as { Service: Record<string, unknown> };
  assert.equal(parsed.Service.ExecStart, '/usr/bin/bext-server --nginx-masquerade --pid-file /run/nginx.pid');
  assert.equal(verifyDropIn(text, defaults), null);
});

test('verifyDropIn reports a missing clearing line and a reordering', () => {
  const text = renderDropIn(defaults);
  assert.match(verifyDropIn(text.replace('ExecStart=\n', ''), defaults) ?? '', /expected "ExecStart="/);
  const swapped = text.replace('ExecReload=/usr/bin/bext-server nginx check -q\nExecReload=/bin/kill -s HUP $MAINPID', 'ExecReload=/bin/kill -s HUP $MAINPID\nExecReload=/usr/bin/bext-server nginx check -q');
  assert.notEqual(verifyDropIn(swapped, defaults), null);
  assert.equal(expectedLines(defaults).filter((l) => l === 'ExecStart=').length, 1);
});
