// SRI-style coinbase construction (SV2.md §5.4; SRI `channels_sv2::server::jobs::factory`).
//
//   version(4) [‖ 00 01 marker+flag] ‖ 01 (one input) ‖ 32×00 ‖ ff ff ff ff (null outpoint)
//   ‖ len(scriptSig) ‖ scriptSig ‖ sequence(4)
//   ‖ CompactSize(#outputs) ‖ pool outputs ‖ template outputs
//   [‖ 01 20 ‖ 32×00  witness: one 32-byte zero item, the witness reserved value]
//   ‖ locktime(4)
//
//   scriptSig = BIP34 prefix (NewTemplate.coinbase_prefix) ‖ OP_PUSH(len) "Sv2/<pool>/<miner>/"
//             ‖ OP_PUSH(full_extranonce_len) ‖ full extranonce
//
// The job prefix ENDS right after the extranonce push opcode; the extranonce (channel prefix ‖
// miner-rolled part) goes between prefix and suffix. Jobs carry the STRIPPED form (no marker,
// flag or witness) so that clients hash the txid, not the wtxid (SV2.md §9.10); blocks
// (submitblock / SubmitSolution) and JD's DeclareMiningJob need the with-witness form, built
// here from the same pieces. One `CoinbaseParts` serves every channel of a group sharing one
// full-extranonce length (SV2.md §5.2): standard channels fill the whole extranonce with their
// prefix, extended channels with prefix ‖ rolled bytes.
import { concatBytes, utf8 } from '../bytes.ts';

/** A transaction output: value in satoshis and the scriptPubKey. */
export interface TxOut {
  readonly valueSats: bigint;
  readonly scriptPubKey: Uint8Array;
}

export interface CoinbaseInput {
  /** NewTemplate.coinbase_tx_version. */
  readonly version: number;
  /** NewTemplate.coinbase_prefix: the BIP34 height push (≤ 8 bytes in practice). */
  readonly scriptSigPrefix: Uint8Array;
  /** Pool tag, "" for none: the tag reads `Sv2/<poolTag>/<minerTag>/` (SRI keeps the slashes). */
  readonly poolTag?: string;
  readonly minerTag?: string;
  /** Full extranonce length = channel prefix + rollable bytes, 0..32 (SRI MAX_EXTRANONCE_LEN). */
  readonly extranonceBytes: number;
  /** NewTemplate.coinbase_tx_input_sequence. */
  readonly inputSequence: number;
  /** The pool's reward outputs, placed before the template's. */
  readonly poolOutputs: readonly TxOut[];
  /** NewTemplate.coinbase_tx_outputs: serialized outputs with NO count prefix (witness commitment included). */
  readonly templateOutputs: Uint8Array;
  /** NewTemplate.coinbase_tx_outputs_count. */
  readonly templateOutputsCount: number;
  /** NewTemplate.coinbase_tx_locktime. */
  readonly locktime: number;
}

export interface CoinbaseParts {
  /** Stripped prefix for NewExtendedMiningJob.coinbase_tx_prefix; ends after the extranonce push opcode. */
  readonly prefix: Uint8Array;
  /** Stripped suffix for NewExtendedMiningJob.coinbase_tx_suffix: sequence ‖ outputs ‖ locktime. */
  readonly suffix: Uint8Array;
  /** Prefix WITH marker+flag (DeclareMiningJob.coinbase_tx_prefix). */
  readonly prefixWithWitness: Uint8Array;
  /** Suffix WITH the witness (DeclareMiningJob.coinbase_tx_suffix). */
  readonly suffixWithWitness: Uint8Array;
  /** The full extranonce length the scriptSig reserves. */
  readonly extranonceBytes: number;
}

/** Max scriptSig for a coinbase (consensus: 2..100 bytes). */
export const COINBASE_SCRIPT_SIG_BYTES_MAX = 100;
/** SRI MAX_EXTRANONCE_LEN: prefix + rollable ≤ 32 (SV2.md §5.2). */
export const EXTRANONCE_BYTES_MAX = 32;
/** SRI refuses a `Sv2/<pool>/<miner>/` tag longer than 61 bytes (100 − 5 BIP34 − 1 − 33). */
export const COINBASE_TAG_BYTES_MAX = 61;

const NULL_OUTPOINT = concatBytes(new Uint8Array(32), new Uint8Array([0xff, 0xff, 0xff, 0xff]));
/** Witness for the coinbase input: 1 item of 32 zero bytes (the witness reserved value). */
const COINBASE_WITNESS = concatBytes(new Uint8Array([0x01, 0x20]), new Uint8Array(32));
const SEGWIT_MARKER_FLAG = new Uint8Array([0x00, 0x01]);

/** The tag SRI pushes: `Sv2/<pool>/<miner>/` (e.g. `Sv2///` with both empty). */
export function coinbaseTag(poolTag = '', minerTag = ''): Uint8Array {
  return utf8(`Sv2/${poolTag}/${minerTag}/`);
}

/** Build the coinbase pieces. Throws RangeError naming the input that is out of range. */
export function buildCoinbase(input: CoinbaseInput): CoinbaseParts {
  const { version, scriptSigPrefix, extranonceBytes, inputSequence, poolOutputs, templateOutputs, templateOutputsCount, locktime } = input;
  if (!Number.isInteger(extranonceBytes) || extranonceBytes < 0 || extranonceBytes > EXTRANONCE_BYTES_MAX) {
    throw new RangeError(`buildCoinbase: extranonceBytes must be 0..${EXTRANONCE_BYTES_MAX}, got ${extranonceBytes}`);
  }
  const tag = coinbaseTag(input.poolTag, input.minerTag);
  if (tag.length > COINBASE_TAG_BYTES_MAX) {
    throw new RangeError(`buildCoinbase: tag "Sv2/<pool>/<miner>/" is ${tag.length} bytes, maximum ${COINBASE_TAG_BYTES_MAX}`);
  }
  // Both pushes are direct-push opcodes (length byte = opcode) because both lengths are < 76.
  const scriptSigHead = concatBytes(scriptSigPrefix, new Uint8Array([tag.length]), tag, new Uint8Array([extranonceBytes]));
  const scriptSigBytes = scriptSigHead.length + extranonceBytes;
  if (scriptSigBytes > COINBASE_SCRIPT_SIG_BYTES_MAX) {
    throw new RangeError(`buildCoinbase: scriptSig is ${scriptSigBytes} bytes, maximum ${COINBASE_SCRIPT_SIG_BYTES_MAX}`);
  }
  if (!Number.isInteger(templateOutputsCount) || templateOutputsCount < 0 || templateOutputsCount > 0xffffffff) {
    throw new RangeError(`buildCoinbase: templateOutputsCount must be a U32, got ${templateOutputsCount}`);
  }
  const versionBytes = le32(version, 'version');
  // scriptSig ≤ 100 bytes, so its CompactSize length is always one byte.
  const afterVersion = concatBytes(new Uint8Array([0x01]), NULL_OUTPOINT, new Uint8Array([scriptSigBytes]), scriptSigHead);
  const outputs = concatBytes(
    compactSize(poolOutputs.length + templateOutputsCount),
    ...poolOutputs.map((out, i) => serializeTxOut(out, `poolOutputs[${i}]`)),
    templateOutputs,
  );
  const sequenceBytes = le32(inputSequence, 'inputSequence');
  const locktimeBytes = le32(locktime, 'locktime');
  return {
    prefix: concatBytes(versionBytes, afterVersion),
    suffix: concatBytes(sequenceBytes, outputs, locktimeBytes),
    prefixWithWitness: concatBytes(versionBytes, SEGWIT_MARKER_FLAG, afterVersion),
    suffixWithWitness: concatBytes(sequenceBytes, outputs, COINBASE_WITNESS, locktimeBytes),
    extranonceBytes,
  };
}

/** prefix ‖ extranonce ‖ suffix, stripped (what the txid is computed over). */
export function coinbaseStripped(parts: CoinbaseParts, fullExtranonce: Uint8Array): Uint8Array {
  _checkExtranonce(parts, fullExtranonce);
  return concatBytes(parts.prefix, fullExtranonce, parts.suffix);
}

/** The full serialization WITH witness, for submitblock / SubmitSolution (SV2.md §9.10). */
export function coinbaseWithWitness(parts: CoinbaseParts, fullExtranonce: Uint8Array): Uint8Array {
  _checkExtranonce(parts, fullExtranonce);
  return concatBytes(parts.prefixWithWitness, fullExtranonce, parts.suffixWithWitness);
}

function _checkExtranonce(parts: CoinbaseParts, fullExtranonce: Uint8Array): void {
  if (fullExtranonce.length !== parts.extranonceBytes) {
    throw new RangeError(`coinbase: full extranonce must be ${parts.extranonceBytes} bytes, got ${fullExtranonce.length}`);
  }
}

/** value LE64 ‖ CompactSize(len) ‖ scriptPubKey. */
export function serializeTxOut(out: TxOut, name = 'txOut'): Uint8Array {
  const { valueSats, scriptPubKey } = out;
  if (typeof valueSats !== 'bigint' || valueSats < 0n || valueSats > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`${name}.valueSats must be a bigint 0..2^64-1, got ${String(valueSats)}`);
  }
  const value = new Uint8Array(8);
  let v = valueSats;
  for (let i = 0; i < 8; i++) {
    value[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return concatBytes(value, compactSize(scriptPubKey.length), scriptPubKey);
}

/** Bitcoin CompactSize (varint) for counts and lengths up to 2^32−1. */
export function compactSize(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`compactSize: n must be 0..2^32-1, got ${n}`);
  if (n < 0xfd) return new Uint8Array([n]);
  if (n <= 0xffff) return new Uint8Array([0xfd, n & 0xff, n >>> 8]);
  return new Uint8Array([0xfe, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]);
}

/** LE32 of a U32 (signed versions are passed as their U32 bit pattern). */
export function le32(value: number, name = 'value'): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`${name} must be a U32, got ${value}`);
  return new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24]);
}
