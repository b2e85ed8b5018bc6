// The crypto provider: every primitive the Noise layer needs (SV2.md §3.1), behind one interface
// so that the adapters can swap in a runtime's native implementation (adapters/crypto-native.ts)
// while core stays pure. The default, `nobleProvider`, is audited pure TypeScript (@noble/*) and
// runs unchanged on Node, Deno and Bun; it is also the reference every native primitive is
// checked against.
//
// Error policy (STYLE.md #6): wrong key/nonce lengths are misuse by our own code and throw a
// RangeError naming the argument; anything that depends on bytes from the peer (a ciphertext, a
// tag) yields a value (`null`), never an exception.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

export interface CryptoProvider {
  readonly name: string; // e.g. 'noble', 'native(sha256,hmac,aead,ecdh)'
  sha256(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** ChaCha20-Poly1305 (RFC 8439, 12-byte nonce). Returns ciphertext ‖ 16-byte tag. */
  aeadEncrypt(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /**
   * Optional: the same as aeadEncrypt, written into `out` at `offset` (plaintext.length + 16
   * bytes) instead of a fresh array. The transport seals whole frames into one buffer with it
   * (core/noise/transport.ts); callers fall back to aeadEncrypt + copy when it is absent.
   */
  readonly aeadEncryptInto?: (key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number) => void;
  /** Returns the plaintext, or null when the tag does not verify. Never throws on bad input. */
  aeadDecrypt(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ciphertextAndTag: Uint8Array): Uint8Array | null;
  /** 32-byte big-endian x of secretKey·lift_x(x) (the even-y point with that x). */
  ecdhXOnly(secretKey: Uint8Array, x: Uint8Array): Uint8Array;
  /**
   * Optional: 32-byte big-endian x of secretKey·G. A native provider implements it so that a
   * handshake's ephemeral key costs one native scalar multiplication instead of a pure-TS one;
   * callers fall back to noble when it is absent.
   */
  readonly publicKeyX?: (secretKey: Uint8Array) => Uint8Array;
  /**
   * Optional: SHA256(SHA256(data)) of any length, into `out` when given (32 bytes). Offered ONLY
   * where it is faster than core's pure-TS double hash (core/mining/sha256d64.ts), which is the
   * case for Bun's native SHA-256 on Bun and not for node:crypto on Node or Deno (per-call object cost;
   * docs/performance.md). Hot paths pick it with `doubleHashOf(provider)` (core/mining/hash.ts).
   */
  readonly sha256d?: (data: Uint8Array, out?: Uint8Array) => Uint8Array;
}

/** RFC 8439 sizes: 256-bit key, 96-bit nonce, 128-bit Poly1305 tag. */
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

/** Shared argument checks, so every provider fails the same way on misuse. */
export function checkAeadArgs(where: string, key: Uint8Array, nonce: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AEAD_KEY_BYTES) {
    throw new RangeError(`${where}: key must be ${AEAD_KEY_BYTES} bytes, got ${describeBytes(key)}`);
  }
  if (!(nonce instanceof Uint8Array) || nonce.length !== AEAD_NONCE_BYTES) {
    throw new RangeError(`${where}: nonce must be ${AEAD_NONCE_BYTES} bytes, got ${describeBytes(nonce)}`);
  }
}

export function checkEcdhArgs(where: string, secretKey: Uint8Array, x: Uint8Array): void {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new RangeError(`${where}: secretKey must be 32 bytes, got ${describeBytes(secretKey)}`);
  }
  if (!(x instanceof Uint8Array) || x.length !== 32) {
    throw new RangeError(`${where}: x must be 32 bytes, got ${describeBytes(x)}`);
  }
}

export function describeBytes(value: unknown): string {
  return value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
}

// 0x02 ‖ x is the SEC1 compressed encoding of lift_x(x), the even-y point (BIP340 lift_x). The
// x-only ECDH does not depend on which of ±P is used (BIP324 note "lift_x_choice"), but fixing
// the even one keeps every provider on the same point.
const _compressed = new Uint8Array(33);

export const nobleProvider: CryptoProvider = {
  name: 'noble',
  sha256(data) {
    return sha256(data);
  },
  hmacSha256(key, data) {
    return hmac(sha256, key, data);
  },
  aeadEncrypt(key, nonce, ad, plaintext) {
    checkAeadArgs('aeadEncrypt', key, nonce);
    return chacha20poly1305(key, nonce, ad).encrypt(plaintext);
  },
  aeadDecrypt(key, nonce, ad, ciphertextAndTag) {
    checkAeadArgs('aeadDecrypt', key, nonce);
    if (!(ciphertextAndTag instanceof Uint8Array) || ciphertextAndTag.length < AEAD_TAG_BYTES) return null;
    try {
      return chacha20poly1305(key, nonce, ad).decrypt(ciphertextAndTag);
    } catch {
      // noble throws on a tag mismatch; the contract turns that into a value.
      return null;
    }
  },
  ecdhXOnly(secretKey, x) {
    checkEcdhArgs('ecdhXOnly', secretKey, x);
    _compressed[0] = 0x02;
    _compressed.set(x, 1);
    let shared: Uint8Array;
    try {
      // Validates 1 ≤ secretKey < n and that x is on the curve; the result is compressed SEC1.
      shared = secp256k1.getSharedSecret(secretKey, _compressed, true);
    } catch (error) {
      throw new RangeError(`ecdhXOnly: ${error instanceof Error ? error.message : String(error)}`);
    }
    return shared.slice(1, 33);
  },
};
