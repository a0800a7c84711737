import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MapBlock } from '../../src/config/state.ts';
import { createMapResolver } from '../../src/http/maps.ts';
import { newVarContext, getVariable } from '../../src/http/variables.ts';
import { haveNginx, startNginx, rawRequest } from './oracle.ts';

const at = { file: 't.conf', line: 1 };
const MAPS: MapBlock[] = [
  {
    source: '$http_upgrade', variable: 'connection_upgrade', hostnames: false, volatile: false, default: 'upgrade',
    exact: new Map([['', 'close']]), leadingWildcards: [], trailingWildcards: [], regexes: [], ...at,
  },
  {
    source: '$host', variable: 'site', hostnames: true, volatile: false, default: 'other',
    exact: new Map([['example.com', 'exact']]),
    leadingWildcards: [{ suffix: '.example.com', matchesBare: false, value: 'sub' }, { suffix: '.example.org', matchesBare: true, value: 'org' }],
    trailingWildcards: [{ prefix: 'www.example.', value: 'www-any' }],
    regexes: [{ source: '~^(?<n>\\d+)\\.num$', regex: /^(?<n>\d+)\.num$/, value: 'num-$n' }], ...at,
  },
  {
    source: '$uri', variable: 'kind', hostnames: false, volatile: false, default: '',
    exact: new Map([['/a', 'lower-a']]), leadingWildcards: [], trailingWildcards: [],
    regexes: [{ source: '~*\\.JPG$', regex: /\.JPG$/i, value: 'image:$1' }, { source: '~^/(\\w+)/', regex: /^\/(\w+)\//, value: 'dir:$1' }], ...at,
  },
];
const NGINX = `
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  map $host $site { hostnames; default other; example.com exact; *.example.com sub; .example.org org; www.example.* www-any; ~^(?<n>\\d+)\\.num$ num-$n; }
  map $uri $kind { /a lower-a; ~*\\.JPG$ image:$1; ~^/(\\w+)/ dir:$1; }
  server { listen 127.0.0.1:PORT; server_name localhost; location / { return 200 "$connection_upgrade|$site|$kind"; } }`;

const CASES: [string, string, string[]][] = [
  ['/a', 'example.com', []],
  ['/A', 'x.example.com', ['Upgrade: websocket']],
  ['/x/y.jpg', 'example.org', []],
  ['/p/q', 'www.example.net', []],
  ['/', '42.num', []],
  ['/', 'nothing.test', []],
];

function ours(uri: string, host: string, headers: string[]): string {
  const hdrs: Record<string, string[]> = {};
  for (const h of headers) {
    const i = h.indexOf(':');
    (hdrs[h.slice(0, i).toLowerCase()] ??= []).push(h.slice(i + 1).trim());
  }
  const ctx = newVarContext({ uri, host, headers: hdrs, extra: createMapResolver(MAPS) });
  return ['connection_upgrade', 'site', 'kind'].map((v) => getVariable(ctx, v) ?? '').join('|');
}

test('map lookups (recorded)', () => {
  assert.equal(ours('/a', 'example.com', []), 'close|exact|lower-a');
  assert.equal(ours('/', '42.num', ['Upgrade: websocket']), 'upgrade|num-42|');
});

test('differential: map variables match real nginx', { skip: !haveNginx }, async () => {
  const o = await startNginx(NGINX);
  try {
    for (const [uri, host, headers] of CASES) {
      const r = await rawRequest(o.port, [`GET ${uri} HTTP/1.0`, `Host: ${host}`, ...headers].join('\r\n'));
      assert.equal(ours(uri, host, headers), r.body.toString(), `${uri} ${host}`);
    }
  } finally {
    await o.stop();
  }
});
