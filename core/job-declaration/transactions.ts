// Where the transactions of a declaration come from (issue 11 item 3): every declared wtxid is
// looked up in what the node already told us — the released templates' transactions
// (TemplateCache, the same cache the Template Provider serves from), an optional mempool view
// the adapter keeps — and in transactions clients provided earlier (ProvidedTransactions). What
// is found nowhere is asked for with ProvideMissingTransactions.
//
// Positional first: a JDC whose Template Provider is this gateway declares a template's
// transactions in the template's order. When the first declared wtxid is the first transaction
// of a template with declaration trees (template-cache.ts), each position is compared with that
// template's wtxid at the same position (32 bytes, no lookup); equal positions resolve to the
// template's transaction and are marked in `match`, which lets the verdict reuse the template's
// merkle trees (core/mining/merkle-tree.ts). Other positions go through the lookups as before.
// Same bytes, same answer: a wtxid commits to the whole transaction, so the positional hit is
// the transaction the wtxid lookup would find.
//
// Fees: a template or mempool entry carries the node's fee. A provided transaction's fee is
// sum(inputs' values) − sum(outputs) when EVERY input spends an output we hold the bytes of
// (an earlier transaction of the same declaration, a cached template transaction, or another
// provided one); otherwise it is unknown (`jd_tx_fee_unknown`), because asking the node for
// arbitrary outpoints is the BIP23 proposal's job and a fee policy applied to a guess is none.
//
// Provided transactions are shared by every connection of the gateway, and that is safe: an entry
// is keyed by its wtxid, which was checked against the bytes when it was provided, and its fee is
// COMPUTED from those bytes and from parents identified by their txids, never taken from the
// client. Whoever provided a transaction, another declaration naming its wtxid gets the same
// bytes and the same fee (documented in docs/job-declaration.md, tested in the conformance cases).
//
// Sigops of a provided transaction: legacy sigops of its scriptSigs and output scripts × 4 (the
// part of GetTransactionSigOpCost that needs no prevouts). P2SH and witness sigops need the spent
// scripts; the node's block proposal checks the real limit.
import { DigestMap, sameDigest } from '../digest-map.ts';
import { legacySigops } from '../policy/bitcoin.ts';
import type { Sha256d } from '../mining/hash.ts';
import { decodeTransaction, type DecodedTransaction } from '../template/embedded-chain.ts';
import type { TemplateTransaction } from '../template/template.ts';
import type { TemplateTrees } from '../template-provider/template-cache.ts';

/**
 * A declared transaction once resolved; `fee` null = unknown. `depends` is always NO_DEPENDS: a
 * declaration's order is the miner's, and whether every parent precedes its child is a consensus
 * question the node's block proposal answers. With it, a list whose fees are all known IS a
 * template's transaction list (declaration.ts hands it to the policy engine without a copy).
 */
export interface DeclaredTransaction extends Omit<TemplateTransaction, 'fee' | 'depends'> {
  readonly fee: bigint | null;
  readonly depends: typeof NO_DEPENDS;
  readonly source: 'template' | 'mempool' | 'provided';
}

/** Lookups over what the node reported (templates, mempool); keys are 32 bytes, internal order. */
export interface TransactionLookup {
  byWtxid(wtxid: Uint8Array): TemplateTransaction | undefined;
  byTxid(txid: Uint8Array): TemplateTransaction | undefined;
  /** Templates with declaration trees, newest first (TemplateCache.trees); absent = none. */
  trees?(): readonly TemplateTrees[];
}

/** The `depends` of every declared transaction: one shared, frozen, empty list. */
export const NO_DEPENDS: readonly number[] = Object.freeze([]);

export const NO_TRANSACTIONS: TransactionLookup = { byWtxid: () => undefined, byTxid: () => undefined };

/**
 * Decode one provided transaction; null unless the bytes are exactly one transaction. Never
 * throws. The result views `data` (no copy); txid and wtxid are hashed once here, with `sha256d`.
 */
export function decodeProvided(data: Uint8Array, sha256d?: Sha256d): DecodedTransaction | null {
  const decoded = decodeTransaction(data, 0, undefined, sha256d);
  if (decoded === null || decoded.end !== data.length) return null;
  return decoded.tx;
}

function _sigopCost(tx: DecodedTransaction): number {
  let n = 0;
  for (const i of tx.inputs) n += legacySigops(i.scriptSig);
  for (const o of tx.outputs) n += legacySigops(o.scriptPubKey);
  return n * 4;
}

/**
 * A provided transaction as a declared one, fee still unknown (resolveFees fills it). `tx.data`
 * is kept as is: the codec already copied each transaction out of the frame.
 */
export function providedTransaction(tx: DecodedTransaction): DeclaredTransaction {
  return { data: tx.data, txid: tx.txid, wtxid: tx.wtxid, fee: null, sigops: _sigopCost(tx), weight: tx.weight, depends: NO_DEPENDS, source: 'provided' };
}

/**
 * Transactions clients provided, newest `capacity` kept (insertion order = age), so a JDC that
 * re-declares on the next fee bump is not asked again. Keyed by wtxid and by txid (32 bytes,
 * internal order).
 */
export class ProvidedTransactions {
  readonly #byWtxid = new DigestMap<DeclaredTransaction>();
  readonly #byTxid = new DigestMap<DeclaredTransaction>();
  /** Age order of the entries (oldest first). */
  readonly #order = new Set<DeclaredTransaction>();
  evicted = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 0)) throw new RangeError(`ProvidedTransactions: capacity must be an integer >= 0, got ${capacity}`);
  }

  get size(): number {
    return this.#byWtxid.size;
  }

  add(tx: DeclaredTransaction): void {
    if (this.capacity === 0) return;
    const old = this.#byWtxid.get(tx.wtxid);
    // Keep a known fee over an unknown one for the same bytes.
    const entry = old !== undefined && old.fee !== null && tx.fee === null ? old : tx;
    if (old !== undefined) this.#order.delete(old);
    this.#order.add(entry);
    this.#byWtxid.set(entry.wtxid, entry);
    this.#byTxid.set(entry.txid, entry);
    while (this.#order.size > this.capacity) {
      const oldest = this.#order.values().next().value as DeclaredTransaction;
      this.#order.delete(oldest);
      this.#byWtxid.delete(oldest.wtxid);
      this.#byTxid.delete(oldest.txid);
      this.evicted += 1;
    }
  }

  byWtxid(wtxid: Uint8Array): DeclaredTransaction | undefined {
    return this.#byWtxid.get(wtxid);
  }

  byTxid(txid: Uint8Array): DeclaredTransaction | undefined {
    return this.#byTxid.get(txid);
  }
}

type _Lookups = readonly { readonly source: 'template' | 'mempool'; readonly lookup: TransactionLookup }[];

function _fromNode(hit: TemplateTransaction, source: 'template' | 'mempool'): DeclaredTransaction {
  return { data: hit.data, txid: hit.txid, wtxid: hit.wtxid, fee: hit.fee, sigops: hit.sigops, weight: hit.weight, depends: NO_DEPENDS, source };
}

/**
 * A template's transactions as declared ones, built on the first positional declaration of the
 * template and shared by every later one (they are immutable; the entry goes with the trees).
 * Without it every declaration built one object per position (~90 bytes × 4,000), and those
 * objects survive while the declaration waits for ProvideMissingTransactions.Success: exactly the
 * garbage that makes the collector copy and promote (docs/job-declaration.md "Performance").
 */
const _declaredOf = new WeakMap<TemplateTrees, readonly DeclaredTransaction[]>();

function _templateDeclared(trees: TemplateTrees): readonly DeclaredTransaction[] {
  let declared = _declaredOf.get(trees);
  if (declared === undefined) {
    const txs = trees.template.transactions;
    const built = new Array<DeclaredTransaction>(txs.length);
    for (let i = 0; i < txs.length; i++) built[i] = _fromNode(txs[i]!, 'template');
    declared = built;
    _declaredOf.set(trees, declared);
  }
  return declared;
}

/** Resolve one wtxid: the node's transactions first (their fee is the node's), then provided ones. */
export function resolveWtxid(wtxid: Uint8Array, lookups: _Lookups, provided: ProvidedTransactions): DeclaredTransaction | undefined {
  for (const { source, lookup } of lookups) {
    const hit = lookup.byWtxid(wtxid);
    if (hit !== undefined) return _fromNode(hit, source);
  }
  return provided.byWtxid(wtxid);
}

/** What a declared wtxid list resolved to. */
export interface DeclarationResolution {
  readonly resolved: (DeclaredTransaction | undefined)[];
  /** Positions found nowhere, ascending. */
  readonly missing: number[];
  /**
   * The template declared positionally, with match[i] = 1 where merkle leaf i (0 = the coinbase,
   * i = declared transaction i − 1) equals that template's leaf i; null when none applies.
   */
  readonly reuse: { readonly trees: TemplateTrees; readonly match: Uint8Array } | null;
}

function _sameAt(a: Uint8Array, flat: Uint8Array, at: number): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== flat[at + i]) return false;
  return true;
}

/** Resolve a whole wtxid list (positional first, see the header; then resolveWtxid). */
export function resolveDeclaration(wtxids: readonly Uint8Array[], lookups: _Lookups, provided: ProvidedTransactions): DeclarationResolution {
  const n = wtxids.length;
  const resolved: (DeclaredTransaction | undefined)[] = new Array<DeclaredTransaction | undefined>(n).fill(undefined);
  let reuse: DeclarationResolution['reuse'] = null;
  const templates = lookups.find((l) => l.source === 'template')?.lookup;
  if (n > 0 && wtxids[0]!.length === 32 && templates?.trees !== undefined) {
    const trees = templates.trees().find((t) => t.template.transactions.length > 0 && _sameAt(wtxids[0]!, t.wtxids.levels[0]!, 32));
    if (trees !== undefined) {
      const match = new Uint8Array(n + 1);
      match[0] = 1; // both leaf 0s are the 32×00 stand-in
      const leaves = trees.wtxids.levels[0]!;
      const declared = _templateDeclared(trees);
      const common = Math.min(n, declared.length);
      for (let i = 0; i < common; i++) {
        if (wtxids[i]!.length !== 32 || !_sameAt(wtxids[i]!, leaves, 32 * (i + 1))) continue;
        match[i + 1] = 1;
        resolved[i] = declared[i]!;
      }
      reuse = { trees, match };
    }
  }
  const missing: number[] = [];
  for (let i = 0; i < n; i++) {
    if (resolved[i] !== undefined) continue;
    const hit = resolveWtxid(wtxids[i]!, lookups, provided);
    if (hit === undefined) missing.push(i);
    else resolved[i] = hit;
  }
  return { resolved, missing, reuse };
}

// Reader state of outputValues (a verdict is synchronous: one walk at a time).
const _EMPTY = new Uint8Array(0);
let _walkData: Uint8Array = _EMPTY;
let _walkAt = 0;

/**
 * CompactSize as decodeTransaction's reader takes a count: not required canonical, 0xff refused,
 * and at most (bytes left) / itemBytesMin items. -1 = malformed.
 */
function _walkCount(itemBytesMin: number): number {
  const data = _walkData;
  const n = data.length;
  let p = _walkAt;
  if (p >= n) return -1;
  const first = data[p++]!;
  let c: number;
  if (first < 0xfd) c = first;
  else if (first === 0xfd) {
    if (p + 2 > n) return -1;
    c = data[p]! | (data[p + 1]! << 8);
    p += 2;
  } else if (first === 0xfe) {
    if (p + 4 > n) return -1;
    c = (data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24)) >>> 0;
    p += 4;
  } else return -1;
  _walkAt = p;
  return c * itemBytesMin > n - p ? -1 : c;
}

/**
 * The output values of a serialized transaction, or null unless `data` is exactly one
 * transaction by the rules of decodeTransaction (embedded-chain.ts; the equivalence is tested).
 * A structural walk: no hashing, no copies — what a parent's outputs need, where the full
 * decode hashed the parent twice. `prevoutsAt`, when given, gets the offset of every input's
 * outpoint (prev txid, 32 bytes, then vout, U32 LE) in `data`.
 */
export function outputValues(data: Uint8Array, prevoutsAt?: number[]): bigint[] | null {
  const n = data.length;
  if (prevoutsAt !== undefined) prevoutsAt.length = 0;
  if (n < 4) return null;
  _walkData = data;
  _walkAt = 4;
  let witness = false;
  if (data[4] === 0x00 && n - 4 >= 2) {
    if (data[5] !== 0x01) return null;
    _walkAt = 6;
    witness = true;
  }
  const inputs = _walkCount(41);
  if (inputs <= 0) return null;
  for (let i = 0; i < inputs; i++) {
    if (_walkAt + 36 > n) return null;
    prevoutsAt?.push(_walkAt);
    _walkAt += 36;
    const script = _walkCount(1);
    if (script < 0) return null;
    _walkAt += script;
    if (_walkAt + 4 > n) return null;
    _walkAt += 4;
  }
  const outputCount = _walkCount(9);
  if (outputCount < 0) return null;
  const values = new Array<bigint>(outputCount);
  for (let i = 0; i < outputCount; i++) {
    const p = _walkAt;
    if (p + 8 > n) return null;
    const lo = (data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24)) >>> 0;
    const hi = (data[p + 4]! | (data[p + 5]! << 8) | (data[p + 6]! << 16) | (data[p + 7]! << 24)) >>> 0;
    values[i] = hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
    _walkAt = p + 8;
    const script = _walkCount(1);
    if (script < 0) return null;
    _walkAt += script;
  }
  if (witness) {
    let anyItem = false;
    for (let i = 0; i < inputs; i++) {
      const items = _walkCount(1);
      if (items < 0) return null;
      for (let j = 0; j < items; j++) {
        const len = _walkCount(1);
        if (len < 0) return null;
        _walkAt += len;
      }
      if (items > 0) anyItem = true;
    }
    if (!anyItem) return null;
  }
  if (_walkAt + 4 > n) return null;
  _walkAt += 4;
  const whole = _walkAt === n;
  _walkData = _EMPTY;
  return whole ? values : null;
}

/**
 * Fill unknown fees from the inputs' outputs where every spent output is known: earlier
 * transactions of the list (by txid), the node's transactions, provided ones. Returns a new
 * list; entries whose fee stays unknown keep null. `_sha256d` is unused (kept for callers):
 * nothing here is hashed.
 */
export function resolveFees(
  txs: readonly DeclaredTransaction[],
  lookups: readonly { readonly lookup: TransactionLookup }[],
  provided: ProvidedTransactions,
  _sha256d?: Sha256d,
): DeclaredTransaction[] {
  if (txs.every((t) => t.fee !== null)) return txs.slice();
  // Earlier PROVIDED transactions of the list, by txid. The node's transactions need no entry:
  // the same txid is the same non-witness bytes, so the lookups below give the same outputs.
  const inList = new DigestMap<DeclaredTransaction>();
  // Parent txid → its output values (null: bytes unknown or not one transaction), once per parent.
  const parents = new DigestMap<bigint[] | null>();
  const parentBytes = (txid: Uint8Array): Uint8Array | undefined => {
    const own = inList.get(txid);
    if (own !== undefined) return own.data;
    for (const { lookup } of lookups) {
      const hit = lookup.byTxid(txid);
      if (hit !== undefined) return hit.data;
    }
    return provided.byTxid(txid)?.data;
  };
  const outputValue = (txid: Uint8Array, vout: number): bigint | null => {
    let values = parents.get(txid);
    if (values === undefined) {
      const bytes = parentBytes(txid);
      values = bytes === undefined ? null : outputValues(bytes);
      parents.set(txid, values);
    }
    return values?.[vout] ?? null;
  };
  const prevoutsAt: number[] = [];
  const out = new Array<DeclaredTransaction>(txs.length);
  for (let t = 0; t < txs.length; t++) {
    const tx = txs[t]!;
    let fee = tx.fee;
    if (fee === null) {
      // The same structural walk as the parents' (no hashing): the transaction's own output
      // values and where its inputs' outpoints are. Its decode (done when it was provided) is not
      // kept: the cache would hold ~1.4 KB of objects per transaction across declarations.
      const data = tx.data;
      const values = outputValues(data, prevoutsAt);
      if (values !== null) {
        let outSats = 0n;
        for (const v of values) outSats += v;
        let inSats = 0n;
        let known = true;
        for (const at of prevoutsAt) {
          const vout = (data[at + 32]! | (data[at + 33]! << 8) | (data[at + 34]! << 16) | (data[at + 35]! << 24)) >>> 0;
          const v = outputValue(data.subarray(at, at + 32), vout);
          if (v === null) {
            known = false;
            break;
          }
          inSats += v;
        }
        // A negative "fee" spends more than it has: consensus-invalid, reported as unknown here
        // and refused by the node's proposal; never a negative number in the policy.
        if (known && inSats >= outSats) fee = inSats - outSats;
      }
    }
    // The same shape as every other DeclaredTransaction (a spread would not keep it).
    const resolved: DeclaredTransaction = fee === tx.fee ? tx : { data: tx.data, txid: tx.txid, wtxid: tx.wtxid, fee, sigops: tx.sigops, weight: tx.weight, depends: NO_DEPENDS, source: tx.source };
    out[t] = resolved;
    if (tx.source === 'provided' && tx.txid.length === 32) inList.set(tx.txid, resolved);
  }
  return out;
}
