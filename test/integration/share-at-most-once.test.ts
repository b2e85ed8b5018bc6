// One signature travels at most once on the wire, on every runtime (issue 12 defect 1;
// docs/share-forwarding.md "Signature" step 4 and "Lost answers and re-sent shares").
//
// A REAL backend that closes the connection without answering: test/support/doc-backend.ts, a
// raw loopback TCP server written only from the docs (its own HTTP parser and HMAC). It keeps
// connections alive, as real backends do, so the gateway's HTTP client could reuse one; it
// stores the second batch and then cuts the connection without a word (an answer lost). On
// 072e02b Deno's fetch re-sent the identical signed POST on a new connection, the backend refused
// the replay (401) and the stored shares settled `rejected`. Now: the request arrives once; the
// forwarder retries as attempt 2 with a new timestamp and signature; the backend answers
// `duplicate` for the stored shares (their original result) and they settle `ok`.
//
// Everything is real but the share source: attachShareForwarding with its default poster
// (adapters/share-poster.ts over the runtime's TCP adapter) and the system clock.
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { attachShareForwarding } from '../../adapters/share-forwarding.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import type { ShareForwardEvent, ShareForwardResultEvent } from '../../core/forwarding/types.ts';
import type { ShareForwardingConfig } from '../../core/forwarding/forwarder.ts';
import { SeededRandom } from '../../core/random.ts';
import { startDocBackend } from '../support/doc-backend.ts';
import { until } from '../support/wait.ts';

const SECRET = 'at-most-once-secret-0123456789';

function configFor(url: string): ShareForwardingConfig {
  return {
    gateway: { id: 7, data_dir: '/nonexistent-memory-journal' },
    timing: { shutdown_drain_timeout_ms: 1000 },
    share: {
      share_upstream_url: url,
      share_upstream_secret: SECRET,
      share_forward_queue_size: 1000,
      share_forward_max_in_flight: 1,
      share_batch_interval_ms: 5,
      share_batch_max_shares: 100,
      share_forward_timeout_ms: 5000,
      share_forward_retry_initial_ms: 20,
      share_forward_retry_max_ms: 100,
    },
  };
}

const share = (n: number) => ({ share_id: `7-00000000000000aa-${n}`, channel_id: 1, sequence_number: n, identity: 'pool.rig1', worker: 'rig1', job_id: 1, template_id: '1', nonce: n });

describe(`share forwarding: at most once per signature (${runtime})`, () => {
  test('backend stores a batch and closes a kept-alive connection without answering: one arrival per signature, retry signed anew, shares settle ok', async () => {
    const backend = await startDocBackend({
      secret: SECRET,
      // The second batch's first attempt: stored, then the connection is cut without an answer.
      plan: (_request, batch) => (batch?.batch_id.endsWith('-b2') && batch.attempt === 1 ? 'close' : 'answer'),
    });
    const events: ShareForwardEvent[] = [];
    const forwarding = attachShareForwarding({ config: configFor(backend.url), clock: new SystemClock(), random: new SeededRandom(1201), provider: nobleProvider, journal: 'memory', onEvent: (e) => events.push(e) });
    try {
      const results = (): ShareForwardResultEvent[] => events.filter((e): e is ShareForwardResultEvent => e.type === 'share_forward_result');
      forwarding.accept(share(1));
      await until('batch 1 settled', 10_000, () => (results().length === 1 ? true : undefined));
      // Give a keep-alive client the chance to reuse its connection for the next batch.
      forwarding.accept(share(2));
      forwarding.accept(share(3));
      await until('batch 2 settled', 10_000, () => (results().length === 3 ? true : undefined));

      for (const [signature, count] of backend.signatureCounts) assert.equal(count, 1, `signature ${signature.slice(0, 12)}… arrived ${count} times`);
      assert.deepEqual(
        backend.log.map((e) => [e.batch?.batch_id.replace(/^.*-b/, 'b') ?? null, e.batch?.attempt ?? null, e.status, e.refusal ?? null]),
        [
          ['b1', 1, 200, null],
          ['b2', 1, 'closed-without-answer', null],
          ['b2', 2, 200, null],
        ],
        'what the backend saw: batch 2 once per attempt, never refused',
      );
      const byId = new Map(results().map((r) => [r.share_id, r]));
      assert.equal(byId.get(share(1).share_id)?.status, 'ok');
      for (const n of [2, 3]) {
        const r = byId.get(share(n).share_id);
        assert.equal(r?.status, 'ok', `share ${n} settles ok (the backend answered duplicate: it stored it from attempt 1)`);
        assert.equal(r?.attempts, 2, `share ${n} was carried by two POSTs`);
      }
      const retry = events.find((e) => e.type === 'share_forward_retry');
      assert.equal(retry?.type === 'share_forward_retry' ? retry.error : undefined, 'transport_error', 'the cut connection is a transport error, retried');
      assert.equal(backend.stored.size, 3, 'each share stored once');
    } finally {
      await forwarding.stop(100);
      await backend.close();
    }
  }, { timeoutMs: 30_000 });

  test('backend closes a fresh connection without answering every time: each attempt arrives once, the shares settle transport_error', async () => {
    const backend = await startDocBackend({ secret: SECRET, keepAlive: false, plan: () => 'close' });
    const events: ShareForwardEvent[] = [];
    const forwarding = attachShareForwarding({ config: configFor(backend.url), clock: new SystemClock(), random: new SeededRandom(1202), provider: nobleProvider, journal: 'memory', attemptsMax: 3, onEvent: (e) => events.push(e) });
    try {
      forwarding.accept(share(1));
      await until('settled', 10_000, () => events.find((e) => e.type === 'share_forward_result'));
      const result = events.find((e) => e.type === 'share_forward_result') as ShareForwardResultEvent;
      assert.equal(result.status, 'transport_error');
      assert.equal(result.attempts, 3);
      assert.equal(backend.log.length, 3, 'three attempts, three arrivals');
      assert.deepEqual(backend.log.map((e) => e.batch?.attempt), [1, 2, 3]);
      for (const [, count] of backend.signatureCounts) assert.equal(count, 1);
      assert.equal(backend.signatureCounts.size, 3, 'three distinct signatures');
    } finally {
      await forwarding.stop(100);
      await backend.close();
    }
  }, { timeoutMs: 30_000 });
});
