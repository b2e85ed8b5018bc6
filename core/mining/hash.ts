// Double SHA-256, the one hash of Bitcoin headers, txids and merkle nodes (SV2.md §5.4, §5.5).
// The single-SHA-256 function is a parameter so an adapter can inject a faster native one
// (SPEC §2: Bun's native SHA-256 is ~7× faster than anything else); the default single hash is
// @noble/hashes, and every default DOUBLE hash runs on the pure-TS sha256d64.ts.
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { sha256dAny } from './sha256d64.ts';

/** One SHA-256 over `data`, returning 32 bytes. */
export type Sha256 = (data: Uint8Array) => Uint8Array;

/** The pure-TypeScript default. */
export const defaultSha256: Sha256 = (data) => nobleSha256(data);

/** SHA256(SHA256(data)): 32 bytes in Bitcoin's internal byte order (display order reversed). */
export function sha256d(data: Uint8Array, sha256: Sha256 = defaultSha256): Uint8Array {
  // The default runs on the allocation-free pure-TS double hash (sha256d64.ts: the same bytes,
  // ~1.6× noble at 150 B, more at 64/80 B); an injected hash is used as given.
  return sha256 === defaultSha256 ? sha256dAny(data) : sha256(sha256(data));
}

/**
 * A whole double SHA-256 in one call, writing into `out` when given (32 bytes, may alias
 * `data`) and returning the 32-byte result. The hot paths (merkle roots of extended shares,
 * header hashes, the client's work) take one of these rather than a single `Sha256`.
 */
export type Sha256d = (data: Uint8Array, out?: Uint8Array) => Uint8Array;

/**
 * The pure-TypeScript double SHA-256 (sha256d64.ts: specialised 64- and 80-byte paths, any
 * length otherwise, no allocation but the output). On Node and Deno it beats both noble and
 * node:crypto's createHash, whose per-call object costs dominate at these sizes
 * (docs/performance.md, merkle.bench.ts).
 */
export const fastSha256d: Sha256d = sha256dAny;

/** A double hash from a single one: SHA256(SHA256(data)), copied into `out` when given. */
export function sha256dFrom(sha256: Sha256): Sha256d {
  return (data, out) => {
    const hash = sha256(sha256(data));
    if (out === undefined) return hash;
    out.set(hash.subarray(0, 32));
    return out;
  };
}

/**
 * THE rule for which double SHA-256 a hot path uses:
 *  1. an explicitly injected `sha256d` (e.g. a provider's native one, see doubleHashOf);
 *  2. else an explicitly injected single `sha256`, honoured as given (`sha256dFrom`);
 *  3. else `fallback`, by default the pure-TS `fastSha256d`.
 */
export function resolveSha256d(options: { readonly sha256d?: Sha256d | undefined; readonly sha256?: Sha256 | undefined }, fallback: Sha256d = fastSha256d): Sha256d {
  if (options.sha256d !== undefined) return options.sha256d;
  if (options.sha256 !== undefined) return sha256dFrom(options.sha256);
  return fallback;
}

/**
 * The double SHA-256 for holders of a crypto provider (core/crypto/provider.ts): the provider's
 * optional native `sha256d` — offered only where it beats the pure-TS one, i.e. Bun's native SHA-256 on
 * Bun (adapters/crypto-native.ts) — else `fastSha256d`. Structural, so core/mining does not
 * depend on core/crypto.
 */
export function doubleHashOf(provider: { readonly sha256d?: Sha256d | undefined } | undefined): Sha256d {
  return provider?.sha256d ?? fastSha256d;
}
