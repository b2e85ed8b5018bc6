// docs/reliability.md is tested against the code (issue 12 item 7, "docs are code"): in its
// fault table every reason code named exists in core/reason-codes.ts, every config key in
// core/config/schema.ts, every counter in the gateway's /metrics (GatewayMetrics registry),
// every test file linked exists; and every admission/limits code and `limits.*` key the
// product has is in the table, so a new limit cannot ship without its row.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { REASON_CODES, isReasonCode } from '../../core/reason-codes.ts';
import { CONFIG_KEYS, keyMeta } from '../../core/config/schema.ts';
import { GatewayMetrics } from '../../core/metrics/gateway-metrics.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const doc = readFileSync(`${root}docs/reliability.md`, 'utf8');

/** Rows of the first table whose header starts with `| Fault`, as cells. */
function faultTable(): { header: string[]; rows: string[][] } {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| Fault'));
  assert.ok(start >= 0, 'docs/reliability.md has a table whose first column is "Fault ..."');
  const cells = (line: string): string[] => line.slice(1, -1).split(' | ').map((c) => c.trim());
  const header = cells(lines[start]!);
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(cells(lines[i]!));
  return { header, rows };
}

const ticks = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

describe('docs/reliability.md against the code', () => {
  const { header, rows } = faultTable();
  const col = (name: string): number => {
    const i = header.indexOf(name);
    assert.ok(i >= 0, `column "${name}" in ${JSON.stringify(header)}`);
    return i;
  };

  test('the fault table has its columns and every row fills them', () => {
    for (const name of ['Fault or hostile input', 'Handled by', 'Reason code', 'Counter', 'Tested in']) col(name);
    assert.ok(rows.length >= 20, `${rows.length} rows`);
    for (const row of rows) assert.equal(row.length, header.length, `row ${JSON.stringify(row[0])} has ${row.length} cells`);
  });

  test('every reason code named exists in the registry', () => {
    const c = col('Reason code');
    for (const row of rows) for (const code of ticks(row[c]!)) assert.ok(isReasonCode(code), `${code} (row ${row[0]}) is not in core/reason-codes.ts`);
  });

  test('every config key named exists in the schema', () => {
    const c = col('Handled by');
    for (const row of rows) {
      for (const token of ticks(row[c]!)) {
        if (/^[a-z_]+\.[a-z_]+$/.test(token)) assert.ok(keyMeta(token) !== undefined, `${token} (row ${row[0]}) is not a config key`);
      }
    }
  });

  test('every counter named exists in /metrics', () => {
    const names = new Set(new GatewayMetrics({ mode: 'observe' }).registry.names());
    const c = col('Counter');
    let named = 0;
    for (const row of rows) {
      for (const token of ticks(row[c]!)) {
        const name = token.replace(/\{.*$/, '');
        assert.ok(names.has(name), `${name} (row ${row[0]}) is not a metric of GatewayMetrics`);
        named++;
      }
    }
    assert.ok(named >= rows.length / 2, 'most rows name their counter');
  });

  test('every test file linked exists', () => {
    const c = col('Tested in');
    for (const row of rows) {
      const links = [...row[c]!.matchAll(/\]\(\.\.\/([^)#]+)/g)].map((m) => m[1]!);
      assert.ok(links.length > 0 || row[c] === '—', `row ${row[0]} links its test`);
      for (const path of links) assert.ok(existsSync(`${root}${path}`), `${path} (row ${row[0]}) does not exist`);
    }
  });

  test('every limits.* key and every admission code is in the table', () => {
    const table = rows.map((r) => r.join(' | ')).join('\n');
    for (const k of CONFIG_KEYS.filter((x) => x.section === 'limits')) assert.ok(table.includes(`\`${k.path}\``), `${k.path} has no row`);
    for (const code of Object.keys(REASON_CODES).filter((x) => REASON_CODES[x as keyof typeof REASON_CODES].emittedBy.startsWith('gateway admission') || x === 'invalid_share_budget_exceeded')) {
      assert.ok(table.includes(`\`${code}\``), `${code} has no row`);
    }
  });
});
