// The FastCGI record codec on its own: long names and values (four-byte lengths), the 64 KiB limit
// of the one PARAMS record nginx sends, STDIN pieces, and a reader fed one byte at a time (records,
// padding and stderr arrive in any split). The differential tests (test/cgi/) check the same
// bytes against nginx's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParamsTooBig, RecordReader, requestHead, STDIN_END, stdinRecords, type RecordSink } from '../../src/http/fastcgi-records.ts';

test('requestHead: BEGIN_REQUEST, one padded PARAMS record with 1- and 4-byte lengths, the empty one', () => {
  const head = requestHead([['A', 'x'.repeat(200)], ['LONG_NAME_'.repeat(13), '']], true);
  assert.deepEqual([...head.subarray(0, 16)], [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  const length = head.readUInt16BE(16 + 4);
  const padding = head[16 + 6]!;
  // 1 + 4 + 1 + 200, then 4 + 1 + 130 + 0
  assert.equal(length, 206 + 135);
  assert.equal((length + padding) % 8, 0);
  const body = head.subarray(24, 24 + length);
  assert.equal(body[0], 1);
  assert.equal(body.readUInt32BE(1), 0x80000000 + 200);
  assert.equal(body.readUInt32BE(206), 0x80000000 + 130);
  assert.deepEqual([...head.subarray(head.length - 8)], [1, 4, 0, 1, 0, 0, 0, 0]);
  assert.throws(() => requestHead([['BIG', 'v'.repeat(70_000)]], false), (e: unknown) => e instanceof ParamsTooBig && e.message === 'fastcgi request record is too big: 70008');
});

test('stdinRecords: 32 KiB pieces, each padded to 8 bytes', () => {
  const parts = stdinRecords(Buffer.alloc(32768 + 13, 0x61));
  const sizes = parts.filter((p) => p.length === 8 && p[1] === 5).map((h) => `${h.readUInt16BE(4)}+${h[6]}`);
  assert.deepEqual(sizes, ['32768+0', '13+3']);
  assert.deepEqual([...STDIN_END], [1, 5, 0, 1, 0, 0, 0, 0]);
});

function rec(type: number, content: string, padding = 0): Buffer {
  const b = Buffer.from(content, 'latin1');
  return Buffer.concat([Buffer.from([1, type, 0, 1, b.length >> 8, b.length & 0xff, padding, 0]), b, Buffer.alloc(padding)]);
}

test('RecordReader: any split of the bytes gives the same records', () => {
  const stream = Buffer.concat([
    rec(7, 'warning\n', 5), rec(6, 'Status: 200\r\n', 3), rec(6, '\r\nbody'), rec(7, ''), rec(6, ''), rec(3, '\0\0\0\0\0\0\0\0'),
  ]);
  const run = (step: number): string[] => {
    const seen: string[] = [];
    const sink: RecordSink = {
      stdout: (d) => seen.push(`out:${d.toString()}`), stdoutEnd: () => seen.push('out-end'),
      stderr: (d) => seen.push(`err:${d.toString()}`), end: () => seen.push('end'), invalid: (m) => seen.push(`invalid:${m}`),
    };
    const r = new RecordReader(sink);
    for (let at = 0; at < stream.length; at += step) r.push(stream.subarray(at, at + step));
    // Consecutive stdout pieces joined: how they are cut depends on the split.
    const joined: string[] = [];
    for (const s of seen) {
      const prev = joined[joined.length - 1];
      if (s.startsWith('out:') && prev?.startsWith('out:')) joined[joined.length - 1] = prev + s.slice(4);
      else joined.push(s);
    }
    return joined;
  };
  const whole = run(stream.length);
  assert.deepEqual(whole, ['err:warning\n', 'out:Status: 200\r\n\r\nbody', 'out-end', 'end']);
  for (const step of [1, 2, 3, 7, 9]) assert.deepEqual(run(step), whole, `step ${step}`);
});

test('RecordReader: nginx\'s texts for records it refuses', () => {
  const texts: string[] = [];
  const sink: RecordSink = { stdout() {}, stdoutEnd() {}, stderr() {}, end() {}, invalid: (m) => texts.push(m) };
  new RecordReader(sink).push(Buffer.from([2, 6, 0, 1, 0, 0, 0, 0]));
  new RecordReader(sink).push(Buffer.from([1, 9, 0, 1, 0, 0, 0, 0]));
  new RecordReader(sink).push(Buffer.from([1, 6, 0, 2, 0, 0, 0, 0]));
  assert.deepEqual(texts, [
    'upstream sent unsupported FastCGI protocol version: 2',
    'upstream sent invalid FastCGI record type: 9',
    'upstream sent unexpected FastCGI request id low byte: 2',
  ]);
});
