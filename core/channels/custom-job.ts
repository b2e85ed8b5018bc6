// A miner-proposed job (SetCustomMiningJob, issue 4 item 6) as a job source for MiningChannels.
//
// SRI builds a custom job's coinbase differently from a pool job (SV2.md §5.4):
//
//   version = coinbase_tx_version ‖ 01 ‖ 32×00 ‖ ffffffff (null outpoint)
//   ‖ len(scriptSig) ‖ scriptSig ‖ coinbase_tx_input_nSequence
//   ‖ coinbase_tx_outputs   (the consensus Vec<TxOut>: its CompactSize count is already in it)
//   [‖ 01 20 ‖ 32×00]       (witness reserved value, see below)
//   ‖ coinbase_tx_locktime
//
//   scriptSig = coinbase_prefix ‖ full extranonce      (NO push opcode before the extranonce)
//
// The extranonce slot sits at the end of the scriptSig, so prefix/suffix split exactly like a
// pool job's and the channel's share path (scratch buffer, merkle fold) works unchanged.
//
// Witness: the coinbase carries the witness reserved value only when one of its outputs is a
// BIP141 witness commitment (`6a24aa21a9ed…`); a coinbase witness in a block without a
// commitment is invalid (`unexpected-witness`). The txid never includes it.
//
// Transactions: the gateway sees only the merkle path, not the transactions (there is no Job
// Declaration here). A block found on a custom job can be assembled only when they are known:
// the caller passes them (a path equal to a known template's, or an empty path = coinbase-only
// block); otherwise `assembleBlock` returns an EMPTY block and the gateway records the block
// without submitting it (the miner's own template provider propagates it, SV2 JD model).
import { concatBytes } from '../bytes.ts';
import { compactSize, le32, type CoinbaseParts, type TxOut } from '../mining/coinbase.ts';
import { serializeBlock, WITNESS_COMMITMENT_HEADER, type TemplateTransaction } from '../template/template.ts';
import type { JobCoinbase } from './job-factory.ts';

/** The SetCustomMiningJob fields that make the coinbase and the header (codec names). */
export interface CustomJobFields {
  readonly version: number;
  readonly prevHash: Uint8Array;
  readonly minNtime: number;
  readonly nbits: number;
  readonly coinbaseTxVersion: number;
  readonly coinbasePrefix: Uint8Array;
  readonly coinbaseTxInputNSequence: number;
  readonly coinbaseTxOutputs: Uint8Array;
  readonly coinbaseTxLocktime: number;
  readonly merklePath: readonly Uint8Array[];
}

const NULL_OUTPOINT = concatBytes(new Uint8Array(32), new Uint8Array([0xff, 0xff, 0xff, 0xff]));
const COINBASE_WITNESS = concatBytes(new Uint8Array([0x01, 0x20]), new Uint8Array(32));
const SEGWIT_MARKER_FLAG = new Uint8Array([0x00, 0x01]);

function _startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

/**
 * The custom coinbase for a full extranonce of `extranonceBytes`. Throws RangeError when the
 * scriptSig would exceed 100 bytes (callers verify the prefix length first).
 */
export function customCoinbaseParts(fields: CustomJobFields, outputs: readonly TxOut[], extranonceBytes: number): CoinbaseParts {
  const scriptSigBytes = fields.coinbasePrefix.length + extranonceBytes;
  if (scriptSigBytes > 100) throw new RangeError(`customCoinbaseParts: scriptSig would be ${scriptSigBytes} bytes, maximum 100`);
  const version = le32(fields.coinbaseTxVersion >>> 0, 'coinbaseTxVersion');
  // scriptSig ≤ 100 bytes: its CompactSize length is one byte.
  const afterVersion = concatBytes(new Uint8Array([0x01]), NULL_OUTPOINT, compactSize(scriptSigBytes), fields.coinbasePrefix);
  const sequence = le32(fields.coinbaseTxInputNSequence >>> 0, 'coinbaseTxInputNSequence');
  const locktime = le32(fields.coinbaseTxLocktime >>> 0, 'coinbaseTxLocktime');
  const segwit = outputs.some((o) => _startsWith(o.scriptPubKey, WITNESS_COMMITMENT_HEADER));
  return {
    prefix: concatBytes(version, afterVersion),
    suffix: concatBytes(sequence, fields.coinbaseTxOutputs, locktime),
    prefixWithWitness: segwit ? concatBytes(version, SEGWIT_MARKER_FLAG, afterVersion) : concatBytes(version, afterVersion),
    suffixWithWitness: segwit ? concatBytes(sequence, fields.coinbaseTxOutputs, COINBASE_WITNESS, locktime) : concatBytes(sequence, fields.coinbaseTxOutputs, locktime),
    extranonceBytes,
  };
}

/** A custom job in the shape MiningChannels takes as a job source (channels.ts JobSource). */
export class CustomJobSource {
  /** 0: custom jobs come from no template of ours (share and block events report "0"). */
  readonly templateId = 0n;
  readonly height: number;
  readonly prevHash: Uint8Array;
  readonly nbits: number;
  readonly version: number;
  readonly networkTarget: bigint;
  readonly merklePath: readonly Uint8Array[];
  /** Whether a found block can be assembled (transactions known). */
  readonly transactionsKnown: boolean;
  readonly #fields: CustomJobFields;
  readonly #outputs: readonly TxOut[];
  readonly #transactions: readonly Pick<TemplateTransaction, 'data'>[] | null;
  readonly #byLength = new Map<number, JobCoinbase>();

  constructor(options: {
    fields: CustomJobFields;
    /** coinbase_tx_outputs parsed (already verified to parse). */
    outputs: readonly TxOut[];
    height: number;
    networkTarget: bigint;
    /** The block's other transactions in order, or null when unknown. */
    transactions: readonly Pick<TemplateTransaction, 'data'>[] | null;
  }) {
    const f = options.fields;
    this.#fields = f;
    this.#outputs = options.outputs;
    this.#transactions = options.transactions;
    this.transactionsKnown = options.transactions !== null;
    this.height = options.height;
    this.prevHash = Uint8Array.from(f.prevHash);
    this.nbits = f.nbits >>> 0;
    this.version = f.version >>> 0;
    this.networkTarget = options.networkTarget;
    this.merklePath = f.merklePath.map((h) => Uint8Array.from(h));
  }

  coinbaseParts(fullExtranonceBytes: number): CoinbaseParts {
    return this.coinbase(fullExtranonceBytes).parts;
  }

  coinbase(fullExtranonceBytes: number): JobCoinbase {
    let entry = this.#byLength.get(fullExtranonceBytes);
    if (entry === undefined) {
      const parts = customCoinbaseParts(this.#fields, this.#outputs, fullExtranonceBytes);
      const scratch = new Uint8Array(parts.prefix.length + fullExtranonceBytes + parts.suffix.length);
      scratch.set(parts.prefix, 0);
      scratch.set(parts.suffix, parts.prefix.length + fullExtranonceBytes);
      entry = { parts, scratch, extranonceOffset: parts.prefix.length };
      this.#byLength.set(fullExtranonceBytes, entry);
    }
    return entry;
  }

  /** Coinbase with witness (when segwit) and the block; `block` is EMPTY when transactions are unknown. */
  assembleBlock(header: Uint8Array, fullExtranonce: Uint8Array): { coinbase: Uint8Array; block: Uint8Array } {
    const parts = this.coinbaseParts(fullExtranonce.length);
    const coinbase = concatBytes(parts.prefixWithWitness, fullExtranonce, parts.suffixWithWitness);
    if (this.#transactions === null) return { coinbase, block: new Uint8Array(0) };
    return { coinbase, block: serializeBlock(header, coinbase, this.#transactions) };
  }
}
