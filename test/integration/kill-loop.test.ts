// kill -9 at seeded random points (issue 12 acceptance), the small count that runs in `npm test`
// on every runtime; `npm run soak` runs the same loop with hundreds of kills per runtime
// (scripts/soak.ts). The loop and what it checks: test/support/kill-loop.ts. RG_KILLS=<n>
// changes the count here; RG_SEED reproduces a run (the seed is printed).
import { describe, readEnv, runtime, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { formatKillLoopReport, runKillLoop } from '../support/kill-loop.ts';

const KILLS = Number(readEnv('RG_KILLS') ?? '6');

describe(`kill -9 loop (${runtime})`, () => {
  test(`${KILLS} kills of the real gateway stack at random points: every acknowledged share reaches the backend exactly once`, async () => {
    // The journal is written before the acknowledgement (issue 12 defect 2): no loss is allowed.
    const report = await runKillLoop({ kills: KILLS, seed, ackAfterJournal: true });
    console.log(`    ${formatKillLoopReport(report)}`);
    assert.deepEqual(report.violations, []);
    assert.ok(report.acked > 0 && report.ackedInBackend > 0, 'shares were acknowledged and forwarded');
  }, { timeoutMs: 240_000 });
});
