// The nginx configuration grammar (ngx_conf_parse): statements, blocks, `include`, and `-p/-c/-g`.
// Every statement is checked against the directive catalogue as it is read, so the first error
// reported is the one nginx reports, at the same file:line.
import { dirname, resolve } from 'node:path';
import { Lexer } from './lexer.ts';
import { globPaths, isGlobPattern, readConfFile } from './files.ts';
import { ConfError, type ConfNode, type ConfPaths, type LoadedConfig } from './types.ts';
import { checkStatement, finishBlock, newLevel, type Context, type Level, type ParseState } from './catalogue.ts';

/** Debian's compiled-in defaults (`nginx -V`: --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf). */
export const DEFAULT_PREFIX = '/usr/share/nginx/';
export const DEFAULT_CONF_FILE = '/etc/nginx/nginx.conf';

/** nginx keeps an open fd per nested include; far beyond any real config, we stop like it would. */
const MAX_INCLUDE_DEPTH = 200;
/** nginx recurses on its C stack without a limit; we stop (with our own text) before the JS stack does. */
const MAX_BLOCK_DEPTH = 1000;

export interface LoadOptions {
  /** `-p`: prefix; a trailing slash is added. */
  prefix?: string;
  /** `-c`: the main config file, relative to the prefix. */
  confFile?: string;
  /** `-g`: main-context directives parsed before the file. */
  globals?: string;
}

/** `-p`/`-c` resolution as in nginx.c: relative -c against the prefix, conf prefix = its directory. */
export function resolvePaths(opts: { prefix?: string; confFile?: string }): ConfPaths {
  let prefix = opts.prefix ?? DEFAULT_PREFIX;
  if (!prefix.endsWith('/')) prefix += '/';
  const given = opts.confFile ?? DEFAULT_CONF_FILE;
  // nginx does not normalise: it just prepends the prefix to a relative name.
  const confFile = given.startsWith('/') ? given : prefix + given;
  const slash = confFile.lastIndexOf('/');
  return { prefix, confPrefix: confFile.slice(0, slash + 1), confFile };
}

/** nginx's ngx_get_full_name: absolute names stay, relative ones get the prefix prepended. */
export function fullName(prefix: string, name: string): string {
  return name.startsWith('/') ? name : prefix + name;
}

type ParseKind = 'file' | 'block' | 'param';

class Parser {
  readonly files: { path: string; content: Buffer }[] = [];
  private readonly seenFiles = new Set<string>();
  private depth = 0;
  private blockDepth = 0;
  readonly state: ParseState;

  constructor(readonly paths: ConfPaths) {
    this.state = { loadedModules: new Set(), paths };
  }

  /** Parses statements until EOF (file/param) or the closing `}` (block), appending to `out`. */
  parse(lexer: Lexer, level: Level, kind: ParseKind, out: ConfNode[]): void {
    for (;;) {
      const st = lexer.next();
      if (st.end === 'block-end') {
        if (kind !== 'block') throw lexer.error('unexpected "}"');
        return;
      }
      if (st.end === 'eof') {
        if (kind === 'block') throw lexer.error('unexpected end of file, expecting "}"');
        return;
      }
      if (st.end === 'block-start' && kind === 'param') {
        throw lexer.error('block directives are not supported in -g option');
      }

      const node: ConfNode = { directive: st.words[0], args: st.words.slice(1), file: lexer.file, line: st.line };
      const outcome = checkStatement(this.state, level, node, st.end === 'block-start');

      if (outcome.include !== undefined) {
        this.include(outcome.include, level, node, out);
        continue;
      }
      out.push(node);
      if (outcome.child) {
        if (this.blockDepth >= MAX_BLOCK_DEPTH) throw lexer.error(`blocks nested deeper than ${MAX_BLOCK_DEPTH} levels`);
        node.block = [];
        this.blockDepth++;
        try {
          this.parse(lexer, outcome.child, 'block', node.block);
        } finally {
          this.blockDepth--;
        }
        finishBlock(this.state, outcome.child, node, lexer.file, lexer.line);
      }
    }
  }

  /** `include`: a pattern (sorted glob, no match is fine) or a plain file (must exist). */
  private include(name: string, level: Level, at: ConfNode, out: ConfNode[]): void {
    const path = fullName(this.paths.confPrefix, name);
    const targets = isGlobPattern(path) ? globPaths(path) : [path];
    for (const target of targets) this.parseFile(target, level, out, { file: at.file, line: at.line });
  }

  parseFile(path: string, level: Level, out: ConfNode[], where?: { file: string; line: number }): void {
    if (this.depth >= MAX_INCLUDE_DEPTH) {
      throw new ConfError(`open() "${path}" failed (24: Too many open files)`, where?.file, where?.line);
    }
    this.parseText(readConfFile(path, where), path, level, out);
  }

  parseText(content: Buffer, path: string, level: Level, out: ConfNode[]): void {
    if (!this.seenFiles.has(path)) {
      this.seenFiles.add(path);
      this.files.push({ path, content });
    }
    this.depth++;
    try {
      this.parse(new Lexer(content, path), level, 'file', out);
    } finally {
      this.depth--;
    }
  }

  parseGlobals(globals: string, level: Level, out: ConfNode[]): void {
    this.parse(new Lexer(globals, 'command line'), level, 'param', out);
  }

  /** Checks that need the whole main context (ngx_init_cycle's core init_conf). */
  finishMain(main: Level): void {
    finishBlock(this.state, main, undefined, this.paths.confFile, 0);
  }
}

function run(paths: ConfPaths, globals: string | undefined, fragment: boolean, body: (p: Parser, main: Level, tree: ConfNode[]) => void): LoadedConfig {
  const parser = new Parser(paths);
  parser.state.requireEvents = !fragment;
  parser.state.loadCertificates = !fragment;
  const main = newLevel('main' as Context);
  const tree: ConfNode[] = [];
  if (globals !== undefined && globals !== '') parser.parseGlobals(globals, main, tree);
  body(parser, main, tree);
  parser.finishMain(main);
  return { tree, paths, files: parser.files, parseWarnings: parser.state.warnings ?? [] };
}

/** Reads the configuration as `nginx -p PREFIX -c FILE -g GLOBALS` would; throws ConfError. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const paths = resolvePaths(opts);
  return run(paths, opts.globals, false, (parser, main, tree) => parser.parseFile(paths.confFile, main, tree));
}

/**
 * Parses configuration text as if it were the file `file` (absolute; its directory is the conf
 * prefix for includes). For tests and tools: the same checks as loadConfig, except that a fragment
 * without `events {}` is accepted and certificate files are not opened, unless `requireEvents`
 * (which asks for the whole-file behaviour) is set.
 */
export function parseString(
  text: string,
  file = '/etc/nginx/nginx.conf',
  opts: { prefix?: string; globals?: string; requireEvents?: boolean } = {},
): LoadedConfig {
  const confFile = resolve(file);
  const paths: ConfPaths = { ...resolvePaths({ prefix: opts.prefix ?? dirname(confFile), confFile }) };
  return run(paths, opts.globals, !(opts.requireEvents ?? false), (parser, main, tree) => {
    parser.parseText(Buffer.from(text, 'utf8'), confFile, main, tree);
  });
}
