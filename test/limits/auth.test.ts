// auth_basic with crypt(3) schemes (SHA-crypt, bcrypt) and `satisfy any|all`, against vectors from
// glibc/libxcrypt (python3's crypt, openssl passwd) and against real nginx.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shaCrypt } from '../../src/http/crypt-sha.ts';
import { bcrypt } from '../../src/http/crypt-bcrypt.ts';
import { cryptVerify } from '../../src/http/crypt.ts';
import { desCrypt } from '../../src/http/crypt-des.ts';
import { haveNginx, startNginx, get } from '../http/oracle.ts';
import { startOurs } from './harness.ts';

const b = (s: string) => Buffer.from(s);

test('SHA-crypt vectors ($5$, $6$, rounds=, 16-character salts)', () => {
  assert.equal(shaCrypt(b('Hello world!'), '$5$saltstring'), '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5');
  assert.equal(shaCrypt(b('Hello world!'), '$6$saltstring'), '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1');
  assert.equal(shaCrypt(b('Hello world!'), '$6$rounds=10000$saltstringsaltstring'),
    '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.');
  assert.equal(shaCrypt(b('s3cret'), '$5$xyz'), '$5$xyz$Qd4LTTao5ntAOJqYPTMD6IN3DD9AoFQJvrjn71XNUgC');
  assert.equal(shaCrypt(b('s3cret'), '$6$xyz$ignored'), '$6$xyz$TY0/8VXOAX6bpQrZm2JYghC6jnjzdHfwd.qmxCtDfPlHaGDoltk2Oj.IP9WGUGl1DMC02IzB46d//BOY5MKur/');
  assert.equal(shaCrypt(b('x'), '$1$x'), undefined);
});

test('bcrypt vectors ($2b$, $2y$, empty and over-long passwords)', () => {
  assert.equal(bcrypt(b('s3cret'), '$2b$04$abcdefghijklmnopqrstuu'), '$2b$04$abcdefghijklmnopqrstuuLZYjhNQAOdpbzt4WxWlUHjv1wsyH5DG');
  assert.equal(bcrypt(b('s3cret'), '$2y$05$ABCDEFGHIJKLMNOPQRSTUu'), '$2y$05$ABCDEFGHIJKLMNOPQRSTUu32lqd5NmGhatVOR7CaAGE3J/05gcNua');
  assert.equal(bcrypt(b(''), '$2b$04$......................'), '$2b$04$......................w74bL5gU7LSJClZClCa.Pkz14aTv/XO');
  // Only the first 72 bytes count.
  assert.equal(bcrypt(b('x'.repeat(80)), '$2b$04$abcdefghijklmnopqrstuu'), '$2b$04$abcdefghijklmnopqrstuubzadhGtS2zEF.gu0yd0opP6cVzb.e0i');
  assert.equal(bcrypt(b('x'), '$2b$03$abcdefghijklmnopqrstuu'), undefined);
});

test('DES crypt vectors (8 significant bytes, 2-character salt)', () => {
  assert.equal(desCrypt(b('s3cret'), 'ab'), 'abhWCwoTZY2c6');
  assert.equal(desCrypt(b('password123'), 'Zz'), 'ZziFATVXHo2.6');
  assert.equal(desCrypt(b('password'), 'Zz'), desCrypt(b('password123'), 'Zz'));
  assert.equal(desCrypt(b('a'), './'), './xT2u5QYaHcU');
  assert.equal(desCrypt(b(''), 'xy'), 'xyw1.V0rbu5mQ');
  assert.equal(desCrypt(Buffer.from('été'), '9a'), '9aaH/1oM6rWbE');
  assert.equal(desCrypt(b('x'), 'a'), undefined);
});

test('cryptVerify accepts the right password only, and leaves unknown schemes undecided', () => {
  assert.equal(cryptVerify(b('s3cret'), '$2b$04$abcdefghijklmnopqrstuuLZYjhNQAOdpbzt4WxWlUHjv1wsyH5DG'), true);
  assert.equal(cryptVerify(b('s3creT'), '$2b$04$abcdefghijklmnopqrstuuLZYjhNQAOdpbzt4WxWlUHjv1wsyH5DG'), false);
  assert.equal(cryptVerify(b('s3cret'), '$5$rounds=2000$abcdefgh$QulN9CjuUAQI/3TqZVUOWhXE5pV8x.LRToiDQ4skcoC'), true);
  assert.equal(cryptVerify(b('s3cret'), '$6$saltsalt$As4wrv0kZlfch1du9WeH7qhskyLriQWySXrZzynnvi46nFnNxjdpl6ksRegrrKexvhIa/Iny8S8uF3fVWTMuC1'), true);
  assert.equal(cryptVerify(b('nope'), '$6$saltsalt$As4wrv0kZlfch1du9WeH7qhskyLriQWySXrZzynnvi46nFnNxjdpl6ksRegrrKexvhIa/Iny8S8uF3fVWTMuC1'), false);
  assert.equal(cryptVerify(b('s3cret'), 'abhWCwoTZY2c6'), true);
  assert.equal(cryptVerify(b('s3creT'), 'abhWCwoTZY2c6'), false);
  assert.equal(cryptVerify(b('s3cret'), '$y$j9T$abcdefghijklmnop$tySFNIfWVy.ymkBDHEMW6bAQ07dlkLVGalgni.VV4l8'), undefined);
});

const USERS = [
  'apr:$apr1$xyz$a1OPicwcvNtAvLKd25lWl/',
  'md5:$1$xyz$LR4giuEdCJh9gZXQkz20T/',
  'sha256:$5$xyz$Qd4LTTao5ntAOJqYPTMD6IN3DD9AoFQJvrjn71XNUgC',
  'sha256r:$5$rounds=2000$abcdefgh$QulN9CjuUAQI/3TqZVUOWhXE5pV8x.LRToiDQ4skcoC',
  'sha512:$6$xyz$TY0/8VXOAX6bpQrZm2JYghC6jnjzdHfwd.qmxCtDfPlHaGDoltk2Oj.IP9WGUGl1DMC02IzB46d//BOY5MKur/',
  'bcrypt:$2b$04$abcdefghijklmnopqrstuuLZYjhNQAOdpbzt4WxWlUHjv1wsyH5DG',
  'bcrypty:$2y$05$ABCDEFGHIJKLMNOPQRSTUu32lqd5NmGhatVOR7CaAGE3J/05gcNua',
  'des:abhWCwoTZY2c6',
];

const conf = (dir: string) => `
  server { listen 127.0.0.1:PORT; server_name localhost; root ${dir};
    auth_basic_user_file ${dir}/htpasswd;
    location / { auth_basic "Area 51"; }
    location /any/ { satisfy any; deny all; auth_basic "any"; }
    location /anyok/ { satisfy any; allow 127.0.0.1; deny all; auth_basic "anyok"; }
    location /all/ { satisfy all; allow 127.0.0.1; deny all; auth_basic "all"; }
    location /alldeny/ { deny all; auth_basic "alldeny"; }
    location /anynoauth/ { satisfy any; deny all; }
    location /anyoff/ { satisfy any; deny all; auth_basic off; }
    location /named/ { try_files /nonexistent @guarded; }
    location @guarded { auth_basic "named"; root ${dir}/any; }
  }`;

test('differential: crypt schemes and satisfy against real nginx', { skip: !haveNginx, timeout: 40_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-auth-'));
  writeFileSync(join(dir, 'htpasswd'), USERS.join('\n') + '\n');
  for (const d of ['', 'any', 'anyok', 'all', 'alldeny', 'anynoauth', 'anyoff']) {
    if (d) mkdirSync(join(dir, d));
    writeFileSync(join(dir, d, 'index.html'), `ok ${d}\n`);
  }
  const nginx = await startNginx(conf(dir));
  const ours = await startOurs(conf(dir));
  const basic = (u: string, p: string) => [`Authorization: Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`];
  try {
    const cases: [string, string[]][] = [];
    for (const line of USERS) {
      const user = line.split(':')[0]!;
      cases.push(['/', basic(user, 's3cret')], ['/', basic(user, 'wrong')]);
    }
    for (const path of ['/any/', '/anyok/', '/all/', '/alldeny/', '/anynoauth/', '/anyoff/', '/named/']) {
      cases.push([path, []], [path, basic('sha512', 's3cret')], [path, basic('sha512', 'bad')]);
    }
    for (const [path, headers] of cases) {
      const [a, o] = [await get(nginx.port, path, headers), await get(ours.port, path, headers)];
      const view = (r: typeof a) => ({ status: r.status, challenge: r.headers['www-authenticate'], body: r.status === 200 ? r.body.toString() : '' });
      assert.deepEqual(view(o), view(a), `${path} ${headers.join()}`);
    }
  } finally {
    await nginx.stop();
    await ours.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
