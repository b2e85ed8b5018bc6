// Pool authority keys in the forms SRI users paste into configs (SV2.md §3.3):
//  - public:  base58check( 01 00 ‖ xonly32 ), i.e. a LE U16 version = 1 then the BIP340 x-only
//             key, 34 bytes; Bitcoin-style 4-byte SHA256d checksum, Bitcoin alphabet. SRI
//             `key-utils` Secp256k1PublicKey::from_str rejects version ≠ 1 and short input.
//             Example: 76637000…0b08a7455 → 9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh.
//  - secret:  base58check( sk32 ), no prefix (SRI Secp256k1SecretKey).
// Decoders return Result values: the text comes from a config file or a URL, and a typo must
// become a clear message, not an exception. Origin is 'local' (our operator's input).
import { createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { type Result, err, ok, protocolError } from '../errors.ts';
import type { RandomSource } from '../random.ts';
import { isValidXOnlyPublicKey, schnorrPublicKey } from './schnorr.ts';

/** base58check with the Bitcoin checksum: first 4 bytes of SHA256(SHA256(payload)). */
const base58check = createBase58check(sha256);

/** SRI key-utils public-key version, written as U16 LE in front of the x-only key. */
export const AUTHORITY_PUBLIC_KEY_VERSION = 1;
export const AUTHORITY_PUBLIC_KEY_PAYLOAD_BYTES = 34;
/** Upper bound on secret-key draws; a uniform 32-byte draw is out of range with p ≈ 2^-128. */
const KEYGEN_ATTEMPTS_MAX = 64;

export interface AuthorityKeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKeyXOnly: Uint8Array;
  /** base58check(01 00 ‖ xonly), what miners configure. */
  readonly publicKey: string;
  /** base58check(sk), what stays on the gateway. */
  readonly secretKeyText: string;
}

export function encodeAuthorityPublicKey(xonly32: Uint8Array): string {
  if (!(xonly32 instanceof Uint8Array) || xonly32.length !== 32) {
    throw new RangeError(`encodeAuthorityPublicKey: xonly32 must be 32 bytes, got ${_describe(xonly32)}`);
  }
  const payload = new Uint8Array(AUTHORITY_PUBLIC_KEY_PAYLOAD_BYTES);
  payload[0] = AUTHORITY_PUBLIC_KEY_VERSION & 0xff;
  payload[1] = AUTHORITY_PUBLIC_KEY_VERSION >> 8;
  payload.set(xonly32, 2);
  return base58check.encode(payload);
}

/** Parse the user-facing authority public key to its 32-byte x-only form. */
export function decodeAuthorityPublicKey(text: string): Result<Uint8Array> {
  const payload = _decodeBase58check(text, 'authority public key');
  if (!payload.ok) return payload;
  const bytes = payload.value;
  if (bytes.length < AUTHORITY_PUBLIC_KEY_PAYLOAD_BYTES) {
    return err(_invalid(`authority public key is ${bytes.length} bytes after base58check decoding; expected 34 (version 01 00 + 32-byte x-only key)`));
  }
  if (bytes.length > AUTHORITY_PUBLIC_KEY_PAYLOAD_BYTES) {
    return err(_invalid(`authority public key is ${bytes.length} bytes after base58check decoding; expected 34`));
  }
  const version = bytes[0]! | (bytes[1]! << 8);
  if (version !== AUTHORITY_PUBLIC_KEY_VERSION) {
    return err(
      protocolError(
        'unsupported-authority-key-version',
        'local',
        `authority public key version is ${version}; only version ${AUTHORITY_PUBLIC_KEY_VERSION} (prefix 01 00) exists`,
        'authority_public_key',
      ),
    );
  }
  const xonly = bytes.slice(2);
  if (!isValidXOnlyPublicKey(xonly)) {
    return err(_invalid('authority public key is not a point on secp256k1'));
  }
  return ok(xonly);
}

export function encodeAuthoritySecretKey(sk32: Uint8Array): string {
  // schnorrPublicKey validates 1 ≤ sk < n, so we never print a key that cannot sign.
  schnorrPublicKey(sk32);
  return base58check.encode(sk32);
}

export function decodeAuthoritySecretKey(text: string): Result<Uint8Array> {
  const payload = _decodeBase58check(text, 'authority secret key', 'authority_secret_key');
  if (!payload.ok) return payload;
  const bytes = payload.value;
  if (bytes.length !== 32) {
    return err(
      protocolError(
        'invalid-authority-key',
        'local',
        `authority secret key is ${bytes.length} bytes after base58check decoding; expected 32`,
        'authority_secret_key',
      ),
    );
  }
  try {
    schnorrPublicKey(bytes);
  } catch {
    return err(protocolError('invalid-authority-key', 'local', 'authority secret key is zero or not below the curve order', 'authority_secret_key'));
  }
  return ok(bytes);
}

/** x-only public key (32 bytes) belonging to an authority secret key. */
export function authorityPublicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
  return schnorrPublicKey(secretKey);
}

/** Fresh authority key pair from `random` (a CSPRNG in production, SeededRandom in tests). */
export function generateAuthorityKeyPair(random: RandomSource): AuthorityKeyPair {
  for (let attempt = 0; attempt < KEYGEN_ATTEMPTS_MAX; attempt++) {
    const secretKey = random.fill(new Uint8Array(32));
    let publicKeyXOnly: Uint8Array;
    try {
      publicKeyXOnly = schnorrPublicKey(secretKey);
    } catch {
      continue; // 0 or ≥ n: draw again (rejection sampling keeps the key uniform)
    }
    return {
      secretKey,
      publicKeyXOnly,
      publicKey: encodeAuthorityPublicKey(publicKeyXOnly),
      secretKeyText: encodeAuthoritySecretKey(secretKey),
    };
  }
  throw new RangeError(`generateAuthorityKeyPair: no valid secret key in ${KEYGEN_ATTEMPTS_MAX} draws; the RandomSource is not random`);
}

function _decodeBase58check(text: string, what: string, field = 'authority_public_key'): Result<Uint8Array> {
  if (typeof text !== 'string' || text.trim() === '') {
    return err(protocolError('invalid-authority-key', 'local', `${what} is empty`, field));
  }
  try {
    return ok(base58check.decode(text.trim()));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return err(protocolError('invalid-authority-key', 'local', `${what} is not valid base58check (${reason})`, field));
  }
}

function _invalid(message: string) {
  return protocolError('invalid-authority-key', 'local', message, 'authority_public_key');
}

function _describe(value: unknown): string {
  return value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
}
