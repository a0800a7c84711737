import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  specialResponse, statusLine, detectBrowser, absoluteLocation, serverHeader, type RedirectContext,
} from '../../src/http/responses.ts';
import { haveNginx, startNginx, rawRequest, get } from './oracle.ts';

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const MSIE = 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)';
const FIREFOX = 'Mozilla/5.0 (X11; rv:109.0) Gecko/20100101 Firefox/115.0';

test('404 page byte for byte, with and without server_tokens', () => {
  const on = specialResponse(404, { serverTokens: true })!;
  assert.equal(on.body.toString(), '<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n');
  assert.equal(on.contentType, 'text/html');
  assert.ok(specialResponse(404, { serverTokens: false })!.body.toString().includes('<hr><center>nginx</center>'));
  assert.equal(serverHeader(true), 'nginx/1.22.1');
  assert.equal(serverHeader(false), 'nginx');
});

test('status lines and special codes', () => {
  assert.equal(statusLine(302), 'HTTP/1.1 302 Moved Temporarily');
  assert.equal(statusLine(203), 'HTTP/1.1 203 ');
  assert.equal(specialResponse(444, { serverTokens: true }), null);
  assert.equal(specialResponse(497, { serverTokens: true })!.status, 400);
  assert.equal(specialResponse(418, { serverTokens: true })!.body.length, 0);
});

test('browser detection for msie padding', () => {
  assert.deepEqual(detectBrowser(MSIE), { msie: true, chrome: false });
  assert.deepEqual(detectBrowser(CHROME), { msie: false, chrome: true });
  assert.deepEqual(detectBrowser(FIREFOX), { msie: false, chrome: false });
  assert.deepEqual(detectBrowser('Opera/9.80 MSIE 6.0 x'), { msie: false, chrome: false });
  const padded = specialResponse(404, { serverTokens: true, browser: detectBrowser(CHROME) })!;
  assert.equal(padded.body.length, 555);
  assert.equal(specialResponse(302, { serverTokens: true, browser: detectBrowser(CHROME) })!.body.length, 145);
});

test('absoluteLocation follows absolute_redirect / server_name_in_redirect / port_in_redirect', () => {
  const ctx: RedirectContext = {
    absoluteRedirect: true, serverNameInRedirect: false, portInRedirect: true, scheme: 'http',
    host: 'example.com', serverName: 'foo', localAddress: '127.0.0.1', localPort: 8080,
  };
  assert.equal(absoluteLocation('/x', ctx), 'http://example.com:8080/x');
  assert.equal(absoluteLocation('/x', { ...ctx, localPort: 80 }), 'http://example.com/x');
  assert.equal(absoluteLocation('/x', { ...ctx, scheme: 'https', localPort: 443 }), 'https://example.com/x');
  assert.equal(absoluteLocation('/x', { ...ctx, serverNameInRedirect: true }), 'http://foo:8080/x');
  assert.equal(absoluteLocation('/x', { ...ctx, portInRedirect: false }), 'http://example.com/x');
  assert.equal(absoluteLocation('/x', { ...ctx, host: '' }), 'http://127.0.0.1:8080/x');
  assert.equal(absoluteLocation('/x', { ...ctx, absoluteRedirect: false }), '/x');
  assert.equal(absoluteLocation('https://a/b', ctx), 'https://a/b');
});

test('differential: every generated page and redirect matches real nginx', { skip: !haveNginx }, async () => {
  const codes: number[] = [301, 302, 303, 307, 308];
  for (let c = 400; c < 600; c++) codes.push(c);
  const locs = codes.map((c) => `location = /c/${c} { return ${c}; }`).join('\n');
  const o = await startNginx(`server { listen 127.0.0.1:PORT; server_name foo; ${locs}
    location = /off { server_tokens off; return 404; }
    location = /r { return 301 /x; }
    location = /sn { server_name_in_redirect on; return 302 /x; }
    location = /np { port_in_redirect off; return 307 /x; }
    location = /rel { absolute_redirect off; return 308 /x; } }`);
  try {
    for (const c of codes) {
      for (const ua of [undefined, CHROME, MSIE, FIREFOX]) {
        const r = await get(o.port, `/c/${c}`, ua ? [`User-Agent: ${ua}`] : []);
        const ours = specialResponse(c, { serverTokens: true, browser: detectBrowser(ua) });
        if (ours === null) {
          assert.equal(r.raw.length, 0, `code ${c}`);
          continue;
        }
        assert.equal(r.statusLine, statusLine(ours.status), `code ${c}`);
        assert.equal(r.body.toString('latin1'), ours.body.toString('latin1'), `code ${c} ua ${ua}`);
        assert.equal(r.headers['content-type'], ours.contentType, `code ${c}`);
      }
    }
    const off = await get(o.port, '/off');
    assert.equal(off.headers['server'], 'nginx');
    assert.equal(off.body.toString(), specialResponse(404, { serverTokens: false })!.body.toString());

    const base: RedirectContext = {
      absoluteRedirect: true, serverNameInRedirect: false, portInRedirect: true, scheme: 'http',
      host: 'example.com', serverName: 'foo', localAddress: '127.0.0.1', localPort: o.port,
    };
    const loc = async (path: string, host?: string) => {
      const head = [`GET ${path} HTTP/1.0`, ...(host ? [`Host: ${host}`] : [])].join('\r\n');
      return (await rawRequest(o.port, head)).headers['location'];
    };
    assert.equal(await loc('/r', 'Example.COM:99'), absoluteLocation('/x', base));
    assert.equal(await loc('/r'), absoluteLocation('/x', { ...base, host: '' }));
    assert.equal(await loc('/sn', 'example.com'), absoluteLocation('/x', { ...base, serverNameInRedirect: true }));
    assert.equal(await loc('/np', 'example.com'), absoluteLocation('/x', { ...base, portInRedirect: false }));
    assert.equal(await loc('/rel', 'example.com'), absoluteLocation('/x', { ...base, absoluteRedirect: false }));
  } finally {
    await o.stop();
  }
});
