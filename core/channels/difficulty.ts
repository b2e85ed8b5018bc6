// Pool difficulty <-> target (SPEC §4, config [mining] min_difficulty/max_difficulty).
//
// "Difficulty 1" is Bitcoin's pool convention: target 0x00000000ffff0000…0000 (= 0xffff · 2^208,
// the nbits 0x1d00ffff target). A target T has difficulty DIFF1 / T. Difficulties are floats in
// config (a CPU miner needs 0.001), targets are exact bigints on the wire (U256 LE, SV2.md §2).
import { U256_MAX } from '../mining/target.ts';

/** Target of difficulty 1: 0xffff << 208. */
export const DIFFICULTY_1_TARGET: bigint = 0xffffn << 208n;

const SCALE_BITS = 64n;
const SCALE = 2 ** 64;

/**
 * floor(DIFF1 / difficulty), capped at 2^256−1. `difficulty` ≤ 0 (config "no lower bound")
 * gives the easiest target, 2^256−1. The float is scaled by 2^64 before the bigint division so
 * sub-1 difficulties keep their precision.
 */
export function targetFromDifficulty(difficulty: number): bigint {
  if (typeof difficulty !== 'number' || Number.isNaN(difficulty)) {
    throw new RangeError(`targetFromDifficulty: difficulty must be a number, got ${String(difficulty)}`);
  }
  if (difficulty === Infinity) return 1n;
  const scaled = Math.round(difficulty * SCALE);
  if (!(scaled > 0)) return U256_MAX;
  const target = (DIFFICULTY_1_TARGET << SCALE_BITS) / BigInt(scaled);
  if (target > U256_MAX) return U256_MAX;
  return target < 1n ? 1n : target;
}

/** DIFF1 / target as a float (share accounting, events). Target 0 → Infinity. */
export function difficultyFromTarget(target: bigint): number {
  if (typeof target !== 'bigint' || target < 0n) throw new RangeError(`difficultyFromTarget: target must be a bigint >= 0, got ${String(target)}`);
  if (target === 0n) return Infinity;
  return Number(DIFFICULTY_1_TARGET) / Number(target);
}

/** Difficulty of a header hash (internal byte order, 32 bytes): DIFF1 / int_LE(hash). */
export function difficultyFromHash(hash: Uint8Array): number {
  if (hash.length !== 32) throw new RangeError(`difficultyFromHash: hash must be 32 bytes, got ${hash.length}`);
  // Float accumulation from the most significant byte: plenty of precision for reporting.
  let value = 0;
  for (let i = 31; i >= 0; i--) value = value * 256 + hash[i]!;
  return value === 0 ? Infinity : Number(DIFFICULTY_1_TARGET) / value;
}
