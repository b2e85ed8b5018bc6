// The coinbase of a declared job (issue 11 item 3; SV2.md §7, §9.10). DeclareMiningJob carries
// `coinbase_tx_prefix` and `coinbase_tx_suffix` WITH the BIP141 fields (marker, flag, witness):
// the full coinbase is prefix ‖ full extranonce ‖ suffix, where the extranonce is the tail of the
// scriptSig the prefix announces but does not contain. Its length follows from the prefix alone:
// scriptSig length (CompactSize after the null outpoint) − scriptSig bytes already in the prefix.
// jd_server_sv2 0.6.0 rebuilds it the same way (job_validation/bitcoin_core_ipc.rs
// `get_coinbase_tx`, zeros as extranonce); the extranonce's value is the miner's to roll and
// changes neither the outputs nor the txid-independent checks below.
//
// Never throws on bytes: a declaration that does not rebuild is a returned error (`jd_coinbase_invalid`).
import { concatBytes, equalBytes } from '../bytes.ts';
import { compactSize } from '../mining/coinbase.ts';
import { decodeTransaction } from '../template/embedded-chain.ts';
import { WITNESS_COMMITMENT_HEADER, WITNESS_COMMITMENT_SCRIPT_BYTES } from '../template/template.ts';

/** PushSolution.extranonce is a B0_32: no full extranonce is longer (SV2.md §7). */
export const DECLARED_EXTRANONCE_BYTES_MAX = 32;

export interface DeclaredOutput {
  readonly valueSats: bigint;
  readonly scriptPubKey: Uint8Array;
}

export interface DeclaredCoinbase {
  /** prefix ‖ 0×extranonceBytes ‖ suffix: the full serialization (with witness). */
  readonly withWitness: Uint8Array;
  readonly extranonceBytes: number;
  readonly version: number;
  /** The scriptSig as declared, extranonce zeroed. */
  readonly scriptSig: Uint8Array;
  readonly inputSequence: number;
  readonly locktime: number;
  readonly outputs: readonly DeclaredOutput[];
  /** CompactSize(count) ‖ outputs: what SetCustomMiningJob.coinbase_tx_outputs must equal byte for byte. */
  readonly outputsSerialized: Uint8Array;
  /** The coinbase witness reserved value (BIP141: the single 32-byte witness item). */
  readonly witnessReservedValue: Uint8Array;
  /** The commitment (32 bytes) of the LAST output whose script is 6a24aa21a9ed ‖ 32 bytes (BIP141 takes the highest index). */
  readonly witnessCommitment: Uint8Array;
  /** That output's full script, for the engine's structural check. */
  readonly witnessCommitmentScript: Uint8Array;
  /** BIP141 weight of the coinbase. */
  readonly weight: number;
}

export type DeclaredCoinbaseResult = { readonly ok: true; readonly value: DeclaredCoinbase } | { readonly ok: false; readonly error: string };

/** CompactSize at `at`: [value, next] or null (truncated or non-canonical). */
function _compact(b: Uint8Array, at: number): [number, number] | null {
  const first = b[at];
  if (first === undefined) return null;
  if (first < 0xfd) return [first, at + 1];
  const width = first === 0xfd ? 2 : first === 0xfe ? 4 : 8;
  if (at + 1 + width > b.length) return null;
  let value = 0;
  for (let i = width; i >= 1; i--) value = value * 256 + b[at + i]!;
  if ((width === 2 && value < 0xfd) || (width === 4 && value <= 0xffff) || (width === 8 && value <= 0xffffffff)) return null;
  return [value, at + 1 + width];
}

function _le64(v: bigint): Uint8Array {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** `Vec<TxOut>` consensus serialization (SV2.md §7: AllocateMiningJobToken.Success, SetCustomMiningJob). */
export function serializeOutputs(outputs: readonly DeclaredOutput[]): Uint8Array {
  return concatBytes(compactSize(outputs.length), ...outputs.flatMap((o) => [_le64(o.valueSats), compactSize(o.scriptPubKey.length), o.scriptPubKey]));
}

/** Rebuild and check the declared coinbase. */
export function rebuildDeclaredCoinbase(prefix: Uint8Array, suffix: Uint8Array): DeclaredCoinbaseResult {
  const fail = (error: string): DeclaredCoinbaseResult => ({ ok: false, error });
  // version(4) ‖ marker 00 ‖ flag 01 ‖ input count 01 ‖ outpoint(36) ‖ scriptSig length …
  if (prefix.length < 4 + 2 + 1 + 36 + 1) return fail(`coinbase_tx_prefix is ${prefix.length} bytes, shorter than version, marker, flag, input count, outpoint and scriptSig length`);
  if (prefix[4] !== 0x00 || prefix[5] !== 0x01) return fail('coinbase_tx_prefix has no BIP141 marker and flag (DeclareMiningJob carries the coinbase WITH its witness)');
  if (prefix[6] !== 0x01) return fail(`a coinbase has exactly one input, the prefix says ${prefix[6]}`);
  const lengthAt = 4 + 2 + 1 + 36;
  const sl = _compact(prefix, lengthAt);
  if (sl === null) return fail('coinbase_tx_prefix: truncated scriptSig length');
  const [scriptSigBytes, scriptSigStart] = sl;
  const inPrefix = prefix.length - scriptSigStart;
  const extranonceBytes = scriptSigBytes - inPrefix;
  if (extranonceBytes < 0) return fail(`coinbase_tx_prefix holds ${inPrefix} scriptSig bytes, more than the declared scriptSig length ${scriptSigBytes}`);
  if (extranonceBytes > DECLARED_EXTRANONCE_BYTES_MAX) return fail(`the extranonce would be ${extranonceBytes} bytes, more than ${DECLARED_EXTRANONCE_BYTES_MAX}`);
  const full = concatBytes(prefix, new Uint8Array(extranonceBytes), suffix);
  const decoded = decodeTransaction(full);
  if (decoded === null) return fail('prefix ‖ extranonce ‖ suffix does not decode as a transaction');
  if (decoded.end !== full.length) return fail(`${full.length - decoded.end} bytes after the coinbase locktime`);
  const tx = decoded.tx;
  if (tx.inputs.length !== 1) return fail(`a coinbase has exactly one input, got ${tx.inputs.length}`);
  const input = tx.inputs[0]!;
  if (!input.prevTxid.every((b) => b === 0) || input.vout !== 0xffffffff) return fail('the input outpoint is not null (32×00, index 0xffffffff)');
  if (input.scriptSig.length < 2 || input.scriptSig.length > 100) return fail(`coinbase scriptSig must be 2..100 bytes, got ${input.scriptSig.length}`);
  if (!tx.hasWitness || input.witness.length !== 1 || input.witness[0]!.length !== 32) return fail('the coinbase witness is not exactly one 32-byte reserved value (BIP141)');
  if (tx.outputs.length === 0) return fail('a coinbase needs at least one output');
  let commitmentIndex = -1;
  tx.outputs.forEach((o, i) => {
    const s = o.scriptPubKey;
    if (s.length >= WITNESS_COMMITMENT_SCRIPT_BYTES && equalBytes(s.subarray(0, WITNESS_COMMITMENT_HEADER.length), WITNESS_COMMITMENT_HEADER)) commitmentIndex = i;
  });
  if (commitmentIndex < 0) return fail('no witness commitment output (6a24aa21a9ed ‖ 32 bytes)');
  const commitmentScript = tx.outputs[commitmentIndex]!.scriptPubKey;
  const outputs = tx.outputs.map((o) => ({ valueSats: o.valueSats, scriptPubKey: Uint8Array.from(o.scriptPubKey) }));
  return {
    ok: true,
    value: {
      withWitness: full,
      extranonceBytes,
      version: tx.version,
      scriptSig: Uint8Array.from(input.scriptSig),
      inputSequence: input.sequence,
      locktime: tx.locktime,
      outputs,
      outputsSerialized: serializeOutputs(outputs),
      witnessReservedValue: Uint8Array.from(input.witness[0]!),
      witnessCommitment: Uint8Array.from(commitmentScript.subarray(WITNESS_COMMITMENT_HEADER.length, WITNESS_COMMITMENT_SCRIPT_BYTES)),
      witnessCommitmentScript: Uint8Array.from(commitmentScript.subarray(0, WITNESS_COMMITMENT_SCRIPT_BYTES)),
      weight: tx.weight,
    },
  };
}
