// nginx's `unknown "NAME" variable` check (ngx_http_variables_init_vars, run when the http block is
// complete): a variable used in a script must be a built-in, a prefixed family ($http_*, $arg_*…),
// a regex capture, or defined by set/map/geo/split_clients/auth_request_set. The scan is
// deliberately conservative: it only looks where nginx compiles scripts, so a regex is never
// mistaken for a variable reference.
import { ConfError, type ConfNode } from './types.ts';

/**
 * Built-in variables of the modules in Debian's build that are not NGX_HTTP_VAR_CHANGEABLE:
 * `set`/`map` on them is `the duplicate "NAME" variable`. Prefix families ($http_*, $arg_*,
 * $cookie_*, $sent_http_*) are not registered names, so they may be set.
 */
export const FIXED_VARIABLES: ReadonlySet<string> = new Set([
  // ngx_http_variables.c
  'http_host', 'http_user_agent', 'http_referer', 'http_via', 'http_x_forwarded_for', 'http_cookie',
  'content_length', 'content_type', 'host', 'binary_remote_addr', 'remote_addr', 'remote_port',
  'proxy_protocol_addr', 'proxy_protocol_port', 'proxy_protocol_server_addr', 'proxy_protocol_server_port',
  'server_addr', 'server_port', 'server_protocol', 'scheme', 'https', 'request_uri', 'uri', 'document_uri', 'request',
  'document_root', 'realpath_root', 'query_string', 'is_args', 'request_filename', 'server_name',
  'request_method', 'remote_user', 'bytes_sent', 'body_bytes_sent', 'pipe', 'request_completion', 'request_body',
  'request_body_file', 'request_length', 'request_time', 'request_id', 'status', 'sent_http_content_type',
  'sent_http_content_length', 'sent_http_location', 'sent_http_last_modified', 'sent_http_connection',
  'sent_http_keep_alive', 'sent_http_transfer_encoding', 'sent_http_cache_control', 'sent_http_link',
  'connection', 'connection_requests', 'connection_time', 'nginx_version', 'hostname', 'pid', 'msec',
  'time_iso8601', 'time_local', 'tcpinfo_rtt', 'tcpinfo_rttvar', 'tcpinfo_snd_cwnd', 'tcpinfo_rcv_space',
  // upstream, proxy, fastcgi
  'upstream_addr', 'upstream_status', 'upstream_connect_time', 'upstream_header_time', 'upstream_response_time',
  'upstream_response_length', 'upstream_bytes_received', 'upstream_bytes_sent', 'upstream_cache_status',
  'upstream_cache_last_modified', 'upstream_cache_etag', 'proxy_host', 'proxy_port', 'proxy_add_x_forwarded_for',
  'proxy_internal_body_length', 'proxy_internal_chunked', 'fastcgi_script_name', 'fastcgi_path_info',
  // ssl, realip, gzip, limits, stub_status, http2, referer
  'ssl_protocol', 'ssl_cipher', 'ssl_ciphers', 'ssl_curve', 'ssl_curves', 'ssl_session_id', 'ssl_session_reused',
  'ssl_early_data', 'ssl_server_name', 'ssl_client_cert', 'ssl_client_raw_cert', 'ssl_client_escaped_cert',
  'ssl_client_s_dn', 'ssl_client_i_dn', 'ssl_client_s_dn_legacy', 'ssl_client_i_dn_legacy', 'ssl_client_serial',
  'ssl_client_fingerprint', 'ssl_client_verify', 'ssl_client_v_start', 'ssl_client_v_end', 'ssl_client_v_remain',
  'realip_remote_addr', 'realip_remote_port', 'gzip_ratio', 'limit_req_status', 'limit_conn_status',
  'connections_active', 'connections_reading', 'connections_writing', 'connections_waiting', 'http2',
  'invalid_referer',
]);

/** Every built-in name: the fixed ones, the changeable ones, and those we are not sure are fixed. */
const BUILTIN = new Set([
  ...FIXED_VARIABLES,
  'args', 'limit_rate', 'date_local', 'date_gmt', 'uid_got', 'uid_set', 'uid_reset', 'secure_link',
  'secure_link_expires', 'modern_browser', 'ancient_browser', 'msie', 'slice_range', 'memcached_key',
]);

const PREFIXES = ['http_', 'sent_http_', 'sent_trailer_', 'cookie_', 'arg_', 'upstream_http_', 'upstream_trailer_', 'upstream_cookie_'];

/** Which arguments of a directive nginx compiles as scripts (index → all from there with `from`). */
const SCRIPT_ARGS: Record<string, { from: number } | number[]> = {
  return: { from: 0 }, add_header: { from: 1 }, add_trailer: { from: 1 }, proxy_set_header: [1], fastcgi_param: [1],
  uwsgi_param: [1], scgi_param: [1], grpc_set_header: [1], proxy_pass: [0], fastcgi_pass: [0], uwsgi_pass: [0],
  scgi_pass: [0], grpc_pass: [0], set: [1], try_files: { from: 0 }, root: [0], alias: [0], index: { from: 0 },
  auth_basic: [0], auth_basic_user_file: [0], limit_req_zone: [0], limit_conn_zone: [0], map: [0], split_clients: [0],
  rewrite: [1], proxy_set_body: [0], auth_request_set: [1], limit_rate: [0], limit_rate_after: [0],
};

/** Blocks whose entries are not scripts. */
const FREE_FORM_BLOCKS = new Set(['map', 'geo', 'types', 'split_clients', 'charset_map']);

/** Collects the names the configuration defines, then reports the first unknown one used in http{}. */
export function checkHttpVariables(http: ConfNode[]): void {
  const defined = new Set<string>();
  const walkDefs = (nodes: ConfNode[]): void => {
    for (const n of nodes) {
      // The directive word, then each argument (no array built per statement).
      for (let i = -1; i < n.args.length; i++) {
        const a = i < 0 ? n.directive : n.args[i]!;
        if (!a.includes('(?')) continue;
        for (const m of a.matchAll(/\(\?(?:P?<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')/g)) defined.add((m[1] ?? m[2]).toLowerCase());
      }
      const target = n.directive === 'set' || n.directive === 'auth_request_set' ? n.args[0]
        : n.directive === 'map' || n.directive === 'split_clients' ? n.args[1]
          : n.directive === 'geo' ? n.args[n.args.length - 1] : undefined;
      if (target?.startsWith('$')) defined.add(target.slice(1).toLowerCase());
      if (n.block) walkDefs(n.block);
    }
  };
  walkDefs(http);

  const known = (name: string): boolean =>
    /^[0-9]+$/.test(name) || BUILTIN.has(name) || defined.has(name) || PREFIXES.some((p) => name.startsWith(p));

  const walkUses = (nodes: ConfNode[], inFreeForm: boolean): void => {
    for (const n of nodes) {
      if (!inFreeForm) {
        for (const text of scriptArgs(n)) {
          for (const name of variableNames(text)) {
            if (!known(name)) throw new ConfError(`unknown "${name}" variable`);
          }
        }
      }
      const freeForm = FREE_FORM_BLOCKS.has(n.directive);
      if (n.block) walkUses(n.block, inFreeForm || freeForm);
    }
  };
  walkUses(http, false);
}

function scriptArgs(n: ConfNode): string[] {
  if (n.directive === 'if') {
    const first = n.args[0]?.replace(/^\(/, '');
    return first?.startsWith('$') ? [first.replace(/\)$/, '')] : [];
  }
  if (n.directive === 'log_format') return n.args.slice(1).filter((a) => !a.startsWith('escape='));
  if (n.directive === 'access_log') return n.args.filter((a, i) => i === 0 || a.startsWith('if='));
  if (n.directive === 'error_page') return n.args.slice(-1);
  const spec = SCRIPT_ARGS[n.directive];
  if (!spec) return [];
  return Array.isArray(spec) ? spec.map((i) => n.args[i]).filter((a): a is string => a !== undefined) : n.args.slice(spec.from);
}

/** The variable names referenced in a script: `$name` and `${name}`, lowercased. */
export function variableNames(text: string): string[] {
  const out: string[] = [];
  if (!text.includes('$')) return out;
  for (const m of text.matchAll(/\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g)) out.push((m[1] ?? m[2]).toLowerCase());
  return out;
}

/**
 * Names only `set` defines (no map, geo, split_clients or auth_request_set, not a built-in or a
 * prefixed family), lower-cased: the ones ngx_http_rewrite_module gives its own handler, which logs
 * `using uninitialized "NAME" variable` when a request reads one that nothing has set.
 */
export function setOnlyVariables(http: readonly ConfNode[]): Set<string> {
  const set = new Set<string>();
  const other = new Set<string>();
  const walk = (nodes: readonly ConfNode[]): void => {
    for (const n of nodes) {
      const d = n.directive;
      const target = d === 'set' || d === 'auth_request_set' ? n.args[0]
        : d === 'map' || d === 'split_clients' ? n.args[1]
          : d === 'geo' ? n.args[n.args.length - 1] : undefined;
      if (target?.startsWith('$')) (d === 'set' ? set : other).add(target.slice(1).toLowerCase());
      if (n.block && !FREE_FORM_BLOCKS.has(d)) walk(n.block);
    }
  };
  walk(http);
  for (const name of set) {
    // $memcached_key is only an index the memcached module reads: `set` gives it the handler.
    if (name === 'memcached_key') continue;
    if (other.has(name) || BUILTIN.has(name) || PREFIXES.some((p) => name.startsWith(p))) set.delete(name);
  }
  return set;
}
