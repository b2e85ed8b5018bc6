// The purity check must pass on core/ as it is, and must fail when a forbidden import or
// global is added under core/ (issue #2 acceptance). The probe runs on a temporary copy of
// core/, so the real tree is never modified.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { checkPurity } from '../../scripts/check-purity.ts';

const coreDir = fileURLToPath(new URL('../../core', import.meta.url));

function withProbe(source: string, check: (violations: ReturnType<typeof checkPurity>) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'rg-purity-'));
  try {
    const copy = join(dir, 'core');
    cpSync(coreDir, copy, { recursive: true });
    writeFileSync(join(copy, '_probe.ts'), source);
    check(checkPurity(copy));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('core purity check', () => {
  test('core/ as committed is pure', () => {
    assert.deepEqual(checkPurity(coreDir), []);
  });

  const forbidden: [string, string][] = [
    ["import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n", "imports 'node:fs'"],
    ["import { Hono } from 'hono';\nexport const h = Hono;\n", "imports 'hono'"],
    ["import { SystemClock } from '../adapters/clock.ts';\nexport const c = SystemClock;\n", "imports '../adapters/clock.ts'"],
    ['export const now = () => Date.now();\n', "uses host global 'Date'"],
    ['export const t = () => setTimeout(() => {}, 1);\n', "uses host global 'setTimeout'"],
    ['export const p = () => performance.now();\n', "uses host global 'performance'"],
    ['export const e = () => process.env.HOME;\n', "uses host global 'process'"],
    ['export const d = () => Deno.args;\n', "uses host global 'Deno'"],
    ['export const b = () => Bun.version;\n', "uses host global 'Bun'"],
    ['export const r = (a: Uint8Array) => crypto.getRandomValues(a);\n', "uses host global 'crypto'"],
    ["export const m = () => import('node:net');\n", 'dynamic import'],
  ];
  for (const [source, what] of forbidden) {
    test(`a probe that ${what} fails the check`, () => {
      withProbe(source, (violations) => {
        assert.equal(violations.length >= 1, true, `expected a violation for: ${source}`);
        assert.equal(violations.some((v) => v.file.endsWith('_probe.ts') && v.what === what), true, JSON.stringify(violations));
      });
    });
  }

  test('comments, strings and property names are not flagged', () => {
    withProbe(
      "// Date.now() and setTimeout are mentioned here only\nexport const s = 'process.env';\nexport const o = { Date: 1 };\nexport const v = o.Date;\n",
      (violations) => assert.deepEqual(violations, []),
    );
  });
});
