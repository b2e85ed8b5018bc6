// Whole merkle trees over flat buffers, with reuse of an earlier tree's nodes (issue 11: the Job
// Declaration verdict computes the witness root over the declared wtxids and the coinbase merkle
// path over their txids, 2 × n double SHA-256 for n transactions; docs/job-declaration.md,
// "Performance").
//
// Bitcoin's tree (consensus/merkle.cpp ComputeMerkleRoot; SV2.md §5.4): level j+1 node k =
// SHA256d(level j node 2k ‖ node 2k+1), the last node of an odd level paired with itself; the
// coinbase path is node 1 of every level below the root. A kept tree's levels live in one flat
// Uint8Array each (32 bytes per node) and nodes are hashed in place (sha256d64At, or the
// provider's native double hash on subarrays): no allocation per node.
//
// Reuse (SparseMerkle): when most leaves equal an earlier tree's leaves AT THE SAME POSITIONS (a
// declaration of a template the gateway served, in the template's order), every node whose
// subtree has only such leaves and ends at the same place in both trees is the earlier tree's
// node, byte for byte; it is copied, and its subtree is never visited. `match[i] = 1` says leaf i
// equals the base's leaf i. Correctness does not depend on `match` being maximal, only on it being
// TRUE where it says 1: callers derive it from full 32-byte compares.
import { fastSha256d, type Sha256d } from './hash.ts';
import { sha256d64At } from './sha256d64.ts';

/** SHA256d(src[srcAt .. srcAt + 64)) → dst[dstAt .. dstAt + 32). */
export type NodeHasher = (src: Uint8Array, srcAt: number, dst: Uint8Array, dstAt: number) => void;

/** The node hasher for a double hash: the pure-TS in-place one, or `sha256d` on subarrays (Bun's native SHA-256). */
export function nodeHasherOf(sha256d: Sha256d = fastSha256d): NodeHasher {
  if (sha256d === fastSha256d) return sha256d64At;
  return (src, srcAt, dst, dstAt) => {
    sha256d(src.subarray(srcAt, srcAt + 64), dst.subarray(dstAt, dstAt + 32));
  };
}

export interface MerkleLevels {
  /** Nodes per level, leaves first; the last level is the root alone. */
  readonly counts: readonly number[];
  /** Level j: node k at bytes [32k, 32k + 32). A buffer may be longer than counts[j] × 32. */
  readonly levels: readonly Uint8Array[];
}

const _PAIR = new Uint8Array(64);

function _copy32(src: Uint8Array, srcAt: number, dst: Uint8Array, dstAt: number): void {
  for (let i = 0; i < 32; i++) dst[dstAt + i] = src[srcAt + i]!;
}

/**
 * All levels of the tree over `leafCount` leaves in `leaves` (flat, 32 bytes each; used as level
 * 0): a tree to keep, e.g. a template's (TemplateCache), whose nodes SparseMerkle reuses.
 */
export function computeLevels(leaves: Uint8Array, leafCount: number, hash: NodeHasher): MerkleLevels {
  if (!Number.isInteger(leafCount) || leafCount < 1 || leaves.length < leafCount * 32) {
    throw new RangeError(`computeLevels: ${leafCount} leaves need ${leafCount * 32} bytes, got ${leaves.length}`);
  }
  const counts = [leafCount];
  const levels = [leaves];
  let count = leafCount;
  let level = leaves;
  while (count > 1) {
    const nextCount = (count + 1) >> 1;
    const next = new Uint8Array(nextCount * 32);
    for (let k = 0; k < nextCount; k++) {
      const l = 2 * k;
      if (l + 1 < count) {
        hash(level, 32 * l, next, 32 * k);
      } else {
        _copy32(level, 32 * l, _PAIR, 0);
        _copy32(level, 32 * l, _PAIR, 32);
        hash(_PAIR, 0, next, 32 * k);
      }
    }
    counts.push(nextCount);
    levels.push(next);
    count = nextCount;
    level = next;
  }
  return { counts, levels };
}

/** The root (a copy). */
export function rootOf(tree: MerkleLevels): Uint8Array {
  return tree.levels[tree.levels.length - 1]!.slice(0, 32);
}

/** Leaf 0's path: node 1 of every level below the root (copies), as the coinbase merkle path. */
export function pathOfLeaf0(tree: MerkleLevels): Uint8Array[] {
  const path: Uint8Array[] = [];
  for (let j = 0; j + 1 < tree.levels.length; j++) path.push(tree.levels[j]!.slice(32, 64));
  return path;
}

/**
 * The declared tree's root or coinbase path WITHOUT building its levels: node (j, k) is computed
 * top-down, and a node whose subtree provably equals the base tree's (below) is copied from the
 * base instead of descended into. A declaration of a template in the template's order touches
 * O(depth) nodes; one with its last 10 % new, about 2 × 10 % of the nodes; with no base, every
 * node once (the same n − 1 hashes as a level-by-level build).
 *
 * Node (j, k) covers leaves [k·2^j, k·2^j + c) where c = min(2^j, n − k·2^j) (c ≥ 1); its value
 * is a function of those c leaves alone (a right child is a duplicate exactly when its range is
 * empty), so it equals the base's node (j, k) when c is the same in both trees and all c leaves
 * match. `matchedBefore[i]` = how many of leaves 0 .. i−1 match (prefix sums, n + 1 entries).
 */
export class SparseMerkle {
  readonly #count: number;
  readonly #leaf: (i: number) => Uint8Array;
  readonly #hash: NodeHasher;
  readonly #base: MerkleLevels | null;
  readonly #matchedBefore: Int32Array | null;
  /** One 64-byte pair buffer per depth: the recursion at depth j only touches depths < j. */
  readonly #pairs: Uint8Array[] = [];
  /** Nodes hashed (for tests and the profile table). */
  hashed = 0;

  constructor(count: number, leaf: (i: number) => Uint8Array, hash: NodeHasher, reuse: { readonly base: MerkleLevels; readonly matchedBefore: Int32Array } | null = null) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`SparseMerkle: leaf count must be an integer >= 1, got ${count}`);
    if (reuse !== null && reuse.matchedBefore.length < count + 1) throw new RangeError(`SparseMerkle: matchedBefore needs ${count + 1} entries, got ${reuse.matchedBefore.length}`);
    this.#count = count;
    this.#leaf = leaf;
    this.#hash = hash;
    this.#base = reuse?.base ?? null;
    this.#matchedBefore = reuse?.matchedBefore ?? null;
  }

  /** Levels above the leaves (the root is node (depth, 0)). */
  get depth(): number {
    let d = 0;
    while (2 ** d < this.#count) d++;
    return d;
  }

  root(): Uint8Array {
    const out = new Uint8Array(32);
    this.#node(this.depth, 0, out, 0);
    return out;
  }

  /** Leaf 0's path: node (j, 1) for j = 0 .. depth − 1 (disjoint subtrees: no node twice). */
  pathOfLeaf0(): Uint8Array[] {
    const path: Uint8Array[] = [];
    for (let j = 0, depth = this.depth; j < depth; j++) {
      const out = new Uint8Array(32);
      this.#node(j, 1, out, 0);
      path.push(out);
    }
    return path;
  }

  #pair(j: number): Uint8Array {
    let p = this.#pairs[j];
    if (p === undefined) {
      p = new Uint8Array(64);
      this.#pairs[j] = p;
    }
    return p;
  }

  #node(j: number, k: number, out: Uint8Array, outAt: number): void {
    const span = 2 ** j;
    const start = k * span;
    const c = Math.min(span, this.#count - start);
    const base = this.#base;
    if (base !== null && j < base.counts.length) {
      const baseLeaves = base.counts[0]!;
      if (Math.min(span, baseLeaves - start) === c && this.#matchedBefore![start + c]! - this.#matchedBefore![start]! === c) {
        _copy32(base.levels[j]!, 32 * k, out, outAt);
        return;
      }
    }
    if (j === 0) {
      _copy32(this.#leaf(k), 0, out, outAt);
      return;
    }
    const pair = this.#pair(j);
    this.#node(j - 1, 2 * k, pair, 0);
    // The right child's range is empty exactly when it is the duplicate of the left one.
    if ((2 * k + 1) * (span / 2) < this.#count) this.#node(j - 1, 2 * k + 1, pair, 32);
    else _copy32(pair, 0, pair, 32);
    this.#hash(pair, 0, out, outAt);
    this.hashed += 1;
  }
}

/** Prefix sums of a 0/1 match array: out[i] = matches among the first i entries. */
export function matchedBefore(match: Uint8Array, count: number): Int32Array {
  const out = new Int32Array(count + 1);
  for (let i = 0; i < count; i++) out[i + 1] = out[i]! + (match[i] === 1 ? 1 : 0);
  return out;
}
