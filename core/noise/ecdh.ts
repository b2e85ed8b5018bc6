// The SV2 Noise DH function: exactly BIP324 `v2_ecdh` (SV2.md §0.6, §3.4). Not a plain x-only
// ECDH: the shared x is hashed with both 64-byte encodings *as transmitted*, initiator first,
// under the tag "bip324_ellswift_xonly_ecdh". SRI reaches it through rust-secp256k1
// `ElligatorSwift::shared_secret` → `secp256k1_ellswift_xdh(..., bip324 hash)`. Getting the
// order wrong (SV2.md §9.2) shows up as a MAC failure on the encrypted static key in Act 2.
import { sha256 } from '@noble/hashes/sha2.js';
import type { CryptoProvider } from '../crypto/provider.ts';
import { ELLSWIFT_ENCODING_BYTES, ellswiftDecode } from './ellswift.ts';

/** BIP340-style tag prefix SHA256(tag) ‖ SHA256(tag); a constant, so computed once. */
const TAG = sha256(new TextEncoder().encode('bip324_ellswift_xonly_ecdh'));

/**
 * BIP324 v2_ecdh:
 *   x = x(secretKey · lift_x(XSwiftEC(ellTheirs)))
 *   return SHA256(T ‖ T ‖ ell_initiator ‖ ell_responder ‖ x),  T = SHA256("bip324_ellswift_xonly_ecdh")
 * `initiating` says whether WE are the handshake initiator, so the initiator's encoding always
 * comes first whichever side computes it (for `es` the responder passes its static encoding as
 * `ellOurs` and `initiating = false`; SV2.md §3.5).
 */
export function v2Ecdh(
  provider: CryptoProvider,
  secretKey: Uint8Array,
  ellOurs: Uint8Array,
  ellTheirs: Uint8Array,
  initiating: boolean,
  /** x of ellTheirs when the caller already decoded it (the responder uses act 1 twice). */
  theirX: Uint8Array = ellswiftDecode(ellTheirs),
): Uint8Array {
  if (!(ellOurs instanceof Uint8Array) || ellOurs.length !== ELLSWIFT_ENCODING_BYTES) {
    throw new RangeError(`v2Ecdh: ellOurs must be 64 bytes, got ${ellOurs instanceof Uint8Array ? ellOurs.length : typeof ellOurs}`);
  }
  // ellswiftDecode checks ellTheirs' length; its content never fails to decode (SV2.md §3.3).
  const sharedX = provider.ecdhXOnly(secretKey, theirX);
  const preimage = new Uint8Array(2 * TAG.length + 2 * ELLSWIFT_ENCODING_BYTES + 32);
  preimage.set(TAG, 0);
  preimage.set(TAG, 32);
  preimage.set(initiating ? ellOurs : ellTheirs, 64);
  preimage.set(initiating ? ellTheirs : ellOurs, 128);
  preimage.set(sharedX, 192);
  const secret = provider.sha256(preimage);
  // The preimage holds the raw shared x; do not leave it lying around.
  preimage.fill(0);
  sharedX.fill(0);
  return secret;
}
