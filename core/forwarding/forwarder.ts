// ShareForwarder: the sans-IO share lifecycle after `share_accepted` (SPEC §8, issue 5).
//
//   accept(share, nowMs)                  → 'queued' | 'dropped_queue_full' | 'dropped_shutdown'
//   onTimeout(nowMs, wallMs)              batches, retries, timeouts, drain deadline; harmless early/twice
//   postResult(requestId, outcome, nowMs) what the poster saw; late/unknown ids are ignored
//   shutdown(nowMs, drainMs)              graceful drain, then `dropped_shutdown` for the rest
//   pollCommand() / pollEvent() / nextDeadlineMs()
//
// Invariant (SPEC §8): every share given to `accept` (and every recovered share) gets exactly one
// `share_forward_result` event, whatever happens. Each share lives in exactly one place — the
// fresh queue, a batch that is ready / backing off / in flight — until `#settle` removes it, and
// `#settle` is the only producer of result events; `#live` (ids not yet settled) makes a second
// settlement of the same id impossible and a duplicate accept a loud misuse error.
//
// Timing (all monotonic ms; `wallMs` is only the signature timestamp):
//  - A share entering an empty fresh queue opens a batch window that closes `batchIntervalMs`
//    later; at the close every fresh share is due and goes out in batches of at most
//    `batchMaxShares`, up to `maxInFlight` open requests. Due shares that found no free slot go
//    as soon as one frees (postResult arms an immediate wake-up).
//  - Each request has a deadline `timeoutMs` after it was handed out. Transport errors, timeouts,
//    5xx, 408 and 429 are retried as the same batch (same batch id and share ids, so the backend
//    de-duplicates; new timestamp and signature) after retryInitialMs·2^(attempt−1), capped at
//    retryMaxMs, until `attemptsMax` attempts; then the shares settle with the last failure.
//    Retries go before fresh shares. No jitter: timing is exact and testable; gateways are few.
//  - Other 4xx: the backend refuses the batch → every share `rejected` with its answer as reason.
//
// Bound (STYLE.md #8): at most `queueSize` shares are unsettled (waiting, backing off or in
// flight); an accept beyond it settles at once as `dropped_queue_full` (counted in metrics).
// Recovered shares are admitted even past the bound: they were admitted by the previous run.
import { utf8 } from '../bytes.ts';
import type { Config } from '../config/schema.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { DeadlineHeap } from '../gateway/deadline-heap.ts';
import { HEADER_BATCH, signatureHeaders } from './signing.ts';
import {
  FORWARD_LATENCY_BUCKETS_MS,
  FORWARD_STATUSES,
  type ForwardCommand,
  type ForwardStatus,
  type PostOutcome,
  type ShareForwardEvent,
  type ShareForwardResultEvent,
  type ShareForwarderMetrics,
  type ShareJournal,
  type ShareRecord,
} from './types.ts';
import { clipReason, encodeBatchBody, parseBackendRejections } from './wire.ts';

export const ATTEMPTS_MAX_DEFAULT = 8;
/** Longest share id accepted (ids are ~30 characters; the bound keeps bodies and journals sane). */
export const SHARE_ID_CHARS_MAX = 128;

export interface ShareForwarderOptions {
  /** gateway.id: carried in every body and the X-ReserveGrid-Gateway header. */
  readonly gatewayId: number;
  /** Distinguishes this run's batch ids from every other run's (`<gateway>-<boot>-b<n>`). */
  readonly bootId: string;
  /** share_upstream_secret as bytes (UTF-8 of the configured string). */
  readonly secret: Uint8Array;
  readonly provider: CryptoProvider;
  readonly queueSize: number;
  readonly maxInFlight: number;
  readonly batchIntervalMs: number;
  readonly batchMaxShares: number;
  readonly timeoutMs: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** POSTs per batch before its shares settle with the last failure. Default 8. */
  readonly attemptsMax?: number;
  readonly journal?: ShareJournal;
  /** Unsettled shares from the previous run's journal: sent first, results carry recovered: true. */
  readonly recovered?: readonly ShareRecord[];
}

export type AcceptResult = 'queued' | 'dropped_queue_full' | 'dropped_shutdown';

type _FailureKind = 'http_error' | 'timeout' | 'transport_error';
type _State = 'running' | 'draining' | 'stopped';

interface _Share {
  readonly record: ShareRecord;
  readonly json: string;
  readonly acceptedMs: number;
  readonly recovered: boolean;
}

interface _Batch {
  readonly seq: number;
  readonly id: string;
  readonly shares: readonly _Share[];
  readonly shareJson: readonly string[];
  attempts: number;
  /** Request id while in flight, else 0. */
  requestId: number;
  timeoutAtMs: number;
  retryAtMs: number;
  lastFailure: { kind: _FailureKind; reason: string; httpStatus: number | undefined } | undefined;
}

const NULL_JOURNAL: ShareJournal = { accepted() {}, settled() {}, commit() {} };

function _positiveInt(where: string, name: string, value: unknown, min = 1): number {
  if (!(typeof value === 'number' && Number.isSafeInteger(value) && value >= min)) {
    throw new RangeError(`${where}: ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export class ShareForwarder {
  readonly #gatewayId: number;
  readonly #batchIdPrefix: string;
  readonly #secret: Uint8Array;
  readonly #provider: CryptoProvider;
  readonly #queueSize: number;
  readonly #maxInFlight: number;
  readonly #batchIntervalMs: number;
  readonly #batchMaxShares: number;
  readonly #timeoutMs: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #attemptsMax: number;
  readonly #journal: ShareJournal;

  #state: _State = 'running';
  /** Fresh shares in accept order; `#freshHead` avoids O(n) shifts. */
  #fresh: _Share[] = [];
  #freshHead = 0;
  /** The batch window closes here (undefined: no window open). */
  #windowCloseMs: number | undefined;
  /** The window closed (or shutdown began) while shares were left: send them when a slot frees. */
  #freshDue = false;
  /** Batches whose retry time has come (or recovered at shutdown), waiting for a slot. */
  #ready: _Batch[] = [];
  readonly #backoff = new Map<number, _Batch>();
  readonly #retryHeap = new DeadlineHeap();
  readonly #inFlight = new Map<number, _Batch>();
  readonly #timeoutHeap = new DeadlineHeap();
  /** Immediate wake-up (a slot freed with work waiting, recovery, shutdown). */
  #wakeAtMs: number | undefined;
  #drainDeadlineMs: number | undefined;
  /** Share ids accepted and not yet settled. */
  readonly #live = new Set<string>();

  #nextRequestId = 1;
  #nextBatchSeq = 1;
  #commands: ForwardCommand[] = [];
  #commandHead = 0;
  #events: ShareForwardEvent[] = [];
  #eventHead = 0;

  // Metrics state.
  #queuedShares = 0;
  #inFlightShares = 0;
  readonly #results: Record<ForwardStatus, number>;
  #recoveredCount = 0;
  #requests = 0;
  #retries = 0;
  readonly #latencyCounts: number[] = new Array<number>(FORWARD_LATENCY_BUCKETS_MS.length + 1).fill(0);
  #latencySumMs = 0;
  #latencyCount = 0;

  constructor(options: ShareForwarderOptions, nowMs: number) {
    const where = 'ShareForwarder';
    if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options must be an object, got ${String(options)}`);
    if (!(Number.isInteger(options.gatewayId) && options.gatewayId >= 0 && options.gatewayId <= 0xffff)) {
      throw new RangeError(`${where}: gatewayId must be an integer in 0..65535, got ${options.gatewayId}`);
    }
    if (typeof options.bootId !== 'string' || !/^[0-9A-Za-z]{1,32}$/.test(options.bootId)) {
      throw new TypeError(`${where}: bootId must be 1..32 alphanumeric characters, got ${JSON.stringify(options.bootId)}`);
    }
    if (!(options.secret instanceof Uint8Array) || options.secret.length === 0) throw new TypeError(`${where}: secret must be non-empty bytes`);
    if (options.provider === null || typeof options.provider?.hmacSha256 !== 'function') {
      throw new TypeError(`${where}: provider must be a CryptoProvider, got ${String(options.provider)}`);
    }
    if (!Number.isFinite(nowMs)) throw new RangeError(`${where}: nowMs must be finite, got ${nowMs}`);
    this.#gatewayId = options.gatewayId;
    this.#batchIdPrefix = `${options.gatewayId}-${options.bootId}-b`;
    this.#secret = options.secret;
    this.#provider = options.provider;
    this.#queueSize = _positiveInt(where, 'queueSize', options.queueSize);
    this.#maxInFlight = _positiveInt(where, 'maxInFlight', options.maxInFlight);
    this.#batchIntervalMs = _positiveInt(where, 'batchIntervalMs', options.batchIntervalMs);
    this.#batchMaxShares = _positiveInt(where, 'batchMaxShares', options.batchMaxShares);
    this.#timeoutMs = _positiveInt(where, 'timeoutMs', options.timeoutMs);
    this.#retryInitialMs = _positiveInt(where, 'retryInitialMs', options.retryInitialMs);
    this.#retryMaxMs = _positiveInt(where, 'retryMaxMs', options.retryMaxMs);
    if (this.#retryMaxMs < this.#retryInitialMs) {
      throw new RangeError(`${where}: retryMaxMs (${this.#retryMaxMs}) must be >= retryInitialMs (${this.#retryInitialMs})`);
    }
    this.#attemptsMax = _positiveInt(where, 'attemptsMax', options.attemptsMax ?? ATTEMPTS_MAX_DEFAULT);
    this.#journal = options.journal ?? NULL_JOURNAL;
    this.#results = Object.fromEntries(FORWARD_STATUSES.map((s) => [s, 0])) as Record<ForwardStatus, number>;

    // Recovered shares go first and at once: they have waited a whole restart already. They are
    // already in the journal, so they are not journaled again.
    for (const record of options.recovered ?? []) {
      const id = _checkShare(record);
      if (this.#live.has(id)) continue; // a journal never lists an id twice; tolerate it anyway
      this.#live.add(id);
      this.#fresh.push({ record, json: JSON.stringify(record), acceptedMs: nowMs, recovered: true });
      this.#queuedShares++;
      this.#recoveredCount++;
    }
    if (this.#fresh.length > 0) {
      this.#freshDue = true;
      this.#wakeAtMs = nowMs;
    }
  }

  // ---- inputs -------------------------------------------------------------------------------

  /**
   * Take over one share acknowledged to the miner. Journals it, queues it, or settles it at once
   * (queue full, shutting down). Throws on misuse (no share_id, an id still unsettled).
   */
  accept(share: ShareRecord, nowMs: number): AcceptResult {
    const id = _checkShare(share);
    if (this.#live.has(id)) throw new RangeError(`accept: share_id ${JSON.stringify(id)} is already unsettled (share ids are unique)`);
    if (this.#state !== 'running') {
      this.#settleUnqueued(id, 'dropped_shutdown', 'accepted after shutdown began');
      return 'dropped_shutdown';
    }
    if (this.#live.size >= this.#queueSize) {
      this.#settleUnqueued(id, 'dropped_queue_full', `queue full (${this.#queueSize} unsettled shares)`);
      return 'dropped_queue_full';
    }
    const json = JSON.stringify(share);
    this.#journal.accepted(share, json);
    this.#live.add(id);
    if (this.#freshHead === this.#fresh.length && !this.#freshDue && this.#windowCloseMs === undefined) {
      this.#windowCloseMs = nowMs + this.#batchIntervalMs;
    }
    this.#fresh.push({ record: share, json, acceptedMs: nowMs, recovered: false });
    this.#queuedShares++;
    return 'queued';
  }

  /** What the poster saw for `requestId`. Returns false for ids no longer in flight (timed out, shut down). */
  postResult(requestId: number, outcome: PostOutcome, nowMs: number): boolean {
    const batch = this.#inFlight.get(requestId);
    if (batch === undefined) return false;
    this.#inFlight.delete(requestId);
    batch.requestId = 0;
    this.#inFlightShares -= batch.shares.length;
    switch (outcome.kind) {
      case 'response': {
        const status = outcome.status;
        if (status >= 200 && status < 300) {
          const rejected = parseBackendRejections(outcome.body);
          for (const share of batch.shares) {
            const reason = rejected.get(share.record.share_id);
            if (reason === undefined) this.#settle(share, 'ok', batch, nowMs, undefined, status);
            else this.#settle(share, 'rejected', batch, nowMs, reason, status);
          }
        } else if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
          const reason = clipReason(`http ${status}${outcome.body ? `: ${outcome.body}` : ''}`);
          for (const share of batch.shares) this.#settle(share, 'rejected', batch, nowMs, reason, status);
        } else {
          this.#fail(batch, 'http_error', clipReason(`http ${status}${outcome.body ? `: ${outcome.body}` : ''}`), status, nowMs);
        }
        break;
      }
      case 'transport_error':
        this.#fail(batch, 'transport_error', clipReason(outcome.message), undefined, nowMs);
        break;
      case 'timeout':
        this.#fail(batch, 'timeout', `no answer within ${this.#timeoutMs} ms`, undefined, nowMs);
        break;
      default: {
        const never: never = outcome;
        throw new TypeError(`postResult: unknown outcome ${JSON.stringify(never)}`);
      }
    }
    this.#afterSlotFreed(nowMs);
    return true;
  }

  /** Fire everything due at `nowMs`: request timeouts, retries, the batch window, the drain deadline. */
  onTimeout(nowMs: number, wallMs: number): void {
    // 1. Requests past their deadline fail as `timeout` (a late answer is ignored by postResult).
    for (const requestId of this.#timeoutHeap.popDue(nowMs)) {
      const batch = this.#inFlight.get(requestId);
      if (batch === undefined || batch.timeoutAtMs > nowMs) continue; // settled already: stale heap entry
      this.#inFlight.delete(requestId);
      batch.requestId = 0;
      this.#inFlightShares -= batch.shares.length;
      this.#fail(batch, 'timeout', `no answer within ${this.#timeoutMs} ms`, undefined, nowMs);
    }
    // 2. Backoffs that ended: ready to resend (retries go before fresh shares).
    for (const seq of this.#retryHeap.popDue(nowMs)) {
      const batch = this.#backoff.get(seq);
      if (batch === undefined || batch.retryAtMs > nowMs) continue;
      this.#backoff.delete(seq);
      this.#ready.push(batch);
    }
    // 3. Drain deadline: whatever is left settles as dropped_shutdown.
    if (this.#drainDeadlineMs !== undefined && nowMs >= this.#drainDeadlineMs) {
      this.#dropAll(nowMs);
      return;
    }
    // 4. The batch window closed: every fresh share is due.
    if (this.#windowCloseMs !== undefined && nowMs >= this.#windowCloseMs) {
      this.#windowCloseMs = undefined;
      if (this.#freshHead < this.#fresh.length) this.#freshDue = true;
    }
    if (this.#wakeAtMs !== undefined && nowMs >= this.#wakeAtMs) this.#wakeAtMs = undefined;
    this.#send(nowMs, wallMs);
    this.#maybeStopped();
  }

  /**
   * Begin a graceful shutdown: new shares settle as dropped_shutdown at once; everything waiting
   * (fresh shares, batches backing off) is sent now, within the in-flight cap; whatever has not
   * settled `drainMs` from now settles as dropped_shutdown. Idempotent.
   */
  shutdown(nowMs: number, drainMs: number): void {
    if (!(Number.isFinite(drainMs) && drainMs >= 0)) throw new RangeError(`shutdown: drainMs must be >= 0, got ${drainMs}`);
    if (this.#state !== 'running') return;
    this.#state = 'draining';
    this.#drainDeadlineMs = nowMs + drainMs;
    this.#windowCloseMs = undefined;
    if (this.#freshHead < this.#fresh.length) this.#freshDue = true;
    for (const batch of this.#backoff.values()) this.#ready.push(batch);
    this.#backoff.clear();
    this.#wakeAtMs = nowMs;
    this.#maybeStopped();
  }

  // ---- outputs ------------------------------------------------------------------------------

  pollCommand(): ForwardCommand | undefined {
    if (this.#commandHead >= this.#commands.length) return undefined;
    const command = this.#commands[this.#commandHead++]!;
    if (this.#commandHead === this.#commands.length) {
      this.#commands = [];
      this.#commandHead = 0;
    }
    return command;
  }

  pollEvent(): ShareForwardEvent | undefined {
    if (this.#eventHead >= this.#events.length) return undefined;
    const event = this.#events[this.#eventHead++]!;
    if (this.#eventHead === this.#events.length) {
      this.#events = [];
      this.#eventHead = 0;
    }
    return event;
  }

  /** Earliest time `onTimeout` has work; undefined when idle. */
  nextDeadlineMs(): number | undefined {
    let min = this.#wakeAtMs;
    const consider = (at: number | undefined): void => {
      if (at !== undefined && (min === undefined || at < min)) min = at;
    };
    if (this.#windowCloseMs !== undefined) consider(this.#windowCloseMs);
    if (this.#inFlight.size > 0) consider(this.#timeoutHeap.peekMs());
    if (this.#backoff.size > 0) consider(this.#retryHeap.peekMs());
    if (this.#drainDeadlineMs !== undefined && this.#state === 'draining') consider(this.#drainDeadlineMs);
    return min;
  }

  get state(): _State {
    return this.#state;
  }

  /** Shut down and every share settled: the driver may stop. */
  get finished(): boolean {
    return this.#state === 'stopped';
  }

  get unsettled(): number {
    return this.#live.size;
  }

  get metrics(): ShareForwarderMetrics {
    return {
      queueDepth: this.#queuedShares,
      queueCapacity: this.#queueSize,
      inFlightRequests: this.#inFlight.size,
      inFlightShares: this.#inFlightShares,
      unsettled: this.#live.size,
      results: { ...this.#results },
      recovered: this.#recoveredCount,
      requests: this.#requests,
      retries: this.#retries,
      latency: { bucketsMs: FORWARD_LATENCY_BUCKETS_MS, counts: [...this.#latencyCounts], sumMs: this.#latencySumMs, count: this.#latencyCount },
    };
  }

  // ---- internals ----------------------------------------------------------------------------

  /** Hand out as many requests as the in-flight cap allows: ready retries first, then due fresh shares. */
  #send(nowMs: number, wallMs: number): void {
    let committed = false;
    while (this.#inFlight.size < this.#maxInFlight) {
      let batch: _Batch | undefined = this.#ready.shift();
      if (batch === undefined) {
        if (!this.#freshDue || this.#freshHead >= this.#fresh.length) break;
        batch = this.#takeFreshBatch();
      }
      // Every share about to leave must be durable first (power loss must not lose a share the
      // backend may already credit); one commit per pass covers all of this pass's batches.
      if (!committed) {
        this.#journal.commit();
        committed = true;
      }
      this.#post(batch, nowMs, wallMs);
    }
    if (this.#freshHead >= this.#fresh.length) {
      this.#freshDue = false;
      if (this.#freshHead > 0) {
        this.#fresh = [];
        this.#freshHead = 0;
      }
    } else if (this.#freshHead > 4096 && this.#freshHead * 2 > this.#fresh.length) {
      this.#fresh = this.#fresh.slice(this.#freshHead);
      this.#freshHead = 0;
    }
  }

  #takeFreshBatch(): _Batch {
    const end = Math.min(this.#fresh.length, this.#freshHead + this.#batchMaxShares);
    const shares = this.#fresh.slice(this.#freshHead, end);
    this.#freshHead = end;
    const seq = this.#nextBatchSeq++;
    return {
      seq,
      id: this.#batchIdPrefix + seq,
      shares,
      shareJson: shares.map((s) => s.json),
      attempts: 0,
      requestId: 0,
      timeoutAtMs: 0,
      retryAtMs: 0,
      lastFailure: undefined,
    };
  }

  #post(batch: _Batch, nowMs: number, wallMs: number): void {
    batch.attempts++;
    if (batch.attempts > 1) this.#retries++;
    this.#requests++;
    const requestId = this.#nextRequestId++;
    batch.requestId = requestId;
    batch.timeoutAtMs = nowMs + this.#timeoutMs;
    this.#inFlight.set(requestId, batch);
    this.#timeoutHeap.push(batch.timeoutAtMs, requestId);
    this.#queuedShares -= batch.shares.length;
    this.#inFlightShares += batch.shares.length;
    const body = utf8(encodeBatchBody(this.#gatewayId, batch.id, batch.attempts, batch.shareJson));
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      ...signatureHeaders(this.#provider, this.#secret, this.#gatewayId, wallMs, body),
      [HEADER_BATCH]: batch.id,
    };
    this.#commands.push({
      type: 'post',
      request_id: requestId,
      batch_id: batch.id,
      attempt: batch.attempts,
      shares: batch.shares.length,
      body,
      headers,
      timeoutMs: this.#timeoutMs,
    });
  }

  /** A retryable failure: back off and resend, or settle with it once attempts are used up. */
  #fail(batch: _Batch, kind: _FailureKind, reason: string, httpStatus: number | undefined, nowMs: number): void {
    batch.lastFailure = { kind, reason, httpStatus };
    if (batch.attempts >= this.#attemptsMax) {
      for (const share of batch.shares) this.#settle(share, kind, batch, nowMs, reason, httpStatus);
      return;
    }
    this.#queuedShares += batch.shares.length;
    const delayMs = Math.min(this.#retryMaxMs, this.#retryInitialMs * 2 ** (batch.attempts - 1));
    this.#events.push({
      type: 'share_forward_retry',
      batch_id: batch.id,
      attempt: batch.attempts,
      shares: batch.shares.length,
      error: kind,
      reason,
      ...(httpStatus === undefined ? {} : { http_status: httpStatus }),
      retry_in_ms: delayMs,
    });
    if (this.#state === 'draining') {
      // Draining: waiting longer than the drain deadline is pointless; the deadline settles it.
      batch.retryAtMs = Math.min(nowMs + delayMs, this.#drainDeadlineMs ?? nowMs + delayMs);
    } else {
      batch.retryAtMs = nowMs + delayMs;
    }
    this.#backoff.set(batch.seq, batch);
    this.#retryHeap.push(batch.retryAtMs, batch.seq);
  }

  #afterSlotFreed(nowMs: number): void {
    if (this.#ready.length > 0 || (this.#freshDue && this.#freshHead < this.#fresh.length)) {
      if (this.#wakeAtMs === undefined || this.#wakeAtMs > nowMs) this.#wakeAtMs = nowMs;
    }
    this.#maybeStopped();
  }

  #settle(share: _Share, status: ForwardStatus, batch: _Batch | undefined, nowMs: number, reason?: string, httpStatus?: number): void {
    const id = share.record.share_id;
    if (!this.#live.delete(id)) throw new Error(`ShareForwarder: share ${id} settled twice (bug)`);
    // Journal before the event (types.ts ShareJournal): a published result is never re-sent.
    this.#journal.settled(id, status);
    const latencyMs = Math.max(0, nowMs - share.acceptedMs);
    this.#results[status]++;
    if (batch !== undefined && batch.attempts > 0) this.#observeLatency(latencyMs);
    // Built field by field: this runs once per share, and object spreads cost more here.
    const event: { -readonly [K in keyof ShareForwardResultEvent]: ShareForwardResultEvent[K] } = {
      type: 'share_forward_result',
      share_id: id,
      status,
      attempts: batch?.attempts ?? 0,
      latency_ms: latencyMs,
      batch_id: batch?.id ?? null,
      recovered: share.recovered,
    };
    if (reason !== undefined) event.reason = reason;
    if (httpStatus !== undefined) event.http_status = httpStatus;
    this.#events.push(event);
  }

  /** A share that never entered the queue (dropped at accept): not journaled, nothing to resend. */
  #settleUnqueued(id: string, status: 'dropped_queue_full' | 'dropped_shutdown', reason: string): void {
    this.#results[status]++;
    this.#events.push({ type: 'share_forward_result', share_id: id, status, attempts: 0, latency_ms: 0, batch_id: null, recovered: false, reason });
  }

  #dropAll(nowMs: number): void {
    const reason = 'drain deadline passed during shutdown';
    for (const batch of this.#inFlight.values()) {
      this.#inFlightShares -= batch.shares.length;
      for (const share of batch.shares) this.#settle(share, 'dropped_shutdown', batch, nowMs, reason);
    }
    this.#inFlight.clear();
    for (const batch of [...this.#ready, ...this.#backoff.values()]) {
      this.#queuedShares -= batch.shares.length;
      for (const share of batch.shares) this.#settle(share, 'dropped_shutdown', batch, nowMs, reason);
    }
    this.#ready = [];
    this.#backoff.clear();
    for (let i = this.#freshHead; i < this.#fresh.length; i++) {
      this.#queuedShares--;
      this.#settle(this.#fresh[i]!, 'dropped_shutdown', undefined, nowMs, reason);
    }
    this.#fresh = [];
    this.#freshHead = 0;
    this.#freshDue = false;
    this.#wakeAtMs = undefined;
    this.#maybeStopped();
  }

  #maybeStopped(): void {
    if (this.#state === 'draining' && this.#live.size === 0) {
      this.#state = 'stopped';
      this.#drainDeadlineMs = undefined;
      this.#wakeAtMs = undefined;
    }
  }

  #observeLatency(latencyMs: number): void {
    let i = 0;
    while (i < FORWARD_LATENCY_BUCKETS_MS.length && latencyMs > FORWARD_LATENCY_BUCKETS_MS[i]!) i++;
    this.#latencyCounts[i]!++;
    this.#latencySumMs += latencyMs;
    this.#latencyCount++;
  }
}

function _checkShare(share: ShareRecord): string {
  if (share === null || typeof share !== 'object') throw new TypeError(`accept: share must be an object, got ${String(share)}`);
  const id = share.share_id;
  if (typeof id !== 'string' || id.length === 0 || id.length > SHARE_ID_CHARS_MAX) {
    throw new TypeError(`accept: share.share_id must be a string of 1..${SHARE_ID_CHARS_MAX} characters, got ${JSON.stringify(id)}`);
  }
  return id;
}

/**
 * The config keys forwarding reads; a whole `Config` is one. Narrow so that embedders and tests
 * need not build a complete gateway configuration.
 */
export interface ShareForwardingConfig {
  readonly gateway: Pick<Config['gateway'], 'id' | 'data_dir'>;
  // share.sink picks the poster (adapters/gateway-stack.ts); the forwarder does not read it.
  readonly share: Omit<Config['share'], 'sink'>;
  readonly timing: Pick<Config['timing'], 'shutdown_drain_timeout_ms'>;
}

/** Forwarder options from the [share] and [gateway] config sections (SPEC §10). */
export function forwarderOptionsFromConfig(
  config: ShareForwardingConfig,
  deps: {
    readonly bootId: string;
    readonly provider: CryptoProvider;
    readonly journal?: ShareJournal;
    readonly recovered?: readonly ShareRecord[];
    readonly attemptsMax?: number;
  },
): ShareForwarderOptions {
  const s = config.share;
  return {
    gatewayId: config.gateway.id,
    bootId: deps.bootId,
    secret: utf8(s.share_upstream_secret),
    provider: deps.provider,
    queueSize: s.share_forward_queue_size,
    maxInFlight: s.share_forward_max_in_flight,
    batchIntervalMs: s.share_batch_interval_ms,
    batchMaxShares: s.share_batch_max_shares,
    timeoutMs: s.share_forward_timeout_ms,
    retryInitialMs: s.share_forward_retry_initial_ms,
    retryMaxMs: s.share_forward_retry_max_ms,
    ...(deps.attemptsMax === undefined ? {} : { attemptsMax: deps.attemptsMax }),
    ...(deps.journal === undefined ? {} : { journal: deps.journal }),
    ...(deps.recovered === undefined ? {} : { recovered: deps.recovered }),
  };
}

/**
 * The forwarded record of a `share_accepted` event (as the pump stamps it): drops the transport
 * fields (`type`, `seq`, `ts`, `conn_id`) and keeps `ts` as `accepted_at`.
 */
export function shareRecordFromEvent(event: { readonly share_id: string } & Readonly<Record<string, unknown>>): ShareRecord {
  const { type: _type, seq: _seq, ts, conn_id: _conn, ...rest } = event as Record<string, unknown>;
  return (typeof ts === 'string' ? { ...rest, accepted_at: ts } : rest) as unknown as ShareRecord;
}
