// JetStream share sink throughput (issue 13 item 4): the forwarder pump (adapters/share-forwarding.ts,
// journal in memory) publishing synthetic accepted shares through adapters/share-jetstream.ts to a
// real nats-server with JetStream (file store, its own temp dir) on loopback; one publish per share
// with Nats-Msg-Id, settled on the PubAck. Reported as shares per wall-clock second and per
// CPU-second of this process (nats-server runs in its own process and is not counted). Prints a
// note and reports nothing when nats-server is not installed (scripts/install-nats-server.sh).
//
//   node --import tsx test/bench/jetstream.bench.ts   (or deno run -A / bun; npm run bench)
import process from 'node:process';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { SystemClock } from '../../adapters/clock.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { systemRandom } from '../../adapters/random.ts';
import { attachShareForwarding } from '../../adapters/share-forwarding.ts';
import { createJetStreamSharePoster } from '../../adapters/share-jetstream.ts';
import { NatsServer, findNatsServer, NATS_MISSING_REASON } from '../support/nats-server.ts';
import { report, runtime } from './bench-util.ts';

const SHARES = 50_000;
const PRODUCER_CHUNK = 5000;
const UNSETTLED_MAX = 20_000;

if (findNatsServer() === null) {
  console.log(`  ${runtime} jetstream bench skipped: ${NATS_MISSING_REASON}`);
} else {
  const server = await NatsServer.start();
  try {
    const admin = await connect({ servers: server.url });
    await (await jetstreamManager(admin)).streams.add({ name: 'BENCH', subjects: ['bench.shares.>'], duplicate_window: 3_600_000_000_000 });
    await admin.close();
    const poster = createJetStreamSharePoster({ servers: [server.url], stream: 'BENCH', subject: 'bench.shares', gatewayId: 1, ackTimeoutMs: 10_000, duplicateWindowMs: 3_600_000, createStream: false });
    let ok = 0;
    let other = 0;
    const forwarding = attachShareForwarding({
      config: {
        gateway: { id: 1, data_dir: '/nonexistent' },
        timing: { shutdown_drain_timeout_ms: 60_000 },
        share: {
          share_upstream_url: 'http://127.0.0.1:9/unused',
          share_upstream_secret: 'unused-secret-0123456789',
          share_forward_queue_size: 100_000,
          share_forward_max_in_flight: 8,
          share_batch_interval_ms: 10,
          share_batch_max_shares: 1000,
          share_forward_timeout_ms: 10_000,
          share_forward_retry_initial_ms: 50,
          share_forward_retry_max_ms: 1000,
        },
      },
      clock: new SystemClock(),
      random: systemRandom,
      provider: selectCryptoProvider('auto'),
      journal: 'memory',
      poster,
      onEvent: (e) => {
        if (e.type !== 'share_forward_result') return;
        if (e.status === 'ok') ok++;
        else other++;
      },
    });
    const template = { channel_id: 1, identity: 'bench.worker', worker: 'worker', job_id: 1, template_id: '1', ntime: 1_700_000_000, version: 0x20000000, extranonce: '0000000000000001', hash: '0'.repeat(56) + 'ffffffff', difficulty: 1, block: false, mode: 'observe', stale_hold: false };
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
    await forwarding.stop(60_000);
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    await poster.close();
    if (ok !== SHARES || other !== 0 || poster.stats.published !== SHARES) throw new Error(`benchmark self-check failed: ok ${ok}, other ${other}, stored ${poster.stats.published}`);
    report({ name: 'jetstream_shares_per_s', value: SHARES / seconds, unit: 'shares/s' });
    report({ name: 'jetstream_shares_per_cpu_s', value: SHARES / ((cpu.user + cpu.system) / 1e6), unit: 'shares/cpu-s' });
  } finally {
    await server.dispose();
  }
}
