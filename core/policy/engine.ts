// The policy engine (SPEC §7, issue 4 item 2): judge a BlockTemplate against operator policy and
// return a Verdict of exactly the seed's shape (types.ts). Pure and synchronous: the same code
// runs embedded in the gateway and inside `reservegrid verifier` (adapters/verifier-server.ts).
//
// Checks run in this fixed order and the FIRST failure is the verdict (one reason per verdict,
// so the code is a stable metric label; docs/policy.md lists the order):
//   1. structure        template_malformed
//   2. prevhash         prevhash_stale / prevhash_unknown         (ChainView, caller-supplied)
//   3. nbits            nbits_mismatch                             (decodes; equals expected)
//   4. BIP34 height     bip34_height_mismatch                      (tip height + 1)
//   5. coinbase         coinbase_payout_missing / coinbase_payout_unpaid / coinbase_value_too_high
//   6. witness          witness_commitment_invalid
//   7. weight, sigops   template_weight_exceeded / template_sigops_exceeded
//   8. blocklist        blocklisted_txid / blocklisted_script
//   9. fee tier         tx_count_below_minimum / total_fees_below_minimum / avg_fee_below_minimum
// Cheap structural checks first, then chain facts, then the coinbase AS THE GATEWAY WILL BUILD IT
// (the same JobFactory inputs: payout split by core/channels splitReward, BIP34 push, pool tag,
// the widest extranonce), then limits, then the operator's choices (blocklist, fees).
//
// Cost budget (issue 4 acceptance: p99 < 5 ms embedded for 4,000 transactions): everything is
// one pass over the transactions with no per-transaction allocation except the 32-byte txid key
// for the duplicate check. Re-hashing the merkle tree and the witness commitment (2 SHA256d per
// transaction each) costs far more than the budget on a slow core, so it is the opt-in
// `policy.verify_commitments`; gbt.ts already recomputes the commitment when it builds a template.
import { bytesToHex, equalBytes, hexToBytes, reversed } from '../bytes.ts';
import { splitReward, type PayoutScript } from '../channels/job-factory.ts';
import type { Config } from '../config/schema.ts';
import { buildCoinbase, coinbaseStripped, coinbaseWithWitness, serializeTxOut, EXTRANONCE_BYTES_MAX } from '../mining/coinbase.ts';
import { payoutScript } from '../mining/address.ts';
import { sha256dPair } from '../mining/sha256d64.ts';
import { targetFromNbits } from '../mining/target.ts';
import type { ReasonCode } from '../reason-codes.ts';
import {
  bip34HeightPush,
  MAX_BLOCK_SIGOPS_COST,
  MAX_BLOCK_WEIGHT,
  WITNESS_COMMITMENT_HEADER,
  WITNESS_COMMITMENT_SCRIPT_BYTES,
  type BlockTemplate,
} from '../template/template.ts';
import { blockSubsidy, forEachOutputScript, legacySigops, parseTxOutVec } from './bitcoin.ts';
import { acceptedVerdict, rejectedVerdict, type ChainView, type PolicyContextValue, type Verdict } from './types.ts';

export interface FeeTierPolicy {
  readonly name: string;
  readonly minAvgFeeSats: number;
  readonly minTotalFeesSats: number;
  readonly minTxCount: number;
  /** Selector for `by_template_weight`. */
  readonly minTemplateWeight: number;
}

export type FeeTierRule = 'fixed' | 'by_template_weight';

/** Everything the engine decides with; `policySettingsFromConfig` builds it from [policy] + [mining]. */
export interface PolicySettings {
  readonly feeTiers: readonly FeeTierPolicy[];
  readonly feeTierRule: FeeTierRule;
  /** Tier name for `fixed`; '' = no fee policy. */
  readonly feeTier: string;
  /** Txids to refuse, 32 bytes INTERNAL order (config has display order). */
  readonly blocklistTxids: readonly Uint8Array[];
  readonly blocklistScripts: readonly Uint8Array[];
  readonly maxTemplateWeight: number;
  readonly maxTemplateSigops: number;
  readonly subsidyHalvingInterval: number;
  readonly verifyCommitments: boolean;
  /** mining.payout: the coinbase outputs the gateway builds. */
  readonly payout: readonly PayoutScript[];
  /** mining.pool_tag (it occupies scriptSig bytes, hence coinbase weight). */
  readonly poolTag: string;
}

export function policySettingsFromConfig(config: Pick<Config, 'policy' | 'mining'>): PolicySettings {
  const p = config.policy;
  return {
    feeTiers: p.fee_tiers.map((t) => ({
      name: t.name,
      minAvgFeeSats: t.min_avg_fee_sats,
      minTotalFeesSats: t.min_total_fees_sats,
      minTxCount: t.min_tx_count,
      minTemplateWeight: t.min_template_weight,
    })),
    feeTierRule: p.fee_tier_rule,
    feeTier: p.fee_tier,
    blocklistTxids: p.blocklist_txids.map((h) => reversed(hexToBytes(h))),
    blocklistScripts: p.blocklist_scripts_hex.map((h) => hexToBytes(h)),
    maxTemplateWeight: p.max_template_weight,
    maxTemplateSigops: p.max_template_sigops,
    subsidyHalvingInterval: p.subsidy_halving_interval,
    verifyCommitments: p.verify_commitments,
    payout: config.mining.payout.map((o) => ({ scriptPubKey: payoutScript(o), weight: o.weight })),
    poolTag: config.mining.pool_tag,
  };
}

/** A miner-proposed job (SetCustomMiningJob fields the policy judges; codec names). */
export interface CustomJobProposal {
  readonly version: number;
  readonly prevHash: Uint8Array;
  readonly minNtime: number;
  readonly nbits: number;
  readonly coinbasePrefix: Uint8Array;
  readonly coinbaseTxOutputs: Uint8Array;
  readonly merklePath: readonly Uint8Array[];
}

export interface CustomJobContext {
  readonly chain: ChainView;
  /** Smallest acceptable min_ntime (the current template's mintime: median time past + 1); null = unchecked. */
  readonly minNtime: number | null;
  /** Largest acceptable min_ntime (the current template's maxtime, or wall time + 2 h); null = unchecked. */
  readonly maxNtime: number | null;
}

export type CustomJobResult =
  | { readonly ok: true; readonly poolPaidSats: bigint }
  | { readonly ok: false; readonly reasonCode: ReasonCode; readonly wire: string; readonly detail: string };

/** Deepest possible merkle path: a block of MAX_BLOCK_WEIGHT holds at most 4e6 / 240 = 16,666
 * transactions of the 60-byte consensus minimum (1 input 41 B + 1 output 9 B + 10 B), plus the
 * coinbase: 16,667 leaves need ceil(log2(16,667)) = 15 levels. */
export const MERKLE_PATH_DEPTH_MAX = 15;

/** BIP9 versions carry 001 in the top three bits (versionbits.h VERSIONBITS_TOP_MASK/BITS). */
/** Consensus MAX_MONEY: 21,000,000 BTC in sats. No fee, and no sum of fees, can exceed it. */
const MAX_MONEY_SATS = 2_100_000_000_000_000n;
const MAX_MONEY_NUMBER = 2_100_000_000_000_000;
const VERSIONBITS_TOP_MASK = 0xe0000000;
const VERSIONBITS_TOP_BITS = 0x20000000;

/** First 6 bytes of a hash as a number (48 bits, exact in a double): a Map key with no string
 * or allocation. Hashes are uniform, so prefix collisions are rare; every hit is confirmed with a
 * full compare. Building a 32-char string per transaction instead costs ~1 ms per 4,000. */
/**
 * 48-bit txid prefix → first transaction index, as an open-addressing table in typed arrays
 * reused across verdicts. A Map refilled with 4,000 entries per verdict made Bun's collector
 * pause often enough to push the embedded p99 over 5 ms; this allocates only when a larger
 * template than ever before arrives. `reset` starts a new generation instead of clearing.
 */
class _PrefixIndex {
  #keys = new Float64Array(0);
  #values = new Int32Array(0);
  #generations = new Uint32Array(0);
  #generation = 0;
  #mask = 0;

  reset(entries: number): void {
    let capacity = 16;
    while (capacity < entries * 2) capacity *= 2;
    if (capacity > this.#keys.length) {
      this.#keys = new Float64Array(capacity);
      this.#values = new Int32Array(capacity);
      this.#generations = new Uint32Array(capacity);
      this.#generation = 0;
    }
    this.#mask = this.#keys.length - 1;
    this.#generation = (this.#generation + 1) >>> 0;
    if (this.#generation === 0) {
      this.#generations.fill(0); // wrapped after 2^32 verdicts: forget every old generation
      this.#generation = 1;
    }
  }

  /** The index stored for `key`, or -1; stores `value` when the key is new. */
  getOrSet(key: number, value: number): number {
    const keys = this.#keys;
    const generations = this.#generations;
    // Keys are 48-bit integers: mix the high and low words (key >>> 0 is key mod 2^32).
    let slot = Math.imul((key >>> 0) ^ Math.floor(key / 0x100000000), 0x9e3779b1) & this.#mask;
    while (generations[slot] === this.#generation) {
      if (keys[slot] === key) return this.#values[slot]!;
      slot = (slot + 1) & this.#mask;
    }
    generations[slot] = this.#generation;
    keys[slot] = key;
    this.#values[slot] = value;
    return -1;
  }
}

function _prefix48(b: Uint8Array): number {
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16)) + (b[3]! | (b[4]! << 8) | (b[5]! << 16)) * 0x1000000;
}

/** FNV-1a over a script: the bucket key of the script blocklist (hits confirmed by equalBytes). */
function _fnv1a(data: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h >>> 0;
}

/** A set of byte strings bucketed by a number key; `has` confirms with a full compare. */
class _ByteSet {
  readonly #buckets = new Map<number, Uint8Array[]>();
  get size(): number {
    return this.#buckets.size;
  }
  add(key: number, value: Uint8Array): void {
    const list = this.#buckets.get(key);
    if (list === undefined) this.#buckets.set(key, [value]);
    else list.push(value);
  }
  /** Is `data[start..end)` in the set (under `key`)? */
  has(key: number, data: Uint8Array, start = 0, end = data.length): boolean {
    const list = this.#buckets.get(key);
    if (list === undefined) return false;
    const len = end - start;
    for (const v of list) {
      if (v.length !== len) continue;
      let i = 0;
      while (i < len && v[i] === data[start + i]) i++;
      if (i === len) return true;
    }
    return false;
  }
}

function _hexShort(b: Uint8Array): string {
  return bytesToHex(reversed(b));
}

/** ceil(log2(n + 1)): merkle path length for the coinbase with n other transactions. */
export function merklePathDepth(txCount: number): number {
  let depth = 0;
  for (let leaves = txCount + 1; leaves > 1; leaves = Math.ceil(leaves / 2)) depth++;
  return depth;
}

const ZERO_32 = new Uint8Array(32);

/** Merkle root of [leaf0, ...leaves] with Bitcoin's duplicate-last rule, and the coinbase path. */
function _merkleWithPath(leaf0: Uint8Array, leaves: readonly Uint8Array[]): { root: Uint8Array; path: Uint8Array[] } {
  let level: Uint8Array[] = [leaf0, ...leaves];
  const path: Uint8Array[] = [];
  while (level.length > 1) {
    path.push(level[1]!);
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(sha256dPair(level[i]!, level[i + 1] ?? level[i]!));
    level = next;
  }
  return { root: level[0]!, path };
}

export class PolicyEngine {
  readonly settings: PolicySettings;
  readonly #blockedTxids = new _ByteSet();
  /** Blocklisted scripts bucketed by FNV-1a; outputs are hashed in place, never copied or hexed. */
  readonly #blockedScripts = new _ByteSet();
  readonly #payoutSigopCost: number;
  readonly #payoutKeys: Set<string>;
  readonly #tiersByWeight: readonly FeeTierPolicy[];
  readonly #fixedTier: FeeTierPolicy | null;
  readonly #seen = new _PrefixIndex();

  constructor(settings: PolicySettings) {
    if (!settings || typeof settings !== 'object') throw new TypeError(`PolicyEngine: settings must be an object, got ${String(settings)}`);
    settings.blocklistTxids.forEach((t, i) => {
      if (t.length !== 32) throw new RangeError(`PolicyEngine: blocklistTxids[${i}] must be 32 bytes, got ${t.length}`);
    });
    if (settings.feeTierRule !== 'fixed' && settings.feeTierRule !== 'by_template_weight') {
      throw new RangeError(`PolicyEngine: feeTierRule must be "fixed" or "by_template_weight", got ${String(settings.feeTierRule)}`);
    }
    this.settings = settings;
    for (const t of settings.blocklistTxids) this.#blockedTxids.add(_prefix48(t), t);
    for (const b of settings.blocklistScripts) this.#blockedScripts.add(_fnv1a(b, 0, b.length), b);
    this.#payoutSigopCost = settings.payout.reduce((n, p) => n + legacySigops(p.scriptPubKey) * 4, 0);
    this.#payoutKeys = new Set(settings.payout.map((p) => bytesToHex(p.scriptPubKey)));
    this.#tiersByWeight = [...settings.feeTiers].sort((a, b) => b.minTemplateWeight - a.minTemplateWeight);
    if (settings.feeTierRule === 'fixed' && settings.feeTier !== '') {
      const tier = settings.feeTiers.find((t) => t.name === settings.feeTier);
      if (tier === undefined) throw new RangeError(`PolicyEngine: feeTier "${settings.feeTier}" names no tier in feeTiers`);
      this.#fixedTier = tier;
    } else {
      this.#fixedTier = null;
    }
  }

  /** The documented tier rule (docs/policy.md): `fixed` → policy.fee_tier; `by_template_weight`
   * → the tier with the largest min_template_weight ≤ weight (ties impossible: names unique,
   * equal thresholds resolve to the tier listed first). Null = no fee policy. */
  selectFeeTier(templateWeight: number): FeeTierPolicy | null {
    if (this.settings.feeTierRule === 'fixed') return this.#fixedTier;
    let best: FeeTierPolicy | null = null;
    for (const t of this.settings.feeTiers) {
      if (t.minTemplateWeight <= templateWeight && (best === null || t.minTemplateWeight > best.minTemplateWeight)) best = t;
    }
    return best;
  }

  /**
   * Judge one template. Never throws on template contents (a malformed template is a verdict).
   * `commitmentsVerified`: the caller has already checked the witness commitment and the merkle
   * path against the transactions, with the coinbase's own reserved value (a declared job,
   * core/job-declaration/declaration.ts step 4), so `verify_commitments` must not check them again
   * assuming BIP141's all-zero reserved value that only our own coinbases use.
   */
  evaluate(template: BlockTemplate, chain: ChainView, options: { readonly commitmentsVerified?: boolean } = {}): Verdict {
    const s = this.settings;
    const txs = template.transactions;
    const n = txs.length;

    // 1. structure ----------------------------------------------------------------------------
    const bad = (detail: string, ctx: Record<string, PolicyContextValue> = {}): Verdict => rejectedVerdict('template_malformed', detail, ctx);
    if (!(template.prevHash instanceof Uint8Array) || template.prevHash.length !== 32) return bad('prev_hash is not 32 bytes');
    if (!Number.isSafeInteger(template.height) || template.height < 1 || template.height > 0x7fffffff) return bad(`height=${template.height} out of range 1..2^31-1`, { height: String(template.height) });
    if (!Number.isInteger(template.version) || template.version < -0x80000000 || template.version > 0xffffffff) return bad(`version=${template.version} is not a U32`);
    if (typeof template.coinbaseValue !== 'bigint' || template.coinbaseValue < 0n) return bad(`coinbase_value=${String(template.coinbaseValue)} is negative`);
    if (template.maxtime !== null && template.maxtime < template.mintime) return bad(`maxtime=${template.maxtime} < mintime=${template.mintime}`);
    if (!Array.isArray(template.merklePath) || template.merklePath.some((h) => !(h instanceof Uint8Array) || h.length !== 32)) return bad('merkle_path entry is not 32 bytes');
    const depth = merklePathDepth(n);
    if (template.merklePath.length !== depth) {
      return bad(`merkle_path has ${template.merklePath.length} levels, ${n} transactions need ${depth}`, { tx_count: n, merkle_depth: template.merklePath.length });
    }
    // Fees are summed as a Number: BigInt additions allocate, and 4,000 of them per verdict cost
    // Bun's collector visible p99 pauses. Exact, because every fee and the running total are
    // bounded by MAX_MONEY (2.1e15 sats < 2^53), which is also a consensus rule (checked below).
    let totalFeesSats = 0;
    let txWeight = 0;
    let txSigops = 0;
    // Duplicate txids: 48-bit prefix → index of the first transaction with it; a prefix hit is
    // confirmed with a full compare (a genuine prefix collision just skips the map).
    // The map is reused across verdicts (cleared, not reallocated): less garbage, steadier p99.
    const seen = this.#seen;
    seen.reset(n);
    let blockedTxIndex = -1;
    for (let i = 0; i < n; i++) {
      const tx = txs[i]!;
      if (!(tx.txid instanceof Uint8Array) || tx.txid.length !== 32 || !(tx.wtxid instanceof Uint8Array) || tx.wtxid.length !== 32) return bad(`transaction ${i}: txid or wtxid is not 32 bytes`, { tx_index: i });
      if (!(tx.data instanceof Uint8Array) || tx.data.length < 10) return bad(`transaction ${i}: data is ${tx.data?.length ?? 0} bytes`, { tx_index: i });
      if (typeof tx.fee !== 'bigint' || tx.fee < 0n) return bad(`transaction ${i}: fee=${String(tx.fee)} is negative`, { tx_index: i });
      if (tx.fee > MAX_MONEY_SATS) return bad(`transaction ${i}: fee=${tx.fee} exceeds MAX_MONEY`, { tx_index: i });
      if (!Number.isSafeInteger(tx.weight) || tx.weight < tx.data.length) return bad(`transaction ${i}: weight=${tx.weight} below its size ${tx.data.length}`, { tx_index: i });
      if (!Number.isSafeInteger(tx.sigops) || tx.sigops < 0) return bad(`transaction ${i}: sigops=${tx.sigops} is negative`, { tx_index: i });
      // GBT `depends` are 1-based indexes of EARLIER transactions: a block must list parents
      // before children (consensus: a spend of a later output is bad-txns-inputs-missingorspent).
      // An index loop: `for…of` made an array iterator per transaction (~40 bytes × 4,000 per
      // verdict on Node and Deno, docs/job-declaration.md "Performance"), even for the empty lists.
      const depends = tx.depends;
      for (let k = 0; k < depends.length; k++) {
        const d = depends[k]!;
        if (!Number.isInteger(d) || d < 1 || d > i) return bad(`transaction ${i}: depends on ${d}, not an earlier transaction`, { tx_index: i });
      }
      const key = _prefix48(tx.txid);
      // A prefix seen before is a duplicate if that transaction matches, or (a genuine 48-bit
      // collision) if any earlier one does.
      const earlier = seen.getOrSet(key, i);
      if (earlier >= 0 && (equalBytes(txs[earlier]!.txid, tx.txid) || txs.findIndex((x, k) => k < i && equalBytes(x.txid, tx.txid)) >= 0)) {
        return bad(`transaction ${i}: duplicate txid ${_hexShort(tx.txid)}`, { tx_index: i, txid: _hexShort(tx.txid) });
      }
      if (blockedTxIndex < 0 && this.#blockedTxids.size > 0 && this.#blockedTxids.has(key, tx.txid)) blockedTxIndex = i;
      totalFeesSats += Number(tx.fee);
      if (totalFeesSats > MAX_MONEY_NUMBER) return bad(`total fees exceed MAX_MONEY at transaction ${i}`, { tx_index: i });
      txWeight += tx.weight;
      txSigops += tx.sigops;
    }
    const totalFees = BigInt(totalFeesSats);
    // The coinbase path starts with the first transaction's txid (leaf 1 is the coinbase's sibling).
    if (n > 0 && !equalBytes(template.merklePath[0]!, txs[0]!.txid)) return bad('merkle_path[0] is not the first transaction\'s txid');

    // 2. prevhash -------------------------------------------------------------------------------
    if (chain.tipHash !== null && !equalBytes(chain.tipHash, template.prevHash)) {
      const prev = _hexShort(template.prevHash);
      const tip = _hexShort(chain.tipHash);
      if (chain.recentHashes.some((h) => equalBytes(h, template.prevHash))) {
        return rejectedVerdict('prevhash_stale', `prev_hash=${prev} is not the tip ${tip}`, { prev_hash: prev, tip_hash: tip });
      }
      return rejectedVerdict('prevhash_unknown', `prev_hash=${prev} is neither the tip ${tip} nor a recent tip`, { prev_hash: prev, tip_hash: tip });
    }

    // 3. nbits -----------------------------------------------------------------------------------
    const target = targetFromNbits(template.nbits);
    const nbitsHex = (template.nbits >>> 0).toString(16).padStart(8, '0');
    if (target === null || target === 0n) return rejectedVerdict('nbits_mismatch', `nbits=${nbitsHex} is not a valid compact target`, { nbits: nbitsHex });
    if (target !== template.target) return bad(`target does not match nbits=${nbitsHex}`, { nbits: nbitsHex });
    if (chain.expectedNbits !== null && (chain.expectedNbits >>> 0) !== (template.nbits >>> 0)) {
      const want = (chain.expectedNbits >>> 0).toString(16).padStart(8, '0');
      return rejectedVerdict('nbits_mismatch', `nbits=${nbitsHex} != expected_nbits=${want}`, { nbits: nbitsHex, expected_nbits: want });
    }

    // 4. BIP34 height ------------------------------------------------------------------------------
    if (chain.tipHeight !== null && template.height !== chain.tipHeight + 1) {
      return rejectedVerdict('bip34_height_mismatch', `height=${template.height} != tip_height+1=${chain.tipHeight + 1}`, {
        height: template.height,
        expected_height: chain.tipHeight + 1,
      });
    }

    // 5. coinbase as the gateway builds it -----------------------------------------------------
    if (s.payout.length === 0) return rejectedVerdict('coinbase_payout_missing', 'no pool payout output configured (mining.payout)', {});
    const subsidy = blockSubsidy(template.height, s.subsidyHalvingInterval);
    if (template.coinbaseValue > subsidy + totalFees) {
      return rejectedVerdict('coinbase_value_too_high', `coinbase_value=${template.coinbaseValue} > subsidy+fees=${subsidy + totalFees}`, {
        coinbase_value: Number(template.coinbaseValue),
        subsidy: Number(subsidy),
        total_fees: Number(totalFees),
      });
    }
    const payoutOutputs = splitReward(template.coinbaseValue, s.payout);
    const unpaid = payoutOutputs.findIndex((o) => o.valueSats <= 0n);
    if (unpaid >= 0) {
      return rejectedVerdict('coinbase_payout_unpaid', `payout output ${unpaid} would get 0 sats of coinbase_value=${template.coinbaseValue}`, {
        payout_index: unpaid,
        coinbase_value: Number(template.coinbaseValue),
      });
    }

    // 6. witness commitment ----------------------------------------------------------------------
    const wc = template.defaultWitnessCommitment;
    if (!(wc instanceof Uint8Array) || wc.length !== WITNESS_COMMITMENT_SCRIPT_BYTES || !equalBytes(wc.subarray(0, 6), WITNESS_COMMITMENT_HEADER)) {
      return rejectedVerdict('witness_commitment_invalid', 'witness commitment output is not 6a24aa21a9ed ‖ 32 bytes', {});
    }
    if (s.verifyCommitments && options.commitmentsVerified !== true) {
      // BIP141: commitment = SHA256d(witness root ‖ reserved value 32×00), coinbase wtxid = 0.
      const witnessRoot = _merkleWithPath(ZERO_32, txs.map((t) => t.wtxid)).root;
      const commitment = sha256dPair(witnessRoot, ZERO_32);
      if (!equalBytes(commitment, wc.subarray(6))) return rejectedVerdict('witness_commitment_invalid', 'witness commitment does not commit to the template wtxids', {});
      const { path } = _merkleWithPath(ZERO_32, txs.map((t) => t.txid));
      if (!path.every((h, i) => equalBytes(h, template.merklePath[i]!))) return bad('merkle_path does not match the template txids');
    }

    // 7. weight and sigops with the gateway's coinbase (widest extranonce: the worst case) ------
    let coinbaseWeight: number;
    try {
      const parts = buildCoinbase({
        version: 2,
        scriptSigPrefix: bip34HeightPush(template.height),
        poolTag: s.poolTag,
        extranonceBytes: EXTRANONCE_BYTES_MAX,
        inputSequence: 0xffffffff,
        poolOutputs: payoutOutputs,
        templateOutputs: serializeTxOut({ valueSats: 0n, scriptPubKey: wc }, 'witnessCommitment'),
        templateOutputsCount: 1,
        locktime: 0,
      });
      const extranonce = new Uint8Array(EXTRANONCE_BYTES_MAX);
      // BIP141 weight = stripped size × 3 + total size.
      coinbaseWeight = coinbaseStripped(parts, extranonce).length * 3 + coinbaseWithWitness(parts, extranonce).length;
    } catch (e) {
      return bad(`the gateway cannot build this coinbase: ${(e as Error).message}`);
    }
    const txCountBytes = n + 1 < 0xfd ? 1 : n + 1 <= 0xffff ? 3 : 5;
    const weight = (80 + txCountBytes) * 4 + coinbaseWeight + txWeight;
    const maxWeight = Math.min(s.maxTemplateWeight, template.weightLimit || MAX_BLOCK_WEIGHT);
    if (weight > maxWeight) {
      return rejectedVerdict('template_weight_exceeded', `weight=${weight} > max_template_weight=${maxWeight}`, { weight, max_template_weight: maxWeight });
    }
    const sigops = txSigops + this.#payoutSigopCost;
    const maxSigops = Math.min(s.maxTemplateSigops, template.sigopLimit || MAX_BLOCK_SIGOPS_COST);
    if (sigops > maxSigops) {
      return rejectedVerdict('template_sigops_exceeded', `sigops=${sigops} > max_template_sigops=${maxSigops}`, { sigops, max_template_sigops: maxSigops });
    }

    // 8. blocklist -------------------------------------------------------------------------------
    if (blockedTxIndex >= 0) {
      const txid = _hexShort(txs[blockedTxIndex]!.txid);
      return rejectedVerdict('blocklisted_txid', `transaction ${blockedTxIndex} txid=${txid} is blocklisted`, { txid, tx_index: blockedTxIndex });
    }
    if (this.#blockedScripts.size > 0) {
      const blocked = this.#blockedScripts;
      let hitStart = 0;
      let hitEnd = 0;
      let data: Uint8Array = new Uint8Array(0);
      const visit = (start: number, end: number): boolean => {
        if (!blocked.has(_fnv1a(data, start, end), data, start, end)) return false;
        hitStart = start;
        hitEnd = end;
        return true;
      };
      for (let i = 0; i < n; i++) {
        data = txs[i]!.data;
        hitEnd = 0;
        forEachOutputScript(data, visit);
        if (hitEnd > 0) {
          const hit = bytesToHex(data.subarray(hitStart, hitEnd));
          const txid = _hexShort(txs[i]!.txid);
          return rejectedVerdict('blocklisted_script', `transaction ${i} txid=${txid} pays blocklisted script ${hit}`, { txid, tx_index: i, script_hex: hit });
        }
      }
    }

    // 9. fee tier ------------------------------------------------------------------------------
    // Average fee = floor(total / count) in sats; a template without transactions averages 0.
    const avgFee = n === 0 ? 0n : totalFees / BigInt(n);
    const tier = this.selectFeeTier(weight);
    if (tier !== null) {
      if (n < tier.minTxCount) {
        return rejectedVerdict('tx_count_below_minimum', `tx_count=${n} < min_tx_count_used=${tier.minTxCount}`, { fee_tier: tier.name, min_tx_count_used: tier.minTxCount });
      }
      if (totalFees < BigInt(tier.minTotalFeesSats)) {
        return rejectedVerdict('total_fees_below_minimum', `total_fees=${totalFees} < min_total_fees_used=${tier.minTotalFeesSats}`, {
          fee_tier: tier.name,
          min_total_fees_used: tier.minTotalFeesSats,
        });
      }
      if (avgFee < BigInt(tier.minAvgFeeSats)) {
        return rejectedVerdict('avg_fee_below_minimum', `avg_fee=${avgFee} < min_avg_fee_used=${tier.minAvgFeeSats}`, {
          fee_tier: tier.name,
          min_avg_fee_used: tier.minAvgFeeSats,
        });
      }
    }
    return acceptedVerdict({
      fee_tier: tier?.name ?? '',
      tx_count: n,
      total_fees: Number(totalFees),
      avg_fee: Number(avgFee),
      weight,
      sigops,
    });
  }

  /**
   * SetCustomMiningJob (issue 4 item 6, SV2.md §5.1, §5.8): miner-proposed work is judged by
   * the same chain facts and payout policy; a failure names SRI's SetCustomMiningJob.Error
   * string and a registry code. The transactions themselves are not visible (only the merkle
   * path), so the fee and blocklisted-txid checks cannot apply; blocklisted scripts apply to the
   * coinbase outputs.
   */
  verifyCustomJob(job: CustomJobProposal, ctx: CustomJobContext): CustomJobResult {
    const fail = (reasonCode: ReasonCode, wire: string, detail: string): CustomJobResult => ({ ok: false, reasonCode, wire, detail });
    const chain = ctx.chain;
    // Fail closed: without a known tip nothing can be judged, and the tip is what matters most.
    if (chain.tipHash === null || !equalBytes(job.prevHash, chain.tipHash)) {
      return fail('custom_job_stale_chain_tip', 'stale-chain-tip', `prev_hash=${_hexShort(job.prevHash)} is not the tip${chain.tipHash ? ` ${_hexShort(chain.tipHash)}` : ' (unknown)'}`);
    }
    const nbits = job.nbits >>> 0;
    if (targetFromNbits(nbits) === null || (chain.expectedNbits !== null && nbits !== chain.expectedNbits >>> 0)) {
      return fail('custom_job_invalid_nbits', 'invalid-nbits', `nbits=${nbits.toString(16).padStart(8, '0')} is not the required ${chain.expectedNbits === null ? 'valid target' : (chain.expectedNbits >>> 0).toString(16).padStart(8, '0')}`);
    }
    if ((ctx.minNtime !== null && job.minNtime < ctx.minNtime) || (ctx.maxNtime !== null && job.minNtime > ctx.maxNtime)) {
      return fail('custom_job_invalid_min_ntime', 'invalid-min-ntime', `min_ntime=${job.minNtime} outside ${ctx.minNtime ?? '-'}..${ctx.maxNtime ?? '-'}`);
    }
    if (((job.version >>> 0) & VERSIONBITS_TOP_MASK) >>> 0 !== VERSIONBITS_TOP_BITS) {
      return fail('custom_job_invalid_version', 'invalid-version', `version=0x${(job.version >>> 0).toString(16)} lacks the BIP9 top bits 001`);
    }
    if (chain.tipHeight === null) return fail('custom_job_invalid_coinbase_prefix', 'invalid-coinbase-prefix', 'tip height unknown: cannot check the BIP34 height');
    const height = chain.tipHeight + 1;
    const push = bip34HeightPush(height);
    // SRI builds scriptSig = coinbase_prefix ‖ full extranonce (SV2.md §5.4): the whole must fit 100 bytes.
    if (job.coinbasePrefix.length < push.length || !equalBytes(job.coinbasePrefix.subarray(0, push.length), push) || job.coinbasePrefix.length + EXTRANONCE_BYTES_MAX > 100) {
      return fail('custom_job_invalid_coinbase_prefix', 'invalid-coinbase-prefix', `coinbase_prefix does not start with the BIP34 push of height ${height} or leaves no room for the extranonce`);
    }
    if (job.merklePath.length > MERKLE_PATH_DEPTH_MAX) {
      return fail('custom_job_invalid_merkle_path', 'invalid-merkle-path', `merkle_path has ${job.merklePath.length} levels, at most ${MERKLE_PATH_DEPTH_MAX}`);
    }
    const outs = parseTxOutVec(job.coinbaseTxOutputs);
    if (outs === null) return fail('custom_job_invalid_coinbase_outputs', 'invalid-coinbase-tx-outputs', 'coinbase_tx_outputs is not a CompactSize-counted list of outputs');
    let poolPaid = 0n;
    for (let i = 0; i < outs.length; i++) {
      const o = outs[i]!;
      const hexScript = bytesToHex(o.scriptPubKey);
      if (this.#blockedScripts.has(_fnv1a(o.scriptPubKey, 0, o.scriptPubKey.length), o.scriptPubKey)) {
        return fail('custom_job_invalid_coinbase_outputs', 'invalid-coinbase-tx-outputs', `output ${i} pays blocklisted script ${hexScript}`);
      }
      if (this.#payoutKeys.has(hexScript)) poolPaid += o.valueSats;
      else if (o.valueSats > 0n) return fail('custom_job_pool_not_paid', 'invalid-coinbase-tx-outputs', `output ${i} pays ${o.valueSats} sats to a non-pool script ${hexScript}`);
    }
    const subsidy = blockSubsidy(height, this.settings.subsidyHalvingInterval);
    if (poolPaid < subsidy) {
      return fail('custom_job_pool_not_paid', 'invalid-coinbase-tx-outputs', `pool outputs get ${poolPaid} sats < subsidy=${subsidy}`);
    }
    return { ok: true, poolPaidSats: poolPaid };
  }
}
