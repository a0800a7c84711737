// The texts of `nginx -v`, `-V` and `-h`, as ngx_show_version_info() prints them (all to stderr).
// Parsers that read them: certbot (`nginx version: ([^/]+)/([0-9\.]*)`, `TLS SNI support enabled`,
// ` --with-http_ssl_module`, `built with OpenSSL ([^ ]+) `) and nginx-tests' has_module()/has_version().
import { BEXT_VERSION } from '../masquerade/version.ts';

/** Debian bookworm's nginx: what every tool on the host has been talking to. Digits and dots only. */
export const NGINX_VERSION = '1.22.1';

/**
 * The version line. The mark sits where Ubuntu's build puts "(Ubuntu)" (NGX_BUILD): after the version,
 * past where every version regex stops, so `nginx/([0-9.]*)` still reads exactly 1.22.1.
 */
export const VERSION_LINE = `nginx version: nginx/${NGINX_VERSION} (bext-masquerade)\n`;

/** Debian's compiled-in defaults, as `-V` reports them and as nginx applies them. */
export const DEFAULTS = {
  prefix: '/usr/share/nginx/',
  confFile: '/etc/nginx/nginx.conf',
  errorLog: 'stderr',
  pidFile: '/run/nginx.pid',
} as const;

export const USAGE = `Usage: nginx [-?hvVtTq] [-s signal] [-p prefix]
             [-e filename] [-c filename] [-g directives]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: ${DEFAULTS.prefix})
  -e filename   : set error log file (default: ${DEFAULTS.errorLog})
  -c filename   : set configuration file (default: ${DEFAULTS.confFile})
  -g directives : set global directives out of configuration file

`;

/**
 * The modules `-V` reports, each with a directive that shows in the directive catalogue whether bext
 * serves it (test/shim/version.test.ts holds the two in step; the shim itself must not load the
 * catalogue). `optional` modules are off unless configured `--with-…`; the others are on unless
 * `--without-…`. nginx-tests' has_module() reads exactly these flags, so a module listed as not served
 * makes its test files skip instead of fail; certbot needs ` --with-http_ssl_module`.
 */
export interface ModuleFlag {
  module: string;
  optional: boolean;
  served: boolean;
  /** A directive of the module; undefined when none tells (HTTP/2 is a `listen` parameter). */
  directive?: string;
}

export const MODULE_FLAGS: readonly ModuleFlag[] = [
  { module: 'http_ssl_module', optional: true, served: true, directive: 'ssl_certificate' },
  { module: 'http_v2_module', optional: true, served: true },
  { module: 'http_stub_status_module', optional: true, served: true, directive: 'stub_status' },
  { module: 'http_realip_module', optional: true, served: true, directive: 'set_real_ip_from' },
  { module: 'http_gzip_static_module', optional: true, served: false, directive: 'gzip_static' },
  { module: 'http_auth_request_module', optional: true, served: true, directive: 'auth_request' },
  { module: 'http_sub_module', optional: true, served: true, directive: 'sub_filter' },
  { module: 'http_addition_module', optional: true, served: false, directive: 'add_before_body' },
  { module: 'http_dav_module', optional: true, served: false, directive: 'dav_methods' },
  { module: 'http_flv_module', optional: true, served: false, directive: 'flv' },
  { module: 'http_mp4_module', optional: true, served: false, directive: 'mp4' },
  { module: 'http_gunzip_module', optional: true, served: false, directive: 'gunzip' },
  { module: 'http_slice_module', optional: true, served: false, directive: 'slice' },
  { module: 'http_secure_link_module', optional: true, served: true, directive: 'secure_link' },
  { module: 'http_random_index_module', optional: true, served: false, directive: 'random_index' },
  { module: 'http_ssi_module', optional: false, served: false, directive: 'ssi' },
  { module: 'http_userid_module', optional: false, served: false, directive: 'userid' },
  { module: 'http_grpc_module', optional: false, served: true, directive: 'grpc_pass' },
  { module: 'http_browser_module', optional: false, served: false, directive: 'ancient_browser' },
  { module: 'http_mirror_module', optional: false, served: false, directive: 'mirror' },
  { module: 'http_upstream_random_module', optional: false, served: false, directive: 'random' },
  { module: 'http-cache', optional: false, served: false, directive: 'proxy_cache' },
  // On by default and served: no flag is printed, listed so the test checks them too.
  { module: 'http_fastcgi_module', optional: false, served: true, directive: 'fastcgi_pass' },
  { module: 'http_uwsgi_module', optional: false, served: true, directive: 'uwsgi_pass' },
  { module: 'http_scgi_module', optional: false, served: true, directive: 'scgi_pass' },
  { module: 'http_memcached_module', optional: false, served: true, directive: 'memcached_pass' },
  { module: 'http_upstream_hash_module', optional: false, served: true, directive: 'hash' },
  { module: 'http_upstream_ip_hash_module', optional: false, served: true, directive: 'ip_hash' },
  { module: 'http_upstream_least_conn_module', optional: false, served: true, directive: 'least_conn' },
  { module: 'http_gzip_module', optional: false, served: true, directive: 'gzip' },
  { module: 'http_rewrite_module', optional: false, served: true, directive: 'rewrite' },
  { module: 'http_proxy_module', optional: false, served: true, directive: 'proxy_pass' },
  { module: 'http_map_module', optional: false, served: true, directive: 'map' },
  { module: 'http_geo_module', optional: false, served: true, directive: 'geo' },
  { module: 'http_referer_module', optional: false, served: true, directive: 'valid_referers' },
  { module: 'http_split_clients_module', optional: false, served: true, directive: 'split_clients' },
  { module: 'http_empty_gif_module', optional: false, served: true, directive: 'empty_gif' },
  { module: 'http_access_module', optional: false, served: true, directive: 'allow' },
  { module: 'http_auth_basic_module', optional: false, served: true, directive: 'auth_basic' },
  { module: 'http_autoindex_module', optional: false, served: true, directive: 'autoindex' },
  { module: 'http_charset_module', optional: false, served: true, directive: 'charset' },
  { module: 'http_limit_req_module', optional: false, served: true, directive: 'limit_req' },
  { module: 'http_limit_conn_module', optional: false, served: true, directive: 'limit_conn' },
];

/** `--with-X` for optional modules bext serves, `--without-X` for default ones it does not. */
export function moduleFlags(): string[] {
  return MODULE_FLAGS.flatMap((m) => {
    if (m.optional && m.served) return [`--with-${m.module}`];
    if (!m.optional && !m.served) return [`--without-${m.module}`];
    return [];
  });
}

/** NGX_CONFIGURE: Debian's paths, then the module flags. It begins with a space, as nginx's does. */
export function configureArguments(): string {
  const paths = [
    `--prefix=${DEFAULTS.prefix.replace(/\/$/, '')}`,
    `--conf-path=${DEFAULTS.confFile}`,
    '--http-log-path=/var/log/nginx/access.log',
    `--error-log-path=${DEFAULTS.errorLog}`,
    '--lock-path=/var/lock/nginx.lock',
    `--pid-path=${DEFAULTS.pidFile}`,
    '--modules-path=/usr/lib/nginx/modules',
    '--http-client-body-temp-path=/var/lib/nginx/body',
    '--http-fastcgi-temp-path=/var/lib/nginx/fastcgi',
    '--http-proxy-temp-path=/var/lib/nginx/proxy',
  ];
  return [...paths, ...moduleFlags()].map((a) => ` ${a}`).join('');
}

/**
 * Node's OpenSSL as nginx's OPENSSL_VERSION_TEXT would name it, without the build suffix Node adds
 * ("3.0.15+quic" → "3.0.15"). Node does not expose the release date, so the Node version follows the
 * space that certbot's `built with OpenSSL ([^ ]+) ` needs.
 */
export function opensslLine(versions: NodeJS.ProcessVersions = process.versions): string {
  const raw = versions.openssl ?? '';
  const version = /^[0-9]+(\.[0-9]+)*[a-z]*/.exec(raw)?.[0] ?? '0.0.0';
  return `built with OpenSSL ${version} (Node.js ${process.version})\n`;
}

export interface VersionRequest {
  help: boolean;
  configure: boolean;
}

/** Everything nginx writes for -v/-V/-h (any combination), in nginx's order. */
export function versionText(req: VersionRequest): string {
  let text = VERSION_LINE;
  if (req.help) text += USAGE;
  if (req.configure) {
    text += `built by bext-masquerade ${BEXT_VERSION}\n`;
    text += opensslLine();
    text += 'TLS SNI support enabled\n';
    text += `configure arguments:${configureArguments()}\n`;
  }
  return text;
}
