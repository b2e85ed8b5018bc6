// Coinbase output constraints (SV2 spec §7.1 CoinbaseOutputConstraints; SV2.md §6): a TDP
// client tells the Template Provider how many bytes and sigops its own coinbase outputs (pool
// payouts, JD token outputs) will add, and the TP must never hand out a template that would be
// consensus-invalid once they are added together with a maximally-sized coinbase. This file is
// the pure arithmetic: the reservation, the refusal of requests no block can hold, and the
// trimming of a template to fit ("tailoring", one tailored copy per client constraint).
//
// Reservation (weight units), derived rather than copied so each byte is accounted for:
//   block header 80 B and the block's transaction-count CompactSize (≤ 3 B for < 65,536 txs):
//     (80 + 3) × 4 = 332
//   coinbase, non-witness part: version 4 ‖ input count 1 ‖ null outpoint 36 ‖ scriptSig
//     length 1 ‖ scriptSig 100 (the consensus maximum, as the spec demands) ‖ sequence 4 ‖
//     output count ≤ 3 (the spec: "consider the maximum additional bytes required in the output
//     count variable-length integer") ‖ the witness commitment output 8 + 1 + 38 = 47 ‖
//     locktime 4 = 200 B → × 4 = 800, plus the client's additional bytes × 4
//   coinbase witness: marker + flag 2 ‖ item count 1 ‖ item length 1 ‖ reserved value 32 = 36
//   total: 332 + 800 + 36 = 1168 + 4 × additional_size, exactly SV2.md §6's "segwit blocks need
//   1168 + 4·max_additional_size WU" (a legacy coinbase, without commitment and witness, would be
//   944). Every template we serve carries the witness commitment (core/template/template.ts), so
//   1168 always applies.
// Sigops: `coinbase_output_max_additional_sigops` is in sigop COST units, as Bitcoin Core's
// BlockAssembler (`coinbase_output_max_additional_sigops` seeds nBlockSigOpsCost) and SRI's
// stratum-apps `coinbase_output_constraints.rs` (p2pkh = 4) both count it; our own coinbase
// outputs (the OP_RETURN commitment) add none.
//
// Trimming (issue 10 item 1): while the kept transactions' weight exceeds `weightLimit − reserved`
// or their sigop cost exceeds `sigopLimit − additional_sigops`, drop the LAST kept transaction;
// then drop every transaction whose GBT `depends` names a dropped one (with parents-first order,
// which GBT guarantees, a kept prefix is already closed under `depends`; the pass is a guard
// against a node that breaks the order). Fees, the coinbase value, the merkle path and the
// witness commitment are recomputed for what is kept.
import { compactSize, serializeTxOut } from '../mining/coinbase.ts';
import { defaultSha256, type Sha256 } from '../mining/hash.ts';
import { coinbaseMerklePath } from '../mining/merkle.ts';
import {
  MAX_BLOCK_SIGOPS_COST,
  MAX_BLOCK_WEIGHT,
  witnessCommitment,
  witnessCommitmentScript,
  type BlockTemplate,
  type TemplateTransaction,
} from '../template/template.ts';

/** CoinbaseOutputConstraints as received (SV2.md §6 field names, our units in the names). */
export interface CoinbaseConstraints {
  readonly additionalSizeBytes: number;
  readonly additionalSigops: number;
}

/** 332 (header + tx count) + 800 (maximal coinbase body with commitment) + 36 (witness): see the header. */
export const COINBASE_RESERVED_WEIGHT_BASE = 1168;

/** A SubmitSolution carries the coinbase in a B0_64K (SV2.md §6): no coinbase can be larger. */
export const COINBASE_TX_BYTES_MAX = 65_535;

/** Non-witness bytes of the maximal coinbase before the client's outputs (see the header: 200). */
const COINBASE_BASE_BYTES = 200;
/** Witness bytes of our coinbase (marker, flag, one 32-byte item). */
const COINBASE_WITNESS_BYTES = 36;

/** Weight units to keep free for the coinbase and header given the client's additional bytes. */
export function coinbaseReservedWeight(additionalSizeBytes: number): number {
  return COINBASE_RESERVED_WEIGHT_BASE + 4 * additionalSizeBytes;
}

/**
 * Why no block could honour `constraints`, or null when they fit. Refused: a reservation larger
 * than the block weight limit, more additional sigops than the block's sigop limit, or a maximal
 * coinbase that could not travel in SubmitSolution's B0_64K.
 */
export function constraintsProblem(constraints: CoinbaseConstraints, limits: { readonly weightLimit?: number; readonly sigopLimit?: number } = {}): string | null {
  const weightLimit = limits.weightLimit ?? MAX_BLOCK_WEIGHT;
  const sigopLimit = limits.sigopLimit ?? MAX_BLOCK_SIGOPS_COST;
  const reserved = coinbaseReservedWeight(constraints.additionalSizeBytes);
  if (reserved > weightLimit) {
    return `coinbase_output_max_additional_size ${constraints.additionalSizeBytes} B needs ${reserved} WU, more than the block weight limit ${weightLimit}`;
  }
  const coinbaseBytes = COINBASE_BASE_BYTES + COINBASE_WITNESS_BYTES + constraints.additionalSizeBytes;
  if (coinbaseBytes > COINBASE_TX_BYTES_MAX) {
    return `coinbase_output_max_additional_size ${constraints.additionalSizeBytes} B makes a ${coinbaseBytes} B coinbase, over SubmitSolution's B0_64K (${COINBASE_TX_BYTES_MAX} B)`;
  }
  if (constraints.additionalSigops > sigopLimit) {
    return `coinbase_output_max_additional_sigops ${constraints.additionalSigops} is more than the block sigop limit ${sigopLimit}`;
  }
  return null;
}

/** A template as served to one client: the base template trimmed to the client's constraints. */
export interface TailoredTemplate {
  readonly base: BlockTemplate;
  readonly constraints: CoinbaseConstraints;
  /** Kept transactions, in template order (RequestTransactionData.Success.transaction_list). */
  readonly transactions: readonly TemplateTransaction[];
  /** How many of the base template's transactions were dropped to fit. */
  readonly droppedCount: number;
  readonly feesSats: bigint;
  /** coinbase_tx_value_remaining: subsidy + kept fees. */
  readonly coinbaseValueSats: bigint;
  /** Siblings of the coinbase over the kept txids (NewTemplate.merkle_path). */
  readonly merklePath: readonly Uint8Array[];
  /** The witness commitment output script over the kept wtxids. */
  readonly witnessCommitmentScript: Uint8Array;
  /** NewTemplate.coinbase_tx_outputs (one output, the commitment; no count prefix). */
  readonly coinbaseOutputs: Uint8Array;
  readonly coinbaseOutputsCount: number;
  /** Kept transactions' weight and sigop cost, and the reservation on top of them. */
  readonly transactionsWeight: number;
  readonly transactionsSigops: number;
  readonly reservedWeight: number;
}

/**
 * Trim `template` to `constraints` (see the header). Throws RangeError only on misuse (constraints
 * that `constraintsProblem` refuses must not be passed).
 */
export function tailorTemplate(template: BlockTemplate, constraints: CoinbaseConstraints, sha256: Sha256 = defaultSha256): TailoredTemplate {
  const problem = constraintsProblem(constraints, template);
  if (problem !== null) throw new RangeError(`tailorTemplate: ${problem}`);
  const reservedWeight = coinbaseReservedWeight(constraints.additionalSizeBytes);
  const weightBudget = template.weightLimit - reservedWeight;
  const sigopBudget = template.sigopLimit - constraints.additionalSigops;
  const txs = template.transactions;
  let weight = 0;
  let sigops = 0;
  for (const tx of txs) {
    weight += tx.weight;
    sigops += tx.sigops;
  }
  let keep = txs.length;
  while (keep > 0 && (weight > weightBudget || sigops > sigopBudget)) {
    keep -= 1;
    weight -= txs[keep]!.weight;
    sigops -= txs[keep]!.sigops;
  }
  // Dependants of dropped transactions (GBT `depends` is 1-based into the template's list).
  const kept: TemplateTransaction[] = [];
  const dropped = new Set<number>();
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i]!;
    const index1 = i + 1;
    if (i >= keep || tx.depends.some((d) => d >= index1 || dropped.has(d))) {
      if (i < keep) {
        weight -= tx.weight;
        sigops -= tx.sigops;
      }
      dropped.add(index1);
      continue;
    }
    kept.push(tx);
  }
  if (dropped.size === 0) {
    return {
      base: template,
      constraints,
      transactions: txs,
      droppedCount: 0,
      feesSats: _fees(txs),
      coinbaseValueSats: template.coinbaseValue,
      merklePath: template.merklePath,
      witnessCommitmentScript: template.defaultWitnessCommitment,
      ..._outputs(template.defaultWitnessCommitment),
      transactionsWeight: weight,
      transactionsSigops: sigops,
      reservedWeight,
    };
  }
  const allFees = _fees(txs);
  const keptFees = _fees(kept);
  const commitment = witnessCommitmentScript(witnessCommitment(kept.map((t) => t.wtxid), undefined, sha256));
  return {
    base: template,
    constraints,
    transactions: kept,
    droppedCount: dropped.size,
    feesSats: keptFees,
    coinbaseValueSats: template.coinbaseValue - (allFees - keptFees),
    merklePath: coinbaseMerklePath(kept.map((t) => t.txid), sha256),
    witnessCommitmentScript: commitment,
    ..._outputs(commitment),
    transactionsWeight: weight,
    transactionsSigops: sigops,
    reservedWeight,
  };
}

function _fees(txs: readonly TemplateTransaction[]): bigint {
  let sum = 0n;
  for (const tx of txs) sum += tx.fee;
  return sum;
}

function _outputs(commitmentScript: Uint8Array): { coinbaseOutputs: Uint8Array; coinbaseOutputsCount: number } {
  return { coinbaseOutputs: serializeTxOut({ valueSats: 0n, scriptPubKey: commitmentScript }, 'witness commitment'), coinbaseOutputsCount: 1 };
}

/** Weight of a block built from `tailored` with a coinbase of `coinbaseBytes` total and `coinbaseWitnessBytes` of witness. */
export function blockWeight(tailored: Pick<TailoredTemplate, 'transactions' | 'transactionsWeight'>, coinbaseBytes: number, coinbaseWitnessBytes: number): number {
  const countBytes = compactSize(1 + tailored.transactions.length).length;
  return (80 + countBytes) * 4 + (coinbaseBytes - coinbaseWitnessBytes) * 4 + coinbaseWitnessBytes + tailored.transactionsWeight;
}
