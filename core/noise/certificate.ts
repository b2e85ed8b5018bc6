// SIGNATURE_NOISE_MESSAGE, the SV2 "certificate" (SV2.md §3.6). 74 plaintext bytes, sent only
// encrypted as the last part of Act 2 (SV2.md §3.5):
//
//   off size field
//    0   2   version          U16 LE   (SRI sends 0; Core rejects > 0)
//    2   4   valid_from       U32 LE   unix seconds
//    6   4   not_valid_after  U32 LE   unix seconds
//   10  64   BIP340 signature R.x ‖ s by the pool AUTHORITY key over
//            m = SHA256(bytes[0..10] ‖ server_static_xonly32)
//
// The certificate is never sent as a unit: the verifier rebuilds the signed message from these
// 74 bytes and the static key it just decrypted (x of the 64-byte EllSwift encoding).
import { sha256 } from '@noble/hashes/sha2.js';
import { type ProtocolError, type Result, err, ok, protocolError } from '../errors.ts';
import { schnorrSign, schnorrVerify } from './schnorr.ts';

/** noise_sv2 SIGNATURE_NOISE_MESSAGE_SIZE (SV2.md §3.1). */
export const SIGNATURE_NOISE_MESSAGE_BYTES = 74;
/** Bytes covered by the signature besides the static key: version ‖ valid_from ‖ not_valid_after. */
export const CERTIFICATE_HEADER_BYTES = 10;
/** The only version anyone sends or Core accepts (SV2.md §3.6, §9.4). */
export const CERTIFICATE_VERSION = 0;
/** SRI ≥ noise_sv2 1.4.1 accepts `valid_from − 10 ≤ now ≤ not_valid_after + 10` (SV2.md §3.6). */
export const CERTIFICATE_LEEWAY_S_DEFAULT = 10;
/** SRI's pool signs certificates valid for an hour (sv2-apps #110 logs, SV2.md §3.6). */
export const CERTIFICATE_VALIDITY_S_DEFAULT = 3600;
/**
 * How far valid_from is put in the past. Clients whose clock runs behind ours reject a
 * certificate with valid_from = now: Core and older SRI have no leeway at all, newer SRI only
 * 10 s (SV2.md §3.6 "Recommendations", §9.4; stratum #1269, sv2-apps #110). Five minutes covers
 * ordinary NTP-less drift on miners without making stale certificates meaningfully longer-lived.
 */
export const CERTIFICATE_BACKDATE_S_DEFAULT = 300;

const U32_MAX = 0xffff_ffff;

export interface CertificateFields {
  readonly version: number;
  readonly validFromS: number;
  readonly notValidAfterS: number;
}

export interface Certificate extends CertificateFields {
  /** 64-byte BIP340 signature. */
  readonly signature: Uint8Array;
}

/** Serialize the 74 bytes. RangeError on out-of-range fields (misuse). */
export function encodeCertificate(cert: Certificate): Uint8Array {
  const out = new Uint8Array(SIGNATURE_NOISE_MESSAGE_BYTES);
  _writeHeader(out, cert);
  if (!(cert.signature instanceof Uint8Array) || cert.signature.length !== 64) {
    throw new RangeError(`encodeCertificate: signature must be 64 bytes, got ${cert.signature instanceof Uint8Array ? cert.signature.length : typeof cert.signature}`);
  }
  out.set(cert.signature, CERTIFICATE_HEADER_BYTES);
  return out;
}

/** Parse the 74 bytes from the peer. Only the length can be wrong at this layer. */
export function decodeCertificate(bytes: Uint8Array): Result<Certificate> {
  if (!(bytes instanceof Uint8Array) || bytes.length !== SIGNATURE_NOISE_MESSAGE_BYTES) {
    return err(
      protocolError(
        'invalid-certificate',
        'remote',
        `SIGNATURE_NOISE_MESSAGE must be ${SIGNATURE_NOISE_MESSAGE_BYTES} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`,
        'signature_noise_message',
      ),
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return ok({
    version: view.getUint16(0, true),
    validFromS: view.getUint32(2, true),
    notValidAfterS: view.getUint32(6, true),
    signature: bytes.slice(CERTIFICATE_HEADER_BYTES, SIGNATURE_NOISE_MESSAGE_BYTES),
  });
}

/** The signed message m = SHA256(version ‖ valid_from ‖ not_valid_after ‖ server_static_xonly32). */
export function certificateMessage(fields: CertificateFields, serverStaticXOnly: Uint8Array): Uint8Array {
  _check32('certificateMessage', 'serverStaticXOnly', serverStaticXOnly);
  const preimage = new Uint8Array(CERTIFICATE_HEADER_BYTES + 32);
  _writeHeader(preimage, fields);
  preimage.set(serverStaticXOnly, CERTIFICATE_HEADER_BYTES);
  return sha256(preimage);
}

/**
 * Sign a certificate for `serverStaticXOnly` with the authority secret key; returns the 74
 * bytes to encrypt into Act 2. `auxRand32` is BIP340's aux randomness (draw it from the
 * RandomSource; zeros reproduce the SV2.md §3.10 transcript).
 */
export function signCertificate(
  fields: { readonly version?: 0; readonly validFromS: number; readonly notValidAfterS: number },
  serverStaticXOnly: Uint8Array,
  authoritySecretKey: Uint8Array,
  auxRand32: Uint8Array,
): Uint8Array {
  const full: CertificateFields = {
    version: fields.version ?? CERTIFICATE_VERSION,
    validFromS: fields.validFromS,
    notValidAfterS: fields.notValidAfterS,
  };
  if (full.notValidAfterS < full.validFromS) {
    throw new RangeError(`signCertificate: notValidAfterS ${full.notValidAfterS} is before validFromS ${full.validFromS}`);
  }
  const signature = schnorrSign(certificateMessage(full, serverStaticXOnly), authoritySecretKey, auxRand32);
  return encodeCertificate({ ...full, signature });
}

/**
 * Check a received certificate the way SRI ≥ 1.4.1 does, plus Core's version rule:
 *  1. length 74 and version 0                       else 'invalid-certificate'
 *  2. BIP340 signature by the configured authority  else 'invalid-certificate'
 *  3. valid_from − leeway ≤ now ≤ not_valid_after + leeway
 *     else 'certificate-not-yet-valid' / 'certificate-expired'
 * All failures are origin 'remote' (the server presented it). The signature is checked before
 * the times so that a forged certificate is never reported as merely expired.
 */
export function verifyCertificate(
  cert74: Uint8Array,
  serverStaticXOnly: Uint8Array,
  authorityXOnly: Uint8Array,
  nowS: number,
  leewayS: number = CERTIFICATE_LEEWAY_S_DEFAULT,
): Result<CertificateFields> {
  _check32('verifyCertificate', 'serverStaticXOnly', serverStaticXOnly);
  _check32('verifyCertificate', 'authorityXOnly', authorityXOnly);
  if (!Number.isFinite(nowS)) throw new RangeError(`verifyCertificate: nowS must be a finite number, got ${nowS}`);
  if (!(Number.isFinite(leewayS) && leewayS >= 0)) throw new RangeError(`verifyCertificate: leewayS must be ≥ 0, got ${leewayS}`);
  const decoded = decodeCertificate(cert74);
  if (!decoded.ok) return decoded;
  const cert = decoded.value;
  const fields: CertificateFields = { version: cert.version, validFromS: cert.validFromS, notValidAfterS: cert.notValidAfterS };
  if (cert.version !== CERTIFICATE_VERSION) {
    return err(_invalid(`certificate version ${cert.version} is not supported (only ${CERTIFICATE_VERSION})`, 'version'));
  }
  if (!schnorrVerify(cert.signature, certificateMessage(fields, serverStaticXOnly), authorityXOnly)) {
    return err(_invalid('certificate signature does not verify against the configured authority key', 'signature'));
  }
  if (nowS + leewayS < cert.validFromS) {
    return err(
      protocolError(
        'certificate-not-yet-valid',
        'remote',
        `certificate valid_from ${cert.validFromS} is after now ${nowS} + leeway ${leewayS} s (check both clocks)`,
        'valid_from',
      ),
    );
  }
  if (nowS - leewayS > cert.notValidAfterS) {
    return err(
      protocolError(
        'certificate-expired',
        'remote',
        `certificate not_valid_after ${cert.notValidAfterS} is before now ${nowS} − leeway ${leewayS} s`,
        'not_valid_after',
      ),
    );
  }
  return ok(fields);
}

/**
 * Validity window for a certificate signed at `nowS`: valid_from backdated by `backdateSecs`
 * (default 300 s; see CERTIFICATE_BACKDATE_S_DEFAULT for why) and not_valid_after
 * `validitySecs` after now (default 3600 s, like SRI). Both are clamped to the U32 range.
 */
export function certificateValidity(
  nowS: number,
  options: { readonly validitySecs?: number; readonly backdateSecs?: number } = {},
): { validFromS: number; notValidAfterS: number } {
  const validitySecs = options.validitySecs ?? CERTIFICATE_VALIDITY_S_DEFAULT;
  const backdateSecs = options.backdateSecs ?? CERTIFICATE_BACKDATE_S_DEFAULT;
  if (!Number.isSafeInteger(nowS) || nowS < 0 || nowS > U32_MAX) {
    throw new RangeError(`certificateValidity: nowS must be an integer in 0..${U32_MAX}, got ${nowS}`);
  }
  if (!Number.isSafeInteger(validitySecs) || validitySecs <= 0) {
    throw new RangeError(`certificateValidity: validitySecs must be a positive integer, got ${validitySecs}`);
  }
  if (!Number.isSafeInteger(backdateSecs) || backdateSecs < 0) {
    throw new RangeError(`certificateValidity: backdateSecs must be a non-negative integer, got ${backdateSecs}`);
  }
  return { validFromS: Math.max(0, nowS - backdateSecs), notValidAfterS: Math.min(U32_MAX, nowS + validitySecs) };
}

function _writeHeader(out: Uint8Array, fields: CertificateFields): void {
  _checkUint('version', fields.version, 0xffff);
  _checkUint('validFromS', fields.validFromS, U32_MAX);
  _checkUint('notValidAfterS', fields.notValidAfterS, U32_MAX);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint16(0, fields.version, true);
  view.setUint32(2, fields.validFromS, true);
  view.setUint32(6, fields.notValidAfterS, true);
}

function _checkUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`certificate: ${name} must be an integer in 0..${max}, got ${value}`);
  }
}

function _check32(where: string, name: string, value: Uint8Array): void {
  if (!(value instanceof Uint8Array) || value.length !== 32) {
    throw new RangeError(`${where}: ${name} must be 32 bytes, got ${value instanceof Uint8Array ? value.length : typeof value}`);
  }
}

function _invalid(message: string, field: string): ProtocolError {
  return protocolError('invalid-certificate', 'remote', message, field);
}
