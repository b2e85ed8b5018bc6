// The block template the job engine builds jobs from (SPEC §4, issue 3 items 1–2), and the pure
// helpers that turn one into a block. Source-neutral: core/template/gbt.ts fills it from Bitcoin
// Core's or btcd's getblocktemplate; the demo's embedded chain can fill it directly.
//
// Byte order: every hash here (prevHash, txid, wtxid, merkle nodes) is 32 raw bytes in Bitcoin's
// INTERNAL order, exactly as it goes into a header or an SV2 message (SV2.md §5.4, §5.5). Only
// RPC JSON and explorers use the reversed "display" hex; gbt.ts converts at the boundary.
//
// Hashing: SHA256d and the merkle helpers come from core/mining (one implementation for the
// codec, the job engine and this file); every helper takes the same optional `sha256` so an
// adapter can inject a native hash.
import { concatBytes } from '../bytes.ts';
import { compactSize } from '../mining/coinbase.ts';
import { defaultSha256, sha256d, type Sha256 } from '../mining/hash.ts';
import { HEADER_BYTES } from '../mining/header.ts';
import { coinbaseMerklePath, merkleRootFromPath } from '../mining/merkle.ts';

export { coinbaseMerklePath, merkleRootFromPath };

/** A non-coinbase transaction of the template, in block order. */
export interface TemplateTransaction {
  /** Full serialization as it goes into the block (with witness when it has one). */
  readonly data: Uint8Array;
  /** SHA256d of the stripped serialization, internal order (merkle leaf). */
  readonly txid: Uint8Array;
  /** SHA256d of the full serialization, internal order (witness merkle leaf, BIP141). */
  readonly wtxid: Uint8Array;
  /** Fee in satoshis (input value − output value). */
  readonly fee: bigint;
  /** Sigop COST (BIP141 weighting: legacy sigops × 4), as both Core and btcd report once segwit is active. */
  readonly sigops: number;
  /** BIP141 weight units. */
  readonly weight: number;
  /** 1-based indexes of earlier template transactions this one spends (GBT `depends`). */
  readonly depends: readonly number[];
}

export interface BlockTemplate {
  /** Ours, not the node's: a counter the caller passes in, stable for the template's lifetime
   * (NewTemplate.template_id is a U64, SV2.md §6). */
  readonly templateId: bigint;
  /** Height of the block to be built (BIP34 puts it in the coinbase). */
  readonly height: number;
  /** Block version as a U32 bit pattern (version-rolling bits are masked off later, SV2.md §5.7). */
  readonly version: number;
  /** Hash of the block this template builds on, 32 bytes internal order. */
  readonly prevHash: Uint8Array;
  /** Compact target (U32), exactly the header field. */
  readonly nbits: number;
  /** Network target expanded from nbits; a header hash ≤ target is a block (SV2.md §5.5). */
  readonly target: bigint;
  /** Node's suggested header time (seconds). */
  readonly curtime: number;
  /** Smallest valid header time: median time past + 1 (BIP23 `mintime`). */
  readonly mintime: number;
  /** Largest time the node accepts for this template (BIP23 `maxtime`), or null if not given. */
  readonly maxtime: number | null;
  /** Satoshis the coinbase may claim: subsidy + sum of fees. */
  readonly coinbaseValue: bigint;
  readonly transactions: readonly TemplateTransaction[];
  /**
   * The BIP141 commitment output script `6a24aa21a9ed ‖ commitment(32)`. NEVER null: when the
   * node omits it (btcd does whenever no template transaction has witness data) gbt.ts computes
   * it, as Bitcoin Core always does once segwit is active. Reason: the coinbase the job engine
   * builds (core/mining/coinbase.ts) always carries the witness reserved value, and a block whose
   * coinbase has witness data but no commitment is invalid (BIP141 "unexpected-witness").
   */
  readonly defaultWitnessCommitment: Uint8Array;
  /** Where defaultWitnessCommitment came from (node = verified equal to our computation). */
  readonly witnessCommitmentSource: 'node' | 'computed';
  /** Siblings for the coinbase's merkle branch (NewExtendedMiningJob.merkle_path / NewTemplate.merkle_path). */
  readonly merklePath: readonly Uint8Array[];
  /** Block limits from the node (defaults: the consensus values). */
  readonly sigopLimit: number;
  readonly weightLimit: number;
  /** BIP22 long-poll id, or null. */
  readonly longpollId: string | null;
  /** BIP9 rules the node reports (Bitcoin Core: e.g. ["csv","!segwit","taproot"]; btcd: []). */
  readonly rules: readonly string[];
}

/** Consensus limits (BIP141): used when the node does not report them. */
export const MAX_BLOCK_WEIGHT = 4_000_000;
export const MAX_BLOCK_SIGOPS_COST = 80_000;

/** OP_RETURN PUSH36 0xaa21a9ed: the first 6 bytes of a BIP141 commitment output script. */
export const WITNESS_COMMITMENT_HEADER = new Uint8Array([0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]);
/** Script length: header (6) + commitment (32). */
export const WITNESS_COMMITMENT_SCRIPT_BYTES = 38;

const ZERO_32 = new Uint8Array(32);

/**
 * BIP141 witness root over [coinbase wtxid = 32×00, ...wtxids] (block order, internal bytes).
 * The coinbase's wtxid is defined as zero because its witness holds the reserved value.
 */
export function witnessMerkleRoot(wtxids: readonly Uint8Array[], sha256: Sha256 = defaultSha256): Uint8Array {
  wtxids.forEach((w, i) => {
    if (w.length !== 32) throw new RangeError(`witnessMerkleRoot: wtxids[${i}] must be 32 bytes, got ${w.length}`);
  });
  return merkleRootFromPath(ZERO_32, coinbaseMerklePath(wtxids, sha256), sha256);
}

/**
 * BIP141 commitment = SHA256d(witness root ‖ witness reserved value). The reserved value is
 * the coinbase's single witness item; every miner (and core/mining/coinbase.ts) uses 32×00.
 */
export function witnessCommitment(
  wtxids: readonly Uint8Array[],
  reservedValue: Uint8Array = ZERO_32,
  sha256: Sha256 = defaultSha256,
): Uint8Array {
  if (reservedValue.length !== 32) throw new RangeError(`witnessCommitment: reservedValue must be 32 bytes, got ${reservedValue.length}`);
  return sha256d(concatBytes(witnessMerkleRoot(wtxids, sha256), reservedValue), sha256);
}

/** The commitment output's scriptPubKey: 6a24aa21a9ed ‖ commitment (38 bytes). */
export function witnessCommitmentScript(commitment: Uint8Array): Uint8Array {
  if (commitment.length !== 32) throw new RangeError(`witnessCommitmentScript: commitment must be 32 bytes, got ${commitment.length}`);
  return concatBytes(WITNESS_COMMITMENT_HEADER, commitment);
}

/** Merkle root of a block given the coinbase txid and the template (block order). */
export function templateMerkleRoot(coinbaseTxid: Uint8Array, template: Pick<BlockTemplate, 'merklePath'>, sha256: Sha256 = defaultSha256): Uint8Array {
  return merkleRootFromPath(coinbaseTxid, template.merklePath, sha256);
}

/**
 * A block for submitblock: header80 ‖ CompactSize(1 + n) ‖ full coinbase (WITH witness, SPEC §4)
 * ‖ each transaction's full serialization, in template order.
 */
export function serializeBlock(
  header: Uint8Array,
  coinbaseWithWitness: Uint8Array,
  transactions: readonly Pick<TemplateTransaction, 'data'>[],
): Uint8Array {
  if (header.length !== HEADER_BYTES) throw new RangeError(`serializeBlock: header must be ${HEADER_BYTES} bytes, got ${header.length}`);
  if (coinbaseWithWitness.length === 0) throw new RangeError('serializeBlock: coinbase is empty');
  return concatBytes(header, compactSize(1 + transactions.length), coinbaseWithWitness, ...transactions.map((tx) => tx.data));
}

/**
 * BIP34: the coinbase scriptSig must START with the block height pushed as Bitcoin Core's
 * `CScript() << height` does: OP_1..OP_16 (0x51..0x60) for 1..16, otherwise a minimal
 * little-endian script number (a 0x00 byte appended when the top bit is set, so it stays
 * positive) behind a direct push opcode. This is NewTemplate.coinbase_prefix without the
 * OP_0 that Bitcoin Core's own miner appends (`<< OP_0`, to reach the 2-byte scriptSig minimum:
 * SRI's vectors `5200` for height 2 and `029f0000` for height 159, SV2.md §5.6); the gateway's
 * coinbase is always longer than 2 bytes because the tag and extranonce follow.
 */
export function bip34HeightPush(height: number): Uint8Array {
  if (!Number.isSafeInteger(height) || height < 1 || height > 0x7fffffff) {
    throw new RangeError(`bip34HeightPush: height must be 1..2^31-1, got ${height}`);
  }
  if (height <= 16) return new Uint8Array([0x50 + height]);
  const bytes: number[] = [];
  for (let n = height; n > 0; n = Math.floor(n / 256)) bytes.push(n & 0xff);
  if ((bytes[bytes.length - 1]! & 0x80) !== 0) bytes.push(0x00);
  return new Uint8Array([bytes.length, ...bytes]);
}
