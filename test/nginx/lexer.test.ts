import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lexer, unescapeWord, type Statement } from '../../src/nginx/lexer.ts';
import { ConfError } from '../../src/nginx/types.ts';

function statements(text: string, file = '/t.conf'): Statement[] {
  const lexer = new Lexer(text, file);
  const out: Statement[] = [];
  for (;;) {
    const st = lexer.next();
    out.push(st);
    if (st.end === 'eof') return out;
  }
}

const words = (text: string): string[][] => statements(text).map((s) => [...s.words, s.end]);

function lexError(text: string, file = '/t.conf'): ConfError {
  try {
    statements(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfError);
    return err;
  }
  assert.fail('expected a ConfError');
}

test('{ and ; end a word with no space; } only at word start', () => {
  assert.deepEqual(words('server{listen 80;}}'), [
    ['server', 'block-start'], ['listen', '80', 'semicolon'], ['block-end'], ['block-end'], ['eof'],
  ]);
  assert.deepEqual(words('a foo};'), [['a', 'foo}', 'semicolon'], ['eof']]);
});

test('certbot one-line challenge block tokenises', () => {
  const text = 'server{listen 80;location = /.well-known/acme-challenge/T{default_type text/plain;return 200 T.X;}}';
  assert.deepEqual(words(text), [
    ['server', 'block-start'], ['listen', '80', 'semicolon'],
    ['location', '=', '/.well-known/acme-challenge/T', 'block-start'],
    ['default_type', 'text/plain', 'semicolon'], ['return', '200', 'T.X', 'semicolon'],
    ['block-end'], ['block-end'], ['eof'],
  ]);
});

test('# starts a comment only at word start', () => {
  assert.deepEqual(words('a b#c; # comment ; {\nd;'), [['a', 'b#c', 'semicolon'], ['d', 'semicolon'], ['eof']]);
});

test('quotes: only at word start, escapes decoded, others keep the backslash', () => {
  assert.deepEqual(words(`a "x y" 'p"q' "\\"\\'\\\\\\t\\r\\n" "\\d+";`), [
    ['a', 'x y', 'p"q', `"'\\\t\r\n`, '\\d+', 'semicolon'], ['eof'],
  ]);
  assert.deepEqual(words('a b"c";'), [['a', 'b"c"', 'semicolon'], ['eof']]);
  assert.equal(unescapeWord('a\\.b'), 'a\\.b');
});

test('after a closing quote only space, ; { or ) may follow', () => {
  assert.equal(lexError('a "b"c;').message, 'unexpected "c" in /t.conf:1');
  assert.deepEqual(words('if ( "a") {}'), [['if', '(', 'a', ')', 'block-start'], ['block-end'], ['eof']]);
  // A quote that is not at a word's start is an ordinary character.
  assert.deepEqual(words('if ("a") {}'), [['if', '("a")', 'block-start'], ['block-end'], ['eof']]);
  assert.deepEqual(words('a "b"{}'), [['a', 'b', 'block-start'], ['block-end'], ['eof']]);
});

test('${var} does not open a block', () => {
  assert.deepEqual(words('return 200 ${a}x;\nset $b${c} 1;'), [
    ['return', '200', '${a}x', 'semicolon'], ['set', '$b${c}', '1', 'semicolon'], ['eof'],
  ]);
});

test('line numbers: the line where the statement ended', () => {
  const st = statements('a;\n\nb\n c\n;\n');
  assert.deepEqual(st.map((s) => s.line), [1, 5, 6]);
});

test('errors and their lines', () => {
  assert.equal(lexError('a;\n{').message, 'unexpected "{" in /t.conf:2');
  assert.equal(lexError(';').message, 'unexpected ";" in /t.conf:1');
  assert.equal(lexError('a b}').message, 'unexpected end of file, expecting ";" or "}" in /t.conf:1');
  assert.equal(lexError('a b\n}').message, 'unexpected "}" in /t.conf:2');
  assert.equal(lexError('a\n').message, 'unexpected end of file, expecting ";" or "}" in /t.conf:2');
  assert.equal(lexError('"abc').message, 'unexpected end of file, expecting ";" or "}" in /t.conf:1');
  assert.equal(lexError('daemon off', 'command line').message, 'unexpected end of parameter, expecting ";" in command line');
});

test('nginx 4 KiB buffer: over-long words and comments are refused', () => {
  assert.equal(lexError(`#${'a'.repeat(5000)}\nb;`).message, 'too long parameter "#aaaaaaaaa..." started in /t.conf:1');
  assert.equal(
    lexError(`a "${'b'.repeat(5000)}";\n`).message,
    'too long parameter, probably missing terminating """ character in /t.conf:1',
  );
  assert.equal(lexError(`a ${'b'.repeat(5000)};`).message, 'too long parameter "bbbbbbbbbb..." started in /t.conf:1');
  assert.equal(words(`a ${'b'.repeat(4000)};`)[0][1].length, 4000);
  // -g text is one buffer: no limit.
  const lexer = new Lexer(`pid ${'p'.repeat(5000)};`, 'command line');
  assert.equal(lexer.next().words[1].length, 5000);
});

test('UTF-8 words survive', () => {
  assert.deepEqual(words('root /srv/café;'), [['root', '/srv/café', 'semicolon'], ['eof']]);
});
