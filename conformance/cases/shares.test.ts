// SRI's extended-channel valid-share vector (vectors/shares/sri-extended-valid-share.json;
// SRI channels-sv2 server/extended.rs test_share_validation_valid_share, SV2.md §5.4–§5.6):
// from the inputs in the file, rebuild the stripped coinbase prefix/suffix, the header, its hash,
// the channel target (display and wire), and the verdict.
import { describe, test } from '../../test/harness.ts';
import { assert, assertHex } from '../../test/assert.ts';
import { vectorJson } from '../vectors.ts';
import { bytesToHex, concatBytes, hexToBytes } from '../../core/bytes.ts';
import { buildCoinbase, coinbaseStripped, coinbaseWithWitness } from '../../core/mining/coinbase.ts';
import { coinbaseTxid, merkleRootFromPath } from '../../core/mining/merkle.ts';
import { header80, headerHash } from '../../core/mining/header.ts';
import { sha256d } from '../../core/mining/hash.ts';
import {
  hashToDisplayHex,
  meetsTarget,
  targetFromHashRate,
  targetFromNbits,
  targetFromU256,
  targetToDisplayHex,
  targetToU256,
} from '../../core/mining/target.ts';
import { encodeMessage, decodeFrameBytes } from '../../core/codec/index.ts';

interface ShareVector {
  extranonce_prefix: string;
  rollable_extranonce_size: number;
  share_extranonce: string;
  template: {
    coinbase_prefix: string;
    coinbase_tx_version: number;
    coinbase_tx_input_sequence: number;
    coinbase_tx_locktime: number;
    coinbase_tx_outputs: string;
    coinbase_tx_outputs_count: number;
    merkle_path: string[];
  };
  pool_reward: { value_sats: number; script_pubkey: string };
  coinbase_tag: string;
  expected_new_extended_mining_job: { coinbase_tx_prefix: string; coinbase_tx_suffix: string };
  set_new_prev_hash: { prev_hash: string; nbits: number; min_ntime: number };
  share: { version: number; ntime: number; nonce: number };
  nominal_hash_rate: number;
  shares_per_minute: number;
  expected_header80: string;
  expected_hash_display: string;
  expected_channel_target_display: string;
  expected_channel_target_wire_u256_le: string;
  expected_result: string;
}

const v = vectorJson<ShareVector>('shares/sri-extended-valid-share.json');
const extranoncePrefix = hexToBytes(v.extranonce_prefix);
const shareExtranonce = hexToBytes(v.share_extranonce);

function parts() {
  // The tag in the file is "Sv2///": empty pool and miner tags.
  assert.equal(v.coinbase_tag, 'Sv2///');
  return buildCoinbase({
    version: v.template.coinbase_tx_version,
    scriptSigPrefix: hexToBytes(v.template.coinbase_prefix),
    poolTag: '',
    minerTag: '',
    extranonceBytes: extranoncePrefix.length + v.rollable_extranonce_size,
    inputSequence: v.template.coinbase_tx_input_sequence,
    poolOutputs: [{ valueSats: BigInt(v.pool_reward.value_sats), scriptPubKey: hexToBytes(v.pool_reward.script_pubkey) }],
    templateOutputs: hexToBytes(v.template.coinbase_tx_outputs),
    templateOutputsCount: v.template.coinbase_tx_outputs_count,
    locktime: v.template.coinbase_tx_locktime,
  });
}

function header(): Uint8Array {
  const cb = parts();
  const txid = coinbaseTxid(cb.prefix, extranoncePrefix, shareExtranonce, cb.suffix);
  const merkleRoot = merkleRootFromPath(txid, v.template.merkle_path.map(hexToBytes));
  return header80({
    version: v.share.version,
    prevHash: hexToBytes(v.set_new_prev_hash.prev_hash),
    merkleRoot,
    ntime: v.share.ntime,
    nbits: v.set_new_prev_hash.nbits,
    nonce: v.share.nonce,
  });
}

describe('SRI extended valid share (vectors/shares/sri-extended-valid-share.json)', () => {
  test('share extranonce length equals the rollable size', () => {
    assert.equal(shareExtranonce.length, v.rollable_extranonce_size);
  });

  test('stripped coinbase prefix and suffix (NewExtendedMiningJob) reproduce byte-exact', () => {
    const cb = parts();
    assertHex(cb.prefix, v.expected_new_extended_mining_job.coinbase_tx_prefix, 'coinbase_tx_prefix');
    assertHex(cb.suffix, v.expected_new_extended_mining_job.coinbase_tx_suffix, 'coinbase_tx_suffix');
  });

  test('the with-witness coinbase has the same txid and marker/flag + witness reserved value', () => {
    const cb = parts();
    const full = concatBytes(extranoncePrefix, shareExtranonce);
    const stripped = coinbaseStripped(cb, full);
    const withWitness = coinbaseWithWitness(cb, full);
    assert.equal(withWitness.length, stripped.length + 2 + 34);
    assertHex(withWitness.subarray(4, 6), '0001', 'marker+flag');
    assertHex(withWitness.subarray(withWitness.length - 4 - 34, withWitness.length - 4), `0120${'00'.repeat(32)}`, 'witness');
    assertHex(coinbaseTxid(cb.prefix, extranoncePrefix, shareExtranonce, cb.suffix), bytesToHex(sha256d(stripped)), 'txid');
  });

  test('header80 reproduces byte-exact', () => {
    assertHex(header(), v.expected_header80, 'header80');
  });

  test('hash (display order) reproduces', () => {
    assert.equal(hashToDisplayHex(headerHash(header())), v.expected_hash_display);
  });

  test('channel target from hash rate and shares/min (SRI formula) in display and wire order', () => {
    const target = targetFromHashRate(v.nominal_hash_rate, v.shares_per_minute);
    assert.equal(targetToDisplayHex(target), v.expected_channel_target_display);
    assertHex(targetToU256(target), v.expected_channel_target_wire_u256_le, 'target U256 LE');
    assert.equal(targetFromU256(hexToBytes(v.expected_channel_target_wire_u256_le)), target);
  });

  test('verdict: valid share (hash <= channel target), not a block (hash > nbits target)', () => {
    assert.match(v.expected_result, /valid share/);
    assert.match(v.expected_result, /not a block/);
    const hash = headerHash(header());
    const target = hexToBytes(v.expected_channel_target_wire_u256_le);
    assert.equal(meetsTarget(hash, target), true);
    assert.equal(meetsTarget(hash, targetFromU256(target)), true);
    const network = targetFromNbits(v.set_new_prev_hash.nbits);
    assert.ok(network !== null);
    assert.equal(meetsTarget(hash, network), false);
    assert.equal(meetsTarget(hash, targetToU256(network)), false);
  });

  test('the share travels through the codec unchanged (SubmitSharesExtended)', () => {
    const frame = encodeMessage({
      type: 'SubmitSharesExtended', channelId: 1, sequenceNumber: 1, jobId: 1,
      nonce: v.share.nonce, ntime: v.share.ntime, version: v.share.version, extranonce: shareExtranonce,
    });
    const decoded = decodeFrameBytes(frame);
    assert.ok(decoded.ok && decoded.value.type === 'SubmitSharesExtended');
    assert.deepStrictEqual(decoded.value.extranonce, shareExtranonce);
    assert.equal(decoded.value.nonce, v.share.nonce);
  });
});
