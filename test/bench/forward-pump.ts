// What the share-forwarding benches share (forwarding.bench.ts to our HTTP sink,
// jetstream.bench.ts to nats-server): the [share] settings of a throughput run, the synthetic
// accepted share, the counting of results, and the producer loop that feeds `count` shares
// while keeping at most `unsettledMax` unsettled, then stops the pump and times it (wall clock
// and this process's CPU, node:process cpuUsage, which Node, Deno and Bun implement).
import process from 'node:process';
import type { ShareForwarding } from '../../adapters/share-forwarding.ts';
import type { ShareForwardingConfig } from '../../core/forwarding/index.ts';

/** [share] tuned for throughput: deep queue, 8 batches in flight, large batches, quick retry. */
export function throughputShareConfig(upstream: { url: string; secret: string }): ShareForwardingConfig['share'] {
  return {
    share_upstream_url: upstream.url,
    share_upstream_secret: upstream.secret,
    share_forward_queue_size: 100_000,
    share_forward_max_in_flight: 8,
    share_batch_interval_ms: 10,
    share_batch_max_shares: 1000,
    share_forward_timeout_ms: 10_000,
    share_forward_retry_initial_ms: 50,
    share_forward_retry_max_ms: 1000,
  };
}

/** share_forward_result events, counted: `ok` and anything else. */
export function resultCounter(): { ok: number; other: number; onEvent: (e: { type: string; status?: string }) => void } {
  const counts = {
    ok: 0,
    other: 0,
    onEvent: (e: { type: string; status?: string }): void => {
      if (e.type !== 'share_forward_result') return;
      if (e.status === 'ok') counts.ok++;
      else counts.other++;
    },
  };
  return counts;
}

const SHARE_TEMPLATE = { channel_id: 1, identity: 'bench.worker', worker: 'worker', job_id: 1, template_id: '1', ntime: 1_700_000_000, version: 0x20000000, extranonce: '0000000000000001', hash: '0'.repeat(56) + 'ffffffff', difficulty: 1, block: false, mode: 'observe', stale_hold: false };

/**
 * Accept `count` synthetic shares (ids `1-bench-<n>`) in chunks of `chunk`, yielding to the event
 * loop between chunks and never past `unsettledMax` unsettled, then stop the pump (drain bounded
 * by `stopTimeoutMs`). Wall seconds and CPU seconds from the first accept to the end of the stop.
 */
export async function pumpShares(
  forwarding: ShareForwarding,
  options: { count: number; chunk: number; unsettledMax: number; stopTimeoutMs: number },
): Promise<{ seconds: number; cpuSeconds: number }> {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let n = 0;
  await new Promise<void>((resolve) => {
    const produce = (): void => {
      const room = Math.min(options.chunk, options.unsettledMax - forwarding.metrics.unsettled, options.count - n);
      for (let i = 0; i < room; i++) {
        n++;
        forwarding.accept({ ...SHARE_TEMPLATE, share_id: `1-bench-${n}`, sequence_number: n, nonce: n });
      }
      if (n >= options.count) resolve();
      else setTimeout(produce, 0);
    };
    produce();
  });
  await forwarding.stop(options.stopTimeoutMs);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}
