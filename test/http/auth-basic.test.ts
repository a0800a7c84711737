import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { md5Crypt, verifyPassword, parseBasicAuth, checkBasicAuth } from '../../src/http/auth-basic.ts';
import { haveNginx, startNginx, get } from './oracle.ts';

const b = (s: string) => Buffer.from(s);
const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

test('MD5-crypt vectors (openssl passwd -apr1 / -1)', () => {
  assert.equal(md5Crypt(b('password'), 'abcdefgh', '$apr1$'), '$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1');
  assert.equal(md5Crypt(b('secret'), 'saltsalt', '$1$'), '$1$saltsalt$9xy1btjgzLYfb7hivXtC//');
});

test('password schemes', () => {
  const salt = Buffer.from('NaCl');
  const ssha = '{SSHA}' + Buffer.concat([createHash('sha1').update('pw').update(salt).digest(), salt]).toString('base64');
  assert.equal(verifyPassword(b('pw'), '{PLAIN}pw'), true);
  assert.equal(verifyPassword(b('px'), '{PLAIN}pw'), false);
  assert.equal(verifyPassword(b('pw'), '{SHA}' + createHash('sha1').update('pw').digest('base64')), true);
  assert.equal(verifyPassword(b('pw'), ssha), true);
  assert.equal(verifyPassword(b('password'), '$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1'), true);
  assert.equal(verifyPassword(b('pw'), '$6$x$y'), undefined);
  assert.deepEqual(parseBasicAuth(basic('u', 'p:q')), { user: 'u', password: b('p:q') });
  assert.equal(parseBasicAuth('Bearer x'), undefined);
});

test('differential: auth_basic decisions match real nginx', { skip: !haveNginx }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-auth-'));
  const users = join(dir, 'htpasswd');
  writeFileSync(users, [
    '# comment',
    'plain:{PLAIN}p1',
    'sha:{SHA}' + createHash('sha1').update('p2').digest('base64'),
    'apr:$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1',
    'md5:$1$saltsalt$9xy1btjgzLYfb7hivXtC//:comment',
  ].join('\n') + '\n');
  writeFileSync(join(dir, 'index.html'), 'secret');
  const o = await startNginx(`server { listen 127.0.0.1:PORT; server_name localhost; root ${dir};
    location / { auth_basic "Area 51"; auth_basic_user_file ${users}; }
    location /missing/ { auth_basic on; auth_basic_user_file ${dir}/nope; } }`);
  try {
    const cases: [string, string | undefined][] = [
      ['/', undefined], ['/', basic('plain', 'p1')], ['/', basic('plain', 'bad')], ['/', basic('sha', 'p2')],
      ['/', basic('apr', 'password')], ['/', basic('md5', 'secret')], ['/', basic('nobody', 'x')], ['/', 'Basic !!!'],
      ['/missing/', basic('plain', 'p1')],
    ];
    for (const [path, auth] of cases) {
      const r = await get(o.port, path, auth ? [`Authorization: ${auth}`] : []);
      const file = path === '/' ? users : join(dir, 'nope');
      const ours = await checkBasicAuth(auth, file);
      const status = ours.kind === 'ok' ? 200 : ours.kind === 'challenge' ? 401 : ours.status;
      assert.equal(status, r.status, `${path} ${auth}`);
      if (status === 401) assert.equal(r.headers['www-authenticate'], 'Basic realm="Area 51"');
    }
  } finally {
    await o.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
