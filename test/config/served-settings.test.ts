// The http/server/location settings the pipeline reads for static files, autoindex, charset,
// timeouts and error handling: nginx's defaults, and merged down http → server → location.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLocation } from '../../src/config/select.ts';
import { nodeTimeouts } from '../../src/server/listeners.ts';
import { conv, http } from './helpers.ts';

test('nginx defaults when nothing is configured', () => {
  const { state } = conv(http('server { listen 80; location / { } }'));
  const c = findLocation(state.servers[0]!, '/').conf;
  assert.equal(c.etag, true);
  assert.equal(c.ifModifiedSince, 'exact');
  assert.equal(c.maxRanges, undefined);
  assert.equal(c.autoindexExactSize, true);
  assert.equal(c.autoindexFormat, 'html');
  assert.equal(c.autoindexLocaltime, false);
  assert.equal(c.charset, undefined);
  assert.deepEqual(c.charsetTypes, ['text/html', 'text/xml', 'text/plain', 'text/vnd.wap.wml', 'application/javascript', 'application/rss+xml']);
  assert.equal(c.clientHeaderTimeoutMs, 60_000);
  assert.equal(c.clientBodyTimeoutMs, 60_000);
  assert.equal(c.sendTimeoutMs, 60_000);
  assert.equal(c.keepaliveTimeoutMs, 75_000);
  assert.equal(c.keepaliveHeaderSec, undefined);
  assert.equal(c.logNotFound, true);
  assert.equal(c.recursiveErrorPages, false);
  assert.equal(c.chunkedTransferEncoding, true);
});

test('the settings merge down and a level overrides its parent', () => {
  const { state } = conv(http(`
    etag off;
    if_modified_since before;
    max_ranges 2;
    autoindex_format json;
    charset utf-8;
    charset_types text/css;
    client_header_timeout 5s;
    keepalive_timeout 30s 20;
    log_not_found off;
    server { listen 80;
      client_body_timeout 7s;
      send_timeout 1m;
      recursive_error_pages on;
      location / { }
      location /own {
        etag on; if_modified_since off; max_ranges 0; autoindex_format xml; autoindex_exact_size off;
        autoindex_localtime on; charset off; charset_types *; keepalive_timeout 0; log_not_found on;
        chunked_transfer_encoding off;
        location /own/nested { charset koi8-r; keepalive_timeout 10s; }
      }
    }
  `));
  const s = state.servers[0]!;
  const top = findLocation(s, '/').conf;
  assert.equal(top.etag, false);
  assert.equal(top.ifModifiedSince, 'before');
  assert.equal(top.maxRanges, 2);
  assert.equal(top.autoindexFormat, 'json');
  assert.equal(top.charset, 'utf-8');
  assert.deepEqual(top.charsetTypes, ['text/html', 'text/css']);
  assert.equal(top.clientHeaderTimeoutMs, 5_000);
  assert.equal(top.clientBodyTimeoutMs, 7_000);
  assert.equal(top.sendTimeoutMs, 60_000);
  assert.equal(top.keepaliveTimeoutMs, 30_000);
  assert.equal(top.keepaliveHeaderSec, 20);
  assert.equal(top.logNotFound, false);
  assert.equal(top.recursiveErrorPages, true);

  const own = findLocation(s, '/own').conf;
  assert.equal(own.etag, true);
  assert.equal(own.ifModifiedSince, 'off');
  assert.equal(own.maxRanges, 0);
  assert.equal(own.autoindexFormat, 'xml');
  assert.equal(own.autoindexExactSize, false);
  assert.equal(own.autoindexLocaltime, true);
  assert.equal(own.charset, undefined);
  assert.deepEqual(own.charsetTypes, ['*']);
  assert.equal(own.keepaliveTimeoutMs, 0);
  // A keepalive_timeout with one argument keeps the inherited header value (merged separately).
  assert.equal(own.keepaliveHeaderSec, 20);
  assert.equal(own.logNotFound, true);
  assert.equal(own.chunkedTransferEncoding, false);

  const nested = findLocation(s, '/own/nested').conf;
  assert.equal(nested.charset, 'koi8-r');
  assert.equal(nested.keepaliveTimeoutMs, 10_000);
  assert.equal(nested.etag, true);
  assert.equal(nested.chunkedTransferEncoding, false);
});

test('charset names keep the first spelling; source_charset that differs is warned about', () => {
  const { state, warnings } = conv(http(`
    server { listen 80;
      location /a { charset UTF-8; }
      location /b { charset utf-8; }
      location /c { charset utf-8; source_charset koi8-r; }
      location /d { charset utf-8; source_charset UTF-8; }
    }
  `));
  const s = state.servers[0]!;
  assert.equal(findLocation(s, '/a').conf.charset, 'UTF-8');
  assert.equal(findLocation(s, '/b').conf.charset, 'UTF-8');
  const recode = warnings.filter((w) => /no recoding/.test(w.message));
  assert.equal(recode.length, 1);
  assert.match(recode[0]!.message, /from "koi8-r" to "UTF-8"/);
});

test('server timeouts become the Node server options', () => {
  const { state } = conv(http(`
    client_header_timeout 1s;
    server { listen 80; keepalive_timeout 10s; }
    server { listen 81; keepalive_timeout 0; client_header_timeout 10m; }
    server { listen 82; }
  `));
  const [a, b, c] = state.servers.map((s) => nodeTimeouts(s.conf));
  assert.deepEqual(a, { headersTimeout: 1_000, requestTimeout: 300_000, keepAliveTimeout: 10_000, connectionsCheckingInterval: 250 });
  // keepalive_timeout 0 turns keep-alive off (the pipeline says Connection: close); Node's 0 would be "forever".
  assert.deepEqual(b, { headersTimeout: 600_000, requestTimeout: 600_000, keepAliveTimeout: 1, connectionsCheckingInterval: 30_000 });
  assert.deepEqual(c, { headersTimeout: 1_000, requestTimeout: 300_000, keepAliveTimeout: 75_000, connectionsCheckingInterval: 250 });
});
