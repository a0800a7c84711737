// Differential: set_real_ip_from / real_ip_header / real_ip_recursive (the realip module, in
// Debian's build). The tests connect from 127.0.0.1: servers trusting it take the client address
// from the header; one trusting another peer does not. $remote_addr, $remote_port,
// $realip_remote_addr, allow/deny and the access log are compared with nginx's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { accessLogDiff, haveNginx, makeSite, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;

// return runs in the rewrite phase, before preaccess: a location's own realip settings show in a
// file's access log line (SITE), not in a return. $remote_port only where an address was taken
// (the peer's port differs between the two servers' connections).
const SHOW = 'return 200 "[$remote_addr] [$realip_remote_addr]\\n";';
const PORT = 'return 200 "[$remote_addr] [$remote_port]\\n";';
const FILE = 'root @SITE@/www; try_files /ok.txt =404;';

before(async () => {
  if (!haveNginx) return;
  pair = await startPair(wrapConfig(`
  server {
    listen 127.0.0.1:@P1@;
    set_real_ip_from 127.0.0.0/8;
    location / { ${SHOW} }
    location /port/ { ${PORT} }
    location /only/ { allow 203.0.113.7; deny all; ${FILE} }
    location /xff/ { real_ip_header X-Forwarded-For; allow 198.51.100.1; deny all; ${FILE} }
    location /custom/ { real_ip_header CF-Connecting-IP; allow 198.51.100.77; deny all; ${FILE} }
  }
  server {
    listen 127.0.0.1:@P2@;
    set_real_ip_from 127.0.0.1;
    set_real_ip_from 10.0.0.0/8;
    set_real_ip_from 2001:db8::/32;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
    location / { ${SHOW} }
    location /plain/ { real_ip_recursive off; ${SHOW} }
  }
  server {
    listen 127.0.0.1:@P3@;
    set_real_ip_from 192.0.2.1;
    location / { ${SHOW} }
  }
  server {
    listen 127.0.0.1:@P4@;
    location / { ${SHOW} }
    location /here/ { set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For; allow 198.51.100.20; deny all; ${FILE} }
    location /herereturn/ { set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For; ${SHOW} }
  }`), makeSite({ 'www/ok.txt': 'ok\n' }), ['P1', 'P2', 'P3', 'P4']);
});

after(async () => {
  await pair?.stop();
});

const h = (name: string, value: string): [string, string] => [name, value];
const CASES: Case[] = [
  { name: 'X-Real-IP from a trusted peer', port: 'P1', target: '/', headers: [h('X-Real-IP', '203.0.113.7')] },
  { name: 'X-Real-IP with a port', port: 'P1', target: '/port/', headers: [h('X-Real-IP', '203.0.113.7:8080')] },
  { name: 'X-Real-IP without a port: $remote_port empty', port: 'P1', target: '/port/', headers: [h('X-Real-IP', '203.0.113.7')] },
  { name: 'X-Real-IP, IPv6', port: 'P1', target: '/', headers: [h('X-Real-IP', '2001:DB8:0:0::1')] },
  { name: 'X-Real-IP, IPv6 with a port', port: 'P1', target: '/port/', headers: [h('X-Real-IP', '[2001:db8::2]:443')] },
  { name: 'X-Real-IP not an address', port: 'P1', target: '/', headers: [h('X-Real-IP', 'example.com')] },
  { name: 'X-Real-IP, a list: the last entry', port: 'P1', target: '/', headers: [h('X-Real-IP', '198.51.100.1, 203.0.113.9')] },
  { name: 'no header', port: 'P1', target: '/' },
  { name: 'allow/deny see the real address (allowed)', port: 'P1', target: '/only/', headers: [h('X-Real-IP', '203.0.113.7')] },
  { name: 'allow/deny see the real address (denied)', port: 'P1', target: '/only/', headers: [h('X-Real-IP', '203.0.113.8')] },
  { name: 'allow/deny without a header: the peer is denied', port: 'P1', target: '/only/' },
  { name: 'X-Forwarded-For at the location: the last entry (allowed)', port: 'P1', target: '/xff/', headers: [h('X-Forwarded-For', '10.1.1.1, 198.51.100.1')] },
  { name: 'X-Forwarded-For at the location: the last entry (denied)', port: 'P1', target: '/xff/', headers: [h('X-Forwarded-For', '198.51.100.1, 10.1.1.1')] },
  { name: 'a custom header (allowed)', port: 'P1', target: '/custom/', headers: [h('CF-Connecting-IP', '198.51.100.77')] },
  { name: 'a custom header, another one sent (denied)', port: 'P1', target: '/custom/', headers: [h('X-Real-IP', '198.51.100.77')] },
  { name: 'recursive: trusted entries skipped', port: 'P2', target: '/', headers: [h('X-Forwarded-For', '198.51.100.1, 203.0.113.5, 10.0.0.2, 10.9.9.9')] },
  { name: 'recursive: all trusted, the leftmost', port: 'P2', target: '/', headers: [h('X-Forwarded-For', '10.0.0.1, 10.0.0.2')] },
  { name: 'recursive: two headers', port: 'P2', target: '/', headers: [h('X-Forwarded-For', '198.51.100.3'), h('X-Forwarded-For', '10.0.0.4')] },
  { name: 'recursive: a bad entry stops the walk', port: 'P2', target: '/', headers: [h('X-Forwarded-For', '198.51.100.1, bogus, 10.0.0.2')] },
  { name: 'recursive: IPv6 entries', port: 'P2', target: '/', headers: [h('X-Forwarded-For', '2001:db9::5, 2001:db8::7')] },
  { name: 'recursive: spaces only between entries', port: 'P2', target: '/', headers: [h('X-Forwarded-For', '198.51.100.8 10.2.2.2 ,')] },
  { name: 'recursive off at the location', port: 'P2', target: '/plain/', headers: [h('X-Forwarded-For', '198.51.100.1, 10.0.0.2')] },
  { name: 'an untrusted peer: the header is not used', port: 'P3', target: '/', headers: [h('X-Real-IP', '203.0.113.7')] },
  { name: 'no realip at this server', port: 'P4', target: '/', headers: [h('X-Real-IP', '203.0.113.7')] },
  { name: 'realip only in a location (preaccess: allowed)', port: 'P4', target: '/here/', headers: [h('X-Forwarded-For', '198.51.100.20')] },
  { name: 'realip only in a location (preaccess: denied)', port: 'P4', target: '/here/', headers: [h('X-Forwarded-For', '198.51.100.21')] },
  { name: 'realip only in a location, and a return: before preaccess', port: 'P4', target: '/herereturn/', headers: [h('X-Forwarded-For', '198.51.100.20')] },
];

test('realip: the client address from a trusted peer\'s header, as nginx takes it', { skip: !haveNginx, timeout: 30_000 }, async () => {
  const outcomes = await runCases(pair!, CASES);
  const { unexpected } = report('realip', outcomes);
  assert.deepEqual(unexpected, [], unexpected.join('\n'));
  const body = (name: string) => outcomes.find((o) => o.c.name === name)!.rawBext.body.toString('latin1');
  assert.equal(body('recursive: trusted entries skipped'), '[203.0.113.5] [127.0.0.1]\n');
  assert.equal(body('X-Real-IP, IPv6 with a port'), '[2001:db8::2] [443]\n');
  assert.equal(outcomes.find((o) => o.c.name === 'realip only in a location (preaccess: denied)')!.bext.status, 403);
  // The access log's $remote_addr is the real one too.
  const d = await accessLogDiff(pair!);
  assert.deepEqual([d.onlyBext, d.onlyNginx], [[], []]);
});
