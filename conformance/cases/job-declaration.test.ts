// Job Declaration Server conformance (issue 11 acceptance), on the fake clock, on node, deno and
// bun: SetupConnection for protocol 1 (full-template and coinbase-only), token allocation with
// the pool's outputs, declarations judged by the policy engine (accepted, refused inline with
// SRI's string and our reason code, accepted-and-logged in observe), the missing-transactions
// round trip with its checks, token expiry at 10 s ± 1 ms, single use and foreign/expired/reused
// tokens, bad input (64k wtxid lists, floods, unknown responses), and a PushSolution whose block
// holds exactly the declared transactions.
//
// Independence: declared coinbases, the witness commitment, merkle roots and the expected block
// bytes are built in conformance/jds-world.ts and here with noble's SHA-256 and concatenation.
import { describe, test } from '../../test/harness.ts';
import { assert } from '../../test/assert.ts';
import { bytesToHex, concatBytes, fromUtf8, hexToBytes, reversed } from '../../core/bytes.ts';
import { makeTemplate, makeTx, POOL_SCRIPT, OTHER_SCRIPT } from '../../test/support/policy-fixtures.ts';
import { dsha, le32, leInt, merkleRootOf, varint } from '../../test/support/tdp-solution.ts';
import { declaredJob, spend, JdsWorld, type DeclaredJobBytes } from '../jds-world.ts';
import { readFileSync } from 'node:fs';
import { REASON_CODES, type ReasonCode } from '../../core/reason-codes.ts';
import { declareMiningJobWire } from '../../core/job-declaration/index.ts';
import { JD_TEMPLATE_TREES } from '../../core/gateway/gateway.ts';
import { CONFIG_KEYS, loadConfig } from '../../core/config/index.ts';
import { GatewayMetrics } from '../../core/metrics/gateway-metrics.ts';
import { parsePrometheusText, sampleValue } from '../../test/support/prometheus-text.ts';
import { describeLogEvent, parseEventLog, replayDeclarations, replaySummary } from '../../runtimes/commands/replay.ts';

const SUBSIDY = 5_000_000_000n;

/** A world with one released template of three transactions (fees 1000, 2000, 3000). */
function world(options: ConstructorParameters<typeof JdsWorld>[0] = {}): { w: JdsWorld; txs: ReturnType<typeof makeTx>[] } {
  const w = new JdsWorld(options);
  const txs = [makeTx(1, 1000n), makeTx(2, 2000n), makeTx(3, 3000n)];
  w.release(makeTemplate({ transactions: txs }));
  return { w, txs };
}

function details(m: { errorDetails: Uint8Array }): { reason_code: string; reason_detail: string } {
  return JSON.parse(fromUtf8(m.errorDetails)) as { reason_code: string; reason_detail: string };
}

/** Allocate + declare `job`; returns the peer's answer type. */
function allocateAndDeclare(w: JdsWorld, job: DeclaredJobBytes, peer = w.peer()): { peer: ReturnType<JdsWorld['peer']>; token: Uint8Array } {
  const alloc = peer.allocate();
  peer.declare(alloc.miningJobToken, job);
  return { peer, token: alloc.miningJobToken };
}

describe('job declaration: setup and tokens', () => {
  test('SetupConnection(protocol 1, DECLARE_TX_DATA) → Success{2, 0}; without the flag: coinbase-only mode', () => {
    const w = new JdsWorld();
    const full = w.peer();
    assert.equal(full.session.state, 'ready');
    assert.equal(full.session.coinbaseOnly, false);
    const cbOnly = w.peer({ flags: 0 });
    assert.equal(cbOnly.session.coinbaseOnly, true);
    assert.deepEqual(w.eventsOf('jd_connection_setup').map((e) => e.coinbase_only), [false, true]);
  });

  test('SetupConnection for another protocol → unsupported-protocol; unknown flag bits → unsupported-feature-flags', () => {
    // One connection per case, each refused with SRI's string and closed.
    for (const [protocol, flags, wire, code] of [[0, 1, 'unsupported-protocol', 'unsupported_protocol'], [2, 1, 'unsupported-protocol', 'unsupported_protocol'], [1, 0x3, 'unsupported-feature-flags', 'unsupported_feature_flags']] as const) {
      const w = new JdsWorld();
      const client = w.peerRaw();
      client.setup(flags, protocol);
      const err = client.take('SetupConnectionError');
      assert.equal(err.errorCode, wire);
      assert.equal(client.session.closeReason, code);
    }
  });

  test('AllocateMiningJobToken → 16 unpredictable bytes, coinbase_tx_outputs = CompactSize 1 ‖ value 0 ‖ the pool script', () => {
    const w = new JdsWorld();
    const peer = w.peer();
    const a = peer.allocate('alice.rig1', 7);
    const b = peer.allocate('alice.rig1', 8);
    assert.equal(a.requestId, 7);
    assert.equal(a.miningJobToken.length, 16);
    assert.notEqual(bytesToHex(a.miningJobToken), bytesToHex(b.miningJobToken));
    assert.equal(bytesToHex(a.coinbaseTxOutputs), '01' + '0000000000000000' + '16' + bytesToHex(POOL_SCRIPT));
    const ev = w.eventsOf('jd_token_allocated');
    assert.equal(ev[0]!.user, 'alice.rig1');
    assert.equal(ev[0]!.expires_at_ms, 1_000 + 600_000);
  });

  test('user_identifier is authenticated with the mining port convention; a refused one closes with unknown_user', () => {
    const w = new JdsWorld({ auth: { mode: 'allowlist', allowlist: [{ username: 'alice', password: 'pw' }], maxWorkerIdBytes: 64, maxWorkersPerChannel: 4 } });
    const good = w.peer();
    const ok = good.allocate('alice:pw.rig1');
    assert.equal(ok.miningJobToken.length, 16);
    assert.equal(w.eventsOf('jd_token_allocated')[0]!.user, 'alice.rig1', 'the credential never reaches events');
    const bad = w.peer();
    bad.send({ type: 'AllocateMiningJobToken', userIdentifier: 'alice:wrong.rig1', requestId: 1 });
    assert.deepEqual(bad.types(), []);
    assert.equal(bad.session.closeReason, 'unknown_user');
    const closed = w.eventsOf('jd_connection_closed').at(-1)!;
    assert.equal(closed.reason_code, 'unknown_user');
    assert.ok(!closed.detail.includes('wrong'), 'the password is not logged');
  });
});

describe('job declaration: declarations', () => {
  test('all transactions known → DeclareMiningJob.Success with a new token; verdict event with policy_context', () => {
    const { w, txs } = world();
    const { peer, token } = allocateAndDeclare(w, declaredJob(txs, { value: SUBSIDY + 6000n }));
    const ok = peer.take('DeclareMiningJobSuccess');
    assert.equal(ok.requestId, 2);
    assert.equal(ok.newMiningJobToken.length, 16);
    assert.notEqual(bytesToHex(ok.newMiningJobToken), bytesToHex(token), 'a new token, not the allocated one');
    const [v] = w.verdicts();
    assert.equal(v!.accepted, true);
    assert.equal(v!.reason_code, 'template_accepted');
    assert.equal(v!.answered_success, true);
    assert.equal(v!.total_fees_sats, '6000');
    assert.equal(v!.tx_count, 3);
    assert.equal(v!.height, 1000);
    assert.equal(v!.policy_context['total_fees'], 6000);
    // The declared job travels with the token: transactions in declared order.
    const job = w.tokens.peekDeclared(ok.newMiningJobToken)!.job;
    assert.deepEqual(job.transactions.map((t) => bytesToHex(t.data)), txs.map((t) => bytesToHex(t.data)));
  });

  test('a coinbase with a non-zero witness reserved value commits correctly → Success, with policy.verify_commitments too', () => {
    // BIP141 lets the reserved value be any 32 bytes; the commitment is checked with the declared
    // one (step 4), and verify_commitments must not re-check it as if it were 32×00.
    const reserved = new Uint8Array(32).fill(0x5a);
    for (const verifyCommitments of [false, true]) {
      const { w, txs } = world({ policy: { verifyCommitments } });
      const { peer } = allocateAndDeclare(w, declaredJob(txs, { value: SUBSIDY + 6000n, reserved }));
      peer.take('DeclareMiningJobSuccess');
      const [v] = w.verdicts();
      assert.equal(v!.reason_code, 'template_accepted', `verify_commitments=${verifyCommitments}`);
    }
    // And a commitment made with 32×00 while the coinbase carries 0x5a… is refused.
    const { w, txs } = world({ policy: { verifyCommitments: true } });
    const wrong = declaredJob(txs, { value: SUBSIDY + 6000n });
    const zeroCommit = wrong.suffix.slice();
    zeroCommit.set(reserved, zeroCommit.length - 4 - 32);
    const { peer } = allocateAndDeclare(w, { ...wrong, suffix: zeroCommit });
    assert.equal(details(peer.take('DeclareMiningJobError')).reason_code, 'witness_commitment_invalid');
  });

  test('inline: a blocklisted transaction → DeclareMiningJob.Error invalid-job, reason_code in error_details; the token is spent', () => {
    const { w, txs } = world({ policy: { blocklistTxids: [makeTx(2, 2000n).txid] } });
    const { peer, token } = allocateAndDeclare(w, declaredJob(txs, { value: SUBSIDY + 6000n }));
    const err = peer.take('DeclareMiningJobError');
    assert.equal(err.errorCode, 'invalid-job');
    assert.equal(details(err).reason_code, 'blocklisted_txid');
    const [v] = w.verdicts();
    assert.deepEqual([v!.accepted, v!.enforced, v!.answered_success, v!.wire], [false, true, false, 'invalid-job']);
    assert.equal(v!.policy_context['tx_index'], 1);
    // The same allocated token cannot declare again.
    peer.declare(token, declaredJob(txs, { value: SUBSIDY + 6000n }), 3);
    assert.equal(details(peer.take('DeclareMiningJobError')).reason_code, 'jd_token_reused');
  });

  test('observe: the same declaration is answered with Success and logged as rejected, not enforced', () => {
    const { w, txs } = world({ mode: 'observe', policy: { blocklistTxids: [makeTx(2, 2000n).txid] } });
    const { peer } = allocateAndDeclare(w, declaredJob(txs, { value: SUBSIDY + 6000n }));
    peer.take('DeclareMiningJobSuccess');
    const [v] = w.verdicts();
    assert.deepEqual([v!.accepted, v!.enforced, v!.answered_success, v!.mode], [false, false, true, 'observe']);
    assert.equal(v!.reason_code, 'blocklisted_txid');
  });

  test('a fee below the tier is refused with the template code (avg_fee_below_minimum)', () => {
    const { w, txs } = world({ policy: { feeTiers: [{ name: 'mid', minAvgFeeSats: 2500, minTotalFeesSats: 0, minTxCount: 0, minTemplateWeight: 0 }], feeTier: 'mid' } });
    const { peer } = allocateAndDeclare(w, declaredJob(txs, { value: SUBSIDY + 6000n }));
    const err = peer.take('DeclareMiningJobError');
    assert.equal(err.errorCode, 'invalid-job');
    assert.equal(details(err).reason_code, 'avg_fee_below_minimum');
    assert.equal(w.verdicts()[0]!.policy_context['fee_tier'], 'mid');
  });

  test('the coinbase must pay the pool in full, carry the BIP34 height and commit to the declared wtxids', () => {
    const cases: [string, (txs: ReturnType<typeof makeTx>[]) => DeclaredJobBytes, string, string][] = [
      ['value to a non-pool output', (txs) => declaredJob(txs, { outputs: [{ value: SUBSIDY, script: POOL_SCRIPT }, { value: 6000n, script: OTHER_SCRIPT }] }), 'invalid-coinbase-tx', 'jd_coinbase_pool_not_paid'],
      ['less than subsidy + fees', (txs) => declaredJob(txs, { value: SUBSIDY + 5999n }), 'invalid-coinbase-tx', 'jd_coinbase_pool_not_paid'],
      ['no pool output', (txs) => declaredJob(txs, { outputs: [{ value: 0n, script: OTHER_SCRIPT }] }), 'invalid-coinbase-tx', 'jd_coinbase_pool_not_paid'],
      ['more than subsidy + fees', (txs) => declaredJob(txs, { value: SUBSIDY + 6001n }), 'invalid-coinbase-tx', 'coinbase_value_too_high'],
      ['wrong BIP34 height', (txs) => declaredJob(txs, { value: SUBSIDY + 6000n, height: 999 }), 'invalid-coinbase-tx-input', 'bip34_height_mismatch'],
      ['wrong witness commitment', (txs) => declaredJob(txs, { value: SUBSIDY + 6000n, commitment: new Uint8Array(32).fill(7) }), 'invalid-coinbase-tx', 'witness_commitment_invalid'],
      ['commitment over other wtxids', (txs) => ({ ...declaredJob(txs.slice(0, 2), { value: SUBSIDY + 6000n }), wtxids: txs.map((t) => t.wtxid) }), 'invalid-coinbase-tx', 'witness_commitment_invalid'],
    ];
    for (const [name, build, wire, code] of cases) {
      const { w, txs } = world();
      const { peer } = allocateAndDeclare(w, build(txs));
      const err = peer.take('DeclareMiningJobError');
      assert.equal(err.errorCode, wire, name);
      assert.equal(details(err).reason_code, code, name);
    }
  });

  test('coinbase bytes that do not rebuild → invalid-coinbase-tx (jd_coinbase_invalid), whatever the mode', () => {
    for (const mode of ['inline', 'observe'] as const) {
      const { w, txs } = world({ mode });
      const good = declaredJob(txs, { value: SUBSIDY + 6000n });
      const variants: DeclaredJobBytes[] = [
        { ...good, prefix: good.prefix.subarray(0, 20) },
        { ...good, prefix: concatBytes(good.prefix.subarray(0, 4), good.prefix.subarray(6)) }, // no marker/flag
        { ...good, suffix: good.suffix.subarray(0, good.suffix.length - 1) },
        { ...good, suffix: concatBytes(good.suffix, new Uint8Array([0])) },
      ];
      const peer = w.peer();
      variants.forEach((job, i) => {
        const alloc = peer.allocate('alice', 10 + i);
        peer.declare(alloc.miningJobToken, job, 100 + i);
        const err = peer.take('DeclareMiningJobError');
        assert.equal(err.errorCode, 'invalid-coinbase-tx', `${mode} variant ${i}`);
        assert.equal(details(err).reason_code, 'jd_coinbase_invalid');
      });
    }
  });

  test('no released template: refused stale-chain-tip (prevhash_unknown)', () => {
    const w = new JdsWorld();
    const { peer } = allocateAndDeclare(w, declaredJob([], { value: SUBSIDY }));
    const err = peer.take('DeclareMiningJobError');
    assert.equal(err.errorCode, 'stale-chain-tip');
    assert.equal(details(err).reason_code, 'prevhash_unknown');
  });
});

describe('job declaration: missing transactions', () => {
  test('unknown wtxids → ProvideMissingTransactions(positions); the provided ones are checked, priced from their parents, and remembered', () => {
    const { w, txs } = world();
    const child = spend(txs[0]!, 0, 9_000n, 1); // fee 1000: its parent is a template transaction
    const grandchild = spend(child, 0, 8_500n, 2); // fee 500: its parent is the child, declared before it
    const job = declaredJob([txs[1]!, child, grandchild], { value: SUBSIDY + 2000n + 1000n + 500n });
    const { peer } = allocateAndDeclare(w, job);
    const ask = peer.take('ProvideMissingTransactions');
    assert.equal(ask.requestId, 2);
    assert.deepEqual(ask.unknownTxPositionList, [1, 2]);
    assert.deepEqual(peer.types(), [], 'no answer yet');
    assert.equal(w.eventsOf('jd_missing_transactions')[0]!.missing_count, 2);
    peer.send({ type: 'ProvideMissingTransactionsSuccess', requestId: 2, transactionList: [child.data, grandchild.data] });
    peer.take('DeclareMiningJobSuccess');
    const v = w.verdicts()[0]!;
    assert.equal(v.total_fees_sats, '3500');
    assert.equal(v.missing_count, 2);
    // A second declaration of the same transactions asks for nothing.
    const again = peer.allocate('alice', 5);
    peer.declare(again.miningJobToken, job, 6);
    peer.take('DeclareMiningJobSuccess');
    assert.equal(w.eventsOf('jd_missing_transactions').length, 1);
  });

  test('a provided transaction with another wtxid, or undecodable → missing-txs (jd_provided_tx_invalid); a wrong count → jd_missing_txs', () => {
    const { w, txs } = world();
    const child = spend(txs[0]!, 0, 9_000n, 1);
    const other = spend(txs[1]!, 0, 9_000n, 3);
    const job = declaredJob([child], { value: SUBSIDY + 1000n });
    const answers: [Uint8Array[], string][] = [
      [[other.data], 'jd_provided_tx_invalid'],
      [[child.data.subarray(0, 20)], 'jd_provided_tx_invalid'],
      [[concatBytes(child.data, new Uint8Array([0]))], 'jd_provided_tx_invalid'],
      [[], 'jd_missing_txs'],
      [[child.data, child.data], 'jd_missing_txs'],
    ];
    const peer = w.peer();
    answers.forEach(([list, code], i) => {
      const alloc = peer.allocate('alice', 10 + i);
      peer.declare(alloc.miningJobToken, job, 100 + i);
      peer.take('ProvideMissingTransactions');
      peer.send({ type: 'ProvideMissingTransactionsSuccess', requestId: 100 + i, transactionList: list });
      const err = peer.take('DeclareMiningJobError');
      assert.equal(err.errorCode, 'missing-txs', code);
      assert.equal(details(err).reason_code, code);
    });
    assert.equal(w.provided.size, 0, 'nothing wrong was remembered');
  });

  test('a transaction provided on one connection serves another connection\'s declaration: same bytes (wtxid-checked), fee computed, not asked again', () => {
    const { w, txs } = world();
    const child = spend(txs[0]!, 0, 9_000n, 5); // fee 1000 from its template parent
    const job = declaredJob([txs[1]!, child], { value: SUBSIDY + 2000n + 1000n });
    const { peer: a } = allocateAndDeclare(w, job);
    a.take('ProvideMissingTransactions');
    a.send({ type: 'ProvideMissingTransactionsSuccess', requestId: 2, transactionList: [child.data] });
    a.take('DeclareMiningJobSuccess');
    // Another connection (another user) declares the same child: answered at once, same fee.
    const b = w.peer();
    const alloc = b.allocate('bob.rig', 1);
    b.declare(alloc.miningJobToken, job, 2);
    b.take('DeclareMiningJobSuccess');
    assert.equal(w.eventsOf('jd_missing_transactions').length, 1, 'only the first connection was asked');
    const [va, vb] = w.verdicts();
    assert.equal(vb!.conn_id !== va!.conn_id, true);
    assert.equal(vb!.total_fees_sats, '3000');
    assert.equal(vb!.missing_count, 0);
    // The same child with a higher claimed pool value is still judged on the computed fee.
    const greedy = declaredJob([txs[1]!, child], { value: SUBSIDY + 2000n + 1000n + 1n });
    const alloc2 = b.allocate('bob.rig', 3);
    b.declare(alloc2.miningJobToken, greedy, 4);
    assert.equal(details(b.take('DeclareMiningJobError')).reason_code, 'coinbase_value_too_high');
  });

  test('a declaration of a replaced template (evicted from the cache) is resolved by wtxid, or asked for, never from stale trees', () => {
    const w = new JdsWorld();
    const first = [makeTx(1, 1000n), makeTx(2, 2000n)];
    w.release(makeTemplate({ templateId: 1n, transactions: first }));
    for (let id = 2; id <= 12; id++) w.release(makeTemplate({ templateId: BigInt(id), transactions: [makeTx(100 + id, 1500n)] }));
    assert.equal(w.templates.template(1n), undefined, 'template 1 left the cache (capacity 8)');
    assert.ok(w.templates.trees().every((t) => t.template.templateId > 8n), 'only the newest templates keep trees');
    const { peer } = allocateAndDeclare(w, declaredJob(first, { value: SUBSIDY + 3000n }));
    assert.deepEqual(peer.take('ProvideMissingTransactions').unknownTxPositionList, [0, 1]);
  });

  test('a provided transaction whose inputs are unknown has an unknowable fee → jd_tx_fee_unknown', () => {
    const { w } = world();
    const orphan = spend({ txid: dsha(new TextEncoder().encode('nowhere')) }, 0, 1_000n, 4);
    const { peer } = allocateAndDeclare(w, declaredJob([orphan], { value: SUBSIDY }));
    peer.take('ProvideMissingTransactions');
    peer.send({ type: 'ProvideMissingTransactionsSuccess', requestId: 2, transactionList: [orphan.data] });
    const err = peer.take('DeclareMiningJobError');
    assert.equal(err.errorCode, 'invalid-job');
    assert.equal(details(err).reason_code, 'jd_tx_fee_unknown');
  });

  test('ProvideMissingTransactions.Success for no pending request is ignored and counted (jd_unknown_request)', () => {
    const { w } = world();
    const peer = w.peer();
    peer.send({ type: 'ProvideMissingTransactionsSuccess', requestId: 99, transactionList: [] });
    assert.equal(peer.session.closed, false);
    assert.equal(peer.session.unknownResponses, 1);
    assert.equal(w.eventsOf('jd_unexpected_response')[0]!.reason_code, 'jd_unknown_request');
  });
});

describe('job declaration: token lifetime and binding', () => {
  test('a declared token is valid for 10 s after DeclareMiningJob.Success, to the millisecond, and single use', () => {
    const { w, txs } = world();
    const job = declaredJob(txs, { value: SUBSIDY + 6000n });
    const tokens: Uint8Array[] = [];
    const peer = w.peer();
    for (let i = 0; i < 3; i++) {
      const a = peer.allocate('alice.rig1', 10 + i);
      peer.declare(a.miningJobToken, job, 100 + i);
      tokens.push(peer.take('DeclareMiningJobSuccess').newMiningJobToken);
    }
    const t0 = w.now;
    w.advance(9_999);
    const first = w.tokens.consumeForCustomJob(tokens[0]!, 'alice.rig1', w.now);
    assert.equal(first.ok && first.kind, 'declared', 'valid at +9,999 ms');
    const reused = w.tokens.consumeForCustomJob(tokens[0]!, 'alice.rig1', w.now);
    assert.equal(!reused.ok && reused.reason, 'jd_token_reused');
    w.advance(1);
    assert.equal(w.now, t0 + 10_000);
    const atTen = w.tokens.consumeForCustomJob(tokens[1]!, 'alice.rig1', w.now);
    assert.equal(!atTen.ok && atTen.reason, 'jd_token_expired', 'expired at +10,000 ms');
    w.advance(1);
    const after = w.tokens.consumeForCustomJob(tokens[2]!, 'alice.rig1', w.now);
    assert.equal(!after.ok && after.reason, 'jd_token_expired', 'expired at +10,001 ms');
    // Tombstones are forgotten tombstone_ms after expiry: then the token is unknown.
    w.advance(60_000);
    const gone = w.tokens.consumeForCustomJob(tokens[2]!, 'alice.rig1', w.now);
    assert.equal(!gone.ok && gone.reason, 'jd_token_unknown');
  });

  test('tokens are bound: another user (custom job) or another connection (declaration) gets jd_token_foreign', () => {
    const { w, txs } = world();
    const job = declaredJob(txs, { value: SUBSIDY + 6000n });
    const a = w.peer();
    const b = w.peer();
    const alloc = a.allocate('alice.rig1');
    b.declare(alloc.miningJobToken, job);
    assert.equal(details(b.take('DeclareMiningJobError')).reason_code, 'jd_token_foreign');
    a.declare(alloc.miningJobToken, job);
    const declared = a.take('DeclareMiningJobSuccess').newMiningJobToken;
    const foreign = w.tokens.consumeForCustomJob(declared, 'mallory', w.now);
    assert.equal(!foreign.ok && foreign.reason, 'jd_token_foreign');
    assert.equal(w.tokens.consumeForCustomJob(declared, 'alice.rig1', w.now).ok, true, 'the foreign attempt did not spend it');
  });

  test('unknown tokens, expired allocated tokens and the allocated token in SetCustomMiningJob are refused', () => {
    const { w, txs } = world({ tokens: { allocatedExpiryMs: 1_000 } });
    const job = declaredJob(txs, { value: SUBSIDY + 6000n });
    const peer = w.peer();
    peer.declare(new Uint8Array(16).fill(9), job, 1);
    const unknown = peer.take('DeclareMiningJobError');
    assert.equal(unknown.errorCode, 'invalid-mining-job-token');
    assert.equal(details(unknown).reason_code, 'jd_token_unknown');
    const alloc = peer.allocate('alice', 2);
    const notDeclared = w.tokens.consumeForCustomJob(alloc.miningJobToken, 'alice', w.now);
    assert.equal(!notDeclared.ok && notDeclared.reason, 'jd_token_unknown', 'full-template mode: declare first');
    w.advance(1_000);
    peer.declare(alloc.miningJobToken, job, 3);
    assert.equal(details(peer.take('DeclareMiningJobError')).reason_code, 'jd_token_expired');
  });

  test('coinbase-only mode: the allocated token goes straight to SetCustomMiningJob; DeclareMiningJob closes the connection', () => {
    const { w, txs } = world();
    const peer = w.peer({ flags: 0 });
    const alloc = peer.allocate('alice');
    const used = w.tokens.consumeForCustomJob(alloc.miningJobToken, 'alice', w.now);
    assert.equal(used.ok && used.kind, 'coinbase_only');
    const again = peer.allocate('alice', 3);
    peer.declare(again.miningJobToken, declaredJob(txs, { value: SUBSIDY + 6000n }));
    assert.equal(peer.session.closeReason, 'unexpected_message');
  });
});

describe('job declaration: bad input', () => {
  test('a 65,535-entry wtxid list → invalid-job (jd_wtxid_list_too_long); nothing is resolved or asked', () => {
    const { w } = world();
    const wtxids = Array.from({ length: 65_535 }, (_, i) => dsha(le32(i)));
    const { peer } = allocateAndDeclare(w, { ...declaredJob([], { value: SUBSIDY }), wtxids });
    const err = peer.take('DeclareMiningJobError');
    assert.equal(err.errorCode, 'invalid-job');
    assert.equal(details(err).reason_code, 'jd_wtxid_list_too_long');
    assert.deepEqual(peer.types(), []);
  });

  test('more AllocateMiningJobToken + DeclareMiningJob than max_requests_per_second closes with jd_request_flood', () => {
    const { w } = world();
    const peer = w.peer();
    for (let i = 0; i < 20; i++) peer.allocate('alice', i);
    peer.send({ type: 'AllocateMiningJobToken', userIdentifier: 'alice', requestId: 20 });
    assert.equal(peer.session.closeReason, 'jd_request_flood');
    // A second later the window is fresh (another connection, same limit).
    const other = w.peer();
    w.advance(1_000);
    for (let i = 0; i < 20; i++) other.allocate('alice', i);
    assert.equal(other.session.closed, false);
  });

  test('more declarations waiting for transactions than max_pending_declarations closes with jd_request_flood', () => {
    const { w, txs } = world();
    const peer = w.peer();
    for (let i = 0; i < 3; i++) {
      const orphan = spend(txs[0]!, 0, 9_000n, 10 + i);
      const alloc = peer.allocate('alice', i);
      peer.declare(alloc.miningJobToken, declaredJob([orphan], { value: SUBSIDY + 1000n }), 100 + i);
    }
    assert.equal(peer.types().filter((t) => t === 'ProvideMissingTransactions').length, 2);
    assert.equal(peer.session.closeReason, 'jd_request_flood');
  });

  test('messages of other protocols or directions close with unexpected_message; undecodable ones with malformed_message', () => {
    const { w } = world();
    const a = w.peer();
    a.send({ type: 'DeclareMiningJobSuccess', requestId: 1, newMiningJobToken: new Uint8Array(0) });
    assert.equal(a.session.closeReason, 'unexpected_message');
    const b = w.peer();
    // DeclareMiningJob (0x57) with a 3-byte payload.
    b.sendRaw(new Uint8Array([0x00, 0x00, 0x57, 0x03, 0x00, 0x00, 1, 2, 3]));
    assert.equal(b.session.closeReason, 'malformed_message');
  });
});

describe('job declaration: PushSolution', () => {
  test('a PushSolution meeting the target becomes a block holding exactly the declared transactions, once', () => {
    const { w, txs } = world();
    const job = declaredJob(txs, { value: SUBSIDY + 6000n });
    const { peer } = allocateAndDeclare(w, job);
    peer.take('DeclareMiningJobSuccess');
    const tip = w.released!;
    const extranonce = hexToBytes('0102030405060708');
    const coinbase = concatBytes(job.prefix, extranonce, job.suffix);
    // Stripped coinbase: drop marker+flag (bytes 4..6) and the witness (01 20 ‖ 32 bytes before the locktime).
    const stripped = concatBytes(coinbase.subarray(0, 4), coinbase.subarray(6, coinbase.length - 4 - 34), coinbase.subarray(coinbase.length - 4));
    const root = merkleRootOf([dsha(stripped), ...txs.map((t) => t.txid)]);
    const target = tip.target;
    let nonce = 0;
    let header = new Uint8Array(0);
    for (; nonce < 1000; nonce++) {
      header = concatBytes(le32(0x20000000), tip.prevHash, root, le32(1_700_000_000), le32(tip.nbits), le32(nonce));
      if (leInt(dsha(header)) <= target) break;
    }
    assert.ok(nonce < 1000, 'a regtest nonce exists');
    const push = { type: 'PushSolution' as const, extranonce, prevHash: tip.prevHash, nonce, ntime: 1_700_000_000, nbits: tip.nbits, version: 0x20000000 };
    peer.send(push);
    assert.equal(w.blocks.length, 1);
    const expected = concatBytes(header, varint(1 + txs.length), coinbase, ...txs.map((t) => t.data));
    assert.equal(bytesToHex(w.blocks[0]!.block), bytesToHex(expected));
    assert.equal(w.blocks[0]!.blockHashDisplay, bytesToHex(reversed(dsha(header))));
    peer.send(push);
    assert.equal(w.blocks.length, 1, 'deduplicated');
    assert.equal(peer.session.solutionsSubmitted, 1);
    // A solution on another prev_hash matches no declared job: no block.
    peer.send({ ...push, prevHash: new Uint8Array(32).fill(1) });
    assert.equal(w.blocks.length, 1);
    assert.equal(peer.session.solutionsRejected, 2, 'the duplicate and the unmatched one');
  });
});

describe('job declaration: replay', () => {
  test('reservegrid replay reconstructs every declaration verdict from the event log (JSON lines)', () => {
    const { w, txs } = world({ mode: 'observe', policy: { blocklistTxids: [makeTx(3, 3000n).txid] } });
    const peer = w.peer();
    const a = peer.allocate('alice', 1);
    peer.declare(a.miningJobToken, declaredJob(txs, { value: SUBSIDY + 6000n }), 2); // blocklisted, observe: Success
    peer.declare(new Uint8Array(16), declaredJob(txs, { value: SUBSIDY + 6000n }), 3); // unknown token: Error
    const b = peer.allocate('alice', 4);
    peer.declare(b.miningJobToken, declaredJob(txs.slice(0, 2), { value: SUBSIDY + 3000n }), 5); // accepted
    const emitted = w.verdicts();
    assert.equal(emitted.length, 3);
    const text = w.events.map((e, i) => JSON.stringify({ ...e, seq: i + 1, ts: '2026-12-03T00:00:00.000Z' })).join('\n');
    const log = parseEventLog([{ name: 'events.jsonl', text }]);
    const replayed = replayDeclarations(log);
    assert.deepEqual(
      replayed.map((d) => [d.request_id, d.mode, d.answered_success, d.enforced, d.wire, d.verdict]),
      emitted.map((e) => [e.request_id, e.mode, e.answered_success, e.enforced, e.wire, { accepted: e.accepted, reason_code: e.reason_code, reason_detail: e.reason_detail, policy_context: e.policy_context }]),
    );
    assert.deepEqual(replayed.map((d) => d.verdict.reason_code), ['blocklisted_txid', 'jd_token_unknown', 'template_accepted']);
    assert.deepEqual(replaySummary(log).declarations_by_mode_reason, { 'observe blocklisted_txid': 1, 'observe jd_token_unknown': 1, 'observe template_accepted': 1 });
    assert.match(describeLogEvent(log.entries.find((x) => x.event.type === 'jd_declaration_verdict')!.event), /declaration 1 .* rejected \(observe\): blocklisted_txid .* answered Success/);
  });
});

describe('job declaration: metrics', () => {
  test('every refusal has a code and a counter: declarations by mode, answer and reason; closes by reason', () => {
    const { w, txs } = world({ policy: { blocklistTxids: [makeTx(3, 3000n).txid] } });
    const peer = w.peer();
    const a = peer.allocate('alice', 1);
    peer.declare(a.miningJobToken, declaredJob(txs, { value: SUBSIDY + 6000n }), 2);
    peer.declare(new Uint8Array(16), declaredJob(txs, { value: SUBSIDY + 6000n }), 3);
    const b = peer.allocate('alice', 4);
    peer.declare(b.miningJobToken, declaredJob(txs.slice(0, 2), { value: SUBSIDY + 3000n }), 5);
    const c = peer.allocate('alice', 6);
    peer.declare(c.miningJobToken, declaredJob([spend(txs[0]!, 0, 9_000n, 9)], { value: SUBSIDY + 1000n }), 7);
    peer.send({ type: 'ProvideMissingTransactionsSuccess', requestId: 99, transactionList: [] });
    peer.send({ type: 'DeclareMiningJobSuccess', requestId: 1, newMiningJobToken: new Uint8Array(0) });
    const m = new GatewayMetrics({ mode: 'inline' });
    for (const e of w.events) m.observe(e);
    const p = parsePrometheusText(m.registry.render());
    assert.equal(sampleValue(p, 'reservegrid_jd_declarations_total', { mode: 'inline', answered: 'error', reason_code: 'blocklisted_txid' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_jd_declarations_total', { mode: 'inline', answered: 'error', reason_code: 'jd_token_unknown' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_jd_declarations_total', { mode: 'inline', answered: 'success', reason_code: 'template_accepted' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_jd_tokens_allocated_total', { mode: 'full_template' }), 3);
    assert.equal(sampleValue(p, 'reservegrid_jd_missing_transactions_total'), 1);
    assert.equal(sampleValue(p, 'reservegrid_jd_unexpected_responses_total'), 1);
    assert.equal(sampleValue(p, 'reservegrid_jd_connections_closed_total', { reason_code: 'unexpected_message' }), 1);
  });
});

describe('job declaration: docs', () => {
  const doc = readFileSync(new URL('../../docs/job-declaration.md', import.meta.url), 'utf8');
  test('docs/job-declaration.md names every jd_ reason code and the wire string the code sends', () => {
    for (const [code, info] of Object.entries(REASON_CODES)) {
      if (!code.startsWith('jd_')) continue;
      assert.ok(doc.includes(`\`${code}\``), `docs/job-declaration.md mentions ${code}`);
      const wire = (info as { wire?: string }).wire;
      if (wire !== undefined) assert.ok(doc.includes(`\`${wire}\``), `docs/job-declaration.md mentions ${wire}`);
      if (wire !== undefined) assert.equal(declareMiningJobWire(code as ReasonCode), wire);
    }
    for (const [code, wire] of [['prevhash_unknown', 'stale-chain-tip'], ['bip34_height_mismatch', 'invalid-coinbase-tx-input'], ['witness_commitment_invalid', 'invalid-coinbase-tx'], ['avg_fee_below_minimum', 'invalid-job']] as const) {
      assert.equal(declareMiningJobWire(code), wire, code);
      assert.ok(doc.includes(`\`${code}\``) && doc.includes(`\`${wire}\``));
    }
  });

  test('docs/job-declaration.md "Performance": the number of templates with declaration trees is the gateway\'s', () => {
    const text = doc.replace(/\s+/g, ' ');
    assert.ok(text.includes(`\`treesMax\`, ${JD_TEMPLATE_TREES} templates when a JD port is open`), 'the doc states JD_TEMPLATE_TREES');
    assert.ok(text.includes(`newest ${JD_TEMPLATE_TREES} or the cache`));
  });

  test('the documented defaults are the schema\'s, and the example section loads', () => {
    const keys = new Map(CONFIG_KEYS.map((k) => [k.path, k]));
    assert.equal(keys.get('job_declaration.declared_token_expiry_ms')!.default, 10_000);
    assert.equal(keys.get('job_declaration.allocated_token_expiry_ms')!.default, 600_000, 'documented as 10 min');
    const toml = /```toml\n([\s\S]*?)```/.exec(doc)![1]!;
    const example = readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8')
      .replace(/\[job_declaration\][\s\S]*$/, '')
      .replace(/allow_work_selection = \w+\n/, '');
    const merged = example.replace('[mining]\n', '[mining]\nallow_work_selection = true\n') + toml.replace(/\[mining\]\n.*\n/, '');
    const loaded = loadConfig({ tomlText: merged, env: { RESERVEGRID_GATEWAY__MODE: 'observe' } });
    assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.problems));
    assert.equal(loaded.config.job_declaration.listen_addr, '127.0.0.1:8443');
    assert.equal(loaded.config.mining.allow_work_selection, true);
  });
});
