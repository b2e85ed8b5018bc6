// Our sans-IO SV2 mining client (core/client) against an in-memory responder built from core's
// NoiseResponderConnection on a FakeClock: the connection flow (SV2.md §3.8), channel and job
// tracking (§5.2–§5.3), the SRI share vector through work() and the finder (§5.4–§5.6), the
// worker TLV (§10), timeouts, bounds and misuse.
import { describe, seed, test } from '../harness.ts';
import { assert, assertHex } from '../assert.ts';
import { vectorJson } from '../../conformance/vectors.ts';
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { decodeMessage, encodeFrame, encodeMessage, WORKER_HASHRATE_TRACKING, workerIdentityOf, type Sv2Message } from '../../core/codec/index.ts';
import { generateAuthorityKeyPair, NoiseResponderConnection, ResponderIdentity } from '../../core/noise/index.ts';
import { hashToDisplayHex } from '../../core/mining/target.ts';
import { findShare, MiningClient, ShareFinder, type ClientEvent, type MiningClientOptions, type MiningWork } from '../../core/client/index.ts';

interface ShareVector {
  extranonce_prefix: string;
  rollable_extranonce_size: number;
  share_extranonce: string;
  expected_new_extended_mining_job: { coinbase_tx_prefix: string; coinbase_tx_suffix: string };
  set_new_prev_hash: { prev_hash: string; nbits: number; min_ntime: number };
  share: { version: number; ntime: number; nonce: number };
  expected_header80: string;
  expected_hash_display: string;
  expected_channel_target_wire_u256_le: string;
}
const vector = vectorJson<ShareVector>('shares/sri-extended-valid-share.json');

/** A scripted responder: core's Noise responder, our codec, and a list of what it received. */
class MemoryServer {
  readonly noise: NoiseResponderConnection;
  readonly received: Sv2Message[] = [];
  negotiatedExtensions: number[] = [];
  constructor(clock: FakeClock, random: SeededRandom, identity: ResponderIdentity) {
    this.noise = new NoiseResponderConnection(
      {
        provider: nobleProvider,
        random,
        staticKey: identity.staticKey,
        certificate: identity.certificateAt(Math.floor(clock.wallMs() / 1000)),
      },
      clock.monotonicMs(),
    );
  }
  send(message: Sv2Message): void {
    const sent = this.noise.send(encodeMessage(message));
    assert.ok(sent.ok);
  }
  sendRaw(frame: Uint8Array): void {
    assert.ok(this.noise.send(frame).ok);
  }
  take<T extends Sv2Message['type']>(type: T): Extract<Sv2Message, { type: T }> {
    const index = this.received.findIndex((m) => m.type === type);
    assert.ok(index >= 0, `server expected ${type}, has ${this.received.map((m) => m.type).join(', ') || 'nothing'}`);
    return this.received.splice(index, 1)[0] as Extract<Sv2Message, { type: T }>;
  }
}

interface World {
  readonly clock: FakeClock;
  readonly client: MiningClient;
  readonly server: MemoryServer;
  readonly events: ClientEvent[];
  /** Move bytes both ways until nothing moves. */
  pump(): void;
  next<T extends ClientEvent['type']>(type: T): Extract<ClientEvent, { type: T }>;
}

function world(salt: number, options: Partial<MiningClientOptions> = {}): World {
  const clock = new FakeClock({ startMs: 1000 });
  const random = new SeededRandom(seed + salt);
  const authority = generateAuthorityKeyPair(random);
  const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random });
  const server = new MemoryServer(clock, random, identity);
  const client = new MiningClient(
    {
      provider: nobleProvider,
      random,
      certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
      wallClock: clock,
      ...options,
    },
    clock.monotonicMs(),
  );
  const events: ClientEvent[] = [];
  const pump = (): void => {
    for (let rounds = 0; rounds < 100; rounds++) {
      let moved = false;
      for (let b = client.pollTransmit(); b !== undefined; b = client.pollTransmit()) {
        server.noise.receive(b, clock.monotonicMs());
        moved = true;
      }
      for (let e = server.noise.pollEvent(); e !== undefined; e = server.noise.pollEvent()) {
        if (e.type !== 'frame') continue;
        const decoded = decodeMessage(e.frame, { negotiatedExtensions: server.negotiatedExtensions });
        assert.ok(decoded.ok, 'server could not decode a client frame');
        server.received.push(decoded.value);
      }
      for (let b = server.noise.pollTransmit(); b !== undefined; b = server.noise.pollTransmit()) {
        client.receive(b, clock.monotonicMs());
        moved = true;
      }
      for (let e = client.pollEvent(); e !== undefined; e = client.pollEvent()) events.push(e);
      if (!moved) return;
    }
    assert.fail('pump did not settle in 100 rounds');
  };
  const next = <T extends ClientEvent['type']>(type: T): Extract<ClientEvent, { type: T }> => {
    pump();
    const index = events.findIndex((e) => e.type === type);
    assert.ok(index >= 0, `client expected event ${type}, has ${events.map((e) => e.type).join(', ') || 'nothing'}`);
    return events.splice(index, 1)[0] as Extract<ClientEvent, { type: T }>;
  };
  return { clock, client, server, events, pump, next };
}

/** Handshake + SetupConnection → Success. */
function ready(w: World): void {
  w.pump();
  assert.equal(w.next('handshake_complete').certificate_verified, true);
  const setup = w.server.take('SetupConnection');
  assert.equal(setup.protocol, 0);
  assert.equal(setup.minVersion, 2);
  assert.equal(setup.maxVersion, 2);
  w.server.send({ type: 'SetupConnectionSuccess', usedVersion: 2, flags: 0 });
  assert.equal(w.next('setup_success').used_version, 2);
  assert.equal(w.client.state, 'ready');
}

const ALL_ONES = new Uint8Array(32).fill(0xff);

describe('mining client (core/client)', () => {
  test('extended channel: SRI share vector through work() and the finder, then acknowledged', () => {
    const w = world(1);
    ready(w);
    const requestId = w.client.openExtendedChannel({ userIdentity: 'rig-a.w1', nominalHashRate: 1000, minExtranonceSize: 8 });
    w.pump();
    const open = w.server.take('OpenExtendedMiningChannel');
    assert.equal(open.requestId, requestId);
    assert.equal(open.userIdentity, 'rig-a.w1');
    assert.equal(open.minExtranonceSize, 8);
    assertHex(open.maxTarget, 'ff'.repeat(32));
    w.server.send({
      type: 'OpenExtendedMiningChannelSuccess',
      requestId,
      channelId: 7,
      target: hexToBytes(vector.expected_channel_target_wire_u256_le),
      extranonceSize: vector.rollable_extranonce_size,
      extranoncePrefix: hexToBytes(vector.extranonce_prefix),
      groupChannelId: 100,
    });
    const opened = w.next('channel_opened');
    assert.deepEqual([opened.channel_id, opened.kind, opened.extranonce_size, opened.group_channel_id], [7, 'extended', 8, 100]);
    w.server.send({
      type: 'NewExtendedMiningJob',
      channelId: 7,
      jobId: 3,
      minNtime: null,
      version: vector.share.version,
      versionRollingAllowed: true,
      merklePath: [],
      coinbaseTxPrefix: hexToBytes(vector.expected_new_extended_mining_job.coinbase_tx_prefix),
      coinbaseTxSuffix: hexToBytes(vector.expected_new_extended_mining_job.coinbase_tx_suffix),
    });
    assert.deepEqual(w.next('new_job'), { type: 'new_job', channel_id: 7, job_id: 3, future: true, extended: true });
    assert.equal(w.client.work(7), undefined, 'a future job is not work until its SetNewPrevHash');
    const snph = vector.set_new_prev_hash;
    w.server.send({ type: 'SetNewPrevHash', channelId: 7, jobId: 3, prevHash: hexToBytes(snph.prev_hash), minNtime: snph.min_ntime, nbits: snph.nbits });
    assert.equal(w.next('new_prev_hash').job_known, true);

    const work = w.client.work(7, hexToBytes(vector.share_extranonce))!;
    // The header the finder hashes must be the vector's, byte for byte (merkle root at 36..68).
    assertHex(work.merkleRoot, vector.expected_header80.slice(72, 136));
    assert.equal(work.ntime, vector.share.ntime);
    const finder = new ShareFinder(work, { nonceStart: vector.share.nonce - 40 });
    const result = finder.search(1000);
    assert.ok(result.share !== undefined, 'the vector nonce is within the budget');
    assert.equal(result.share.nonce, vector.share.nonce);
    assert.equal(result.attempts, 41);
    assert.equal(hashToDisplayHex(result.share.hash), vector.expected_hash_display);
    assert.equal(result.share.isBlock, false);

    const sequenceNumber = w.client.submitShare(7, { jobId: work.jobId, nonce: result.share.nonce, ntime: result.share.ntime, version: result.share.version, extranonce: work.extranonce });
    w.pump();
    const submit = w.server.take('SubmitSharesExtended');
    assert.deepEqual(
      [submit.channelId, submit.sequenceNumber, submit.jobId, submit.nonce, submit.ntime, submit.version, bytesToHex(submit.extranonce)],
      [7, sequenceNumber, 3, vector.share.nonce, vector.share.ntime, vector.share.version, vector.share_extranonce],
    );
    w.server.send({ type: 'SubmitSharesSuccess', channelId: 7, lastSequenceNumber: sequenceNumber, newSubmitsAcceptedCount: 1, newSharesSum: 1n });
    const ack = w.next('shares_accepted');
    assert.deepEqual([ack.channel_id, ack.last_sequence_number, ack.accepted_count, ack.shares_sum], [7, 0, 1, 1n]);
    assert.deepEqual(w.client.channel(7)!.stats, { submitted: 1, accepted: 1, rejected: 0, sharesSum: 1n });
    w.server.send({ type: 'SubmitSharesError', channelId: 7, sequenceNumber: 1, errorCode: 'stale-share' });
    assert.equal(w.next('share_rejected').error_code, 'stale-share');
    assert.equal(w.client.channel(7)!.stats.rejected, 1);
  });

  test('work() rolls a fresh extranonce per call and refuses a wrong-size one', () => {
    const w = world(2);
    ready(w);
    const requestId = w.client.openExtendedChannel({ userIdentity: 'u', nominalHashRate: 1 });
    w.pump();
    w.server.send({ type: 'OpenExtendedMiningChannelSuccess', requestId, channelId: 1, target: ALL_ONES, extranonceSize: 4, extranoncePrefix: new Uint8Array([9, 9]), groupChannelId: 0 });
    w.server.send({
      type: 'NewExtendedMiningJob', channelId: 1, jobId: 1, minNtime: null, version: 0x20000000, versionRollingAllowed: true,
      merklePath: [new Uint8Array(32).fill(1)], coinbaseTxPrefix: new Uint8Array([1, 2]), coinbaseTxSuffix: new Uint8Array([3]),
    });
    w.server.send({ type: 'SetNewPrevHash', channelId: 1, jobId: 1, prevHash: new Uint8Array(32), minNtime: 10, nbits: 0x207fffff });
    w.pump();
    const a = w.client.work(1)!;
    const b = w.client.work(1)!;
    assertHex(a.extranonce, '00000000');
    assertHex(b.extranonce, '01000000');
    assert.notDeepEqual(a.merkleRoot, b.merkleRoot);
    assert.throws(() => w.client.work(1, new Uint8Array(3)), /extranonce must be 4 bytes on channel 1, got 3/);
  });

  test('standard channel: future job waits for SetNewPrevHash; SetTarget reaches only unactivated jobs; a new prev hash drops old jobs', () => {
    const w = world(3);
    ready(w);
    const requestId = w.client.openStandardChannel({ userIdentity: 'std', nominalHashRate: 5e6, maxTarget: new Uint8Array(32).fill(0x7f) });
    w.pump();
    assertHex(w.server.take('OpenStandardMiningChannel').maxTarget, '7f'.repeat(32));
    const t1 = new Uint8Array(32).fill(0x11);
    const t2 = new Uint8Array(32).fill(0x22);
    w.server.send({ type: 'OpenStandardMiningChannelSuccess', requestId, channelId: 4, target: t1, extranoncePrefix: new Uint8Array([1, 2, 3, 4]), groupChannelId: 9 });
    w.server.send({ type: 'NewMiningJob', channelId: 4, jobId: 10, minNtime: null, version: 0x20000000, merkleRoot: new Uint8Array(32).fill(0xaa) });
    w.server.send({ type: 'SetNewPrevHash', channelId: 4, jobId: 10, prevHash: new Uint8Array(32).fill(0xbb), minNtime: 500, nbits: 0x1d00ffff });
    w.pump();
    let work = w.client.work(4)!;
    assert.deepEqual([work.jobId, work.ntime, work.nbits, work.extranonce.length], [10, 500, 0x1d00ffff, 0]);
    assertHex(work.merkleRoot, 'aa'.repeat(32));
    assertHex(work.target, '11'.repeat(32));
    // A job for the next prev hash arrives, then SetTarget: the active job keeps t1, the future one gets t2.
    w.server.send({ type: 'NewMiningJob', channelId: 4, jobId: 11, minNtime: null, version: 0x20000000, merkleRoot: new Uint8Array(32).fill(0xcc) });
    w.server.send({ type: 'SetTarget', channelId: 4, maximumTarget: t2 });
    w.pump();
    assertHex(w.client.work(4)!.target, '11'.repeat(32));
    assertHex(w.client.channel(4)!.jobs.get(11)!.target, '22'.repeat(32));
    // A job with min_ntime on the current prev hash is live at once.
    w.server.send({ type: 'NewMiningJob', channelId: 4, jobId: 12, minNtime: 600, version: 0x20000000, merkleRoot: new Uint8Array(32).fill(0xdd) });
    w.pump();
    work = w.client.work(4)!;
    assert.deepEqual([work.jobId, work.ntime], [12, 600]);
    assertHex(work.target, '22'.repeat(32));
    // New prev hash activates job 11 and drops 10 and 12 (SV2.md §5.3).
    w.server.send({ type: 'SetNewPrevHash', channelId: 4, jobId: 11, prevHash: new Uint8Array(32).fill(0xee), minNtime: 700, nbits: 0x1d00ffff });
    w.pump();
    assert.deepEqual([...w.client.channel(4)!.jobs.keys()], [11]);
    work = w.client.work(4)!;
    assert.deepEqual([work.jobId, work.ntime], [11, 700]);
    // Standard shares carry no extranonce.
    assert.throws(() => w.client.submitShare(4, { jobId: 11, nonce: 0, ntime: 700, version: 0x20000000, extranonce: new Uint8Array(1) }), /standard; extranonce is for extended channels/);
    const seq = w.client.submitShare(4, { jobId: 11, nonce: 5, ntime: 700, version: 0x20000000 });
    w.pump();
    const submit = w.server.take('SubmitSharesStandard');
    assert.deepEqual([submit.channelId, submit.sequenceNumber, submit.jobId, submit.nonce], [4, seq, 11, 5]);
    // CloseChannel from the server forgets the channel.
    w.server.send({ type: 'CloseChannel', channelId: 4, reasonCode: 'shutdown' });
    assert.deepEqual(w.next('channel_closed'), { type: 'channel_closed', channel_id: 4, reason_code: 'shutdown' });
    assert.equal(w.client.channel(4), undefined);
  });

  test('messages to a group channel id reach every member channel', () => {
    const w = world(4);
    ready(w);
    const r1 = w.client.openExtendedChannel({ userIdentity: 'a', nominalHashRate: 1 });
    const r2 = w.client.openExtendedChannel({ userIdentity: 'b', nominalHashRate: 1 });
    w.pump();
    for (const [requestId, channelId] of [[r1, 1], [r2, 2]] as const) {
      w.server.send({ type: 'OpenExtendedMiningChannelSuccess', requestId, channelId, target: ALL_ONES, extranonceSize: 8, extranoncePrefix: new Uint8Array([channelId]), groupChannelId: 50 });
    }
    w.server.send({
      type: 'NewExtendedMiningJob', channelId: 50, jobId: 1, minNtime: null, version: 0x20000000, versionRollingAllowed: false,
      merklePath: [], coinbaseTxPrefix: new Uint8Array([1]), coinbaseTxSuffix: new Uint8Array([2]),
    });
    w.server.send({ type: 'SetNewPrevHash', channelId: 50, jobId: 1, prevHash: new Uint8Array(32), minNtime: 1, nbits: 0x207fffff });
    w.pump();
    const w1 = w.client.work(1)!;
    const w2 = w.client.work(2)!;
    assert.equal(w1.versionRollingAllowed, false);
    // Same job, different prefixes: different merkle roots.
    assert.equal(w1.jobId, w2.jobId);
    assert.notDeepEqual(w1.merkleRoot, w2.merkleRoot);
  });

  test('worker TLV: sent only after extension 0x0002 is negotiated', () => {
    const w = world(5, { requestExtensions: [WORKER_HASHRATE_TRACKING] });
    ready(w);
    w.pump();
    const request = w.server.take('RequestExtensions');
    assert.deepEqual(request.requestedExtensions, [WORKER_HASHRATE_TRACKING]);
    const requestId = w.client.openExtendedChannel({ userIdentity: 'proxy', nominalHashRate: 1 });
    w.pump();
    w.server.send({ type: 'OpenExtendedMiningChannelSuccess', requestId, channelId: 1, target: ALL_ONES, extranonceSize: 8, extranoncePrefix: new Uint8Array(4), groupChannelId: 0 });
    w.pump();
    assert.throws(() => w.client.submitShare(1, { jobId: 1, nonce: 0, ntime: 0, version: 0, extranonce: new Uint8Array(8), worker: 'w1' }), /needs extension 0x0002 negotiated/);
    w.server.send({ type: 'RequestExtensionsSuccess', requestId: request.requestId, supportedExtensions: [WORKER_HASHRATE_TRACKING] });
    assert.deepEqual(w.next('extensions_negotiated').supported, [WORKER_HASHRATE_TRACKING]);
    w.server.negotiatedExtensions = [WORKER_HASHRATE_TRACKING];
    w.client.submitShare(1, { jobId: 1, nonce: 0, ntime: 0, version: 0, extranonce: new Uint8Array(8), worker: 'worker-001' });
    w.pump();
    const submit = w.server.take('SubmitSharesExtended');
    const worker = workerIdentityOf(submit.tlvs);
    assert.ok(worker.ok);
    assert.equal(worker.value, 'worker-001');
  });

  test('SetupConnection.Error closes the client with setup-refused, once', () => {
    const w = world(6);
    w.pump();
    w.server.take('SetupConnection');
    w.server.send({ type: 'SetupConnectionError', flags: 0, errorCode: 'unsupported-protocol' });
    assert.equal(w.next('setup_error').error_code, 'unsupported-protocol');
    const closed = w.next('closed');
    assert.equal(closed.error.code, 'setup-refused');
    assert.equal(w.client.state, 'closed');
    assert.equal(w.events.filter((e) => e.type === 'closed').length, 0);
    assert.equal(w.client.nextDeadlineMs(), undefined);
    assert.throws(() => w.client.openStandardChannel({ userIdentity: 'x', nominalHashRate: 1 }), /the client is closed, not ready/);
  });

  test('no SetupConnection.Success by setupTimeoutMs closes at exactly the deadline', () => {
    const w = world(7, { setupTimeoutMs: 3000 });
    w.pump();
    w.next('handshake_complete');
    assert.equal(w.client.nextDeadlineMs(), 4000);
    w.client.onTimeout(3999);
    w.client.onTimeout(3999);
    assert.equal(w.client.state, 'expect-setup-success');
    w.client.onTimeout(4000);
    assert.equal(w.next('closed').error.code, 'setup-timeout');
    w.client.onTimeout(5000);
    assert.equal(w.events.length, 0);
  });

  test('a frame the client cannot decode, or a message before setup, ends the connection', () => {
    const w = world(8);
    ready(w);
    // OpenStandardMiningChannel.Success with a truncated payload.
    w.server.sendRaw(encodeFrame({ extensionType: 0, channelMsg: false, msgType: 0x11 }, new Uint8Array(3)));
    const closed = w.next('closed');
    assert.equal(closed.error.origin, 'remote');
    assert.equal(closed.error.code, 'truncated');

    const v = world(9);
    v.pump();
    v.server.send({ type: 'SetTarget', channelId: 1, maximumTarget: ALL_ONES });
    assert.equal(v.next('closed').error.code, 'unexpected-message');
  });

  test('bounds and misuse: channelsMax, jobsPerChannelMax, calls before ready', () => {
    const w = world(10, { channelsMax: 2, jobsPerChannelMax: 3 });
    assert.throws(() => w.client.submitShare(1, { jobId: 1, nonce: 0, ntime: 0, version: 0 }), /TypeError|not ready/);
    ready(w);
    const r1 = w.client.openStandardChannel({ userIdentity: 'a', nominalHashRate: 1 });
    w.client.openStandardChannel({ userIdentity: 'b', nominalHashRate: 1 });
    assert.throws(() => w.client.openStandardChannel({ userIdentity: 'c', nominalHashRate: 1 }), /at most 2 channels per client/);
    w.pump();
    w.server.send({ type: 'OpenStandardMiningChannelSuccess', requestId: r1, channelId: 1, target: ALL_ONES, extranoncePrefix: new Uint8Array(1), groupChannelId: 0 });
    for (let jobId = 1; jobId <= 6; jobId++) {
      w.server.send({ type: 'NewMiningJob', channelId: 1, jobId, minNtime: null, version: 0x20000000, merkleRoot: new Uint8Array(32) });
    }
    w.pump();
    assert.deepEqual([...w.client.channel(1)!.jobs.keys()], [4, 5, 6]);
    assert.throws(() => new MiningClient({ provider: nobleProvider, random: new SeededRandom(1), certificatePolicy: { kind: 'unverified' }, eventsMax: 0 }, 0), /eventsMax must be a positive integer, got 0/);
  });

  test('finder: bounded by attempts, resumes where it stopped, reports blocks against nbits', () => {
    const base: MiningWork = {
      channelId: 1, jobId: 1, version: 0x20000000, versionRollingAllowed: true,
      prevHash: new Uint8Array(32), merkleRoot: new Uint8Array(32).fill(3), ntime: 1, nbits: 0x1d00ffff,
      target: new Uint8Array(32), extranonce: new Uint8Array(0),
    };
    // Target zero: nothing qualifies, the budget is spent exactly.
    const none = new ShareFinder(base);
    const r1 = none.search(500);
    assert.deepEqual([r1.share, r1.attempts, r1.exhausted], [undefined, 500, false]);
    none.search(250);
    assert.equal(none.attempts, 750);
    assert.throws(() => none.search(-1), /attemptsMax must be a non-negative integer, got -1/);
    // Regtest nbits 0x207fffff = 0x7fffff·2^232: with an all-ones share target every nonce is a
    // share and about half are blocks; isBlock must agree with the bigint comparison.
    const regtestTarget = 0x7fffffn << 232n;
    const verdicts = new Set<boolean>();
    for (let nonce = 0; nonce < 16; nonce++) {
      const found = findShare({ ...base, nbits: 0x207fffff, target: ALL_ONES }, 1, { nonceStart: nonce });
      assert.equal(found.share?.nonce, nonce);
      const hashValue = BigInt('0x' + hashToDisplayHex(found.share.hash));
      assert.equal(found.share.isBlock, hashValue <= regtestTarget);
      verdicts.add(found.share.isBlock);
    }
    assert.equal(verdicts.size, 2, 'both blocks and non-blocks among 16 nonces');
    // Mainnet-like nbits with the same share target: a share, not a block.
    const share = findShare({ ...base, target: ALL_ONES }, 10);
    assert.equal(share.share?.isBlock, false);
  });
});
