// $fastcgi_script_name and $fastcgi_path_info (ngx_http_fastcgi_split): the URI split by
// fastcgi_split_path_info's two captures, else all of it the script name; fastcgi_index appended
// to a script name ending in `/`. As in nginx, a split with a script name is kept for the request
// until the FastCGI handler starts (it splits the URI again, after try_files changed it) or an
// internal redirect: hence the Debian snippet's `set $path_info $fastcgi_path_info`.
import type { FastcgiSettings } from '../config/state.ts';

export interface FastcgiSplit {
  scriptName: string;
  pathInfo: string;
}

/** The split for `uri`, reusing `kept` when it has a script name (nginx's per-request context). */
export function splitPath(settings: FastcgiSettings, uri: string, kept: FastcgiSplit | undefined): FastcgiSplit {
  if (kept && kept.scriptName !== '') return kept;
  const m = settings.split?.regex.exec(uri);
  if (!m) return { scriptName: uri, pathInfo: '' };
  return { scriptName: m[1] ?? '', pathInfo: m[2] ?? '' };
}

/** $fastcgi_script_name's value for a split: fastcgi_index after a trailing slash. */
export function scriptNameOf(settings: FastcgiSettings, split: FastcgiSplit): string {
  const s = split.scriptName;
  return s.endsWith('/') ? s + settings.index : s;
}
