// README "Tests that need btcd" (issue 14 item 8): its list of files is exactly the set of test
// files that register cases through the btcd skip helper (testWithBtcd, test/support/btcd.ts),
// and the skip reason it quotes is the helper's own.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { BTCD_MISSING_REASON } from '../support/btcd.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return testFiles(path);
    return name.endsWith('.test.ts') ? [relative(root, path).split('\\').join('/')] : [];
  });
}

describe('README: tests that need btcd', () => {
  test('lists exactly the test files that call testWithBtcd, with the skip reason and the installer', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = /^## Tests that need btcd\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
    assert.ok(section !== undefined, 'README.md has a "## Tests that need btcd" section');
    const listed = [...section.matchAll(/^- `([^`]+\.test\.ts)`/gm)].map((m) => m[1]!).sort();
    const callers = ['conformance/cases', 'test/unit', 'test/integration']
      .flatMap((d) => testFiles(join(root, d)))
      .filter((file) => /\btestWithBtcd\(/.test(readFileSync(join(root, file), 'utf8')))
      .sort();
    assert.ok(callers.length >= 3, `found the btcd tests: ${callers.join(', ')}`);
    assert.deepEqual(listed, callers);
    assert.ok(section.replace(/\s+/g, ' ').includes(BTCD_MISSING_REASON), 'quotes the skip reason the helper prints');
    assert.ok(section.includes('scripts/install-btcd.sh') && section.includes('BTCD_BIN'));
  });
});
