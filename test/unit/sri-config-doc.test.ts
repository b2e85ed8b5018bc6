// docs/sri-config.md (issue 14 item 6): every key of ours it names exists in the config schema,
// its payout example loads, and, when SRI's crates are in the local cargo registry (the interop
// harness puts them there), every key of SRI's example pool and translator configs is in its
// tables.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { describe, readEnv, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { CONFIG_KEYS, CONFIG_TABLE } from '../../core/config/schema.ts';
import { loadConfig, formatProblem } from '../../core/config/index.ts';

const doc = readFileSync(new URL('../../docs/sri-config.md', import.meta.url), 'utf8');

interface Row {
  readonly table: string;
  readonly sri: string;
  readonly ours: string;
  readonly notes: string;
}

/** The rows of the two tables, by the `## ` heading above each. */
function rows(): Row[] {
  const out: Row[] = [];
  let heading = '';
  for (const line of doc.split('\n')) {
    if (line.startsWith('## ')) heading = line.slice(3).trim();
    const m = /^\| `([^`]+)` \| (.+?) \| (.+) \|$/.exec(line);
    if (m) out.push({ table: heading, sri: m[1]!, ours: m[2]!, notes: m[3]! });
  }
  return out;
}

const KEY_PATH = /^[a-z_]+\.[a-z_]+$/;
const ourKeys = new Set(CONFIG_KEYS.map((k) => k.path));

/** `section.key` tokens in backticks. */
const keysIn = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((t) => KEY_PATH.test(t));

/** Keys of an SRI example config: `a`, `section.key`, `section.sub.key`, `array[].key`. */
function flatten(tree: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([key, value]) => {
    const path = `${prefix}${key}`;
    if (Array.isArray(value) && value.length > 0 && value.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
      return [...new Set(value.flatMap((x) => flatten(x as Record<string, unknown>, `${path}[].`)))];
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)) return flatten(value as Record<string, unknown>, `${path}.`);
    return [path];
  });
}

function sriExamples(crate: string): string[] | undefined {
  const home = readEnv('CARGO_HOME') ?? join(readEnv('HOME') ?? '/root', '.cargo');
  const src = join(home, 'registry', 'src');
  if (!existsSync(src)) return undefined;
  for (const index of readdirSync(src)) {
    const dir = join(src, index, crate, 'config-examples');
    if (!existsSync(dir)) continue;
    return readdirSync(dir).flatMap((net) => readdirSync(join(dir, net)).filter((f) => f.endsWith('.toml')).map((f) => join(dir, net, f)));
  }
  return undefined;
}

describe('docs/sri-config.md: SRI pool and translator keys mapped to ours', () => {
  test('every key of ours in the tables (and their notes) exists in the schema; every row maps or says why not', () => {
    const all = rows();
    assert.ok(all.filter((r) => r.table.startsWith('`pool_sv2`')).length >= 20, 'pool table');
    assert.ok(all.filter((r) => r.table.startsWith('`translator_sv2`')).length >= 15, 'translator table');
    for (const r of all) {
      const ours = keysIn(r.ours);
      assert.ok(r.ours === '—' || ours.length > 0, `${r.sri}: our column is a key or —, got ${r.ours}`);
      for (const key of [...ours, ...keysIn(r.notes)]) assert.ok(ourKeys.has(key), `${r.sri}: ${key} is a config key (docs/configuration.md)`);
      assert.ok(r.notes.trim().length > 0, `${r.sri}: a note`);
    }
    for (const key of keysIn(doc)) assert.ok(ourKeys.has(key), `${key} (in the prose) is a config key`);
    // The payout forms it names are the schema's payout fields.
    const fields = Object.keys(CONFIG_TABLE.mining.payout.leaf.element!.fields!);
    for (const f of ['descriptor', 'address', 'script_hex']) assert.ok(fields.includes(f) && doc.includes(`\`${f}\``), f);
  });

  test('the payout example loads on top of deploy/config/example.toml', () => {
    const snippet = /```toml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(snippet !== undefined, 'a toml example');
    const tree = parseToml(readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8')) as Record<string, Record<string, unknown>>;
    Object.assign(tree['mining']!, (parseToml(snippet) as Record<string, Record<string, unknown>>)['mining']);
    const loaded = loadConfig({ tomlText: stringifyToml(tree), fileName: 'sri.toml', env: {} });
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.problems.map(formatProblem).join('\n'));
    assert.equal(loaded.config.mining.network, 'mainnet');
  });

  for (const [crate, heading] of [['pool_sv2-0.7.0', '`pool_sv2` 0.7.0'], ['translator_sv2-0.6.0', '`translator_sv2` 0.6.0']] as const) {
    const files = sriExamples(crate);
    const name = `every key of ${crate}'s example configs has a row`;
    if (files === undefined || files.length === 0) {
      test.skip(name, `${crate} is not in the cargo registry (npm run test:interop fetches it)`);
      continue;
    }
    test(name, () => {
      const listed = new Set(rows().filter((r) => r.table === heading).map((r) => r.sri));
      const missing = new Set<string>();
      for (const file of files) for (const key of flatten(parseToml(readFileSync(file, 'utf8')) as Record<string, unknown>)) if (!listed.has(key)) missing.add(key);
      assert.deepEqual([...missing], [], `keys of ${crate}'s config-examples missing from docs/sri-config.md (${files.length} files)`);
    });
  }
});
