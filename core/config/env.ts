// Environment overrides (SPEC §10): ONE naming rule for every key, nested keys, array elements
// and whole arrays or tables.
//
//   RESERVEGRID_<SECTION>__<KEY>[__<INDEX>[__<FIELD>]]     upper case, `__` between segments
//
//   RESERVEGRID_GATEWAY__MODE=inline                          a key
//   RESERVEGRID_TIMING__PREVHASH_VERDICT_TIMEOUT_MS=50        scalars are parsed by the key's type
//   RESERVEGRID_AUTH__ALLOWLIST__0__USERNAME=miner1           one field of one array element
//   RESERVEGRID_AUTH__ALLOWLIST__1={ username = "b", password = "p" }   one whole element (TOML)
//   RESERVEGRID_AUTH__ALLOWLIST=[{ username = "a", password = "b" }]    a whole array (TOML)
//   RESERVEGRID_TIMING={ nonce_expire_secs = 30 }             several keys of one section (TOML)
//
// Why `__`: key names are snake_case with single underscores, so a double underscore can never
// be part of a name, and the mapping is reversible without a lookup table.
//
// Values:
//  - a scalar key (string, integer, number, boolean) takes the variable's text AS IS, converted by
//    the key's declared type: never TOML-quoted, never guessed (`"007"` for a string key is the
//    five characters `"007"`). Integers may use `_` separators; booleans are `true` / `false`.
//    An empty value is a value (the empty string), not "unset".
//  - an array, a table or a section takes a TOML inline value (parsed with smol-toml as the
//    right-hand side of `v = ...`), exactly as it would be written in the file.
//
// Precedence: environment over file over default. Within the environment, wider assignments
// apply first and narrower ones refine them: section, then key, then element, then field, and
// elements in ascending index order. An element index may address an existing element or the one
// just past the end (append); gaps are errors.
//
// Typo safety: every variable starting with RESERVEGRID_ must name a key (except the reserved
// names in ENV_RESERVED); otherwise it is an error with the closest valid name.
import { parse as parseToml } from 'smol-toml';
import { CONFIG_KEYS, SECTION_NAMES, keyMeta, type KeyMeta, type Leaf } from './schema.ts';
import type { ConfigProblem } from './load.ts';

export const ENV_PREFIX = 'RESERVEGRID_';
export const ENV_SEPARATOR = '__';
/** RESERVEGRID_* names that are not config keys (read by the runtimes, ignored here). */
export const ENV_RESERVED: readonly string[] = ['RESERVEGRID_CONFIG'];

/** Env name of a path: `['auth', 'allowlist', 0, 'username']` → `RESERVEGRID_AUTH__ALLOWLIST__0__USERNAME`. */
export function envNameOf(path: readonly (string | number)[]): string {
  return ENV_PREFIX + path.map((p) => String(p).toUpperCase()).join(ENV_SEPARATOR);
}

export type EnvTarget =
  | { readonly kind: 'section'; readonly section: string }
  | { readonly kind: 'key'; readonly meta: KeyMeta }
  | { readonly kind: 'element'; readonly meta: KeyMeta; readonly index: number }
  | { readonly kind: 'field'; readonly meta: KeyMeta; readonly index: number; readonly field: string };

const _INDEX = /^(0|[1-9][0-9]{0,8})$/;

/** What a variable name addresses, or undefined if it addresses nothing. */
export function resolveEnvName(name: string): EnvTarget | undefined {
  if (!name.startsWith(ENV_PREFIX)) return undefined;
  const segments = name.slice(ENV_PREFIX.length).split(ENV_SEPARATOR);
  // Names are upper case by the rule; a lower-case variant is a different (unknown) name.
  if (segments.some((s) => s === '' || s !== s.toUpperCase())) return undefined;
  const [section, key, index, field, ...rest] = segments.map((s) => s.toLowerCase());
  if (section === undefined || !SECTION_NAMES.includes(section) || rest.length > 0) return undefined;
  if (key === undefined) return { kind: 'section', section };
  const meta = keyMeta(`${section}.${key}`);
  if (!meta) return undefined;
  if (index === undefined) return { kind: 'key', meta };
  if (meta.leaf.kind !== 'array' || !_INDEX.test(index)) return undefined;
  if (field === undefined) return { kind: 'element', meta, index: Number(index) };
  if (!meta.leaf.element?.fields?.[field]) return undefined;
  return { kind: 'field', meta, index: Number(index), field };
}

/** Every variable name the rule accepts for the current table, with `<i>` for indices. */
export function envNamePatterns(): string[] {
  const names: string[] = SECTION_NAMES.map((s) => envNameOf([s]));
  for (const k of CONFIG_KEYS) {
    names.push(envNameOf([k.section, k.key]));
    if (k.leaf.kind === 'array') {
      names.push(`${envNameOf([k.section, k.key])}__<i>`);
      for (const f of Object.keys(k.leaf.element?.fields ?? {})) names.push(`${envNameOf([k.section, k.key])}__<i>__${f.toUpperCase()}`);
    }
  }
  return names;
}

export type ParsedEnvValue = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

const _INTEGER = /^[+-]?[0-9]+(?:_[0-9]+)*$/;
const _NUMBER = /^[+-]?[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?(?:[eE][+-]?[0-9]+)?$/;

/**
 * Convert a variable's text to a value of `leaf`'s type. A scalar that does not parse is passed
 * on as the raw string so that validation reports it like any other bad value ("got "abc",
 * expected integer ..."). A composite that is not valid TOML is an error here.
 */
export function parseEnvValue(raw: string, leaf: Leaf): ParsedEnvValue {
  switch (leaf.kind) {
    case 'string':
      return { ok: true, value: raw };
    case 'integer':
      return { ok: true, value: _INTEGER.test(raw.trim()) ? Number(raw.trim().replaceAll('_', '')) : raw };
    case 'number':
      return { ok: true, value: _NUMBER.test(raw.trim()) ? Number(raw.trim().replaceAll('_', '')) : raw };
    case 'boolean':
      return { ok: true, value: raw.trim() === 'true' ? true : raw.trim() === 'false' ? false : raw };
    case 'array':
    case 'table':
      return parseTomlInline(raw, leaf.kind === 'array' ? 'array' : 'table');
  }
}

/** Parse `raw` as a TOML inline value of the given shape. Never echoes the text (it may hold secrets). */
export function parseTomlInline(raw: string, want: 'array' | 'table'): ParsedEnvValue {
  const expected = want === 'array' ? 'a TOML inline array like [ ... ]' : 'a TOML inline table like { key = value }';
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(`v = ${raw}`) as Record<string, unknown>;
  } catch (error) {
    const where = error && typeof error === 'object' && 'column' in error ? ` (column ${Math.max(1, Number(error.column) - 4)})` : '';
    return { ok: false, reason: `not valid TOML${where}; expected ${expected}` };
  }
  const keys = Object.keys(doc);
  const value = doc['v'];
  const isTable = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (keys.length !== 1 || (want === 'array' ? !Array.isArray(value) : !isTable)) {
    return { ok: false, reason: `expected ${expected}` };
  }
  return { ok: true, value };
}

/** Inverse of parseEnvValue: the text that sets `value` (scalars as is, composites as TOML inline). */
export function formatEnvValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return _tomlInline(value);
}

function _tomlInline(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value); // a JSON string literal is a valid TOML basic string
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : _tomlFloat(value);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(_tomlInline).join(', ')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, x]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k)} = ${_tomlInline(x)}`);
    return entries.length ? `{ ${entries.join(', ')} }` : '{}';
  }
  throw new TypeError(`formatEnvValue: cannot express ${String(value)} in TOML`);
}

function _tomlFloat(x: number): string {
  const s = String(x);
  return /[.eE]/.test(s) ? s.replace('e+', 'e') : `${s}.0`;
}

// ---------------------------------------------------------------------------------------------
// Applying the environment to a parsed file tree.

/** Where one key's effective value came from, accumulated while loading. */
export interface SourceTrack {
  file: boolean;
  env: string[];
}

const _RANK = { section: 0, key: 1, element: 2, field: 3 } as const;

/**
 * Apply every RESERVEGRID_* variable of `env` to `tree` (mutated; sections already exist as
 * objects). Records sources in `sources` (key path → track). Returns the problems found.
 */
export function applyEnvironment(
  tree: Record<string, Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  sources: Map<string, SourceTrack>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const assignments: { name: string; raw: string; target: EnvTarget }[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || !name.startsWith(ENV_PREFIX) || ENV_RESERVED.includes(name)) continue;
    const target = resolveEnvName(name);
    if (!target) {
      // Compare with indices abstracted (`__0__` → `__<i>__`) and put the index back afterwards.
      const indices = [...name.matchAll(/__([0-9]+)(?=__|$)/g)].map((m) => m[1]!);
      const found = suggest(name.replace(/__[0-9]+(?=__|$)/g, '__<i>'), envNamePatterns());
      const hint = found?.replace(/<i>/g, () => indices.shift() ?? '0');
      problems.push({
        kind: 'unknown-env',
        key: name,
        envName: name,
        message: `unknown environment variable${hint ? ` (did you mean ${hint}?)` : ''}; see docs/configuration.md for the naming rule`,
      });
      continue;
    }
    assignments.push({ name, raw, target });
  }
  assignments.sort((a, b) => {
    const r = _RANK[a.target.kind] - _RANK[b.target.kind];
    if (r !== 0) return r;
    const ia = 'index' in a.target ? a.target.index : 0;
    const ib = 'index' in b.target ? b.target.index : 0;
    return ia - ib || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  });

  const track = (path: string): SourceTrack => {
    let t = sources.get(path);
    if (!t) sources.set(path, (t = { file: false, env: [] }));
    return t;
  };

  for (const { name, raw, target } of assignments) {
    if (target.kind === 'section') {
      const parsed = parseTomlInline(raw, 'table');
      if (!parsed.ok) {
        problems.push({ kind: 'invalid', key: target.section, envName: name, message: `${name}: ${parsed.reason}` });
        continue;
      }
      for (const [key, value] of Object.entries(parsed.value as Record<string, unknown>)) {
        const meta = keyMeta(`${target.section}.${key}`);
        if (!meta) {
          const hint = suggest(`${target.section}.${key}`, CONFIG_KEYS.map((k) => k.path));
          problems.push({
            kind: 'unknown-key',
            key: `${target.section}.${key}`,
            envName: name,
            message: `unknown key (from ${name})${hint ? ` (did you mean ${hint}?)` : ''}`,
          });
          continue;
        }
        tree[target.section]![key] = value;
        const t = track(meta.path);
        t.file = false;
        t.env = [name];
      }
      continue;
    }

    const { meta } = target;
    const section = tree[meta.section]!;
    if (target.kind === 'key') {
      const parsed = parseEnvValue(raw, meta.leaf);
      if (!parsed.ok) {
        problems.push({ kind: 'invalid', key: meta.path, envName: name, message: `${name}: ${parsed.reason}` });
        continue;
      }
      section[meta.key] = parsed.value;
      const t = track(meta.path);
      t.file = false;
      t.env = [name];
      continue;
    }

    // Element or field of an array: start from the file's array, else the default, else [].
    const current = section[meta.key] ?? (Array.isArray(meta.default) ? structuredCloneJson(meta.default) : []);
    if (!Array.isArray(current)) {
      problems.push({ kind: 'invalid', key: meta.path, envName: name, message: `${name} addresses an element, but ${meta.path} is not an array` });
      continue;
    }
    const array = [...current];
    if (target.index > array.length) {
      problems.push({
        kind: 'invalid',
        key: `${meta.path}[${target.index}]`,
        envName: name,
        message: `${name}: index ${target.index} is past the end (the array has ${array.length} element${array.length === 1 ? '' : 's'}; indices must be contiguous)`,
      });
      continue;
    }
    const element = meta.leaf.element!;
    if (target.kind === 'element') {
      const parsed = parseEnvValue(raw, element);
      if (!parsed.ok) {
        problems.push({ kind: 'invalid', key: `${meta.path}[${target.index}]`, envName: name, message: `${name}: ${parsed.reason}` });
        continue;
      }
      array[target.index] = parsed.value;
    } else {
      const fieldLeaf = element.fields![target.field]!.leaf;
      const parsed = parseEnvValue(raw, fieldLeaf);
      if (!parsed.ok) {
        problems.push({ kind: 'invalid', key: `${meta.path}[${target.index}].${target.field}`, envName: name, message: `${name}: ${parsed.reason}` });
        continue;
      }
      const existing = array[target.index];
      const record = existing && typeof existing === 'object' && !Array.isArray(existing) ? { ...(existing as object) } : {};
      (record as Record<string, unknown>)[target.field] = parsed.value;
      array[target.index] = record;
    }
    section[meta.key] = array;
    track(meta.path).env.push(name);
  }
  return problems;
}

/** Deep copy of plain arrays and objects (other objects, e.g. TOML dates, are kept as is), so
 * defaults and parsed trees are never shared with a loaded config. */
export function structuredCloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(structuredCloneJson) as T;
  if (value && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, structuredCloneJson(x)])) as T;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// "Did you mean": the closest candidate by edit distance, if it is close enough to be a typo.

export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Levenshtein distance (insert, delete, substitute; each costs 1). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}
