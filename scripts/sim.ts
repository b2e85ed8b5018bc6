// `npm run sim -- --seed n [--steps k] [--seeds m] [--quiet] [--defect name]`: run the seeded
// fault simulation (test/support/sim/world.ts, docs/simulation.md). With one seed it prints the
// whole trace; with --seeds m it runs seeds n..n+m-1 and prints one line per failing seed and
// the throughput. Exit code 1 when any seed violates an invariant.
import { runSeed, type SimDefect } from '../test/support/sim/world.ts';

function arg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}
function flag(name: string): boolean {
  return process.argv.slice(2).includes(`--${name}`);
}
function intArg(name: string, fallback: number): number {
  const text = arg(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

const seed = intArg('seed', Number(process.env['RG_SIM_SEED'] ?? 1));
const steps = intArg('steps', 120);
const seeds = intArg('seeds', 1);
const defect = arg('defect') as SimDefect | undefined;
const quiet = flag('quiet') || seeds > 1;

let failed = 0;
const started = performance.now();
for (let s = seed; s < seed + seeds; s++) {
  const report = runSeed({ seed: s, steps, ...(defect === undefined ? {} : { defect }), ...(quiet ? {} : { trace: (line: string) => console.log(line) }) });
  if (report.violation !== undefined) {
    failed++;
    console.log(`seed ${s}: VIOLATION ${report.violation.invariant} at step ${report.violation.step}: ${report.violation.detail}`);
    console.log(`  reproduce: npm run sim -- --seed ${s} --steps ${steps}${defect ? ` --defect ${defect}` : ''}`);
  } else if (seeds === 1) {
    console.log(`seed ${s}: ok (${report.mode}, ${report.policy}) digest ${report.digest} ${JSON.stringify(report.stats)}`);
  }
}
const secs = (performance.now() - started) / 1000;
if (seeds > 1) console.log(`${seeds} seeds (${seed}..${seed + seeds - 1}), ${steps} steps each: ${failed} failed, ${secs.toFixed(1)} s, ${(seeds / secs).toFixed(1)} seeds/s`);
process.exit(failed > 0 ? 1 : 0);
