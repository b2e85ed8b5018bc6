// CPU share finder (SV2.md §5.5): the work a channel hands out is one header with a free nonce;
// a share is a nonce whose SHA256d(header80) ≤ the job's target (both read as little-endian
// integers). Used by tests, the demo's simulated miners and the benchmarks, so every search is
// bounded by a number of attempts the caller chooses; "not found yet" is a value, never a loop
// that runs until it finds.
//
// Hot loop: one 80-byte header is built per finder, only the 4 nonce bytes change per attempt,
// and hashing goes through one double hash (core/mining/hash.ts resolveSha256d: an injected
// `sha256d`, e.g. doubleHashOf(provider), else an injected `sha256`, else the pure-TS one) into a
// reused 32-byte buffer; only a found share's hash is copied out.
import { resolveSha256d, type Sha256, type Sha256d } from '../mining/hash.ts';
import { header80 } from '../mining/header.ts';
import { meetsTarget, targetFromNbits } from '../mining/target.ts';

/** Everything needed to mine one job on one channel (MiningClient.work builds it). */
export interface MiningWork {
  readonly channelId: number;
  readonly jobId: number;
  /** The job's version; the finder does not roll it. */
  readonly version: number;
  readonly versionRollingAllowed: boolean;
  /** 32 bytes, internal order, exactly as SetNewPrevHash.prev_hash. */
  readonly prevHash: Uint8Array;
  /** 32 bytes, internal order (NewMiningJob.merkle_root, or computed for extended channels). */
  readonly merkleRoot: Uint8Array;
  /** ntime to put in the header: the job's min_ntime (SV2.md §5.5 step 5: never below it). */
  readonly ntime: number;
  readonly nbits: number;
  /** Share target, U256 wire bytes (little-endian), the one the job was issued with. */
  readonly target: Uint8Array;
  /** Extended channels: the rollable extranonce this work uses; empty for standard channels. */
  readonly extranonce: Uint8Array;
}

/** A nonce that meets the work's target. */
export interface FoundShare {
  readonly nonce: number;
  readonly ntime: number;
  readonly version: number;
  /** SHA256d(header80), internal order. */
  readonly hash: Uint8Array;
  /** The hash also meets the network target from nbits: this share is a block. */
  readonly isBlock: boolean;
}

export interface SearchResult {
  /** The first share found in this call, if any. */
  readonly share: FoundShare | undefined;
  /** Hashes computed in this call. */
  readonly attempts: number;
  /** Every nonce of this work has been tried; get new work (new extranonce or ntime). */
  readonly exhausted: boolean;
}

const NONCE_SPACE = 0x1_0000_0000;

/**
 * Searches one MiningWork's nonce space in bounded steps. Keep one per work and call `search`
 * with an attempt budget per tick; it resumes where it stopped.
 */
export class ShareFinder {
  readonly work: MiningWork;
  readonly #sha256d: Sha256d;
  readonly #hash = new Uint8Array(32);
  readonly #header: Uint8Array;
  readonly #networkTarget: bigint | null;
  #nextNonce: number;
  #tried = 0;

  constructor(work: MiningWork, options: { sha256?: Sha256; sha256d?: Sha256d; nonceStart?: number } = {}) {
    if (work === null || typeof work !== 'object') throw new TypeError(`ShareFinder: work must be a MiningWork, got ${String(work)}`);
    if (work.target.length !== 32) throw new RangeError(`ShareFinder: work.target must be 32 bytes, got ${work.target.length}`);
    const nonceStart = options.nonceStart ?? 0;
    if (!Number.isInteger(nonceStart) || nonceStart < 0 || nonceStart >= NONCE_SPACE) {
      throw new RangeError(`ShareFinder: nonceStart must be a U32, got ${nonceStart}`);
    }
    this.work = work;
    this.#sha256d = resolveSha256d(options);
    this.#nextNonce = nonceStart;
    this.#header = header80({ version: work.version, prevHash: work.prevHash, merkleRoot: work.merkleRoot, ntime: work.ntime, nbits: work.nbits, nonce: nonceStart });
    this.#networkTarget = targetFromNbits(work.nbits);
  }

  /** Total nonces tried so far. */
  get attempts(): number {
    return this.#tried;
  }

  /** Try at most `attemptsMax` nonces; stop at the first share. */
  search(attemptsMax: number): SearchResult {
    if (!Number.isInteger(attemptsMax) || attemptsMax < 0) throw new RangeError(`search: attemptsMax must be a non-negative integer, got ${attemptsMax}`);
    const header = this.#header;
    const target = this.work.target;
    const sha256d = this.#sha256d;
    const out = this.#hash;
    let attempts = 0;
    while (attempts < attemptsMax && this.#tried < NONCE_SPACE) {
      const nonce = this.#nextNonce;
      header[76] = nonce & 0xff;
      header[77] = (nonce >>> 8) & 0xff;
      header[78] = (nonce >>> 16) & 0xff;
      header[79] = nonce >>> 24;
      this.#nextNonce = (nonce + 1) % NONCE_SPACE;
      this.#tried++;
      attempts++;
      const hash = sha256d(header, out);
      if (meetsTarget(hash, target)) {
        const found = hash.slice(0, 32);
        const isBlock = this.#networkTarget !== null && meetsTarget(hash, this.#networkTarget);
        return { share: { nonce, ntime: this.work.ntime, version: this.work.version, hash: found, isBlock }, attempts, exhausted: this.#tried >= NONCE_SPACE };
      }
    }
    return { share: undefined, attempts, exhausted: this.#tried >= NONCE_SPACE };
  }
}

/** One bounded search from nonce `nonceStart` (default 0). */
export function findShare(work: MiningWork, attemptsMax: number, options: { sha256?: Sha256; sha256d?: Sha256d; nonceStart?: number } = {}): SearchResult {
  return new ShareFinder(work, options).search(attemptsMax);
}

