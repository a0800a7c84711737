// nginx's configuration tokenizer, mirroring ngx_conf_read_token() (src/core/ngx_conf_file.c):
// it reads one statement at a time (the words up to `;`, `{` or `}`), with nginx's exact rules for
// quotes, escapes, comments, `${var}` and where `}` may appear, and nginx's error texts.
import { ConfError } from './types.ts';

/** How a statement ended: `;`, `{`, a `}` closing the enclosing block, or the end of the input. */
export type StatementEnd = 'semicolon' | 'block-start' | 'block-end' | 'eof';

export interface Statement {
  words: string[];
  end: StatementEnd;
  /** The line nginx reports for this statement: where its terminator was read. */
  line: number;
}

/** nginx's conf buffer size: a single word longer than this is refused as a "too long parameter". */
const CONF_BUFFER = 4096;

const isSpace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';

/** Decodes nginx's escapes in a raw word: \" \' \\ \t \r \n; any other backslash stays. */
export function unescapeWord(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    if (ch === '\\' && i + 1 < raw.length) {
      const next = raw[i + 1];
      if (next === '"' || next === "'" || next === '\\') { out += next; i++; continue; }
      if (next === 't') { out += '\t'; i++; continue; }
      if (next === 'r') { out += '\r'; i++; continue; }
      if (next === 'n') { out += '\n'; i++; continue; }
    }
    out += ch;
  }
  return out;
}

export class Lexer {
  private readonly bytes: Buffer;
  private pos = 0;
  /** How far nginx's 4 KiB read buffer has been filled: used to mirror its "too long parameter" error. */
  private bufferLast = 0;
  /** Current line, 1-based; nginx reports errors at the line of the last character read. */
  line = 1;

  /**
   * @param input the file's contents
   * @param file the file name used in messages, or "command line" for -g
   */
  constructor(input: string | Buffer, readonly file: string) {
    this.bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    // -g text is parsed from one in-memory buffer: nginx has no refill (and no length limit) there.
    if (this.isCommandLine) this.bufferLast = this.bytes.length;
  }

  private get isCommandLine(): boolean {
    return this.file === 'command line';
  }

  error(message: string): ConfError {
    return new ConfError(message, this.file, this.line);
  }

  /** Reads the next statement (ngx_conf_read_token); throws ConfError like nginx. */
  next(): Statement {
    const bytes = this.bytes;
    const words: string[] = [];
    let lastSpace = true;
    let needSpace = false;
    let sharpComment = false;
    let variable = false;
    let quoted = false;
    let sQuoted = false;
    let dQuoted = false;
    let start = this.pos;
    let startLine = this.line;

    for (;;) {
      if (this.pos >= this.bufferLast) {
        if (this.bufferLast >= bytes.length) {
          if (words.length > 0 || !lastSpace) {
            if (this.isCommandLine) throw this.error('unexpected end of parameter, expecting ";"');
            throw this.error('unexpected end of file, expecting ";" or "}"');
          }
          return { words, end: 'eof', line: this.line };
        }
        // nginx refills its buffer keeping the bytes from `start`; a word that fills it is refused.
        const kept = this.pos - start;
        if (kept === CONF_BUFFER) {
          this.line = startLine;
          if (dQuoted || sQuoted) {
            throw this.error(`too long parameter, probably missing terminating "${dQuoted ? '"' : "'"}" character`);
          }
          throw this.error(`too long parameter "${bytes.subarray(start, start + 10).toString('utf8')}..." started`);
        }
        this.bufferLast += Math.min(bytes.length - this.bufferLast, CONF_BUFFER - kept);
      }

      const ch = String.fromCharCode(bytes[this.pos++]);

      if (ch === '\n') {
        this.line++;
        if (sharpComment) sharpComment = false;
      }
      if (sharpComment) continue;
      if (quoted) { quoted = false; continue; }

      if (needSpace) {
        if (isSpace(ch)) { lastSpace = true; needSpace = false; continue; }
        if (ch === ';') return { words, end: 'semicolon', line: this.line };
        if (ch === '{') return { words, end: 'block-start', line: this.line };
        if (ch === ')') {
          lastSpace = true;
          needSpace = false;
        } else {
          throw this.error(`unexpected "${ch}"`);
        }
      }

      if (lastSpace) {
        if (isSpace(ch)) continue;
        start = this.pos - 1;
        startLine = this.line;
        switch (ch) {
          case ';':
          case '{':
            if (words.length === 0) throw this.error(`unexpected "${ch}"`);
            return { words, end: ch === '{' ? 'block-start' : 'semicolon', line: this.line };
          case '}':
            if (words.length !== 0) throw this.error('unexpected "}"');
            return { words, end: 'block-end', line: this.line };
          case '#':
            sharpComment = true;
            continue;
          case '\\':
            quoted = true;
            lastSpace = false;
            continue;
          case '"':
            start++;
            dQuoted = true;
            lastSpace = false;
            continue;
          case "'":
            start++;
            sQuoted = true;
            lastSpace = false;
            continue;
          case '$':
            variable = true;
            lastSpace = false;
            continue;
          default:
            lastSpace = false;
        }
      } else {
        if (ch === '{' && variable) continue;
        variable = false;
        if (ch === '\\') { quoted = true; continue; }
        if (ch === '$') { variable = true; continue; }

        let found = false;
        if (dQuoted) {
          if (ch === '"') { dQuoted = false; needSpace = true; found = true; }
        } else if (sQuoted) {
          if (ch === "'") { sQuoted = false; needSpace = true; found = true; }
        } else if (isSpace(ch) || ch === ';' || ch === '{') {
          lastSpace = true;
          found = true;
        }

        if (found) {
          words.push(unescapeWord(bytes.toString('utf8', start, this.pos - 1)));
          if (ch === ';') return { words, end: 'semicolon', line: this.line };
          if (ch === '{') return { words, end: 'block-start', line: this.line };
        }
      }
    }
  }
}
