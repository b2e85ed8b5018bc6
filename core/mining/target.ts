// Targets (SV2.md §2, §5.3, §5.5). A target on the wire is a U256: 32 bytes meaning a
// little-endian integer. A share (or block) is good iff int_LE(hash) <= int_LE(target), with the
// hash being the raw SHA256d output (internal order). Display order ("0000…" hex as explorers
// show it) is the byte reverse of both.
import { bigIntToLe, bytesToHex, hexToBytes, leToBigInt, reversed } from '../bytes.ts';

export const U256_MAX = (1n << 256n) - 1n;

/**
 * Compact `nbits` → target (Bitcoin's arith_uint256::SetCompact). Returns `null` for encodings
 * that Bitcoin's CheckProofOfWork rejects: negative (sign bit 0x00800000 with a nonzero
 * mantissa), zero, or over 256 bits. nbits is a U32 (wire bytes are its LE form, SV2.md §5.5).
 */
export function targetFromNbits(nbits: number): bigint | null {
  if (!Number.isInteger(nbits) || nbits < 0 || nbits > 0xffffffff) throw new RangeError(`targetFromNbits: nbits must be a U32, got ${nbits}`);
  const exponent = nbits >>> 24;
  const mantissa = nbits & 0x007fffff;
  const negative = (nbits & 0x00800000) !== 0;
  const target = exponent <= 3 ? BigInt(mantissa >>> (8 * (3 - exponent))) : BigInt(mantissa) << BigInt(8 * (exponent - 3));
  if (target === 0n || (negative && mantissa !== 0) || target > U256_MAX) return null;
  return target;
}

/**
 * SRI's initial channel target (`channels_sv2::target::hash_rate_to_target`, SV2.md §5.3):
 *   s = 60 / sharesPerMinute; hs = trunc_u128(hashRate · s)   (f64 product, saturating like `as u128`)
 *   target = floor((2^256 − 1 − hs) / (hs + 1))
 * Exact bigint arithmetic after the one f64 product, so it matches SRI bit for bit.
 * Throws RangeError for inputs SRI refuses (sharesPerMinute zero or negative, negative hash
 * rate) and for NaN: the channel layer validates nominal_hash_rate first (`invalid-nominal-hashrate`,
 * SV2.md §9.17), so reaching this with a bad value is our bug.
 */
export function targetFromHashRate(hashRate: number, sharesPerMinute: number): bigint {
  if (typeof sharesPerMinute !== 'number' || Number.isNaN(sharesPerMinute) || sharesPerMinute <= 0) {
    throw new RangeError(`targetFromHashRate: sharesPerMinute must be > 0, got ${sharesPerMinute}`);
  }
  if (typeof hashRate !== 'number' || Number.isNaN(hashRate) || hashRate < 0 || Object.is(hashRate, -0)) {
    throw new RangeError(`targetFromHashRate: hashRate must be >= 0, got ${hashRate}`);
  }
  const product = hashRate * (60 / sharesPerMinute);
  const U128_MAX = (1n << 128n) - 1n;
  const hs = product === Infinity ? U128_MAX : _min(BigInt(Math.trunc(product)), U128_MAX);
  return (U256_MAX - hs) / (hs + 1n);
}

function _min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** Target → U256 wire bytes (32, little-endian). Throws RangeError outside 0..2^256−1. */
export function targetToU256(target: bigint): Uint8Array {
  return bigIntToLe(target, 32);
}

/** U256 wire bytes (32, little-endian) → target. */
export function targetFromU256(bytes: Uint8Array): bigint {
  if (bytes.length !== 32) throw new RangeError(`targetFromU256: need 32 bytes, got ${bytes.length}`);
  return leToBigInt(bytes);
}

/** Target → display hex (big-endian, 64 chars), as SRI logs and explorers show it. */
export function targetToDisplayHex(target: bigint): string {
  return bytesToHex(reversed(targetToU256(target)));
}

/** Display hex (64 chars, big-endian) → target. */
export function targetFromDisplayHex(hex: string): bigint {
  return targetFromU256(reversed(hexToBytes(hex)));
}

/** A 32-byte hash in display order (reversed internal order), as hex. */
export function hashToDisplayHex(hash: Uint8Array): string {
  return bytesToHex(reversed(hash));
}

/**
 * int_LE(hash) <= int_LE(target) (SV2.md §5.5, §9.11), without allocating: compare from the most
 * significant byte (index 31) down. `target` is U256 wire bytes or a bigint.
 */
export function meetsTarget(hash: Uint8Array, target: Uint8Array | bigint): boolean {
  if (hash.length !== 32) throw new RangeError(`meetsTarget: hash must be 32 bytes, got ${hash.length}`);
  if (typeof target === 'bigint') return leToBigInt(hash) <= target;
  if (target.length !== 32) throw new RangeError(`meetsTarget: target must be 32 bytes, got ${target.length}`);
  for (let i = 31; i >= 0; i--) {
    const h = hash[i]!;
    const t = target[i]!;
    if (h !== t) return h < t;
  }
  return true;
}
