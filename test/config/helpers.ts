// Builds a RoutingState from configuration text with the real parser, for the conversion tests.
import { parseString } from '../../src/nginx/parser.ts';
import { convert, type ConversionResult } from '../../src/config/convert.ts';

export const CONF = '/etc/nginx/nginx.conf';

/** Converts `text` as if it were /etc/nginx/nginx.conf with Debian's prefix, as root by default. */
export function conv(text: string, opts: { root?: boolean; file?: string } = {}): ConversionResult {
  const loaded = parseString(text, opts.file ?? CONF, { prefix: '/usr/share/nginx/' });
  return convert(loaded, { root: opts.root ?? true });
}

/** A main context with an events block around an http body. */
export const http = (body: string): string => `events {}\nhttp {\n${body}\n}\n`;
