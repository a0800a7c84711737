// Differential: geo blocks (networks and their longest-prefix match, delete, IPv6, an address
// variable, ranges, proxy with X-Forwarded-For), as a `return` prints them and as an `if` uses one
// to refuse: the same answers as nginx's. Before, geo was not implemented: its variables were
// empty, and a block list (`if ($blocked) { return 403; }`) let everyone in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BEXT_COMMAND, haveNginx, makeSite, NGINX_BIN, report, runCases, startPair, wrapConfig, type Case, type Pair } from './harness.ts';

let pair: Pair | undefined;

before(async () => {
  if (!haveNginx) return;
  pair = await startPair(wrapConfig(`
  geo $local {
    default none;
    127.0.0.0/8 loop;
    127.0.0.1 exact;
  }
  geo $arg_ip $net {
    default other;
    10.0.0.0/8 ten;
    10.1.0.0/16 ten-one;
    10.1.2.0/24 ten-one-two;
    delete 10.1.2.0/24;
    192.168.1.7 host;
    0.0.0.0/1 low-half;
    2001:db8::/32 doc6;
    2001:db8:1::/48 doc6-1;
    ::1 v6loop;
  }
  geo $arg_ip $range {
    ranges;
    default r0;
    10.0.0.0-10.0.0.255 a;
    10.0.0.100-10.0.0.199 b;
    delete 10.0.0.150-10.0.0.150;
    172.16.0.0-172.31.255.255 private;
  }
  geo $viaproxy {
    default d;
    proxy 127.0.0.1;
    203.0.113.0/24 test-net;
    198.51.100.9 one;
  }
  geo $recursive {
    default d;
    proxy 127.0.0.1;
    proxy 198.51.100.0/24;
    proxy_recursive;
    203.0.113.0/24 test-net;
    198.51.100.9 one;
  }
  geo $blocked {
    default 0;
    203.0.113.0/24 1;
  }
  server {
    listen 127.0.0.1:@P1@;
    location / { return 200 "local=$local net=$net range=$range proxy=$viaproxy recursive=$recursive\\n"; }
  }
  server {
    listen 127.0.0.1:@P2@;
    real_ip_header X-Forwarded-For;
    set_real_ip_from 127.0.0.1;
    location /guarded/ {
      if ($blocked) { return 403; }
      return 200 "in\\n";
    }
  }`), makeSite({}), ['P1', 'P2']);
});

after(async () => {
  await pair?.stop();
});

const ip = (v: string): Case => ({ name: `?ip=${v}`, port: 'P1', target: `/?ip=${encodeURIComponent(v)}` });
const xff = (v: string): Case => ({ name: `X-Forwarded-For: ${v}`, port: 'P1', target: '/', headers: [['X-Forwarded-For', v]] });

const cases: Case[] = [
  { name: 'no address variable value', port: 'P1', target: '/' },
  ...['10.0.0.1', '10.1.0.1', '10.1.2.3', '10.1.3.3', '192.168.1.7', '192.168.1.8', '1.2.3.4', '200.1.1.1', '2001:db8::1',
    '2001:db8:1::5', '2001:db9::1', '::1', '::ffff:10.1.0.1', 'not-an-address', '10.0.0.99', '10.0.0.100', '10.0.0.150',
    '10.0.0.199', '10.0.0.200', '172.20.1.1', '255.255.255.255'].map(ip),
  ...['203.0.113.5', '198.51.100.9', '203.0.113.5, 198.51.100.9', '198.51.100.9, 203.0.113.5', 'garbage', '203.0.113.5, 198.51.100.20'].map(xff),
  { name: 'blocked through realip', port: 'P2', target: '/guarded/', headers: [['X-Forwarded-For', '203.0.113.77']] },
  { name: 'not blocked', port: 'P2', target: '/guarded/', headers: [['X-Forwarded-For', '198.51.100.1']] },
];

test('geo variables and a geo block list: identical to nginx', { skip: !haveNginx, timeout: 60_000 }, async () => {
  const outcomes = await runCases(pair!, cases);
  const { unexpected } = report('geo', outcomes);
  assert.deepEqual(unexpected, []);
  assert.equal(outcomes.find((o) => o.c.name === 'blocked through realip')!.nginx.status, 403);
});

test('nginx -t: geo\'s warnings (a delete with nothing to delete, a duplicate network) as nginx prints them', { skip: !haveNginx }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bext-geo-'));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `events {}\nhttp {\n geo $arg_ip $r {\n  ranges;\n  10.0.0.0-10.0.0.255 a;\n  10.0.0.100-10.0.0.199 b;\n  delete 10.0.0.150-10.0.0.150;\n }\n geo $n {\n  delete 10.0.0.0/8;\n  10.0.0.0/8 x;\n  10.0.0.0/8 y;\n }\n}\n`);
  const lines = (cmd: string[]) => {
    const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
    return r.stderr.split('\n').filter((l) => l.includes('[warn]')).map((l) => l.replace(/^.*\[warn\] (\d+#\d+: )?/, ''));
  };
  const theirs = lines([NGINX_BIN, '-t', '-c', conf]);
  assert.deepEqual(lines([...BEXT_COMMAND, 'nginx', 'check', '-c', conf]), theirs);
  assert.equal(theirs.length, 3);
});
