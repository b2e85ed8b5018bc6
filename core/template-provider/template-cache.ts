// The released templates, by id, and their transactions, by txid and wtxid (issue 10; built to
// serve issue 11's Job Declaration Server too, which must resolve a declared wtxid list against
// "the templates' transactions" before asking the client for the rest).
//
// Bounded (STYLE.md #8): the newest `capacity` released templates; adding one past the capacity
// evicts the oldest and the transactions only it referenced. A transaction that several templates
// share (the common case: consecutive templates on one tip overlap almost entirely) is indexed
// once, with a reference count, so memory is O(distinct transactions), not O(templates × txs).
// Keys are the 32 bytes of the INTERNAL byte order (as on the SV2 wire, SV2.md §0.3), in a
// DigestMap (core/digest-map.ts: no hex string per lookup).
//
// Declaration trees (issue 11, opt-in with `treesMax` > 0, i.e. when a Job Declaration port is
// configured): for the newest `treesMax` templates, the whole wtxid tree (leaf 0 = the coinbase's
// wtxid, 32×00 by BIP141) and txid tree (leaf 0 = 32×00 standing in for the coinbase txid: the
// coinbase path, node 1 of each level, never depends on it) are built ONCE per template, by
// `buildTrees()`: the gateway calls it on the deadline right after the release (so the jobs and
// templates go out first), and `trees()` builds what is still pending. A declaration of that
// template in its order then reuses them node for node (core/mining/merkle-tree.ts) instead of
// hashing 2 × n nodes inside the verdict's latency.
// Memory: 2 trees × ~2 × (n + 1) × 32 bytes per template (~0.5 MB for 4,000 transactions),
// times `treesMax`; a template's trees go when it leaves the newest `treesMax` or the cache.
import { DigestMap } from '../digest-map.ts';
import { fastSha256d, type Sha256d } from '../mining/hash.ts';
import { computeLevels, nodeHasherOf, type MerkleLevels } from '../mining/merkle-tree.ts';
import type { BlockTemplate, TemplateTransaction } from '../template/template.ts';

interface _Indexed {
  readonly tx: TemplateTransaction;
  refs: number;
}

/** A template's declaration trees (see the header). */
export interface TemplateTrees {
  readonly template: BlockTemplate;
  /** Leaves: 32×00, then the template's wtxids in order (so leaf i + 1 is transaction i's wtxid). */
  readonly wtxids: MerkleLevels;
  /** Leaves: 32×00 (the coinbase's slot), then the template's txids in order. */
  readonly txids: MerkleLevels;
}

export interface TemplateCacheOptions {
  /** How many of the newest templates get declaration trees; 0 (default) = none. */
  readonly treesMax?: number;
  /** The double SHA-256 for the trees (the provider's: doubleHashOf). */
  readonly sha256d?: Sha256d;
}

export class TemplateCache {
  readonly capacity: number;
  readonly treesMax: number;
  /** Insertion order = release order; the oldest is first. */
  readonly #templates = new Map<bigint, BlockTemplate>();
  readonly #byTxid = new DigestMap<_Indexed>();
  readonly #byWtxid = new DigestMap<_Indexed>();
  /** Insertion order = release order; at most treesMax. */
  readonly #trees = new Map<bigint, TemplateTrees>();
  /** Released, trees not built yet (at most treesMax, the newest). */
  readonly #treesPending = new Map<bigint, BlockTemplate>();
  readonly #sha256d: Sha256d;
  evicted = 0;

  constructor(capacity: number, options: TemplateCacheOptions = {}) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`TemplateCache: capacity must be an integer >= 1, got ${capacity}`);
    const treesMax = options.treesMax ?? 0;
    if (!(Number.isInteger(treesMax) && treesMax >= 0)) throw new RangeError(`TemplateCache: treesMax must be an integer >= 0, got ${treesMax}`);
    this.capacity = capacity;
    this.treesMax = Math.min(treesMax, capacity);
    this.#sha256d = options.sha256d ?? fastSha256d;
  }

  get size(): number {
    return this.#templates.size;
  }

  /** Distinct transactions indexed. */
  get transactionCount(): number {
    return this.#byTxid.size;
  }

  /** Distinct wtxids indexed (equal to transactionCount unless two entries share a wtxid). */
  get wtxidCount(): number {
    return this.#byWtxid.size;
  }

  /** Add a released template (re-adding the same id is a no-op). */
  add(template: BlockTemplate): void {
    if (this.#templates.has(template.templateId)) return;
    this.#templates.set(template.templateId, template);
    for (const tx of template.transactions) {
      // A hash that is not 32 bytes matches no lookup (the policy engine refuses such templates).
      if (!_hashes32(tx)) continue;
      const entry = this.#byTxid.get(tx.txid);
      if (entry !== undefined) {
        entry.refs += 1;
        continue;
      }
      const fresh: _Indexed = { tx, refs: 1 };
      this.#byTxid.set(tx.txid, fresh);
      this.#byWtxid.set(tx.wtxid, fresh);
    }
    while (this.#templates.size > this.capacity) {
      const [oldestId, oldest] = this.#templates.entries().next().value as [bigint, BlockTemplate];
      this.#templates.delete(oldestId);
      this.#trees.delete(oldestId);
      this.#treesPending.delete(oldestId);
      this.evicted += 1;
      for (const tx of oldest.transactions) {
        if (!_hashes32(tx)) continue;
        const entry = this.#byTxid.get(tx.txid);
        if (entry === undefined) continue;
        entry.refs -= 1;
        if (entry.refs === 0) {
          this.#byTxid.delete(tx.txid);
          // Only the entry's own wtxid key: another transaction may have claimed the same wtxid.
          if (this.#byWtxid.get(entry.tx.wtxid) === entry) this.#byWtxid.delete(entry.tx.wtxid);
        }
      }
    }
    if (this.treesMax > 0 && template.transactions.every(_hashes32)) {
      this.#treesPending.set(template.templateId, template);
      while (this.#treesPending.size > this.treesMax) this.#treesPending.delete(this.#treesPending.keys().next().value as bigint);
    }
  }

  /** Templates whose declaration trees are still to be built. */
  get treesPending(): number {
    return this.#treesPending.size;
  }

  /** Build the pending declaration trees (2 × ~n double SHA-256 per template); keep the newest treesMax. */
  buildTrees(): void {
    for (const template of this.#treesPending.values()) {
      this.#trees.set(template.templateId, _buildTrees(template, this.#sha256d));
      while (this.#trees.size > this.treesMax) this.#trees.delete(this.#trees.keys().next().value as bigint);
    }
    this.#treesPending.clear();
  }

  template(templateId: bigint): BlockTemplate | undefined {
    return this.#templates.get(templateId);
  }

  /** Newest first. */
  templates(): BlockTemplate[] {
    return [...this.#templates.values()].reverse();
  }

  /** The declaration trees, newest first (at most treesMax); builds the pending ones first. */
  trees(): TemplateTrees[] {
    if (this.#treesPending.size > 0) this.buildTrees();
    return [...this.#trees.values()].reverse();
  }

  /** A transaction of any cached template by txid (32 bytes, internal order). */
  byTxid(txid: Uint8Array): TemplateTransaction | undefined {
    return this.#byTxid.get(txid)?.tx;
  }

  /** A transaction of any cached template by wtxid (32 bytes, internal order). */
  byWtxid(wtxid: Uint8Array): TemplateTransaction | undefined {
    return this.#byWtxid.get(wtxid)?.tx;
  }
}

function _hashes32(tx: TemplateTransaction): boolean {
  return tx.txid instanceof Uint8Array && tx.txid.length === 32 && tx.wtxid instanceof Uint8Array && tx.wtxid.length === 32;
}

function _buildTrees(template: BlockTemplate, sha256d: Sha256d): TemplateTrees {
  const txs = template.transactions;
  const hash = nodeHasherOf(sha256d);
  const leafCount = txs.length + 1;
  const wtxidLeaves = new Uint8Array(leafCount * 32);
  const txidLeaves = new Uint8Array(leafCount * 32);
  for (let i = 0; i < txs.length; i++) {
    wtxidLeaves.set(txs[i]!.wtxid, 32 * (i + 1));
    txidLeaves.set(txs[i]!.txid, 32 * (i + 1));
  }
  return { template, wtxids: computeLevels(wtxidLeaves, leafCount, hash), txids: computeLevels(txidLeaves, leafCount, hash) };
}
