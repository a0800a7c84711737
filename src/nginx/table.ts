// The directive table, as nginx 1.22.1 (Debian's build) declares the directives, one per line:
//
//   name  contexts  arity  kind  status  [reason]
//
// contexts: M main, E events, H http, S server, L location, s if-in-server, l if-in-location,
//           X limit_except, U upstream.
// arity:    digits = the argument counts allowed (NGX_CONF_TAKEn; 0 = NOARGS), f = FLAG,
//           + = 1MORE, ++ = 2MORE, * = ANY; a leading B marks a block directive.
// kind:     the value check and duplicate rule (checks.ts): flag size off msec sec num str bufs
//           are nginx's slot setters ("is duplicate" on a second one at the same level);
//           enum:a|b and mask:a|b are enum/bitmask slots; arr = repeatable, no check; - = none;
//           anything else names a custom check.
// status:   S served, I accepted and ignored (reason), U unsupported (reason; warned about).
export const TABLE = String.raw`
// core (ngx_core_module, ngx_conf_module, ngx_events_module)
include          MEHSLsslXU   1    -      S
daemon           M    f    flag   S
master_process   M    f    flag   S
pid              M    1    str    S
user             M    12   user   S
worker_processes M    1    worker_processes S
error_log        MHSL +    error_log S
timer_resolution M    1    msec   I timer granularity is an nginx event-loop detail
lock_file        M    1    str    I bext uses no accept lock file
debug_points     M    1    enum:stop|abort I debugging aid of nginx's C code
worker_priority  M    1    -      I worker scheduling priority is not changed
worker_cpu_affinity M +    -      I workers are not pinned to CPUs
worker_rlimit_nofile M 1   num    I the file descriptor limit comes from the service manager
worker_rlimit_core M  1    off    I core dump limits are not changed
worker_shutdown_timeout M 1 msec  S
working_directory M   1    str    I the working directory is not changed
env              M    1    arr    U environment variables are not filtered for workers
load_module      M    1    load_module I nginx modules are not loaded; bext has its own implementation
pcre_jit         M    f    flag   I regular expressions are compiled by the JavaScript engine
thread_pool      M    23   -      I bext does not use nginx thread pools
ssl_engine       M    1    str    U OpenSSL engines are not configurable
events           M    B0   events S
worker_connections E  1    worker_connections I connection limits per worker are not enforced
use              E    1    use    I the event method is chosen by Node.js
multi_accept     E    f    flag   I accept behaviour is chosen by Node.js
accept_mutex     E    f    flag   I accept behaviour is chosen by Node.js
accept_mutex_delay E  1    msec   I accept behaviour is chosen by Node.js
worker_aio_requests E 1    num    I asynchronous I/O is chosen by Node.js
epoll_events     E    1    -      I the event method is chosen by Node.js
debug_connection E    1    arr    I debug logging of nginx's C code
http             M    B0   http   S
stream           M    B0   -      U the stream module (TCP/UDP proxying) is not implemented
mail             M    B0   -      U the mail proxy is not implemented

// http core (ngx_http_core_module)
variables_hash_max_size H 1 num   I hash table sizing of nginx
variables_hash_bucket_size H 1 num I hash table sizing of nginx
server_names_hash_max_size H 1 num I hash table sizing of nginx
server_names_hash_bucket_size H 1 num I hash table sizing of nginx
server           H    B0   -      S
connection_pool_size HS 1  size   I memory pool sizing of nginx
request_pool_size HS  1    size   I memory pool sizing of nginx
client_header_timeout HS 1 msec   S
client_header_buffer_size HS 1 size I header buffers are sized by Node.js
large_client_header_buffers HS 2 bufs I header buffers are sized by Node.js
max_headers      HS   1    num    S
ignore_invalid_headers HS f flag  S
merge_slashes    HS   f    flag   S
underscores_in_headers HS f flag  S
location         SL   B12  location S
listen           S    +    listen S
server_name      S    +    server_name S
types_hash_max_size HSL 1  num    I hash table sizing of nginx
types_hash_bucket_size HSL 1 num  I hash table sizing of nginx
types            HSL  B0   -      S
default_type     HSL  1    str    S
root             HSLl 1    root   S
alias            L    1    alias  S
limit_except     L    B+   limit_except S
client_max_body_size HSL 1 off    S
client_body_buffer_size HSL 1 size S
client_body_timeout HSL 1  msec   S
client_body_temp_path HSL 1234 path S
client_body_in_file_only HSL 1 enum:on|clean|off S
client_body_in_single_buffer HSL f flag I buffer layout of nginx
sendfile         HSLl f    flag   I files are streamed by Node.js; sendfile() is an nginx detail
sendfile_max_chunk HSL 1   size   I files are streamed by Node.js
subrequest_output_buffer_size HSL 1 size I buffer sizing of nginx
aio              HSL  1    -      I asynchronous I/O is chosen by Node.js
aio_write        HSL  f    flag   I asynchronous I/O is chosen by Node.js
read_ahead       HSL  1    size   I read-ahead is left to the kernel
directio         HSL  1    -      I direct I/O is not used
directio_alignment HSL 1   off    I direct I/O is not used
tcp_nopush       HSL  f    flag   I socket options are Node.js's
tcp_nodelay      HSL  f    flag   I socket options are Node.js's
send_timeout     HSL  1    msec   S
send_lowat       HSL  1    size   I socket options are Node.js's
postpone_output  HSL  1    size   I output buffering is Node.js's
postpone_gzipping HSL 1   size   I output buffering is Node.js's
limit_rate       HSLl 1    limit_rate S
limit_rate_after HSLl 1    limit_rate S
keepalive_timeout HSL 12   keepalive_timeout S
keepalive_requests HSL 1   num    S
keepalive_time   HSL  1    msec   I connections are not closed after a total time
keepalive_disable HSL 12   mask:none|msie6|safari I browser workarounds of nginx
satisfy          HSL  1    enum:all|any S
auth_delay       HSL  1    msec   S
internal         L    0    internal S
lingering_close  HSL  1    enum:off|on|always I connection teardown is Node.js's
lingering_time   HSL  1    msec   I connection teardown is Node.js's
lingering_timeout HSL 1    msec   I connection teardown is Node.js's
reset_timedout_connection HSL f flag I connection teardown is Node.js's
absolute_redirect HSL f    flag   S
server_name_in_redirect HSL f flag S
port_in_redirect HSL  f    flag   S
msie_padding     HSL  f    flag   I browser workarounds of nginx
msie_refresh     HSL  f    flag   I browser workarounds of nginx
log_not_found    HSL  f    flag   S
log_subrequest   HSL  f    flag   I bext makes no subrequests
recursive_error_pages HSL f flag  S
server_tokens    HSL  1    enum:on|off|build S
chunked_transfer_encoding HSL f flag S
etag             HSL  f    flag   S
error_page       HSLl ++   error_page S
post_action      HSLl 1    str    U post_action is not implemented
open_file_cache  HSL  12   -      I file metadata is not cached
open_file_cache_valid HSL 1 sec   I file metadata is not cached
open_file_cache_min_uses HSL 1 num I file metadata is not cached
open_file_cache_errors HSL f flag I file metadata is not cached
open_file_cache_events HSL f flag I file metadata is not cached
resolver         HSL  +    resolver S
resolver_timeout HSL  1    msec   I DNS lookups keep the system resolver's timeouts
gzip_vary        HSL  f    flag   S
gzip_http_version HSL 1    enum:1.0|1.1 S
gzip_proxied     HSL  +    mask:off|expired|no-cache|no-store|private|no_last_modified|no_etag|auth|any S
gzip_disable     HSL  +    arr    S
disable_symlinks HSL  12   -      S
output_buffers   HSL  2    bufs   I output buffering is Node.js's
max_ranges       HSL  1    num    S
if_modified_since HSL 1    enum:off|exact|before S
try_files        SL   ++   try_files S
http2_recv_buffer_size H 1 size   I HTTP/2 tuning of nginx
http2_chunk_size HSL  1    size   I HTTP/2 tuning of nginx
http2_body_preread_size HS 1 size I HTTP/2 tuning of nginx
http2_max_concurrent_streams HS 1 num I HTTP/2 tuning of nginx
http2_max_concurrent_pushes HS 1 num I HTTP/2 server push is not implemented
http2_max_field_size HS 1  size   I HTTP/2 tuning of nginx
http2_max_header_size HS 1 size   I HTTP/2 tuning of nginx
http2_max_requests HS 1    num    I HTTP/2 tuning of nginx
http2_idle_timeout HS 1    msec   I HTTP/2 tuning of nginx
http2_recv_timeout HS 1    msec   I HTTP/2 tuning of nginx
http2_streams_index_size HS 1 num I HTTP/2 tuning of nginx
http2_pool_size  HS   1    size   I HTTP/2 tuning of nginx
http2_push       HSL  1    -      U HTTP/2 server push is not implemented
http2_push_preload HSL f   flag   U HTTP/2 server push is not implemented

// rewrite, access, auth
rewrite          SLsl 23   rewrite S
return           SLsl 12   return S
break            SLsl 0    -      S
if               SL   B+   if     S
set              SLsl 2    set    S
rewrite_log      HSLsl f   flag   I rewrite processing is not logged
uninitialized_variable_warn HSLsl f flag S
allow            HSLX 1    access S
deny             HSLX 1    access S
auth_basic       HSLX 1    str    S
auth_basic_user_file HSLX 1 str   S
auth_request     HSL  1    -      S
auth_request_set HSL  2    -      S

// static content
index            HSL  +    arr    S
autoindex        HSL  f    flag   S
autoindex_exact_size HSL f flag   S
autoindex_format HSL  1    enum:html|xml|json|jsonp S
autoindex_localtime HSL f  flag   S
gzip_static      HSL  1    enum:off|on|always I precompressed .gz files are not looked for; gzip compresses as configured
random_index     L    f    flag   U random_index is not implemented
empty_gif        L    0    -      S
stub_status      SL   01   -      S
flv              L    0    -      U FLV streaming is not implemented
mp4              L    0    -      U MP4 streaming is not implemented
mp4_buffer_size  HSL  1    size   U MP4 streaming is not implemented
mp4_max_buffer_size HSL 1  size   U MP4 streaming is not implemented
mp4_start_key_frame HSL f flag   U MP4 streaming is not implemented
dav_methods      HSL  +    mask:off|put|delete|mkcol|copy|move U WebDAV is not implemented
dav_access       HSL  123  -      U WebDAV is not implemented
create_full_put_path HSL f flag   U WebDAV is not implemented
min_delete_depth HSL  1    num    U WebDAV is not implemented
slice            HSL  1    size   U byte-range slicing is not implemented

// logging
log_format       H    ++   log_format S
access_log       HSLlX +   access_log S
open_log_file_cache HSL 1234 -    I log files are kept open by bext

// map, geo, split_clients
map              H    B2   map    S
map_hash_max_size H   1    num    I hash table sizing of nginx
map_hash_bucket_size H 1   num    I hash table sizing of nginx
geo              H    B12  -      S
split_clients    H    B2   -      S

// upstream
upstream         H    B1   upstream S
server           U    +    upstream_server S
keepalive        U    1    num    S
keepalive_timeout U   1    msec   S
keepalive_requests U  1    num    S
keepalive_time   U    1    msec   I connections are not closed after a total time
least_conn       U    0    -      S
ip_hash          U    0    -      S
hash             U    12   -      S
random           U    012  -      U the random balancer is not implemented
zone             U    12   -      I upstream state is per worker; no shared memory zone is needed

// proxy
proxy_pass       LlX  1    pass   S
proxy_redirect   HSL  12   -      S
proxy_cookie_domain HSL 12 -      S
proxy_cookie_path HSL 12   -      S
proxy_cookie_flags HSL 1234 -     S
proxy_store      HSL  1    -      U proxy_store is not implemented
proxy_store_access HSL 123 -      U proxy_store is not implemented
proxy_buffering  HSL  f    flag   I responses are streamed to the client
proxy_request_buffering HSL f flag I request bodies are streamed to the upstream
proxy_ignore_client_abort HSL f flag I an upstream request is abandoned when its client goes (the default)
proxy_bind       HSL  12   -      U binding the upstream connection's source address is not implemented
proxy_socket_keepalive HSL f flag I socket options are Node.js's
proxy_connect_timeout HSL 1 msec  S
proxy_send_timeout HSL 1   msec   S
proxy_send_lowat HSL  1    size   I socket options are Node.js's
proxy_intercept_errors HSL f flag S
proxy_set_header HSL  2    arr    S
proxy_headers_hash_max_size HSL 1 num I hash table sizing of nginx
proxy_headers_hash_bucket_size HSL 1 num I hash table sizing of nginx
proxy_set_body   HSL  1    str    S
proxy_method     HSL  1    str    S
proxy_pass_request_headers HSL f flag S
proxy_pass_request_body HSL f flag S
proxy_buffer_size HSL 1    size   I responses are streamed to the client
proxy_read_timeout HSL 1   msec   S
proxy_buffers    HSL  2    bufs   I responses are streamed to the client
proxy_busy_buffers_size HSL 1 size I responses are streamed to the client
proxy_force_ranges HSL f   flag   U byte ranges of proxied responses are not implemented
proxy_limit_rate HSL  1    size   U upstream rate limiting is not implemented
proxy_cache      HSL  1    -      U response caching is not implemented
proxy_cache_key  HSL  1    -      U response caching is not implemented
proxy_cache_path H    ++   -      U response caching is not implemented
proxy_cache_bypass HSL +   arr    U response caching is not implemented
proxy_no_cache   HSL  +    arr    U response caching is not implemented
proxy_cache_valid HSL +    arr    U response caching is not implemented
proxy_cache_min_uses HSL 1 num    U response caching is not implemented
proxy_cache_max_range_offset HSL 1 off U response caching is not implemented
proxy_cache_use_stale HSL + mask:error|timeout|invalid_header|updating|http_500|http_502|http_503|http_504|http_403|http_404|http_429|off U response caching is not implemented
proxy_cache_methods HSL +  mask:GET|HEAD|POST U response caching is not implemented
proxy_cache_lock HSL  f    flag   U response caching is not implemented
proxy_cache_lock_timeout HSL 1 msec U response caching is not implemented
proxy_cache_lock_age HSL 1 msec   U response caching is not implemented
proxy_cache_revalidate HSL f flag U response caching is not implemented
proxy_cache_convert_head HSL f flag U response caching is not implemented
proxy_cache_background_update HSL f flag U response caching is not implemented
proxy_temp_path  HSL  1234 path   I responses are not spooled to nginx temp files
proxy_max_temp_file_size HSL 1 size I responses are not spooled to nginx temp files
proxy_temp_file_write_size HSL 1 size I responses are not spooled to nginx temp files
proxy_next_upstream HSL +  mask:error|timeout|invalid_header|http_500|http_502|http_503|http_504|http_403|http_404|http_429|non_idempotent|off|updating S
proxy_next_upstream_tries HSL 1 num S
proxy_next_upstream_timeout HSL 1 msec I the time spent on next upstreams is not limited
proxy_pass_header HSL 1    arr    S
proxy_hide_header HSL 1    arr    S
proxy_ignore_headers HSL + mask:X-Accel-Redirect|X-Accel-Expires|X-Accel-Limit-Rate|X-Accel-Buffering|X-Accel-Charset|Expires|Cache-Control|Set-Cookie|Vary I the X-Accel and caching headers are not acted on
proxy_http_version HSL 1   enum:1.0|1.1 S
proxy_ssl_session_reuse HSL f flag S
proxy_ssl_protocols HSL +  mask:SSLv2|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 I upstream TLS uses Node.js's defaults
proxy_ssl_ciphers HSL 1    str    I upstream TLS uses Node.js's defaults
proxy_ssl_name   HSL  1    -      S
proxy_ssl_server_name HSL f flag  S
proxy_ssl_verify HSL  f    flag   S
proxy_ssl_verify_depth HSL 1 num  S
proxy_ssl_trusted_certificate HSL 1 str S
proxy_ssl_certificate HSL 1 -     S
proxy_ssl_certificate_key HSL 1 - S
proxy_ssl_password_file HSL 1 -   U encrypted upstream client keys are not supported
proxy_ssl_crl    HSL  1    str    U certificate revocation lists are not supported

// fastcgi
fastcgi_pass     Ll   1    pass   S
fastcgi_index    HSL  1    str    S
fastcgi_split_path_info HSL 1 -   S
fastcgi_param    HSL  23   upstream_param S
fastcgi_store    HSL  1    -      U fastcgi_store is not implemented
fastcgi_buffering HSL f    flag   I responses are streamed to the client
fastcgi_request_buffering HSL f flag I the request body is read whole before it is passed
fastcgi_ignore_client_abort HSL f flag I a client that goes away ends its FastCGI request
fastcgi_bind     HSL  12   -      U binding the upstream connection's source address is not implemented
fastcgi_socket_keepalive HSL f flag I socket options are Node.js's
fastcgi_connect_timeout HSL 1 msec S
fastcgi_send_timeout HSL 1 msec   S
fastcgi_read_timeout HSL 1 msec   S
fastcgi_buffer_size HSL 1  size   I responses are streamed to the client
fastcgi_buffers  HSL  2    bufs   I responses are streamed to the client
fastcgi_busy_buffers_size HSL 1 size I responses are streamed to the client
fastcgi_intercept_errors HSL f flag S
fastcgi_keep_conn HSL f    flag   S
fastcgi_pass_request_headers HSL f flag S
fastcgi_pass_request_body HSL f flag S
fastcgi_pass_header HSL 1  arr    S
fastcgi_hide_header HSL 1  arr    S
fastcgi_ignore_headers HSL + mask:X-Accel-Redirect|X-Accel-Expires|X-Accel-Limit-Rate|X-Accel-Buffering|X-Accel-Charset|Expires|Cache-Control|Set-Cookie|Vary S
fastcgi_catch_stderr HSL 1 arr    S
fastcgi_next_upstream HSL + mask:error|timeout|invalid_header|http_500|http_503|http_403|http_404|http_429|non_idempotent|off|updating S
fastcgi_next_upstream_tries HSL 1 num S
fastcgi_next_upstream_timeout HSL 1 msec I retries are bounded by fastcgi_next_upstream_tries only
fastcgi_temp_path HSL 1234 path   I responses are not spooled to nginx temp files
fastcgi_max_temp_file_size HSL 1 size I responses are not spooled to nginx temp files
fastcgi_temp_file_write_size HSL 1 size I responses are not spooled to nginx temp files
fastcgi_limit_rate HSL 1   size   U upstream rate limiting is not implemented
fastcgi_force_ranges HSL f flag   U byte ranges of FastCGI responses are not implemented
fastcgi_cache    HSL  1    -      U response caching is not implemented
fastcgi_cache_key HSL 1    -      U response caching is not implemented
fastcgi_cache_path H  ++   -      U response caching is not implemented
fastcgi_cache_valid HSL +  arr    U response caching is not implemented
fastcgi_cache_bypass HSL + arr    U response caching is not implemented
fastcgi_no_cache HSL  +    arr    U response caching is not implemented
fastcgi_cache_use_stale HSL + mask:error|timeout|invalid_header|updating|http_500|http_503|http_403|http_404|http_429|off U response caching is not implemented
fastcgi_cache_methods HSL + mask:GET|HEAD|POST U response caching is not implemented
fastcgi_cache_lock HSL f   flag   U response caching is not implemented
fastcgi_cache_min_uses HSL 1 num  U response caching is not implemented
fastcgi_cache_revalidate HSL f flag U response caching is not implemented
fastcgi_cache_background_update HSL f flag U response caching is not implemented
fastcgi_cache_lock_age HSL 1 msec U response caching is not implemented
fastcgi_cache_lock_timeout HSL 1 msec U response caching is not implemented
fastcgi_cache_max_range_offset HSL 1 off U response caching is not implemented
fastcgi_send_lowat HSL 1 size  I send low-water marks are not set
fastcgi_store_access HSL 123 - U fastcgi_store is not implemented

// uwsgi, scgi (served through http/cgi-upstream.ts as FastCGI is), grpc, memcached
uwsgi_pass       Ll   1    pass   S
uwsgi_param      HSL  23   upstream_param S
uwsgi_modifier1  HSL  1    num    S
uwsgi_modifier2  HSL  1    num    S
uwsgi_string     HSL  1    -      S
uwsgi_connect_timeout HSL 1 msec S
uwsgi_send_timeout HSL 1 msec S
uwsgi_read_timeout HSL 1 msec S
uwsgi_intercept_errors HSL f flag S
uwsgi_pass_request_headers HSL f flag S
uwsgi_pass_request_body HSL f flag S
uwsgi_pass_header HSL 1 arr S
uwsgi_hide_header HSL 1 arr S
uwsgi_ignore_headers HSL + mask:X-Accel-Redirect|X-Accel-Expires|X-Accel-Limit-Rate|X-Accel-Buffering|X-Accel-Charset|Expires|Cache-Control|Set-Cookie|Vary S
uwsgi_next_upstream HSL + mask:error|timeout|invalid_header|http_500|http_503|http_403|http_404|http_429|non_idempotent|off|updating S
uwsgi_next_upstream_tries HSL 1 num S
uwsgi_next_upstream_timeout HSL 1 msec I retries are bounded by uwsgi_next_upstream_tries only
uwsgi_buffering HSL f flag I responses are streamed to the client
uwsgi_buffer_size HSL 1 size I responses are streamed to the client
uwsgi_buffers HSL 2 bufs I responses are streamed to the client
uwsgi_busy_buffers_size HSL 1 size I responses are streamed to the client
uwsgi_request_buffering HSL f flag I the request body is read whole before it is passed
uwsgi_ignore_client_abort HSL f flag I a client that goes away ends its uwsgi request
uwsgi_socket_keepalive HSL f flag I socket options are Node.js's
uwsgi_temp_path HSL 1234 path I responses are not spooled to nginx temp files
uwsgi_max_temp_file_size HSL 1 size I responses are not spooled to nginx temp files
uwsgi_temp_file_write_size HSL 1 size I responses are not spooled to nginx temp files
uwsgi_store HSL 1 - U uwsgi_store is not implemented
uwsgi_store_access HSL 123 - U uwsgi_store is not implemented
uwsgi_bind HSL 12 - U binding the upstream connection's source address is not implemented
uwsgi_limit_rate HSL 1 size U upstream rate limiting is not implemented
uwsgi_force_ranges HSL f flag U byte ranges of uwsgi responses are not implemented
uwsgi_cache HSL 1 - U response caching is not implemented
uwsgi_cache_key HSL 1 - U response caching is not implemented
uwsgi_cache_path H ++ - U response caching is not implemented
uwsgi_cache_valid HSL + arr U response caching is not implemented
uwsgi_cache_bypass HSL + arr U response caching is not implemented
uwsgi_no_cache HSL + arr U response caching is not implemented
uwsgi_cache_use_stale HSL + - U response caching is not implemented
uwsgi_cache_methods HSL + - U response caching is not implemented
uwsgi_cache_lock HSL f flag U response caching is not implemented
uwsgi_cache_lock_age HSL 1 msec U response caching is not implemented
uwsgi_cache_lock_timeout HSL 1 msec U response caching is not implemented
uwsgi_cache_min_uses HSL 1 num U response caching is not implemented
uwsgi_cache_revalidate HSL f flag U response caching is not implemented
uwsgi_cache_background_update HSL f flag U response caching is not implemented
uwsgi_cache_max_range_offset HSL 1 off U response caching is not implemented
uwsgi_ssl_protocols HSL + - U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_ciphers HSL 1 - U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_name HSL 1 - U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_server_name HSL f flag U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_verify HSL f flag U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_verify_depth HSL 1 num U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_trusted_certificate HSL 1 - U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_crl HSL 1 - U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_certificate HSL 1 - U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_certificate_key HSL 1 - U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_password_file HSL 1 - U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_session_reuse HSL f flag U uwsgi over TLS (suwsgi) is not implemented
uwsgi_ssl_conf_command HSL 2 - U uwsgi over TLS (suwsgi) is not implemented
scgi_pass        Ll   1    pass   S
scgi_param       HSL  23   upstream_param S
scgi_connect_timeout HSL 1 msec S
scgi_send_timeout HSL 1 msec S
scgi_read_timeout HSL 1 msec S
scgi_intercept_errors HSL f flag S
scgi_pass_request_headers HSL f flag S
scgi_pass_request_body HSL f flag S
scgi_pass_header HSL 1 arr S
scgi_hide_header HSL 1 arr S
scgi_ignore_headers HSL + mask:X-Accel-Redirect|X-Accel-Expires|X-Accel-Limit-Rate|X-Accel-Buffering|X-Accel-Charset|Expires|Cache-Control|Set-Cookie|Vary S
scgi_next_upstream HSL + mask:error|timeout|invalid_header|http_500|http_503|http_403|http_404|http_429|non_idempotent|off|updating S
scgi_next_upstream_tries HSL 1 num S
scgi_next_upstream_timeout HSL 1 msec I retries are bounded by scgi_next_upstream_tries only
scgi_buffering HSL f flag I responses are streamed to the client
scgi_buffer_size HSL 1 size I responses are streamed to the client
scgi_buffers HSL 2 bufs I responses are streamed to the client
scgi_busy_buffers_size HSL 1 size I responses are streamed to the client
scgi_request_buffering HSL f flag I the request body is read whole before it is passed
scgi_ignore_client_abort HSL f flag I a client that goes away ends its SCGI request
scgi_socket_keepalive HSL f flag I socket options are Node.js's
scgi_temp_path HSL 1234 path I responses are not spooled to nginx temp files
scgi_max_temp_file_size HSL 1 size I responses are not spooled to nginx temp files
scgi_temp_file_write_size HSL 1 size I responses are not spooled to nginx temp files
scgi_store HSL 1 - U scgi_store is not implemented
scgi_store_access HSL 123 - U scgi_store is not implemented
scgi_bind HSL 12 - U binding the upstream connection's source address is not implemented
scgi_limit_rate HSL 1 size U upstream rate limiting is not implemented
scgi_force_ranges HSL f flag U byte ranges of SCGI responses are not implemented
scgi_cache HSL 1 - U response caching is not implemented
scgi_cache_key HSL 1 - U response caching is not implemented
scgi_cache_path H ++ - U response caching is not implemented
scgi_cache_valid HSL + arr U response caching is not implemented
scgi_cache_bypass HSL + arr U response caching is not implemented
scgi_no_cache HSL + arr U response caching is not implemented
scgi_cache_use_stale HSL + - U response caching is not implemented
scgi_cache_methods HSL + - U response caching is not implemented
scgi_cache_lock HSL f flag U response caching is not implemented
scgi_cache_lock_age HSL 1 msec U response caching is not implemented
scgi_cache_lock_timeout HSL 1 msec U response caching is not implemented
scgi_cache_min_uses HSL 1 num U response caching is not implemented
scgi_cache_revalidate HSL f flag U response caching is not implemented
scgi_cache_background_update HSL f flag U response caching is not implemented
scgi_cache_max_range_offset HSL 1 off U response caching is not implemented
grpc_pass        Ll   1    pass   S
grpc_set_header  HSL  2    arr    S
grpc_connect_timeout HSL 1 msec   S
grpc_send_timeout HSL 1    msec   S
grpc_read_timeout HSL 1    msec   S
grpc_buffer_size HSL  1    size   I responses are streamed to the client
grpc_intercept_errors HSL f flag  S
grpc_pass_header HSL  1    arr    S
grpc_hide_header HSL  1    arr    S
grpc_socket_keepalive HSL f flag  I socket options are Node.js's
grpc_ssl_verify  HSL  f    flag   S
grpc_ssl_certificate HSL 1 -      S
grpc_ssl_certificate_key HSL 1 -  S
grpc_next_upstream HSL +   mask:error|timeout|invalid_header|http_500|http_502|http_503|http_504|http_403|http_404|http_429|non_idempotent|off S
grpc_next_upstream_tries HSL 1 num S
grpc_next_upstream_timeout HSL 1 msec I retries are bounded by grpc_next_upstream_tries only
grpc_bind HSL 12 - U binding the upstream connection's source address is not implemented
grpc_ignore_headers HSL + - I X-Accel-* answers are passed on as they are (no caching, no redirects)
grpc_ssl_protocols HSL + - I upstream TLS versions are Node.js's defaults
grpc_ssl_ciphers HSL 1 - I upstream ciphers are Node.js's defaults
grpc_ssl_name HSL 1 - S
grpc_ssl_server_name HSL f flag S
grpc_ssl_session_reuse HSL f flag S
grpc_ssl_trusted_certificate HSL 1 - S
grpc_ssl_verify_depth HSL 1 num S
grpc_ssl_crl HSL 1 - U upstream certificate revocation lists are not checked
grpc_ssl_password_file HSL 1 - U encrypted upstream client keys are not supported
grpc_ssl_conf_command HSL 2 - U OpenSSL configuration commands are not applied
memcached_pass   Ll   1    pass   S

// gzip
gzip             HSLl f    flag   S
gzip_buffers     HSL  2    bufs   I compression buffers are zlib's
gzip_types       HSL  +    arr    S
gzip_comp_level  HSL  1    num:1-9 S
gzip_window      HSL  1    size   I compression tuning of zlib
gzip_hash        HSL  1    size   I compression tuning of zlib
gzip_no_buffer   HSL  f    flag   I compression buffers are zlib's
gzip_min_length  HSL  1    size   S
gunzip           HSL  f    flag   U decompressing responses is not implemented
gunzip_buffers   HSL  2    bufs   U decompressing responses is not implemented

// ssl (ngx_http_ssl_module)
ssl              HS   f    ssl    S
ssl_certificate  HS   1    arr    S
ssl_certificate_key HS 1   arr    S
ssl_password_file HS  1    -      U encrypted private keys are not supported
ssl_dhparam      HS   1    str    I key exchange parameters are chosen by Node.js
ssl_ecdh_curve   HS   1    str    I key exchange curves are Node.js's defaults
ssl_protocols    HS   +    mask:SSLv2|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 S
ssl_ciphers      HS   1    str    S
ssl_buffer_size  HS   1    size   I TLS record sizing is Node.js's
ssl_verify_client HS  1    enum:off|on|optional|optional_no_ca S
ssl_verify_depth HS   1    num    S
ssl_client_certificate HS 1 str   S
ssl_trusted_certificate HS 1 str  S
ssl_prefer_server_ciphers HS f flag I cipher preference is Node.js's
ssl_session_cache HS  12   ssl_session_cache S
ssl_session_tickets HS f   flag   S
ssl_session_ticket_key HS 1 arr   S
ssl_session_timeout HS 1   sec    S
ssl_crl          HS   1    str    S
ssl_ocsp         HS   1    enum:off|on|leaf U OCSP checks of client certificates are not supported
ssl_ocsp_cache   HS   1    -      U OCSP checks of client certificates are not supported
ssl_ocsp_responder HS 1    str    U OCSP checks of client certificates are not supported
ssl_stapling     HS   f    flag   I OCSP stapling is not implemented
ssl_stapling_file HS  1    str    I OCSP stapling is not implemented
ssl_stapling_responder HS 1 str   I OCSP stapling is not implemented
ssl_stapling_verify HS f   flag   I OCSP stapling is not implemented
ssl_early_data   HS   f    flag   I TLS 1.3 early data is not accepted
ssl_conf_command HS   2    arr    U OpenSSL configuration commands are not supported
ssl_reject_handshake HS f  flag   S

// limits
limit_req_zone   H    3    limit_req_zone S
limit_req        HSL  123  limit_req S
limit_req_log_level HSL 1  enum:info|notice|warn|error S
limit_req_status HSL  1    num:400-599 S
limit_req_dry_run HSL f    flag   S
limit_conn_zone  H    2    limit_conn_zone S
limit_conn       HSL  2    limit_conn S
limit_conn_log_level HSL 1 enum:info|notice|warn|error S
limit_conn_status HSL 1    num:400-599 S
limit_conn_dry_run HSL f   flag   S

// realip, headers, charset, sub, misc modules
set_real_ip_from HSL  1    -      S
real_ip_header   HSL  1    -      S
real_ip_recursive HSL f    flag   S
add_header       HSLl 23   add_header S
add_trailer      HSLl 23   add_header U response trailers are not implemented
expires          HSLl 12   expires S
charset          HSLl 1    str    S
source_charset   HSLl 1    str    U charset conversion is not implemented
override_charset HSLl f    flag   U charset conversion is not implemented
charset_types    HSL  +    arr    S
charset_map      H    B2   -      U charset conversion is not implemented
sub_filter       HSL  2    arr    S
sub_filter_once  HSL  f    flag   S
sub_filter_types HSL  +    arr    S
sub_filter_last_modified HSL f flag S
addition_types   HSL  +    arr    U the addition module is not implemented
add_before_body  HSL  1    str    U the addition module is not implemented
add_after_body   HSL  1    str    U the addition module is not implemented
ssi              HSLl f    flag   U server-side includes are not implemented
ssi_types        HSL  +    arr    U server-side includes are not implemented
ssi_silent_errors HSL f flag U server-side includes are not implemented
ssi_ignore_recycled_buffers HSL f flag U server-side includes are not implemented
ssi_min_file_chunk HSL 1 size U server-side includes are not implemented
ssi_value_length HSL 1 size U server-side includes are not implemented
ssi_last_modified HSL f flag U server-side includes are not implemented
secure_link      HSL  1    -      S
secure_link_md5  HSL  1    -      S
secure_link_secret L  1    str    S
mirror           HSL  1    arr    U request mirroring is not implemented
mirror_request_body HSL f  flag   U request mirroring is not implemented
userid           HSL  1    enum:on|v1|log|off U the userid module is not implemented
userid_domain    HSL  1    str    U the userid module is not implemented
userid_expires   HSL  1    -      U the userid module is not implemented
userid_name      HSL  1    str    U the userid module is not implemented
userid_path      HSL  1    str    U the userid module is not implemented
userid_p3p       HSL  1    str    U the userid module is not implemented
userid_service   HSL  1    num    U the userid module is not implemented
userid_mark      HSL  1    -      U the userid module is not implemented
userid_flags     HSL  123  -      U the userid module is not implemented
valid_referers   SL   +    arr    S
referer_hash_max_size SL 1 num    I names are not kept in a hash table
referer_hash_bucket_size SL 1 num I names are not kept in a hash table
ancient_browser  HSL  +    arr    U browser detection is not implemented
modern_browser   HSL  12   -      U browser detection is not implemented
ancient_browser_value HSL 1 -     U browser detection is not implemented
modern_browser_value HSL 1 -      U browser detection is not implemented
memcached_connect_timeout HSL 1 msec S
memcached_send_timeout HSL 1 msec I the time to send a request to memcached is not limited
memcached_read_timeout HSL 1 msec S
memcached_buffer_size HSL 1 size  I responses are streamed to the client
memcached_next_upstream HSL + mask:error|timeout|invalid_response|not_found|off S
memcached_next_upstream_tries HSL 1 num S
memcached_next_upstream_timeout HSL 1 msec I retries are bounded by memcached_next_upstream_tries only
memcached_bind HSL 12 - U the memcached module is not implemented
memcached_socket_keepalive HSL f flag I socket options are Node.js's
memcached_gzip_flag HSL 1 num S
proxy_ssl_conf_command HSL 2 arr  U OpenSSL configuration commands are not supported

// dynamic modules of Debian's packages: known only after their load_module (MODULE_DIRECTIVES)
geoip_country    H    12   -      U the GeoIP module is not implemented
geoip_city       H    12   -      U the GeoIP module is not implemented
geoip_org        H    12   -      U the GeoIP module is not implemented
geoip_proxy      H    1    arr    U the GeoIP module is not implemented
geoip_proxy_recursive H f  flag   U the GeoIP module is not implemented
image_filter     L    123  -      U the image filter is not implemented
image_filter_buffer HSL 1  size   U the image filter is not implemented
image_filter_jpeg_quality HSL 1 - U the image filter is not implemented
image_filter_webp_quality HSL 1 - U the image filter is not implemented
image_filter_sharpen HSL 1 -      U the image filter is not implemented
image_filter_transparency HSL f flag U the image filter is not implemented
image_filter_interlace HSL f flag U the image filter is not implemented
xslt_entities    HSL  1    -      U the XSLT filter is not implemented
xslt_stylesheet  HSL  +    -      U the XSLT filter is not implemented
xslt_param       HSL  2    -      U the XSLT filter is not implemented
xslt_string_param HSL 2    -      U the XSLT filter is not implemented
xslt_types       HSL  +    arr    U the XSLT filter is not implemented
xslt_last_modified HSL f   flag   U the XSLT filter is not implemented
perl_modules     H    1    -      U embedded Perl is not implemented
perl_require     H    1    -      U embedded Perl is not implemented
perl_set         H    2    -      U embedded Perl is not implemented
perl             LX   1    -      U embedded Perl is not implemented
`;

/** Directives that exist only once their dynamic module is loaded (by the module file's name). */
export const MODULE_DIRECTIVES: Record<string, string[]> = {
  'ngx_stream_module.so': ['stream'],
  'ngx_mail_module.so': ['mail'],
  'ngx_http_geoip_module.so': ['geoip_country', 'geoip_city', 'geoip_org', 'geoip_proxy', 'geoip_proxy_recursive'],
  'ngx_http_image_filter_module.so': [
    'image_filter', 'image_filter_buffer', 'image_filter_jpeg_quality', 'image_filter_webp_quality',
    'image_filter_sharpen', 'image_filter_transparency', 'image_filter_interlace',
  ],
  'ngx_http_xslt_filter_module.so': ['xslt_entities', 'xslt_stylesheet', 'xslt_param', 'xslt_string_param', 'xslt_types', 'xslt_last_modified'],
  'ngx_http_perl_module.so': ['perl_modules', 'perl_require', 'perl_set', 'perl'],
  // Modules of the stream/mail cores add directives only inside those (unchecked) blocks.
  'ngx_stream_geoip_module.so': [],
};
