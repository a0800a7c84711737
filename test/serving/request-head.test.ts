// Unit checks of the request-head rules the differential suites rely on: Host validation, what a
// parser refusal maps to, and the refusal's bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateHost } from '../../src/http/select.ts';
import { clientErrorStatus, LARGE_HEADER_BUFFER } from '../../src/http/request-limits.ts';
import { refusalBytes } from '../../src/http/client-error.ts';

test('validateHost follows ngx_http_validate_host', () => {
  const cases: [string, string | undefined][] = [
    ['Example.COM', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['.example.com', '.example.com'], // a leading dot passes (dot_pos starts at len)
    ['a..b', undefined],
    ['a/b', undefined],
    ['a\\b', undefined],
    ['a b', undefined],
    ['a\x7fb', undefined],
    ['[::1]', '[::1]'],
    ['[::1]:80', '[::1]'],
    ['[::1]junk', '[::1]'],
    ['[::1', undefined],
    ['', undefined],
    [':80', undefined],
    ['.', undefined],
  ];
  for (const [raw, want] of cases) assert.equal(validateHost(raw), want, JSON.stringify(raw));
});

test('a parser refusal maps to nginx status codes', () => {
  const line = (s: string) => Buffer.from(s, 'latin1');
  assert.equal(clientErrorStatus('HPE_HEADER_OVERFLOW', line(`GET /${'a'.repeat(LARGE_HEADER_BUFFER)}`)), 414);
  assert.equal(clientErrorStatus('HPE_HEADER_OVERFLOW', line(`GET / HTTP/1.1\r\nX: ${'b'.repeat(40_000)}`)), 494);
  assert.equal(clientErrorStatus('HPE_HEADER_OVERFLOW', line('b'.repeat(100))), 494);
  assert.equal(clientErrorStatus('HPE_INVALID_VERSION', line('GET / HTTP/3.0\r\n')), 505);
  assert.equal(clientErrorStatus('HPE_INVALID_VERSION', line('GET / HTTX/1.1\r\n')), 400);
  assert.equal(clientErrorStatus('HPE_INVALID_METHOD', line('G@T / HTTP/1.1\r\n')), 400);
  assert.equal(clientErrorStatus(undefined, undefined), 400);
});

test('refusal bytes: nginx status line, headers and page, connection closed', () => {
  const { bytes, bodyBytes } = refusalBytes(494, false);
  const text = bytes.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\nServer: nginx\r\nDate: [^\r]+ GMT\r\nContent-Type: text\/html\r\nContent-Length: \d+\r\nConnection: close\r\n\r\n/);
  assert.ok(text.endsWith('<center>Request Header Or Cookie Too Large</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n'));
  assert.equal(bytes.length - text.indexOf('\r\n\r\n') - 4, bodyBytes);
});
