// JetStream share sink throughput (issue 13 item 4): the forwarder pump (adapters/share-forwarding.ts,
// journal in memory) publishing synthetic accepted shares through adapters/share-jetstream.ts to a
// real nats-server with JetStream (file store, its own temp dir) on loopback; one publish per share
// with Nats-Msg-Id, settled on the PubAck. Reported as shares per wall-clock second and per
// CPU-second of this process (nats-server runs in its own process and is not counted). Prints a
// note and reports nothing when nats-server is not installed (scripts/install-nats-server.sh).
//
//   node --import tsx test/bench/jetstream.bench.ts   (or deno run -A / bun; npm run bench)
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { SystemClock } from '../../adapters/clock.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { systemRandom } from '../../adapters/random.ts';
import { attachShareForwarding } from '../../adapters/share-forwarding.ts';
import { createJetStreamSharePoster } from '../../adapters/share-jetstream.ts';
import { NatsServer, findNatsServer, NATS_MISSING_REASON } from '../support/nats-server.ts';
import { report, runtime } from './bench-util.ts';
import { pumpShares, resultCounter, throughputShareConfig } from './forward-pump.ts';

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
    const results = resultCounter();
    const forwarding = attachShareForwarding({
      config: {
        gateway: { id: 1, data_dir: '/nonexistent' },
        timing: { shutdown_drain_timeout_ms: 60_000 },
        share: throughputShareConfig({ url: 'http://127.0.0.1:9/unused', secret: 'unused-secret-0123456789' }),
      },
      clock: new SystemClock(),
      random: systemRandom,
      provider: selectCryptoProvider('auto'),
      journal: 'memory',
      poster,
      onEvent: results.onEvent,
    });
    const { seconds, cpuSeconds } = await pumpShares(forwarding, { count: SHARES, chunk: PRODUCER_CHUNK, unsettledMax: UNSETTLED_MAX, stopTimeoutMs: 60_000 });
    await poster.close();
    // Exactly once, checked where it counts: the stream holds one message per share. On a
    // loaded machine a PubAck can miss ackTimeoutMs; the batch is then re-published and the
    // stream answers `duplicate` for what it already had, so `published` alone may fall short
    // while the stream is still exact (published + duplicates covers every share).
    const check = await connect({ servers: server.url });
    const stored = (await (await jetstreamManager(check)).streams.info('BENCH')).state.messages;
    await check.close();
    const { published, duplicates } = poster.stats;
    if (results.ok !== SHARES || results.other !== 0 || stored !== SHARES || published + duplicates < SHARES) {
      throw new Error(`benchmark self-check failed: ok ${results.ok}, other ${results.other}, stream holds ${stored}, published ${published} + duplicates ${duplicates}`);
    }
    if (duplicates > 0) console.log(`  ${runtime} ${duplicates} shares re-published after an ack timeout (answered duplicate: not stored twice)`);
    report({ name: 'jetstream_shares_per_s', value: SHARES / seconds, unit: 'shares/s' });
    report({ name: 'jetstream_shares_per_cpu_s', value: SHARES / cpuSeconds, unit: 'shares/cpu-s' });
  } finally {
    await server.dispose();
  }
}
