// Judging a declared job (issue 11 item 3; SPEC §14): the checks the declared coinbase must pass,
// then the SAME policy engine as templates (core/policy/engine.ts) on a template assembled from
// the declaration, so fees, tiers, blocklist, weight and sigops are decided by one piece of code
// with one set of reason codes. Pure; the order is fixed and the first failure is the verdict:
//
//   1. tip            a released template must exist: a declaration names no prev_hash, it
//                     builds on the tip the server knows (prevhash_unknown otherwise)
//   2. fees           every declared transaction's fee is known (jd_tx_fee_unknown)
//   3. BIP34          scriptSig starts with the push of the next height (bip34_height_mismatch)
//   4. witness        the coinbase's commitment = SHA256d(witness root of 0 ‖ declared wtxids ‖
//                     reserved value) (witness_commitment_invalid)
//   5. pool paid      every configured payout script is an output, no value goes elsewhere, and
//                     the payout scripts get at least subsidy + declared fees: "in full"
//                     (jd_coinbase_pool_not_paid); more than that is coinbase_value_too_high
//   6. the engine     on { the tip's prev_hash, nbits, limits; the declared version, transactions
//                     and commitment; coinbase value = the declared outputs' total } with the
//                     caller's ChainView: structure, prevhash, nbits, height, value, weight,
//                     sigops, blocklist (txids and output scripts), fee tier.
//
// Weight in step 6 is the engine's, i.e. with the gateway's own coinbase; the declared coinbase's
// real weight is also checked here (step 6b) so a fat coinbase cannot push the block over.
import { bytesToHex, equalBytes, reversed } from '../bytes.ts';
import type { Sha256, Sha256d } from '../mining/hash.ts';
import { matchedBefore, nodeHasherOf, SparseMerkle } from '../mining/merkle-tree.ts';
import { sha256dPair } from '../mining/sha256d64.ts';
import { blockSubsidy } from '../policy/bitcoin.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import { rejectedVerdict, type ChainView, type Verdict } from '../policy/types.ts';
import { bip34HeightPush, type BlockTemplate, type TemplateTransaction } from '../template/template.ts';
import type { DeclaredCoinbase } from './declared-coinbase.ts';
import type { DeclarationResolution, DeclaredTransaction } from './transactions.ts';

export interface DeclarationInput {
  /** A synthetic id for the assembled template (events and replay key on it). */
  readonly declarationId: bigint;
  readonly version: number;
  readonly coinbase: DeclaredCoinbase;
  readonly transactions: readonly DeclaredTransaction[];
  /** The template the gate released last: the tip, nbits, time and limits the job builds on. */
  readonly tip: BlockTemplate | null;
  readonly chain: ChainView;
  /** A template declared positionally (transactions.ts resolveDeclaration): its trees are reused. */
  readonly reuse?: DeclarationResolution['reuse'];
  /** The double SHA-256 for the merkle trees (the provider's: doubleHashOf); default pure TS. */
  readonly sha256d?: Sha256d;
}

export interface DeclarationJudgement {
  readonly verdict: Verdict;
  /** The template the engine judged (null when a coinbase check failed first). */
  readonly template: BlockTemplate | null;
  readonly totalFeesSats: bigint | null;
}

const _ZERO_32 = new Uint8Array(32);
const _SAFE_SATS = BigInt(Number.MAX_SAFE_INTEGER);

function _display(hash: Uint8Array): string {
  return bytesToHex(reversed(hash));
}

/** `_sha256` is unused (kept for callers); the trees take `input.sha256d`. */
export function judgeDeclaration(input: DeclarationInput, engine: PolicyEngine, _sha256?: Sha256): DeclarationJudgement {
  const { coinbase, transactions: txs, tip, chain } = input;
  const none = (verdict: Verdict): DeclarationJudgement => ({ verdict, template: null, totalFeesSats: null });
  // 1. tip
  if (tip === null) return none(rejectedVerdict('prevhash_unknown', 'no template released yet: the chain tip the job would build on is unknown', {}));
  // 2. fees. Summed as a Number while that is exact (as the policy engine does): a BigInt `+=`
  // allocates, 4,000 times per verdict. Every fee below 2^53 and a total below 2^53 is the common
  // case by far (MAX_MONEY is 2.1e15); otherwise the sum is redone in BigInt.
  let feesSats = 0;
  let exact = true;
  for (let i = 0; i < txs.length; i++) {
    const fee = txs[i]!.fee;
    if (fee === null) {
      return none(rejectedVerdict('jd_tx_fee_unknown', `transaction ${i} txid=${_display(txs[i]!.txid)}: fee unknown (in no template or mempool, and not every input spends a known output)`, { tx_index: i, txid: _display(txs[i]!.txid) }));
    }
    if (fee > _SAFE_SATS) exact = false;
    else feesSats += Number(fee);
  }
  const fees = exact && feesSats <= Number.MAX_SAFE_INTEGER ? BigInt(feesSats) : txs.reduce((s, t) => s + t.fee!, 0n);
  // 3. BIP34 (height of the block on the tip)
  const height = chain.tipHeight !== null ? chain.tipHeight + 1 : tip.height;
  const push = bip34HeightPush(height);
  if (coinbase.scriptSig.length < push.length || !equalBytes(coinbase.scriptSig.subarray(0, push.length), push)) {
    return none(rejectedVerdict('bip34_height_mismatch', `coinbase scriptSig does not start with the BIP34 push of height ${height}`, { expected_height: height }));
  }
  // 4. witness commitment over the declared wtxids
  // BIP141: commitment = SHA256d(witness root (coinbase wtxid = 0) ‖ reserved value).
  // Both trees over leaf 0 = 32×00 (the coinbase's wtxid by BIP141; for txids a stand-in no node of
  // the coinbase path depends on), reusing the positionally declared template's nodes.
  const hash = nodeHasherOf(input.sha256d);
  const reuse = input.reuse ?? null;
  const leafCount = txs.length + 1;
  const before = reuse === null ? null : matchedBefore(reuse.match, leafCount);
  const wtxidLeaf = (i: number): Uint8Array => (i === 0 ? _ZERO_32 : txs[i - 1]!.wtxid);
  const witnessRoot = new SparseMerkle(leafCount, wtxidLeaf, hash, reuse === null ? null : { base: reuse.trees.wtxids, matchedBefore: before! }).root();
  const commitment = sha256dPair(witnessRoot, coinbase.witnessReservedValue);
  if (!equalBytes(commitment, coinbase.witnessCommitment)) {
    return none(rejectedVerdict('witness_commitment_invalid', `the coinbase commits to ${bytesToHex(coinbase.witnessCommitment)}, the declared wtxids give ${bytesToHex(commitment)}`, { tx_count: txs.length }));
  }
  // 5. pool paid in full
  const payoutKeys = new Set(engine.settings.payout.map((p) => bytesToHex(p.scriptPubKey)));
  const subsidy = blockSubsidy(height, engine.settings.subsidyHalvingInterval);
  let poolPaid = 0n;
  let total = 0n;
  const present = new Set<string>();
  for (let i = 0; i < coinbase.outputs.length; i++) {
    const o = coinbase.outputs[i]!;
    const key = bytesToHex(o.scriptPubKey);
    total += o.valueSats;
    if (payoutKeys.has(key)) {
      poolPaid += o.valueSats;
      present.add(key);
    } else if (o.valueSats > 0n) {
      return none(rejectedVerdict('jd_coinbase_pool_not_paid', `output ${i} pays ${o.valueSats} sats to non-pool script ${key}`, { output_index: i, script_hex: key, value_sats: Number(o.valueSats) }));
    }
  }
  const absent = [...payoutKeys].find((k) => !present.has(k));
  if (absent !== undefined) return none(rejectedVerdict('jd_coinbase_pool_not_paid', `payout script ${absent} is not an output of the declared coinbase`, { script_hex: absent }));
  if (poolPaid < subsidy + fees) {
    return none(rejectedVerdict('jd_coinbase_pool_not_paid', `pool outputs get ${poolPaid} sats < subsidy+fees=${subsidy + fees}`, { pool_paid: Number(poolPaid), subsidy: Number(subsidy), total_fees: Number(fees) }));
  }
  // 6. the engine, on the declaration as a template
  const template: BlockTemplate = {
    templateId: input.declarationId,
    height,
    version: input.version >>> 0,
    prevHash: tip.prevHash,
    nbits: tip.nbits,
    target: tip.target,
    curtime: tip.curtime,
    mintime: tip.mintime,
    maxtime: tip.maxtime,
    coinbaseValue: total,
    // Step 2 found every fee known, and every declared transaction's `depends` is NO_DEPENDS
    // (transactions.ts): the list is a template's transaction list as it is, no copy per verdict.
    transactions: txs as readonly TemplateTransaction[],
    defaultWitnessCommitment: coinbase.witnessCommitmentScript,
    witnessCommitmentSource: 'computed',
    merklePath: new SparseMerkle(leafCount, (i) => (i === 0 ? _ZERO_32 : txs[i - 1]!.txid), hash, reuse === null ? null : { base: reuse.trees.txids, matchedBefore: before! }).pathOfLeaf0(),
    sigopLimit: tip.sigopLimit,
    weightLimit: tip.weightLimit,
    longpollId: null,
    rules: tip.rules,
  };
  // Step 4 verified the commitment with the declared reserved value, and the merkle path above is
  // computed from the declared txids: verify_commitments has nothing left to check.
  const verdict = engine.evaluate(template, chain, { commitmentsVerified: true });
  if (!verdict.accepted) return { verdict, template, totalFeesSats: fees };
  // 6b. the weight with the DECLARED coinbase (the engine assumed the gateway's).
  const txCount = txs.length + 1;
  const weight = (80 + (txCount < 0xfd ? 1 : txCount <= 0xffff ? 3 : 5)) * 4 + coinbase.weight + txs.reduce((w, t) => w + t.weight, 0);
  const maxWeight = Math.min(engine.settings.maxTemplateWeight, tip.weightLimit);
  if (weight > maxWeight) {
    return { verdict: rejectedVerdict('template_weight_exceeded', `weight=${weight} > max_template_weight=${maxWeight} (declared coinbase ${coinbase.weight} WU)`, { weight, max_template_weight: maxWeight }), template, totalFeesSats: fees };
  }
  return { verdict, template, totalFeesSats: fees };
}
