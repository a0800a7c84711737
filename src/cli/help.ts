// Help texts for `bext` (-h/--help at each level).
export const MAIN_HELP = `Usage: bext <command>

Commands:
  nginx masquerade              guided setup on a terminal (the wizard)
  nginx masquerade install      make nginx.service run bext; /usr/sbin/nginx becomes bext's shim
  nginx masquerade uninstall    restore the real nginx exactly as it was
  nginx masquerade status       what is installed, and whether it still holds together

Options:
  -h, --help       show help (also after any command)
  --version        print bext's version
`;

const PATH_OPTIONS = `  --bext-bin PATH      bext-server to run (default /usr/bin/bext-server when the package
                       installed it, else /usr/local/bin/bext-server)
  --shim-bin PATH      where the nginx shim goes (default /usr/sbin/nginx; the real
                       binary moves to PATH.real)
  --shim-bundle PATH   the shim program the shim execs (default /usr/lib/bext/nginx-shim)
  --pid-file PATH      pid file of the service (default /run/nginx.pid)`;

const COMMON = `  --root DIR           operate on the tree under DIR instead of / (no root needed; systemctl
                       is skipped)
  --json               print one JSON object on stdout instead of progress
  -h, --help           show this help`;

export const INSTALL_HELP = `Usage: bext nginx masquerade install [options]

Checks that the current /etc/nginx configuration converts (bext-server nginx check), moves the
real nginx to /usr/sbin/nginx.real (dpkg-divert on Debian, a recorded rename elsewhere), places the
shim at /usr/sbin/nginx, writes /etc/systemd/system/nginx.service.d/bext-masquerade.conf, records
the state in /var/lib/bext/masquerade.json and runs systemctl daemon-reload. Each step is undone
again if a later one fails or on Ctrl-C. Running it again changes nothing.

Options:
${PATH_OPTIONS}
  --restart            restart nginx.service afterwards, so bext serves traffic now
  --force              install although the configuration has conversion errors
  --dry-run            print the plan; change nothing
  -y, --yes            do not ask for confirmation (required when stdin is not a terminal)
${COMMON}

Exit codes: 0 done or nothing to do, 1 failed and rolled back, 2 usage, 3 preflight refused.
Undo: bext nginx masquerade uninstall
`;

export const UNINSTALL_HELP = `Usage: bext nginx masquerade uninstall [options]

Removes the shim and puts the real nginx back (removes the diversion or renames it back, and
verifies its sha256), removes the drop-in, runs systemctl daemon-reload and restarts nginx.service
when it is running, so the real nginx serves again. Nothing installed: nothing to do, exit 0.

Options:
  --dry-run            print the plan; change nothing
  -y, --yes            do not ask for confirmation (required when stdin is not a terminal)
${COMMON}

Exit codes: 0 done or nothing to do, 1 failed and rolled back, 2 usage, 3 preflight refused.
`;

export const STATUS_HELP = `Usage: bext nginx masquerade status [options]

Shows whether masquerade mode is installed, every path, the service state and the process in the
pid file, the nginx and bext versions, and problems with their fix (for example an nginx upgrade
that replaced the shim).

Options:
${COMMON}

Exit codes: 0 reported (also when problems are found), 2 usage.
`;

export const WIZARD_HELP = `Usage: bext nginx masquerade [options]

On a terminal: a guided install. It detects nginx and systemd, shows the conversion report of
the current configuration, asks for paths only when the defaults do not fit, asks whether to
restart nginx now, runs the install with progress and ends with the undo command.
Takes the install options (--root, --bext-bin, --shim-bin, --shim-bundle, --pid-file) as presets.
Without a terminal it refuses (exit 2): use \`bext nginx masquerade install --yes\`.
`;
