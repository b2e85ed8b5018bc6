// Whole merkle trees over flat buffers, with reuse of an earlier tree's nodes (issue 11: the Job
// Declaration verdict computes the witness root over the declared wtxids and the coinbase merkle
// path over their txids, 2 × n double SHA-256 for n transactions; docs/job-declaration.md,
// "Performance").
//
// Bitcoin's tree (consensus/merkle.cpp ComputeMerkleRoot; SV2.md §5.4): level j+1 node k =
// SHA256d(level j node 2k ‖ node 2k+1), the last node of an odd level paired with itself; the
// coinbase path is node 1 of every level below the root. Levels live in one flat Uint8Array each
// (32 bytes per node) and nodes are hashed in place (sha256d64At, or the provider's native double
// hash on subarrays), so a 4,000-leaf tree allocates its levels and nothing per node.
//
// Reuse: when most leaves equal an earlier tree's leaves AT THE SAME POSITIONS (a declaration of a
// template the gateway served, in the template's order), every node whose subtree has only such
// leaves and is paired the same way in both trees is the earlier tree's node, byte for byte (a node
// is a function of its subtree's leaves and of where the level ends). `match[i] = 1` says leaf i
// equals the base's leaf i; the rule per node is in `computeLevels`. Correctness does not depend on
// `match` being maximal, only on it being TRUE where it says 1: callers derive it from full 32-byte
// compares.
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

/** Reusable level buffers for trees that are read once (a declaration's); grown, never shrunk. */
export class MerkleScratch {
  readonly buffers: Uint8Array[] = [];
  flags: Uint8Array[] = [];

  /** A buffer of at least `bytes` for level `j`. */
  level(j: number, bytes: number): Uint8Array {
    const have = this.buffers[j];
    if (have !== undefined && have.length >= bytes) return have;
    const fresh = new Uint8Array(Math.max(bytes, (have?.length ?? 0) * 2));
    this.buffers[j] = fresh;
    return fresh;
  }

  flag(j: number, count: number): Uint8Array {
    const have = this.flags[j];
    if (have !== undefined && have.length >= count) return have;
    const fresh = new Uint8Array(Math.max(count, (have?.length ?? 0) * 2));
    this.flags[j] = fresh;
    return fresh;
  }
}

const _PAIR = new Uint8Array(64);

function _copy32(src: Uint8Array, srcAt: number, dst: Uint8Array, dstAt: number): void {
  for (let i = 0; i < 32; i++) dst[dstAt + i] = src[srcAt + i]!;
}

/**
 * All levels of the tree over `leafCount` leaves in `leaves` (flat, 32 bytes each). With `base`
 * and `match`, nodes provably equal to the base tree's are copied instead of hashed. Without
 * `scratch`, every level above the leaves is a fresh buffer (a tree to keep); with it, the
 * scratch's buffers are used (valid until its next use). The leaf buffer is used as level 0.
 */
export function computeLevels(
  leaves: Uint8Array,
  leafCount: number,
  hash: NodeHasher,
  reuse: { readonly base: MerkleLevels; readonly match: Uint8Array } | null = null,
  scratch: MerkleScratch | null = null,
): MerkleLevels {
  if (!Number.isInteger(leafCount) || leafCount < 1 || leaves.length < leafCount * 32) {
    throw new RangeError(`computeLevels: ${leafCount} leaves need ${leafCount * 32} bytes, got ${leaves.length}`);
  }
  const counts = [leafCount];
  const levels = [leaves];
  const base = reuse?.base ?? null;
  // flags[k] = 1: node k of this level is byte-equal to the base's node k of the same level.
  let flags: Uint8Array | null = reuse === null ? null : reuse.match;
  let count = leafCount;
  let level = leaves;
  for (let j = 0; count > 1; j++) {
    const nextCount = (count + 1) >> 1;
    const next = scratch === null ? new Uint8Array(nextCount * 32) : scratch.level(j + 1, nextCount * 32);
    const baseCount = base !== null && j < base.counts.length ? base.counts[j]! : -1;
    const baseNext = base !== null && j + 1 < base.levels.length ? base.levels[j + 1]! : null;
    const nextFlags = flags !== null && baseNext !== null ? (scratch === null ? new Uint8Array(nextCount) : scratch.flag(j + 1, nextCount)) : null;
    for (let k = 0; k < nextCount; k++) {
      const l = 2 * k;
      const r = l + 1;
      // Equal to the base's node k iff the children are equal to the base's AND paired the same
      // way: a real pair in both (r exists in both levels), or the same self-pair (both levels end at l).
      let same = false;
      if (nextFlags !== null && l < baseCount && flags![l] === 1) same = r < count ? r < baseCount && flags![r] === 1 : r === baseCount;
      if (same) {
        _copy32(baseNext!, 32 * k, next, 32 * k);
        nextFlags![k] = 1;
        continue;
      }
      if (nextFlags !== null) nextFlags[k] = 0;
      if (r < count) {
        hash(level, 32 * l, next, 32 * k);
      } else {
        _copy32(level, 32 * l, _PAIR, 0);
        _copy32(level, 32 * l, _PAIR, 32);
        hash(_PAIR, 0, next, 32 * k);
      }
    }
    counts.push(nextCount);
    levels.push(next);
    flags = nextFlags;
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

/** Flat leaves: `leaf0` then `hashes` (32 bytes each), into `into` when it is long enough. */
export function flatLeaves(leaf0: Uint8Array, hashes: readonly Uint8Array[], into?: Uint8Array): Uint8Array {
  const bytes = (hashes.length + 1) * 32;
  const out = into !== undefined && into.length >= bytes ? into : new Uint8Array(bytes);
  out.set(leaf0.length === 32 ? leaf0 : leaf0.subarray(0, 32), 0);
  for (let i = 0; i < hashes.length; i++) {
    const h = hashes[i]!;
    out.set(h.length === 32 ? h : h.subarray(0, 32), 32 * (i + 1));
  }
  return out;
}
