// The gateway against a share backend written only from docs/share-forwarding.md
// (test/support/doc-backend.ts: raw TCP, its own HTTP parser and HMAC), over real sockets, with
// the whole stack and real SV2 miners (issue 12 acceptance bullet 2). Every share the gateway
// acknowledged arrives, once, with exactly the documented keys and the share_accepted event's
// values; the documented headers are there and agree with the body; every signature verifies by
// the doc's rule and arrives once; every share settles ok.
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { startDocBackend } from '../support/doc-backend.ts';
import { STEP_MS, startStackWorld, submitShare, until } from '../support/stack-world.ts';

const SECRET = 'doc-backend-secret-0123456789';
const SHARES = 6;
const DOC_SHARE_KEYS = ['share_id', 'channel_id', 'sequence_number', 'job_id', 'template_id', 'identity', 'worker', 'difficulty', 'hash', 'block', 'stale_hold', 'nonce', 'ntime', 'version', 'extranonce', 'mode', 'accepted_at'];

describe(`gateway → a share backend written from the docs, over real sockets (${runtime})`, () => {
  test('every acknowledged share arrives once with the documented keys and the event\'s values; headers agree; signatures verify; all settle ok', async () => {
    const backend = await startDocBackend({ secret: SECRET });
    const world = await startStackWorld({
      salt: 1204,
      config: {
        'gateway.mode': 'observe',
        'gateway.upstream_failure_policy': 'permit_all',
        'share.share_upstream_url': backend.url,
        'share.share_upstream_secret': SECRET,
        'share.share_batch_interval_ms': 20,
      },
    });
    try {
      await world.waitEvent('job_broadcast');
      // Extended channels (odd salts): submitShare picks a fresh extranonce each time, so no duplicates.
      const miners = [await world.miner(1), await world.miner(3)];
      for (const m of miners) await until('work', STEP_MS, () => m.connection.client.work(m.channelId));
      for (let i = 0; i < SHARES; i++) {
        const m = miners[i % 2]!;
        const { sequenceNumber } = submitShare(m);
        await m.connection.nextEvent('shares_accepted', STEP_MS, (e) => e.last_sequence_number === sequenceNumber);
      }
      await until('a result per share', STEP_MS, () => (world.eventsOf('share_forward_result').length >= SHARES ? true : undefined));
      const accepted = world.eventsOf('share_accepted');
      assert.equal(accepted.length, SHARES);
      for (const r of world.eventsOf('share_forward_result')) assert.equal(r.status, 'ok', `${r.share_id}: ${r.status} ${r.reason ?? ''}`);

      const arrived = new Map<string, Record<string, unknown>>();
      for (const entry of backend.log) {
        assert.equal(entry.status, 200, `no refusal (${entry.refusal ?? ''})`);
        const h = entry.request.headers;
        const batch = entry.batch!;
        assert.equal(entry.request.method, 'POST');
        assert.equal(entry.request.target, '/shares');
        assert.equal(h.get('content-type'), 'application/json');
        assert.equal(h.get('x-reservegrid-gateway'), String(world.config.gateway.id));
        assert.equal(h.get('x-reservegrid-batch'), batch.batch_id);
        assert.match(h.get('x-reservegrid-timestamp') ?? '', /^[0-9]+$/);
        assert.match(h.get('x-reservegrid-signature') ?? '', /^v1=[0-9a-f]{64}$/);
        assert.deepEqual(Object.keys(batch), ['v', 'gateway_id', 'batch_id', 'attempt', 'shares']);
        assert.deepEqual([batch.v, batch.gateway_id, batch.attempt], [1, world.config.gateway.id, 1]);
        for (const share of batch.shares) {
          assert.deepEqual(Object.keys(share), DOC_SHARE_KEYS);
          assert.equal(arrived.has(String(share['share_id'])), false, 'each share once');
          arrived.set(String(share['share_id']), share);
        }
      }
      for (const e of accepted) {
        const s = arrived.get(e.share_id);
        assert.ok(s !== undefined, `${e.share_id} arrived`);
        const { type: _t, seq: _s, ts, conn_id: _c, atMs: _a, ...fields } = e as unknown as Record<string, unknown>;
        assert.deepEqual(s, { ...fields, accepted_at: ts }, `${e.share_id}: the event's values`);
      }
      for (const [, count] of backend.signatureCounts) assert.equal(count, 1);
      assert.equal(backend.stored.size, SHARES);
    } finally {
      await world.close();
      await backend.close();
    }
  }, { timeoutMs: 60_000 });
});
