// parseArgv against nginx's getopt rules (ngx_get_options), case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgv, type NginxArgs } from '../../src/shim/argv.ts';

const NONE: NginxArgs = { help: false, version: false, configure: false, test: false, dump: false, quiet: false };

// [argv, expected args (only what differs from NONE) or the error text]
const CASES: [string[], Partial<NginxArgs> | string][] = [
  [[], {}],
  [['-'], {}],
  [['-v'], { version: true }],
  [['-V'], { version: true, configure: true }],
  [['-h'], { version: true, help: true }],
  [['-?'], { version: true, help: true }],
  [['-t'], { test: true }],
  [['-T'], { test: true, dump: true }],
  [['-tq'], { test: true, quiet: true }],
  [['-tT'], { test: true, dump: true }],
  [['-Vt'], { version: true, configure: true, test: true }],
  [['-t', '-q'], { test: true, quiet: true }],
  // values: rest of the element, else the next element
  [['-tc', 'a.conf'], { test: true, confFile: 'a.conf' }],
  [['-ca.conf', '-t'], { test: true, confFile: 'a.conf' }],
  [['-c', '/etc/nginx/nginx.conf', '-t'], { test: true, confFile: '/etc/nginx/nginx.conf' }],
  [['-p', '/srv/', '-e', 'stderr', '-g', 'daemon off;'], { prefix: '/srv/', errorLog: 'stderr', globals: 'daemon off;' }],
  [['-p/srv', '-eerr.log', '-gpid x;'], { prefix: '/srv', errorLog: 'err.log', globals: 'pid x;' }],
  [['-tp', '/srv'], { test: true, prefix: '/srv' }],
  [['-c', ''], { confFile: '' }],
  [['-c', '-t'], { confFile: '-t' }],
  [['-c', 'a', '-c', 'b'], { confFile: 'b' }],
  [['-ct', 'x.conf'], 'invalid option: "x.conf"'],
  [['-ct'], { confFile: 't' }],
  // -s
  [['-s', 'reload'], { signal: 'reload' }],
  [['-sreload'], { signal: 'reload' }],
  [['-sstop'], { signal: 'stop' }],
  [['-s', 'quit'], { signal: 'quit' }],
  [['-s', 'reopen'], { signal: 'reopen' }],
  [['-ts', 'reload'], { test: true, signal: 'reload' }],
  [['-c', '/etc/nginx/nginx.conf', '-s', 'reload'], { confFile: '/etc/nginx/nginx.conf', signal: 'reload' }],
  [['-s', 'foo'], 'invalid option: "-s foo"'],
  [['-sRELOAD'], 'invalid option: "-s RELOAD"'],
  [['-s', ''], 'invalid option: "-s "'],
  [['-s'], 'option "-s" requires parameter'],
  // missing values
  [['-c'], 'option "-c" requires file name'],
  [['-p'], 'option "-p" requires directory name'],
  [['-e'], 'option "-e" requires file name'],
  [['-g'], 'option "-g" requires parameter'],
  [['-t', '-c'], 'option "-c" requires file name'],
  [['-tc'], 'option "-c" requires file name'],
  // not options / unknown letters
  [['foo'], 'invalid option: "foo"'],
  [[''], 'invalid option: ""'],
  [['-x'], 'invalid option: "x"'],
  [['-tx'], 'invalid option: "x"'],
  [['--'], 'invalid option: "-"'],
  [['--help'], 'invalid option: "-"'],
  [['-v', '-x'], 'invalid option: "x"'],
  [['-x', '-s', 'foo'], 'invalid option: "x"'],
  [['-s', 'foo', '-x'], 'invalid option: "-s foo"'],
  [['-t', 'nginx.conf'], 'invalid option: "nginx.conf"'],
  [['-é'], 'invalid option: "é"'],
];

for (const [argv, expected] of CASES) {
  test(`nginx ${JSON.stringify(argv)}`, () => {
    const result = parseArgv(argv);
    if (typeof expected === 'string') assert.deepEqual(result, { ok: false, error: expected });
    else assert.deepEqual(result, { ok: true, args: { ...NONE, ...expected } });
  });
}
