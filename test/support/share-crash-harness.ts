// Child process for test/integration/share-crash.test.ts: a stand-in gateway that accepts
// synthetic shares into the real forwarding pump (adapters/share-forwarding.ts, file journal
// under --dir, fetch poster) and logs its events through the real event log on fd 1
// (adapters/event-log.ts: one write per turn, the journal flushed first), as `reservegrid run`
// does with `event_log_path = "-"`:
//   {"type":"started","recovered":N,"boot_id":"…"}
//   {"type":"share_accepted","share_id":"…"}
//   {"type":"share_forward_result",…}
//   {"type":"stopped"}
// so the test sees the same two writes per turn a gateway makes, and a kill -9 can land between
// them (test/support/crash-windows.ts says what that may leave behind).
//
//   node --import tsx test/support/share-crash-harness.ts --url U --secret S --dir D
//        [--count N] [--per-tick K] [--tick-ms T]
//        [--kill-in-window accepted|results --kill-after-results R --kill-after-accepted A]
// With --count 0 it only recovers, drains and exits. With --kill-in-window it kills itself with
// SIGKILL between a turn's journal write and its log write, on the first turn that is about to
// log share_accepted (`accepted`) or share_forward_result (`results`) lines once at least R
// results and A acceptances have been or are about to be logged.
import process from 'node:process';
import { SystemClock } from '../../adapters/clock.ts';
import { systemRandom } from '../../adapters/random.ts';
import { attachShareForwarding } from '../../adapters/share-forwarding.ts';
import { createEventLog, type LoggableEvent } from '../../adapters/event-log.ts';
import { bytesToHex } from '../../core/bytes.ts';

const argv = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const arg = (name: string, fallback?: string): string => {
  const i = argv.indexOf(name);
  const value = i >= 0 ? argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`share-crash-harness: ${name} is required`);
  return value;
};

const count = Number(arg('--count', '0'));
const perTick = Number(arg('--per-tick', '20'));
const tickMs = Number(arg('--tick-ms', '10'));
const killInWindow = argv.includes('--kill-in-window') ? arg('--kill-in-window') : undefined;
if (killInWindow !== undefined && killInWindow !== 'accepted' && killInWindow !== 'results') throw new Error(`share-crash-harness: --kill-in-window accepted|results, got ${killInWindow}`);
const killAfterResults = Number(arg('--kill-after-results', '0'));
const killAfterAccepted = Number(arg('--kill-after-accepted', '0'));
const clock = new SystemClock();
// Lines queued in the log for this turn, and lines already written, by kind.
const queued = { accepted: 0, results: 0 };
const logged = { accepted: 0, results: 0 };
// beforeFlush: the journal reaches the OS before any line that mentions its shares.
const log = createEventLog({
  path: '-',
  maxBytes: 0,
  maxFiles: 1,
  beforeFlush: () => {
    forwarding.flush();
    if (killInWindow !== undefined && queued[killInWindow] > 0 && logged.results + queued.results >= killAfterResults && logged.accepted + queued.accepted >= killAfterAccepted) {
      process.kill(process.pid, 'SIGKILL');
    }
    logged.accepted += queued.accepted;
    logged.results += queued.results;
    queued.accepted = queued.results = 0;
  },
});
const print = (event: LoggableEvent): void => {
  if (event.type === 'share_accepted') queued.accepted += 1;
  if (event.type === 'share_forward_result') queued.results += 1;
  log.write(event);
};
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
    if (event.type === 'share_forward_result') print({ ...event });
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
    // Published in this turn's one log write, after the journal's (beforeFlush).
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
log.close();
