// Our SV2 client (core/client via adapters/fleet.ts MinerConnection) over real loopback TCP on
// the running runtime: first against a minimal responder built from core's
// NoiseResponderConnection, then against the real Gateway through the pump
// (adapters/gateway-server.ts): standard and extended channels, future job + SetNewPrevHash,
// a share found with the CPU finder and acknowledged, a block-finding share turned into a
// submit_block command, and the simulated fleet end to end.
import { readFileSync } from 'node:fs';
import { describe, runtime, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import { generateAuthorityKeyPair, NoiseResponderConnection, ResponderIdentity } from '../../core/noise/index.ts';
import { header80, headerHash } from '../../core/mining/header.ts';
import { meetsTarget } from '../../core/mining/target.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { ShareFinder } from '../../core/client/index.ts';
import { Gateway, type GatewayOptions } from '../../core/gateway/index.ts';
import { listenTcp, type TcpSocket } from '../../adapters/net/index.ts';
import { serveGateway, type GatewayServer, type StampedEvent } from '../../adapters/gateway-server.ts';
import { Fleet, MinerConnection } from '../../adapters/fleet.ts';
import type { GatewayCommand } from '../../core/gateway/gateway.ts';
import { until } from '../support/wait.ts';

const HOST = '127.0.0.1';
const STEP_MS = 5000;


// ---- a minimal responder: core's Noise responder + our codec over the runtime's TCP -----------

interface ScriptedResponder {
  readonly port: number;
  readonly received: Sv2Message[];
  close(): Promise<void>;
}

/** Serve one connection: answer SetupConnection with `reply`, record everything received. */
async function startResponder(identity: ResponderIdentity, random: SeededRandom, reply: (m: Sv2Message) => Sv2Message[]): Promise<ScriptedResponder> {
  const clock = new SystemClock();
  const received: Sv2Message[] = [];
  const sockets: TcpSocket[] = [];
  const listener = await listenTcp({ host: HOST, port: 0 }, (socket) => {
    sockets.push(socket);
    const noise = new NoiseResponderConnection(
      { provider: nobleProvider, random, staticKey: identity.staticKey, certificate: identity.certificateAt(Math.floor(clock.wallMs() / 1000)) },
      clock.monotonicMs(),
    );
    socket.onData((bytes) => {
      noise.receive(bytes, clock.monotonicMs());
      for (let e = noise.pollEvent(); e !== undefined; e = noise.pollEvent()) {
        if (e.type !== 'frame') continue;
        const decoded = decodeMessage(e.frame);
        if (!decoded.ok) throw new Error(`responder could not decode: ${decoded.error.message}`);
        received.push(decoded.value);
        for (const answer of reply(decoded.value)) noise.send(encodeMessage(answer));
      }
      for (let b = noise.pollTransmit(); b !== undefined; b = noise.pollTransmit()) socket.write(b);
      if (noise.state === 'closed') socket.close();
    });
  });
  return {
    port: listener.port,
    received,
    close: async () => {
      await listener.close();
      for (const s of sockets) s.abort();
    },
  };
}

// ---- templates for the real gateway -----------------------------------------------------------

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;
let templateCounter = 0n;

/** The recorded btcd template with `bits` replaced (1e00ffff: no blocks; 207fffff: regtest). */
function template(bits: string, prev?: string): BlockTemplate {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = bits;
  if (prev !== undefined) json['previousblockhash'] = prev;
  templateCounter += 1n;
  const parsed = parseGetBlockTemplate(json, { templateId: templateCounter });
  if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
  return parsed.value;
}

interface GatewayWorld {
  readonly gateway: Gateway;
  readonly server: GatewayServer;
  readonly authorityXOnly: Uint8Array;
  readonly events: StampedEvent[];
  readonly commands: GatewayCommand[];
  readonly clock: SystemClock;
  connect(options?: { requestExtensions?: number[] }): Promise<MinerConnection>;
  close(): Promise<void>;
}

async function startGateway(salt: number, overrides: Partial<GatewayOptions> = {}): Promise<GatewayWorld> {
  const clock = new SystemClock();
  const random = new SeededRandom(seed + salt);
  const authority = generateAuthorityKeyPair(random);
  const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random });
  const gateway = new Gateway(
    {
      gatewayId: 7,
      mode: 'observe',
      provider: nobleProvider,
      random,
      identity,
      auth: { mode: 'open', maxWorkerIdBytes: 32, maxWorkersPerChannel: 4 },
      channels: {
        sharesPerMinute: 6, minDifficulty: 0, maxDifficulty: 1e12, vardiffEnabled: false, vardiffRetargetIntervalSecs: 60,
        shareAckBatchSize: 2, shareAckDelayMs: 50, nonceExpireSecs: 60, extranonceRollableBytesDefault: 8,
        channelsPerConnectionMax: 8, ntimeFutureSecsMax: 7000, seenSharesMax: 10_000,
      },
      payout: [{ scriptPubKey: hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6'), weight: 1 }],
      poolTag: 'NetTest',
      maxConnections: 100,
      maxFramePayloadBytes: 65_536,
      handshakeTimeoutMs: 5000,
      idleTimeoutMs: 600_000,
      jobBroadcastIntervalMs: 20,
      blockRetryInitialMs: 100,
      blockRetryMaxMs: 1000,
      shutdownDrainTimeoutMs: 1000,
      ...overrides,
    },
    clock.monotonicMs(),
  );
  const events: StampedEvent[] = [];
  const commands: GatewayCommand[] = [];
  const server = await serveGateway({ gateway, clock, listen: { host: HOST, port: 0 }, onEvent: (e) => events.push(e), onCommand: (c) => commands.push(c) });
  const miners: MinerConnection[] = [];
  return {
    gateway,
    server,
    authorityXOnly: authority.publicKeyXOnly,
    events,
    commands,
    clock,
    connect: async (options = {}) => {
      const miner = await MinerConnection.connect({
        host: HOST,
        port: server.port,
        certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
        random: new SeededRandom(seed + salt + 1000 + miners.length),
        clock,
        client: { requestExtensions: options.requestExtensions ?? [] },
      });
      miners.push(miner);
      return miner;
    },
    close: async () => {
      for (const m of miners) m.abort();
      await server.close();
    },
  };
}

const HARD_BITS = '1e00ffff';
const REGTEST_BITS = '207fffff';
const PREV_B = '00000000000000000000000000000000000000000000000000000000000000bb';

/** Grind the channel's active work until a share (and, if asked, a block) is found; bounded. */
function grind(miner: MinerConnection, channelId: number, wantBlock: boolean) {
  for (let round = 0; round < 64; round++) {
    const work = miner.client.work(channelId);
    assert.ok(work !== undefined, 'channel has work');
    const result = new ShareFinder(work).search(4096);
    if (result.share !== undefined && (!wantBlock || result.share.isBlock)) return { work, share: result.share };
  }
  throw new Error('no share in 64 × 4096 attempts');
}

describe(`client over TCP (${runtime})`, () => {
  test('completes Noise + SetupConnection against a core responder', async () => {
    const random = new SeededRandom(seed + 1);
    const authority = generateAuthorityKeyPair(random);
    const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random });
    const responder = await startResponder(identity, random, (m) => (m.type === 'SetupConnection' ? [{ type: 'SetupConnectionSuccess', usedVersion: 2, flags: 0 }] : []));
    const miner = await MinerConnection.connect({
      host: HOST,
      port: responder.port,
      certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
      random: new SeededRandom(seed + 2),
      client: { setup: { vendor: 'net-test', deviceId: 'd1' } },
    });
    try {
      assert.equal((await miner.nextEvent('handshake_complete', STEP_MS)).certificate_verified, true);
      assert.equal((await miner.nextEvent('setup_success', STEP_MS)).used_version, 2);
      assert.equal(miner.client.state, 'ready');
      const setup = responder.received[0];
      assert.ok(setup?.type === 'SetupConnection');
      assert.deepEqual([setup.protocol, setup.minVersion, setup.maxVersion, setup.flags, setup.vendor, setup.deviceId], [0, 2, 2, 0, 'net-test', 'd1']);
    } finally {
      miner.abort();
      await responder.close();
    }
  });

  test('a wrong pinned authority key fails the handshake and closes the socket', async () => {
    const random = new SeededRandom(seed + 3);
    const authority = generateAuthorityKeyPair(random);
    const other = generateAuthorityKeyPair(random);
    const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random });
    const responder = await startResponder(identity, random, () => []);
    const miner = await MinerConnection.connect({ host: HOST, port: responder.port, certificatePolicy: { kind: 'pinned', authorityXOnly: other.publicKeyXOnly }, random });
    try {
      const closed = await miner.nextEvent('closed', STEP_MS);
      assert.equal(closed.error.origin, 'remote');
      await miner.closed;
      assert.equal(miner.socketClosed, true);
      assert.equal(responder.received.length, 0);
    } finally {
      miner.abort();
      await responder.close();
    }
  });

  test('SetupConnection.Error from the server closes the client with setup-refused', async () => {
    const random = new SeededRandom(seed + 4);
    const authority = generateAuthorityKeyPair(random);
    const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random });
    const responder = await startResponder(identity, random, () => [{ type: 'SetupConnectionError', flags: 0, errorCode: 'unsupported-protocol' }]);
    const miner = await MinerConnection.connect({ host: HOST, port: responder.port, certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly }, random });
    try {
      assert.equal((await miner.nextEvent('setup_error', STEP_MS)).error_code, 'unsupported-protocol');
      assert.equal((await miner.nextEvent('closed', STEP_MS)).error.code, 'setup-refused');
      await miner.closed;
    } finally {
      miner.abort();
      await responder.close();
    }
  });

  test('against the real Gateway: standard and extended channels, future job + SetNewPrevHash, a CPU share acknowledged', async () => {
    const world = await startGateway(10);
    try {
      world.gateway.templateUpdated(template(HARD_BITS), world.clock.monotonicMs());
      world.server.service();
      const miner = await world.connect();
      await miner.nextEvent('setup_success', STEP_MS);

      const stdRequest = miner.client.openStandardChannel({ userIdentity: 'alice.std', nominalHashRate: 1 });
      const extRequest = miner.client.openExtendedChannel({ userIdentity: 'alice.ext', nominalHashRate: 1, minExtranonceSize: 8 });
      miner.flush();
      const std = await miner.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === stdRequest);
      const ext = await miner.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === extRequest);
      assert.equal(std.kind, 'standard');
      assert.equal(ext.kind, 'extended');
      assert.equal(ext.extranonce_size, 8);
      for (const channel of [std, ext]) {
        // SV2.md §5.3: a future job first, then the SetNewPrevHash that activates it.
        const job = await miner.nextEvent('new_job', STEP_MS, (e) => e.channel_id === channel.channel_id);
        assert.equal(job.future, true);
        assert.equal(job.extended, channel.kind === 'extended');
        const prev = await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === channel.channel_id);
        assert.equal(prev.job_id, job.job_id);
        assert.equal(prev.job_known, true);
      }

      // One share per channel; the batch of 2 acks arrives per channel within shareAckDelayMs.
      for (const channel of [std, ext]) {
        const { work, share } = grind(miner, channel.channel_id, false);
        // Independent check of what the finder claims, from the header fields alone.
        const hash = headerHash(header80({ version: share.version, prevHash: work.prevHash, merkleRoot: work.merkleRoot, ntime: share.ntime, nbits: work.nbits, nonce: share.nonce }));
        assert.ok(meetsTarget(hash, work.target));
        const sequenceNumber = miner.client.submitShare(channel.channel_id, {
          jobId: work.jobId, nonce: share.nonce, ntime: share.ntime, version: share.version,
          ...(channel.kind === 'extended' ? { extranonce: work.extranonce } : {}),
        });
        miner.flush();
        const ack = await miner.nextEvent('shares_accepted', STEP_MS, (e) => e.channel_id === channel.channel_id);
        assert.equal(ack.last_sequence_number, sequenceNumber);
        assert.equal(ack.accepted_count, 1);
      }
      const accepted = await until('share_accepted events', STEP_MS, () => {
        const found = world.events.filter((e) => e.type === 'share_accepted');
        return found.length >= 2 ? found : undefined;
      });
      assert.equal(accepted.length, 2);
      // The pump stamps every event: increasing seq, ISO wall time.
      for (let i = 1; i < world.events.length; i++) assert.equal(world.events[i]!.seq, world.events[i - 1]!.seq + 1);
      assert.match(world.events[0]!.ts, /^\d{4}-\d\d-\d\dT/);

      // A new prevhash reaches both channels as a future job + SetNewPrevHash.
      const oldJobId = miner.client.work(std.channel_id)!.jobId;
      world.gateway.templateUpdated(template(HARD_BITS, PREV_B), world.clock.monotonicMs());
      world.server.service();
      for (const channel of [std, ext]) {
        const job = await miner.nextEvent('new_job', STEP_MS, (e) => e.channel_id === channel.channel_id);
        assert.equal(job.future, true);
        const prev = await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === channel.channel_id);
        assert.equal(prev.job_id, job.job_id);
        assertPrevHash(miner.client.channel(channel.channel_id)!.prevHash!, PREV_B);
      }
      // A share for the job of the previous prevhash is now stale (SV2.md §5.5 step 1).
      const staleSeq = miner.client.submitShare(std.channel_id, { jobId: oldJobId, nonce: 0, ntime: 0, version: 0x20000000 });
      miner.flush();
      const rejected = await miner.nextEvent('share_rejected', STEP_MS);
      assert.deepEqual([rejected.channel_id, rejected.sequence_number, rejected.error_code], [std.channel_id, staleSeq, 'stale-share']);
    } finally {
      await world.close();
    }
  });

  test('against the real Gateway: a block-finding share becomes a submit_block command', async () => {
    const world = await startGateway(11);
    try {
      world.gateway.templateUpdated(template(REGTEST_BITS), world.clock.monotonicMs());
      world.server.service();
      const miner = await world.connect();
      await miner.nextEvent('setup_success', STEP_MS);
      const request = miner.client.openExtendedChannel({ userIdentity: 'bob.rig', nominalHashRate: 1 });
      miner.flush();
      const channel = await miner.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
      await miner.nextEvent('new_prev_hash', STEP_MS);
      const { work, share } = grind(miner, channel.channel_id, true);
      miner.client.submitShare(channel.channel_id, { jobId: work.jobId, nonce: share.nonce, ntime: share.ntime, version: share.version, extranonce: work.extranonce });
      miner.flush();
      const command = await until('submit_block', STEP_MS, () => world.commands[0]);
      assert.equal(command.type, 'submit_block');
      // The block's header is the one we mined: it starts the serialized block.
      const header = header80({ version: share.version, prevHash: work.prevHash, merkleRoot: work.merkleRoot, ntime: share.ntime, nbits: work.nbits, nonce: share.nonce });
      assert.equal(command.hex.slice(0, 160), bytesToHex(header));
      world.gateway.blockSubmitResult(command.block_id, { kind: 'accepted' }, world.clock.monotonicMs());
      world.server.service();
      await until('block_submit_result', STEP_MS, () => world.events.find((e) => e.type === 'block_submit_result'));
      await until('block_found', STEP_MS, () => world.events.find((e) => e.type === 'block_found'));
    } finally {
      await world.close();
    }
  });

  test('the simulated fleet: mixed channels over TCP+Noise, shares accepted, bounded by sharesMax', async () => {
    const world = await startGateway(12);
    try {
      world.gateway.templateUpdated(template(HARD_BITS), world.clock.monotonicMs());
      world.server.service();
      const fleet = await Fleet.start({
        host: HOST,
        port: world.server.port,
        certificatePolicy: { kind: 'pinned', authorityXOnly: world.authorityXOnly },
        miners: 6,
        channel: 'mixed',
        nominalHashRate: 1,
        // ≈ 6 × 4/11 shares per 10 ms tick: 100 shares take about half a second, long after
        // every miner has its channel.
        attemptsPerTick: 4,
        tickMs: 10,
        durationMs: 20_000,
        sharesMax: 100,
        random: new SeededRandom(seed + 12),
      });
      const stats = await fleet.done;
      assert.equal(stats.connected, 6);
      assert.equal(stats.setupDone, 6);
      assert.equal(stats.channelsOpened, 6);
      assert.equal(stats.sharesSubmitted, 100);
      assert.ok(stats.prevHashes >= 6, `prevHashes ${stats.prevHashes}`);
      assert.deepEqual(stats.errors, []);
      // Every miner was closed by stop(); the gateway saw them go.
      await until('all connections closed', STEP_MS, () => (world.gateway.stats.openConnections === 0 ? true : undefined));
      const gatewayAccepted = world.gateway.stats.sharesAccepted;
      assert.ok(gatewayAccepted >= 90, `gateway accepted ${gatewayAccepted} of 100 (a few may be in flight at stop)`);
      assert.ok(stats.sharesAccepted <= gatewayAccepted);
      assert.equal(world.gateway.stats.sharesRejected, 0);
    } finally {
      await world.close();
    }
  }, { timeoutMs: 30_000 });
});

function assertPrevHash(internal: Uint8Array, displayHex: string): void {
  assert.equal(bytesToHex(Uint8Array.from(internal).reverse()), displayHex);
}
