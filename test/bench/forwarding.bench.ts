// Share forwarding throughput to a local sink (issue 5: target ≥ 50,000 shares/s on one core
// with batching). Everything runs in this one process and thread: the producer accepting
// synthetic share_accepted records, the forwarder pump (adapters/share-forwarding.ts) with the
// share poster (our HTTP/1.1 client, one connection per POST), and `share-sink` (node:http) verifying every HMAC and de-duplicating. So the
// number is end-to-end (accept → signed POST → verified → result event), CPU-bound on one core.
// Two rows: journal in memory, and the file journal (write per accept, fdatasync per batch pass),
// each as shares per wall-clock second and per CPU-second of the process (node:process cpuUsage,
// which Node, Deno and Bun implement; a loaded machine depresses only the first).
//
//   node --import tsx test/bench/forwarding.bench.ts   (or deno run -A / bun; npm run bench)
import { mkdtempSync, rmSync } from 'node:fs';
import process from 'node:process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemClock } from '../../adapters/clock.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { systemRandom } from '../../adapters/random.ts';
import { attachShareForwarding } from '../../adapters/share-forwarding.ts';
import type { ShareForwardingConfig } from '../../core/forwarding/index.ts';
import { startShareSink } from '../../runtimes/commands/share-sink.ts';
import { report, runtime } from './bench-util.ts';

const SECRET = 'bench-share-secret-0123456789';
const SHARES = 200_000;
const PRODUCER_CHUNK = 5000;
const UNSETTLED_MAX = 50_000;

const provider = selectCryptoProvider('auto');

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`benchmark self-check failed: ${what}`);
}

async function measure(journal: 'memory' | 'file'): Promise<void> {
  const sink = await startShareSink({ host: '127.0.0.1', port: 0, secret: SECRET, provider });
  const dir = mkdtempSync(join(tmpdir(), `rg-forwarding-bench-${runtime}-`));
  const config: ShareForwardingConfig = {
    gateway: { id: 1, data_dir: dir },
    timing: { shutdown_drain_timeout_ms: 30_000 },
    share: {
      share_upstream_url: sink.url,
      share_upstream_secret: SECRET,
      share_forward_queue_size: 100_000,
      share_forward_max_in_flight: 8,
      share_batch_interval_ms: 10,
      share_batch_max_shares: 1000,
      share_forward_timeout_ms: 10_000,
      share_forward_retry_initial_ms: 50,
      share_forward_retry_max_ms: 1000,
    },
  };
  let ok = 0;
  let other = 0;
  const forwarding = attachShareForwarding({
    config,
    clock: new SystemClock(),
    random: systemRandom,
    provider,
    journal,
    onEvent: (e) => {
      if (e.type !== 'share_forward_result') return;
      if (e.status === 'ok') ok++;
      else other++;
    },
  });
  const template = { channel_id: 1, sequence_number: 0, identity: 'bench.worker', worker: 'worker', job_id: 1, template_id: '1', nonce: 0, ntime: 1_700_000_000, version: 0x20000000, extranonce: '0000000000000001', hash: '0'.repeat(56) + 'ffffffff', difficulty: 1, block: false, mode: 'observe', stale_hold: false };
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let n = 0;
  await new Promise<void>((resolve) => {
    const produce = (): void => {
      const room = Math.min(PRODUCER_CHUNK, UNSETTLED_MAX - forwarding.metrics.unsettled, SHARES - n);
      for (let i = 0; i < room; i++) {
        n++;
        forwarding.accept({ ...template, share_id: `1-bench-${n}`, sequence_number: n, nonce: n });
      }
      if (n >= SHARES) resolve();
      else setTimeout(produce, 0);
    };
    produce();
  });
  await forwarding.stop(30_000);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  check(ok === SHARES && other === 0, `all ${SHARES} ok (ok ${ok}, other ${other})`);
  check(sink.stats.sharesNew === SHARES, `sink counted ${sink.stats.sharesNew} new`);
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
  report({ provider: provider.name, name: `forward_shares_per_s_${journal}_journal`, value: SHARES / seconds, unit: 'shares/s' });
  // Per CPU-second of this process (all of it on one thread): the number that does not depend on
  // what else the machine is doing. Near the wall-clock rate on an idle machine.
  report({ provider: provider.name, name: `forward_shares_per_cpu_s_${journal}_journal`, value: SHARES / cpuSeconds, unit: 'shares/cpu-s' });
}

await measure('memory');
await measure('file');
