// The released templates, by id, and their transactions, by txid and wtxid (issue 10; built to
// serve issue 11's Job Declaration Server too, which must resolve a declared wtxid list against
// "the templates' transactions" before asking the client for the rest).
//
// Bounded (STYLE.md #8): the newest `capacity` released templates; adding one past the capacity
// evicts the oldest and the transactions only it referenced. A transaction that several templates
// share (the common case: consecutive templates on one tip overlap almost entirely) is indexed
// once, with a reference count, so memory is O(distinct transactions), not O(templates × txs).
// Keys are hex of the INTERNAL byte order (as on the SV2 wire, SV2.md §0.3).
import { bytesToHex } from '../bytes.ts';
import type { BlockTemplate, TemplateTransaction } from '../template/template.ts';

interface _Indexed {
  readonly tx: TemplateTransaction;
  refs: number;
}

export class TemplateCache {
  readonly capacity: number;
  /** Insertion order = release order; the oldest is first. */
  readonly #templates = new Map<bigint, BlockTemplate>();
  readonly #byTxid = new Map<string, _Indexed>();
  readonly #byWtxid = new Map<string, _Indexed>();
  evicted = 0;

  constructor(capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`TemplateCache: capacity must be an integer >= 1, got ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.#templates.size;
  }

  /** Distinct transactions indexed. */
  get transactionCount(): number {
    return this.#byTxid.size;
  }

  /** Add a released template (re-adding the same id is a no-op). */
  add(template: BlockTemplate): void {
    if (this.#templates.has(template.templateId)) return;
    this.#templates.set(template.templateId, template);
    for (const tx of template.transactions) {
      const key = bytesToHex(tx.txid);
      const entry = this.#byTxid.get(key);
      if (entry !== undefined) {
        entry.refs += 1;
        continue;
      }
      const fresh: _Indexed = { tx, refs: 1 };
      this.#byTxid.set(key, fresh);
      this.#byWtxid.set(bytesToHex(tx.wtxid), fresh);
    }
    while (this.#templates.size > this.capacity) {
      const [oldestId, oldest] = this.#templates.entries().next().value as [bigint, BlockTemplate];
      this.#templates.delete(oldestId);
      this.evicted += 1;
      for (const tx of oldest.transactions) {
        const key = bytesToHex(tx.txid);
        const entry = this.#byTxid.get(key);
        if (entry === undefined) continue;
        entry.refs -= 1;
        if (entry.refs === 0) {
          this.#byTxid.delete(key);
          this.#byWtxid.delete(bytesToHex(entry.tx.wtxid));
        }
      }
    }
  }

  template(templateId: bigint): BlockTemplate | undefined {
    return this.#templates.get(templateId);
  }

  /** Newest first. */
  templates(): BlockTemplate[] {
    return [...this.#templates.values()].reverse();
  }

  /** A transaction of any cached template by txid (32 bytes, internal order). */
  byTxid(txid: Uint8Array): TemplateTransaction | undefined {
    return this.#byTxid.get(bytesToHex(txid))?.tx;
  }

  /** A transaction of any cached template by wtxid (32 bytes, internal order). */
  byWtxid(wtxid: Uint8Array): TemplateTransaction | undefined {
    return this.#byWtxid.get(bytesToHex(wtxid))?.tx;
  }
}
