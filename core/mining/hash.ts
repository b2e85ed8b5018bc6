// Double SHA-256, the one hash of Bitcoin headers, txids and merkle nodes (SV2.md §5.4, §5.5).
// The single-SHA-256 function is a parameter so an adapter can inject a faster native one
// (SPEC §2: Bun.SHA256 is ~7× faster than anything else); the default is @noble/hashes.
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

/** One SHA-256 over `data`, returning 32 bytes. */
export type Sha256 = (data: Uint8Array) => Uint8Array;

/** The pure-TypeScript default. */
export const defaultSha256: Sha256 = (data) => nobleSha256(data);

/** SHA256(SHA256(data)): 32 bytes in Bitcoin's internal byte order (display order reversed). */
export function sha256d(data: Uint8Array, sha256: Sha256 = defaultSha256): Uint8Array {
  return sha256(sha256(data));
}
