// BIP340 Schnorr signatures over secp256k1 (SV2.md §3.6): the pool authority signs the server's
// static key with plain BIP340; the only tagging is BIP340's own ("BIP0340/aux", "/nonce",
// "/challenge"). Thin wrappers over @noble/curves `schnorr` that make two things explicit:
//  - signing takes its 32-byte aux randomness as an argument (pure core, STYLE.md #2); the
//    caller draws it from its RandomSource, tests pass the BIP340 vector's aux_rand;
//  - verification is total: any malformed input is "not valid", never an exception, because
//    the signature and message come from the peer.
import { schnorr } from '@noble/curves/secp256k1.js';

export const SCHNORR_SIGNATURE_BYTES = 64;
export const XONLY_PUBLIC_KEY_BYTES = 32;

/**
 * BIP340 Sign(sk, m) with auxiliary randomness a. `message` may be any length (BIP340 allows
 * variable-length messages; SV2 signs a 32-byte SHA-256). Throws RangeError on a secret key
 * outside 1..n-1 or aux randomness that is not 32 bytes (misuse).
 */
export function schnorrSign(message: Uint8Array, secretKey: Uint8Array, auxRand32: Uint8Array): Uint8Array {
  if (!(message instanceof Uint8Array)) throw new TypeError(`schnorrSign: message must be a Uint8Array, got ${typeof message}`);
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new RangeError(`schnorrSign: secretKey must be 32 bytes, got ${_describe(secretKey)}`);
  }
  if (!(auxRand32 instanceof Uint8Array) || auxRand32.length !== 32) {
    throw new RangeError(`schnorrSign: auxRand32 must be 32 bytes, got ${_describe(auxRand32)}`);
  }
  try {
    return schnorr.sign(message, secretKey, auxRand32);
  } catch (error) {
    throw new RangeError(`schnorrSign: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** BIP340 Verify(pk, m, sig). False for any malformed or non-verifying input; never throws. */
export function schnorrVerify(signature: Uint8Array, message: Uint8Array, publicKeyXOnly: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== SCHNORR_SIGNATURE_BYTES) return false;
  if (!(message instanceof Uint8Array)) return false;
  if (!(publicKeyXOnly instanceof Uint8Array) || publicKeyXOnly.length !== XONLY_PUBLIC_KEY_BYTES) return false;
  try {
    return schnorr.verify(signature, message, publicKeyXOnly);
  } catch {
    return false;
  }
}

/** BIP340 x-only public key of a secret key; RangeError when the key is not in 1..n-1. */
export function schnorrPublicKey(secretKey: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new RangeError(`schnorrPublicKey: secretKey must be 32 bytes, got ${_describe(secretKey)}`);
  }
  try {
    return schnorr.getPublicKey(secretKey);
  } catch (error) {
    throw new RangeError(`schnorrPublicKey: invalid secretKey (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** True when the 32 bytes are the x of a curve point (BIP340 lift_x succeeds). */
export function isValidXOnlyPublicKey(publicKeyXOnly: Uint8Array): boolean {
  if (!(publicKeyXOnly instanceof Uint8Array) || publicKeyXOnly.length !== XONLY_PUBLIC_KEY_BYTES) return false;
  try {
    let x = 0n;
    for (const byte of publicKeyXOnly) x = (x << 8n) | BigInt(byte);
    schnorr.utils.lift_x(x);
    return true;
  } catch {
    return false;
  }
}

function _describe(value: unknown): string {
  return value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
}
