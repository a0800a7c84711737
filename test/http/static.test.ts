import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, mkdirSync, writeFileSync, utimesSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  serveStatic, sendBody, parseRangeSpec, conditionalStatus, etagFor, mapUriToPath, isUnderRoot, multipartPlan,
  parseHttpDate, type DocRoot, type StaticOptions,
} from '../../src/http/static.ts';
import { resolveIndex, readAutoindexEntries, autoindexHtml, tryFiles, compileTryFiles } from '../../src/http/static-dir.ts';
import { parseRequestTarget, BadUriError } from '../../src/http/uri.ts';
import { specialResponse, statusReason, absoluteLocation } from '../../src/http/responses.ts';
import { compiled, newVarContext } from '../../src/http/variables.ts';
import { haveNginx, startNginx, get, freePort, type Oracle, type RawResponse } from './oracle.ts';

test('range parsing follows ngx_http_range_parse', () => {
  assert.deepEqual(parseRangeSpec('0-4', 10), { kind: 'ranges', ranges: [{ start: 0, end: 5 }] });
  assert.deepEqual(parseRangeSpec('-3', 10), { kind: 'ranges', ranges: [{ start: 7, end: 10 }] });
  assert.deepEqual(parseRangeSpec('5-', 10), { kind: 'ranges', ranges: [{ start: 5, end: 10 }] });
  assert.deepEqual(parseRangeSpec('5-100', 10), { kind: 'ranges', ranges: [{ start: 5, end: 10 }] });
  assert.deepEqual(parseRangeSpec('-100', 10), { kind: 'ranges', ranges: [{ start: 0, end: 10 }] });
  assert.deepEqual(parseRangeSpec('20-', 10), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRangeSpec('0-', 0), { kind: 'none' });
  assert.deepEqual(parseRangeSpec('x', 10), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRangeSpec('0-5,3-9', 10), { kind: 'none' }); // overlapping, larger than the file
  assert.deepEqual(parseRangeSpec('0-1,3-4', 10, 1), { kind: 'none' });
  assert.deepEqual(parseRangeSpec(' 1 - 2 , 4-4', 10), { kind: 'ranges', ranges: [{ start: 1, end: 3 }, { start: 4, end: 5 }] });
});

test('conditional request rules', () => {
  const v = { etag: '"a-1"', lastModifiedSec: 1700000000 };
  const lm = 'Tue, 14 Nov 2023 22:13:20 GMT';
  assert.equal(parseHttpDate(lm), 1700000000);
  assert.equal(parseHttpDate('Tuesday, 14-Nov-23 22:13:20 GMT'), 1700000000);
  assert.equal(parseHttpDate('Tue Nov 14 22:13:20 2023'), 1700000000);
  assert.equal(parseHttpDate('garbage'), -1);
  assert.equal(conditionalStatus({ 'if-none-match': '"a-1"' }, v), 304);
  assert.equal(conditionalStatus({ 'if-none-match': 'W/"a-1"' }, v), 304);
  assert.equal(conditionalStatus({ 'if-none-match': '"x", "a-1"' }, v), 304);
  assert.equal(conditionalStatus({ 'if-none-match': '*' }, v), 304);
  assert.equal(conditionalStatus({ 'if-none-match': '"b"' }, v), 200);
  assert.equal(conditionalStatus({ 'if-modified-since': lm }, v), 304);
  assert.equal(conditionalStatus({ 'if-modified-since': 'Wed, 15 Nov 2023 22:13:20 GMT' }, v), 200);
  assert.equal(conditionalStatus({ 'if-modified-since': 'Wed, 15 Nov 2023 22:13:20 GMT' }, v, 'before'), 304);
  assert.equal(conditionalStatus({ 'if-modified-since': lm, 'if-none-match': '"b"' }, v), 200);
  assert.equal(conditionalStatus({ 'if-match': '"b"' }, v), 412);
  assert.equal(conditionalStatus({ 'if-match': 'W/"a-1"' }, v), 412);
  assert.equal(conditionalStatus({ 'if-unmodified-since': 'Mon, 13 Nov 2023 22:13:20 GMT' }, v), 412);
  assert.equal(conditionalStatus({ 'if-unmodified-since': lm }, v), 200);
  assert.equal(etagFor(1700000000, 20), '"6553f100-14"');
});

test('root / alias mapping', () => {
  const root: DocRoot = { kind: 'root', path: '/srv/www/' };
  assert.equal(mapUriToPath(root, '/a/b'), '/srv/www/a/b');
  const alias: DocRoot = { kind: 'alias', path: '/data/img/', locationPrefix: '/i/' };
  assert.equal(mapUriToPath(alias, '/i/x.png'), '/data/img/x.png');
  const quirky: DocRoot = { kind: 'alias', path: '/data/img', locationPrefix: '/i' };
  assert.equal(mapUriToPath(quirky, '/i/x.png'), '/data/img/x.png');
  assert.equal(mapUriToPath(quirky, '/i../x'), '/data/img../x');
  assert.equal(isUnderRoot(root, '/srv/www/a'), true);
  assert.equal(isUnderRoot(root, '/srv/www/../etc'), false);
  assert.equal(isUnderRoot(root, '/srv/wwwx/a'), false);
  assert.equal(mapUriToPath({ kind: 'regexAlias', path: '/data/x.png' }, '/whatever'), '/data/x.png');
});

test('multipart layout', () => {
  const p = multipartPlan([{ start: 0, end: 2 }, { start: 4, end: 6 }], 20, 'text/plain', '00000000000000000001');
  assert.equal(p.contentType, 'multipart/byteranges; boundary=00000000000000000001');
  assert.equal(p.parts[0]!.head.toString(), '\r\n--00000000000000000001\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/20\r\n\r\n');
  assert.equal(p.tail.toString(), '\r\n--00000000000000000001--\r\n');
});

// ---- differential: a minimal server built from these pieces against real nginx ----

let dir = '';
let oracle: Oracle | undefined;
let ours: Server | undefined;
let ourPort = 0;
const TYPES = new Map([['txt', 'text/plain'], ['html', 'text/html']]);
const OPTS: StaticOptions = { types: TYPES, defaultType: 'application/octet-stream' };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bext-static-'));
  const w = (p: string, s: string, mtime = 1700000000) => {
    writeFileSync(join(dir, p), s);
    utimesSync(join(dir, p), mtime, mtime);
  };
  for (const d of ['www', 'www/dir', 'www/noidx', 'www/list', 'www/list/sub dir', 'www/tf', 'img']) mkdirSync(join(dir, d));
  w('www/a.txt', '0123456789abcdefghij');
  w('www/A.TXT', 'upper');
  w('www/noext', 'x');
  w('www/empty.bin', '');
  w('www/dir/index.html', '<p>index</p>');
  w('www/tf/page.html', 'page');
  w('www/fallback.html', 'fallback');
  w('www/list/b.txt', 'bb', 1600000000);
  w('www/list/a<&>"x.txt', 'q', 1600000100);
  w('www/list/colon:name', 'c', 1600000200);
  w('www/list/' + 'n'.repeat(60) + '.txt', 'long', 1600000300);
  w('www/list/caf\u00e9.txt', 'utf', 1600000400);
  w('www/list/big.bin', 'z'.repeat(123456), 1600000500);
  w('www/list/.hidden', 'h');
  w('www/list/sp ace+plus%.txt', 's', 1600000600);
  utimesSync(join(dir, 'www/list/sub dir'), 1600000700, 1600000700);
  mkdirSync(join(dir, 'www/odd "<>^`{|}\\#?\u00e9 dir'));
  w('img/x.png', 'PNG');
  symlinkSync(join(dir, 'www/a.txt'), join(dir, 'www/link.txt'));
});

after(async () => {
  await oracle?.stop();
  await new Promise<void>((r) => (ours ? ours.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

async function sendSpecial(res: ServerResponse, status: number, method: string, extra: [string, string][] = [], location?: string) {
  const sp = specialResponse(status, { serverTokens: true })!;
  const headers: [string, string][] = [];
  if (sp.contentType) headers.push(['Content-Type', sp.contentType]);
  headers.push(['Content-Length', String(sp.body.length)]);
  if (location !== undefined) headers.push(['Location', location]);
  headers.push(...extra);
  res.writeHead(sp.status, statusReason(sp.status), headers.flat());
  res.end(method === 'HEAD' ? undefined : sp.body);
}

/** A toy content phase: location /i/ (alias), /tf/ (try_files), /list/ (autoindex), else root+index. */
async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method!;
  let p;
  try {
    p = parseRequestTarget(req.url!);
  } catch (e) {
    if (e instanceof BadUriError) return sendSpecial(res, 400, method);
    throw e;
  }
  let uri = p.uri;
  const www: DocRoot = { kind: 'root', path: join(dir, 'www') };
  let root: DocRoot = www;
  const redirectCtx = {
    absoluteRedirect: true, serverNameInRedirect: false, portInRedirect: true, scheme: 'http' as const,
    host: 'localhost', serverName: 'localhost', localAddress: '127.0.0.1', localPort: ourPort,
  };
  for (let redirects = 0; redirects < 10; redirects++) {
    let tryList: string[] | undefined;
    let addUriToAlias = false;
    const ra = /^\/ra\/(.+)$/.exec(uri);
    if (uri.startsWith('/i/')) root = { kind: 'alias', path: join(dir, 'img') + '/', locationPrefix: '/i/' };
    else if (uri.startsWith('/ta/')) {
      root = { kind: 'alias', path: join(dir, 'img') + '/', locationPrefix: '/ta/' };
      tryList = ['$uri', '$uri/', '=404'];
    } else if (ra) root = { kind: 'regexAlias', path: join(dir, 'img') + '/' + ra[1] };
    else root = www;
    if (uri.startsWith('/tf/')) tryList = ['$uri', '$uri/', '/fallback.html'];
    if (tryList) {
      const ctx = newVarContext({ uri, args: p.args });
      const r = await tryFiles(compileTryFiles(tryList, compiled), root, ctx);
      if (r.kind === 'redirect') { uri = r.uri; continue; }
      if (r.kind === 'status') return sendSpecial(res, r.status, method);
      if (r.kind === 'file') { uri = r.uri; addUriToAlias = r.addUriToAlias ?? false; }
    }
    if (uri.endsWith('/')) {
      const idx = await resolveIndex(root, uri, method, ['index.html']);
      if (idx.kind === 'redirect') { uri = idx.uri; continue; }
      if (idx.kind === 'error') return sendSpecial(res, idx.status, method);
      if (uri.startsWith('/list/')) {
        const entries = await readAutoindexEntries(mapUriToPath(root, uri));
        if ('status' in entries) return sendSpecial(res, entries.status, method);
        const html = Buffer.from(autoindexHtml(uri, entries), 'latin1');
        res.writeHead(200, 'OK', ['Content-Type', 'text/html']);
        res.end(method === 'HEAD' ? undefined : html);
        return;
      }
      return sendSpecial(res, 403, method);
    }
    const file = mapUriToPath(root, uri, addUriToAlias);
    assert.ok(isUnderRoot(root, file));
    const r = await serveStatic(file, { method, uri, args: p.args, headers: req.headers }, OPTS);
    if (r.kind === 'error') return sendSpecial(res, r.status, method, r.headers);
    if (r.kind === 'redirect') return sendSpecial(res, 301, method, [], absoluteLocation(r.location, redirectCtx));
    res.writeHead(r.status, statusReason(r.status), r.headers.flat());
    if (r.status === 304) { res.end(); return; }
    await sendBody(res, r.body);
    return;
  }
  return sendSpecial(res, 500, method);
}

const REQUESTS: [string, string[], string?][] = [
  ['/a.txt', []],
  ['/a.txt', [], 'HEAD'],
  ['/A.TXT', []],
  ['/noext', []],
  ['/link.txt', []],
  ['/empty.bin', []],
  ['/empty.bin', ['Range: bytes=0-']],
  ['/missing', []],
  ['/a.txt/x', []],
  ['/a.txt', [], 'POST'],
  ['/a.txt', [], 'DELETE'],
  ['/a.txt', ['Range: bytes=2-5']],
  ['/a.txt', ['Range: bytes=-3']],
  ['/a.txt', ['Range: bytes=15-']],
  ['/a.txt', ['Range: bytes=30-']],
  ['/a.txt', ['Range: bytes=5-2']],
  ['/a.txt', ['Range: bytes=0-1,4-5,-3']],
  ['/a.txt', ['Range: bytes=0-1,4-5,-3'], 'HEAD'],
  ['/a.txt', ['Range: bytes=0-15,5-19']],
  ['/a.txt', ['Range: items=0-1']],
  ['/a.txt', ['Range: bytes=2-5', 'If-Range: "6553f100-14"']],
  ['/a.txt', ['Range: bytes=2-5', 'If-Range: "nope"']],
  ['/a.txt', ['Range: bytes=2-5', 'If-Range: Tue, 14 Nov 2023 22:13:20 GMT']],
  ['/a.txt', ['Range: bytes=2-5', 'If-Range: Tue, 14 Nov 2023 22:13:21 GMT']],
  ['/a.txt', ['If-None-Match: "6553f100-14"']],
  ['/a.txt', ['If-None-Match: "x", W/"6553f100-14"']],
  ['/a.txt', ['If-None-Match: "x"']],
  ['/a.txt', ['If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT']],
  ['/a.txt', ['If-Modified-Since: Tue, 14 Nov 2023 22:13:21 GMT']],
  ['/a.txt', ['If-Match: "x"']],
  ['/a.txt', ['If-Match: "6553f100-14"']],
  ['/a.txt', ['If-Unmodified-Since: Mon, 13 Nov 2023 22:13:20 GMT']],
  ['/a.txt', ['If-None-Match: "6553f100-14"', 'Range: bytes=0-1']],
  ['/dir', []],
  ['/dir?x=1', []],
  ['/dir/', []],
  ['/noidx/', []],
  ['/nothere/', []],
  ['/a.txt/', []],
  ['/list/', []],
  ['/list/sub%20dir', []],
  ['/i/x.png', []],
  ['/i/', []],
  ['/tf/page.html', []],
  ['/tf/none', []],
  ['/tf/', []],
  ['/%', []],
  ['/ta/x.png', []],
  ['/ta/none.png', []],
  ['/ta/', []],
  ['/ra/x.png', []],
  ['/ra/none', []],
  ['/odd%20%22%3C%3E%5E%60%7B%7C%7D%5C%23%3F%C3%A9%20dir?a=b', []],
]

function normalise(r: RawResponse): string {
  const keep = ['content-type', 'content-length', 'last-modified', 'etag', 'accept-ranges', 'content-range', 'location'];
  const h = keep.filter((k) => r.headers[k] !== undefined).map((k) => `${k}: ${r.headers[k]}`);
  let body = r.body.toString('latin1');
  const b = /boundary=(\d{20})/.exec(r.headers['content-type'] ?? '');
  if (b) body = body.replaceAll(b[1]!, 'BOUNDARY');
  return [r.statusLine, ...h.map((l) => l.replace(/boundary=\d{20}/, 'boundary=BOUNDARY').replace(/:\d+\//, ':PORT/')), '', body].join('\n');
}

test('differential: static serving matches real nginx', { skip: !haveNginx }, async () => {
  ourPort = await freePort();
  ours = createServer((req, res) => { handle(req, res).catch((e) => { res.destroy(); throw e; }); });
  await new Promise<void>((r) => ours!.listen(ourPort, '127.0.0.1', () => r()));
  oracle = await startNginx(`server { listen 127.0.0.1:PORT; server_name localhost;
    types { text/plain txt; text/html html; } default_type application/octet-stream;
    root ${join(dir, 'www')};
    location /i/ { alias ${join(dir, 'img')}/; }
    location /tf/ { try_files $uri $uri/ /fallback.html; }
    location /list/ { autoindex on; }
    location /ta/ { alias ${join(dir, 'img')}/; try_files $uri $uri/ =404; }
    location ~ ^/ra/(.+)$ { alias ${join(dir, 'img')}/$1; } }`);
  const failures: string[] = [];
  for (const [target, headers, method] of REQUESTS) {
    const theirs = normalise(await get(oracle.port, target, headers, method));
    const mine = normalise(await get(ourPort, target, headers, method));
    if (theirs !== mine) failures.push(`${method ?? 'GET'} ${target} ${headers.join(' | ')}\n--- nginx\n${theirs}\n--- ours\n${mine}`);
  }
  assert.equal(failures.length, 0, failures.join('\n\n'));
});
