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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemClock } from '../../adapters/clock.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { systemRandom } from '../../adapters/random.ts';
import { attachShareForwarding } from '../../adapters/share-forwarding.ts';
import type { ShareForwardingConfig } from '../../core/forwarding/index.ts';
import { startShareSink } from '../../runtimes/commands/share-sink.ts';
import { report, runtime } from './bench-util.ts';
import { pumpShares, resultCounter, throughputShareConfig } from './forward-pump.ts';

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
    share: throughputShareConfig({ url: sink.url, secret: SECRET }),
  };
  const results = resultCounter();
  const forwarding = attachShareForwarding({ config, clock: new SystemClock(), random: systemRandom, provider, journal, onEvent: results.onEvent });
  const { seconds, cpuSeconds } = await pumpShares(forwarding, { count: SHARES, chunk: PRODUCER_CHUNK, unsettledMax: UNSETTLED_MAX, stopTimeoutMs: 30_000 });
  check(results.ok === SHARES && results.other === 0, `all ${SHARES} ok (ok ${results.ok}, other ${results.other})`);
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
