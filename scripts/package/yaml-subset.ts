// A reader for the small YAML subset packaging/nfpm.yaml is written in: block mappings, block
// sequences (of scalars or of mappings), plain / single-quoted / double-quoted scalars, and `|` / `|-`
// literal blocks. No yaml library is installed, and a subset reader that refuses everything else keeps
// the file honest: a construct it does not know is an error with a line number, never a guess.
// Scalars stay strings; the caller decides what a field means (e.g. an octal mode).

export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

export class YamlSubsetError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'YamlSubsetError';
  }
}

interface Line {
  no: number; // 1-based line number in the file
  indent: number;
  text: string; // content after the indentation, comments still in
}

export function parseYamlSubset(source: string, file = 'yaml'): YamlValue {
  const raw = source.replace(/\r\n/g, '\n').split('\n');
  const lines: Line[] = [];
  raw.forEach((l, i) => {
    const lead = /^[ \t]*/.exec(l)![0];
    if (lead.includes('\t')) throw new YamlSubsetError(file, i + 1, 'tab in indentation');
    lines.push({ no: i + 1, indent: lead.length, text: l.slice(lead.length) });
  });
  const reader = new Reader(lines, file);
  const value = reader.document();
  return value;
}

const isBlank = (l: Line) => l.text === '' || l.text.startsWith('#');

class Reader {
  private pos = 0;
  constructor(
    private readonly lines: Line[],
    private readonly file: string,
  ) {}

  document(): YamlValue {
    this.skipBlank();
    const first = this.peek();
    if (!first) throw this.error(1, 'empty document');
    if (first.text.startsWith('---') || first.text.startsWith('%')) throw this.error(first.no, 'document markers and directives are not supported');
    if (first.indent !== 0) throw this.error(first.no, 'the document must start at column 1');
    const value = this.block(0);
    this.skipBlank();
    const rest = this.peek();
    if (rest) throw this.error(rest.no, 'unexpected content (check the indentation)');
    return value;
  }

  private error(line: number, message: string): YamlSubsetError {
    return new YamlSubsetError(this.file, line, message);
  }

  private peek(): Line | undefined {
    return this.lines[this.pos];
  }

  private skipBlank(): void {
    while (this.pos < this.lines.length && isBlank(this.lines[this.pos]!)) this.pos++;
  }

  /** A mapping or a sequence whose lines start at exactly `indent`. */
  private block(indent: number): YamlValue {
    this.skipBlank();
    const l = this.peek()!;
    return l.text === '-' || l.text.startsWith('- ') ? this.sequence(indent) : this.mapping(indent);
  }

  private sequence(indent: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (;;) {
      this.skipBlank();
      const l = this.peek();
      if (!l || l.indent < indent) return items;
      if (l.indent > indent) throw this.error(l.no, 'unexpected indentation');
      if (!(l.text === '-' || l.text.startsWith('- '))) return items;
      const after = l.text.slice(1).replace(/^ +/, '');
      const itemIndent = indent + (l.text.length - after.length);
      if (after === '' || after.startsWith('#')) {
        this.pos++;
        this.skipBlank();
        const next = this.peek();
        if (!next || next.indent <= indent) throw this.error(l.no, 'empty sequence item');
        items.push(this.block(next.indent));
      } else if (splitKey(after)) {
        // "- key: value" opens a mapping whose other keys sit at the column of "key".
        this.lines[this.pos] = { no: l.no, indent: itemIndent, text: after };
        items.push(this.mapping(itemIndent));
      } else {
        this.pos++;
        items.push(this.inlineScalar(after, l.no, indent));
      }
    }
  }

  private mapping(indent: number): { [key: string]: YamlValue } {
    const map: { [key: string]: YamlValue } = {};
    for (;;) {
      this.skipBlank();
      const l = this.peek();
      if (!l || l.indent < indent) return map;
      if (l.indent > indent) throw this.error(l.no, 'unexpected indentation');
      if (l.text === '-' || l.text.startsWith('- ')) {
        // A sequence may sit at its key's column ("key:\n- a"); anything else here is a stray item.
        return map;
      }
      const kv = splitKey(l.text);
      if (!kv) throw this.error(l.no, `expected "key: value", got "${l.text}"`);
      const [key, rest] = kv;
      if (Object.prototype.hasOwnProperty.call(map, key)) throw this.error(l.no, `duplicate key "${key}"`);
      this.pos++;
      if (rest === '' || rest.startsWith('#')) {
        this.skipBlank();
        const next = this.peek();
        const seqAtSameColumn = next && next.indent === indent && (next.text === '-' || next.text.startsWith('- '));
        if (!next || (next.indent <= indent && !seqAtSameColumn)) throw this.error(l.no, `"${key}" has no value (empty values are not supported)`);
        map[key] = seqAtSameColumn ? this.sequence(indent) : this.block(next.indent);
      } else {
        map[key] = this.inlineScalar(rest, l.no, indent);
      }
    }
  }

  /** The value after "key:" or "- " on the same line: a quoted or plain scalar, or a `|` block. */
  private inlineScalar(text: string, lineNo: number, parentIndent: number): string {
    const c = text[0]!;
    if (c === '|') return this.literalBlock(text, lineNo, parentIndent);
    if ('>[]{}&*!?@`'.includes(c)) throw this.error(lineNo, `unsupported YAML construct starting with "${c}"`);
    if (c === '"') return this.doubleQuoted(text, lineNo);
    if (c === "'") return this.singleQuoted(text, lineNo);
    const plain = stripComment(text);
    if (/: |:$/.test(plain)) throw this.error(lineNo, `nested mapping on one line is not supported: "${plain}"`);
    return plain;
  }

  private literalBlock(header: string, lineNo: number, parentIndent: number): string {
    const h = stripComment(header);
    if (h !== '|' && h !== '|-') throw this.error(lineNo, `only "|" and "|-" block scalars are supported, got "${h}"`);
    const body: string[] = [];
    let blockIndent = -1;
    while (this.pos < this.lines.length) {
      const l = this.lines[this.pos]!;
      if (l.text === '') {
        body.push('');
        this.pos++;
        continue;
      }
      if (l.indent <= parentIndent) break;
      if (blockIndent < 0) blockIndent = l.indent;
      if (l.indent < blockIndent) throw this.error(l.no, 'block scalar line is less indented than its first line');
      body.push(' '.repeat(l.indent - blockIndent) + l.text);
      this.pos++;
    }
    while (body.length && body[body.length - 1] === '') body.pop();
    if (!body.length) throw this.error(lineNo, 'empty block scalar');
    return body.join('\n') + (h === '|' ? '\n' : '');
  }

  private doubleQuoted(text: string, lineNo: number): string {
    let out = '';
    let i = 1;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === '"') break;
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const esc = text[++i];
      const map: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', '/': '/' };
      if (esc === undefined || !(esc in map)) throw this.error(lineNo, `unsupported escape "\\${esc ?? ''}"`);
      out += map[esc];
    }
    if (i >= text.length) throw this.error(lineNo, 'unterminated double-quoted string (multi-line strings are not supported)');
    this.trailing(text.slice(i + 1), lineNo);
    return out;
  }

  private singleQuoted(text: string, lineNo: number): string {
    let out = '';
    let i = 1;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === "'") {
        if (text[i + 1] === "'") {
          out += "'";
          i++;
          continue;
        }
        break;
      }
      out += ch;
    }
    if (i >= text.length) throw this.error(lineNo, 'unterminated single-quoted string (multi-line strings are not supported)');
    this.trailing(text.slice(i + 1), lineNo);
    return out;
  }

  private trailing(rest: string, lineNo: number): void {
    const r = rest.trim();
    if (r !== '' && !r.startsWith('#')) throw this.error(lineNo, `unexpected text after quoted string: "${r}"`);
  }
}

/** Splits "key: rest" (or "key:"); keys are plain words as nfpm's are. */
function splitKey(text: string): [string, string] | null {
  const m = /^([A-Za-z0-9_.\/-]+):(?: +(.*)|)$/.exec(text);
  return m ? [m[1]!, (m[2] ?? '').trim()] : null;
}

/** A plain scalar ends at " #"; trailing spaces are not part of it. */
function stripComment(text: string): string {
  const hash = text.search(/ #/);
  return (hash >= 0 ? text.slice(0, hash) : text).trim();
}
