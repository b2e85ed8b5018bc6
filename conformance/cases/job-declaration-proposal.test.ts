// Consensus through the node (issue 11 item 3; docs/job-declaration.md "Consensus through the
// node"), on the fake clock, on node, deno and bun: after the policy verdict the JDS emits a
// `propose_block` command holding the declared block byte for byte (built HERE independently:
// concatenation and noble's SHA-256), answers DeclareMiningJob only after the node's answer, and
// folds that answer into the verdict: valid → Success; invalid → `jd_proposal_rejected` with the
// node's string (inline: Error `invalid-job`; observe: Success + logged rejection); no answer by
// exactly job_declaration.proposal_timeout_ms, a node error or a malformed answer → the failure
// policy (`jd_proposal_unavailable` under fail_closed; permit_all accepts). A late answer is
// ignored and counted; the per-connection bound counts declarations waiting for the node; replay
// and the metrics carry the node's part.
// A last case drives the Gateway itself: pollProposal() out, blockProposalResult() in, the
// proposal deadline on the gateway heap.
import { describe, test } from '../../test/harness.ts';
import { assert } from '../../test/assert.ts';
import { bytesToHex, concatBytes, fromUtf8 } from '../../core/bytes.ts';
import { makeTemplate, makeTx } from '../../test/support/policy-fixtures.ts';
import { dsha, le32, merkleRootOf, varint } from '../../test/support/tdp-solution.ts';
import { declaredJob, JdsWorld, type DeclaredJobBytes } from '../jds-world.ts';
import { MiningJobTokens, type DeclaredJob, type ProposalSettings, type ProposeBlockCommand } from '../../core/job-declaration/index.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { NoiseInitiatorConnection } from '../../core/noise/index.ts';
import { SeededRandom } from '../../core/random.ts';
import { makeSettings } from '../../test/support/policy-fixtures.ts';
import { PrevhashWorld } from '../prevhash-world.ts';
import { readFileSync } from 'node:fs';
import { CONFIG_KEYS, loadConfig } from '../../core/config/index.ts';
import { GatewayMetrics } from '../../core/metrics/gateway-metrics.ts';
import { parsePrometheusText, sampleValue } from '../../test/support/prometheus-text.ts';
import { describeLogEvent, parseEventLog, replayDeclarations } from '../../runtimes/commands/replay.ts';

const SUBSIDY = 5_000_000_000n;
const TIMEOUT_MS = 2000;
const FAIL_CLOSED: ProposalSettings = { timeoutMs: TIMEOUT_MS, failurePolicy: 'fail_closed' };

function world(options: ConstructorParameters<typeof JdsWorld>[0] = {}) {
  const w = new JdsWorld({ proposal: FAIL_CLOSED, ...options });
  const txs = [makeTx(1, 1000n), makeTx(2, 2000n), makeTx(3, 3000n)];
  const tip = makeTemplate({ transactions: txs });
  w.release(tip);
  return { w, txs, tip, job: declaredJob(txs, { value: SUBSIDY + 6000n }) };
}

function details(m: { errorDetails: Uint8Array }): { reason_code: string; reason_detail: string } {
  return JSON.parse(fromUtf8(m.errorDetails)) as { reason_code: string; reason_detail: string };
}

/** The declared block as BIP23 wants it, built without core/: header (declared version, tip prev_hash, curtime, nbits, nonce 0), coinbase with a zero extranonce, the declared transactions. */
function expectedBlock(tip: ReturnType<typeof makeTemplate>, job: DeclaredJobBytes, txs: readonly { txid: Uint8Array; data: Uint8Array }[], version = 0x20000000): string {
  const cb = job.coinbase;
  // Stripped coinbase: drop marker+flag (bytes 4..6) and the witness (01 20 ‖ 32 bytes before the locktime).
  const stripped = concatBytes(cb.subarray(0, 4), cb.subarray(6, cb.length - 4 - 34), cb.subarray(cb.length - 4));
  const root = merkleRootOf([dsha(stripped), ...txs.map((t) => t.txid)]);
  const header = concatBytes(le32(version), tip.prevHash, root, le32(tip.curtime), le32(tip.nbits), le32(0));
  return bytesToHex(concatBytes(header, varint(1 + txs.length), cb, ...txs.map((t) => t.data)));
}

function declare(w: JdsWorld, job: DeclaredJobBytes, peer = w.peer(), requestId = 2) {
  const alloc = peer.allocate('alice', requestId - 1);
  peer.declare(alloc.miningJobToken, job, requestId);
  return peer;
}

describe('job declaration: the node\'s BIP23 proposal', () => {
  test('an accepted policy verdict is proposed with the declared block byte for byte; Success only after the node says valid', () => {
    const { w, txs, tip, job } = world();
    const peer = declare(w, job);
    assert.equal(w.proposals.length, 1);
    const command = w.proposals[0]!;
    assert.equal(command.type, 'propose_block');
    assert.equal(command.conn_id, peer.session.connId);
    assert.equal(bytesToHex(command.block), expectedBlock(tip, job, txs));
    assert.deepEqual(peer.types(), [], 'no answer before the node\'s');
    assert.equal(w.verdicts().length, 0, 'no verdict event yet');
    assert.equal(peer.session.awaitingNode, 1);
    w.advance(37);
    assert.equal(w.answerProposal(command, { kind: 'valid' }), true);
    const success = peer.take('DeclareMiningJobSuccess');
    assert.equal(success.requestId, 2);
    const v = w.verdicts()[0]!;
    assert.deepEqual([v.accepted, v.reason_code, v.answered_success], [true, 'template_accepted', true]);
    assert.equal(v.policy_context['proposal_result'], 'valid');
    assert.equal(v.policy_context['proposal_latency_ms'], 37);
    assert.equal(peer.session.awaitingNode, 0);
  });

  test('inline: the node says invalid → DeclareMiningJob.Error invalid-job, jd_proposal_rejected with the node\'s string', () => {
    const { w, job } = world();
    const peer = declare(w, job);
    w.answerProposal(w.proposals[0]!, { kind: 'invalid', reason: 'bad-txns-inputs-missingorspent' });
    const error = peer.take('DeclareMiningJobError');
    assert.equal(error.errorCode, 'invalid-job');
    assert.deepEqual(details(error), { reason_code: 'jd_proposal_rejected', reason_detail: 'bad-txns-inputs-missingorspent' });
    const v = w.verdicts()[0]!;
    assert.deepEqual([v.accepted, v.reason_code, v.answered_success, v.enforced, v.wire], [false, 'jd_proposal_rejected', false, true, 'invalid-job']);
    assert.equal(v.policy_context['proposal_reason'], 'bad-txns-inputs-missingorspent');
  });

  test('observe: the node says invalid → Success, and the rejection is logged', () => {
    const { w, job } = world({ mode: 'observe' });
    const peer = declare(w, job);
    w.answerProposal(w.proposals[0]!, { kind: 'invalid', reason: 'bad-cb-amount' });
    peer.take('DeclareMiningJobSuccess');
    const v = w.verdicts()[0]!;
    assert.deepEqual([v.accepted, v.reason_code, v.reason_detail, v.answered_success, v.enforced], [false, 'jd_proposal_rejected', 'bad-cb-amount', true, false]);
  });

  test('the node\'s tip moved (Core inconclusive-not-best-prevblk, btcd bad-prevblk / inconclusive-not-best-prvblk) → prevhash_stale, answered stale-chain-tip, not invalid-job', () => {
    // stale-chain-tip is the one DeclareMiningJob.Error on which SRI's JDC keeps this pool and
    // waits for the next tip; any other string makes it fall back to its next upstream.
    for (const reason of ['inconclusive-not-best-prevblk', 'inconclusive-not-best-prvblk', 'bad-prevblk']) {
      const { w, job } = world();
      const peer = declare(w, job);
      w.answerProposal(w.proposals[0]!, { kind: 'invalid', reason });
      const error = peer.take('DeclareMiningJobError');
      assert.equal(error.errorCode, 'stale-chain-tip', reason);
      assert.equal(details(error).reason_code, 'prevhash_stale', reason);
      const v = w.verdicts()[0]!;
      assert.deepEqual([v.accepted, v.reason_code, v.answered_success, v.enforced, v.wire, v.policy_context['proposal_result'], v.policy_context['proposal_reason']], [false, 'prevhash_stale', false, true, 'stale-chain-tip', 'invalid', reason]);
    }
    const o = world({ mode: 'observe' });
    const op = declare(o.w, o.job);
    o.w.answerProposal(o.w.proposals[0]!, { kind: 'invalid', reason: 'bad-prevblk' });
    op.take('DeclareMiningJobSuccess');
    assert.deepEqual([o.w.verdicts()[0]!.reason_code, o.w.verdicts()[0]!.enforced], ['prevhash_stale', false], 'observe logs it and answers Success');
  });

  test('any other BIP22 inconclusive… string is no verdict on the block: the failure policy decides', () => {
    const closed = world();
    const cp = declare(closed.w, closed.job);
    closed.w.answerProposal(closed.w.proposals[0]!, { kind: 'invalid', reason: 'inconclusive' });
    const error = cp.take('DeclareMiningJobError');
    assert.deepEqual([error.errorCode, details(error).reason_code], ['invalid-job', 'jd_proposal_unavailable']);
    assert.deepEqual([closed.w.verdicts()[0]!.policy_context['proposal_result'], closed.w.verdicts()[0]!.policy_context['proposal_failure_policy']], ['invalid', 'fail_closed']);
    const open = world({ proposal: { timeoutMs: TIMEOUT_MS, failurePolicy: 'permit_all' } });
    const pp = declare(open.w, open.job);
    open.w.answerProposal(open.w.proposals[0]!, { kind: 'invalid', reason: 'inconclusive-duplicate' });
    pp.take('DeclareMiningJobSuccess');
    assert.deepEqual([open.w.verdicts()[0]!.accepted, open.w.verdicts()[0]!.policy_context['proposal_failure_policy']], [true, 'permit_all']);
  });

  test('observe proposes a policy rejection too (the log says what the node thought); inline answers it at once without the node', () => {
    const blocked = { blocklistTxids: [makeTx(3, 3000n).txid] };
    const o = world({ mode: 'observe', policy: blocked });
    const op = declare(o.w, o.job);
    assert.equal(o.w.proposals.length, 1);
    o.w.answerProposal(o.w.proposals[0]!, { kind: 'valid' });
    op.take('DeclareMiningJobSuccess');
    const ov = o.w.verdicts()[0]!;
    assert.deepEqual([ov.accepted, ov.reason_code, ov.policy_context['proposal_result']], [false, 'blocklisted_txid', 'valid'], 'first failure wins; the node\'s part is recorded');

    const i = world({ policy: blocked });
    const ip = declare(i.w, i.job);
    assert.equal(i.w.proposals.length, 0);
    assert.equal(details(ip.take('DeclareMiningJobError')).reason_code, 'blocklisted_txid');
  });

  test(`no answer: nothing at ${TIMEOUT_MS - 1} ms, the failure policy at exactly ${TIMEOUT_MS} ms; a late answer is ignored and counted`, () => {
    const { w, job } = world();
    const peer = declare(w, job);
    w.advance(TIMEOUT_MS - 1);
    assert.deepEqual(peer.types(), []);
    w.advance(1);
    const error = peer.take('DeclareMiningJobError');
    assert.equal(error.errorCode, 'invalid-job');
    assert.equal(details(error).reason_code, 'jd_proposal_unavailable');
    const v = w.verdicts()[0]!;
    assert.deepEqual([v.policy_context['proposal_result'], v.policy_context['proposal_latency_ms'], v.policy_context['proposal_failure_policy']], ['timeout', TIMEOUT_MS, 'fail_closed']);
    assert.equal(w.answerProposal(w.proposals[0]!, { kind: 'valid' }), false, 'late');
    assert.deepEqual(peer.types(), [], 'no second answer');
    assert.equal(peer.session.lateProposalAnswers, 1);
    assert.deepEqual(w.eventsOf('jd_proposal_late').map((e) => [e.declaration_id, e.answer_kind]), [[w.proposals[0]!.declaration_id, 'valid']]);
    assert.equal(w.verdicts().length, 1);
  });

  test('permit_all: no answer in time → accepted on policy alone, the reason recorded', () => {
    const { w, job } = world({ proposal: { timeoutMs: TIMEOUT_MS, failurePolicy: 'permit_all' } });
    const peer = declare(w, job);
    w.advance(TIMEOUT_MS);
    peer.take('DeclareMiningJobSuccess');
    const v = w.verdicts()[0]!;
    assert.deepEqual([v.accepted, v.reason_code, v.policy_context['proposal_result'], v.policy_context['proposal_failure_policy']], [true, 'template_accepted', 'timeout', 'permit_all']);
  });

  test('node errors and malformed answers are no verdict: jd_proposal_unavailable under fail_closed', () => {
    const answers: [unknown, string][] = [
      [{ kind: 'node_error', code: 'upstream-unreachable', message: 'connect ECONNREFUSED' }, 'node_error'],
      [{ kind: 'node_error', code: 'upstream-bad-response', message: 'proposal result is neither null nor a string: 5' }, 'malformed'],
      [null, 'malformed'],
      ['valid', 'malformed'],
      [{ kind: 'invalid' }, 'malformed'],
      [{ kind: 'invalid', reason: 'x'.repeat(257) }, 'malformed'],
      [{ kind: 'invalid', reason: 'bad\nline' }, 'malformed'],
      [{ kind: 'accepted' }, 'malformed'],
    ];
    for (const [answer, result] of answers) {
      const { w, job } = world();
      const peer = declare(w, job);
      w.answerProposal(w.proposals[0]!, answer);
      assert.equal(details(peer.take('DeclareMiningJobError')).reason_code, 'jd_proposal_unavailable', JSON.stringify(answer));
      assert.equal(w.verdicts()[0]!.policy_context['proposal_result'], result, JSON.stringify(answer));
    }
  });

  test('declarations waiting for the node count against max_pending_declarations; one more closes with jd_request_flood', () => {
    const { w, job } = world(); // JDS_SETTINGS.pendingDeclarationsMax = 2
    const peer = w.peer();
    declare(w, job, peer, 2);
    declare(w, job, peer, 4);
    assert.equal(peer.session.awaitingNode, 2);
    declare(w, job, peer, 6);
    assert.equal(peer.session.closeReason, 'jd_request_flood');
    assert.equal(w.proposals.length, 2);
    // Their answers now arrive for a closed connection: ignored and counted.
    assert.equal(w.answerProposal(w.proposals[0]!, { kind: 'valid' }), false);
    assert.equal(peer.session.lateProposalAnswers, 1);
  });

  test('replay rebuilds each verdict with the node\'s part; metrics count proposals by result, their latency and late answers', () => {
    const { w, job } = world({ mode: 'observe' });
    const peer = w.peer();
    declare(w, job, peer, 2);
    declare(w, job, peer, 4);
    w.advance(12);
    w.answerProposal(w.proposals[0]!, { kind: 'valid' });
    w.answerProposal(w.proposals[1]!, { kind: 'invalid', reason: 'bad-txnmrklroot' });
    w.answerProposal(w.proposals[1]!, { kind: 'valid' }); // a second answer: late
    const emitted = w.verdicts();
    const text = w.events.map((e, i) => JSON.stringify({ ...e, seq: i + 1, ts: '2026-12-03T00:00:00.000Z' })).join('\n');
    const log = parseEventLog([{ name: 'events.jsonl', text }]);
    const replayed = replayDeclarations(log);
    assert.deepEqual(replayed.map((d) => d.verdict), emitted.map((e) => ({ accepted: e.accepted, reason_code: e.reason_code, reason_detail: e.reason_detail, policy_context: e.policy_context })));
    assert.deepEqual(replayed.map((d) => [d.verdict.reason_code, d.verdict.policy_context['proposal_result'], d.verdict.policy_context['proposal_latency_ms']]), [['template_accepted', 'valid', 12], ['jd_proposal_rejected', 'invalid', 12]]);
    const lines = log.entries.filter((x) => x.event.type === 'jd_declaration_verdict' || x.event.type === 'jd_proposal_late').map((x) => describeLogEvent(x.event));
    assert.match(lines[0]!, /accepted \(observe\): template_accepted .*; node: valid after 12 ms$/);
    assert.match(lines[1]!, /rejected \(observe\): jd_proposal_rejected bad-txnmrklroot; answered Success; node: invalid bad-txnmrklroot after 12 ms$/);
    assert.match(lines[2]!, /node answer \(valid\) for declaration 2 .* ignored$/);
    const m = new GatewayMetrics({ mode: 'observe' });
    for (const e of w.events) m.observe(e);
    const p = parsePrometheusText(m.registry.render());
    assert.equal(sampleValue(p, 'reservegrid_jd_proposals_total', { result: 'valid' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_jd_proposals_total', { result: 'invalid' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_jd_proposals_total', { result: 'timeout' }), 0);
    assert.equal(sampleValue(p, 'reservegrid_jd_proposal_latency_seconds_count'), 2);
    assert.equal(sampleValue(p, 'reservegrid_jd_proposal_late_answers_total'), 1);
  });
});

describe('job declaration: the one fail-closed rule (stale hold) and the gateway\'s proposal routing', () => {
  const jobDeclaration = (proposal?: ProposalSettings) => ({
    maxClients: 4,
    settings: { declaredTransactionsMax: 16_666, requestsPerSecondMax: 20, pendingDeclarationsMax: 2, retainedJobs: 4 },
    tokens: new MiningJobTokens<DeclaredJob>({ allocatedExpiryMs: 600_000, declaredExpiryMs: 10_000, capacity: 100, tombstoneMs: 60_000 }, new SeededRandom(5)),
    providedTransactionsMax: 100,
    policy: makeSettings({ subsidyHalvingInterval: 210_000 }),
    ...(proposal === undefined ? {} : { proposal }),
  });

  test('inline stale hold: at expiry the JD connection is disconnected (stale_hold_expired) and new JD clients are refused, like miners and TDP clients', () => {
    const world = new PrevhashWorld({ mode: 'inline', policy: 'fail_closed', jobDeclaration: jobDeclaration() });
    const bad = new Set<bigint>();
    world.verifier.script = (t) => (bad.has(t.templateId) ? { kind: 'reject', latencyMs: 0 } : { kind: 'accept', latencyMs: 0 });
    world.template(makeTemplate({ templateId: 501n }));
    const connId = world.gateway.acceptJdsConnection(world.now, { wallMs: world.clock.wallMs() });
    assert.notEqual(connId, null);
    const next = makeTemplate({ templateId: 502n, prevHash: dsha(new TextEncoder().encode('tip B')) });
    bad.add(next.templateId);
    world.template(next);
    assert.equal(world.gateway.gate.phase, 'holding');
    world.advance(world.verdictTimeoutMs + world.staleHoldMs - 1);
    assert.equal(world.gateway.jdsSession(connId!)?.closed, false, 'open during the hold');
    world.advance(1);
    const closed = world.events.map((e) => e.event).filter((e) => e.type === 'jd_connection_closed');
    assert.deepEqual(closed.map((e) => e.type === 'jd_connection_closed' && [e.conn_id, e.reason_code]), [[connId, 'stale_hold_expired']]);
    assert.equal(world.gateway.acceptJdsConnection(world.now, { wallMs: world.clock.wallMs() }), null);
    world.pump();
    const refused = world.events.map((e) => e.event).filter((e) => e.type === 'jd_connection_refused');
    assert.deepEqual(refused.map((e) => e.type === 'jd_connection_refused' && e.reason_code), ['stale_hold_expired']);
    assert.equal(world.gateway.jdsCounts.refused, 1);
    // An acceptable template for the new tip ends the refusal.
    world.template(makeTemplate({ templateId: 503n, prevHash: next.prevHash }));
    assert.notEqual(world.gateway.acceptJdsConnection(world.now, { wallMs: world.clock.wallMs() }), null);
  });

  test('with nothing declared the gateway queues no proposal; an answer for a connection it does not have is ignored and counted late', () => {
    const world = new PrevhashWorld({ mode: 'inline', jobDeclaration: jobDeclaration(FAIL_CLOSED) });
    world.template(makeTemplate({ templateId: 601n }));
    assert.equal(world.gateway.pollProposal(), undefined);
    world.gateway.blockProposalResult(999, '7', { kind: 'valid' }, world.now);
    world.pump();
    const late = world.events.map((e) => e.event).filter((e) => e.type === 'jd_proposal_late');
    assert.deepEqual(late.map((e) => e.type === 'jd_proposal_late' && [e.conn_id, e.declaration_id, e.answer_kind]), [[999, '7', 'valid']]);
    assert.equal(world.gateway.lateProposalAnswers, 1);
  });
});

describe('job declaration: proposal configuration', () => {
  const example = readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8');
  const load = (toml: string) => loadConfig({ tomlText: toml, env: { RESERVEGRID_GATEWAY__MODE: 'observe' } });

  test('defaults: proposals on, 2000 ms, fail_closed; deploy/config/example.toml states them and loads', () => {
    const keys = new Map(CONFIG_KEYS.map((k) => [k.path, k]));
    assert.equal(keys.get('job_declaration.block_proposals')!.default, true);
    assert.equal(keys.get('job_declaration.proposal_timeout_ms')!.default, 2000);
    assert.equal(keys.get('job_declaration.proposal_failure_policy')!.default, 'fail_closed');
    const loaded = load(example);
    assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.problems));
    assert.deepEqual(
      [loaded.config.mining.allow_work_selection, loaded.config.job_declaration.block_proposals, loaded.config.job_declaration.proposal_timeout_ms, loaded.config.job_declaration.proposal_failure_policy],
      [true, true, 2000, 'fail_closed'],
    );
  });

  test('[job_declaration] without mining.allow_work_selection is refused (no declared job could be mined)', () => {
    const loaded = load(example.replace('allow_work_selection = true', 'allow_work_selection = false'));
    assert.ok(!loaded.ok, 'refused');
    const problem = loaded.problems.find((p) => p.key === 'mining.allow_work_selection');
    assert.ok(problem !== undefined, JSON.stringify(loaded.problems));
    assert.match(problem.message, /job_declaration/);
    // Without the section the flag may be off again.
    const without = load(example.replace(/\[job_declaration\][\s\S]*$/, '').replace('allow_work_selection = true', 'allow_work_selection = false'));
    assert.ok(without.ok, without.ok ? '' : JSON.stringify(without.problems));
  });

  test('[job_declaration] with gateway.workers other than 1 loads (the workers ask the leader\'s tokens: docs/scaling.md)', () => {
    // deploy/config/example.toml's workers line, whatever value it shows (the default, "auto").
    assert.match(example, /^workers = \S+ /m);
    for (const workers of ['2', '"auto"']) {
      const loaded = load(example.replace(/^workers = \S+ /m, `workers = ${workers} `));
      assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.problems));
      assert.equal(String(loaded.config.gateway.workers), workers.replaceAll('"', ''));
      assert.ok(loaded.config.job_declaration.listen_addr !== undefined);
    }
    const without = load(example.replace(/\[job_declaration\][\s\S]*$/, '').replace(/^workers = \S+ /m, 'workers = 2 '));
    assert.ok(without.ok, without.ok ? '' : JSON.stringify(without.problems));
  });
});

describe('job declaration: proposals through the Gateway (commands out, answers in, deadlines on its heap)', () => {
  test('DeclareMiningJob → pollProposal() holds the block; blockProposalResult → Success; a second one unanswered → jd_proposal_unavailable at exactly the timeout', () => {
    const world = new PrevhashWorld({ mode: 'observe', jobDeclaration: {
      maxClients: 4,
      settings: { declaredTransactionsMax: 16_666, requestsPerSecondMax: 20, pendingDeclarationsMax: 2, retainedJobs: 4 },
      tokens: new MiningJobTokens<DeclaredJob>({ allocatedExpiryMs: 600_000, declaredExpiryMs: 10_000, capacity: 100, tombstoneMs: 60_000 }, new SeededRandom(6)),
      providedTransactionsMax: 100,
      policy: makeSettings({ subsidyHalvingInterval: 210_000 }),
      proposal: FAIL_CLOSED,
    } });
    const gateway = world.gateway;
    const txs = [makeTx(1, 1000n), makeTx(2, 2000n), makeTx(3, 3000n)];
    const tip = makeTemplate({ templateId: 701n, transactions: txs });
    gateway.templateUpdated(tip, world.now);
    const connId = gateway.acceptJdsConnection(world.now, { wallMs: world.clock.wallMs() })!;
    const noise = new NoiseInitiatorConnection({ provider: nobleProvider, random: world.random, certificatePolicy: { kind: 'pinned', authorityXOnly: world.authority.publicKeyXOnly }, wallClock: world.clock }, world.now);
    const inbox: Sv2Message[] = [];
    const proposals: ProposeBlockCommand[] = [];
    const events: { type: string; request_id?: number; reason_code?: string; policy_context?: Record<string, unknown> }[] = [];
    const pump = (): void => {
      for (let round = 0; round < 100; round++) {
        let moved = false;
        for (let b = noise.pollTransmit(); b !== undefined; b = noise.pollTransmit()) {
          moved = true;
          gateway.receive(connId, b, world.now);
        }
        while (gateway.pollCommand() !== undefined) moved = true;
        for (let p = gateway.pollProposal(); p !== undefined; p = gateway.pollProposal()) {
          moved = true;
          proposals.push(p);
        }
        for (let e = gateway.pollEvent(); e !== undefined; e = gateway.pollEvent()) {
          moved = true;
          events.push(e);
        }
        for (let t = gateway.pollTransmit(); t !== undefined; t = gateway.pollTransmit()) {
          moved = true;
          if (t.conn_id === connId && 'bytes' in t) noise.receive(t.bytes, world.now);
        }
        for (let e = noise.pollEvent(); e !== undefined; e = noise.pollEvent()) {
          if (e.type !== 'frame') continue;
          const m = decodeMessage(e.frame);
          assert.ok(m.ok);
          inbox.push(m.value);
        }
        if (!moved) return;
      }
    };
    const send = (m: Sv2Message): void => {
      assert.ok(noise.send(encodeMessage(m)).ok);
      pump();
    };
    const take = <T extends Sv2Message['type']>(type: T): Extract<Sv2Message, { type: T }> => {
      const i = inbox.findIndex((m) => m.type === type);
      assert.ok(i >= 0, `expected ${type}, inbox has [${inbox.map((m) => m.type).join(', ')}]`);
      return inbox.splice(i, 1)[0] as Extract<Sv2Message, { type: T }>;
    };
    pump();
    send({ type: 'SetupConnection', protocol: 1, minVersion: 2, maxVersion: 2, flags: 1, endpointHost: '127.0.0.1', endpointPort: 0, vendor: 'gw-test', hardwareVersion: '', firmware: '', deviceId: '' });
    take('SetupConnectionSuccess');
    const job = declaredJob(txs, { value: SUBSIDY + 6000n });
    const declare = (requestId: number): void => {
      send({ type: 'AllocateMiningJobToken', userIdentifier: 'alice', requestId: requestId - 1 });
      const token = take('AllocateMiningJobTokenSuccess').miningJobToken;
      send({ type: 'DeclareMiningJob', requestId, miningJobToken: token, version: 0x20000000, coinbaseTxPrefix: job.prefix, coinbaseTxSuffix: job.suffix, wtxidList: job.wtxids, excessData: new Uint8Array(0) });
    };
    declare(2);
    assert.equal(proposals.length, 1);
    assert.deepEqual([proposals[0]!.conn_id, bytesToHex(proposals[0]!.block)], [connId, expectedBlock(tip, job, txs)]);
    assert.equal(inbox.length, 0);
    gateway.blockProposalResult(connId, proposals[0]!.declaration_id, { kind: 'valid' }, world.now);
    pump();
    assert.equal(take('DeclareMiningJobSuccess').requestId, 2);

    declare(4);
    assert.equal(proposals.length, 2);
    const sentAt = world.now;
    const fire = (at: number): void => {
      world.clock.advanceTo(at);
      for (let d = gateway.nextDeadlineMs(); d !== undefined && d <= at; d = gateway.nextDeadlineMs()) {
        gateway.onTimeout(at);
        pump();
        if (gateway.nextDeadlineMs() === d) break;
      }
      pump();
    };
    fire(sentAt + TIMEOUT_MS - 1);
    assert.equal(inbox.length, 0, 'nothing before the timeout');
    fire(sentAt + TIMEOUT_MS);
    // observe: Success, the rejection logged (fail_closed).
    assert.equal(take('DeclareMiningJobSuccess').requestId, 4);
    const v = events.filter((e) => e.type === 'jd_declaration_verdict').map((e) => [e.request_id, e.reason_code, e.policy_context?.['proposal_result'], e.policy_context?.['proposal_latency_ms']]);
    assert.deepEqual(v, [[2, 'template_accepted', 'valid', 0], [4, 'jd_proposal_unavailable', 'timeout', TIMEOUT_MS]]);
    assert.equal(gateway.jdsSession(connId)!.lateProposalAnswers, 0);
    gateway.blockProposalResult(connId, proposals[1]!.declaration_id, { kind: 'valid' }, world.now);
    assert.equal(gateway.lateProposalAnswers, 1);
  });
});
