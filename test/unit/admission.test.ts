// Admission limits and the invalid-share budget (issue 12 Build item 4), on the fake clock:
//  - core/gateway/admission.ts alone: per-IP open connections, per-IP and global handshaking,
//    the per-IP connect token bucket, the bounded IP table, IP parsing;
//  - the whole Gateway in memory (sans-IO miners from core/client on a FakeClock, no sockets):
//    thousands of half-open connections from one address are refused past the per-IP limit
//    while a miner from another address connects, mines and gets its ack; the half-open ones
//    are all dropped at the handshake timeout and the admission counts return to zero; a flood
//    of invalid shares closes its connection after exactly the budget, and a miner submitting
//    in the same round is acknowledged in that round (bounded by counts, not by wall time).
// Real sockets on every runtime: test/integration/gateway-hostile.test.ts.
import { readFileSync } from 'node:fs';
import { describe, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { pumpGateway } from '../support/memory-pump.ts';
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { hexToBytes } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { ResponderIdentity, generateAuthorityKeyPair } from '../../core/noise/index.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import { MiningClient, ShareFinder, type ClientEvent } from '../../core/client/index.ts';
import { Admission, ipOf, type AdmissionLimits } from '../../core/gateway/admission.ts';
import { Gateway, type GatewayEvent } from '../../core/gateway/index.ts';

const LIMITS: AdmissionLimits = { connectionsPerIpMax: 3, handshakingMax: 5, handshakingPerIpMax: 2, connectionRatePerIpPerSec: 2, connectionBurstPerIp: 100 };

describe('admission limits (core/gateway/admission.ts)', () => {
  test('ipOf: IPv4, IPv6 with and without brackets, IPv4-mapped, unknown', () => {
    assert.equal(ipOf('10.1.2.3:5555'), '10.1.2.3');
    assert.equal(ipOf('::1:5555'), '::1');
    assert.equal(ipOf('[2001:DB8::1]:80'), '2001:db8::1');
    assert.equal(ipOf('::ffff:10.0.0.9:4000'), '10.0.0.9');
    assert.equal(ipOf(''), '');
    assert.equal(ipOf(undefined), '');
  });

  test('per-IP open connections: the limit refuses only that IP, and a close frees a slot', () => {
    const a = new Admission({ ...LIMITS, handshakingPerIpMax: 100, handshakingMax: 100 });
    for (let i = 0; i < 3; i++) assert.equal(a.admit('10.0.0.1', 0), null);
    assert.equal(a.admit('10.0.0.1', 0), 'connection_limit_per_ip');
    assert.equal(a.admit('10.0.0.2', 0), null, 'another IP is not affected');
    a.setupDone('10.0.0.1');
    a.closed('10.0.0.1', false);
    assert.equal(a.admit('10.0.0.1', 0), null);
    assert.deepEqual(a.ipState('10.0.0.1'), { open: 3, handshaking: 3 });
  });

  test('handshaking: per IP and global; SetupConnection done or a close frees the slot', () => {
    const a = new Admission(LIMITS);
    assert.equal(a.admit('10.0.0.1', 0), null);
    assert.equal(a.admit('10.0.0.1', 0), null);
    assert.equal(a.admit('10.0.0.1', 0), 'handshake_limit_per_ip');
    a.setupDone('10.0.0.1');
    assert.equal(a.admit('10.0.0.1', 0), null, 'a set-up connection is no longer half-open');
    assert.equal(a.admit('10.0.0.2', 0), null);
    assert.equal(a.admit('10.0.0.3', 0), null);
    assert.equal(a.admit('10.0.0.5', 0), null);
    assert.equal(a.handshaking, 5);
    assert.equal(a.admit('10.0.0.4', 0), 'handshake_limit_reached', 'the global limit, whatever the IP');
    a.closed('10.0.0.2', true);
    assert.equal(a.handshaking, 4);
    assert.equal(a.admit('10.0.0.4', 0), null);
  });

  test('connect rate per IP: a burst, then the refill rate; a refused connect spends nothing', () => {
    const a = new Admission({ ...LIMITS, connectionsPerIpMax: 1000, handshakingPerIpMax: 1000, handshakingMax: 1000, connectionBurstPerIp: 4, connectionRatePerIpPerSec: 2 });
    for (let i = 0; i < 4; i++) assert.equal(a.admit('10.0.0.1', 1000), null);
    assert.equal(a.admit('10.0.0.1', 1000), 'connection_rate_limited');
    assert.equal(a.admit('10.0.0.1', 1499), 'connection_rate_limited', '0.998 of a token after 499 ms');
    assert.equal(a.admit('10.0.0.1', 1500), null, 'one token after 500 ms at 2/s');
    assert.equal(a.admit('10.0.0.1', 1500), 'connection_rate_limited');
    assert.equal(a.admit('10.0.0.9', 1500), null, 'other IPs have their own bucket');
  });

  test('the IP table is bounded: a new IP finding it full of spent buckets is refused until they refill', () => {
    const a = new Admission({ ...LIMITS, connectionBurstPerIp: 1, connectionRatePerIpPerSec: 1, handshakingMax: 100 }, 3);
    for (const ip of ['1.0.0.1', '1.0.0.2', '1.0.0.3']) {
      assert.equal(a.admit(ip, 0), null);
      a.closed(ip, true); // bucket spent, no connection: remembered until it refills
    }
    assert.equal(a.trackedIps, 3);
    assert.equal(a.admit('1.0.0.4', 0), 'connection_rate_limited');
    assert.equal(a.admit('1.0.0.4', 1000), null, 'refilled entries are pruned to make room');
    assert.equal(a.trackedIps, 1);
  });

  test('misuse throws a RangeError naming the limit', () => {
    assert.throws(() => new Admission({ ...LIMITS, handshakingMax: 0 }), /admission\.handshakingMax must be an integer >= 1, got 0/);
  });
});

// ---- the gateway in memory -------------------------------------------------------------------

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;

function fixtureTemplate() {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = '1e00ffff';
  const parsed = parseGetBlockTemplate(json, { templateId: 1n });
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.value;
}

interface MemMiner {
  readonly connId: number;
  readonly client: MiningClient;
  readonly events: ClientEvent[];
  readonly noise: { pollTransmit(): Uint8Array | undefined; receive(bytes: Uint8Array, nowMs: number): void };
  closedByServer: boolean;
  drain(): void;
}

class MemWorld {
  readonly clock = new FakeClock({ startMs: 1_000 });
  readonly random = new SeededRandom(seed + 1201);
  readonly authority = generateAuthorityKeyPair(this.random);
  readonly gateway: Gateway;
  readonly miners = new Map<number, MemMiner>();
  readonly events: GatewayEvent[] = [];
  readonly handshakeTimeoutMs = 5_000;

  constructor(options: { admission: AdmissionLimits; invalidSharesPerMinuteMax?: number; maxConnections?: number }) {
    const identity = new ResponderIdentity({ authoritySecretKey: this.authority.secretKey, validitySecs: 3600, backdateSecs: 300, random: this.random });
    this.gateway = new Gateway(
      {
        gatewayId: 7, mode: 'observe', provider: nobleProvider, random: this.random, identity,
        auth: { mode: 'open', maxWorkerIdBytes: 64, maxWorkersPerChannel: 4 },
        channels: {
          sharesPerMinute: 6, minDifficulty: 0, maxDifficulty: 1e12, vardiffEnabled: false, vardiffRetargetIntervalSecs: 60,
          shareAckBatchSize: 1, shareAckDelayMs: 100, nonceExpireSecs: 60, extranonceRollableBytesDefault: 8,
          channelsPerConnectionMax: 8, ntimeFutureSecsMax: 7000, seenSharesMax: 100_000,
        },
        payout: [{ scriptPubKey: hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6'), weight: 1 }],
        poolTag: 'Test', maxConnections: options.maxConnections ?? 100_000, maxFramePayloadBytes: 65_536,
        handshakeTimeoutMs: this.handshakeTimeoutMs, idleTimeoutMs: 600_000, jobBroadcastIntervalMs: 0,
        blockRetryInitialMs: 500, blockRetryMaxMs: 2_000, shutdownDrainTimeoutMs: 1_000,
        admission: options.admission,
        ...(options.invalidSharesPerMinuteMax === undefined ? {} : { invalidSharesPerMinuteMax: options.invalidSharesPerMinuteMax }),
      },
      this.clock.monotonicMs(),
    );
  }

  get now(): number {
    return this.clock.monotonicMs();
  }

  /** A raw TCP accept from `remoteAddress` that never sends a byte: connection id or null. */
  halfOpen(remoteAddress: string): number | null {
    const connId = this.gateway.acceptConnection(this.now, { wallMs: this.clock.wallMs(), remoteAddress });
    this.pump();
    return connId;
  }

  /** A real (sans-IO) SV2 miner from `remoteAddress`, set up; null when refused. */
  miner(remoteAddress: string): MemMiner | null {
    const connId = this.gateway.acceptConnection(this.now, { wallMs: this.clock.wallMs(), remoteAddress });
    if (connId === null) {
      this.pump();
      return null;
    }
    const client = new MiningClient({ provider: nobleProvider, random: this.random, certificatePolicy: { kind: 'pinned', authorityXOnly: this.authority.publicKeyXOnly }, wallClock: this.clock }, this.now);
    const events: ClientEvent[] = [];
    const miner: MemMiner = {
      connId, client, events, noise: client, closedByServer: false,
      drain: () => {
        for (let e = client.pollEvent(); e !== undefined; e = client.pollEvent()) events.push(e);
      },
    };
    this.miners.set(connId, miner);
    this.pump();
    return miner;
  }

  pump(): void {
    pumpGateway(this.gateway, this.miners, this.now, { command: () => undefined, event: (e) => this.events.push(e), skipClosedMiners: true });
  }

  advance(deltaMs: number): void {
    const target = this.now + deltaMs;
    for (let i = 0; i < 100_000; i++) {
      const at = this.gateway.nextDeadlineMs();
      if (at === undefined || at > target) break;
      this.clock.advanceTo(Math.max(at, this.now));
      this.gateway.onTimeout(this.now);
      this.pump();
    }
    this.clock.advanceTo(target);
    this.pump();
  }

  eventsOf<T extends GatewayEvent['type']>(type: T): Extract<GatewayEvent, { type: T }>[] {
    return this.events.filter((e) => e.type === type) as Extract<GatewayEvent, { type: T }>[];
  }

  /** Open a standard channel; `hard` = a nominal rate so high no CPU hash meets the target. */
  openChannel(miner: MemMiner, identity: string, hard = false): number {
    const request = miner.client.openStandardChannel({ userIdentity: identity, nominalHashRate: hard ? 1e15 : 1 });
    this.pump();
    const opened = miner.events.find((e) => e.type === 'channel_opened' && e.request_id === request);
    assert.ok(opened !== undefined && opened.type === 'channel_opened', `channel for ${identity}: ${JSON.stringify(miner.events.map((e) => e.type))}`);
    return opened.channel_id;
  }
}

describe('admission limits in the gateway (fake clock)', () => {
  test('2,000 half-open connections from one address: the per-IP limit holds, a miner elsewhere mines, all are dropped at the handshake timeout', () => {
    const world = new MemWorld({ admission: { connectionsPerIpMax: 5000, handshakingMax: 1000, handshakingPerIpMax: 500, connectionRatePerIpPerSec: 1_000_000, connectionBurstPerIp: 1_000_000 } });
    world.gateway.templateUpdated(fixtureTemplate(), world.now);
    world.pump();
    let accepted = 0;
    for (let i = 0; i < 2000; i++) if (world.halfOpen(`203.0.113.7:${10_000 + i}`) !== null) accepted++;
    assert.equal(accepted, 500, 'limits.max_handshaking_per_ip');
    const refused = world.eventsOf('connection_refused');
    assert.equal(refused.length, 1500);
    assert.ok(refused.every((e) => e.reason_code === 'handshake_limit_per_ip' && e.remote_address?.startsWith('203.0.113.7:')));
    assert.equal(world.gateway.admission.handshaking, 500);

    // A legitimate miner from another address is admitted, mines, and is acknowledged.
    const honest = world.miner('198.51.100.1:4000');
    assert.ok(honest !== null, 'the honest miner is admitted during the flood');
    assert.equal(honest.client.state, 'ready');
    const channel = world.openChannel(honest, 'honest.rig');
    const work = honest.client.work(channel)!;
    const share = new ShareFinder(work).search(1 << 16).share!;
    honest.client.submitShare(channel, { jobId: work.jobId, nonce: share.nonce, ntime: share.ntime, version: share.version });
    world.pump();
    assert.ok(honest.events.some((e) => e.type === 'shares_accepted'), 'the honest share is acknowledged');
    assert.equal(world.gateway.admission.handshaking, 500, 'the honest miner is no longer half-open');

    // A second attacker address fills the global half-open limit; past it every address is refused.
    for (let i = 0; i < 600; i++) world.halfOpen(`203.0.113.8:${10_000 + i}`);
    assert.equal(world.gateway.admission.handshaking, 1000);
    assert.equal(world.halfOpen('198.51.100.2:4000'), null);
    assert.equal(world.eventsOf('connection_refused').at(-1)!.reason_code, 'handshake_limit_reached');

    // The handshake timeout drops every half-open connection; the honest one stays.
    world.advance(world.handshakeTimeoutMs);
    const timedOut = world.eventsOf('connection_closed').filter((e) => e.reason_code === 'handshake_timeout');
    assert.equal(timedOut.length, 1000);
    assert.equal(world.gateway.admission.handshaking, 0);
    assert.equal(world.gateway.stats.openConnections, 1);
    assert.equal(honest.client.state, 'ready');
    assert.ok(world.miner('203.0.113.7:20000') !== null, 'the attacker address is admitted again once its half-open connections are gone');
  });

  test('connect flood from one address: the token bucket refuses past the burst and admits again at the refill rate', () => {
    const world = new MemWorld({ admission: { connectionsPerIpMax: 10_000, handshakingMax: 10_000, handshakingPerIpMax: 10_000, connectionRatePerIpPerSec: 10, connectionBurstPerIp: 50 } });
    let accepted = 0;
    for (let i = 0; i < 1000; i++) if (world.halfOpen(`192.0.2.1:${i + 1}`) !== null) accepted++;
    assert.equal(accepted, 50);
    assert.ok(world.eventsOf('connection_refused').every((e) => e.reason_code === 'connection_rate_limited'));
    world.advance(1000); // 10 tokens; the handshake timeout (5 s) has not passed
    accepted = 0;
    for (let i = 0; i < 100; i++) if (world.halfOpen(`192.0.2.1:${2000 + i}`) !== null) accepted++;
    assert.equal(accepted, 10);
    assert.ok(world.miner('192.0.2.2:1') !== null, 'another address is unaffected');
  });

  test('per-IP open connections: the fourth from one address is refused (connection_limit_per_ip), others are not', () => {
    const world = new MemWorld({ admission: { ...LIMITS, handshakingMax: 100, handshakingPerIpMax: 100 } });
    for (let i = 0; i < 3; i++) assert.ok(world.miner(`192.0.2.5:${i + 1}`) !== null);
    assert.equal(world.miner('192.0.2.5:99'), null);
    assert.equal(world.eventsOf('connection_refused')[0]!.reason_code, 'connection_limit_per_ip');
    assert.ok(world.miner('192.0.2.6:1') !== null);
  });

  test('a flood of invalid shares closes its connection after exactly the budget; a miner submitting in the same round is acknowledged in it', () => {
    const budget = 200;
    const world = new MemWorld({ admission: LIMITS, invalidSharesPerMinuteMax: budget });
    world.gateway.templateUpdated(fixtureTemplate(), world.now);
    world.pump();
    const attacker = world.miner('192.0.2.10:1')!;
    const honest = world.miner('192.0.2.11:1')!;
    const attackerChannel = world.openChannel(attacker, 'mallory.flood', true);
    const honestChannel = world.openChannel(honest, 'honest.rig');
    const aw = attacker.client.work(attackerChannel)!;

    // Round 1: half a budget of invalid shares, then refilled after a minute: still open.
    for (let i = 0; i < budget / 2; i++) attacker.client.submitShare(attackerChannel, { jobId: aw.jobId, nonce: i, ntime: aw.ntime, version: aw.version });
    world.pump();
    world.advance(60_000);
    assert.equal(attacker.client.state, 'ready');

    // Round 2: 5,000 invalid shares and one honest share, all delivered before the gateway runs.
    for (let i = 0; i < 5000; i++) attacker.client.submitShare(attackerChannel, { jobId: aw.jobId, nonce: 1_000_000 + i, ntime: aw.ntime, version: aw.version });
    const hw = honest.client.work(honestChannel)!;
    const share = new ShareFinder(hw).search(1 << 16).share!;
    const seq = honest.client.submitShare(honestChannel, { jobId: hw.jobId, nonce: share.nonce, ntime: share.ntime, version: share.version });
    const before = world.events.length;
    world.pump();
    const round = world.events.slice(before);
    const rejected = round.filter((e) => e.type === 'share_rejected' && e.conn_id === attacker.connId);
    // Full bucket again (budget), and the share that overdraws it: budget + 1 processed, the
    // other 5,000 - budget - 1 never validated.
    assert.equal(rejected.length, budget + 1);
    assert.ok(rejected.every((e) => e.type === 'share_rejected' && e.reason_code === 'difficulty_too_low'));
    const closed = round.find((e) => e.type === 'connection_closed' && e.conn_id === attacker.connId);
    assert.ok(closed !== undefined && closed.type === 'connection_closed' && closed.reason_code === 'invalid_share_budget_exceeded', JSON.stringify(closed));
    const accepted = round.find((e) => e.type === 'share_accepted' && e.conn_id === honest.connId);
    assert.ok(accepted !== undefined, 'the honest share is accepted in the same round');
    assert.ok(honest.events.some((e) => e.type === 'shares_accepted' && e.last_sequence_number === seq));
    assert.equal(honest.client.state, 'ready');
  });
});
