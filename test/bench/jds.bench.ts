// Job Declaration verdict latency (issue 11 acceptance; a script, never a test, SPEC §13): the
// SERVER side of one declaration, for 1,000 and 4,000 transactions. Per case: WARMUP_RUNS runs
// that are not counted (JIT and caches; the very first one is reported as `_first`), then RUNS
// measured runs; p50, p99 (the 198th of 200) and max of the wall-clock time in ms, and p50/p99 of
// the process's CPU time over the same region (`_cpu_`: what the verdict costs, without the time
// other processes held the cores; on the shared 2-core machine wall-clock p99 is mostly the
// latter). Cases:
//   - known:            every wtxid is a transaction of the released template, declared in the
//                       template's order (what a JDC whose Template Provider is this gateway
//                       declares); one round trip: the time from the encrypted DeclareMiningJob
//                       entering JdsSession.receive to the encrypted DeclareMiningJob.Success
//                       leaving pollTransmit (decrypt, decode, token, coinbase rebuild, wtxid
//                       resolution, witness commitment, merkle path, the policy engine, encode,
//                       encrypt)
//   - known_reordered:  the same transactions in another (fixed, seeded) order, as a JDC with its
//                       own node would declare them: no work can be shared with the template's
//   - 10pct_missing:    the template's first 90 % in order, then 10 % children of those the
//                       server has never seen: DeclareMiningJob → ProvideMissingTransactions plus
//                       ProvideMissingTransactions.Success → Success (decode, wtxid checks, fees
//                       from the parents' outputs, the verdict), summed; the client's own work
//                       (building and encrypting the messages) is outside the timed region.
// Every run's client inputs (children, DeclareMiningJob) are built before the first run, so the
// client's garbage does not trigger collections inside the server's timed region; `_gc_runs` (how
// many measured regions saw the heap shrink: a collection ran inside; a lower bound, blind on Bun)
// and `_nogc_p99` (p99 of the other runs) say how much of the tail is garbage collection;
// `_heap_kib` (p50 of the heap growth across those collection-free regions) is the server's
// garbage per declaration, a figure that does not depend on the load (V8's heap: meaningful on
// Node and Deno; test/bench/jds-alloc-profile.ts says where it is allocated). The world, the
// template and the client's inputs are test/bench/jds-cases.ts, shared with that profile.
// Also `template_index_<n>tx`: what TemplateCache.add + buildTrees cost when a template of n
// transactions arrives (digest index and the declaration merkle trees: work done once per
// template, on the gateway's pass after the release, before any declaration of it; p50 of 20).
// The server's crypto provider is the gateway's (`selectCryptoProvider('auto')`: native AEAD on
// Node and Deno, Bun's native SHA-256 on Bun), printed as the BENCH `provider`; `noble` as an
// argument measures the pure-TS provider instead. A size (1000, 4000) or a case name as an
// argument runs only those (for profiles: node --cpu-prof --import tsx test/bench/jds.bench.ts 4000 known).
// The node's BIP23 proposal call (BitcoindRpc.proposeBlock) is not part of this verdict path
// (docs/job-declaration.md); its cost against btcd is measured separately.
// Goal: p99 < 20 ms.
//
//   node --import tsx test/bench/jds.bench.ts [noble] [1000|4000] [known|known_reordered|10pct_missing]
//   deno run -A test/bench/jds.bench.ts       |   bun test/bench/jds.bench.ts
import { nobleProvider, type CryptoProvider } from '../../core/crypto/provider.ts';
import { doubleHashOf } from '../../core/mining/hash.ts';
import { TemplateCache } from '../../core/template-provider/template-cache.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import process from 'node:process';
import { report, runtime } from './bench-util.ts';
import { CASES, runCase, templateOf, type Case } from './jds-cases.ts';

const WARMUP_RUNS = 10;
const RUNS = 200;
const args = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
const provider: CryptoProvider = args.includes('noble') ? nobleProvider : selectCryptoProvider('auto');
const sizes = [1_000, 4_000].filter((n) => !args.some((a) => /^\d+$/.test(a)) || args.includes(String(n)));
const cases = CASES.filter((c) => !args.some((a) => (CASES as readonly string[]).includes(a)) || args.includes(c));

declare const Deno: { args: string[] } | undefined;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** CPU time of this process (all threads: main, GC helpers, compiler), ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** One server turn: [wall ms, CPU ms, heap growth in bytes, whether the heap shrank across the region, i.e. a garbage collection ran inside it (a lower bound: one that frees less than the region allocated is not seen)]. */
type Measured = [number, number, number, boolean];

function timed(work: () => void): Measured {
  const heapStart = process.memoryUsage().heapUsed;
  const cpuStart = cpuMs();
  const start = performance.now();
  work();
  const ms = performance.now() - start;
  const cpu = cpuMs() - cpuStart;
  const growth = process.memoryUsage().heapUsed - heapStart;
  return [ms, cpu, growth, growth < 0];
}

function bench(txCount: number, kind: Case): void {
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const noGcTimes: number[] = [];
  const growths: number[] = [];
  let first = 0;
  runCase(txCount, kind, WARMUP_RUNS + RUNS, timed, (run, turns) => {
    let ms = 0;
    let cpu = 0;
    let growth = 0;
    let collected = false;
    for (const [m, c, g, gc] of turns) {
      ms += m;
      cpu += c;
      growth += g;
      collected ||= gc;
    }
    if (run === 0) first = ms;
    if (run < WARMUP_RUNS) return;
    times.push(ms);
    cpuTimes.push(cpu);
    if (!collected) {
      noGcTimes.push(ms);
      growths.push(growth);
    }
  }, provider);
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  noGcTimes.sort((a, b) => a - b);
  growths.sort((a, b) => a - b);
  const name = `declaration_${txCount}tx_${kind}`;
  report({ provider: provider.name, name: `${name}_p50`, value: percentile(times, 50), unit: 'ms' });
  report({ provider: provider.name, name: `${name}_p99`, value: percentile(times, 99), unit: 'ms' });
  report({ provider: provider.name, name: `${name}_max`, value: times.at(-1)!, unit: 'ms' });
  report({ provider: provider.name, name: `${name}_first`, value: first, unit: 'ms' });
  report({ provider: provider.name, name: `${name}_cpu_p50`, value: percentile(cpuTimes, 50), unit: 'ms' });
  report({ provider: provider.name, name: `${name}_cpu_p99`, value: percentile(cpuTimes, 99), unit: 'ms' });
  // Diagnostics of the tail: how many measured runs had a collection inside the timed region,
  // the wall-clock p99 of the others, and the server's garbage per declaration (p50 of the heap
  // growth across those collection-free regions: what the server allocated, whatever the load).
  report({ provider: provider.name, name: `${name}_gc_runs`, value: RUNS - noGcTimes.length, unit: 'runs' });
  if (noGcTimes.length > 0) {
    report({ provider: provider.name, name: `${name}_nogc_p99`, value: percentile(noGcTimes, 99), unit: 'ms' });
    // Bun's heapUsed does not move within a region (JavaScriptCore): no figure there.
    if (runtime !== 'bun') report({ provider: provider.name, name: `${name}_heap_kib`, value: percentile(growths, 50) / 1024, unit: 'KiB' });
  }
}

/** TemplateCache.add of one template on a fresh cache, as the gateway does when a template arrives. */
function benchTemplateIndex(txCount: number): void {
  const template = templateOf(txCount);
  const times: number[] = [];
  for (let i = 0; i < 25; i++) {
    const cache = new TemplateCache(8, { treesMax: 4, sha256d: doubleHashOf(provider) });
    const start = performance.now();
    cache.add(template);
    cache.buildTrees();
    const ms = performance.now() - start;
    if (cache.byWtxid(template.transactions[txCount - 1]!.wtxid) === undefined) throw new Error('bench self-check: template not indexed');
    if (i >= 5) times.push(ms);
  }
  times.sort((a, b) => a - b);
  report({ provider: provider.name, name: `template_index_${txCount}tx_p50`, value: percentile(times, 50), unit: 'ms' });
}

for (const n of sizes) {
  benchTemplateIndex(n);
  for (const c of cases) bench(n, c);
}
