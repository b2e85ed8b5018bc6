// Shares end to end over real loopback sockets (issue 3 acceptance, first bullet): the real
// gateway built from config (test/support/gateway-under-test.ts) fed the recorded btcd template
// (test/fixtures/btcd-gbt-with-transactions.json), our SV2 client (MinerConnection) on standard
// and extended channels, shares found with the CPU ShareFinder.
//
//  - valid shares are acknowledged in batches (SV2.md §5.3): last_sequence_number,
//    new_submits_accepted_count and new_shares_sum of THIS batch; a partial batch after the
//    ack delay; a bad submit in the middle gets its own immediate error and is not counted;
//  - every SubmitShares.Error the gateway can produce, on both channel kinds where it applies:
//    SRI's wire string (SV2.md §5.8, written here as literals) on the wire, and a share_rejected
//    event with the registry reason_code (core/reason-codes.ts). The shares are otherwise valid
//    (a found nonce), so the check named is the one that rejects them (SRI's order, §5.5).
//
// Targets: nominal_hash_rate 1 H/s at 6 shares/min gives SRI's initial target ≈ 2^256/11 (about
// one hash in 11 meets it), so a share costs microseconds; nominal_hash_rate 1e15 gives a target
// near 2^203 that no CPU hash meets (the difficulty-too-low channels). nbits 1e00ffff keeps the
// network target at 2^232, so no share here is a block.
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { ShareFinder, type MiningWork } from '../../core/client/index.ts';
import type { FoundShare } from '../../core/client/finder.ts';
import type { MinerConnection } from '../../adapters/fleet.ts';
import { fixtureTemplate, STEP_MS, startGatewayUnderTest, until, type GatewayUnderTest, type GatewayUnderTestOptions } from '../support/gateway-under-test.ts';

const EASY_HASH_RATE = 1;
const HARD_HASH_RATE = 1e15;
/** Bitcoin's pool difficulty 1: 0x00000000ffff0000…0 (the difficulty unit of new_shares_sum). */
const DIFFICULTY_1_TARGET = 0xffffn << 208n;
const TEST_TIMEOUT_MS = 60_000;

interface Channel {
  readonly id: number;
  readonly kind: 'standard' | 'extended';
}

interface MiningSetup {
  readonly world: GatewayUnderTest;
  readonly miner: MinerConnection;
  readonly connId: number;
  readonly std: Channel;
  readonly ext: Channel;
  readonly hardStd: Channel;
  readonly hardExt: Channel;
}

/** A gateway with one template, one miner and four channels (easy/hard × standard/extended), all active. */
async function miningSetup(salt: number, options: Omit<GatewayUnderTestOptions, 'salt'> = {}): Promise<MiningSetup> {
  const world = await startGatewayUnderTest({ salt, ...options });
  try {
    world.template(fixtureTemplate(1));
    const miner = await world.miner();
    await miner.nextEvent('setup_success', STEP_MS);
    const requests = [
      { name: 'std', request: miner.client.openStandardChannel({ userIdentity: 'alice.std', nominalHashRate: EASY_HASH_RATE }) },
      { name: 'ext', request: miner.client.openExtendedChannel({ userIdentity: 'alice.ext', nominalHashRate: EASY_HASH_RATE, minExtranonceSize: 8 }) },
      { name: 'hardStd', request: miner.client.openStandardChannel({ userIdentity: 'alice.hardstd', nominalHashRate: HARD_HASH_RATE }) },
      { name: 'hardExt', request: miner.client.openExtendedChannel({ userIdentity: 'alice.hardext', nominalHashRate: HARD_HASH_RATE, minExtranonceSize: 8 }) },
    ];
    miner.flush();
    const channels: Record<string, Channel> = {};
    for (const { name, request } of requests) {
      const opened = await miner.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
      channels[name] = { id: opened.channel_id, kind: opened.kind };
      // SV2.md §5.3: a future job, then the SetNewPrevHash that activates it.
      const job = await miner.nextEvent('new_job', STEP_MS, (e) => e.channel_id === opened.channel_id);
      assert.equal(job.future, true);
      const prev = await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === opened.channel_id);
      assert.equal(prev.job_id, job.job_id);
    }
    assert.equal(channels['ext']!.kind, 'extended');
    assert.equal(miner.client.channel(channels['ext']!.id)!.extranonceSize, 8);
    const connId = world.eventsOf('connection_setup')[0]!.conn_id;
    return { world, miner, connId, std: channels['std']!, ext: channels['ext']!, hardStd: channels['hardStd']!, hardExt: channels['hardExt']! };
  } catch (error) {
    await world.close();
    throw error;
  }
}

// ---- independent share arithmetic (SV2.md §5.5), not core/mining ------------------------------

function le32(value: number): Uint8Array {
  return Uint8Array.of(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24);
}

function leInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

/** SHA256d(header80) as a little-endian integer, the header built field by field. */
function headerHashValue(work: MiningWork, fields: { nonce: number; ntime: number; version: number }): bigint {
  const header = new Uint8Array(80);
  header.set(le32(fields.version), 0);
  header.set(work.prevHash, 4);
  header.set(work.merkleRoot, 36);
  header.set(le32(fields.ntime), 68);
  header.set(le32(work.nbits), 72);
  header.set(le32(fields.nonce), 76);
  return leInt(sha256(sha256(header)));
}

/** The channel's target as sent in OpenMiningChannel.Success (U256 LE). */
function channelTarget(miner: MinerConnection, channelId: number): bigint {
  return leInt(miner.client.channel(channelId)!.target);
}

// ---- finding and submitting ----------------------------------------------------------------------

interface Found {
  readonly work: MiningWork;
  readonly share: FoundShare;
}

/** Persistent finders for standard channels (same header every call: resume, never repeat a nonce). */
const finders = new WeakMap<MinerConnection, Map<number, ShareFinder>>();

/** A share meeting the channel's target on its active job; bounded (64 × 4096 attempts). */
function findShare(miner: MinerConnection, channelId: number, version?: number): Found {
  let perMiner = finders.get(miner);
  if (perMiner === undefined) finders.set(miner, (perMiner = new Map()));
  for (let round = 0; round < 64; round++) {
    let work = miner.client.work(channelId);
    assert.ok(work !== undefined, `channel ${channelId} has work`);
    if (version !== undefined) work = { ...work, version };
    let finder = perMiner.get(channelId);
    // Extended: a fresh extranonce (a new header) per work() call, so a new finder each round.
    if (work.extranonce.length > 0 || finder === undefined || finder.work.jobId !== work.jobId || finder.work.version !== work.version) {
      finder = new ShareFinder(work);
      perMiner.set(channelId, finder);
    }
    const result = finder.search(4096);
    if (result.share !== undefined && !result.share.isBlock) {
      // Independent of the finder: the header hash meets the channel target.
      assert.ok(headerHashValue(finder.work, result.share) <= channelTarget(miner, channelId), 'found share meets the channel target');
      return { work: finder.work, share: result.share };
    }
  }
  throw new Error('no share in 64 × 4096 attempts');
}

function submit(miner: MinerConnection, channel: Channel, found: Found, overrides: { jobId?: number; nonce?: number; ntime?: number; version?: number; extranonce?: Uint8Array } = {}): number {
  const { work, share } = found;
  const sequenceNumber = miner.client.submitShare(channel.id, {
    jobId: overrides.jobId ?? work.jobId,
    nonce: overrides.nonce ?? share.nonce,
    ntime: overrides.ntime ?? share.ntime,
    version: overrides.version ?? share.version,
    ...(channel.kind === 'extended' ? { extranonce: overrides.extranonce ?? work.extranonce } : {}),
  });
  miner.flush();
  return sequenceNumber;
}

/**
 * The miner gets SubmitShares.Error(wire) for exactly this submit, and the gateway emits
 * share_rejected with the registry reason_code and the same wire string.
 */
async function expectRejected(setup: MiningSetup, channelId: number, sequenceNumber: number, wire: string, reasonCode: string): Promise<void> {
  const { miner, world } = setup;
  const error = await miner.nextEvent('share_rejected', STEP_MS, (e) => e.channel_id === channelId && e.sequence_number === sequenceNumber);
  assert.equal(error.error_code, wire, `SubmitShares.Error on channel ${channelId} seq ${sequenceNumber}`);
  const event = await until(`share_rejected event ch ${channelId} seq ${sequenceNumber}`, STEP_MS, () =>
    world.eventsOf('share_rejected').find((e) => e.channel_id === channelId && e.sequence_number === sequenceNumber),
  );
  assert.equal(event.reason_code, reasonCode);
  assert.equal(event.wire, wire);
  assert.equal(event.conn_id, setup.connId);
}

/** A valid share is still acknowledged on `channel` (batch size 1 in these tests). */
async function expectAccepted(setup: MiningSetup, channel: Channel, found = findShare(setup.miner, channel.id)): Promise<number> {
  const sequenceNumber = submit(setup.miner, channel, found);
  const ack = await setup.miner.nextEvent('shares_accepted', STEP_MS, (e) => e.channel_id === channel.id && e.last_sequence_number === sequenceNumber);
  assert.equal(ack.accepted_count, 1);
  return sequenceNumber;
}

/** After the bad shares: nothing closed, counters as expected, a valid share still accepted. */
async function expectStillMining(setup: MiningSetup, rejected: number, acceptedBefore: number): Promise<void> {
  assert.equal(setup.miner.client.state, 'ready');
  assert.equal(setup.world.eventsOf('connection_closed').length, 0, 'a bad share never closes the connection');
  assert.equal(setup.world.eventsOf('share_rejected').length, rejected);
  assert.equal(setup.world.gateway.stats.sharesRejected, rejected);
  await expectAccepted(setup, setup.std);
  await expectAccepted(setup, setup.ext);
  assert.equal(setup.world.gateway.stats.sharesAccepted, acceptedBefore + 2);
}

describe(`gateway shares over TCP (${runtime})`, () => {
  test('valid shares get batched SubmitShares.Success; a bad one in the batch gets its own error', async () => {
    const ackDelayMs = 300;
    const setup = await miningSetup(301, { config: { 'mining.share_ack_batch_size': 3 }, channels: { shareAckDelayMs: ackDelayMs } });
    const { miner, world } = setup;
    try {
      for (const channel of [setup.std, setup.ext]) {
        // valid, invalid (unknown job), valid, valid → one full batch of 3, the bad one apart.
        const s1 = submit(miner, channel, findShare(miner, channel.id));
        const bad = findShare(miner, channel.id);
        const s2 = submit(miner, channel, bad, { jobId: 999 });
        const s3 = submit(miner, channel, findShare(miner, channel.id));
        const s4 = submit(miner, channel, findShare(miner, channel.id));
        assert.deepEqual([s2, s3, s4], [s1 + 1, s1 + 2, s1 + 3]);
        await expectRejected(setup, channel.id, s2, 'invalid-job-id', 'invalid_job_id');
        const full = await miner.nextEvent('shares_accepted', STEP_MS, (e) => e.channel_id === channel.id);
        assert.equal(full.last_sequence_number, s4);
        assert.equal(full.accepted_count, 3);
        // new_shares_sum = floor(Σ difficulty) of this batch, difficulty = diff-1 target / share
        // target (SV2.md §5.3). A CPU channel's difficulty is ≈ 2.6e-9, so the U64 sum is 0:
        // the count carries the information, and the sum must not be inflated.
        const target = channelTarget(miner, channel.id);
        assert.equal(full.shares_sum, (3n * DIFFICULTY_1_TARGET) / target);
        assert.equal(full.shares_sum, 0n);

        // One more valid share: a partial batch, sent when the ack delay expires.
        const submittedAtMs = Date.now();
        const s5 = submit(miner, channel, findShare(miner, channel.id));
        const partial = await miner.nextEvent('shares_accepted', STEP_MS, (e) => e.channel_id === channel.id);
        const waitedMs = Date.now() - submittedAtMs;
        assert.deepEqual([partial.last_sequence_number, partial.accepted_count, partial.shares_sum], [s5, 1, 0n]);
        assert.ok(waitedMs >= ackDelayMs - 25, `partial batch acknowledged after ${waitedMs} ms, before the ${ackDelayMs} ms delay`);
        assert.equal(miner.queuedEvents.filter((e) => e.type === 'shares_accepted').length, 0, 'exactly two acks on this channel');

        const accepted = world.eventsOf('share_accepted').filter((e) => e.channel_id === channel.id);
        assert.deepEqual(accepted.map((e) => e.sequence_number), [s1, s3, s4, s5]);
        assert.ok(accepted.every((e) => e.conn_id === setup.connId && e.block === false && /^[0-9a-f]{64}$/.test(e.hash)));
        assert.equal(new Set(accepted.map((e) => e.share_id)).size, 4, 'share ids are unique');
        const stats = miner.client.channel(channel.id)!.stats;
        assert.deepEqual([stats.submitted, stats.accepted, stats.rejected], [5, 4, 1]);
      }
      assert.equal(world.gateway.stats.sharesAccepted, 8);
      assert.equal(world.gateway.stats.sharesRejected, 2);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test("stale job after a prevhash switch → 'stale-share', stale_share (standard and extended)", async () => {
    const setup = await miningSetup(302);
    const { miner, world } = setup;
    try {
      // Shares found on the first prevhash, submitted after the switch.
      const oldStd = findShare(miner, setup.std.id);
      const oldExt = findShare(miner, setup.ext.id);
      world.template(fixtureTemplate(2));
      for (const channel of [setup.std, setup.ext]) {
        const job = await miner.nextEvent('new_job', STEP_MS, (e) => e.channel_id === channel.id);
        assert.equal(job.future, true);
        const prev = await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === channel.id);
        assert.equal(prev.job_id, job.job_id);
        assert.notEqual(prev.job_id, (channel === setup.std ? oldStd : oldExt).work.jobId);
        // Drain the hard channels' switch too, so later waits see only new messages.
        const hard = channel === setup.std ? setup.hardStd : setup.hardExt;
        await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === hard.id);
      }
      const seqStd = submit(miner, setup.std, oldStd);
      const seqExt = submit(miner, setup.ext, oldExt);
      await expectRejected(setup, setup.std.id, seqStd, 'stale-share', 'stale_share');
      await expectRejected(setup, setup.ext.id, seqExt, 'stale-share', 'stale_share');
      await expectStillMining(setup, 2, 0);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test("a job id the channel never had → 'invalid-job-id', invalid_job_id (standard and extended)", async () => {
    const setup = await miningSetup(303);
    const { miner, world } = setup;
    try {
      const seqStd = submit(miner, setup.std, findShare(miner, setup.std.id), { jobId: 999 });
      // Job ids start at 1 (core/channels README): 0 was never issued either.
      const seqExt = submit(miner, setup.ext, findShare(miner, setup.ext.id), { jobId: 0 });
      await expectRejected(setup, setup.std.id, seqStd, 'invalid-job-id', 'invalid_job_id');
      await expectRejected(setup, setup.ext.id, seqExt, 'invalid-job-id', 'invalid_job_id');
      await expectStillMining(setup, 2, 0);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test("an extended share whose extranonce is not extranonce_size bytes → 'bad-extranonce-size', bad_extranonce_size", async () => {
    const setup = await miningSetup(304);
    const { miner, world } = setup;
    try {
      const found = findShare(miner, setup.ext.id);
      assert.equal(found.work.extranonce.length, 8);
      const short = submit(miner, setup.ext, found, { extranonce: found.work.extranonce.subarray(0, 7) });
      const long = submit(miner, setup.ext, found, { extranonce: Uint8Array.of(...found.work.extranonce, 0) });
      const empty = submit(miner, setup.ext, found, { extranonce: new Uint8Array(0) });
      for (const seq of [short, long, empty]) await expectRejected(setup, setup.ext.id, seq, 'bad-extranonce-size', 'bad_extranonce_size');
      // The very same share with the right size is fine (nothing else was wrong with it).
      await expectAccepted(setup, setup.ext, found);
      await expectStillMining(setup, 3, 1);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test("ntime below the job's min_ntime → 'invalid-share', ntime_out_of_range (standard and extended)", async () => {
    const setup = await miningSetup(305);
    const { miner, world } = setup;
    try {
      const channels = [setup.std, setup.ext];
      const seqs: number[] = [];
      for (const channel of channels) {
        const found = findShare(miner, channel.id);
        // work.ntime is min_ntime of the active job (the SetNewPrevHash's min_ntime).
        assert.equal(found.work.ntime, miner.client.channel(channel.id)!.prevHashMinNtime);
        seqs.push(submit(miner, channel, found, { ntime: found.share.ntime - 1 }));
      }
      for (let i = 0; i < channels.length; i++) await expectRejected(setup, channels[i]!.id, seqs[i]!, 'invalid-share', 'ntime_out_of_range');
      await expectStillMining(setup, 2, 0);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test("a version bit outside the rolling mask 0x1FFFFFE0 → 'invalid-non-rollable-version-bit' (standard and extended)", async () => {
    const setup = await miningSetup(306);
    const { miner, world } = setup;
    try {
      const std = findShare(miner, setup.std.id);
      const ext = findShare(miner, setup.ext.id);
      const seqStd = submit(miner, setup.std, std, { version: (std.share.version ^ 0x0000_0001) >>> 0 }); // bit 0
      const seqExt = submit(miner, setup.ext, ext, { version: (ext.share.version ^ 0x4000_0000) >>> 0 }); // bit 30
      await expectRejected(setup, setup.std.id, seqStd, 'invalid-non-rollable-version-bit', 'invalid_non_rollable_version_bit');
      await expectRejected(setup, setup.ext.id, seqExt, 'invalid-non-rollable-version-bit', 'invalid_non_rollable_version_bit');
      // Rolling inside the mask (SV2.md §5.7; BIP320's bits 13–28 and BIP323's bits 5–12) is accepted.
      for (const [channel, rolled] of [[setup.std, 0x0000_2000], [setup.ext, 0x0000_0020]] as const) {
        const version = (miner.client.work(channel.id)!.version ^ rolled) >>> 0;
        await expectAccepted(setup, channel, findShare(miner, channel.id, version));
      }
      await expectStillMining(setup, 2, 2);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test.skip(
    "version-rolling-not-allowed",
    'unreachable through the gateway: it needs a job with version_rolling_allowed = false, i.e. REQUIRES_FIXED_VERSION, which the gateway never sets (SetupConnection.Success.flags is always 0, SV2.md §4); core/channels unit tests cover it',
  );

  test("a hash above the channel target → 'difficulty-too-low', difficulty_too_low (hard standard and extended channels)", async () => {
    const setup = await miningSetup(307);
    const { miner, world } = setup;
    try {
      const seqs: number[] = [];
      for (const channel of [setup.hardStd, setup.hardExt]) {
        const work = miner.client.work(channel.id)!;
        const fields = { nonce: 0, ntime: work.ntime, version: work.version };
        const target = channelTarget(miner, channel.id);
        assert.ok(target < 1n << 210n, `the hard channel's target is hard (2^${target.toString(2).length - 1})`);
        assert.ok(headerHashValue(work, fields) > target, 'this header does not meet the target');
        seqs.push(submit(miner, channel, { work, share: { ...fields, hash: new Uint8Array(32), isBlock: false } }));
      }
      await expectRejected(setup, setup.hardStd.id, seqs[0]!, 'difficulty-too-low', 'difficulty_too_low');
      await expectRejected(setup, setup.hardExt.id, seqs[1]!, 'difficulty-too-low', 'difficulty_too_low');
      await expectStillMining(setup, 2, 0);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test("the same header submitted twice → 'duplicate-share', duplicate_share (standard and extended)", async () => {
    const setup = await miningSetup(308);
    const { miner, world } = setup;
    try {
      for (const channel of [setup.std, setup.ext]) {
        const found = findShare(miner, channel.id);
        const first = await expectAccepted(setup, channel, found);
        const again = submit(miner, channel, found);
        assert.equal(again, first + 1, 'a new sequence number, the same header');
        await expectRejected(setup, channel.id, again, 'duplicate-share', 'duplicate_share');
      }
      await expectStillMining(setup, 2, 2);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test("a channel id that is not open → 'invalid-channel-id', invalid_channel_id (standard and extended messages)", async () => {
    const setup = await miningSetup(309);
    const { miner, world } = setup;
    try {
      const std = findShare(miner, setup.std.id);
      const ext = findShare(miner, setup.ext.id);
      // Never opened: SubmitSharesStandard to 999, SubmitSharesExtended to 998. The client uses
      // sequence number 0 for channels it does not know.
      miner.client.submitShare(999, { jobId: std.work.jobId, nonce: std.share.nonce, ntime: std.share.ntime, version: std.share.version });
      miner.client.submitShare(998, { jobId: ext.work.jobId, nonce: ext.share.nonce, ntime: ext.share.ntime, version: ext.share.version, extranonce: ext.work.extranonce });
      miner.flush();
      await expectRejected(setup, 999, 0, 'invalid-channel-id', 'invalid_channel_id');
      await expectRejected(setup, 998, 0, 'invalid-channel-id', 'invalid_channel_id');
      // Opened, then closed by the client: a share for it is for no open channel.
      miner.client.closeChannel(setup.hardStd.id);
      miner.flush();
      await until('channel_closed', STEP_MS, () => world.eventsOf('channel_closed').find((e) => e.channel_id === setup.hardStd.id));
      const work = std.work;
      miner.client.submitShare(setup.hardStd.id, { jobId: work.jobId, nonce: 1, ntime: work.ntime, version: work.version });
      miner.flush();
      await expectRejected(setup, setup.hardStd.id, 0, 'invalid-channel-id', 'invalid_channel_id');
      assert.equal(world.eventsOf('share_rejected').every((e) => e.identity === null), true, 'no identity for a channel that is not open');
      await expectStillMining(setup, 3, 0);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });
});
