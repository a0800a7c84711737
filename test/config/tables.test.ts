import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeState } from '../../src/config/describe.ts';
import { COMBINED_FORMAT } from '../../src/config/tables.ts';
import { lookupMapValue } from '../../src/http/maps.ts';
import { newVarContext } from '../../src/http/variables.ts';
import { conv, http } from './helpers.ts';

test('upstream groups: parameters, defaults and balancing methods', () => {
  const { state } = conv(http(`
    upstream app {
      least_conn;
      server 127.0.0.1:3000 weight=3 max_fails=2 fail_timeout=30s max_conns=10;
      server 127.0.0.1:3001 backup;
      server unix:/run/app.sock down;
      keepalive 16;
    }
    upstream h { hash $request_uri consistent; server 10.0.0.1; }
    upstream r { server 10.0.0.2; }
    server { listen 80; location / { proxy_pass http://app; } }
  `));
  const app = state.upstreams.get('app')!;
  assert.deepEqual(app.method, { kind: 'least_conn' });
  assert.equal(app.keepalive, 16);
  assert.deepEqual(
    app.servers.map(({ address, weight, maxFails, failTimeoutMs, backup, down, maxConns }) => [address, weight, maxFails, failTimeoutMs, backup, down, maxConns]),
    [
      ['127.0.0.1:3000', 3, 2, 30_000, false, false, 10],
      ['127.0.0.1:3001', 1, 1, 10_000, true, false, 0],
      ['unix:/run/app.sock', 1, 1, 10_000, false, true, 0],
    ],
  );
  assert.deepEqual(state.upstreams.get('h')!.method, { kind: 'hash', key: '$request_uri', consistent: true });
  assert.deepEqual(state.upstreams.get('r')!.method, { kind: 'round-robin' });
  assert.equal(state.servers[0]!.locations.prefixes[0]!.conf.proxyPass?.upstream, 'app');
});

test('limit zones, maps and log formats', () => {
  const { state } = conv(http(`
    limit_req_zone $binary_remote_addr zone=perip:10m rate=30r/m;
    limit_conn_zone $server_name zone=perserver:1m;
    map $http_host $site {
      hostnames;
      default other;
      example.com main;
      *.example.com sub;
      .example.org org;
      www.example.* www;
      ~^(?<n>\\d+)\\.num\\.test$ num;
      \\default literal;
    }
    map $uri $static { ~*\\.(css|js)$ 1; default 0; }
    log_format main escape=json '{"addr":"$remote_addr",' '"status":$status}';
  `));
  assert.deepEqual({ ...state.limitReqZones.get('perip') }, { name: 'perip', key: '$binary_remote_addr', size: 10 * 1024 * 1024, ratePerSecond: 0.5, file: '/etc/nginx/nginx.conf', line: 4 });
  assert.equal(state.limitConnZones.get('perserver')!.size, 1024 * 1024);
  const [site, stat] = state.maps;
  assert.equal(site!.variable, 'site');
  assert.equal(site!.hostnames, true);
  assert.equal(site!.default, 'other');
  assert.deepEqual([...site!.exact], [['example.com', 'main'], ['default', 'literal']]);
  assert.deepEqual(site!.leadingWildcards.map((w) => [w.suffix, w.matchesBare, w.value]), [['.example.com', false, 'sub'], ['.example.org', true, 'org']]);
  assert.deepEqual(site!.trailingWildcards.map((w) => [w.prefix, w.value]), [['www.example.', 'www']]);
  assert.equal(site!.regexes[0]!.regex.exec('12.num.test')?.groups?.n, '12');
  assert.ok(stat!.regexes[0]!.regex.test('/A.CSS'));
  assert.deepEqual(state.logFormats.get('main'), { name: 'main', escape: 'json', format: '{"addr":"$remote_addr","status":$status}' });
  assert.equal(state.logFormats.get('combined')!.format, COMBINED_FORMAT);
});

test('main settings and their Debian defaults', () => {
  const bare = conv('events {}\n').state.main;
  assert.deepEqual(bare, { workerProcesses: 1, pid: '/run/nginx.pid', daemon: true, masterProcess: true, errorLogs: [{ path: '/var/log/nginx/error.log' }], workerConnections: 512 });
  const set = conv('user www-data adm; worker_processes 4; pid logs/nginx.pid; daemon off; error_log logs/e.log warn;\nevents { worker_connections 64; }\n').state.main;
  assert.deepEqual(set, {
    user: { user: 'www-data', group: 'adm' }, workerProcesses: 4, pid: '/usr/share/nginx/logs/nginx.pid', daemon: false, masterProcess: true,
    errorLogs: [{ path: '/usr/share/nginx/logs/e.log', level: 'warn' }], workerConnections: 64,
  });
});

test('the state is frozen and describeState is plain JSON', () => {
  const { state } = conv(http(`server { listen 127.0.0.1:8080 default_server; server_name a .b; location / { } location ~ x { location ~ y { } } location @f { } }`));
  assert.ok(Object.isFrozen(state) && Object.isFrozen(state.servers[0]));
  const summary = describeState(state);
  assert.deepEqual(JSON.parse(JSON.stringify(summary)), summary);
  assert.deepEqual(summary.listen, [{ address: '127.0.0.1:8080', ssl: false, http2: false, defaultServer: true, bound: true, options: {} }]);
  assert.deepEqual(summary.addresses[0]!.servers[0]!.names, ['a', '.b']);
  assert.equal(summary.addresses[0]!.servers[0]!.default, true);
  assert.deepEqual(summary.addresses[0]!.servers[0]!.locations.map((l) => [l.match, l.name, l.nested?.length ?? 0]), [
    ['prefix', '/', 0], ['regex', 'x', 1], ['named', '@f', 0],
  ]);
});

test('map lookups: exact (case-insensitive), wildcards with hostnames, regex in order, default', () => {
  const { state } = conv(http(`
    map $http_host $site {
      hostnames;
      default other;
      Example.com main;
      *.example.com sub;
      www.example.* www;
      ~^(?<n>\\d+)\\.num\\.test$ num$n;
      ~^\\d+ digits;
    }
  `));
  const m = state.maps[0]!;
  // The served lookup (lookupMapValue); a fresh context per call, since a regex match records its captures there.
  const look = (input: string) => {
    const ctx = newVarContext({});
    return { value: lookupMapValue(m, input, ctx), ctx };
  };
  assert.equal(look('EXAMPLE.com.').value, 'main');
  assert.equal(look('a.example.com').value, 'sub');
  assert.equal(look('www.example.net').value, 'www');
  const r = look('12.num.test');
  assert.deepEqual([r.value, r.ctx.namedCaptures['n'], r.ctx.captures[1]], ['num$n', '12', '12']);
  assert.equal(look('99.other').value, 'digits');
  assert.equal(look('nothing').value, 'other');
  assert.equal(look('').value, 'other');
});

test('map: keys before `hostnames;` are exact keys, as nginx reads them in order', () => {
  const { state } = conv(http('map $arg_h $v { default dflt; *.x star; hostnames; .y lead; }'));
  const m = state.maps[0]!;
  // Checked against nginx 1.22: ?h=a.x → dflt, ?h=*.x → star, ?h=y and ?h=a.y → lead.
  const look = (input: string) => lookupMapValue(m, input, newVarContext({}));
  assert.deepEqual(['a.x', '*.x', 'y', 'a.y'].map(look), ['dflt', 'star', 'lead', 'lead']);
});

test('map: duplicate and invalid keys are refused with nginx texts', () => {
  const refuse = (body: string, message: string) =>
    assert.throws(() => conv(http(`map $host $v {\n${body}\n}`)), (e: Error) => e.message.startsWith(message));
  refuse('hostnames;\n*.x 1;\n.X 2;', 'conflicting parameter ".x"');
  refuse('hostnames;\n.x 1;\nx 2;', 'conflicting parameter "x"');
  refuse('hostnames;\nx.* 1;\nx.* 2;', 'conflicting parameter "x.*"');
  refuse('x 1;\nX 2;', 'conflicting parameter "x"');
  refuse('hostnames;\nA*B 1;', 'invalid hostname or wildcard "A*B"');
  refuse('default 1;\ndefault 2;', 'duplicate default map parameter');
});
