// The systemd drop-in that makes nginx.service run bext. Written with `ini`, whose output is checked
// line by line afterwards: systemd needs repeated keys in order, which ini only emits for arrays with
// bracketedArray:false (by default it writes `key[]=`, which systemd would not recognise).
import ini from 'ini';

export interface DropInPaths {
  bextBin: string;
  pidFile: string;
}

/** Seconds systemd waits after ExecStop before SIGKILL: bext drains in-flight requests on TERM. */
export const STOP_TIMEOUT_SEC = 30;

const HEADER = `# Written by \`bext nginx masquerade install\`; removed by \`bext nginx masquerade uninstall\`.
# nginx.service runs bext-server instead of nginx while this file exists.
#
# The empty ExecStartPre=, ExecStart=, ExecReload= and ExecStop= lines clear the values of the
# packaged unit first: these settings accumulate across drop-ins, and systemd refuses a service
# with a second ExecStart= ("Service has more than one ExecStart= setting").
# ExecStartPost= waits until bext-server listens (its pid file names $MAINPID), so that
# \`systemctl start|restart nginx\` returns once bext serves, as with Debian's Type=forking unit.
# ExecReload= checks the configuration before HUP, so a broken config fails the reload and the
# running configuration keeps serving.
`;

/** The [Service] settings in order; an array is one key repeated, '' clears the packaged value. */
export function dropInSettings(p: DropInPaths): Record<string, string | string[]> {
  return {
    Type: 'exec',
    PIDFile: p.pidFile,
    ExecStartPre: '',
    // --pid-file: bext-server writes the very file PIDFile= and ExecStartPost= watch, whatever nginx.conf's
    // `pid` says (the installer notes a difference), so a custom --pid-file cannot leave systemd waiting.
    ExecStart: ['', `${p.bextBin} --nginx-masquerade --pid-file ${p.pidFile}`],
    // Type=exec is "started" once bext-server is exec'd; this returns once its pid file names $MAINPID,
    // which the master writes when every worker listens (as Debian's Type=forking returns once nginx runs).
    ExecStartPost: ['', `${p.bextBin} wait-ready ${p.pidFile} $MAINPID --timeout 60`],
    ExecReload: ['', `${p.bextBin} nginx check -q`, '/bin/kill -s HUP $MAINPID'],
    ExecStop: ['', '/bin/kill -s TERM $MAINPID'],
    ExecStopPost: `/bin/rm -f ${p.pidFile}`,
    TimeoutStopSec: String(STOP_TIMEOUT_SEC),
    Restart: 'on-failure',
    RestartSec: '5',
    LimitNOFILE: '65535',
  };
}

/** The `Key=value` lines the file must contain, in order. */
export function expectedLines(p: DropInPaths): string[] {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(dropInSettings(p))) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${key}=${v}`);
  }
  return lines;
}

export function renderDropIn(p: DropInPaths): string {
  const body = ini.stringify({ Service: dropInSettings(p) }, { bracketedArray: false });
  const text = `${HEADER}${body}`;
  const problem = verifyDropIn(text, p);
  if (problem) throw new Error(`internal: the generated drop-in does not read back: ${problem}`);
  return text;
}

/** Reads a drop-in back as systemd would (ordered key=value lines under [Service]); null when it matches. */
export function verifyDropIn(text: string, p: DropInPaths): string | null {
  const settings = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith(';'));
  if (settings[0] !== '[Service]') return `expected [Service] first, found ${JSON.stringify(settings[0] ?? '')}`;
  const got = settings.slice(1);
  const want = expectedLines(p);
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i]) return `line ${i + 1} of [Service]: expected ${JSON.stringify(want[i])}, found ${JSON.stringify(got[i])}`;
  }
  return null;
}
