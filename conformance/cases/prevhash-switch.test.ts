// SPEC §5–§6 at every boundary, on the fake clock (issue 4 acceptance): the whole Gateway with
// in-memory Noise miners and a scripted verifier (conformance/prevhash-world.ts). t0 is the
// arrival of the template with the new prevhash; verdict timeout 50 ms, stale hold 5000 ms.
//   verdict at t0+49 / +50 → switch without a hold; +51 → hold at +50, switch at +51
//   hold expiry at t0+5050: a verdict at +5049 (and one delivered at +5050) switches; at +5050
//   with nothing acceptable, disconnect every miner in ascending conn id, `stale_hold_expired`
//   accepted verdict / newer accepted template during the hold; a rejected verdict; permit_all
//   at the timeout; verifier outage; shares on held work; same order on every run; each mode.
import { describe, test } from '../../test/harness.ts';
import { assert } from '../../test/assert.ts';
import { header80 } from '../../core/mining/header.ts';
import { sha256d } from '../../core/mining/hash.ts';
import { targetFromU256 } from '../../core/mining/target.ts';
import { REASON_CODES } from '../../core/reason-codes.ts';
import { PREV_A, PrevhashWorld, prevFor, template, type Miner, type WorldOptions } from '../prevhash-world.ts';

const PREV_B = prevFor(1);
const PREV_C = prevFor(2);

/** Inline world: T0 on PREV_A accepted and released, `miners` miners on it, inbox empty. */
function inlineWorld(options: WorldOptions & { miners?: number } = {}) {
  const world = new PrevhashWorld(options);
  const t0 = world.template(template(PREV_A));
  assert.equal(world.released.length, 1, 'T0 accepted at once and released');
  const miners: Miner[] = [];
  for (let i = 0; i < (options.miners ?? 3); i++) miners.push(world.miner());
  for (const m of miners) assert.equal(m.prev, PREV_A);
  world.events.length = 0;
  return { world, t0, miners };
}

function idsOf(world: PrevhashWorld): string[] {
  return world.released.map((r) => r.template.templateId.toString());
}

function assertSwitchedAt(world: PrevhashWorld, miners: Miner[], prev: string, atMs: number): void {
  for (const m of miners) {
    assert.equal(m.prev, prev, `miner ${m.connId} on the new prevhash`);
    assert.equal(m.prevAtMs, atMs, `miner ${m.connId} switched at ${atMs}`);
  }
}

function assertNotSwitched(miners: Miner[], prev = PREV_A): void {
  for (const m of miners) {
    assert.equal(m.prev, prev, `miner ${m.connId} still on its previous job`);
    assert.equal(m.closedByServer, false, `miner ${m.connId} connected`);
  }
}

describe('prevhash switch: the verdict timeout boundary (49/50/51 ms)', () => {
  for (const latency of [49, 50]) {
    test(`accepted at t0+${latency} → every channel switches at t0+${latency}, no hold`, () => {
      const { world, miners } = inlineWorld();
      world.verifier.script = () => ({ kind: 'accept', latencyMs: latency });
      const start = world.now;
      const t1 = world.template(template(PREV_B));
      world.advance(latency - 1);
      assertNotSwitched(miners);
      assert.equal(world.eventsOf('prevhash_switch').length, 0);
      world.advance(1);
      assertSwitchedAt(world, miners, PREV_B, start + latency);
      const sw = world.eventsOf('prevhash_switch');
      assert.equal(sw.length, 1);
      assert.deepEqual(
        { id: sw[0]!.template_id, verified: sw[0]!.verified, cause: sw[0]!.cause, latency: sw[0]!.latency_ms, from_hold: sw[0]!.from_hold, code: sw[0]!.reason_code },
        { id: t1.templateId.toString(), verified: true, cause: 'verdict_accepted', latency, from_hold: false, code: 'template_accepted' },
      );
      const verdict = world.eventsOf('template_verdict').at(-1)!;
      assert.deepEqual(
        { mode: verdict.mode, enforced: verdict.enforced, latency: verdict.latency_ms, action: verdict.action, accepted: verdict.verdict.accepted, newPrev: verdict.new_prevhash },
        { mode: 'inline', enforced: true, latency, action: 'released', accepted: true, newPrev: true },
      );
      assert.equal(world.eventsOf('stale_hold_started').length, 0, 'no hold');
      world.advance(10_000);
      assert.equal(world.eventsOf('miner_disconnected').length, 0);
      assert.equal(world.gateway.gate.phase, 'idle');
    });
  }

  test('accepted at t0+51 → the hold starts at t0+50 (verdict_timeout), the switch comes at t0+51', () => {
    const { world, miners, t0 } = inlineWorld();
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 51 });
    const start = world.now;
    const t1 = world.template(template(PREV_B));
    world.advance(49);
    assert.equal(world.gateway.gate.phase, 'awaiting_verdict');
    world.advance(1);
    assert.equal(world.gateway.gate.phase, 'holding');
    const started = world.timed('stale_hold_started');
    assert.equal(started.length, 1);
    assert.equal(started[0]!.atMs, start + 50);
    assert.deepEqual(
      { code: started[0]!.event.reason_code, tpl: started[0]!.event.template_id, held: started[0]!.event.held_template_id, hold: started[0]!.event.hold_ms, conns: started[0]!.event.connections },
      { code: 'verdict_timeout', tpl: t1.templateId.toString(), held: t0.templateId.toString(), hold: 5000, conns: 3 },
    );
    assertNotSwitched(miners);
    world.advance(1);
    assertSwitchedAt(world, miners, PREV_B, start + 51);
    const ended = world.eventsOf('stale_hold_ended');
    assert.deepEqual(ended.map((e) => [e.outcome, e.duration_ms, e.switch_latency_ms, e.template_id]), [['switched', 1, 51, t1.templateId.toString()]]);
    const sw = world.eventsOf('prevhash_switch')[0]!;
    assert.equal(sw.from_hold, true);
    assert.equal(sw.latency_ms, 51);
  });

  test('a verdict at exactly t0+50 is in time even when the driver fires the timeout first (hold ends at once)', () => {
    // Drive the gate directly in the "wrong" order: timeout, then the verdict at the same instant.
    const { world, miners } = inlineWorld();
    world.verifier.script = () => ({ kind: 'never' });
    const start = world.now;
    const t1 = world.template(template(PREV_B));
    const requestId = world.verifier.requests.at(-1)!.id;
    world.clock.advanceTo(start + 50);
    world.gateway.gate.onTimeout(world.now);
    world.gateway.gate.outcome({ kind: 'verdict', requestId, templateId: t1.templateId, verdict: { accepted: true, reason_code: 'template_accepted', reason_detail: 'ok', policy_context: {} }, latencyMs: 50 }, world.now);
    world.pump();
    assertSwitchedAt(world, miners, PREV_B, start + 50);
    assert.deepEqual(world.eventsOf('stale_hold_ended').map((e) => [e.outcome, e.duration_ms]), [['switched', 0]]);
  });
});

describe('prevhash switch: stale hold expiry (timeout + hold ± 1 ms)', () => {
  test('nothing acceptable: connected at t0+5049; at t0+5050 every miner is disconnected in ascending conn id', () => {
    const { world, miners } = inlineWorld({ miners: 4 });
    world.verifier.script = () => ({ kind: 'never' });
    const start = world.now;
    world.template(template(PREV_B));
    world.advanceTo(start + 5049);
    assertNotSwitched(miners);
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
    world.advanceTo(start + 5050);
    const ended = world.timed('stale_hold_ended');
    assert.equal(ended.length, 1);
    assert.deepEqual(
      { at: ended[0]!.atMs, outcome: ended[0]!.event.outcome, code: ended[0]!.event.reason_code, duration: ended[0]!.event.duration_ms, n: ended[0]!.event.disconnected },
      { at: start + 5050, outcome: 'expired', code: 'stale_hold_expired', duration: 5000, n: 4 },
    );
    const disconnected = world.eventsOf('miner_disconnected');
    assert.deepEqual(disconnected.map((e) => [e.conn_id, e.order, e.reason_code, e.channels]), miners.map((m, i) => [m.connId, i + 1, 'stale_hold_expired', 1]));
    const closed = world.eventsOf('connection_closed');
    assert.deepEqual(closed.map((e) => [e.conn_id, e.reason_code]), miners.map((m) => [m.connId, 'stale_hold_expired']));
    // Each miner_disconnected is immediately followed by its connection_closed.
    const kinds = world.events.filter((e) => e.event.type === 'miner_disconnected' || e.event.type === 'connection_closed').map((e) => e.event.type);
    assert.deepEqual(kinds, miners.flatMap(() => ['miner_disconnected', 'connection_closed']));
    for (const m of miners) {
      assert.ok(m.closedByServer, `miner ${m.connId} disconnected`);
      assert.equal(m.prev, PREV_A, 'never got the unverified work');
    }
    assert.equal(world.gateway.gate.phase, 'expired');
    // Firmware that reconnects is refused until acceptable work exists (it would mine stale work).
    assert.equal(world.gateway.acceptConnection(world.now, { wallMs: world.clock.wallMs() }), null);
    world.pump();
    assert.equal(world.eventsOf('connection_refused').at(-1)!.reason_code, 'stale_hold_expired');
    // A new block that is accepted ends the refusal.
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 5 });
    world.template(template(PREV_C));
    world.advance(5);
    assert.equal(world.gateway.gate.refusingMiners, false);
    const late = world.miner();
    assert.equal(late.prev, PREV_C, 'a new miner gets the accepted work');
  });

  test('an accepted verdict at t0+5049 switches everyone; nobody is disconnected', () => {
    const { world, miners } = inlineWorld();
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 5049 });
    const start = world.now;
    world.template(template(PREV_B));
    world.advanceTo(start + 5049);
    assertSwitchedAt(world, miners, PREV_B, start + 5049);
    world.advanceTo(start + 20_000);
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
    assert.deepEqual(world.eventsOf('stale_hold_ended').map((e) => [e.outcome, e.duration_ms]), [['switched', 4999]]);
  });

  test('an accepted verdict delivered at exactly t0+5050 is input before the expiry timer: switch, no disconnect', () => {
    const { world, miners } = inlineWorld();
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 5050 });
    const start = world.now;
    world.template(template(PREV_B));
    world.advanceTo(start + 5050);
    assertSwitchedAt(world, miners, PREV_B, start + 5050);
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
  });

  test('an accepted verdict at t0+5051 comes after the disconnect; it releases the work and lifts the refusal', () => {
    const { world, miners } = inlineWorld();
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 5051 });
    const start = world.now;
    const t1 = world.template(template(PREV_B));
    world.advanceTo(start + 5050);
    assert.equal(world.eventsOf('miner_disconnected').length, 3);
    assert.ok(miners.every((m) => m.closedByServer));
    assert.equal(world.gateway.gate.refusingMiners, true);
    world.advanceTo(start + 5051);
    assert.equal(idsOf(world).at(-1), t1.templateId.toString());
    assert.equal(world.gateway.gate.refusingMiners, false);
    const m = world.miner();
    assert.equal(m.channelId !== null, true);
    assert.equal(world.gateway.currentJob?.templateId, t1.templateId);
  });

  test('prevhash_stale_hold_ms = 0: the disconnect comes at the verdict timeout itself', () => {
    const { world, miners } = inlineWorld({ staleHoldMs: 0 });
    world.verifier.script = () => ({ kind: 'never' });
    const start = world.now;
    world.template(template(PREV_B));
    world.advanceTo(start + 49);
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
    world.advanceTo(start + 50);
    assert.deepEqual(world.eventsOf('miner_disconnected').map((e) => e.conn_id), miners.map((m) => m.connId));
  });
});

describe('prevhash switch: during the hold', () => {
  test('a rejected verdict: not switched, hold with the rejection code; the rejected template never reaches a miner', () => {
    const { world, miners, t0 } = inlineWorld();
    world.verifier.script = () => ({ kind: 'reject', latencyMs: 10 });
    const start = world.now;
    const t1 = world.template(template(PREV_B));
    world.advance(10);
    const started = world.timed('stale_hold_started');
    assert.equal(started.length, 1);
    assert.equal(started[0]!.atMs, start + 10, 'the rejection starts the hold at once');
    assert.equal(started[0]!.event.reason_code, 'avg_fee_below_minimum');
    assert.equal(started[0]!.event.hold_ms, 5040, 'expiry stays t0 + 50 + 5000');
    const verdict = world.eventsOf('template_verdict').at(-1)!;
    assert.deepEqual(verdict.verdict, { accepted: false, reason_code: 'avg_fee_below_minimum', reason_detail: 'avg_fee=141 < min_avg_fee_used=200', policy_context: { fee_tier: 'mid', min_avg_fee_used: 200 } });
    assert.equal(verdict.action, 'hold');
    assertNotSwitched(miners);
    world.advanceTo(start + 5049);
    assertNotSwitched(miners);
    world.advanceTo(start + 5050);
    assert.ok(miners.every((m) => m.closedByServer));
    assert.deepEqual(idsOf(world), [t0.templateId.toString()], 'T1 was never released');
    assert.ok(world.eventsOf('job_broadcast').every((b) => b.template_id !== t1.templateId.toString()));
  });

  test('an accepted verdict during the hold (fail_closed timeout, verdict at t0+2000) switches at once', () => {
    const { world, miners } = inlineWorld();
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 2000 });
    const start = world.now;
    world.template(template(PREV_B));
    world.advanceTo(start + 1999);
    assert.equal(world.gateway.gate.holding, true);
    world.advanceTo(start + 2000);
    assertSwitchedAt(world, miners, PREV_B, start + 2000);
    assert.deepEqual(world.eventsOf('stale_hold_ended').map((e) => [e.outcome, e.duration_ms]), [['switched', 1950]]);
  });

  test('a newer accepted template during the hold switches to it; the rejected one never goes out', () => {
    const { world, miners } = inlineWorld();
    const start = world.now;
    world.verifier.script = () => ({ kind: 'reject', latencyMs: 5, code: 'blocklisted_txid' });
    const t1 = world.template(template(PREV_B));
    world.advanceTo(start + 3000);
    assert.equal(world.gateway.gate.holding, true);
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 7 });
    const t2 = world.template(template(PREV_B, 1_700_000_100));
    world.advance(6);
    assertNotSwitched(miners);
    world.advance(1);
    assertSwitchedAt(world, miners, PREV_B, start + 3007);
    assert.equal(world.gateway.currentJob?.templateId, t2.templateId);
    assert.ok(!idsOf(world).includes(t1.templateId.toString()));
    const ended = world.eventsOf('stale_hold_ended')[0]!;
    assert.deepEqual([ended.outcome, ended.template_id], ['switched', t2.templateId.toString()]);
    assert.equal(world.eventsOf('stale_hold_started')[0]!.reason_code, 'blocklisted_txid');
  });

  test('a newer block during the hold does not move the expiry', () => {
    const { world, miners } = inlineWorld();
    world.verifier.script = () => ({ kind: 'never' });
    const start = world.now;
    world.template(template(PREV_B));
    world.advanceTo(start + 4000);
    world.template(template(PREV_C));
    world.advanceTo(start + 5049);
    assertNotSwitched(miners);
    world.advanceTo(start + 5050);
    assert.ok(miners.every((m) => m.closedByServer), 'expired at t0 + 5050, not 4000 + 5050');
  });

  test('shares on held work are validated, acknowledged and marked stale_hold: true', () => {
    const { world, miners } = inlineWorld({ miners: 1 });
    const miner = miners[0]!;
    // The job the miner holds: re-open a channel to capture it.
    miner.send({ type: 'OpenStandardMiningChannel', requestId: 9, userIdentity: 'alice.held', nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) });
    world.pump();
    const success = miner.take('OpenStandardMiningChannelSuccess');
    const job = miner.take('NewMiningJob');
    const prev = miner.take('SetNewPrevHash');
    const target = targetFromU256(success.target);
    let nonce = 0;
    const submit = (seq: number): void => {
      for (; ; nonce++) {
        const hash = sha256d(header80({ version: job.version, prevHash: prev.prevHash, merkleRoot: job.merkleRoot, ntime: prev.minNtime, nbits: prev.nbits, nonce }));
        if (targetFromU256(hash) <= target) break;
      }
      miner.send({ type: 'SubmitSharesStandard', channelId: success.channelId, sequenceNumber: seq, jobId: job.jobId, nonce, ntime: prev.minNtime, version: job.version });
      nonce += 1;
      world.pump();
    };
    world.verifier.script = () => ({ kind: 'never' });
    const start = world.now;
    world.template(template(PREV_B));
    world.advanceTo(start + 10);
    submit(1); // before the timeout: not a hold yet
    world.advanceTo(start + 60);
    assert.equal(world.gateway.gate.holding, true);
    submit(2);
    const accepted = world.eventsOf('share_accepted');
    assert.deepEqual(accepted.map((e) => [e.sequence_number, e.stale_hold]), [[1, false], [2, true]]);
    const acks = miner.inbox.filter((m) => m.type === 'SubmitSharesSuccess');
    assert.equal(acks.length, 2, 'both acknowledged as usual');
  });
});

describe('prevhash switch: upstream_failure_policy and verifier outages', () => {
  test('permit_all: no verdict by t0+50 → switch to the unverified template at t0+50 (the event says so)', () => {
    const { world, miners } = inlineWorld({ policy: 'permit_all' });
    world.verifier.script = () => ({ kind: 'never' });
    const start = world.now;
    const t1 = world.template(template(PREV_B));
    world.advance(49);
    assertNotSwitched(miners);
    world.advance(1);
    assertSwitchedAt(world, miners, PREV_B, start + 50);
    const sw = world.eventsOf('prevhash_switch')[0]!;
    assert.deepEqual(
      { id: sw.template_id, verified: sw.verified, cause: sw.cause, code: sw.reason_code, latency: sw.latency_ms },
      { id: t1.templateId.toString(), verified: false, cause: 'permit_all', code: 'verdict_timeout', latency: 50 },
    );
    assert.equal(world.eventsOf('stale_hold_started').length, 0);
    world.advance(10_000);
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
  });

  test('permit_all: a rejection is still enforced (hold, never distributed)', () => {
    const { world, miners } = inlineWorld({ policy: 'permit_all' });
    world.verifier.script = () => ({ kind: 'reject', latencyMs: 3 });
    const start = world.now;
    world.template(template(PREV_B));
    world.advanceTo(start + 5049);
    assertNotSwitched(miners);
    world.advanceTo(start + 5050);
    assert.ok(miners.every((m) => m.closedByServer));
  });

  test('permit_all: the verifier is down → switch at once, reason verifier_unavailable', () => {
    const { world, miners } = inlineWorld({ policy: 'permit_all' });
    world.verifier.down = true;
    const start = world.now;
    world.template(template(PREV_B));
    assertSwitchedAt(world, miners, PREV_B, start);
    const sw = world.eventsOf('prevhash_switch')[0]!;
    assert.deepEqual([sw.cause, sw.reason_code, sw.verified], ['permit_all', 'verifier_unavailable', false]);
    assert.equal(world.eventsOf('template_verdict')[0]!.action, 'permitted');
  });

  test('fail_closed: the verifier is down → hold at once; it comes back → the retry switches', () => {
    const { world, miners } = inlineWorld();
    world.verifier.down = true;
    const start = world.now;
    world.template(template(PREV_B));
    const started = world.eventsOf('stale_hold_started');
    assert.deepEqual(started.map((e) => [e.reason_code, e.hold_ms]), [['verifier_unavailable', 5050]]);
    world.advanceTo(start + 200);
    assert.ok(world.verifier.requests.length >= 3, 'retried with backoff (50, 100, ...)');
    assertNotSwitched(miners);
    world.verifier.down = false;
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 1 });
    world.advanceTo(start + 2000);
    for (const m of miners) assert.equal(m.prev, PREV_B);
    assert.equal(world.eventsOf('stale_hold_ended')[0]!.outcome, 'switched');
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
  });

  test('the prevhash request asks for a verdict until the hold expiry; same-prevhash requests use verifier_request_timeout_ms', () => {
    const { world } = inlineWorld({ requestTimeoutMs: 1234 });
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 1 });
    world.template(template(PREV_B));
    assert.equal(world.verifier.requests.at(-1)!.request.timeoutMs, 5050);
    const chain = world.verifier.requests.at(-1)!.request.chain;
    assert.equal(chain.recentHashes.length, 1, 'the previous tip is known as recent');
    world.advance(1);
    world.template(template(PREV_B, 1_700_000_200));
    assert.equal(world.verifier.requests.at(-1)!.request.timeoutMs, 1234);
  });
});

describe('prevhash switch: same-prevhash templates in inline mode', () => {
  test('a rejected update is never distributed; an accepted one is; permit_all releases an unavailable one, fail_closed does not', () => {
    for (const policy of ['fail_closed', 'permit_all'] as const) {
      const { world, miners } = inlineWorld({ policy, miners: 1 });
      world.verifier.script = () => ({ kind: 'reject', latencyMs: 2, code: 'tx_count_below_minimum' });
      const rejected = world.template(template(PREV_A, 1_700_000_300));
      world.advance(5);
      assert.ok(!idsOf(world).includes(rejected.templateId.toString()), `${policy}: rejected not released`);
      assert.deepEqual(miners[0]!.types(), []);
      assert.equal(world.eventsOf('template_verdict').at(-1)!.action, 'withheld');
      world.verifier.script = () => ({ kind: 'accept', latencyMs: 2 });
      const good = world.template(template(PREV_A, 1_700_000_400));
      world.advance(5);
      assert.equal(idsOf(world).at(-1), good.templateId.toString());
      assert.deepEqual(miners[0]!.types(), ['NewMiningJob'], 'one update job, no SetNewPrevHash');
      miners[0]!.inbox.length = 0;
      world.verifier.down = true;
      const unverified = world.template(template(PREV_A, 1_700_000_500));
      world.advance(5);
      assert.equal(idsOf(world).includes(unverified.templateId.toString()), policy === 'permit_all', `${policy}: unavailable verdict`);
      assert.equal(world.eventsOf('stale_hold_started').length, 0, 'no hold on the same prevhash');
    }
  });
});

describe('prevhash switch: the disconnect order is the same on every run', () => {
  test('two runs with gaps in the conn ids give identical miner_disconnected sequences, ascending', () => {
    const run = (): { order: [number, number][]; types: string[] } => {
      const { world, miners } = inlineWorld({ miners: 5 });
      // Close two connections from the miner side so the ids have gaps; add two more.
      world.gateway.connectionClosed(miners[1]!.connId, world.now);
      world.gateway.connectionClosed(miners[3]!.connId, world.now);
      world.miner();
      world.miner();
      world.events.length = 0;
      world.verifier.script = () => ({ kind: 'never' });
      world.template(template(PREV_B));
      world.advance(6000);
      return {
        order: world.eventsOf('miner_disconnected').map((e) => [e.conn_id, e.order]),
        types: world.events.map((e) => `${e.atMs}:${e.event.type}:${'conn_id' in e.event ? e.event.conn_id : ''}`),
      };
    };
    const a = run();
    const b = run();
    assert.deepEqual(a.order, [[1, 1], [3, 2], [5, 3], [6, 4], [7, 5]]);
    assert.deepEqual(b.order, a.order);
    assert.deepEqual(b.types, a.types, 'the whole event sequence repeats');
  });
});

describe('modes (SPEC §5)', () => {
  test('observe: every template goes out at once whatever its verdict; verdicts logged with enforced: false; no hold', () => {
    const world = new PrevhashWorld({ mode: 'observe' });
    world.verifier.script = () => ({ kind: 'reject', latencyMs: 20 });
    world.template(template(PREV_A));
    const miners = [world.miner(), world.miner()];
    const start = world.now;
    const t1 = world.template(template(PREV_B));
    assertSwitchedAt(world, miners, PREV_B, start);
    world.advance(20);
    const verdicts = world.eventsOf('template_verdict');
    assert.equal(verdicts.length, 2);
    assert.ok(verdicts.every((v) => v.enforced === false && v.mode === 'observe' && v.action === 'logged' && v.verdict.accepted === false));
    const sw = world.eventsOf('prevhash_switch').at(-1)!;
    assert.deepEqual([sw.template_id, sw.cause, sw.enforced, sw.latency_ms], [t1.templateId.toString(), 'not_enforced', false, 0]);
    world.verifier.script = () => ({ kind: 'never' });
    world.template(template(PREV_C));
    assertSwitchedAt(world, miners, PREV_C, world.now);
    world.advance(10_000);
    assert.equal(world.eventsOf('stale_hold_started').length, 0);
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
    assert.equal(world.eventsOf('template_verdict').at(-1)!.reason_code, 'verdict_timeout');
  });

  test('observe without a verifier: jobs go out, no verdict events', () => {
    const world = new PrevhashWorld({ mode: 'observe', verifier: false });
    world.template(template(PREV_A));
    const m = world.miner();
    world.template(template(PREV_B));
    assert.equal(m.prev, PREV_B);
    assert.equal(world.eventsOf('template_verdict').length, 0);
  });

  test('shadow: no miner is served (shadow_mode); every template is still audited; nothing is released', () => {
    const world = new PrevhashWorld({ mode: 'shadow' });
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 3 });
    assert.equal(world.gateway.acceptConnection(world.now, { wallMs: world.clock.wallMs() }), null);
    world.template(template(PREV_A));
    world.template(template(PREV_B));
    world.advance(10);
    assert.equal(world.eventsOf('connection_refused')[0]!.reason_code, 'shadow_mode');
    const verdicts = world.eventsOf('template_verdict');
    assert.equal(verdicts.length, 2);
    assert.ok(verdicts.every((v) => v.mode === 'shadow' && v.enforced === false && v.action === 'logged'));
    assert.equal(world.released.length, 0);
    assert.equal(world.eventsOf('job_broadcast').length, 0);
    assert.equal(world.gateway.currentJob, null);
  });

  test('inline: refused without a verifier; the first template waits for its verdict too', () => {
    assert.throws(() => new PrevhashWorld({ mode: 'inline', verifier: false }), /inline/);
    const world = new PrevhashWorld({ mode: 'inline' });
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 30 });
    world.template(template(PREV_A));
    assert.equal(world.gateway.currentJob, null, 'nothing before the verdict');
    world.advance(30);
    assert.notEqual(world.gateway.currentJob, null);
    assert.equal(world.eventsOf('prevhash_switch')[0]!.latency_ms, 30);
  });

  test('shutdown during a hold ends it (outcome shutdown); no disconnect later', () => {
    const { world } = inlineWorld();
    world.verifier.script = () => ({ kind: 'never' });
    world.template(template(PREV_B));
    world.advance(100);
    world.gateway.shutdown(world.now);
    world.advance(10_000);
    assert.deepEqual(world.eventsOf('stale_hold_ended').map((e) => e.outcome), ['shutdown']);
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
  });

  test('every new event is JSON-ready, snake_case, with registry reason codes', () => {
    const { world } = inlineWorld();
    world.verifier.script = () => ({ kind: 'reject', latencyMs: 1 });
    world.template(template(PREV_B));
    world.advance(6000);
    const types = new Set(world.events.map((e) => e.event.type));
    for (const t of ['template_verdict', 'stale_hold_started', 'stale_hold_ended', 'miner_disconnected']) assert.ok(types.has(t as never), t);
    for (const { event } of world.events) {
      assert.deepEqual(JSON.parse(JSON.stringify(event)), event);
      for (const key of Object.keys(event)) assert.match(key, /^[a-z]+(_[a-z]+)*$/);
      if ('reason_code' in event && event.reason_code !== undefined) assert.ok(event.reason_code in REASON_CODES, event.reason_code);
    }
  });
});
