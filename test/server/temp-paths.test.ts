// ngx_create_paths on real processes, beside real nginx: at start the master makes each
// client_body_temp_path in effect (its last component only, mode 0700) and gives it to the `user`
// account; a directory it cannot make stops the start with nginx's own line.
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NGINX_BIN, haveNginx } from '../http/oracle.ts';
import { ensureBuilt, makePrefix, readPid, run, SERVER, waitFor, alive, type Prefix } from './helpers.ts';

const asRoot = process.getuid?.() === 0;

const config = (tempPath: string) => `${asRoot ? 'user www-data;' : ''}
pid @DIR@/logs/nginx.pid;
error_log @DIR@/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path @DIR@/top;
    proxy_temp_path @DIR@/tmp;
    fastcgi_temp_path @DIR@/tmp;
    uwsgi_temp_path @DIR@/tmp;
    scgi_temp_path @DIR@/tmp;
    server {
        listen 127.0.0.1:@PORT@;
        location /up/ { client_body_temp_path ${tempPath}; proxy_pass http://127.0.0.1:9; }
    }
}
`;

const prefixes: Prefix[] = [];
before(ensureBuilt);
after(() => prefixes.forEach((p) => p.cleanup()));

async function prefix(tempPath: string): Promise<Prefix> {
  const p = await makePrefix(config(tempPath));
  prefixes.push(p);
  return p;
}

test('a temp directory whose parent is missing: the start fails with nginx\'s line', { skip: !haveNginx && 'no nginx' }, async () => {
  const lines: string[] = [];
  for (const bin of [[NGINX_BIN], [process.execPath, SERVER]]) {
    const p = await prefix('@DIR@/missing/body');
    const r = await run(bin[0]!, [...bin.slice(1), '-p', `${p.dir}/`, '-c', 'nginx.conf', '-g', 'daemon off;']);
    assert.equal(r.code, 1, r.stderr);
    lines.push(r.stderr.trim().split('\n').filter((l) => l.includes('[emerg]')).map((l) => l.replace(/^.*\[emerg\] (\d+#\d+: )?/, '[emerg] ').replaceAll(p.dir, 'DIR'))[0]!);
  }
  assert.equal(lines[1], lines[0]);
  assert.equal(lines[0], '[emerg] mkdir() "DIR/missing/body" failed (2: No such file or directory)');
});

test('the master makes the directories in effect, 0700, owned by the workers\' account', async () => {
  const p = await prefix('@DIR@/loc');
  mkdirSync(path.join(p.dir, 'tmp'));
  const r = await run(process.execPath, [SERVER, '-p', `${p.dir}/`, '-c', 'nginx.conf']);
  assert.equal(r.code, 0, r.stderr);
  const pid = readPid(p.pidFile)!;
  try {
    for (const d of ['top', 'loc']) {
      const st = statSync(path.join(p.dir, d));
      assert.equal(st.mode & 0o777, 0o700, d);
      if (asRoot) assert.equal(st.uid, Number((await run('id', ['-u', 'www-data'])).stdout.trim()), d);
    }
  } finally {
    process.kill(pid, 'SIGQUIT');
    await waitFor(() => !alive(pid), 10_000, 'the master to exit');
  }
});
