// Options of `bext-server` when it serves: nginx's own -c/-p/-g/-e (values in the same or the next
// argument, as nginx's getopt), plus --nginx-masquerade for the systemd drop-in.

export interface ServeOptions {
  confFile?: string;
  prefix?: string;
  globals?: string;
  errorLog?: string;
  /** systemd's `Type=exec` main process: /etc/nginx/nginx.conf, always in the foreground. */
  masquerade: boolean;
  /** `--pid-file PATH`: overrides the `pid` directive (the drop-in's PIDFile= when installed with a custom one). */
  pidFile?: string;
}

const VALUE_FLAGS: Record<string, keyof ServeOptions> = { c: 'confFile', p: 'prefix', g: 'globals', e: 'errorLog' };

export function parseServeArgs(argv: string[]): ServeOptions | string {
  const opts: ServeOptions = { masquerade: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--nginx-masquerade') {
      opts.masquerade = true;
      continue;
    }
    if (arg === '--pid-file') {
      const value = argv[++i];
      if (!value || !value.startsWith('/')) return 'option "--pid-file" requires an absolute path';
      opts.pidFile = value;
      continue;
    }
    const flag = arg[1];
    if (arg[0] !== '-' || arg.length < 2 || !(flag in VALUE_FLAGS)) return `invalid option: "${arg}"`;
    const value = arg.length > 2 ? arg.slice(2) : argv[++i];
    if (value === undefined || value === '') return `option "-${flag}" requires a value`;
    (opts as unknown as Record<string, string>)[VALUE_FLAGS[flag]] = value;
  }
  if (opts.masquerade && opts.confFile === undefined) opts.confFile = '/etc/nginx/nginx.conf';
  return opts;
}
