// fastcgi_pass (ngx_http_fastcgi_module): FastCGI's framing for the CGI-style upstream handler
// (cgi-upstream.ts): BEGIN_REQUEST with the keep-connection flag, every parameter in one PARAMS
// record, the body in STDIN records; the answer in STDOUT/STDERR/END_REQUEST records
// (fastcgi-records.ts), and the URI split anew for $fastcgi_script_name as the handler starts.
import { createCgiHandler, type CgiHandlerOptions, type CgiHook, type CgiProtocol } from './cgi-upstream.ts';
import { ParamsTooBig, requestHead, STDIN_END, stdinRecords } from './fastcgi-records.ts';
import { splitPath } from './fastcgi-split.ts';

export const FASTCGI: CgiProtocol = {
  name: 'fastcgi',
  settings: (conf) => conf.fastcgi,
  hidden: ['status', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'],
  // ngx_http_fastcgi_handler makes a fresh context: the URI (try_files may have changed it) is split again.
  start: (r) => { r.fastcgiSplit = splitPath(r.conf.fastcgi, r.ctx.uri, undefined); },
  head(pairs, r) {
    try {
      return requestHead(pairs, r.conf.fastcgi.keepConn);
    } catch (e) {
      if (e instanceof ParamsTooBig) return { tooBig: e.message };
      throw e;
    }
  },
  bodyPiece: (chunk) => Buffer.concat(stdinRecords(chunk)),
  bodyEnd: STDIN_END,
  records: true,
};

export const createFastcgiHandler = (opts: CgiHandlerOptions = {}): CgiHook => createCgiHandler(FASTCGI, opts);
