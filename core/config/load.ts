// Loading a configuration (SPEC §10): TOML text + environment → a validated, frozen `Config`
// and the source of every effective value, or the complete list of problems.
//
// Pure: the caller reads the file and the environment (runtimes/ does) and passes them in.
//
// Steps, each reporting every problem it finds rather than stopping at the first:
//  1. parse the TOML (smol-toml); a syntax error is reported with its line and column and ends
//     the load (nothing after it is meaningful);
//  2. every section must be a table; missing sections become empty tables, so a missing
//     required key is reported by its own name;
//  3. environment overrides (env.ts: naming rule, precedence, sources);
//  4. unknown keys, in sections and in array-element tables, with the closest known key;
//  5. the valibot schema from schema.ts: types, ranges, formats, required keys, cross-key rules.
// Problems never contain a secret value: secrets print as <redacted> (schema.ts marks them).
import { parse as parseToml } from 'smol-toml';
import * as v from 'valibot';
import { applyEnvironment, envNameOf, structuredCloneJson, suggest, type SourceTrack } from './env.ts';
import { CONFIG_KEYS, PRESENCE_ENABLED_SECTIONS, SECTION_NAMES, configSchema, keyMeta, type Config, type KeyMeta, type Leaf } from './schema.ts';

export interface ConfigProblem {
  readonly kind: 'syntax' | 'unknown-key' | 'unknown-env' | 'missing' | 'invalid' | 'conflict';
  /** Key path (`gateway.mode`, `auth.allowlist[0].password`), the variable name for an unknown
   * variable, or `<file>:<line>:<column>` for a TOML syntax error. */
  readonly key: string;
  /** Everything after `<key>: ` in `error: <key>: <message>`. */
  readonly message: string;
  /** The offending value as printed (secrets redacted). */
  readonly value?: string;
  /** What was expected, in words. */
  readonly expected?: string;
  /** The environment variable that sets this key (or set the bad value). */
  readonly envName?: string;
  readonly line?: number;
  readonly column?: number;
}

export interface ConfigSource {
  /** `env` when any environment variable contributed, else `file` or `default`. */
  readonly origin: 'default' | 'file' | 'env';
  readonly fromFile: boolean;
  readonly envNames: readonly string[];
  /** `default`, `file`, `env:NAME`, or `file + env:NAME, env:NAME2` for array refinements. */
  readonly label: string;
}

export type ConfigSources = Readonly<Record<string, ConfigSource>>;

export interface LoadInput {
  readonly tomlText?: string;
  /** Used in syntax-error locations only. */
  readonly fileName?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export type LoadResult =
  | { readonly ok: true; readonly config: Config; readonly sources: ConfigSources }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

export function loadConfig(input: LoadInput): LoadResult {
  // 1. Parse.
  let fileTree: Record<string, unknown> = {};
  if (input.tomlText !== undefined) {
    try {
      fileTree = parseToml(input.tomlText) as Record<string, unknown>;
    } catch (error) {
      const e = error as { line?: number; column?: number; message?: string };
      const line = e.line ?? 1;
      const column = e.column ?? 1;
      // First line only: smol-toml appends a code excerpt, which may show a secret.
      const reason = String(e.message ?? error).split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      return {
        ok: false,
        problems: [{ kind: 'syntax', key: `${input.fileName ?? 'config'}:${line}:${column}`, message: `TOML syntax error at line ${line}, column ${column}: ${reason}`, line, column }],
      };
    }
  }

  const problems: ConfigProblem[] = [];
  const tree: Record<string, Record<string, unknown>> = {};
  const sources = new Map<string, SourceTrack>();

  // 2. Sections.
  for (const [top, value] of Object.entries(fileTree)) {
    if (!SECTION_NAMES.includes(top)) {
      problems.push({ kind: 'unknown-key', key: top, message: `unknown key${_hintFor(top, undefined)}` });
      continue;
    }
    if (!_isPlainObject(value)) {
      problems.push({ kind: 'invalid', key: top, value: _plain(value), expected: `a table [${top}]`, message: `got ${_plain(value)}, expected a table [${top}]` });
      continue;
    }
    tree[top] = structuredCloneJson(value);
    for (const key of Object.keys(value)) if (keyMeta(`${top}.${key}`)) sources.set(`${top}.${key}`, { file: true, env: [] });
  }
  for (const section of SECTION_NAMES) tree[section] ??= {};

  // 3. Environment.
  problems.push(...applyEnvironment(tree, input.env, sources));

  // 3b. Optional roles whose section, when present, enables them (issue 10): their anchor key is
  // optional in the table (an absent section must not be an error) but required once the section
  // exists in the file or any of its keys comes from the environment.
  for (const [section, anchor] of PRESENCE_ENABLED_SECTIONS) {
    const present = Object.prototype.hasOwnProperty.call(fileTree, section) || Object.keys(tree[section] ?? {}).length > 0;
    if (present && (tree[section] as Record<string, unknown>)[anchor] === undefined) {
      const meta = keyMeta(`${section}.${anchor}`)!;
      const envName = envNameOf([section, anchor]);
      problems.push({
        kind: 'missing',
        key: `${section}.${anchor}`,
        envName,
        expected: meta.leaf.type,
        message: `required when [${section}] is present; expected ${meta.leaf.type}; set ${anchor} in [${section}] or env ${envName}`,
      });
    }
  }

  // 4. Unknown keys.
  for (const section of SECTION_NAMES) {
    for (const [key, value] of Object.entries(tree[section]!)) {
      const meta = keyMeta(`${section}.${key}`);
      if (!meta) {
        problems.push({ kind: 'unknown-key', key: `${section}.${key}`, message: `unknown key${_hintFor(key, section)}` });
        continue;
      }
      const fields = meta.leaf.element?.fields;
      if (!fields || !Array.isArray(value)) continue;
      value.forEach((element, i) => {
        if (!_isPlainObject(element)) return; // the schema reports the element's type
        for (const name of Object.keys(element)) {
          if (fields[name]) continue;
          const hint = suggest(name, Object.keys(fields));
          problems.push({
            kind: 'unknown-key',
            key: `${meta.path}[${i}].${name}`,
            message: `unknown field${hint ? ` (did you mean ${hint}?)` : ''}; expected ${meta.leaf.element!.type}${_fromEnv(meta.path, [section, key, i], sources)}`,
          });
        }
      });
    }
  }

  // 5. Schema.
  const result = v.safeParse(configSchema, tree, { abortEarly: false, abortPipeEarly: false });
  const seen = new Set(problems.map((p) => p.key));
  for (const issue of result.issues ?? []) {
    const problem = _problemFromIssue(issue, tree, sources);
    if (seen.has(problem.key)) continue; // one line per key: the first (most basic) issue wins
    seen.add(problem.key);
    problems.push(problem);
  }

  if (problems.length > 0 || !result.success) return { ok: false, problems };

  const effective: Record<string, ConfigSource> = {};
  for (const k of CONFIG_KEYS) effective[k.path] = _source(sources.get(k.path));
  return { ok: true, config: deepFreeze(result.output), sources: Object.freeze(effective) };
}

/** `<key>: <message>`, the text after `error: ` in `config check`. */
export function formatProblem(problem: ConfigProblem): string {
  return `${problem.key}: ${problem.message}`;
}

export interface EffectiveEntry {
  readonly path: string;
  /** Printed value: TOML-like, secrets `<redacted>`, `(unset)` for an unset optional key. */
  readonly value: string;
  readonly source: ConfigSource;
  readonly secret: boolean;
}

/** Every key's effective value with its source, in table order (for `config print`). */
export function describeConfig(config: Config, sources: ConfigSources): EffectiveEntry[] {
  return CONFIG_KEYS.map((k) => {
    const value = (config as unknown as Record<string, Record<string, unknown>>)[k.section]![k.key];
    return {
      path: k.path,
      value: value === undefined ? '(unset)' : formatValue(value, k.leaf, k.secret),
      source: sources[k.path] ?? _source(undefined),
      secret: k.secret || k.secretFields.length > 0,
    };
  });
}

/**
 * Print a value for a human, TOML-like. `secret` values print as `<redacted>`, as do secret
 * fields inside tables, and anything whose shape is unexpected but whose leaf holds a secret.
 * URLs have their userinfo masked.
 */
export function formatValue(value: unknown, leaf: Leaf | undefined, secret: boolean): string {
  if (secret) return '<redacted>';
  if (leaf?.kind === 'array' && Array.isArray(value)) {
    return `[${value.map((x) => formatValue(x, leaf.element, false)).join(', ')}]`;
  }
  if (leaf?.kind === 'table' && _isPlainObject(value)) {
    const parts = Object.entries(value).map(([k, x]) => {
      const f = leaf.fields?.[k];
      return `${k} = ${formatValue(x, f?.leaf, f?.secret ?? false)}`;
    });
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  if (leaf && _containsSecret(leaf)) return '<redacted>';
  if (leaf?.url && typeof value === 'string') return JSON.stringify(value.replace(/\/\/[^/?#@\s]*@/, '//<redacted>@'));
  return _plain(value);
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const x of Object.values(value)) deepFreeze(x);
    Object.freeze(value);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------

function _problemFromIssue(issue: v.BaseIssue<unknown>, tree: Record<string, unknown>, sources: Map<string, SourceTrack>): ConfigProblem {
  const path = (issue.path ?? []).map((p) => p.key as string | number);
  const key = formatPath(path);
  const meta = typeof path[0] === 'string' && typeof path[1] === 'string' ? keyMeta(`${path[0]}.${path[1]}`) : undefined;

  // Cross-key rule (forwarded partial_check): its message is the whole explanation.
  if (issue.type === 'partial_check') {
    const missing = meta && _getAt(tree, path) === undefined;
    return { kind: missing ? 'missing' : 'conflict', key, message: issue.message, ...(meta ? { envName: envNameOf([meta.section, meta.key]) } : {}) };
  }

  const { leaf, secret } = _leafAt(meta, path);
  const value = _getAt(tree, path);
  if (value === undefined && meta) {
    if (path.length === 2) {
      const envName = envNameOf(path);
      return {
        kind: 'missing',
        key,
        envName,
        expected: leaf?.type,
        message: `required key not set; expected ${leaf?.type}; set ${meta.key} in [${meta.section}] or env ${envName}`,
      };
    }
    const envName = envNameOf(path);
    return { kind: 'missing', key, envName, expected: leaf?.type, message: `required field not set; expected ${leaf?.type}; set ${String(path.at(-1))} in this entry or env ${envName}` };
  }

  const shown = formatValue(value, leaf, secret);
  const expected = leaf?.type ?? issue.expected ?? 'a valid value';
  // Our own checks (raw_check) explain which part is wrong; valibot's generic messages only
  // repeat the expectation, which `leaf.type` already states.
  const detail = issue.type === 'raw_check' ? ` (${issue.message})` : '';
  return {
    kind: 'invalid',
    key,
    value: shown,
    expected,
    ...(meta ? { envName: envNameOf(path) } : {}),
    message: `got ${shown}${meta ? _fromEnv(meta.path, path, sources) : ''}, expected ${expected}${detail}`,
  };
}

/** `['auth', 'allowlist', 0, 'password']` → `auth.allowlist[0].password`. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function _leafAt(meta: KeyMeta | undefined, path: readonly (string | number)[]): { leaf: Leaf | undefined; secret: boolean } {
  if (!meta) return { leaf: undefined, secret: false };
  if (path.length === 2) return { leaf: meta.leaf, secret: meta.secret };
  const element = meta.leaf.element;
  if (path.length === 3) return { leaf: element, secret: meta.secret };
  const field = element?.fields?.[String(path[3])];
  return { leaf: field?.leaf, secret: meta.secret || (field?.secret ?? false) };
}

function _getAt(tree: unknown, path: readonly (string | number)[]): unknown {
  let node = tree;
  for (const p of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[p];
  }
  return node;
}

/** ` (from RESERVEGRID_...)` when the value at `path` was set by the environment. */
function _fromEnv(keyPath: string, path: readonly (string | number)[], sources: Map<string, SourceTrack>): string {
  const names = sources.get(keyPath)?.env ?? [];
  if (names.length === 0) return '';
  for (let n = path.length; n >= 1; n--) {
    const name = envNameOf(path.slice(0, n));
    if (names.includes(name)) return ` (from ${name})`;
  }
  // Element-level names that do not cover this path mean the value itself came from the file.
  return names.some((x) => x.startsWith(envNameOf(path.slice(0, 2)) + '__')) ? '' : ` (from ${names[0]})`;
}

function _hintFor(word: string, section: string | undefined): string {
  // The same key name in another section is the likeliest mistake (`[timing] share_batch_interval_ms`).
  const sameName = CONFIG_KEYS.filter((k) => k.key === word && k.section !== section).map((k) => k.path);
  if (sameName.length > 0) return ` (did you mean ${sameName.join(' or ')}?)`;
  const candidates = section === undefined ? [...SECTION_NAMES] : CONFIG_KEYS.filter((k) => k.section === section).map((k) => k.key);
  const hint = suggest(word, candidates) ?? suggest(section ? `${section}.${word}` : word, CONFIG_KEYS.map((k) => k.path));
  if (!hint) return '';
  return ` (did you mean ${section !== undefined && !hint.includes('.') ? `${section}.${hint}` : hint}?)`;
}

function _source(track: SourceTrack | undefined): ConfigSource {
  if (!track || (!track.file && track.env.length === 0)) return { origin: 'default', fromFile: false, envNames: [], label: 'default' };
  const env = track.env.map((n) => `env:${n}`).join(', ');
  return {
    origin: track.env.length > 0 ? 'env' : 'file',
    fromFile: track.file,
    envNames: [...track.env],
    label: track.file ? (env ? `file + ${env}` : 'file') : env,
  };
}

function _containsSecret(leaf: Leaf): boolean {
  if (leaf.element) return _containsSecret(leaf.element);
  return Object.values(leaf.fields ?? {}).some((f) => f.secret || _containsSecret(f.leaf));
}

function _isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  // smol-toml builds tables with a null prototype.
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function _plain(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === undefined) return '(unset)';
  if (Array.isArray(value)) return `[${value.map(_plain).join(', ')}]`;
  if (_isPlainObject(value)) {
    const parts = Object.entries(value).map(([k, x]) => `${k} = ${_plain(x)}`);
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  try {
    return String(value); // TOML dates
  } catch {
    return typeof value;
  }
}
