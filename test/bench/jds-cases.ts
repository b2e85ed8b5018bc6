// The declarations of the jds bench (test/bench/jds.bench.ts), shared with its allocation profile
// (test/bench/jds-alloc-profile.ts) so both measure the same thing: one JdsWorld per case with a
// released template of `txCount` synthetic transactions, one JD client, and every run's client
// inputs (fresh children, the DeclareMiningJob with its witness commitment) built before the first
// run, so the client's garbage is not collected inside the server's region (docs/job-declaration.md
// "Performance"). `region` wraps exactly the server's work: encrypted bytes into
// JdsSession.receive, the encrypted answer out of pollTransmit.
import { encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import { nobleProvider, type CryptoProvider } from '../../core/crypto/provider.ts';
import type { BlockTemplate, TemplateTransaction } from '../../core/template/template.ts';
import { makeTemplate, makeTx } from '../support/policy-fixtures.ts';
import { declaredJob, spend, JdsWorld, type JdPeer } from '../../conformance/jds-world.ts';

export const CASES = ['known', 'known_reordered', '10pct_missing'] as const;
export type Case = (typeof CASES)[number];
const SUBSIDY = 5_000_000_000n;

/** Runs `work` (the server's part of one message) and returns what the caller measured of it. */
export type Region<M> = (work: () => void) => M;

const _templates = new Map<number, BlockTemplate>();
export function templateOf(txCount: number): BlockTemplate {
  let t = _templates.get(txCount);
  if (t === undefined) {
    t = makeTemplate({ transactions: Array.from({ length: txCount }, (_, i) => makeTx(i + 1, 1_000n + BigInt(i % 500), undefined, [], 150)) });
    _templates.set(txCount, t);
  }
  return t;
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

/** Encrypt `message` on the client, hand the bytes to the server inside `region`, check the answer's type. */
function serverTurn<M>(peer: JdPeer, message: Sv2Message, expect: Sv2Message['type'], region: Region<M>): M {
  if (!peer.noise.send(encodeMessage(message)).ok) throw new Error('client send failed');
  const chunks: Uint8Array[] = [];
  for (let b = peer.noise.pollTransmit(); b !== undefined; b = peer.noise.pollTransmit()) chunks.push(b);
  const now = peer.world.now;
  const answer: Uint8Array[] = [];
  const measured = region(() => {
    for (const c of chunks) peer.session.receive(c, now);
    for (let b = peer.session.pollTransmit(); b !== undefined; b = peer.session.pollTransmit()) answer.push(b);
  });
  if (answer.length === 0) throw new Error(`no answer to ${message.type}`);
  for (const b of answer) peer.noise.receive(b, now);
  peer.pump();
  const got = peer.inbox.shift();
  if (got?.type !== expect) throw new Error(`expected ${expect}, got ${got?.type}: ${JSON.stringify(got)}`);
  return measured;
}

/** The newest verdict event, found from the end (w.verdicts() filters every event of every run: garbage between runs). */
function lastVerdict(w: JdsWorld): Extract<JdsWorld['events'][number], { type: 'jd_declaration_verdict' }> {
  for (let i = w.events.length - 1; i >= 0; i--) {
    const e = w.events[i]!;
    if (e.type === 'jd_declaration_verdict') return e;
  }
  throw new Error('bench self-check: no verdict');
}

/**
 * `runs` declarations of one case; `onRun(run, measured)` gets what `region` returned for each
 * server turn of the run (one turn all known; two with missing transactions: DeclareMiningJob →
 * ProvideMissingTransactions, then ProvideMissingTransactions.Success → Success). Every verdict
 * must be an acceptance (a self-check).
 */
export function runCase<M>(txCount: number, kind: Case, runs: number, region: Region<M>, onRun: (run: number, measured: readonly M[]) => void, provider: CryptoProvider = nobleProvider): void {
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
  // The client's inputs of every run, built before any run is measured: building a declaration
  // (400 fresh children, the witness commitment over the wtxids with noble's SHA-256) makes ~4 ×
  // the garbage the server makes per run, and that garbage would trigger collections inside the
  // server's timed region. Each run's entry is dropped once used, so nothing is retained longer.
  const inputs: ({ children: ReturnType<typeof spend>[]; declare: (token: Uint8Array, requestId: number) => Sv2Message } | undefined)[] = [];
  for (let run = 0; run < runs; run++) {
    // Fresh children per run (a cache of provided transactions would otherwise answer them).
    const children = Array.from({ length: missing }, (_, i) => spend(known[i]!, 0, 9_000n, (run * 7 + i) % 251));
    const txs: Pick<TemplateTransaction, 'wtxid'>[] = kind === 'known_reordered' ? reorder(known) : [...known, ...children];
    const fees = known.reduce((s, t) => s + t.fee, 0n) + BigInt(missing) * 1_000n;
    const job = declaredJob(txs, { value: SUBSIDY + fees });
    inputs.push({ children, declare: (token, requestId) => ({ type: 'DeclareMiningJob', requestId, miningJobToken: token, version: 0x20000000, coinbaseTxPrefix: job.prefix, coinbaseTxSuffix: job.suffix, wtxidList: job.wtxids, excessData: new Uint8Array(0) }) });
  }
  for (let run = 0; run < runs; run++) {
    const { children, declare: declareWith } = inputs[run]!;
    inputs[run] = undefined;
    const alloc = peer.allocate('bench', 2 * run + 1);
    const requestId = 2 * run + 2;
    const declare = declareWith(alloc.miningJobToken, requestId);
    w.clock.advanceTo(w.now + 1000); // one request window per run
    if (missing === 0) {
      onRun(run, [serverTurn(peer, declare, 'DeclareMiningJobSuccess', region)]);
    } else {
      const asked = serverTurn(peer, declare, 'ProvideMissingTransactions', region);
      const answered = serverTurn(peer, { type: 'ProvideMissingTransactionsSuccess', requestId, transactionList: children.map((c) => c.data) }, 'DeclareMiningJobSuccess', region);
      onRun(run, [asked, answered]);
    }
    const verdict = lastVerdict(w);
    if (!verdict.accepted) throw new Error(`bench self-check: expected acceptance, got ${verdict.reason_code} ${verdict.reason_detail}`);
  }
}

/** `runs` declarations, nothing measured (warm-up, profiles). */
export function runDeclarations(txCount: number, kind: Case, runs: number, provider?: CryptoProvider): void {
  runCase(txCount, kind, runs, (work) => work(), () => {}, provider);
}
