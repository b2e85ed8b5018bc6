// Gateway building blocks on their own: share ids, the block submitter's retry schedule on the
// fake clock, and the deadline heap against a sorted reference (randomized, seeded).
import fc from 'fast-check';
import { describe, propertyParams, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SeededRandom } from '../../core/random.ts';
import { BlockSubmitter, DeadlineHeap, ShareIdAllocator, type GatewayEvent } from '../../core/gateway/index.ts';

describe('share ids', () => {
  test('<gateway_id>-<boot_id>-<counter>, unique across restarts (boots) and gateways', () => {
    const ids = new Set<string>();
    for (let boot = 0; boot < 20; boot++) {
      for (const gatewayId of [1, 2]) {
        const alloc = new ShareIdAllocator(gatewayId, new SeededRandom(seed + boot * 7 + gatewayId));
        assert.match(alloc.bootId, /^[0-9a-f]{16}$/);
        for (let i = 0; i < 50; i++) {
          const id = alloc.next();
          assert.match(id, new RegExp(`^${gatewayId}-${alloc.bootId}-${i + 1}$`));
          ids.add(id);
        }
      }
    }
    assert.equal(ids.size, 20 * 2 * 50);
  });

  test('misuse throws naming the argument', () => {
    assert.throws(() => new ShareIdAllocator(70_000, new SeededRandom(1)), /gatewayId/);
    assert.throws(() => new ShareIdAllocator(1, null as never), /random/);
  });
});

describe('block submitter', () => {
  function make(pendingMax?: number) {
    const events: GatewayEvent[] = [];
    const submitter = new BlockSubmitter({ retryInitialMs: 100, retryMaxMs: 350, ...(pendingMax === undefined ? {} : { pendingMax }) }, (e) => events.push(e));
    return { submitter, events };
  }

  test('backoff doubles to its ceiling; nothing is re-sent before the deadline; a duplicate answer settles', () => {
    const { submitter, events } = make();
    submitter.add('b1', '00ff', 'aa');
    assert.equal(submitter.pollCommand()?.attempt, 1);
    assert.equal(submitter.pollCommand(), undefined, 'in flight, not re-offered');
    let now = 0;
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      submitter.result('b1', { kind: 'transport_error', code: 'upstream-timeout', message: 't' }, now);
      const at = submitter.nextDeadlineMs()!;
      delays.push(at - now);
      submitter.onTimeout(at - 1);
      assert.equal(submitter.pollCommand(), undefined);
      now = at;
      submitter.onTimeout(now);
      submitter.onTimeout(now);
      const command = submitter.pollCommand();
      assert.equal(command?.attempt, attempt + 1);
      assert.equal(submitter.pollCommand(), undefined, 'onTimeout twice queues once');
    }
    assert.deepEqual(delays, [100, 200, 350, 350]);
    submitter.result('b1', { kind: 'duplicate', reason: 'duplicate' }, now);
    const last = events[events.length - 1]!;
    assert.deepEqual(last, { type: 'block_submit_result', block_id: 'b1', block_hash: 'aa', attempts: 5, result: 'duplicate', reason: 'duplicate' });
    assert.equal(submitter.pending, 0);
    assert.equal(submitter.nextDeadlineMs(), undefined);
  });

  test('unknown and not-in-flight answers are counted and ignored', () => {
    const { submitter, events } = make();
    submitter.result('nope', { kind: 'accepted' }, 0);
    submitter.add('b1', '00', 'aa');
    submitter.result('b1', { kind: 'accepted' }, 0); // queued, never polled
    assert.equal(submitter.unknownResults, 2);
    assert.equal(events.length, 0);
  });

  test('overflow settles the oldest as failed with its hex; settleAll settles the rest', () => {
    const { submitter, events } = make(2);
    submitter.add('b1', '01', 'h1');
    submitter.add('b2', '02', 'h2');
    submitter.add('b3', '03', 'h3');
    assert.equal(submitter.overflowed, 1);
    const first = events[0] as Extract<GatewayEvent, { type: 'block_submit_result' }>;
    assert.deepEqual([first.block_id, first.result, first.hex, first.reason_code], ['b1', 'failed', '01', 'block_submit_failed']);
    submitter.settleAll('shutdown');
    assert.deepEqual(events.slice(1).map((e) => (e as { block_id: string }).block_id), ['b2', 'b3']);
    assert.equal(submitter.pending, 0);
  });
});

describe('deadline heap', () => {
  test('popDue returns due ids in deadline order, like sorting (randomized)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 200 }), fc.integer({ min: 0, max: 1000 }), (deadlines, now) => {
        const heap = new DeadlineHeap();
        deadlines.forEach((at, id) => heap.push(at, id)); // id = index, so each id names its deadline
        const due = heap.popDue(now);
        const expected = deadlines.filter((at) => at <= now).sort((a, b) => a - b);
        assert.deepEqual(due.map((id) => deadlines[id]), expected, 'due ids in deadline order');
        assert.equal(new Set(due).size, due.length, 'each entry once');
        const later = deadlines.filter((at) => at > now);
        assert.equal(heap.size, later.length);
        assert.equal(heap.peekMs(), later.length > 0 ? Math.min(...later) : undefined);
      }),
      propertyParams(200),
    );
  });
});
