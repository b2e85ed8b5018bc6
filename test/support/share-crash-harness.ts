// Child process for test/integration/share-crash.test.ts: a stand-in gateway that accepts
// synthetic shares into the real forwarding pump (adapters/share-forwarding.ts, file journal
// under --dir, fetch poster) and prints one JSON line per event on fd 1, synchronously:
//   {"type":"started","recovered":N,"boot_id":"…"}
//   {"type":"share_accepted","share_id":"…"}      printed AFTER accept() + flush() journaled it
//   {"type":"share_forward_result",…}              printed after the journal saw it settle
//   {"type":"stopped"}
// so that whatever the parent saw before a kill -9 is on disk (the order the gateway must keep).
//
//   node --import tsx test/support/share-crash-harness.ts --url U --secret S --dir D
//        [--count N] [--per-tick K] [--tick-ms T]
// With --count 0 it only recovers, drains and exits.
import { writeSync } from 'node:fs';
import { SystemClock } from '../../adapters/clock.ts';
import { systemRandom } from '../../adapters/random.ts';
import { attachShareForwarding } from '../../adapters/share-forwarding.ts';
import { bytesToHex } from '../../core/bytes.ts';

const argv = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const arg = (name: string, fallback?: string): string => {
  const i = argv.indexOf(name);
  const value = i >= 0 ? argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`share-crash-harness: ${name} is required`);
  return value;
};
const print = (value: unknown): void => void writeSync(1, JSON.stringify(value) + '\n');

const count = Number(arg('--count', '0'));
const perTick = Number(arg('--per-tick', '20'));
const tickMs = Number(arg('--tick-ms', '10'));
const clock = new SystemClock();
const forwarding = attachShareForwarding({
  config: {
    gateway: { id: 7, data_dir: arg('--dir') },
    timing: { shutdown_drain_timeout_ms: 10_000 },
    share: {
      share_upstream_url: arg('--url'),
      share_upstream_secret: arg('--secret'),
      share_forward_queue_size: 1_000_000,
      share_forward_max_in_flight: 8,
      share_batch_interval_ms: 20,
      share_batch_max_shares: 50,
      share_forward_timeout_ms: 3000,
      share_forward_retry_initial_ms: 50,
      share_forward_retry_max_ms: 500,
    },
  },
  clock,
  random: systemRandom,
  journal: 'file',
  onEvent: (event) => {
    if (event.type === 'share_forward_result') print(event);
  },
});
const bootId = bytesToHex(systemRandom.fill(new Uint8Array(8)));
print({ type: 'started', recovered: forwarding.recoveredCount, boot_id: bootId });

let n = 0;
await new Promise<void>((resolve) => {
  const tick = (): void => {
    const ids: string[] = [];
    for (let i = 0; i < perTick && n < count; i++) {
      const share_id = `7-${bootId}-${++n}`;
      forwarding.accept({ share_id, channel_id: 1, identity: 'crash.test', worker: null, job_id: 1, template_id: '1', difficulty: 1, block: false });
      ids.push(share_id);
    }
    // Journal to the OS first, then publish (the order a gateway must keep).
    forwarding.flush();
    for (const share_id of ids) print({ type: 'share_accepted', share_id });
    if (n >= count) resolve();
    else setTimeout(tick, tickMs);
  };
  tick();
});
// Wait for everything to settle (or the parent's kill -9), then stop cleanly.
while (forwarding.metrics.unsettled > 0) await new Promise((r) => setTimeout(r, 20));
await forwarding.stop(5000);
print({ type: 'stopped' });
