// Verdict latency (issue 4 acceptance; a script, never a test, SPEC §13): p50/p99 of one verdict
// for a full template of 4,000 transactions (~235 bytes, 940 WU each: 3.76 MWU, a full block),
//   - embedded: PolicyEngine.evaluate in-process (what `verifier_addr = "embedded"` costs);
//   - tcp: VerifierClient → loopback TCP → startVerifierServer (in this same process, so the
//     figure includes encoding, both socket hops, decoding and the evaluation) until the
//     verify() promise resolves. Requests are sequential: latency, not throughput.
// Policy under test: a fee tier, 100 blocklisted txids and 100 blocklisted scripts (so every
// transaction's outputs are parsed), verify_commitments off (its default; see docs/policy.md).
// Targets: p99 < 5 ms embedded, < 20 ms over TCP (the 50 ms prevhash budget, SPEC §6).
//
//   node --import tsx test/bench/verdict.bench.ts   |   deno run -A test/bench/verdict.bench.ts   |   bun test/bench/verdict.bench.ts
import { SystemClock } from '../../adapters/clock.ts';
import { VerifierClient } from '../../adapters/verifier-client.ts';
import { startVerifierServer } from '../../adapters/verifier-server.ts';
import { PolicyEngine, encodeVerifyRequest } from '../../core/policy/index.ts';
import { CHAIN, makeSettings, makeTemplate, makeTx } from '../support/policy-fixtures.ts';
import { report, runtime } from './bench-util.ts';

const TX_COUNT = 4_000;
const EMBEDDED_RUNS = 400;
const TCP_RUNS = 200;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const txs = Array.from({ length: TX_COUNT }, (_, i) => makeTx(i + 1, 1_000n + BigInt(i % 500), undefined, [], 150));
const template = makeTemplate({ transactions: txs });
const blocked = Array.from({ length: 100 }, (_, i) => makeTx(1_000_000 + i, 1n).txid);
const blockedScripts = Array.from({ length: 100 }, (_, i) => new Uint8Array([0x00, 0x14, ...new Uint8Array(19), i]));
const settings = makeSettings({
  feeTiers: [{ name: 'mid', minAvgFeeSats: 200, minTotalFeesSats: 0, minTxCount: 0, minTemplateWeight: 0 }],
  feeTier: 'mid',
  blocklistTxids: blocked,
  blocklistScripts: blockedScripts,
});
const engine = new PolicyEngine(settings);
const first = engine.evaluate(template, CHAIN);
if (!first.accepted) throw new Error(`bench self-check: expected acceptance, got ${JSON.stringify(first)}`);
const weight = first.policy_context.weight as number;
const wireBytes = encodeVerifyRequest(1, { template, chain: CHAIN, timeoutMs: 1000 }).length;
console.log(`  ${runtime} template: ${TX_COUNT} transactions, weight ${weight.toLocaleString('en-US')} WU, VERIFY frame ${wireBytes.toLocaleString('en-US')} bytes`);

// Embedded.
for (let i = 0; i < 50; i++) engine.evaluate(template, CHAIN);
const embedded: number[] = [];
for (let i = 0; i < EMBEDDED_RUNS; i++) {
  const t0 = performance.now();
  engine.evaluate(template, CHAIN);
  embedded.push(performance.now() - t0);
}
embedded.sort((a, b) => a - b);
report({ name: 'verdict_embedded_p50_ms_4000tx', value: percentile(embedded, 50), unit: 'ms' });
report({ name: 'verdict_embedded_p99_ms_4000tx', value: percentile(embedded, 99), unit: 'ms' });

// Over loopback TCP.
const server = await startVerifierServer({ address: { host: '127.0.0.1', port: 0 }, evaluate: (r) => engine.evaluate(r.template, r.chain) });
const client = new VerifierClient({ address: { host: '127.0.0.1', port: server.port }, clock: new SystemClock(), reconnectMaxMs: 1000 });
const request = { template, chain: CHAIN, timeoutMs: 5_000 };
for (let i = 0; i < 20; i++) {
  const o = await client.verify(request);
  if (o.kind !== 'verdict' || !o.verdict.accepted) throw new Error(`bench self-check: TCP outcome ${JSON.stringify(o.verdict)}`);
}
const tcp: number[] = [];
for (let i = 0; i < TCP_RUNS; i++) {
  const t0 = performance.now();
  const o = await client.verify(request);
  tcp.push(performance.now() - t0);
  if (o.kind !== 'verdict') throw new Error(`bench self-check: ${o.verdict.reason_code}`);
}
tcp.sort((a, b) => a - b);
report({ name: 'verdict_tcp_p50_ms_4000tx', value: percentile(tcp, 50), unit: 'ms' });
report({ name: 'verdict_tcp_p99_ms_4000tx', value: percentile(tcp, 99), unit: 'ms' });
await client.close();
await server.close();
