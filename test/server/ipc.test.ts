// A swap travels as several messages (the http block's children in parts): what the worker puts
// back together is the configuration the master sent, and no part is large.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseString } from '../../src/nginx/parser.ts';
import { SwapAssembly, swapMessages, type ToWorker, type WorkerConfig } from '../../src/server/ipc.ts';
import { CONF, http } from '../config/helpers.ts';

const servers = Array.from({ length: 600 }, (_, i) => `server { listen 80; server_name s${i}.test; location / { return 200 "${i}"; } location /a { root /srv; } }`);

test('swapMessages splits the http block into parts; SwapAssembly restores the configuration', () => {
  const loaded = parseString(`user www-data;\n${http(`sendfile on;\n${servers.join('\n')}`)}`, CONF, { prefix: '/usr/share/nginx/' });
  const config: WorkerConfig = { loaded: { tree: loaded.tree, paths: loaded.paths }, certificates: { '/x.pem': 'PEM' }, ticketSecret: 'ab', shutdownTimeoutMs: 1000 };
  const messages = swapMessages(config);
  assert.equal(messages[0]!.type, 'swap');
  assert.ok(messages.length > 3, `${messages.length} messages`);
  for (const m of messages) assert.ok(JSON.stringify(m).length < 128 * 1024, 'each message well under the channel read size');
  // Through JSON, as node:cluster's channel carries them, and back together.
  const assembly = new SwapAssembly();
  let whole: WorkerConfig | undefined;
  for (const m of messages) {
    const got = assembly.add(JSON.parse(JSON.stringify(m)) as Extract<ToWorker, { type: 'swap' | 'swap-part' }>);
    if (m !== messages[messages.length - 1]) assert.equal(got, undefined, 'incomplete until the last part');
    else whole = got;
  }
  assert.deepEqual(whole, JSON.parse(JSON.stringify(config)));
  // The master's own tree is untouched.
  assert.equal(config.loaded.tree.find((n) => n.directive === 'http')!.block!.length, 601);
});

test('a configuration without an http block is one message', () => {
  const loaded = parseString('events {}\n', CONF, { prefix: '/usr/share/nginx/' });
  const config: WorkerConfig = { loaded: { tree: loaded.tree, paths: loaded.paths }, certificates: {}, ticketSecret: 'ab', shutdownTimeoutMs: 1000 };
  const messages = swapMessages(config);
  assert.equal(messages.length, 1);
  assert.deepEqual(new SwapAssembly().add(JSON.parse(JSON.stringify(messages[0])))!, JSON.parse(JSON.stringify(config)));
});
