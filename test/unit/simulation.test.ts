// The seeded fault simulation (test/support/sim/world.ts, docs/simulation.md; issue 12 build
// item 2) run as part of `npm test` on every runtime:
//   - a fixed block of seeds per runtime (different blocks on node, deno and bun, so one
//     `npm test` covers three times as many), every invariant checked after every pass; a
//     failure names the seed and the command that replays it;
//   - a seed replays exactly (same trace digest and figures twice);
//   - the simulator CAN find bugs: each injected defect is reported as the invariant it breaks,
//     with its seed.
// Knobs: RG_SIM_SEEDS (seeds per runtime, default node 150, deno and bun 300: about 60 s each on a loaded 2-core machine), RG_SIM_STEPS (default 100),
// RG_SIM_SEED_BASE (first seed), RG_SIM_SEED=<n> (run just that seed, trace printed on failure).
import { readFileSync } from 'node:fs';
import { describe, readEnv, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { INVARIANTS, runSeed, type SimDefect, type SimReport } from '../support/sim/world.ts';

function intEnv(name: string, fallback: number): number {
  const text = readEnv(name);
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return n;
}

const RUNTIME_BASE: Record<typeof runtime, number> = { node: 1, deno: 100_001, bun: 200_001 };
// Sized for ~60 s per runtime on a loaded 2-core machine (docs/simulation.md "Measured"): Node 20's
// older V8 runs noble's field arithmetic (the handshakes) at about half the speed of Deno and Bun.
const SEEDS_DEFAULT: Record<typeof runtime, number> = { node: 150, deno: 300, bun: 300 };
const STEPS_DEFAULT = 100;
const single = readEnv('RG_SIM_SEED');
const steps = intEnv('RG_SIM_STEPS', STEPS_DEFAULT);
const count = intEnv('RG_SIM_SEEDS', SEEDS_DEFAULT[runtime]);
const base = intEnv('RG_SIM_SEED_BASE', RUNTIME_BASE[runtime]);

const expectations: readonly [SimDefect, string][] = [
  ['drop-result', 'result-missing'],
  ['ack-before-journal', 'ack-not-durable'],
  ['double-result', 'result-twice'],
  ['journal-skips-accept', 'ack-not-durable'],
];

function describeFailure(r: SimReport): string {
  const v = r.violation!;
  return `seed ${r.seed} (${r.mode}, ${r.policy}): ${v.invariant} at step ${v.step}: ${v.detail}; replay: RG_SIM_SEED=${r.seed} RG_SIM_STEPS=${steps} or npm run sim -- --seed ${r.seed} --steps ${steps}`;
}

describe('fault simulation', () => {
  if (single !== undefined && single !== '') {
    test(`seed ${single} (RG_SIM_SEED)`, () => {
      const lines: string[] = [];
      const report = runSeed({ seed: intEnv('RG_SIM_SEED', 0), steps, trace: (l) => lines.push(l) });
      if (report.violation !== undefined) console.log(lines.join('\n'));
      assert.equal(report.violation, undefined, report.violation ? describeFailure(report) : '');
    }, { timeoutMs: 600_000 });
    return;
  }

  test(`${count} seeds (${base}..${base + count - 1}, ${steps} steps each) keep every invariant`, () => {
    const started = Date.now();
    const failures: string[] = [];
    const totals = { crashes: 0, sharesAcked: 0, recovered: 0, blocksFound: 0, staleHoldDisconnects: 0, passes: 0 };
    for (let s = base; s < base + count; s++) {
      const report = runSeed({ seed: s, steps });
      if (report.violation !== undefined) failures.push(describeFailure(report));
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += report.stats[k];
    }
    const secs = (Date.now() - started) / 1000;
    console.log(`  simulation on ${runtime}: ${count} seeds in ${secs.toFixed(1)} s (${(count / secs).toFixed(1)} seeds/s): ${JSON.stringify(totals)}`);
    assert.deepEqual(failures, [], `seeds that break an invariant:\n${failures.join('\n')}`);
    // The faults the invariants are about must actually happen, or the run proves nothing.
    assert.ok(totals.crashes > count / 2, `crashes happened (${totals.crashes})`);
    assert.ok(totals.recovered > 0 && totals.sharesAcked > count && totals.blocksFound > 0, `shares were acked, recovered and blocks found: ${JSON.stringify(totals)}`);
  }, { timeoutMs: 900_000 });

  test('a seed replays exactly: same trace digest and figures', () => {
    const a = runSeed({ seed: base + 7, steps });
    const b = runSeed({ seed: base + 7, steps });
    assert.equal(a.digest, b.digest);
    assert.deepEqual(a.stats, b.stats);
    const c = runSeed({ seed: base + 8, steps });
    assert.notEqual(a.digest, c.digest, 'another seed is another run');
  }, { timeoutMs: 120_000 });

  test('docs/simulation.md names every invariant, defect, default and command the code has', () => {
    const doc = readFileSync(new URL('../../docs/simulation.md', import.meta.url), 'utf8');
    for (const name of INVARIANTS) assert.ok(doc.includes(`| \`${name}\` |`), `invariant ${name} missing from the table`);
    const tabled = [...doc.matchAll(/^\| `([a-z-]+)` \| /gm)].map((m) => m[1]!);
    for (const name of tabled) assert.ok((INVARIANTS as readonly string[]).includes(name), `the doc lists ${name}, the simulator has no such invariant`);
    for (const [defect, invariant] of expectations) assert.ok(doc.includes(`\`${defect}\``) && doc.includes(`| \`${invariant}\` |`), `defect ${defect} → ${invariant}`);
    assert.ok(doc.includes(`${SEEDS_DEFAULT.node} seeds on node, ${SEEDS_DEFAULT.deno} on deno, ${SEEDS_DEFAULT.bun} on bun, ${STEPS_DEFAULT} steps each`), 'npm test defaults');
    for (const [name, first] of Object.entries(RUNTIME_BASE)) assert.ok(doc.includes(`${name} ${first}..`), `seed block of ${name}`);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['sim'], 'node --import tsx scripts/sim.ts');
    const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');
    assert.ok(ci.includes('RG_SIM_SEEDS="${RG_SIM_SEEDS:-1000}"') && doc.includes('`.ci/run` sets 1000'), 'CI seed count as documented');
  });

  // Each defect breaks one rule of the driver or the forwarder (world.ts SimDefect); the
  // simulator must name the invariant it violates, and a seed that shows it.
  for (const [defect, invariant] of expectations) {
    test(`injected defect ${defect} is reported as ${invariant}, with its seed`, () => {
      const seen: string[] = [];
      for (let s = base; s < base + 30; s++) {
        const report = runSeed({ seed: s, steps, defect });
        if (report.violation === undefined) continue;
        assert.equal(report.violation.invariant, invariant, describeFailure(report));
        assert.equal(report.seed, s);
        // And the same seed reports the same violation at the same step again.
        const again = runSeed({ seed: s, steps, defect });
        assert.deepEqual(again.violation, report.violation);
        console.log(`  ${defect}: seed ${s} reports ${invariant} at step ${report.violation.step}: ${report.violation.detail}`);
        return;
      }
      assert.fail(`no seed of ${base}..${base + 29} detected ${defect} (${seen.join('; ')})`);
    }, { timeoutMs: 300_000 });
  }
});
