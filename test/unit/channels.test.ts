// core/channels: extranonce allocation, job lifecycle, targets, UpdateChannel, vardiff, ack
// batching, the duplicate set and the job factory (issue 3 part 1; SV2.md §5.2–§5.3).
// Share validation against SRI's data is in conformance/cases/share-validation.test.ts.
import { describe, test } from '../harness.ts';
import { assert, assertHex } from '../assert.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { decodeFrameBytes, encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import type { NewExtendedMiningJob, NewMiningJob, SetNewPrevHash, SetTarget } from '../../core/codec/messages/mining.ts';
import { SeededRandom } from '../../core/random.ts';
import { witnessCommitment, witnessCommitmentScript, type BlockTemplate } from '../../core/template/template.ts';
import {
  ACTIVE_JOBS_MAX,
  DIFFICULTY_1_TARGET,
  EXTRANONCE_PREFIX_BYTES,
  ExtranonceAllocator,
  JobFactory,
  MiningChannels,
  SeenShares,
  ShareAckBatcher,
  channelsSettingsFromConfig,
  difficultyFromTarget,
  splitReward,
  targetFromDifficulty,
  type ChannelsSettings,
} from '../../core/channels/index.ts';

const U256_MAX = (1n << 256n) - 1n;
const MAX_BYTES = new Uint8Array(32).fill(0xff);
const leBytes = (n: bigint): Uint8Array => {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
};
const leInt = (b: Uint8Array): bigint => b.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);

function wire<T extends Sv2Message>(m: T): T {
  const d = decodeFrameBytes(encodeMessage(m));
  if (!d.ok) throw new Error(d.error.message);
  return d.value as T;
}

const SETTINGS: ChannelsSettings = {
  sharesPerMinute: 6,
  minDifficulty: 0,
  maxDifficulty: 1e15,
  vardiffEnabled: false,
  vardiffRetargetIntervalSecs: 60,
  shareAckBatchSize: 1,
  shareAckDelayMs: 100,
  nonceExpireSecs: 60,
  extranonceRollableBytesDefault: 8,
  channelsPerConnectionMax: 64,
  ntimeFutureSecsMax: 7000,
  seenSharesMax: 1000,
};

function template(templateId: bigint, prevByte: number, curtime = 1_700_000_000): BlockTemplate {
  return {
    templateId,
    height: 100,
    version: 0x20000000,
    prevHash: new Uint8Array(32).fill(prevByte),
    nbits: 0x1d00ffff,
    target: 0xffffn << 208n,
    curtime,
    mintime: curtime - 100,
    maxtime: null,
    coinbaseValue: 312_500_000n,
    transactions: [],
    defaultWitnessCommitment: witnessCommitmentScript(witnessCommitment([])),
    witnessCommitmentSource: 'computed',
    merklePath: [],
    sigopLimit: 80_000,
    weightLimit: 4_000_000,
    longpollId: null,
    rules: [],
  };
}

function setup(settings: Partial<ChannelsSettings> = {}, withTemplate = true) {
  const factory = new JobFactory({ payout: [{ scriptPubKey: hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6'), weight: 1 }], poolTag: 'RG' });
  const extranonce = new ExtranonceAllocator({ gatewayId: 0x0102, random: new SeededRandom(9) });
  const channels = new MiningChannels({ factory, extranonce, settings: { ...SETTINGS, ...settings } });
  if (withTemplate) channels.setTemplate(factory.addTemplate(template(1n, 0xaa)), 0);
  return { factory, extranonce, channels };
}

const openStd = (c: MiningChannels, rate = 0, maxTarget: Uint8Array = MAX_BYTES, nowMs = 0) =>
  c.openStandard({ type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'u', nominalHashRate: rate, maxTarget }, nowMs);
const openExt = (c: MiningChannels, minExtranonceSize: number, rate = 0, nowMs = 0) =>
  c.openExtended({ type: 'OpenExtendedMiningChannel', requestId: 2, userIdentity: 'u', nominalHashRate: rate, maxTarget: MAX_BYTES, minExtranonceSize }, nowMs);

describe('channels: extranonce prefixes', () => {
  test('layout gateway_id U16 ‖ boot_nonce U16 ‖ counter U32, unique, partitioned by gateway id', () => {
    const a = new ExtranonceAllocator({ gatewayId: 0x0102, random: new SeededRandom(1) });
    const b = new ExtranonceAllocator({ gatewayId: 0x0103, random: new SeededRandom(1) });
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const pa = a.allocate()!;
      const pb = b.allocate()!;
      assert.equal(pa.length, EXTRANONCE_PREFIX_BYTES);
      assertHex(pa.subarray(0, 2), '0102', 'gateway id');
      assertHex(pb.subarray(0, 2), '0103', 'gateway id');
      assert.equal(bytesToHex(pa.subarray(4)), i.toString(16).padStart(8, '0'));
      seen.add(bytesToHex(pa));
      seen.add(bytesToHex(pb));
    }
    assert.equal(seen.size, 2000);
    assert.equal(a.allocatedCount, 1000);
    assert.throws(() => new ExtranonceAllocator({ gatewayId: 65536, random: new SeededRandom(1) }), /gatewayId/);
  });

  test('channels on one connection get distinct prefixes', () => {
    const { channels } = setup();
    const p1 = openStd(channels);
    const p2 = openExt(channels, 4);
    assert.ok(p1.ok && p2.ok);
    assert.notEqual(bytesToHex(p1.extranoncePrefix), bytesToHex(p2.extranoncePrefix));
    assert.notEqual(p1.channelId, p2.channelId);
    assert.notEqual(p1.channelId, channels.groupChannelId);
  });

  test('rollable size = max(requested, default), capped at 32 − prefix; too large is refused', () => {
    const { channels } = setup({ extranonceRollableBytesDefault: 8 });
    const small = openExt(channels, 2);
    assert.ok(small.ok && small.extranonceSize === 8);
    const big = openExt(channels, 20);
    assert.ok(big.ok && big.extranonceSize === 20);
    const max = openExt(channels, 32 - EXTRANONCE_PREFIX_BYTES);
    assert.ok(max.ok && max.extranonceSize === 24);
    const tooBig = openExt(channels, 32 - EXTRANONCE_PREFIX_BYTES + 1);
    assert.ok(!tooBig.ok);
    assert.equal(tooBig.reasonCode, 'min_extranonce_size_too_large');
    assert.deepEqual(wire(tooBig.messages[0]), { type: 'OpenMiningChannelError', requestId: 2, errorCode: 'min-extranonce-size-too-large' });
    // The default itself is capped: a 30-byte default with an 8-byte prefix gives 24.
    const capped = openExt(setup({ extranonceRollableBytesDefault: 30 }).channels, 0);
    assert.ok(capped.ok && capped.extranonceSize === 24);
  });

  test('extended .Success and jobs: extranonce_size excludes the prefix; scriptSig reserves prefix + rollable', () => {
    const { channels } = setup();
    const out = openExt(channels, 6);
    assert.ok(out.ok);
    const [success, job] = out.messages.map(wire) as [Sv2Message, NewExtendedMiningJob];
    assert.equal(success.type, 'OpenExtendedMiningChannelSuccess');
    if (success.type === 'OpenExtendedMiningChannelSuccess') {
      assert.equal(success.extranonceSize, 8);
      assert.equal(success.groupChannelId, channels.groupChannelId);
    }
    // The prefix ends with the extranonce push opcode = full extranonce length.
    assert.equal(job.coinbaseTxPrefix[job.coinbaseTxPrefix.length - 1], EXTRANONCE_PREFIX_BYTES + 8);
  });
});

describe('channels: job lifecycle (SV2.md §5.3)', () => {
  test('open with a template: .Success → future job (min_ntime None) → SetNewPrevHash naming it', () => {
    const { channels } = setup();
    const out = openStd(channels);
    assert.ok(out.ok);
    const msgs = out.messages.map(wire);
    assert.deepEqual(msgs.map((m) => m.type), ['OpenStandardMiningChannelSuccess', 'NewMiningJob', 'SetNewPrevHash']);
    const job = msgs[1] as NewMiningJob;
    const snph = msgs[2] as SetNewPrevHash;
    assert.equal(job.minNtime, null);
    assert.equal(snph.jobId, job.jobId);
    assert.equal(snph.minNtime, 1_700_000_000);
    assert.equal(snph.nbits, 0x1d00ffff);
    assertHex(snph.prevHash, 'aa'.repeat(32), 'prev hash');
  });

  test('open before any template: .Success only; the first template sends job + SetNewPrevHash', () => {
    const { factory, channels } = setup({}, false);
    const out = openExt(channels, 4);
    assert.ok(out.ok);
    assert.deepEqual(out.messages.map((m) => m.type), ['OpenExtendedMiningChannelSuccess']);
    const sent = channels.setTemplate(factory.addTemplate(template(1n, 1)), 5).map(wire);
    assert.deepEqual(sent.map((m) => m.type), ['NewExtendedMiningJob', 'SetNewPrevHash']);
    assert.equal((sent[0] as NewExtendedMiningJob).minNtime, null);
  });

  test('a connection without a template adopts factory.current when a channel opens (observe mode)', () => {
    const { factory, channels } = setup({}, false);
    factory.addTemplate(template(3n, 3));
    const out = openStd(channels);
    assert.ok(out.ok);
    assert.deepEqual(out.messages.map((m) => m.type), ['OpenStandardMiningChannelSuccess', 'NewMiningJob', 'SetNewPrevHash']);
  });

  test('same prevhash: one non-future job per channel with min_ntime set; new prevhash: future job + SetNewPrevHash', () => {
    const { factory, channels } = setup();
    const a = openStd(channels);
    const b = openExt(channels, 4);
    assert.ok(a.ok && b.ok);
    const same = channels.setTemplate(factory.addTemplate(template(2n, 0xaa, 1_700_000_030)), 10).map(wire);
    assert.deepEqual(same.map((m) => m.type), ['NewMiningJob', 'NewExtendedMiningJob']);
    for (const m of same as (NewMiningJob | NewExtendedMiningJob)[]) assert.equal(m.minNtime, 1_700_000_000, 'min_ntime of the current prevhash');
    const next = channels.setTemplate(factory.addTemplate(template(3n, 0xbb)), 20).map(wire);
    assert.deepEqual(next.map((m) => m.type), ['NewMiningJob', 'SetNewPrevHash', 'NewExtendedMiningJob', 'SetNewPrevHash']);
    assert.equal((next[0] as NewMiningJob).minNtime, null);
    assert.equal((next[1] as SetNewPrevHash).jobId, (next[0] as NewMiningJob).jobId);
    // Only the new job is active; the others are stale.
    assert.deepEqual(channels.channelInfo(a.channelId)!.activeJobIds, [(next[0] as NewMiningJob).jobId]);
  });

  test('job ids increase and are never reused; beyond ACTIVE_JOBS_MAX the oldest turn stale', () => {
    const { factory, channels } = setup();
    const a = openStd(channels);
    assert.ok(a.ok);
    const ids = new Set<number>([(a.messages[1] as NewMiningJob).jobId]);
    for (let i = 0; i < ACTIVE_JOBS_MAX + 5; i++) {
      const [job] = channels.setTemplate(factory.addTemplate(template(BigInt(10 + i), 0xaa)), i) as NewMiningJob[];
      assert.ok(!ids.has(job!.jobId));
      assert.ok(job!.jobId > Math.max(...ids));
      ids.add(job!.jobId);
    }
    const active = channels.channelInfo(a.channelId)!.activeJobIds;
    assert.equal(active.length, ACTIVE_JOBS_MAX);
    assert.equal(channels.counters.jobsEvicted, 6);
    const oldest = Math.min(...ids);
    const out = channels.submitStandard({ type: 'SubmitSharesStandard', channelId: a.channelId, sequenceNumber: 1, jobId: oldest, nonce: 0, ntime: 1_700_000_000, version: 0x20000000 }, 100);
    assert.ok(!out.ok && out.reasonCode === 'stale_share');
  });

  test('standard jobs carry a per-channel merkle root (different prefixes → different roots)', () => {
    const { channels } = setup();
    const a = openStd(channels);
    const b = openStd(channels);
    assert.ok(a.ok && b.ok);
    const ra = (a.messages[1] as NewMiningJob).merkleRoot;
    const rb = (b.messages[1] as NewMiningJob).merkleRoot;
    assert.notEqual(bytesToHex(ra), bytesToHex(rb));
  });

  test('extended channels with the same full-extranonce length share one coinbase (no rebuild per channel)', () => {
    const { channels } = setup();
    const a = openExt(channels, 4);
    const b = openExt(channels, 4);
    assert.ok(a.ok && b.ok);
    assert.equal((a.messages[1] as NewExtendedMiningJob).coinbaseTxPrefix, (b.messages[1] as NewExtendedMiningJob).coinbaseTxPrefix);
  });

  test('closeChannel forgets the channel; closeAll sends CloseChannel for the rest', () => {
    const { channels } = setup();
    const a = openStd(channels);
    const b = openExt(channels, 4);
    assert.ok(a.ok && b.ok);
    assert.equal(channels.closeChannel(a.channelId), true);
    assert.equal(channels.closeChannel(a.channelId), false);
    const closes = channels.closeAll('shutdown').map(wire);
    assert.deepEqual(closes, [{ type: 'CloseChannel', channelId: b.channelId, reasonCode: 'shutdown' }]);
    assert.equal(channels.channelCount, 0);
  });

  test('channel limit per connection → channel-limit-reached', () => {
    const { channels } = setup({ channelsPerConnectionMax: 2 });
    assert.ok(openStd(channels).ok && openStd(channels).ok);
    const third = openStd(channels);
    assert.ok(!third.ok && third.reasonCode === 'channel_limit_reached');
  });
});

describe('channels: targets (SV2.md §5.3)', () => {
  test('initial target = SRI formula for the nominal rate at shares_per_minute', () => {
    const { channels } = setup({ sharesPerMinute: 6 });
    const out = openStd(channels, 1e6);
    assert.ok(out.ok);
    // (2^256 − 1 − h·s) / (h·s + 1) with h = 1e6, s = 10: computed here independently.
    assert.equal(out.target, (U256_MAX - 10_000_000n) / 10_000_001n);
    assert.equal(leInt(out.messages[0]!.type === 'OpenStandardMiningChannelSuccess' ? out.messages[0].target : new Uint8Array(32)), out.target);
  });

  test("clamped by the client's max_target, and by min/max difficulty", () => {
    const clientMax = 1n << 200n;
    const a = openStd(setup().channels, 0, leBytes(clientMax));
    assert.ok(a.ok && a.target === clientMax);
    const easy = openStd(setup({ minDifficulty: 1 }).channels, 0);
    assert.ok(easy.ok && easy.target === DIFFICULTY_1_TARGET, 'no easier than difficulty 1');
    const hard = openStd(setup({ maxDifficulty: 2 }).channels, 1e18);
    assert.ok(hard.ok && hard.target === DIFFICULTY_1_TARGET / 2n, 'no harder than difficulty 2');
  });

  test('max_target below the hardest allowed target → max-target-out-of-range; bad rates → invalid-nominal-hashrate', () => {
    const { channels } = setup({ maxDifficulty: 1 });
    const out = openStd(channels, 0, leBytes(DIFFICULTY_1_TARGET - 1n));
    assert.ok(!out.ok && out.reasonCode === 'max_target_out_of_range');
    assert.equal(wire(out.messages[0]).errorCode, 'max-target-out-of-range');
    for (const rate of [Number.NaN, -1, Infinity]) {
      const bad = openStd(channels, rate);
      assert.ok(!bad.ok && bad.reasonCode === 'invalid_nominal_hashrate', String(rate));
      assert.equal(bad.messages[0].errorCode, 'invalid-nominal-hashrate');
    }
    assert.ok(openStd(channels, -0).ok, '-0 counts as 0');
  });

  test('UpdateChannel: new rate → SetTarget; unknown channel and bad values → UpdateChannel.Error', () => {
    const { channels } = setup();
    const out = openStd(channels, 1000);
    assert.ok(out.ok);
    const up = channels.updateChannel({ type: 'UpdateChannel', channelId: out.channelId, nominalHashRate: 1e9, maximumTarget: MAX_BYTES }, 10);
    assert.ok(up.ok);
    const st = wire(up.messages[0] as SetTarget);
    assert.equal(st.type, 'SetTarget');
    assert.equal(leInt(st.maximumTarget), (U256_MAX - 10_000_000_000n) / 10_000_000_001n);
    const same = channels.updateChannel({ type: 'UpdateChannel', channelId: out.channelId, nominalHashRate: 1e9, maximumTarget: MAX_BYTES }, 20);
    assert.ok(same.ok && same.messages.length === 0, 'unchanged target sends nothing');
    const capped = channels.updateChannel({ type: 'UpdateChannel', channelId: out.channelId, nominalHashRate: 1, maximumTarget: leBytes(1n << 230n) }, 30);
    assert.ok(capped.ok && leInt((capped.messages[0] as SetTarget).maximumTarget) === 1n << 230n);
    const unknown = channels.updateChannel({ type: 'UpdateChannel', channelId: 999, nominalHashRate: 1, maximumTarget: MAX_BYTES }, 0);
    assert.ok(!unknown.ok);
    assert.deepEqual(wire(unknown.messages[0]), { type: 'UpdateChannelError', channelId: 999, errorCode: 'invalid-channel-id' });
    const nan = channels.updateChannel({ type: 'UpdateChannel', channelId: out.channelId, nominalHashRate: Number.NaN, maximumTarget: MAX_BYTES }, 0);
    assert.ok(!nan.ok && nan.messages[0].errorCode === 'invalid-nominal-hashrate');
  });

  test('a raised target (lower difficulty) applies at once to shares on older jobs', () => {
    const { channels } = setup({ sharesPerMinute: 6 });
    const out = openStd(channels, 1e12); // very hard target
    assert.ok(out.ok);
    const job = out.messages[1] as NewMiningJob;
    const share = { type: 'SubmitSharesStandard' as const, channelId: out.channelId, sequenceNumber: 1, jobId: job.jobId, nonce: 3, ntime: 1_700_000_000, version: 0x20000000 };
    const before = channels.submitStandard(share, 10);
    assert.ok(!before.ok && before.reasonCode === 'difficulty_too_low');
    const up = channels.updateChannel({ type: 'UpdateChannel', channelId: out.channelId, nominalHashRate: 0, maximumTarget: MAX_BYTES }, 20);
    assert.ok(up.ok && up.messages.length === 1);
    assert.equal(channels.submitStandard(share, 30).ok, true);
  });

  test('difficulty <-> target: difficulty 1 = 0xffff·2^208, inverse within float precision', () => {
    assert.equal(targetFromDifficulty(1), 0xffffn << 208n);
    assert.equal(targetFromDifficulty(2), (0xffffn << 208n) / 2n);
    assert.equal(targetFromDifficulty(0), U256_MAX);
    assert.equal(targetFromDifficulty(1e-30), U256_MAX);
    for (const d of [0.001, 1, 1234.5, 1e12]) assert.ok(Math.abs(difficultyFromTarget(targetFromDifficulty(d)) / d - 1) < 1e-9, String(d));
  });
});

describe('channels: vardiff (deterministic on nowMs)', () => {
  function vardiffSetup() {
    const { channels } = setup({ vardiffEnabled: true, vardiffRetargetIntervalSecs: 60, sharesPerMinute: 6, shareAckBatchSize: 1000, shareAckDelayMs: 1_000_000 });
    const out = openStd(channels, 0);
    assert.ok(out.ok);
    return { channels, out, job: out.messages[1] as NewMiningJob };
  }

  test('too many shares → difficulty ×4 at most (SetTarget); none → ÷4; on goal → unchanged', () => {
    const { channels, out, job } = vardiffSetup();
    assert.equal(channels.nextDeadlineMs(), 60_000);
    assert.deepEqual(channels.onTimeout(59_999), [], 'early call is harmless');
    for (let i = 0; i < 60; i++) {
      const r = channels.submitStandard({ type: 'SubmitSharesStandard', channelId: out.channelId, sequenceNumber: i, jobId: job.jobId, nonce: i, ntime: 1_700_000_000, version: 0x20000000 }, 1000 + i);
      assert.ok(r.ok);
    }
    const up = channels.onTimeout(60_000);
    assert.equal(up.length, 1);
    const st = wire(up[0] as SetTarget);
    assert.equal(leInt(st.maximumTarget), (out.target << 20n) / (4n << 20n), 'bounded: ×4, not ×10');
    assert.deepEqual(channels.onTimeout(60_000), [], 'twice is harmless');
    assert.equal(channels.nextDeadlineMs(), 120_000);
    // No shares in the next window: difficulty ÷4 (target ×4).
    const down = channels.onTimeout(120_000);
    assert.equal(down.length, 1);
    const t1 = leInt(st.maximumTarget);
    assert.equal(leInt((down[0] as SetTarget).maximumTarget), t1 * 4n);
    // Once more: ×4 would pass 2^256−1, so it is clamped there (the easiest allowed).
    const again = channels.onTimeout(180_000);
    assert.equal(again.length, 1);
    assert.equal(leInt((again[0] as SetTarget).maximumTarget), U256_MAX);
  });

  test('a rate within [⅔, 1.5] of the goal leaves the target alone', () => {
    const { channels, out, job } = vardiffSetup();
    for (let i = 0; i < 7; i++) {
      assert.ok(channels.submitStandard({ type: 'SubmitSharesStandard', channelId: out.channelId, sequenceNumber: i, jobId: job.jobId, nonce: i, ntime: 1_700_000_000, version: 0x20000000 }, 1000 + i).ok);
    }
    assert.deepEqual(channels.onTimeout(60_000), []);
  });

  test('vardiff off: no retarget deadline', () => {
    const { channels } = setup({ vardiffEnabled: false });
    assert.ok(openStd(channels).ok);
    assert.equal(channels.nextDeadlineMs(), null);
  });
});

describe('channels: batched SubmitShares.Success', () => {
  test('ShareAckBatcher: by count, by deadline; counts and sum cover the batch only', () => {
    const b = new ShareAckBatcher({ channelId: 4, batchSize: 3, delayMs: 50 });
    assert.equal(b.add(10, 1.5, 100), null);
    assert.equal(b.add(11, 1.5, 110), null);
    assert.equal(b.deadlineMs(), 150);
    assert.deepEqual(b.add(12, 2.25, 120), { type: 'SubmitSharesSuccess', channelId: 4, lastSequenceNumber: 12, newSubmitsAcceptedCount: 3, newSharesSum: 5n });
    assert.equal(b.deadlineMs(), null);
    assert.equal(b.add(13, 0.4, 200), null);
    assert.equal(b.poll(249), null, 'early poll is harmless');
    assert.deepEqual(b.poll(250), { type: 'SubmitSharesSuccess', channelId: 4, lastSequenceNumber: 13, newSubmitsAcceptedCount: 1, newSharesSum: 0n });
    assert.equal(b.poll(250), null, 'twice is harmless');
    assert.equal(b.flush(), null);
  });

  test('MiningChannels: a full batch rides on the share outcome; a partial one comes from onTimeout / flushAcks', () => {
    const { channels } = setup({ shareAckBatchSize: 2, shareAckDelayMs: 100, minDifficulty: 0 });
    const out = openStd(channels, 0);
    assert.ok(out.ok);
    const job = out.messages[1] as NewMiningJob;
    const submit = (seq: number, nowMs: number) =>
      channels.submitStandard({ type: 'SubmitSharesStandard', channelId: out.channelId, sequenceNumber: seq, jobId: job.jobId, nonce: seq, ntime: 1_700_000_000, version: 0x20000000 }, nowMs);
    const s1 = submit(1, 1000);
    assert.ok(s1.ok && s1.ack === null);
    const s2 = submit(2, 1001);
    assert.ok(s2.ok && s2.ack !== null);
    assert.equal(wire(s2.ack).newSubmitsAcceptedCount, 2);
    assert.equal(wire(s2.ack).lastSequenceNumber, 2);
    const s3 = submit(3, 2000);
    assert.ok(s3.ok && s3.ack === null);
    assert.equal(channels.nextDeadlineMs(), 2100);
    assert.deepEqual(channels.onTimeout(2099), []);
    const due = channels.onTimeout(2100);
    assert.equal(due.length, 1);
    assert.equal((due[0] as { lastSequenceNumber: number }).lastSequenceNumber, 3);
    submit(4, 3000);
    assert.equal(channels.flushAcks().length, 1);
    assert.equal(channels.flushAcks().length, 0);
  });
});

describe('channels: duplicate set (bounded, expiring)', () => {
  const h = (n: number) => {
    const out = new Uint8Array(32);
    out[0] = n & 0xff;
    out[1] = n >>> 8;
    out[20] = 7;
    return out;
  };

  test('remembers for nonceExpire, forgets by 2 × nonceExpire', () => {
    const s = new SeenShares({ expireMs: 1000, capacity: 100 });
    assert.equal(s.checkAndAdd(h(1), 0), false);
    assert.equal(s.checkAndAdd(h(1), 999), true);
    assert.equal(s.checkAndAdd(h(1), 1500), true, 'still remembered after one rotation');
    assert.equal(s.checkAndAdd(h(1), 3500), false, 'forgotten');
  });

  test('a 48-bit key collision is not a false duplicate', () => {
    const s = new SeenShares({ expireMs: 1000, capacity: 100 });
    const a = h(5);
    const b = h(5);
    b[31] = 1;
    assert.equal(s.checkAndAdd(a, 0), false);
    assert.equal(s.checkAndAdd(b, 0), false);
    assert.equal(s.checkAndAdd(b, 0), true);
  });

  test('bounded: never more than capacity entries; early evictions are counted', () => {
    const s = new SeenShares({ expireMs: 1_000_000, capacity: 10 });
    for (let i = 0; i < 100; i++) s.checkAndAdd(h(i), 0);
    assert.ok(s.size <= 10, `size ${s.size}`);
    assert.ok(s.evictions > 0);
  });

  test('clear (a new prevhash) forgets both generations, also when only one holds hashes, and an empty clear keeps working', () => {
    const s = new SeenShares({ expireMs: 1000, capacity: 100 });
    s.clear(); // nothing to forget
    assert.equal(s.checkAndAdd(h(1), 0), false);
    assert.equal(s.checkAndAdd(h(2), 1200), false); // h(1) now in the previous generation, h(2) in the current
    s.clear();
    assert.equal(s.size, 0);
    assert.equal(s.checkAndAdd(h(1), 1300), false, 'previous generation forgotten');
    assert.equal(s.checkAndAdd(h(2), 1300), false, 'current generation forgotten');
    assert.equal(s.checkAndAdd(h(2), 1301), true);
    s.clear();
    s.clear();
    assert.equal(s.checkAndAdd(h(2), 1302), false);
    assert.equal(s.checkAndAdd(h(2), 1303), true);
  });
});

describe('channels: job factory and settings', () => {
  test('splitReward: by weight, remainder to the first output', () => {
    const a = new Uint8Array([1]);
    const b = new Uint8Array([2]);
    const outs = splitReward(100n, [{ scriptPubKey: a, weight: 1 }, { scriptPubKey: b, weight: 2 }]);
    assert.deepEqual(outs.map((o) => o.valueSats), [34n, 66n]);
  });

  test('coinbase parts are cached per full-extranonce length', () => {
    const factory = new JobFactory({ payout: [{ scriptPubKey: new Uint8Array([0x51]), weight: 1 }] });
    const job = factory.addTemplate(template(1n, 1));
    assert.equal(job.coinbaseParts(16), job.coinbaseParts(16));
    assert.notEqual(job.coinbaseParts(16), job.coinbaseParts(8));
    assert.equal(factory.current, job);
    assert.equal(job.minNtime, 1_700_000_000);
  });

  test('a pool tag that makes the scriptSig too long is refused at addTemplate', () => {
    const factory = new JobFactory({ payout: [{ scriptPubKey: new Uint8Array([0x51]), weight: 1 }], poolTag: 'x'.repeat(70) });
    assert.throws(() => factory.addTemplate(template(1n, 1)), RangeError);
  });

  test('channelsSettingsFromConfig reads [mining] and [timing]', () => {
    const s = channelsSettingsFromConfig({
      mining: { payout: [], pool_tag: 'x', min_difficulty: 0.5, max_difficulty: 100, shares_per_minute: 12, vardiff_enabled: true, vardiff_retarget_interval_secs: 30, share_ack_batch_size: 5 },
      timing: { nonce_expire_secs: 90 },
    } as never);
    assert.equal(s.sharesPerMinute, 12);
    assert.equal(s.minDifficulty, 0.5);
    assert.equal(s.maxDifficulty, 100);
    assert.equal(s.shareAckBatchSize, 5);
    assert.equal(s.nonceExpireSecs, 90);
    assert.equal(s.vardiffRetargetIntervalSecs, 30);
    assert.throws(() => channelsSettingsFromConfig({ mining: { min_difficulty: 5, max_difficulty: 1, shares_per_minute: 1, vardiff_enabled: false, vardiff_retarget_interval_secs: 1, share_ack_batch_size: 1 }, timing: { nonce_expire_secs: 1 } } as never), /minDifficulty/);
  });
});
