// The 80-byte block header and its hash (SV2.md §5.5):
//   header80 = LE32(version) ‖ prev_hash(32) ‖ merkle_root(32) ‖ LE32(ntime) ‖ LE32(nbits) ‖ LE32(nonce)
// prev_hash and merkle_root are raw U256 bytes exactly as on the SV2 wire (internal order).
import { defaultSha256, sha256d, type Sha256 } from './hash.ts';

export const HEADER_BYTES = 80;

export interface HeaderFields {
  /** The share's version (after any version rolling). */
  readonly version: number;
  /** 32 bytes exactly as in SetNewPrevHash.prev_hash. */
  readonly prevHash: Uint8Array;
  /** 32 bytes, internal order. */
  readonly merkleRoot: Uint8Array;
  readonly ntime: number;
  readonly nbits: number;
  readonly nonce: number;
}

/** Serialize the header; throws RangeError naming a field that is out of range. */
export function header80(fields: HeaderFields, out: Uint8Array = new Uint8Array(HEADER_BYTES)): Uint8Array {
  const { version, prevHash, merkleRoot, ntime, nbits, nonce } = fields;
  if (out.length < HEADER_BYTES) throw new RangeError(`header80: out must hold ${HEADER_BYTES} bytes, got ${out.length}`);
  if (prevHash.length !== 32) throw new RangeError(`header80: prevHash must be 32 bytes, got ${prevHash.length}`);
  if (merkleRoot.length !== 32) throw new RangeError(`header80: merkleRoot must be 32 bytes, got ${merkleRoot.length}`);
  _le32(out, 0, version, 'version');
  out.set(prevHash, 4);
  out.set(merkleRoot, 36);
  _le32(out, 68, ntime, 'ntime');
  _le32(out, 72, nbits, 'nbits');
  _le32(out, 76, nonce, 'nonce');
  return out;
}

/** SHA256d(header80), internal order (display = reversed). */
export function headerHash(header: Uint8Array, sha256: Sha256 = defaultSha256): Uint8Array {
  if (header.length !== HEADER_BYTES) throw new RangeError(`headerHash: header must be ${HEADER_BYTES} bytes, got ${header.length}`);
  return sha256d(header, sha256);
}

function _le32(out: Uint8Array, at: number, value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`header80: ${name} must be a U32, got ${value}`);
  out[at] = value & 0xff;
  out[at + 1] = (value >>> 8) & 0xff;
  out[at + 2] = (value >>> 16) & 0xff;
  out[at + 3] = value >>> 24;
}
