// ssl_session_cache's arguments as the session cache reads them (tls-sessions.test.ts checks the
// resumption itself beside nginx).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sessionCacheOf } from '../../src/server/ssl-session-cache.ts';
import type { TlsSettings } from '../../src/config/state.ts';

const of = (...sessionCache: string[]) => sessionCacheOf({ sessionCache } as unknown as TlsSettings);

test('shared wins over builtin; about 4000 sessions a megabyte; none and off keep nothing', () => {
  assert.deepEqual(of('shared:le_nginx_SSL:10m'), { kind: 'shared', zone: 'le_nginx_SSL', max: 40000 });
  assert.deepEqual(of('builtin:1000', 'shared:SSL:1m'), { kind: 'shared', zone: 'SSL', max: 4000 });
  assert.deepEqual(of('builtin:1000'), { kind: 'builtin', max: 1000 });
  assert.deepEqual(of('builtin'), { kind: 'builtin', max: 20480 });
  assert.equal(of('none'), undefined);
  assert.equal(of('off'), undefined);
  assert.equal(sessionCacheOf(undefined), undefined);
});
