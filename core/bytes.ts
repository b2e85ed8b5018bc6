// Byte helpers shared by every core module. Hex and concatenation come from @noble/hashes so
// that the whole project uses one, audited implementation.
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';

export { bytesToHex, concatBytes, hexToBytes };

/** Constant-time equality for secrets (MACs, HMACs, API keys). Length is not secret. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Lenient UTF-8 decode: invalid sequences become U+FFFD (SV2.md §2: SRI does not validate). */
export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** Reverse a copy (hash display order <-> internal order). */
export function reversed(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes).reverse();
}

/** Unsigned little-endian integer of any width to bigint (U256 targets, SV2.md §2). */
export function leToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

/** bigint to fixed-width little-endian bytes; throws RangeError if it does not fit. */
export function bigIntToLe(value: bigint, width: number): Uint8Array {
  if (value < 0n || value >> BigInt(width * 8) !== 0n) {
    throw new RangeError(`bigIntToLe: value ${value} does not fit in ${width} bytes`);
  }
  const out = new Uint8Array(width);
  for (let i = 0; i < width; i++) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}
