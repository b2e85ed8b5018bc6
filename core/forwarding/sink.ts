// The reference receiver's logic (issue 5 build step 5), pure so that the `share-sink` command
// (runtimes/commands/share-sink.ts), the property test's simulated backend and backend authors
// share one implementation of "what a backend must do":
//   1. verify the timestamp window and the HMAC over the exact body (401 otherwise);
//   2. refuse a signature already seen inside the window (401 `replay`): a captured request
//      cannot be re-sent, while our own retries carry a fresh timestamp and signature;
//   3. parse the batch (400 when malformed);
//   4. idempotent by share id, with the original result (docs/share-forwarding.md "Lost answers
//      and re-sent shares"): a share stored before answers `duplicate` (the forwarder settles it
//      ok) and is not credited again; a share refused before answers `rejected` with the same
//      reason (the backend's rules are not re-run on it). So a batch re-sent after a lost answer
//      (a retry, or a recovery after a gateway crash) gets the answer its first arrival got.
// The answer lists only shares that were not new (duplicate, rejected) plus counts; an unlisted
// share of the batch was new (wire.ts).
// Every table is bounded (STYLE.md #8): the oldest entries go first.
import type { CryptoProvider } from '../crypto/provider.ts';
import { SIGNATURE_MAX_AGE_SECS_DEFAULT, verifySignature, type SignatureFailure } from './signing.ts';
import { encodeBackendAnswer, parseBatchBody, type BackendShareResult } from './wire.ts';

export interface ShareSinkOptions {
  readonly secret: Uint8Array;
  readonly provider: CryptoProvider;
  readonly maxAgeSecs?: number;
  /** Share ids remembered for de-duplication. Default 10,000,000. */
  readonly shareIdsMax?: number;
  /** Signatures remembered for replay refusal. Default 1,000,000. */
  readonly signaturesMax?: number;
  /** Refuse some shares (a backend's own rules); default: none. */
  readonly rejectShare?: (share: { readonly share_id: string }) => string | undefined;
}

export interface SinkRequest {
  readonly timestamp: string | undefined | null;
  readonly signature: string | undefined | null;
  readonly body: Uint8Array;
}

export interface SinkAnswer {
  readonly status: number;
  readonly body: string;
  /** Set when a batch was processed. */
  readonly batch?: {
    /** Ids counted as new by this request. */
    readonly newIds: readonly string[];
    readonly batch_id: string;
    readonly gateway_id: number;
    readonly attempt: number;
    readonly shares: number;
    readonly new: number;
    readonly duplicate: number;
    readonly rejected: number;
  };
  /** Set on a refusal. */
  readonly refusal?: SignatureFailure | 'replay' | 'malformed-body';
}

export interface ShareSinkStats {
  readonly batches: number;
  readonly sharesNew: number;
  readonly sharesDuplicate: number;
  readonly sharesRejected: number;
  readonly refused: Readonly<Record<string, number>>;
}

export class ShareSink {
  readonly #secret: Uint8Array;
  readonly #provider: CryptoProvider;
  readonly #maxAgeSecs: number;
  readonly #shareIdsMax: number;
  readonly #signaturesMax: number;
  readonly #rejectShare: ((share: { readonly share_id: string }) => string | undefined) | undefined;
  /** share id → its original result: null = stored (credited), string = refused with this reason. Insertion order = age. */
  readonly #seen = new Map<string, string | null>();
  /** signature → its timestamp (s); insertion order ≈ age. */
  readonly #signatures = new Map<string, number>();
  #batches = 0;
  #new = 0;
  #duplicate = 0;
  #rejected = 0;
  readonly #refused: Record<string, number> = {};

  constructor(options: ShareSinkOptions) {
    if (!(options.secret instanceof Uint8Array) || options.secret.length === 0) throw new TypeError('ShareSink: secret must be non-empty bytes');
    this.#secret = options.secret;
    this.#provider = options.provider;
    this.#maxAgeSecs = options.maxAgeSecs ?? SIGNATURE_MAX_AGE_SECS_DEFAULT;
    this.#shareIdsMax = options.shareIdsMax ?? 10_000_000;
    this.#signaturesMax = options.signaturesMax ?? 1_000_000;
    this.#rejectShare = options.rejectShare;
  }

  handle(request: SinkRequest, nowWallMs: number): SinkAnswer {
    const check = verifySignature(this.#provider, this.#secret, request, request.body, nowWallMs, this.#maxAgeSecs);
    if (!check.ok) return this.#refuse(401, check.code, check.message);
    this.#forgetOldSignatures(nowWallMs);
    if (this.#signatures.has(check.signature)) return this.#refuse(401, 'replay', 'this signature was already used');
    const parsed = parseBatchBody(request.body);
    if (!parsed.ok) return this.#refuse(400, 'malformed-body', parsed.message);
    this.#signatures.set(check.signature, check.timestampSecs);
    if (this.#signatures.size > this.#signaturesMax) this.#signatures.delete(this.#signatures.keys().next().value!);

    const results: BackendShareResult[] = [];
    const newIds: string[] = [];
    let fresh = 0;
    let duplicate = 0;
    let rejected = 0;
    for (const share of parsed.value.shares) {
      const id = share.share_id;
      const before = this.#seen.get(id);
      if (before !== undefined) {
        // Seen before: its original result, never a second credit or a second judgement.
        duplicate++;
        results.push(before === null ? { share_id: id, status: 'duplicate' } : { share_id: id, status: 'rejected', reason: before });
        continue;
      }
      const reason = this.#rejectShare?.(share);
      this.#seen.set(id, reason ?? null);
      if (this.#seen.size > this.#shareIdsMax) this.#seen.delete(this.#seen.keys().next().value!);
      if (reason !== undefined) {
        rejected++;
        results.push({ share_id: id, status: 'rejected', reason });
      } else {
        fresh++;
        newIds.push(id);
      }
    }
    this.#batches++;
    this.#new += fresh;
    this.#duplicate += duplicate;
    this.#rejected += rejected;
    const b = parsed.value;
    return {
      status: 200,
      body: encodeBackendAnswer({ new: fresh, duplicate, rejected }, results),
      batch: { newIds, batch_id: b.batch_id, gateway_id: b.gateway_id, attempt: b.attempt, shares: b.shares.length, new: fresh, duplicate, rejected },
    };
  }

  /** Has this share id been stored (credited) at some point? Refused ids are not. */
  has(shareId: string): boolean {
    return this.#seen.get(shareId) === null;
  }

  get stats(): ShareSinkStats {
    return { batches: this.#batches, sharesNew: this.#new, sharesDuplicate: this.#duplicate, sharesRejected: this.#rejected, refused: { ...this.#refused } };
  }

  #refuse(status: number, code: SignatureFailure | 'replay' | 'malformed-body', message: string): SinkAnswer {
    this.#refused[code] = (this.#refused[code] ?? 0) + 1;
    return { status, body: JSON.stringify({ error: code, message }), refusal: code };
  }

  /** Signatures older than the window can no longer verify, so they need not be remembered. */
  #forgetOldSignatures(nowWallMs: number): void {
    const oldestSecs = Math.floor(nowWallMs / 1000) - this.#maxAgeSecs;
    for (const [signature, ts] of this.#signatures) {
      if (ts >= oldestSecs) break;
      this.#signatures.delete(signature);
    }
  }
}
