// Share forwarding types (SPEC §8, issue 5). The forwarder is sans-IO (STYLE.md #1): shares and
// post outcomes go in with the time; `post` commands, journal records and events come out.
// docs/share-forwarding.md is the operator's and backend author's view of this module.

/**
 * One accepted share as forwarded to the pool backend: the `share_accepted` event without its
 * transport fields (`type`, `seq`, `ts`, `conn_id`). Only `share_id` matters to the forwarder;
 * the rest is carried opaquely into the POST body and the journal. Fields marked optional are
 * filled once the gateway's `share_accepted` event carries them (issue 5 build step 1).
 */
export interface ShareRecord {
  /** `<gateway_id>-<boot_id>-<counter>` (core/gateway/share-id.ts): unique across restarts and gateways. */
  readonly share_id: string;
  readonly channel_id?: number;
  readonly sequence_number?: number;
  readonly identity?: string;
  readonly worker?: string | null;
  readonly job_id?: number;
  readonly template_id?: string;
  readonly nonce?: number;
  readonly ntime?: number;
  readonly version?: number;
  /** Hex of the full extranonce the share was mined with (prefix + miner part). */
  readonly extranonce?: string;
  readonly hash?: string;
  readonly difficulty?: number;
  readonly block?: boolean;
  /** Gateway mode when the share was accepted (SPEC §5). */
  readonly mode?: string;
  /** True when the share was accepted during a prevhash stale hold (SPEC §6). */
  readonly stale_hold?: boolean;
  /** Wall time of acceptance (the event's `ts`), ISO 8601. */
  readonly accepted_at?: string;
}

/**
 * Final status of one share (`share_forward_result.status`), exactly one per accepted share:
 *  - ok                 backend answered 2xx and did not refuse the share (a `duplicate` answer is ok:
 *                       the backend already holds it from an earlier attempt)
 *  - rejected           backend said no: a 4xx (not 408/429) for the whole batch, or `rejected`
 *                       for this share in a 2xx answer; `reason` carries its words
 *  - http_error         attempts exhausted; the last one got 5xx, 408, 429 or another non-2xx
 *  - timeout            attempts exhausted; the last one got no answer within the timeout
 *  - transport_error    attempts exhausted; the last one could not connect / was cut off
 *  - dropped_queue_full the queue was full when the share was accepted; never sent
 *  - dropped_shutdown   the drain deadline of a graceful shutdown passed before it settled (it
 *                       may have reached the backend when `attempts` > 0), or it was accepted
 *                       after shutdown began
 */
export type ForwardStatus =
  | 'ok'
  | 'rejected'
  | 'http_error'
  | 'timeout'
  | 'transport_error'
  | 'dropped_queue_full'
  | 'dropped_shutdown';

export const FORWARD_STATUSES: readonly ForwardStatus[] = [
  'ok',
  'rejected',
  'http_error',
  'timeout',
  'transport_error',
  'dropped_queue_full',
  'dropped_shutdown',
];

/** What the poster observed for one `post` command (adapters/share-poster.ts classifies). */
export type PostOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly body: string }
  /** Connection refused, reset, DNS failure, TLS failure, body cut off. */
  | { readonly kind: 'transport_error'; readonly message: string }
  /** The poster's own timer fired first (the forwarder's deadline usually wins; both are fine). */
  | { readonly kind: 'timeout' };

/** The one command: POST `body` to share_upstream_url with `headers`, give up after `timeoutMs`. */
export interface PostCommand {
  readonly type: 'post';
  readonly request_id: number;
  readonly batch_id: string;
  readonly attempt: number;
  readonly shares: number;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

export type ForwardCommand = PostCommand;

export interface ShareForwardResultEvent {
  readonly type: 'share_forward_result';
  readonly share_id: string;
  readonly status: ForwardStatus;
  /** POSTs that carried this share (0 = never sent). */
  readonly attempts: number;
  /** Accept (or, for a recovered share, recovery at start-up) to settlement, monotonic ms. */
  readonly latency_ms: number;
  /** Null when the share never joined a batch. */
  readonly batch_id: string | null;
  /** Accepted by an earlier run and found unsettled in the journal at start-up. */
  readonly recovered: boolean;
  /** rejected: the backend's reason; http_error/timeout/transport_error: the last failure. */
  readonly reason?: string;
  /** HTTP status of the last answer, when there was one. */
  readonly http_status?: number;
}

export interface ShareForwardRetryEvent {
  readonly type: 'share_forward_retry';
  readonly batch_id: string;
  /** The attempt that failed. */
  readonly attempt: number;
  readonly shares: number;
  readonly error: 'http_error' | 'timeout' | 'transport_error';
  readonly reason: string;
  readonly http_status?: number;
  readonly retry_in_ms: number;
}

export type ShareForwardEvent = ShareForwardResultEvent | ShareForwardRetryEvent;

/**
 * Durability of accepted-but-unsettled shares (issue 5 build step 4). The forwarder calls
 * `accepted` before a share can be sent, `settled` before its `share_forward_result` event is
 * handed out, and `commit` before it hands out `post` commands. Implementations:
 * core/forwarding/memory-journal.ts (tests, simulations) and adapters/share-journal-file.ts.
 *
 * Driver rule that makes the 1:1 invariant survive `kill -9`: make the journal's records
 * crash-safe (written to the OS) BEFORE publishing the events polled in the same pass.
 */
export interface ShareJournal {
  /** `json` is JSON.stringify(share), already computed by the forwarder (reuse it, don't redo it). */
  accepted(share: ShareRecord, json: string): void;
  settled(shareId: string, status: ForwardStatus): void;
  /** Make every record so far durable; the forwarder calls it before posting. */
  commit(): void;
}

/** Forward-latency histogram bounds (ms, upper bounds; a final +Inf bucket is implied). */
export const FORWARD_LATENCY_BUCKETS_MS: readonly number[] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000];

/** Metrics state (SPEC §11 "forward queue depth and results"); exposed by the observability layer. */
export interface ShareForwarderMetrics {
  /** Shares accepted and waiting for a request (fresh, awaiting retry, or ready to resend). */
  readonly queueDepth: number;
  readonly queueCapacity: number;
  readonly inFlightRequests: number;
  readonly inFlightShares: number;
  /** Accepted and not yet settled (queueDepth + inFlightShares). */
  readonly unsettled: number;
  readonly results: Readonly<Record<ForwardStatus, number>>;
  /** Shares taken over from a previous run's journal. */
  readonly recovered: number;
  /** POSTs sent, and of those the retries. */
  readonly requests: number;
  readonly retries: number;
  /**
   * Accept → settle latency of every share that was sent (dropped shares are not observed):
   * `counts[i]` = shares with latency ≤ bucketsMs[i] and > bucketsMs[i-1]; the last entry is
   * +Inf. Not cumulative; a Prometheus exporter sums them into `le` buckets.
   */
  readonly latency: {
    readonly bucketsMs: readonly number[];
    readonly counts: readonly number[];
    readonly sumMs: number;
    readonly count: number;
  };
}
