// A real uwsgi application server for the differential tests: Debian's uWSGI with its Python 3
// plugin, one WSGI app answering on a uwsgi socket and an SCGI socket at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const UWSGI = '/usr/bin/uwsgi';
export const haveUwsgi = existsSync(UWSGI) && existsSync('/usr/lib/uwsgi/plugins/python3_plugin.so');

/** The WSGI app: the environ it got (sorted, REMOTE_PORT left out) and the body's length and MD5; a few special paths. */
const APP = `
import hashlib
def application(environ, start_response):
    path = environ.get('PATH_INFO', '') or environ.get('DOCUMENT_URI', '')
    body = environ['wsgi.input'].read()
    if path.endswith('/status'):
        start_response('404 Not Here', [('Content-Type', 'text/plain'), ('X-App', 'yes')])
        return [b'status page\\n']
    if path.endswith('/redirect'):
        start_response('302 Found', [('Location', '/elsewhere'), ('Content-Type', 'text/plain')])
        return [b'moved\\n']
    if path.endswith('/big'):
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [b'0123456789abcdef' * 4096 for _ in range(16)]
    if path.endswith('/length'):
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '6')])
        return [b'sized\\n']
    lines = []
    for k in sorted(environ):
        if k.startswith('wsgi.') or k.startswith('uwsgi.') or k == 'REMOTE_PORT':
            continue
        lines.append('%s=%s' % (k, environ[k]))
    lines.append('body=%d %s' % (len(body), hashlib.md5(body).hexdigest()))
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Set-Cookie', 'a=1'), ('Set-Cookie', 'b=2'), ('X-Later', 'z')])
    return [('\\n'.join(lines) + '\\n').encode('latin1')]
`;

export interface UwsgiApp {
  uwsgi: number;
  scgi: number;
  stop(): Promise<void>;
}

async function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

export async function startUwsgi(uwsgiPort: number, scgiPort: number): Promise<UwsgiApp> {
  const dir = mkdtempSync(join(tmpdir(), 'bext-uwsgi-'));
  chmodSync(dir, 0o755); // its workers run as nobody: they read the app from here
  writeFileSync(join(dir, 'app.py'), APP, { mode: 0o644 });
  const root = process.getuid?.() === 0;
  const child: ChildProcess = spawn(UWSGI, [
    '--plugin', 'python3', '--socket', `127.0.0.1:${uwsgiPort}`, '--scgi-socket', `127.0.0.1:${scgiPort}`,
    '--wsgi-file', join(dir, 'app.py'), '--master', '--processes', '4', '--disable-logging', '--die-on-term',
    ...(root ? ['--uid', 'nobody', '--gid', 'nogroup'] : []),
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; !(await listening(uwsgiPort)) || !(await listening(scgiPort)); i++) {
    if (child.exitCode !== null || i > 200) {
      await stop();
      throw new Error(`uwsgi did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { uwsgi: uwsgiPort, scgi: scgiPort, stop };
}
