// A reload in place keeps the TLS contexts whose certificates and settings did not change (each costs
// ~3 ms of a worker's loop to make), makes the changed ones, and leaves everything as it was when a
// new certificate is bad.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureContexts } from '../../src/server/secure-contexts.ts';
import { makeCert } from '../serving/harness.ts';
import { conv, http } from '../config/helpers.ts';

const stateFor = (a: string, b: string) =>
  conv(http(`
    server { listen 443 ssl; server_name a.test; ssl_certificate ${a}.crt; ssl_certificate_key ${a}.key; }
    server { listen 443 ssl; server_name b.test; ssl_certificate ${b}.crt; ssl_certificate_key ${b}.key; }
  `)).state;

test('an unchanged server keeps its context over a swap; a changed one gets a new one; a bad one changes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-contexts-'));
  const pems: Record<string, string> = {};
  for (const name of ['a', 'b', 'c']) {
    const { cert, key } = await makeCert(dir, `${name}.test`);
    pems[`${dir}/${name}.crt`] = readFileSync(cert, 'utf8');
    pems[`${dir}/${name}.key`] = readFileSync(key, 'utf8');
  }
  const first = stateFor(`${dir}/a`, `${dir}/b`);
  const contexts = new SecureContexts(first, pems, '11'.repeat(32));
  const [a1, b1] = first.tls.map((e) => contexts.get(e.tls));
  assert.notEqual(a1, b1, 'each server its own context');

  // The same configuration read again: new settings objects, the same contexts.
  const same = stateFor(`${dir}/a`, `${dir}/b`);
  contexts.swap(same, { ...pems }, '22'.repeat(32));
  assert.equal(contexts.get(same.tls[0]!.tls), a1);
  assert.equal(contexts.get(same.tls[1]!.tls), b1);
  assert.notDeepEqual(contexts.ticketKeys(same.tls[0]!.tls), undefined);

  // b's certificate renewed: only b's context is made again.
  const renewed = { ...pems, [`${dir}/b.crt`]: pems[`${dir}/c.crt`]!, [`${dir}/b.key`]: pems[`${dir}/c.key`]! };
  const next = stateFor(`${dir}/a`, `${dir}/b`);
  contexts.swap(next, renewed, '33'.repeat(32));
  assert.equal(contexts.get(next.tls[0]!.tls), a1);
  const b2 = contexts.get(next.tls[1]!.tls);
  assert.notEqual(b2, b1);

  // A key that does not parse: the swap throws and the contexts in use stay.
  const broken = stateFor(`${dir}/a`, `${dir}/b`);
  assert.throws(() => contexts.swap(broken, { ...renewed, [`${dir}/b.key`]: 'not a key' }, '44'.repeat(32)));
  assert.equal(contexts.get(next.tls[0]!.tls), a1);
  assert.equal(contexts.get(next.tls[1]!.tls), b2);
});
