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
// and `_nogc_p99` (p99 of the other runs) say how much of the tail is garbage collection.
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
import { encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import { nobleProvider, type CryptoProvider } from '../../core/crypto/provider.ts';
import { doubleHashOf } from '../../core/mining/hash.ts';
import { TemplateCache } from '../../core/template-provider/template-cache.ts';
import type { BlockTemplate, TemplateTransaction } from '../../core/template/template.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { makeTemplate, makeTx } from '../support/policy-fixtures.ts';
import { declaredJob, spend, JdsWorld, type JdPeer } from '../../conformance/jds-world.ts';
import process from 'node:process';
import { report } from './bench-util.ts';

const WARMUP_RUNS = 10;
const RUNS = 200;
const SUBSIDY = 5_000_000_000n;
const args = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
const provider: CryptoProvider = args.includes('noble') ? nobleProvider : selectCryptoProvider('auto');
const sizes = [1_000, 4_000].filter((n) => !args.some((a) => /^\d+$/.test(a)) || args.includes(String(n)));
const CASES = ['known', 'known_reordered', '10pct_missing'] as const;
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

/** Encrypt `message` on the client and hand the bytes to the server; returns the server-side [wall ms, CPU ms, whether the heap shrank across the region, i.e. a garbage collection ran inside it (a lower bound: one that frees less than the region allocated is not seen)]. */
function serverTime(peer: JdPeer, message: Sv2Message, expect: Sv2Message['type']): [number, number, boolean] {
  if (!peer.noise.send(encodeMessage(message)).ok) throw new Error('client send failed');
  const chunks: Uint8Array[] = [];
  for (let b = peer.noise.pollTransmit(); b !== undefined; b = peer.noise.pollTransmit()) chunks.push(b);
  const now = peer.world.now;
  const heapStart = process.memoryUsage().heapUsed;
  const cpuStart = cpuMs();
  const start = performance.now();
  for (const c of chunks) peer.session.receive(c, now);
  const answer: Uint8Array[] = [];
  for (let b = peer.session.pollTransmit(); b !== undefined; b = peer.session.pollTransmit()) answer.push(b);
  const ms = performance.now() - start;
  const cpu = cpuMs() - cpuStart;
  const collected = process.memoryUsage().heapUsed < heapStart;
  if (answer.length === 0) throw new Error(`no answer to ${message.type}`);
  for (const b of answer) peer.noise.receive(b, now);
  peer.pump();
  const got = peer.inbox.shift();
  if (got?.type !== expect) throw new Error(`expected ${expect}, got ${got?.type}: ${JSON.stringify(got)}`);
  return [ms, cpu, collected];
}

/** The newest verdict event, found from the end (w.verdicts() filters every event of every run: garbage between runs). */
function lastVerdict(w: JdsWorld): Extract<JdsWorld['events'][number], { type: 'jd_declaration_verdict' }> {
  for (let i = w.events.length - 1; i >= 0; i--) {
    const e = w.events[i]!;
    if (e.type === 'jd_declaration_verdict') return e;
  }
  throw new Error('bench self-check: no verdict');
}

/** A fixed permutation (seeded Fisher–Yates), so every runtime declares the same order. */
function reorder<T>(items: readonly T[]): T[] {
  const out = items.slice();
  let seed = 0x2545f491;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type Case = (typeof CASES)[number];

function bench(txCount: number, kind: Case): void {
  const w = new JdsWorld({
    policy: { feeTiers: [{ name: 'mid', minAvgFeeSats: 200, minTotalFeesSats: 0, minTxCount: 0, minTemplateWeight: 0 }], feeTier: 'mid', blocklistTxids: Array.from({ length: 100 }, (_, i) => makeTx(9_000_000 + i, 1n).txid) },
    settings: { requestsPerSecondMax: 1_000_000, pendingDeclarationsMax: 4 },
    provider,
  });
  const missing = kind === '10pct_missing' ? Math.round(txCount * 0.1) : 0;
  const template = templateOf(txCount);
  const known = template.transactions.slice(0, txCount - missing);
  w.release(template);
  const peer = w.peer();
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const noGcTimes: number[] = [];
  let first = 0;
  // The client's inputs of every run, built before any run is measured: building a declaration
  // (400 fresh children, the witness commitment over the wtxids with noble's SHA-256) makes ~4 ×
  // the garbage the server makes per run, and that garbage would trigger collections inside the
  // server's timed region. Each run's entry is dropped once used, so nothing is retained longer.
  const inputs: ({ children: ReturnType<typeof spend>[]; declare: (token: Uint8Array, requestId: number) => Sv2Message } | undefined)[] = [];
  for (let run = 0; run < WARMUP_RUNS + RUNS; run++) {
    // Fresh children per run (a cache of provided transactions would otherwise answer them).
    const children = Array.from({ length: missing }, (_, i) => spend(known[i]!, 0, 9_000n, (run * 7 + i) % 251));
    const txs: Pick<TemplateTransaction, 'wtxid'>[] = kind === 'known_reordered' ? reorder(known) : [...known, ...children];
    const fees = known.reduce((s, t) => s + t.fee, 0n) + BigInt(missing) * 1_000n;
    const job = declaredJob(txs, { value: SUBSIDY + fees });
    inputs.push({ children, declare: (token, requestId) => ({ type: 'DeclareMiningJob', requestId, miningJobToken: token, version: 0x20000000, coinbaseTxPrefix: job.prefix, coinbaseTxSuffix: job.suffix, wtxidList: job.wtxids, excessData: new Uint8Array(0) }) });
  }
  for (let run = 0; run < WARMUP_RUNS + RUNS; run++) {
    const { children, declare: declareWith } = inputs[run]!;
    inputs[run] = undefined;
    const alloc = peer.allocate('bench', 2 * run + 1);
    const requestId = 2 * run + 2;
    const declare = declareWith(alloc.miningJobToken, requestId);
    w.clock.advanceTo(w.now + 1000); // one request window per run
    let ms: number;
    let cpu: number;
    let collected: boolean;
    if (missing === 0) {
      [ms, cpu, collected] = serverTime(peer, declare, 'DeclareMiningJobSuccess');
    } else {
      const asked = serverTime(peer, declare, 'ProvideMissingTransactions');
      const answered = serverTime(peer, { type: 'ProvideMissingTransactionsSuccess', requestId, transactionList: children.map((c) => c.data) }, 'DeclareMiningJobSuccess');
      ms = asked[0] + answered[0];
      cpu = asked[1] + answered[1];
      collected = asked[2] || answered[2];
    }
    if (run === 0) first = ms;
    if (run >= WARMUP_RUNS) {
      times.push(ms);
      cpuTimes.push(cpu);
      if (!collected) noGcTimes.push(ms);
    }
    const verdict = lastVerdict(w);
    if (!verdict.accepted) throw new Error(`bench self-check: expected acceptance, got ${verdict.reason_code} ${verdict.reason_detail}`);
  }
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  noGcTimes.sort((a, b) => a - b);
  const name = `declaration_${txCount}tx_${kind}`;
  report({ provider: provider.name, name: `${name}_p50`, value: percentile(times, 50), unit: 'ms' });
  report({ provider: provider.name, name: `${name}_p99`, value: percentile(times, 99), unit: 'ms' });
  report({ provider: provider.name, name: `${name}_max`, value: times.at(-1)!, unit: 'ms' });
  report({ provider: provider.name, name: `${name}_first`, value: first, unit: 'ms' });
  report({ provider: provider.name, name: `${name}_cpu_p50`, value: percentile(cpuTimes, 50), unit: 'ms' });
  report({ provider: provider.name, name: `${name}_cpu_p99`, value: percentile(cpuTimes, 99), unit: 'ms' });
  // Diagnostics of the tail: how many measured runs had a collection inside the timed region,
  // and the wall-clock p99 of the others.
  report({ provider: provider.name, name: `${name}_gc_runs`, value: RUNS - noGcTimes.length, unit: 'runs' });
  if (noGcTimes.length > 0) report({ provider: provider.name, name: `${name}_nogc_p99`, value: percentile(noGcTimes, 99), unit: 'ms' });
}

const _templates = new Map<number, BlockTemplate>();
function templateOf(txCount: number): BlockTemplate {
  let t = _templates.get(txCount);
  if (t === undefined) {
    t = makeTemplate({ transactions: Array.from({ length: txCount }, (_, i) => makeTx(i + 1, 1_000n + BigInt(i % 500), undefined, [], 150)) });
    _templates.set(txCount, t);
  }
  return t;
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
