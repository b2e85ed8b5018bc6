// Where the transactions of a declaration come from (issue 11 item 3): every declared wtxid is
// looked up in what the node already told us — the released templates' transactions
// (TemplateCache, the same cache the Template Provider serves from), an optional mempool view
// the adapter keeps — and in transactions clients provided earlier (ProvidedTransactions). What
// is found nowhere is asked for with ProvideMissingTransactions.
//
// Fees: a template or mempool entry carries the node's fee. A provided transaction's fee is
// sum(inputs' values) − sum(outputs) when EVERY input spends an output we hold the bytes of
// (an earlier transaction of the same declaration, a cached template transaction, or another
// provided one); otherwise it is unknown (`jd_tx_fee_unknown`), because asking the node for
// arbitrary outpoints is the BIP23 proposal's job and a fee policy applied to a guess is none.
//
// Sigops of a provided transaction: legacy sigops of its scriptSigs and output scripts × 4 (the
// part of GetTransactionSigOpCost that needs no prevouts). P2SH and witness sigops need the spent
// scripts; the node's block proposal checks the real limit.
import { bytesToHex } from '../bytes.ts';
import { legacySigops } from '../policy/bitcoin.ts';
import type { Sha256 } from '../mining/hash.ts';
import { decodeTransaction, type DecodedTransaction } from '../template/embedded-chain.ts';
import type { TemplateTransaction } from '../template/template.ts';

/** A declared transaction once resolved; `fee` null = unknown. */
export interface DeclaredTransaction extends Omit<TemplateTransaction, 'fee' | 'depends'> {
  readonly fee: bigint | null;
  readonly source: 'template' | 'mempool' | 'provided';
}

/** Lookups over what the node reported (templates, mempool); keys are 32 bytes, internal order. */
export interface TransactionLookup {
  byWtxid(wtxid: Uint8Array): TemplateTransaction | undefined;
  byTxid(txid: Uint8Array): TemplateTransaction | undefined;
}

export const NO_TRANSACTIONS: TransactionLookup = { byWtxid: () => undefined, byTxid: () => undefined };

/** Decode one provided transaction; null unless the bytes are exactly one transaction. Never throws. */
export function decodeProvided(data: Uint8Array, sha256?: Sha256): DecodedTransaction | null {
  const decoded = decodeTransaction(data, 0, sha256);
  if (decoded === null || decoded.end !== data.length) return null;
  return decoded.tx;
}

function _sigopCost(tx: DecodedTransaction): number {
  let n = 0;
  for (const i of tx.inputs) n += legacySigops(i.scriptSig);
  for (const o of tx.outputs) n += legacySigops(o.scriptPubKey);
  return n * 4;
}

/** A provided transaction as a declared one, fee still unknown (resolveFees fills it). */
export function providedTransaction(tx: DecodedTransaction): DeclaredTransaction {
  return { data: Uint8Array.from(tx.data), txid: tx.txid, wtxid: tx.wtxid, fee: null, sigops: _sigopCost(tx), weight: tx.weight, source: 'provided' };
}

/**
 * Transactions clients provided, newest `capacity` kept (insertion order = age), so a JDC that
 * re-declares on the next fee bump is not asked again. Keyed by wtxid and by txid (hex, internal order).
 */
export class ProvidedTransactions {
  readonly #byWtxid = new Map<string, DeclaredTransaction>();
  readonly #byTxid = new Map<string, DeclaredTransaction>();
  evicted = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 0)) throw new RangeError(`ProvidedTransactions: capacity must be an integer >= 0, got ${capacity}`);
  }

  get size(): number {
    return this.#byWtxid.size;
  }

  add(tx: DeclaredTransaction): void {
    if (this.capacity === 0) return;
    const key = bytesToHex(tx.wtxid);
    const old = this.#byWtxid.get(key);
    // Keep a known fee over an unknown one for the same bytes.
    const entry = old !== undefined && old.fee !== null && tx.fee === null ? old : tx;
    this.#byWtxid.delete(key);
    this.#byWtxid.set(key, entry);
    this.#byTxid.set(bytesToHex(tx.txid), entry);
    while (this.#byWtxid.size > this.capacity) {
      const [oldestKey, oldest] = this.#byWtxid.entries().next().value as [string, DeclaredTransaction];
      this.#byWtxid.delete(oldestKey);
      this.#byTxid.delete(bytesToHex(oldest.txid));
      this.evicted += 1;
    }
  }

  byWtxid(wtxid: Uint8Array): DeclaredTransaction | undefined {
    return this.#byWtxid.get(bytesToHex(wtxid));
  }

  byTxid(txid: Uint8Array): DeclaredTransaction | undefined {
    return this.#byTxid.get(bytesToHex(txid));
  }
}

/** Resolve one wtxid: the node's transactions first (their fee is the node's), then provided ones. */
export function resolveWtxid(wtxid: Uint8Array, lookups: readonly { readonly source: 'template' | 'mempool'; readonly lookup: TransactionLookup }[], provided: ProvidedTransactions): DeclaredTransaction | undefined {
  for (const { source, lookup } of lookups) {
    const hit = lookup.byWtxid(wtxid);
    if (hit !== undefined) return { data: hit.data, txid: hit.txid, wtxid: hit.wtxid, fee: hit.fee, sigops: hit.sigops, weight: hit.weight, source };
  }
  return provided.byWtxid(wtxid);
}

/**
 * Fill unknown fees from the inputs' outputs where every spent output is known: earlier
 * transactions of the list (by txid), the node's transactions, provided ones. Returns a new
 * list; entries whose fee stays unknown keep null.
 */
export function resolveFees(
  txs: readonly DeclaredTransaction[],
  lookups: readonly { readonly lookup: TransactionLookup }[],
  provided: ProvidedTransactions,
  sha256?: Sha256,
): DeclaredTransaction[] {
  if (txs.every((t) => t.fee !== null)) return [...txs];
  const inList = new Map<string, DeclaredTransaction>();
  const decodedCache = new Map<string, DecodedTransaction | null>();
  const parentBytes = (txid: Uint8Array): Uint8Array | undefined => {
    const key = bytesToHex(txid);
    const own = inList.get(key);
    if (own !== undefined) return own.data;
    for (const { lookup } of lookups) {
      const hit = lookup.byTxid(txid);
      if (hit !== undefined) return hit.data;
    }
    return provided.byTxid(txid)?.data;
  };
  const outputValue = (txid: Uint8Array, vout: number): bigint | null => {
    const key = bytesToHex(txid);
    let decoded = decodedCache.get(key);
    if (decoded === undefined) {
      const bytes = parentBytes(txid);
      decoded = bytes === undefined ? null : decodeProvided(bytes, sha256);
      decodedCache.set(key, decoded);
    }
    return decoded?.outputs[vout]?.valueSats ?? null;
  };
  const out: DeclaredTransaction[] = [];
  for (const tx of txs) {
    let fee = tx.fee;
    if (fee === null) {
      const decoded = decodeProvided(tx.data, sha256);
      if (decoded !== null) {
        let inSats = 0n;
        let known = true;
        for (const input of decoded.inputs) {
          const v = outputValue(input.prevTxid, input.vout);
          if (v === null) {
            known = false;
            break;
          }
          inSats += v;
        }
        const outSats = decoded.outputs.reduce((s, o) => s + o.valueSats, 0n);
        // A negative "fee" spends more than it has: consensus-invalid, reported as unknown here
        // and refused by the node's proposal; never a negative number in the policy.
        if (known && inSats >= outSats) fee = inSats - outSats;
      }
    }
    const resolved = fee === tx.fee ? tx : { ...tx, fee };
    out.push(resolved);
    inList.set(bytesToHex(tx.txid), resolved);
  }
  return out;
}
