// The reference sink is idempotent by share_id with the ORIGINAL result (issue 12 defect 1;
// docs/share-forwarding.md "Lost answers and re-sent shares"): a share stored before answers
// `duplicate` and is not credited again; a share refused before answers `rejected` with its
// first reason, and the backend's rule is not run on it again. The gateway's forwarder settles
// those answers `ok` and `rejected`. On 072e02b a re-sent refused share was judged anew (here:
// a rule that changed its mind stored it on the second arrival).
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { utf8 } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { ShareForwarder } from '../../core/forwarding/forwarder.ts';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../../core/forwarding/signing.ts';
import { ShareSink } from '../../core/forwarding/sink.ts';
import type { PostCommand, ShareForwardResultEvent } from '../../core/forwarding/types.ts';

const SECRET = 'idempotent-secret-0123456789';
const WALL_MS = 1_700_000_000_000;

describe('share sink: a re-sent share gets its original result', () => {
  test('stored → duplicate (not credited twice); refused → rejected with the first reason (rule not re-run); the forwarder settles ok / rejected', () => {
    let judged = 0;
    // A rule that changes its mind: refuses share 2 the first time it is asked, accepts later.
    const sink = new ShareSink({ secret: utf8(SECRET), provider: nobleProvider, rejectShare: (s) => (s.share_id.endsWith('-2') && judged++ === 0 ? 'below pool difficulty' : undefined) });
    const forwarder = new ShareForwarder(
      { gatewayId: 7, bootId: 'aa', secret: utf8(SECRET), provider: nobleProvider, queueSize: 10, maxInFlight: 1, batchIntervalMs: 1, batchMaxShares: 10, timeoutMs: 1000, retryInitialMs: 10, retryMaxMs: 10 },
      0,
    );
    for (const n of [1, 2]) forwarder.accept({ share_id: `7-aa-${n}` }, 0);
    forwarder.onTimeout(1, WALL_MS);
    const first = forwarder.pollCommand() as PostCommand;
    const deliver = (command: PostCommand, wallMs: number) =>
      sink.handle({ timestamp: command.headers[HEADER_TIMESTAMP], signature: command.headers[HEADER_SIGNATURE], body: command.body }, wallMs);
    // Attempt 1 reaches the sink, its answer is lost: the forwarder times out and retries.
    const lost = deliver(first, WALL_MS);
    assert.equal(lost.status, 200);
    assert.deepEqual({ new: lost.batch?.new, rejected: lost.batch?.rejected }, { new: 1, rejected: 1 });
    forwarder.onTimeout(1001, WALL_MS + 1000);
    forwarder.onTimeout(1011, WALL_MS + 1010);
    const retry = forwarder.pollCommand() as PostCommand;
    assert.equal(retry.attempt, 2);
    assert.notEqual(retry.headers[HEADER_SIGNATURE], first.headers[HEADER_SIGNATURE], 'the retry is signed anew');
    const again = deliver(retry, WALL_MS + 1010);
    assert.equal(again.status, 200, 'a fresh signature is not a replay');
    assert.deepEqual(JSON.parse(again.body), {
      new: 0,
      duplicate: 2,
      rejected: 0,
      results: [
        { share_id: '7-aa-1', status: 'duplicate' },
        { share_id: '7-aa-2', status: 'rejected', reason: 'below pool difficulty' },
      ],
    });
    assert.equal(judged, 1, 'the rule ran once for share 2');
    assert.equal(sink.has('7-aa-1'), true);
    assert.equal(sink.has('7-aa-2'), false, 'the refused share is not stored');
    assert.deepEqual({ n: sink.stats.sharesNew, d: sink.stats.sharesDuplicate, r: sink.stats.sharesRejected }, { n: 1, d: 2, r: 1 });
    forwarder.postResult(retry.request_id, { kind: 'response', status: again.status, body: again.body }, 1020);
    const results: ShareForwardResultEvent[] = [];
    for (let e = forwarder.pollEvent(); e !== undefined; e = forwarder.pollEvent()) if (e.type === 'share_forward_result') results.push(e);
    assert.deepEqual(
      results.map((r) => [r.share_id, r.status, r.reason ?? null, r.attempts]),
      [
        ['7-aa-1', 'ok', null, 2],
        ['7-aa-2', 'rejected', 'below pool difficulty', 2],
      ],
    );
    // The same signed request a second time is a replay: 401, nothing counted.
    assert.equal(deliver(retry, WALL_MS + 1010).status, 401);
  });
});
