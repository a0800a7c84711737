// A worker reloading in place converts in steps (convertInSteps): the event loop runs between the
// http level, each location, each server and the tables, and the result is the conversion's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseString } from '../../src/nginx/parser.ts';
import { convert, convertInSteps } from '../../src/config/convert.ts';
import { describeState } from '../../src/config/describe.ts';
import { CONF, http } from './helpers.ts';

const servers = Array.from({ length: 5 }, (_, i) => `
  server {
    listen 80${i === 0 ? ' default_server' : ''}; server_name s${i}.test *.s${i}.test;
    location / { root /srv/${i}; }
    location ~ ^/r${i}/(\\d+)$ { return 200 "$1"; }
    location /n${i}/ { location ~ \\.php$ { return 403; } }
  }`).join('\n');

test('convertInSteps lets the event loop run between steps and builds what convert builds', async () => {
  const loaded = () => parseString(http(servers), CONF, { prefix: '/usr/share/nginx/' });
  let ticks = 0;
  let ticking = true;
  const tick = () => {
    ticks++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const stepped = await convertInSteps(loaded(), { root: true });
  ticking = false;
  // 5 servers of 3 locations (one nested): at least a turn of the loop per location and per server.
  assert.ok(ticks >= 20, `only ${ticks} turns of the event loop during the conversion`);
  const whole = convert(loaded(), { root: true });
  assert.deepEqual(describeState(stepped.state), describeState(whole.state));
  assert.deepEqual(stepped.warnings, whole.warnings);
  assert.ok(Object.isFrozen(stepped.state.servers[4]!.locations.regexes[0]), 'frozen as convert freezes');
});

test('convertInSteps rejects with the error convert throws', async () => {
  const bad = parseString(http('server { listen 80; location /a { limit_req zone=nowhere; } }'), CONF, { prefix: '/usr/share/nginx/' });
  const thrown = (() => {
    try {
      convert(bad, { root: true });
    } catch (err) {
      return (err as Error).message;
    }
  })();
  assert.match(String(thrown), /zero size shared memory zone "nowhere"/);
  await assert.rejects(convertInSteps(bad, { root: true }), (err: Error) => err.message === thrown);
});
