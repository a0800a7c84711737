// nginx's command line, parsed the way ngx_get_options() parses it (src/core/nginx.c): every element
// starts with `-`, letters bundle (`-tq`, `-Vt`, `-tc FILE`), and -p -e -c -g -s take the rest of their
// element when it is non-empty, else the whole next element. The first error ends parsing.

export type SignalName = 'stop' | 'quit' | 'reopen' | 'reload';

export interface NginxArgs {
  /** -? / -h: the version line and the usage text */
  help: boolean;
  /** -v, -V, -h: print the version line (then exit, unless testing) */
  version: boolean;
  /** -V: the build information after the version line */
  configure: boolean;
  /** -t or -T */
  test: boolean;
  /** -T */
  dump: boolean;
  /** -q */
  quiet: boolean;
  prefix?: string;
  errorLog?: string;
  confFile?: string;
  globals?: string;
  signal?: SignalName;
}

export type ArgvResult = { ok: true; args: NginxArgs } | { ok: false; error: string };

const SIGNALS: readonly string[] = ['stop', 'quit', 'reopen', 'reload'];

/** The options that take a value, and how nginx names the missing value. */
const VALUE_OPTIONS = {
  p: { key: 'prefix', missing: 'directory name' },
  e: { key: 'errorLog', missing: 'file name' },
  c: { key: 'confFile', missing: 'file name' },
  g: { key: 'globals', missing: 'parameter' },
  s: { key: 'signal', missing: 'parameter' },
} as const;

type ValueLetter = keyof typeof VALUE_OPTIONS;

function isValueLetter(c: string): c is ValueLetter {
  return Object.prototype.hasOwnProperty.call(VALUE_OPTIONS, c);
}

/** Parses `argv` without the program name. Errors are nginx's texts without the `nginx: ` prefix. */
export function parseArgv(argv: readonly string[]): ArgvResult {
  const args: NginxArgs = { help: false, version: false, configure: false, test: false, dump: false, quiet: false };

  for (let i = 0; i < argv.length; i++) {
    const element = argv[i];
    if (!element.startsWith('-')) return { ok: false, error: `invalid option: "${element}"` };

    // Iterate by code point so a stray non-ASCII letter is reported whole.
    const letters = Array.from(element.slice(1));
    for (let j = 0; j < letters.length; j++) {
      const c = letters[j];
      if (isValueLetter(c)) {
        const rest = letters.slice(j + 1).join('');
        let value: string;
        if (rest !== '') value = rest;
        else if (i + 1 < argv.length) value = argv[++i];
        else return { ok: false, error: `option "-${c}" requires ${VALUE_OPTIONS[c].missing}` };

        if (c === 's') {
          if (!SIGNALS.includes(value)) return { ok: false, error: `invalid option: "-s ${value}"` };
          args.signal = value as SignalName;
        } else {
          args[VALUE_OPTIONS[c].key] = value;
        }
        break; // the value consumed the rest of this element
      }
      switch (c) {
        case '?':
        case 'h':
          args.version = true;
          args.help = true;
          break;
        case 'v':
          args.version = true;
          break;
        case 'V':
          args.version = true;
          args.configure = true;
          break;
        case 't':
          args.test = true;
          break;
        case 'T':
          args.test = true;
          args.dump = true;
          break;
        case 'q':
          args.quiet = true;
          break;
        default:
          return { ok: false, error: `invalid option: "${c}"` };
      }
    }
  }
  return { ok: true, args };
}
