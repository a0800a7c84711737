// What every part of the conversion shares: paths, warnings, and small helpers for directive nodes.
import { ConfError, type ConfNode, type ConfPaths, type ConversionWarning } from '../nginx/types.ts';

export interface ConvertContext {
  paths: ConfPaths;
  warnings: ConversionWarning[];
  /** Names of upstream{} blocks (proxy_pass host lookups). */
  upstreamNames: ReadonlySet<string>;
  logFormatNames: ReadonlySet<string>;
  /** limit_req / limit_conn zones referenced, checked once all zones are known. */
  zoneRefs: { kind: 'req' | 'conn'; zone: string }[];
  /** Lowercased charset name → its first spelling (nginx's one charsets table). */
  charsetNames?: Map<string, string>;
  /** Set when a conversion read what earlier server blocks left (charsetNames): not reusable (reuse.ts). */
  orderDependent?: boolean;
  /** false: the state is not frozen as it is built (ConvertOptions.freeze). */
  freeze?: boolean;
}

export function warn(ctx: ConvertContext, node: ConfNode, message: string): void {
  ctx.warnings.push({ file: node.file, line: node.line, directive: node.directive, message });
}

export function confError(node: Pick<ConfNode, 'file' | 'line'>, text: string): ConfError {
  return new ConfError(text, node.file, node.line);
}

/** ngx_get_full_name: absolute names stay, relative ones get the prefix prepended. */
export function fullPath(prefix: string, name: string): string {
  if (name.startsWith('/') || name.startsWith('$')) return name;
  return prefix + name;
}

export const hasVariables = (text: string): boolean => /\$(?:[A-Za-z0-9_]|\{)/.test(text);
