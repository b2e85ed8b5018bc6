// Noise SymmetricState and CipherState, byte-exact as SV2 (and SRI's noise_sv2) uses them
// (SV2.md §3.1, §3.2; Noise spec rev 34 §5.1, §5.2). Names follow the Noise spec: mixHash,
// mixKey, encryptAndHash, decryptAndHash, split.
//
// Everything cryptographic goes through a CryptoProvider so that the same state machine runs on
// @noble/* or on a runtime's native primitives; this file only adds the Noise bookkeeping.
import { describeBytes, type CryptoProvider } from '../crypto/provider.ts';
import { utf8 } from '../bytes.ts';

/** SV2.md §3.1: the 45-byte ASCII protocol name. Longer than HASHLEN, so it is hashed. */
export const NOISE_PROTOCOL_NAME = 'Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256';
/** SHA-256 output and ChaCha20-Poly1305 key length. */
export const HASH_BYTES = 32;
/** Poly1305 tag appended to every AEAD ciphertext (noise_sv2 `AEAD_MAC_LEN`). */
export const MAC_BYTES = 16;
/** IETF ChaCha20-Poly1305 nonce length. */
export const NONCE_BYTES = 12;
/**
 * Noise §5.1: n = 2^64−1 is reserved; a CipherState refuses to use it. Core (sv2-tp) refuses
 * once n would reach it (SV2.md §3.7). There is no rekey in SV2, so this is the end of a session.
 */
export const NONCE_MAX = 2n ** 64n - 1n;

const EMPTY = new Uint8Array(0);
const BYTE_01 = Uint8Array.of(0x01);

/**
 * `00 00 00 00 ‖ LE64(n)` (SV2.md §3.2, SRI `nonce_to_bytes`). Written from two u32 halves so
 * the hot transport path needs no bigint arithmetic.
 */
export function writeNonce(out: Uint8Array, low: number, high: number): Uint8Array {
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  out[4] = low & 0xff;
  out[5] = (low >>> 8) & 0xff;
  out[6] = (low >>> 16) & 0xff;
  out[7] = low >>> 24;
  out[8] = high & 0xff;
  out[9] = (high >>> 8) & 0xff;
  out[10] = (high >>> 16) & 0xff;
  out[11] = high >>> 24;
  return out;
}

/** The 12-byte nonce for counter `n` (0 ≤ n < 2^64). */
export function nonceBytes(n: bigint): Uint8Array {
  if (typeof n !== 'bigint' || n < 0n || n > NONCE_MAX) {
    throw new RangeError(`nonceBytes: n must be a bigint in 0..2^64-1, got ${String(n)}`);
  }
  return writeNonce(new Uint8Array(NONCE_BYTES), Number(n & 0xffffffffn), Number(n >> 32n));
}

/**
 * HKDF with two outputs (SV2.md §3.2): t = HMAC(ck, ikm); o1 = HMAC(t, 0x01);
 * o2 = HMAC(t, o1 ‖ 0x02). This is RFC 5869 with salt = ck and empty info, truncated to 64 bytes.
 */
export function hkdf2(provider: CryptoProvider, chainingKey: Uint8Array, inputKeyMaterial: Uint8Array): [Uint8Array, Uint8Array] {
  const temp = provider.hmacSha256(chainingKey, inputKeyMaterial);
  const output1 = provider.hmacSha256(temp, BYTE_01);
  const block = new Uint8Array(HASH_BYTES + 1);
  block.set(output1, 0);
  block[HASH_BYTES] = 0x02;
  const output2 = provider.hmacSha256(temp, block);
  return [output1, output2];
}

/** `ck0 = SHA256(name)` and `h0 = SHA256(ck0)` (SV2.md §3.1; no second empty-prologue MixHash). */
export function initialChainingKeyAndHash(provider: CryptoProvider): { readonly ck: Uint8Array; readonly h: Uint8Array } {
  const ck = provider.sha256(utf8(NOISE_PROTOCOL_NAME));
  return { ck, h: provider.sha256(ck) };
}

/**
 * Noise CipherState (§5.1) with a 64-bit counter kept as two u32 halves. One instance per key:
 * during the handshake the SymmetricState replaces it at every MixKey (n restarts at 0,
 * SV2.md §3.5); in transport there is one per direction (SV2.md §3.7).
 */
export class CipherState {
  readonly #provider: CryptoProvider;
  readonly #key: Uint8Array;
  #low = 0;
  #high = 0;
  readonly #nonce = new Uint8Array(NONCE_BYTES);

  constructor(provider: CryptoProvider, key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length !== HASH_BYTES) {
      throw new TypeError(`CipherState: key must be a ${HASH_BYTES}-byte Uint8Array, got ${describeBytes(key)}`);
    }
    this.#provider = provider;
    this.#key = Uint8Array.from(key);
  }

  /** The next nonce counter value. */
  get nonce(): bigint {
    return (BigInt(this.#high) << 32n) | BigInt(this.#low);
  }

  /** Noise `SetNonce`; for tests of the exhaustion limit and for resuming bookkeeping. */
  setNonce(n: bigint): void {
    if (typeof n !== 'bigint' || n < 0n || n > NONCE_MAX) {
      throw new RangeError(`setNonce: n must be a bigint in 0..2^64-1, got ${String(n)}`);
    }
    this.#low = Number(n & 0xffffffffn);
    this.#high = Number(n >> 32n);
  }

  /** True when `count` more AEAD operations fit below the reserved nonce 2^64−1 (count ≤ 2^32). */
  hasNoncesFor(count: number): boolean {
    // Only the high half matters unless it is at its maximum: 2^32 − low is then the headroom.
    if (this.#high < 0xffffffff) return true;
    return 0xffffffff - this.#low >= count;
  }

  /** AEAD-encrypt at the current nonce, then advance it. Caller checks `hasNoncesFor(1)`. */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.hasNoncesFor(1)) throw new RangeError('CipherState: nonce 2^64-1 is reserved (SV2.md §3.7, no rekey)');
    const out = this.#provider.aeadEncrypt(this.#key, writeNonce(this.#nonce, this.#low, this.#high), ad, plaintext);
    this.#advance();
    return out;
  }

  /**
   * encryptWithAd into `out` at `offset` (plaintext.length + 16 bytes): no intermediate array
   * when the provider has aeadEncryptInto. Returns the bytes written.
   */
  encryptWithAdInto(ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number {
    if (!this.hasNoncesFor(1)) throw new RangeError('CipherState: nonce 2^64-1 is reserved (SV2.md §3.7, no rekey)');
    const nonce = writeNonce(this.#nonce, this.#low, this.#high);
    const into = this.#provider.aeadEncryptInto;
    if (into !== undefined) into(this.#key, nonce, ad, plaintext, out, offset);
    else out.set(this.#provider.aeadEncrypt(this.#key, nonce, ad, plaintext), offset);
    this.#advance();
    return plaintext.length + MAC_BYTES;
  }

  /**
   * AEAD-decrypt at the current nonce; advance only on success (SV2.md §3.2: a failed decrypt
   * leaves n untouched). Returns null on a bad MAC or when the nonce is exhausted.
   */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    if (!this.hasNoncesFor(1) || ciphertext.length < MAC_BYTES) return null;
    const out = this.#provider.aeadDecrypt(this.#key, writeNonce(this.#nonce, this.#low, this.#high), ad, ciphertext);
    if (out === null) return null;
    this.#advance();
    return out;
  }

  #advance(): void {
    if (this.#low === 0xffffffff) {
      this.#low = 0;
      this.#high++;
    } else {
      this.#low++;
    }
  }
}

/**
 * Noise SymmetricState (§5.2) for `Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256`, initialised
 * exactly as SV2.md §3.1 says: ck = SHA256(name), h = SHA256(ck), no key.
 */
export class SymmetricState {
  readonly #provider: CryptoProvider;
  #ck: Uint8Array;
  #h: Uint8Array;
  #cipher: CipherState | undefined;

  constructor(provider: CryptoProvider) {
    this.#provider = provider;
    const { ck, h } = initialChainingKeyAndHash(provider);
    this.#ck = ck;
    this.#h = h;
  }

  /** Handshake hash (copy). */
  get h(): Uint8Array {
    return Uint8Array.from(this.#h);
  }

  /** Chaining key (copy). */
  get ck(): Uint8Array {
    return Uint8Array.from(this.#ck);
  }

  /** `h = SHA256(h ‖ data)`. */
  mixHash(data: Uint8Array): void {
    const block = new Uint8Array(HASH_BYTES + data.length);
    block.set(this.#h, 0);
    block.set(data, HASH_BYTES);
    this.#h = this.#provider.sha256(block);
  }

  /** `(ck, k) = HKDF2(ck, ikm)`; n = 0. */
  mixKey(inputKeyMaterial: Uint8Array): void {
    const [ck, key] = hkdf2(this.#provider, this.#ck, inputKeyMaterial);
    this.#ck = ck;
    this.#cipher = new CipherState(this.#provider, key);
  }

  /**
   * With a key: c = AEAD(k, nonce(n++), ad = h, p) (ciphertext ‖ tag); without: c = p. Then
   * MixHash(c) — the ciphertext is hashed, not the plaintext (SV2.md §3.2, §9.3).
   */
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.#cipher === undefined ? Uint8Array.from(plaintext) : this.#cipher.encryptWithAd(this.#h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /**
   * Mirror of encryptAndHash. Returns null on a bad MAC; then neither h nor n changes and the
   * handshake must be aborted (SV2.md §3.2).
   */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array | null {
    if (this.#cipher === undefined) {
      this.mixHash(ciphertext);
      return Uint8Array.from(ciphertext);
    }
    const plaintext = this.#cipher.decryptWithAd(this.#h, ciphertext);
    if (plaintext === null) return null;
    this.mixHash(ciphertext);
    return plaintext;
  }

  /**
   * `(k1, k2) = HKDF2(ck, "")` (SV2.md §3.7). k1 protects initiator→responder traffic and k2
   * responder→initiator traffic.
   */
  split(): { readonly initiatorToResponderKey: Uint8Array; readonly responderToInitiatorKey: Uint8Array } {
    const [k1, k2] = hkdf2(this.#provider, this.#ck, EMPTY);
    return { initiatorToResponderKey: k1, responderToInitiatorKey: k2 };
  }
}
