// Reads packaging/nfpm.yaml: the part of nfpm's configuration format this project uses, checked
// field by field. A key nfpm knows but we do not map (or a typo) is an error, as it would be silently
// lost in the fallback packages otherwise. Per-format resolution follows nfpm's Config.Get: the
// `overrides.<format>` block replaces whole fields, and `contents` entries with a `packager` are kept
// only for that format.
import { readFile } from 'node:fs/promises';
import { parseYamlSubset, type YamlValue } from './yaml-subset.ts';

export type Format = 'deb' | 'rpm';

export type ContentType = 'file' | 'config' | 'config|noreplace' | 'symlink' | 'dir';

export interface Content {
  src: string; // build-tree path; for a symlink, the link target
  dst: string;
  type: ContentType;
  mode: number | null; // file_info.mode, null when not given
  packager: Format | null;
}

export interface Scripts {
  postinstall?: string;
  preremove?: string;
  postremove?: string;
}

/** An rpm trigger, in the shape of nfpm's rpm.triggers entries (type/script/interpreter/conditions). */
export interface RpmTrigger {
  type: 'in' | 'un' | 'postun' | 'prein';
  conditions: string[];
  script: string;
}

export interface PackageInfo {
  format: Format;
  name: string;
  arch: string;
  version: string;
  release: string;
  section: string;
  priority: string;
  maintainer: string;
  description: string;
  vendor: string;
  homepage: string;
  license: string;
  depends: string[];
  recommends: string[];
  contents: Content[];
  scripts: Scripts;
  debTriggers: { interest_noawait: string[] };
  debCompression: 'gzip' | 'xz' | 'none';
  rpmSummary: string;
  rpmPackager: string;
  rpmGroup: string;
}

export class NfpmConfigError extends Error {
  override name = 'NfpmConfigError';
}

type Map = { [key: string]: YamlValue };

const TOP_KEYS = ['name', 'arch', 'version', 'release', 'section', 'priority', 'maintainer', 'description', 'vendor', 'homepage', 'license', 'depends', 'recommends', 'contents', 'scripts', 'overrides', 'deb', 'rpm'];
const OVERRIDABLE_KEYS = ['depends', 'recommends', 'contents', 'scripts'];
const SCRIPT_KEYS = ['postinstall', 'preremove', 'postremove'];
const CONTENT_KEYS = ['src', 'dst', 'type', 'file_info', 'packager'];
const CONTENT_TYPES: ContentType[] = ['config', 'config|noreplace', 'symlink', 'dir'];
const DEB_KEYS = ['compression', 'triggers'];
const RPM_KEYS = ['summary', 'packager', 'group'];

export interface ParsedConfig {
  file: string;
  root: Map;
}

/** Parses the file and checks every key of both formats' views. */
export async function loadNfpmConfig(file: string): Promise<ParsedConfig> {
  const root = parseYamlSubset(await readFile(file, 'utf8'), file);
  if (!isMap(root)) throw new NfpmConfigError(`${file}: the top level must be a mapping`);
  const cfg = { file, root };
  checkKeys(cfg, root, TOP_KEYS, '');
  // Resolving both formats once validates every field, whichever format is built first.
  resolve(cfg, 'deb', {});
  resolve(cfg, 'rpm', {});
  return cfg;
}

/** The package as nfpm would see it for one format; `env` expands `${VAR}` in `version` as nfpm does. */
export function resolve(cfg: ParsedConfig, format: Format, env: NodeJS.ProcessEnv): PackageInfo {
  const { root } = cfg;
  const overrides = optMap(cfg, root, 'overrides', '');
  if (overrides) checkKeys(cfg, overrides, ['deb', 'rpm'], 'overrides.');
  const ov = overrides ? optMap(cfg, overrides, format, 'overrides.') : undefined;
  if (ov) checkKeys(cfg, ov, OVERRIDABLE_KEYS, `overrides.${format}.`);
  const pick = (key: string): YamlValue | undefined => (ov && key in ov ? ov[key] : root[key]);
  const where = (key: string) => (ov && key in ov ? `overrides.${format}.${key}` : key);

  const deb = optMap(cfg, root, 'deb', '') ?? {};
  checkKeys(cfg, deb, DEB_KEYS, 'deb.');
  const rpm = optMap(cfg, root, 'rpm', '') ?? {};
  checkKeys(cfg, rpm, RPM_KEYS, 'rpm.');
  const debTriggers = optMap(cfg, deb, 'triggers', 'deb.') ?? {};
  checkKeys(cfg, debTriggers, ['interest_noawait'], 'deb.triggers.');
  const compression = optStr(cfg, deb, 'compression', 'deb.') ?? 'gzip';
  if (!['gzip', 'xz', 'none'].includes(compression)) fail(cfg, `deb.compression must be gzip, xz or none, got "${compression}"`);

  const version = expand(cfg, reqStr(cfg, root, 'version', ''), env);
  return {
    format,
    name: reqStr(cfg, root, 'name', ''),
    arch: reqStr(cfg, root, 'arch', ''),
    version,
    release: optStr(cfg, root, 'release', '') ?? '',
    section: optStr(cfg, root, 'section', '') ?? '',
    priority: optStr(cfg, root, 'priority', '') ?? 'optional',
    maintainer: reqStr(cfg, root, 'maintainer', ''),
    description: reqStr(cfg, root, 'description', ''),
    vendor: optStr(cfg, root, 'vendor', '') ?? '',
    homepage: optStr(cfg, root, 'homepage', '') ?? '',
    license: optStr(cfg, root, 'license', '') ?? '',
    depends: strList(cfg, pick('depends'), where('depends')),
    recommends: strList(cfg, pick('recommends'), where('recommends')),
    contents: contentsOf(cfg, pick('contents'), where('contents')).filter((c) => c.packager === null || c.packager === format),
    scripts: scriptsOf(cfg, pick('scripts'), where('scripts')),
    debTriggers: { interest_noawait: strList(cfg, debTriggers['interest_noawait'], 'deb.triggers.interest_noawait') },
    debCompression: compression as PackageInfo['debCompression'],
    rpmSummary: optStr(cfg, rpm, 'summary', 'rpm.') ?? reqStr(cfg, root, 'description', '').split('\n')[0]!,
    rpmPackager: optStr(cfg, rpm, 'packager', 'rpm.') ?? reqStr(cfg, root, 'maintainer', ''),
    rpmGroup: optStr(cfg, rpm, 'group', 'rpm.') ?? '',
  };
}

function contentsOf(cfg: ParsedConfig, v: YamlValue | undefined, where: string): Content[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(cfg, `${where} must be a sequence`);
  return v.map((item, i) => {
    const at = `${where}[${i}]`;
    if (!isMap(item)) fail(cfg, `${at} must be a mapping`);
    checkKeys(cfg, item, CONTENT_KEYS, `${at}.`);
    const type = optStr(cfg, item, 'type', `${at}.`) ?? 'file';
    if (type !== 'file' && !CONTENT_TYPES.includes(type as ContentType)) fail(cfg, `${at}.type "${type}" is not one of ${CONTENT_TYPES.join(', ')}`);
    const info = optMap(cfg, item, 'file_info', `${at}.`);
    if (info) checkKeys(cfg, info, ['mode'], `${at}.file_info.`);
    const modeText = info ? reqStr(cfg, info, 'mode', `${at}.file_info.`) : undefined;
    if (modeText !== undefined && !/^0[0-7]{3,4}$/.test(modeText)) fail(cfg, `${at}.file_info.mode must be octal with a leading 0 (e.g. 0644), got "${modeText}"`);
    const packager = optStr(cfg, item, 'packager', `${at}.`) ?? null;
    if (packager !== null && packager !== 'deb' && packager !== 'rpm') fail(cfg, `${at}.packager must be deb or rpm, got "${packager}"`);
    const dst = reqStr(cfg, item, 'dst', `${at}.`);
    if (!dst.startsWith('/')) fail(cfg, `${at}.dst must be absolute, got "${dst}"`);
    return {
      src: type === 'dir' ? '' : reqStr(cfg, item, 'src', `${at}.`),
      dst,
      type: type as ContentType,
      mode: modeText === undefined ? null : parseInt(modeText, 8),
      packager,
    };
  });
}

function scriptsOf(cfg: ParsedConfig, v: YamlValue | undefined, where: string): Scripts {
  if (v === undefined) return {};
  if (!isMap(v)) fail(cfg, `${where} must be a mapping`);
  checkKeys(cfg, v, SCRIPT_KEYS, `${where}.`);
  const out: Scripts = {};
  for (const k of SCRIPT_KEYS) if (k in v) out[k as keyof Scripts] = reqStr(cfg, v, k, `${where}.`);
  return out;
}

/**
 * nfpm's rpm triggers (goreleaser/nfpm PR #1118: `rpm.triggers` entries of type, script, interpreter,
 * conditions) were still under review when this was written, and nfpm refuses unknown keys; so the
 * triggers live beside nfpm.yaml in packaging/rpm/triggers.yaml, in that shape. Once an nfpm release
 * has them, moving the list under `rpm:` in nfpm.yaml is a cut and paste.
 */
export async function loadRpmTriggers(file: string): Promise<RpmTrigger[]> {
  const root = parseYamlSubset(await readFile(file, 'utf8'), file);
  const cfg = { file, root: isMap(root) ? root : {} };
  if (!isMap(root)) fail(cfg, 'the top level must be a mapping');
  checkKeys(cfg, root, ['triggers'], '');
  return rpmTriggersOf(cfg, root['triggers']);
}

function rpmTriggersOf(cfg: ParsedConfig, v: YamlValue | undefined): RpmTrigger[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(cfg, 'triggers must be a sequence');
  return v.map((t, i) => {
    const at = `triggers[${i}].`;
    if (!isMap(t)) fail(cfg, `triggers[${i}] must be a mapping`);
    checkKeys(cfg, t, ['type', 'conditions', 'script'], at);
    const type = reqStr(cfg, t, 'type', at);
    if (!['in', 'un', 'postun', 'prein'].includes(type)) fail(cfg, `${at}type must be in, un, postun or prein, got "${type}"`);
    const conditions = strList(cfg, t['conditions'], `${at}conditions`);
    if (!conditions.length) fail(cfg, `${at}conditions must name at least one package`);
    return { type: type as RpmTrigger['type'], conditions, script: reqStr(cfg, t, 'script', at) };
  });
}

function expand(cfg: ParsedConfig, text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    const value = env[name];
    if (value === undefined) {
      // Validation passes run without an environment; the real build must have every variable.
      if (Object.keys(env).length === 0) return `\${${name}}`;
      fail(cfg, `version uses \${${name}}, which is not set`);
    }
    return value;
  });
}

function isMap(v: YamlValue | undefined): v is Map {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(cfg: ParsedConfig, m: Map, allowed: string[], prefix: string): void {
  for (const k of Object.keys(m)) if (!allowed.includes(k)) fail(cfg, `${prefix}${k}: not part of the nfpm subset this project reads (allowed here: ${allowed.join(', ')})`);
}

function reqStr(cfg: ParsedConfig, m: Map, key: string, prefix: string): string {
  const v = optStr(cfg, m, key, prefix);
  if (v === undefined || v === '') fail(cfg, `${prefix}${key} is required`);
  return v;
}

function optStr(cfg: ParsedConfig, m: Map, key: string, prefix: string): string | undefined {
  const v = m[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(cfg, `${prefix}${key} must be a scalar`);
  return v;
}

function optMap(cfg: ParsedConfig, m: Map, key: string, prefix: string): Map | undefined {
  const v = m[key];
  if (v === undefined) return undefined;
  if (!isMap(v)) fail(cfg, `${prefix}${key} must be a mapping`);
  return v;
}

function strList(cfg: ParsedConfig, v: YamlValue | undefined, where: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(cfg, `${where} must be a sequence of scalars`);
  return v as string[];
}

function fail(cfg: ParsedConfig, message: string): never {
  throw new NfpmConfigError(`${cfg.file}: ${message}`);
}
