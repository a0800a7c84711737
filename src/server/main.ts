// bext-server: `bext-server nginx check|dump …` (the configuration engine's front door) and serving.
import cluster from 'node:cluster';
import { checkCommand, type CheckOptions } from '../nginx/check.ts';
import { Master } from './master.ts';
import { parseServeArgs } from './options.ts';
import { runWorker } from './worker.ts';
import { waitReady } from './wait-ready.ts';

const USAGE = `Usage: bext-server [--nginx-masquerade] [--pid-file FILE] [-c FILE] [-p PREFIX] [-g DIRECTIVES] [-e FILE]
       bext-server nginx check [-c FILE] [-p PREFIX] [-g DIRECTIVES] [-e FILE] [-q] [--json]
       bext-server nginx dump  [-c FILE] [-p PREFIX] [-g DIRECTIVES]
       bext-server wait-ready PIDFILE [PID] [--timeout SECONDS]
`;

/** Parses the options shared by `nginx check` and `nginx dump`; values in the same or the next argument. */
export function parseCheckArgs(argv: string[]): CheckOptions | string {
  const opts: CheckOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-q') opts.quiet = true;
    else if (a === '--json') opts.json = true;
    else if (/^-[cpge]/.test(a)) {
      const value = a.length > 2 ? a.slice(2) : argv[++i];
      if (value === undefined) return `option "${a.slice(0, 2)}" requires a value`;
      const key = ({ '-c': 'confFile', '-p': 'prefix', '-g': 'globals', '-e': 'errorLog' } as const)[a.slice(0, 2) as '-c'];
      opts[key] = value;
    } else return `invalid option: "${a}"`;
  }
  return opts;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'nginx' && (argv[1] === 'check' || argv[1] === 'dump')) {
    const opts = parseCheckArgs(argv.slice(2));
    if (typeof opts === 'string') {
      process.stderr.write(`bext-server: ${opts}\n${USAGE}`);
      return 2;
    }
    if (argv[1] === 'dump') opts.dump = true;
    return checkCommand(opts, { stdout: process.stdout, stderr: process.stderr });
  }
  if (argv[0] === 'wait-ready') return waitReady(argv.slice(1));
  if (argv[0] === '-h' || argv[0] === '--help' || argv[0] === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const opts = parseServeArgs(argv);
  if (typeof opts === 'string') {
    process.stderr.write(`bext-server: ${opts}\n${USAGE}`);
    return 2;
  }
  // The master holds sockets and workers: leave explicitly once it is done.
  process.exit(await new Master(opts).run());
}

if (cluster.isWorker) runWorker();
else process.exitCode = await main(process.argv.slice(2));
