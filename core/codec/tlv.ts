// TLV fields appended to a message payload by negotiated extensions (SV2.md §10).
//
//   type   = extension_type U16 LE ‖ field_type U8
//   length = U16 LE
//   value  = `length` bytes
//
// Byte order: the spec's example prints the header big-endian (`00 02 01 00 0A …`); SRI
// (`sv2/parsers-sv2/src/tlv/codec.rs`, tests included) writes little-endian, `02 00 01 0a 00` +
// `Worker_001`. We follow SRI, the software miners and proxies run, consistent with every other
// SV2 integer (SV2.md §10, §9.15).
//
// Receive leniently (SRI `TlvIter`/`TlvList::for_extensions`): TLVs of extensions that were not
// negotiated are ignored, and a malformed tail (fewer than 5 bytes, or a length running past the
// end) ends the list without failing the message. Send strictly: values are range-checked and
// TLVs must be ordered by extension_type ("TLVs go at the end of the payload, ordered by
// extension_type", SV2.md §10).
import { fromUtf8, utf8 } from '../bytes.ts';
import { err, ok, protocolError, type Result } from '../errors.ts';
import type { Writer } from './types.ts';

export const TLV_HEADER_BYTES = 5;
/** Extension 0x0001: Extensions Negotiation (RequestExtensions & co., no TLVs). */
export const EXTENSIONS_NEGOTIATION = 0x0001;
/** Extension 0x0002: Worker-Specific Hashrate Tracking. */
export const WORKER_HASHRATE_TRACKING = 0x0002;
/** Field 0x01 of extension 0x0002: the worker's user_identity (UTF-8). */
export const WORKER_IDENTITY_FIELD = 0x01;
/** SRI `MAX_USER_IDENTITY_LENGTH`: the worker identity value holds at most 32 bytes. */
export const WORKER_IDENTITY_BYTES_MAX = 32;

export interface Tlv {
  /** Extension id (U16; 0x0002 for the worker identity). */
  readonly extensionType: number;
  /** Field id within the extension (U8). */
  readonly fieldType: number;
  /** Raw value (a copy, never a view of the received frame). */
  readonly value: Uint8Array;
}

/**
 * Parse the TLVs in `bytes` (the payload tail after a message's last field), keeping only those
 * whose extension is in `negotiatedExtensions`. Never fails: a malformed tail just ends the list
 * (SRI's TlvIter stops at the first error, and for_extensions drops errors).
 */
export function decodeTlvs(bytes: Uint8Array, negotiatedExtensions: readonly number[]): Tlv[] {
  const out: Tlv[] = [];
  let offset = 0;
  while (bytes.length - offset >= TLV_HEADER_BYTES) {
    const extensionType = bytes[offset]! | (bytes[offset + 1]! << 8);
    const fieldType = bytes[offset + 2]!;
    const length = bytes[offset + 3]! | (bytes[offset + 4]! << 8);
    const start = offset + TLV_HEADER_BYTES;
    if (bytes.length - start < length) break;
    if (negotiatedExtensions.includes(extensionType)) {
      out.push({ extensionType, fieldType, value: bytes.slice(start, start + length) });
    }
    offset = start + length;
  }
  return out;
}

/** Append TLVs (strict: ranges, ordering, and the worker identity's 32-byte limit). */
export function writeTlvs(writer: Writer, tlvs: readonly Tlv[], field = 'tlvs'): void {
  if (!Array.isArray(tlvs)) throw new TypeError(`${field} must be an array of TLVs, got ${String(tlvs)}`);
  let previousExtension = -1;
  tlvs.forEach((tlv, i) => {
    const name = `${field}[${i}]`;
    if (tlv === null || typeof tlv !== 'object') throw new TypeError(`${name} must be a TLV object, got ${String(tlv)}`);
    const { extensionType, fieldType, value } = tlv;
    if (!(value instanceof Uint8Array)) throw new TypeError(`${name}.value must be a Uint8Array, got ${String(value)}`);
    if (value.length > 0xffff) throw new RangeError(`${name}.value holds at most 65535 bytes, got ${value.length}`);
    if (extensionType < previousExtension) {
      throw new RangeError(`${name}: TLVs must be ordered by extension_type, got 0x${extensionType.toString(16)} after 0x${previousExtension.toString(16)}`);
    }
    if (extensionType === WORKER_HASHRATE_TRACKING && fieldType === WORKER_IDENTITY_FIELD && value.length > WORKER_IDENTITY_BYTES_MAX) {
      throw new RangeError(`${name}: worker identity holds at most ${WORKER_IDENTITY_BYTES_MAX} bytes, got ${value.length}`);
    }
    writer.u16(extensionType, `${name}.extension_type`);
    writer.u8(fieldType, `${name}.field_type`);
    writer.u16(value.length, `${name}.length`);
    writer.raw(value);
    previousExtension = extensionType;
  });
}

/** The worker identity TLV (0x0002, 0x01) for `name`; throws RangeError over 32 UTF-8 bytes. */
export function workerIdentityTlv(name: string): Tlv {
  if (typeof name !== 'string') throw new TypeError(`workerIdentityTlv: name must be a string, got ${String(name)}`);
  const value = utf8(name);
  if (value.length > WORKER_IDENTITY_BYTES_MAX) {
    throw new RangeError(`workerIdentityTlv: name holds at most ${WORKER_IDENTITY_BYTES_MAX} UTF-8 bytes, got ${value.length} (${JSON.stringify(name)})`);
  }
  return { extensionType: WORKER_HASHRATE_TRACKING, fieldType: WORKER_IDENTITY_FIELD, value };
}

/**
 * The worker identity carried in `tlvs`, `null` if absent. A value over 32 bytes is a peer
 * error (`invalid-length`, field `worker_identity`), as in SRI's `UserIdentity::from_bytes`.
 * Invalid UTF-8 decodes leniently (U+FFFD), like STR0_255.
 */
export function workerIdentityOf(tlvs: readonly Tlv[] | undefined): Result<string | null> {
  const tlv = tlvs?.find((t) => t.extensionType === WORKER_HASHRATE_TRACKING && t.fieldType === WORKER_IDENTITY_FIELD);
  if (tlv === undefined) return ok(null);
  if (tlv.value.length > WORKER_IDENTITY_BYTES_MAX) {
    return err(protocolError('invalid-length', 'remote', `worker identity TLV is ${tlv.value.length} bytes, maximum ${WORKER_IDENTITY_BYTES_MAX}`, 'worker_identity'));
  }
  return ok(fromUtf8(tlv.value));
}
