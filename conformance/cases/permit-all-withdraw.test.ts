// permit_all, then a rejection (issue 12 defect 3; docs/policy.md "permit_all and a late
// rejection"; core/gateway/verdict-gate.ts header). On the fake clock, the whole Gateway with
// in-memory Noise miners and the scripted verifier (conformance/prevhash-world.ts), as
// prevhash-switch.test.ts. t0 = arrival of the new-prevhash template; verdict timeout 50 ms,
// stale hold 5000 ms, so the hold expiry is t0 + 5050.
// On 072e02b the rejection at t0+200 was logged `superseded` and the miners kept mining the
// rejected template forever; now it is withdrawn: the miners go back to their held work at
// t0+200 and the hold runs to the original expiry (or an accepted template ends it).
import { describe, test } from '../../test/harness.ts';
import { assert } from '../../test/assert.ts';
import { PREV_A, PrevhashWorld, prevFor, template, type Miner } from '../prevhash-world.ts';

const PREV_B = prevFor(1);

function permitWorld(miners = 3) {
  const world = new PrevhashWorld({ policy: 'permit_all' });
  const t0 = world.template(template(PREV_A));
  const list: Miner[] = [];
  for (let i = 0; i < miners; i++) list.push(world.miner());
  world.events.length = 0;
  return { world, t0, miners: list };
}

describe('permit_all, then the verifier rejects the template it released unverified', () => {
  test('rejection at t0+200: withdrawn — miners back on the held job at t0+200, stale hold with the rejection code, disconnect at the original expiry t0+5050', () => {
    const { world, t0, miners } = permitWorld();
    world.verifier.script = (t) => (t.prevHash !== undefined && t !== t0 ? { kind: 'reject', latencyMs: 200, code: 'avg_fee_below_minimum' } : { kind: 'accept', latencyMs: 0 });
    const start = world.now;
    const t1 = world.template(template(PREV_B));
    world.advance(50);
    for (const m of miners) assert.equal(m.prev, PREV_B, 'permit_all switched at t0+50');
    world.advance(149);
    for (const m of miners) assert.equal(m.prev, PREV_B, 'still on the unverified template before the verdict');
    world.advance(1);
    for (const m of miners) {
      assert.equal(m.prev, PREV_A, `miner ${m.connId} back on the held prevhash`);
      assert.equal(m.prevAtMs, start + 200, 'at the instant of the rejection');
      assert.equal(m.closedByServer, false);
    }
    const verdict = world.eventsOf('template_verdict').at(-1)!;
    assert.deepEqual(
      { id: verdict.template_id, action: verdict.action, code: verdict.reason_code, accepted: verdict.verdict.accepted },
      { id: t1.templateId.toString(), action: 'withdrawn', code: 'avg_fee_below_minimum', accepted: false },
    );
    const switches = world.eventsOf('prevhash_switch');
    assert.deepEqual(
      switches.map((s) => [s.template_id, s.cause, s.verified, s.reason_code ?? null]),
      [
        [t1.templateId.toString(), 'permit_all', false, 'verdict_timeout'],
        [t0.templateId.toString(), 'withdrawn', true, 'avg_fee_below_minimum'],
      ],
    );
    const started = world.timed('stale_hold_started');
    assert.equal(started.length, 1);
    assert.deepEqual(
      { at: started[0]!.atMs, code: started[0]!.event.reason_code, tpl: started[0]!.event.template_id, held: started[0]!.event.held_template_id, hold: started[0]!.event.hold_ms },
      { at: start + 200, code: 'avg_fee_below_minimum', tpl: t1.templateId.toString(), held: t0.templateId.toString(), hold: 4850 },
    );
    assert.equal(world.gateway.gate.phase, 'holding');
    world.advanceTo(start + 5049);
    assert.equal(world.eventsOf('miner_disconnected').length, 0, 'nothing before the original expiry');
    world.advance(1);
    const gone = world.eventsOf('miner_disconnected');
    assert.deepEqual(gone.map((e) => [e.conn_id, e.reason_code, e.order]), miners.map((m, i) => [m.connId, 'stale_hold_expired', i + 1]));
    assert.equal(world.gateway.gate.refusingMiners, true);
  });

  test('rejection at t0+200, then an accepted template on the new prevhash at t0+300: the hold ends, miners switch at t0+300', () => {
    const { world, t0, miners } = permitWorld();
    let newer = -1n;
    world.verifier.script = (t) => (t === t0 || t.templateId === newer ? { kind: 'accept', latencyMs: 0 } : { kind: 'reject', latencyMs: 200 });
    const start = world.now;
    world.template(template(PREV_B));
    world.advance(200);
    for (const m of miners) assert.equal(m.prev, PREV_A);
    world.advance(100);
    const t2 = template(PREV_B);
    newer = t2.templateId;
    world.template(t2);
    for (const m of miners) {
      assert.equal(m.prev, PREV_B);
      assert.equal(m.prevAtMs, start + 300);
    }
    assert.deepEqual(world.eventsOf('stale_hold_ended').map((e) => [e.outcome, e.template_id]), [['switched', t2.templateId.toString()]]);
    world.advance(10_000);
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
  });

  test('a late ACCEPT after permit_all changes nothing (the unverified work is now verified)', () => {
    const { world, miners } = permitWorld();
    world.verifier.script = () => ({ kind: 'accept', latencyMs: 300 });
    world.template(template(PREV_B));
    world.advance(300);
    for (const m of miners) assert.equal(m.prev, PREV_B);
    assert.equal(world.eventsOf('template_verdict').at(-1)!.action, 'superseded');
    assert.equal(world.eventsOf('prevhash_switch').length, 1);
    world.advance(10_000);
    assert.equal(world.eventsOf('miner_disconnected').length, 0);
  });

  test('nothing to go back to (the very first template was released unverified, then rejected): every miner is disconnected at once and new miners are refused', () => {
    const world = new PrevhashWorld({ policy: 'permit_all' });
    world.verifier.script = () => ({ kind: 'reject', latencyMs: 120 });
    const start = world.now;
    const first = world.template(template(PREV_A));
    world.advance(50);
    const miners = [world.miner(), world.miner()];
    world.events.length = 0;
    world.advanceTo(start + 120);
    assert.equal(world.eventsOf('template_verdict').at(-1)!.action, 'withdrawn');
    const gone = world.eventsOf('miner_disconnected');
    assert.deepEqual(gone.map((e) => [e.conn_id, e.reason_code]), miners.map((m) => [m.connId, 'stale_hold_expired']));
    assert.deepEqual(world.eventsOf('stale_hold_started').map((e) => [e.reason_code, e.template_id]), [['avg_fee_below_minimum', first.templateId.toString()]]);
    assert.equal(world.gateway.gate.refusingMiners, true);
  });

  test('a rejected template is never work to go back to: the first template permitted then rejected, then a new tip permitted and rejected too — no switch back to the first (fault simulation seed 24)', () => {
    const world = new PrevhashWorld({ policy: 'permit_all' });
    world.verifier.script = () => ({ kind: 'reject', latencyMs: 120 });
    const start = world.now;
    world.template(template(PREV_A));
    world.advanceTo(start + 120);
    assert.equal(world.eventsOf('template_verdict').at(-1)!.action, 'withdrawn', 'the first template is withdrawn');
    world.events.length = 0;
    const second = world.template(template(PREV_B));
    world.advance(120);
    assert.deepEqual(
      world.eventsOf('prevhash_switch').map((s) => [s.template_id, s.cause]),
      [[second.templateId.toString(), 'permit_all']],
      'the second tip is permitted; its rejection releases nothing (before the fix: the rejected first template, cause withdrawn)',
    );
    assert.deepEqual(world.eventsOf('template_verdict').map((v) => [v.template_id, v.action]).at(-1), [second.templateId.toString(), 'withdrawn']);
    assert.equal(world.gateway.gate.refusingMiners, true, 'no acceptable work: new miners are refused');
  });
});
