// Share validation through the channel code (core/channels), at the SV2 message level:
//  - SRI's extended valid-share vector (vectors/shares/sri-extended-valid-share.json, SV2.md §5.6)
//    reproduced by opening an extended channel, taking the job and SetNewPrevHash it sends, and
//    submitting the share: accepted, not a block, same hash and target as SRI;
//  - every SubmitShares.Error SRI defines for share content (SV2.md §5.5, §5.7, §5.8), on standard
//    and extended channels, with our registry reason code and SRI's wire string;
//  - a block-finding share on a real btcd regtest template (test/fixtures), whose block is parsed
//    and checked here with an independent parser: PoW, merkle root, witness commitment (equal to
//    the one btcd computed), full coinbase in the block, stripped one in the job.
// Every message in and out goes through the codec (encode → decode) so the objects are wire-valid.
import { readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, test } from '../../test/harness.ts';
import { assert, assertHex } from '../../test/assert.ts';
import { vectorJson } from '../vectors.ts';
import { bytesToHex, concatBytes, hexToBytes, reversed } from '../../core/bytes.ts';
import { decodeFrameBytes, encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import type {
  NewExtendedMiningJob,
  NewMiningJob,
  OpenExtendedMiningChannelSuccess,
  OpenStandardMiningChannelSuccess,
  SetNewPrevHash,
  SubmitSharesExtended,
  SubmitSharesStandard,
} from '../../core/codec/messages/mining.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import { witnessCommitment, witnessCommitmentScript, type BlockTemplate } from '../../core/template/template.ts';
import {
  ExtranonceAllocator,
  JobFactory,
  MiningChannels,
  type ChannelsSettings,
  type ExtranonceSource,
  type ShareOutcome,
} from '../../core/channels/index.ts';
import { REASON_CODES } from '../../core/reason-codes.ts';
import { SeededRandom } from '../../core/random.ts';

// ── independent client-side helpers (noble sha256 directly, not core/mining) ───────────────

const sha256d = (b: Uint8Array): Uint8Array => sha256(sha256(b));
const leInt = (b: Uint8Array): bigint => BigInt(`0x${bytesToHex(reversed(b)) || '0'}`);
const u32le = (v: number): Uint8Array => new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]);
const U256_MAX_BYTES = new Uint8Array(32).fill(0xff);
const compactTarget = (nbits: number): bigint => BigInt(nbits & 0x7fffff) << BigInt(8 * ((nbits >>> 24) - 3));

/** Round-trip a message through the codec (proves it is wire-valid) and return the decoded one. */
function wire<T extends Sv2Message>(message: T): T {
  const decoded = decodeFrameBytes(encodeMessage(message));
  if (!decoded.ok) throw new Error(`codec refused ${message.type}: ${decoded.error.message}`);
  return decoded.value as T;
}

function wireAll(messages: readonly Sv2Message[]): Sv2Message[] {
  return messages.map((m) => wire(m));
}

/** What a miner knows about its channel after open + job + SetNewPrevHash. */
interface MinerView {
  channelId: number;
  extranoncePrefix: Uint8Array;
  target: Uint8Array;
  job: NewMiningJob | NewExtendedMiningJob;
  prev: SetNewPrevHash;
}

function minerView(messages: readonly Sv2Message[]): MinerView {
  const success = messages.find((m) => m.type === 'OpenStandardMiningChannelSuccess' || m.type === 'OpenExtendedMiningChannelSuccess') as
    | OpenStandardMiningChannelSuccess
    | OpenExtendedMiningChannelSuccess;
  const job = messages.find((m) => m.type === 'NewMiningJob' || m.type === 'NewExtendedMiningJob') as NewMiningJob | NewExtendedMiningJob;
  const prev = messages.find((m) => m.type === 'SetNewPrevHash') as SetNewPrevHash;
  assert.ok(success && job && prev, 'open yields .Success, a job and SetNewPrevHash');
  return { channelId: success.channelId, extranoncePrefix: success.extranoncePrefix, target: success.target, job, prev };
}

function clientMerkleRoot(view: MinerView, extranonce: Uint8Array): Uint8Array {
  if (view.job.type === 'NewMiningJob') return view.job.merkleRoot;
  let root = sha256d(concatBytes(view.job.coinbaseTxPrefix, view.extranoncePrefix, extranonce, view.job.coinbaseTxSuffix));
  for (const node of view.job.merklePath) root = sha256d(concatBytes(root, node));
  return root;
}

function clientHash(view: MinerView, share: { version: number; ntime: number; nonce: number; extranonce: Uint8Array }): Uint8Array {
  const header = concatBytes(u32le(share.version), view.prev.prevHash, clientMerkleRoot(view, share.extranonce), u32le(share.ntime), u32le(view.prev.nbits), u32le(share.nonce));
  return sha256d(header);
}

/** First nonce whose hash satisfies `want(hashInt)`. */
function findNonce(view: MinerView, base: { version: number; ntime: number; extranonce: Uint8Array }, want: (hash: bigint) => boolean): number {
  for (let nonce = 0; nonce < 100_000; nonce++) if (want(leInt(clientHash(view, { ...base, nonce })))) return nonce;
  throw new Error('no nonce found in 100,000 tries');
}

// ── fixtures ──────────────────────────────────────────────────────────────────────────────

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

const PAYOUT = [{ scriptPubKey: hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6'), weight: 1 }];

/** A template with no transactions on a mainnet-like nbits (so no share is a block). */
function plainTemplate(templateId: bigint, prevHashByte: number, curtime = 1_700_000_000, nbits = 0x1d00ffff): BlockTemplate {
  const commitment = witnessCommitmentScript(witnessCommitment([]));
  return {
    templateId,
    height: 800_000,
    version: 0x20000000,
    prevHash: new Uint8Array(32).fill(prevHashByte),
    nbits,
    target: compactTarget(nbits),
    curtime,
    mintime: curtime - 600,
    maxtime: null,
    coinbaseValue: 625_000_000n,
    transactions: [],
    defaultWitnessCommitment: commitment,
    witnessCommitmentSource: 'computed',
    merklePath: [],
    sigopLimit: 80_000,
    weightLimit: 4_000_000,
    longpollId: null,
    rules: [],
  };
}

function setup(settings: Partial<ChannelsSettings> = {}) {
  const factory = new JobFactory({ payout: PAYOUT, poolTag: 'ReserveGrid' });
  const extranonce = new ExtranonceAllocator({ gatewayId: 7, random: new SeededRandom(1) });
  const channels = new MiningChannels({ factory, extranonce, settings: { ...SETTINGS, ...settings } });
  channels.setTemplate(factory.addTemplate(plainTemplate(1n, 0x11)), 0);
  return { factory, channels };
}

/** h = 0 H/s gives target 2^256−1 (every hash meets it); 1 H/s at 6/min ≈ 2^256/11. */
function openStandard(channels: MiningChannels, hashRate: number, nowMs = 0): MinerView {
  const out = channels.openStandard(wire({ type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'rig', nominalHashRate: hashRate, maxTarget: U256_MAX_BYTES }), nowMs);
  assert.ok(out.ok);
  return minerView(wireAll(out.messages));
}

function openExtended(channels: MiningChannels, hashRate: number, options: { versionRollingAllowed?: boolean } = {}, nowMs = 0): MinerView {
  const msg = wire({ type: 'OpenExtendedMiningChannel' as const, requestId: 2, userIdentity: 'rig', nominalHashRate: hashRate, maxTarget: U256_MAX_BYTES, minExtranonceSize: 4 });
  const out = channels.openExtended(msg, nowMs, options);
  assert.ok(out.ok);
  return minerView(wireAll(out.messages));
}

function submit(channels: MiningChannels, view: MinerView, share: { seq?: number; jobId?: number; nonce: number; ntime?: number; version?: number; extranonce?: Uint8Array }, nowMs = 1000): ShareOutcome {
  const common = {
    channelId: view.channelId,
    sequenceNumber: share.seq ?? 1,
    jobId: share.jobId ?? view.job.jobId,
    nonce: share.nonce,
    ntime: share.ntime ?? view.prev.minNtime,
    version: share.version ?? view.job.version,
  };
  if (view.job.type === 'NewMiningJob') {
    return channels.submitStandard(wire<SubmitSharesStandard>({ type: 'SubmitSharesStandard', ...common }), nowMs);
  }
  return channels.submitExtended(wire<SubmitSharesExtended>({ type: 'SubmitSharesExtended', ...common, extranonce: share.extranonce ?? new Uint8Array(8) }), nowMs);
}

function expectReject(outcome: ShareOutcome, reasonCode: keyof typeof REASON_CODES, wireText: string, sequenceNumber?: number): void {
  assert.equal(outcome.ok, false, `expected ${wireText}, share was accepted`);
  if (outcome.ok) return;
  assert.equal(outcome.reasonCode, reasonCode);
  assert.equal(outcome.wire, wireText);
  const message = wire(outcome.message);
  assert.equal(message.type, 'SubmitSharesError');
  assert.equal(message.errorCode, wireText);
  assert.equal(message.channelId, outcome.channelId);
  if (sequenceNumber !== undefined) assert.equal(message.sequenceNumber, sequenceNumber);
}

// ── SRI vector ──────────────────────────────────────────────────────────────────────────────

interface ShareVector {
  extranonce_prefix: string;
  rollable_extranonce_size: number;
  share_extranonce: string;
  template: { coinbase_prefix: string; coinbase_tx_version: number; coinbase_tx_input_sequence: number; coinbase_tx_locktime: number; coinbase_tx_outputs: string; coinbase_tx_outputs_count: number; merkle_path: string[] };
  pool_reward: { value_sats: number; script_pubkey: string };
  coinbase_tag: string;
  expected_new_extended_mining_job: { coinbase_tx_prefix: string; coinbase_tx_suffix: string };
  set_new_prev_hash: { prev_hash: string; nbits: number; min_ntime: number };
  share: { version: number; ntime: number; nonce: number };
  nominal_hash_rate: number;
  shares_per_minute: number;
  expected_hash_display: string;
  expected_channel_target_wire_u256_le: string;
  expected_result: string;
}

describe('share validation: SRI extended valid-share vector through MiningChannels', () => {
  const v = vectorJson<ShareVector>('shares/sri-extended-valid-share.json');
  // The template output in the file is exactly one output: value 0 + the BIP141 commitment script.
  const outputs = hexToBytes(v.template.coinbase_tx_outputs);
  const commitmentScript = outputs.subarray(9);

  function run() {
    assert.equal(v.template.coinbase_tx_outputs_count, 1);
    assertHex(outputs.subarray(0, 9), '000000000000000026', 'value 0, script length 38');
    assert.equal(v.coinbase_tag, 'Sv2///');
    const template: BlockTemplate = {
      ...plainTemplate(42n, 0, v.set_new_prev_hash.min_ntime, v.set_new_prev_hash.nbits),
      height: 2,
      version: v.share.version,
      prevHash: hexToBytes(v.set_new_prev_hash.prev_hash),
      coinbaseValue: BigInt(v.pool_reward.value_sats),
      defaultWitnessCommitment: commitmentScript,
      merklePath: v.template.merkle_path.map(hexToBytes),
      mintime: v.set_new_prev_hash.min_ntime,
    };
    const factory = new JobFactory({ payout: [{ scriptPubKey: hexToBytes(v.pool_reward.script_pubkey), weight: 1 }], poolTag: '', minerTag: '' });
    const fixedPrefix: ExtranonceSource = { allocate: () => hexToBytes(v.extranonce_prefix) };
    const channels = new MiningChannels({
      factory,
      extranonce: fixedPrefix,
      settings: { ...SETTINGS, sharesPerMinute: v.shares_per_minute, extranonceRollableBytesDefault: v.rollable_extranonce_size, minDifficulty: 0 },
    });
    channels.setTemplate(
      factory.addTemplate(template, {
        scriptSigPrefix: hexToBytes(v.template.coinbase_prefix),
        coinbaseTxVersion: v.template.coinbase_tx_version,
        inputSequence: v.template.coinbase_tx_input_sequence,
        locktime: v.template.coinbase_tx_locktime,
      }),
      0,
    );
    const open = channels.openExtended(
      wire({ type: 'OpenExtendedMiningChannel', requestId: 7, userIdentity: 'sri', nominalHashRate: v.nominal_hash_rate, maxTarget: U256_MAX_BYTES, minExtranonceSize: v.rollable_extranonce_size }),
      0,
    );
    assert.ok(open.ok);
    const messages = wireAll(open.messages);
    return { channels, messages };
  }

  test('open: .Success (extranonce_size, prefix, SRI target), future NewExtendedMiningJob, SetNewPrevHash', () => {
    const { messages } = run();
    assert.deepEqual(messages.map((m) => m.type), ['OpenExtendedMiningChannelSuccess', 'NewExtendedMiningJob', 'SetNewPrevHash']);
    const success = messages[0] as OpenExtendedMiningChannelSuccess;
    assert.equal(success.requestId, 7);
    assert.equal(success.extranonceSize, v.rollable_extranonce_size);
    assertHex(success.extranoncePrefix, v.extranonce_prefix, 'extranonce_prefix');
    assertHex(success.target, v.expected_channel_target_wire_u256_le, 'channel target (U256 LE)');
    const job = messages[1] as NewExtendedMiningJob;
    assert.equal(job.minNtime, null, 'future job');
    assert.equal(job.versionRollingAllowed, true);
    assertHex(job.coinbaseTxPrefix, v.expected_new_extended_mining_job.coinbase_tx_prefix, 'coinbase_tx_prefix');
    assertHex(job.coinbaseTxSuffix, v.expected_new_extended_mining_job.coinbase_tx_suffix, 'coinbase_tx_suffix');
    const prev = messages[2] as SetNewPrevHash;
    assert.equal(prev.jobId, job.jobId);
    assertHex(prev.prevHash, v.set_new_prev_hash.prev_hash, 'prev_hash');
    assert.equal(prev.nbits, v.set_new_prev_hash.nbits);
    assert.equal(prev.minNtime, v.set_new_prev_hash.min_ntime);
  });

  test('submit the SRI share → accepted with SRI hash, not a block, acknowledged', () => {
    const { channels, messages } = run();
    const view = minerView(messages);
    const out = submit(channels, view, { seq: 5, nonce: v.share.nonce, ntime: v.share.ntime, version: v.share.version, extranonce: hexToBytes(v.share_extranonce) });
    assert.match(v.expected_result, /valid share/);
    assert.ok(out.ok, out.ok ? '' : out.wire);
    assert.equal(out.hashDisplay, v.expected_hash_display);
    assert.equal(out.block, null, 'not a block');
    assert.ok(out.ack !== null);
    const ack = wire(out.ack);
    assert.equal(ack.lastSequenceNumber, 5);
    assert.equal(ack.newSubmitsAcceptedCount, 1);
  });

  test('the same share with one nonce bit flipped is difficulty-too-low (target 2^-16-ish)', () => {
    const { channels, messages } = run();
    const view = minerView(messages);
    const share = { version: v.share.version, ntime: v.share.ntime, extranonce: hexToBytes(v.share_extranonce) };
    const target = leInt(view.target);
    const nonce = findNonce(view, share, (h) => h > target);
    expectReject(submit(channels, view, { ...share, nonce }), 'difficulty_too_low', 'difficulty-too-low');
  });
});

// ── rejections, standard and extended ───────────────────────────────────────────────────────

for (const kind of ['standard', 'extended'] as const) {
  describe(`share validation: SubmitShares.Error on ${kind} channels (SV2.md §5.5, §5.8)`, () => {
    const open = (channels: MiningChannels, hashRate: number, options?: { versionRollingAllowed?: boolean }) =>
      kind === 'standard' ? openStandard(channels, hashRate) : openExtended(channels, hashRate, options);

    test('a valid share is accepted and acknowledged (control)', () => {
      const { channels } = setup();
      const view = open(channels, 0);
      const out = submit(channels, view, { seq: 9, nonce: 1 });
      assert.ok(out.ok);
      assert.equal(out.block, null);
      assert.equal(wire(out.ack!).lastSequenceNumber, 9);
    });

    test('stale-share: a job of the previous prevhash', () => {
      const { factory, channels } = setup();
      const view = open(channels, 0);
      const sent = wireAll(channels.setTemplate(factory.addTemplate(plainTemplate(2n, 0x22)), 10));
      assert.deepEqual(sent.map((m) => m.type), [view.job.type, 'SetNewPrevHash']);
      expectReject(submit(channels, view, { seq: 3, nonce: 1 }), 'stale_share', 'stale-share', 3);
    });

    test('invalid-job-id: a job id never issued, and 0', () => {
      const { channels } = setup();
      const view = open(channels, 0);
      expectReject(submit(channels, view, { jobId: view.job.jobId + 1000, nonce: 1 }), 'invalid_job_id', 'invalid-job-id');
      expectReject(submit(channels, view, { jobId: 0, nonce: 1 }), 'invalid_job_id', 'invalid-job-id');
    });

    test('invalid-share: ntime below min_ntime, and far beyond it', () => {
      const { channels } = setup();
      const view = open(channels, 0);
      expectReject(submit(channels, view, { ntime: view.prev.minNtime - 1, nonce: 1 }), 'ntime_out_of_range', 'invalid-share');
      expectReject(submit(channels, view, { ntime: view.prev.minNtime + 7001 + 1, nonce: 1 }, 1000), 'ntime_out_of_range', 'invalid-share');
      // Boundary: min_ntime + elapsed (1 s) + 7000 is still fine.
      assert.equal(submit(channels, view, { ntime: view.prev.minNtime + 7001, nonce: 1 }, 1000).ok, true);
    });

    test('invalid-non-rollable-version-bit: a bit outside 0x1FFFFFE0; bits inside are fine', () => {
      const { channels } = setup();
      const view = open(channels, 0);
      expectReject(submit(channels, view, { version: (view.job.version | 0x1) >>> 0, nonce: 1 }), 'invalid_non_rollable_version_bit', 'invalid-non-rollable-version-bit');
      expectReject(submit(channels, view, { version: (view.job.version ^ 0x40000000) >>> 0, nonce: 1 }), 'invalid_non_rollable_version_bit', 'invalid-non-rollable-version-bit');
      // BIP320 (0x1FFFE000) and BIP323 low bits (0x1FE0) both roll.
      assert.equal(submit(channels, view, { version: (view.job.version | 0x1fffe000) >>> 0, nonce: 1 }).ok, true);
      assert.equal(submit(channels, view, { version: (view.job.version | 0x00001fe0) >>> 0, nonce: 2 }).ok, true);
    });

    test('difficulty-too-low: hash above the channel target', () => {
      const { channels } = setup();
      const view = open(channels, 1); // target ≈ 2^256 / 11
      const target = leInt(view.target);
      const base = { version: view.job.version, ntime: view.prev.minNtime, extranonce: new Uint8Array(8) };
      const bad = findNonce(view, base, (h) => h > target);
      expectReject(submit(channels, view, { nonce: bad }), 'difficulty_too_low', 'difficulty-too-low');
      const good = findNonce(view, base, (h) => h <= target);
      assert.equal(submit(channels, view, { nonce: good }).ok, true);
    });

    test('duplicate-share: the same header twice; a new prevhash forgets it', () => {
      const { channels } = setup();
      const view = open(channels, 0);
      assert.equal(submit(channels, view, { seq: 1, nonce: 77 }).ok, true);
      expectReject(submit(channels, view, { seq: 2, nonce: 77 }), 'duplicate_share', 'duplicate-share', 2);
      assert.equal(submit(channels, view, { seq: 3, nonce: 78 }).ok, true, 'another nonce is new work');
    });

    test('duplicate window: accepted again after 2 × nonce_expire_secs', () => {
      const { channels } = setup({ nonceExpireSecs: 60, ntimeFutureSecsMax: 100_000 });
      const view = open(channels, 0);
      assert.equal(submit(channels, view, { nonce: 5 }, 1000).ok, true);
      expectReject(submit(channels, view, { nonce: 5 }, 60_000), 'duplicate_share', 'duplicate-share');
      assert.equal(submit(channels, view, { nonce: 5 }, 1000 + 120_001).ok, true);
    });

    test('invalid-channel-id: an unknown channel', () => {
      const { channels } = setup();
      const view = open(channels, 0);
      expectReject(submit(channels, { ...view, channelId: 999 }, { nonce: 1 }), 'invalid_channel_id', 'invalid-channel-id');
    });

    if (kind === 'extended') {
      test('bad-extranonce-size: one byte short and one byte long', () => {
        const { channels } = setup();
        const view = open(channels, 0);
        expectReject(submit(channels, view, { nonce: 1, extranonce: new Uint8Array(7) }), 'bad_extranonce_size', 'bad-extranonce-size');
        expectReject(submit(channels, view, { nonce: 1, extranonce: new Uint8Array(9) }), 'bad_extranonce_size', 'bad-extranonce-size');
      });

      test('version-rolling-not-allowed: job with version_rolling_allowed = false', () => {
        const { channels } = setup();
        const view = open(channels, 0, { versionRollingAllowed: false });
        assert.equal((view.job as NewExtendedMiningJob).versionRollingAllowed, false);
        expectReject(submit(channels, view, { version: (view.job.version | 0x2000) >>> 0, nonce: 1 }), 'version_rolling_not_allowed', 'version-rolling-not-allowed');
        assert.equal(submit(channels, view, { nonce: 1 }).ok, true, 'unchanged version is fine');
      });

      test('SubmitSharesExtended on a standard channel is invalid-channel-id (SRI)', () => {
        const { channels } = setup();
        const std = openStandard(channels, 0);
        const out = channels.submitExtended(
          wire({ type: 'SubmitSharesExtended', channelId: std.channelId, sequenceNumber: 1, jobId: std.job.jobId, nonce: 1, ntime: std.prev.minNtime, version: std.job.version, extranonce: new Uint8Array(8) }),
          0,
        );
        expectReject(out, 'invalid_channel_id', 'invalid-channel-id');
      });
    }

    test('order: stale wins over everything; ntime is checked before the version', () => {
      const { factory, channels } = setup();
      const view = open(channels, 0);
      channels.setTemplate(factory.addTemplate(plainTemplate(2n, 0x22)), 10);
      expectReject(submit(channels, view, { nonce: 1, ntime: 1, version: 1, extranonce: new Uint8Array(1) }), 'stale_share', 'stale-share');
      const fresh = minerView(wireAll(kind === 'standard' ? channels.openStandard(wire({ type: 'OpenStandardMiningChannel', requestId: 3, userIdentity: 'r', nominalHashRate: 0, maxTarget: U256_MAX_BYTES }), 20).messages : channels.openExtended(wire({ type: 'OpenExtendedMiningChannel', requestId: 3, userIdentity: 'r', nominalHashRate: 0, maxTarget: U256_MAX_BYTES, minExtranonceSize: 0 }), 20).messages));
      expectReject(submit(channels, fresh, { nonce: 1, ntime: 1, version: 1 }), 'ntime_out_of_range', 'invalid-share');
      if (kind === 'extended') {
        expectReject(submit(channels, fresh, { nonce: 1, ntime: 1, version: 1, extranonce: new Uint8Array(2) }), 'bad_extranonce_size', 'bad-extranonce-size');
      }
    });
  });
}

// ── block found on a real btcd regtest template ─────────────────────────────────────────────

type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), 'utf8')) as Json;

/** A tiny independent transaction parser: returns the stripped and full serializations. */
function parseTx(bytes: Uint8Array, at: number): { end: number; stripped: Uint8Array; witness: Uint8Array[][]; outputs: { value: bigint; script: Uint8Array }[]; scriptSig: Uint8Array } {
  let p = at;
  const varint = (): number => {
    const b = bytes[p++]!;
    if (b < 0xfd) return b;
    if (b === 0xfd) { const v = bytes[p]! | (bytes[p + 1]! << 8); p += 2; return v; }
    const v = (bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16)) + bytes[p + 3]! * 2 ** 24; p += 4; return v;
  };
  const start = p;
  p += 4;
  const segwit = bytes[p] === 0 && bytes[p + 1] === 1;
  if (segwit) p += 2;
  const bodyStart = p;
  const nIn = varint();
  let scriptSig = new Uint8Array(0);
  for (let i = 0; i < nIn; i++) {
    p += 36;
    const len = varint();
    if (i === 0) scriptSig = bytes.slice(p, p + len);
    p += len + 4;
  }
  const outputs: { value: bigint; script: Uint8Array }[] = [];
  const nOut = varint();
  for (let i = 0; i < nOut; i++) {
    const value = leInt(bytes.subarray(p, p + 8));
    p += 8;
    const len = varint();
    outputs.push({ value, script: bytes.slice(p, p + len) });
    p += len;
  }
  const bodyEnd = p;
  const witness: Uint8Array[][] = [];
  if (segwit) {
    for (let i = 0; i < nIn; i++) {
      const items: Uint8Array[] = [];
      const n = varint();
      for (let j = 0; j < n; j++) { const len = varint(); items.push(bytes.slice(p, p + len)); p += len; }
      witness.push(items);
    }
  }
  const locktime = bytes.subarray(p, p + 4);
  p += 4;
  const stripped = concatBytes(bytes.subarray(start, start + 4), bytes.subarray(bodyStart, bodyEnd), locktime);
  return { end: p, stripped, witness, outputs, scriptSig };
}

function merkle(leaves: Uint8Array[]): Uint8Array {
  let level = leaves;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(sha256d(concatBytes(level[i]!, level[i + 1] ?? level[i]!)));
    level = next;
  }
  return level[0]!;
}

describe('share validation: block found (btcd regtest template, nbits 0x207fffff)', () => {
  const gbt = fixture('btcd-gbt-with-transactions.json') as Json & { transactions: { data: string; txid: string; hash: string }[]; default_witness_commitment: string; bits: string; coinbasevalue: number; height: number };

  function mine(kind: 'standard' | 'extended') {
    const parsed = parseGetBlockTemplate(gbt, { templateId: 9n });
    assert.ok(parsed.ok);
    const factory = new JobFactory({ payout: PAYOUT, poolTag: 'ReserveGrid' });
    const channels = new MiningChannels({ factory, extranonce: new ExtranonceAllocator({ gatewayId: 3, random: new SeededRandom(5) }), settings: { ...SETTINGS, ntimeFutureSecsMax: 7000 } });
    channels.setTemplate(factory.addTemplate(parsed.value), 0);
    // A hard channel target so only the block check can accept (regtest: ~1 in 2 hashes is a block).
    const out = kind === 'standard'
      ? channels.openStandard(wire({ type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'x', nominalHashRate: 1e12, maxTarget: U256_MAX_BYTES }), 0)
      : channels.openExtended(wire({ type: 'OpenExtendedMiningChannel', requestId: 1, userIdentity: 'x', nominalHashRate: 1e12, maxTarget: U256_MAX_BYTES, minExtranonceSize: 8 }), 0);
    assert.ok(out.ok);
    const view = minerView(wireAll(out.messages));
    const extranonce = hexToBytes('0102030405060708');
    const network = compactTarget(parseInt(gbt.bits, 16));
    const base = { version: view.job.version, ntime: view.prev.minNtime, extranonce };
    const nonce = findNonce(view, base, (h) => h <= network);
    const result = submit(channels, view, { nonce, extranonce }, 500);
    return { view, result, extranonce, network, channels };
  }

  for (const kind of ['standard', 'extended'] as const) {
    test(`${kind}: the block round-trips (PoW, merkle root, witness commitment = btcd's, coinbase forms)`, () => {
      const { view, result, extranonce, network } = mine(kind);
      assert.ok(result.ok, result.ok ? '' : result.wire);
      const block = result.block;
      assert.ok(block !== null, 'a share under the network target is a block');
      assert.equal(block.templateId, 9n);
      assert.equal(block.height, gbt.height);
      const bytes = block.block;
      // Header: PoW and fields.
      const header = bytes.subarray(0, 80);
      assertHex(block.header, bytesToHex(header), 'header');
      const hash = sha256d(header);
      assert.ok(leInt(hash) <= network, 'header hash ≤ network target');
      assert.equal(block.blockHashDisplay, bytesToHex(reversed(hash)));
      assertHex(header.subarray(4, 36), bytesToHex(reversed(hexToBytes(gbt.previousblockhash as string))), 'prev hash');
      // Transactions: count, coinbase, then the template's in order.
      assert.equal(bytes[80], 1 + gbt.transactions.length);
      const coinbase = parseTx(bytes, 81);
      assertHex(block.coinbase, bytesToHex(bytes.subarray(81, coinbase.end)), 'BlockCandidate.coinbase is the block coinbase');
      let p = coinbase.end;
      for (const tx of gbt.transactions) {
        assertHex(bytes.subarray(p, p + tx.data.length / 2), tx.data, 'template transaction');
        p += tx.data.length / 2;
      }
      assert.equal(p, bytes.length, 'no trailing bytes');
      // The coinbase in the block is the FULL one: witness = one 32-byte zero item.
      assert.equal(coinbase.witness.length, 1);
      assert.equal(coinbase.witness[0]!.length, 1);
      assertHex(coinbase.witness[0]![0]!, '00'.repeat(32), 'witness reserved value');
      assertHex(bytes.subarray(81 + 4, 81 + 6), '0001', 'marker+flag');
      // The job carried the STRIPPED one: prefix ‖ extranonce ‖ suffix == stripped coinbase.
      const fullExtranonce = kind === 'standard' ? view.extranoncePrefix : concatBytes(view.extranoncePrefix, extranonce);
      if (view.job.type === 'NewExtendedMiningJob') {
        assertHex(concatBytes(view.job.coinbaseTxPrefix, fullExtranonce, view.job.coinbaseTxSuffix), bytesToHex(coinbase.stripped), 'stripped coinbase = job pieces');
      }
      assert.ok(bytesToHex(coinbase.scriptSig).includes(bytesToHex(fullExtranonce)), 'extranonce in scriptSig');
      // Merkle root over [coinbase txid, template txids].
      const txids = [sha256d(coinbase.stripped), ...gbt.transactions.map((t) => reversed(hexToBytes(t.txid)))];
      assertHex(header.subarray(36, 68), bytesToHex(merkle(txids)), 'merkle root');
      if (view.job.type === 'NewMiningJob') assertHex(view.job.merkleRoot, bytesToHex(merkle(txids)), 'NewMiningJob.merkle_root');
      // Witness commitment: the coinbase carries btcd's default_witness_commitment, which equals
      // SHA256d(witness root ‖ reserved value) over the block's wtxids.
      const commitmentOut = coinbase.outputs.find((o) => bytesToHex(o.script).startsWith('6a24aa21a9ed'));
      assert.ok(commitmentOut, 'commitment output present');
      assertHex(commitmentOut.script.subarray(6), gbt.default_witness_commitment.slice(-64), "btcd's commitment");
      const wtxids = [new Uint8Array(32), ...gbt.transactions.map((t) => reversed(hexToBytes(t.hash)))];
      assertHex(commitmentOut.script.subarray(6), bytesToHex(sha256d(concatBytes(merkle(wtxids), coinbase.witness[0]![0]!))), 'commitment recomputed');
      // Value = subsidy + fees to the payout script.
      const payout = coinbase.outputs.filter((o) => o.script.length > 0 && !bytesToHex(o.script).startsWith('6a'));
      assert.equal(payout.reduce((s, o) => s + o.value, 0n), BigInt(gbt.coinbasevalue));
    });
  }

  test('a block is still a share: acknowledged, and a resubmission is duplicate-share', () => {
    const { view, result, extranonce, channels } = mine('extended');
    assert.ok(result.ok && result.block !== null && result.ack !== null);
    const again = submit(channels, view, { seq: 2, nonce: result.block.header[76]! | (result.block.header[77]! << 8) | (result.block.header[78]! << 16) | (result.block.header[79]! << 24), extranonce }, 600);
    expectReject(again, 'duplicate_share', 'duplicate-share');
  });
});
