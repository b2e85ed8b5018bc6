// The pump (adapters/gateway-server.ts) between real loopback sockets and the real Gateway on
// the running runtime: deadlines armed from nextDeadlineMs (handshake timeout), refused
// connections closed, a miner that stops reading first paused and then closed with
// slow_consumer, and a clean shutdown that tells miners before closing.
import { readFileSync } from 'node:fs';
import { describe, runtime, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { hexToBytes } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { generateAuthorityKeyPair, ResponderIdentity } from '../../core/noise/index.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { Gateway, type GatewayOptions } from '../../core/gateway/index.ts';
import { connectTcp, type TcpCloseInfo } from '../../adapters/net/index.ts';
import { serveGateway, type GatewayServer, type StampedEvent } from '../../adapters/gateway-server.ts';
import { MinerConnection } from '../../adapters/fleet.ts';
import { until } from '../support/wait.ts';

const HOST = '127.0.0.1';
const STEP_MS = 5000;


const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;
let templateCounter = 0n;

/** The recorded btcd template with a high difficulty and a chosen previous block hash. */
function template(prevIndex: number): BlockTemplate {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = '1e00ffff';
  json['previousblockhash'] = prevIndex.toString(16).padStart(64, '0');
  templateCounter += 1n;
  const parsed = parseGetBlockTemplate(json, { templateId: templateCounter });
  if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
  return parsed.value;
}

interface World {
  readonly gateway: Gateway;
  readonly server: GatewayServer;
  readonly clock: SystemClock;
  readonly events: StampedEvent[];
  readonly authorityXOnly: Uint8Array;
  miner(): Promise<MinerConnection>;
  close(): Promise<void>;
}

async function start(salt: number, overrides: Partial<GatewayOptions> = {}, outboundBytesMax?: number): Promise<World> {
  const clock = new SystemClock();
  const random = new SeededRandom(seed + salt);
  const authority = generateAuthorityKeyPair(random);
  const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random });
  const gateway = new Gateway(
    {
      gatewayId: 3, mode: 'observe', provider: nobleProvider, random, identity,
      auth: { mode: 'open', maxWorkerIdBytes: 32, maxWorkersPerChannel: 4 },
      channels: {
        sharesPerMinute: 6, minDifficulty: 0, maxDifficulty: 1e12, vardiffEnabled: false, vardiffRetargetIntervalSecs: 60,
        shareAckBatchSize: 1, shareAckDelayMs: 50, nonceExpireSecs: 60, extranonceRollableBytesDefault: 8,
        channelsPerConnectionMax: 64, ntimeFutureSecsMax: 7000, seenSharesMax: 10_000,
      },
      payout: [{ scriptPubKey: hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6'), weight: 1 }],
      poolTag: 'PumpTest', maxConnections: 100, maxFramePayloadBytes: 65_536, handshakeTimeoutMs: 5000, idleTimeoutMs: 600_000,
      jobBroadcastIntervalMs: 0, blockRetryInitialMs: 100, blockRetryMaxMs: 1000, shutdownDrainTimeoutMs: 500,
      ...overrides,
    },
    clock.monotonicMs(),
  );
  const events: StampedEvent[] = [];
  const server = await serveGateway({
    gateway, clock, listen: { host: HOST, port: 0 }, onEvent: (e) => events.push(e),
    ...(outboundBytesMax === undefined ? {} : { outboundBytesMax }),
  });
  const miners: MinerConnection[] = [];
  return {
    gateway, server, clock, events, authorityXOnly: authority.publicKeyXOnly,
    miner: async () => {
      const m = await MinerConnection.connect({
        host: HOST, port: server.port, clock, random: new SeededRandom(seed + salt + 100 + miners.length),
        certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
      });
      miners.push(m);
      return m;
    },
    close: async () => {
      for (const m of miners) m.abort();
      await server.close();
    },
  };
}

function closedEvents(world: World): Extract<StampedEvent, { type: 'connection_closed' }>[] {
  return world.events.filter((e) => e.type === 'connection_closed') as Extract<StampedEvent, { type: 'connection_closed' }>[];
}

describe(`gateway server pump (${runtime})`, () => {
  test('arms the gateway deadline: a client that never handshakes is dropped at handshake_timeout', async () => {
    const world = await start(20, { handshakeTimeoutMs: 300 });
    try {
      // Started before connecting: the server's timer runs from its accept, which can precede
      // connectTcp's resolution by a lot on a loaded machine (seen: 110 ms), so measuring from
      // after the connect made this bound fail under load.
      const started = Date.now();
      const socket = await connectTcp({ host: HOST, port: world.server.port });
      const closes: TcpCloseInfo[] = [];
      socket.onClose((info) => closes.push(info));
      await until('server closes the silent client', STEP_MS, () => (closes.length > 0 ? true : undefined));
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 3000, `closed after ${elapsed} ms`);
      assert.equal(closes[0]!.local, false);
      const closed = await until('connection_closed', STEP_MS, () => closedEvents(world)[0]);
      assert.equal(closed.reason_code, 'handshake_timeout');
    } finally {
      await world.close();
    }
  });

  test('connections over the limit are refused and closed without a byte', async () => {
    const world = await start(21, { maxConnections: 1 });
    try {
      const first = await world.miner();
      await first.nextEvent('setup_success', STEP_MS);
      const second = await connectTcp({ host: HOST, port: world.server.port });
      let received = 0;
      second.onData((b) => (received += b.length));
      const closes: TcpCloseInfo[] = [];
      second.onClose((info) => closes.push(info));
      await until('refused socket closed', STEP_MS, () => (closes.length > 0 ? true : undefined));
      assert.equal(received, 0);
      assert.equal(world.server.stats.socketsRefused, 1);
      const refused = await until('connection_refused', STEP_MS, () => world.events.find((e) => e.type === 'connection_refused'));
      assert.equal((refused as { reason_code: string }).reason_code, 'connection_limit_reached');
      assert.equal(first.client.state, 'ready', 'the first miner is untouched');
    } finally {
      await world.close();
    }
  });

  test('a miner that stops reading is paused, then closed with slow_consumer past outboundBytesMax', async () => {
    const outboundBytesMax = 256 * 1024;
    // One job + SetNewPrevHash per channel (no group channels), so that the slow miner's 64
    // channels make every broadcast large; grouped, it would be one pair per connection.
    const world = await start(22, { groupChannels: false }, outboundBytesMax);
    try {
      world.gateway.templateUpdated(template(1), world.clock.monotonicMs());
      world.server.service();
      const slow = await world.miner();
      const healthy = await world.miner();
      // Many channels on the slow miner make each broadcast large (≈ 30 KB), so the kernel
      // buffers fill quickly; the healthy one gets a few.
      for (const [m, channels] of [[slow, 64], [healthy, 4]] as const) {
        await m.nextEvent('setup_success', STEP_MS);
        for (let i = 0; i < channels; i++) m.client.openExtendedChannel({ userIdentity: `m.w${i}`, nominalHashRate: 1 });
        m.flush();
      }
      await until('channels open', STEP_MS, () => (slow.client.channels.size === 64 && healthy.client.channels.size === 4 ? true : undefined));
      slow.pauseReading();
      // Every new prevhash sends a future job + SetNewPrevHash to every channel. Kernel buffers
      // on loopback hold a few MiB; the loop is bounded and yields so the sockets can move (Deno
      // writes asynchronously: without yields even a healthy miner's queue only grows).
      let sent = 0;
      for (let i = 2; i < 40_000 && world.server.stats.slowConsumerCloses === 0; i++) {
        world.gateway.templateUpdated(template(i), world.clock.monotonicMs());
        world.server.service();
        sent++;
        if (i % 5 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      assert.equal(world.server.stats.slowConsumerCloses, 1, `no slow_consumer after ${sent} templates`);
      assert.ok(world.server.stats.readPauses >= 1, 'reading was paused before the hard limit');
      const closed = await until('connection_closed slow_consumer', STEP_MS, () => closedEvents(world).find((e) => e.reason_code === 'slow_consumer'));
      assert.equal(closed.reason_code, 'slow_consumer');
      slow.resumeReading();
      await slow.closed;
      // The healthy miner kept up and is still served.
      assert.equal(healthy.client.state, 'ready');
      world.gateway.templateUpdated(template(1_000_000), world.clock.monotonicMs());
      world.server.service();
      await healthy.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === [...healthy.client.channels.keys()][0] && healthy.client.channel(e.channel_id)!.prevHash![0] === (1_000_000 & 0xff));
      assert.equal(closedEvents(world).length, 1);
    } finally {
      await world.close();
    }
  }, { timeoutMs: 60_000 });

  test('shutdown sends CloseChannel(shutdown) to miners, then closes their sockets', async () => {
    const world = await start(23);
    try {
      world.gateway.templateUpdated(template(1), world.clock.monotonicMs());
      world.server.service();
      const miner = await world.miner();
      await miner.nextEvent('setup_success', STEP_MS);
      miner.client.openStandardChannel({ userIdentity: 'x.y', nominalHashRate: 1 });
      miner.flush();
      const opened = await miner.nextEvent('channel_opened', STEP_MS);
      await world.server.shutdown(3000);
      const closedChannel = await miner.nextEvent('channel_closed', STEP_MS);
      assert.deepEqual([closedChannel.channel_id, closedChannel.reason_code], [opened.channel_id, 'shutdown']);
      await miner.closed;
      assert.equal(world.gateway.stopped, true);
    } finally {
      await world.close();
    }
  });
});
