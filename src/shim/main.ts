// The `nginx` command installed at /usr/sbin/nginx. It follows nginx's main(): options, then the
// version texts (exit unless testing), then -t/-T, then -s, else start the server. Each path imports
// only what it needs, so `nginx -v` (certbot, monitoring) loads nothing but this file's own code.
import { parseArgv, type NginxArgs } from './argv.ts';
import { versionText } from './version.ts';

async function run(args: NginxArgs): Promise<number> {
  if (args.version) {
    process.stderr.write(versionText(args));
    if (!args.test) return 0;
  }

  if (args.test) {
    const { checkCommand } = await import('../nginx/check.ts');
    return checkCommand(
      {
        prefix: args.prefix,
        confFile: args.confFile,
        globals: args.globals,
        errorLog: args.errorLog,
        quiet: args.quiet,
        dump: args.dump,
      },
      { stdout: process.stdout, stderr: process.stderr },
    );
  }

  if (args.signal !== undefined) {
    const { signalCommand } = await import('./signal.ts');
    return signalCommand({
      signal: args.signal,
      prefix: args.prefix,
      confFile: args.confFile,
      globals: args.globals,
      errorLog: args.errorLog,
      pidFileOverride: process.env.BEXT_PID_FILE,
    });
  }

  const { startServer } = await import('./start.ts');
  return startServer({ prefix: args.prefix, confFile: args.confFile, globals: args.globals, errorLog: args.errorLog });
}

const parsed = parseArgv(process.argv.slice(2));
if (!parsed.ok) {
  process.stderr.write(`nginx: ${parsed.error}\n`);
  process.exitCode = 1;
} else {
  process.exitCode = await run(parsed.args);
}
