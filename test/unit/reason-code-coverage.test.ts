// Issue #4 acceptance: every registry code is emitted by at least one test. Mechanically: each
// code must appear as a quoted literal in at least one test file (where tests assert the code
// an event, a message or an outcome carried). A code no test can reach is dead weight in the
// registry and fails here; remove it or add the test that produces it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { REASON_CODES } from '../../core/reason-codes.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SELF = 'reason-code-coverage.test.ts';

function testSources(): string {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && name !== SELF && !name.startsWith('gen-')) files.push(path);
    }
  };
  // Test files and the scenario worlds they drive; never the registry or the docs generator.
  for (const dir of ['test/unit', 'test/integration', 'conformance/cases']) walk(join(root, dir));
  files.push(join(root, 'conformance/prevhash-world.ts'));
  return files.map((f) => readFileSync(f, 'utf8')).join('\n');
}

describe('reason-code coverage', () => {
  test('every registry code is asserted by at least one test', () => {
    const sources = testSources();
    const unasserted = Object.keys(REASON_CODES).filter((code) => !new RegExp(`['"\`]${code}['"\`]`).test(sources));
    assert.deepEqual(unasserted, [], `reason codes no test asserts: ${unasserted.join(', ')}`);
  });
});
