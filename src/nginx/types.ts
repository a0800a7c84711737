// The parsed nginx configuration: a tree in the shape of crossplane's payload, every node keeping
// the file and line it came from so every later message can say `in FILE:LINE`.

export interface ConfNode {
  directive: string;
  args: string[];
  /** Absolute path of the file, or "command line" for -g directives. */
  file: string;
  line: number;
  /** Present for block directives (`server { … }`), absent for simple ones. */
  block?: ConfNode[];
}

/** Where nginx's files are: `-p` prefix and the conf prefix (the directory of the `-c` file). */
export interface ConfPaths {
  /** Prefix with trailing slash (`-p`, default /usr/share/nginx/ like Debian's build). */
  prefix: string;
  /** Directory of the main config file, with trailing slash: relative includes resolve here. */
  confPrefix: string;
  /** Absolute path of the main config file. */
  confFile: string;
}

/** A configuration error, printed the way nginx prints it: `MESSAGE in FILE:LINE`. */
export class ConfError extends Error {
  constructor(
    readonly text: string,
    readonly file?: string,
    readonly line?: number,
    readonly level: 'emerg' | 'alert' | 'crit' | 'error' | 'warn' = 'emerg',
  ) {
    super(file === undefined ? text : file === 'command line' ? `${text} in command line` : `${text} in ${file}:${line}`);
    this.name = 'ConfError';
  }
}

/** A directive that bext does not serve exactly as nginx would. */
export interface ConversionWarning {
  file: string;
  line: number;
  directive: string;
  message: string;
  /**
   * One of nginx's own `[warn]`s that it logs while reading the configuration (e.g. a conflicting
   * server name): `-t` prints it before "syntax is ok", not with bext's own warnings after the test.
   */
  beforeSyntaxOk?: boolean;
  /** nginx prints it without ` in FILE:LINE` (file and line still say where it came from). */
  noLocation?: boolean;
}

/** A whole configuration as read from disk: the tree with includes inlined, and every file read. */
export interface LoadedConfig {
  /** Main-context directives: the `-g` ones first (file "command line"), then the file's. */
  tree: ConfNode[];
  paths: ConfPaths;
  /** Every distinct file read, in the order first opened (what `-T` dumps). */
  files: { path: string; content: Buffer }[];
  /** `[warn]` messages nginx itself prints while reading (e.g. the deprecated `ssl` directive). */
  parseWarnings?: ConfError[];
}
