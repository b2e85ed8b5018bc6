// Found blocks out, `submitblock` answers in (SPEC §4: "submitted with submitblock before
// anything else, retried on transport errors, and recorded; a found block is never lost").
//
// Sans-IO: the gateway hands each block to `add`; the adapter takes commands with
// `pollCommand()` (ahead of everything else it does), runs `submitblock`, and reports back with
// `result(blockId, outcome, nowMs)`. A transport error re-queues the block after a backoff that
// doubles from `retryInitialMs` up to `retryMaxMs` (a named deadline per block, STYLE.md #3);
// any node answer (accepted, duplicate, inconclusive, rejected) is definitive and settles it.
// A block is kept until it is settled: there is no attempt limit while the gateway runs. Only
// `settleAll` (shutdown after its drain deadline) or overflow of `pendingMax` ends a block
// without an answer, and then as `failed` with its hex in the event, so it can be submitted by
// hand from the event log.
import type { GatewayEventSink } from './events.ts';

/** What `submitblock` said (adapters/bitcoind-rpc.ts SubmitBlockOutcome) or why it did not answer. */
export type BlockSubmitOutcome =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'duplicate'; readonly reason: string }
  | { readonly kind: 'inconclusive'; readonly reason: string }
  | { readonly kind: 'rejected'; readonly reason: string }
  /** No answer from the node (unreachable, timeout, HTTP 5xx, ...): retried. */
  | { readonly kind: 'transport_error'; readonly code: string; readonly message: string };

export interface SubmitBlockCommand {
  readonly type: 'submit_block';
  readonly block_id: string;
  /** Serialized block, lower-case hex, ready for `submitblock`. */
  readonly hex: string;
  /** 1 for the first try. */
  readonly attempt: number;
}

export interface BlockSubmitterOptions {
  /** First retry delay after a transport error (upstream.retry_backoff_initial_ms). */
  readonly retryInitialMs: number;
  /** Ceiling of the doubling delay (timing.reconnect_backoff_max_ms). */
  readonly retryMaxMs: number;
  /** Blocks awaiting an answer at once; past it the oldest is settled `failed`. Default 64. */
  readonly pendingMax?: number;
}

interface _Block {
  readonly blockId: string;
  readonly hex: string;
  readonly hash: string;
  attempt: number;
  state: 'queued' | 'in_flight' | 'waiting_retry';
  retryAtMs: number;
  delayMs: number;
}

export class BlockSubmitter {
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #pendingMax: number;
  readonly #emit: GatewayEventSink;
  /** Insertion order = discovery order; the oldest is first. */
  readonly #blocks = new Map<string, _Block>();
  readonly #queue: string[] = [];
  /** Results for blocks we do not hold (late answers after settling, adapter bugs). */
  unknownResults = 0;
  /** Blocks settled `failed` because pendingMax was reached. */
  overflowed = 0;

  constructor(options: BlockSubmitterOptions, emit: GatewayEventSink) {
    const { retryInitialMs, retryMaxMs } = options;
    const pendingMax = options.pendingMax ?? 64;
    if (!(Number.isFinite(retryInitialMs) && retryInitialMs > 0)) throw new RangeError(`BlockSubmitter: retryInitialMs must be > 0, got ${retryInitialMs}`);
    if (!(Number.isFinite(retryMaxMs) && retryMaxMs >= retryInitialMs)) {
      throw new RangeError(`BlockSubmitter: retryMaxMs must be >= retryInitialMs, got ${retryMaxMs}`);
    }
    if (!(Number.isInteger(pendingMax) && pendingMax >= 1)) throw new RangeError(`BlockSubmitter: pendingMax must be a positive integer, got ${pendingMax}`);
    this.#retryInitialMs = retryInitialMs;
    this.#retryMaxMs = retryMaxMs;
    this.#pendingMax = pendingMax;
    this.#emit = emit;
  }

  /** Blocks not yet settled. */
  get pending(): number {
    return this.#blocks.size;
  }

  /** Whether `blockId` is pending (not yet settled). */
  has(blockId: string): boolean {
    return this.#blocks.has(blockId);
  }

  /** Queue a found block for submission at once. `hash` is the display hash for events. */
  add(blockId: string, hex: string, hash: string): void {
    if (this.#blocks.has(blockId)) throw new RangeError(`BlockSubmitter.add: block ${blockId} is already pending`);
    if (this.#blocks.size >= this.#pendingMax) {
      const oldest = this.#blocks.values().next().value as _Block;
      this.overflowed += 1;
      this.#settle(oldest, { result: 'failed', reason_code: 'block_submit_failed', reason: `more than ${this.#pendingMax} blocks awaiting an answer` });
    }
    this.#blocks.set(blockId, { blockId, hex, hash, attempt: 0, state: 'queued', retryAtMs: 0, delayMs: this.#retryInitialMs });
    this.#queue.push(blockId);
  }

  pollCommand(): SubmitBlockCommand | undefined {
    for (;;) {
      const id = this.#queue.shift();
      if (id === undefined) return undefined;
      const block = this.#blocks.get(id);
      if (block === undefined || block.state !== 'queued') continue;
      block.state = 'in_flight';
      block.attempt += 1;
      return { type: 'submit_block', block_id: block.blockId, hex: block.hex, attempt: block.attempt };
    }
  }

  /** The adapter's answer for a command. Unknown or not-in-flight ids are counted and ignored. */
  result(blockId: string, outcome: BlockSubmitOutcome, nowMs: number): void {
    const block = this.#blocks.get(blockId);
    if (block === undefined || block.state !== 'in_flight') {
      this.unknownResults += 1;
      return;
    }
    if (outcome.kind === 'transport_error') {
      block.state = 'waiting_retry';
      block.retryAtMs = nowMs + block.delayMs;
      this.#emit({
        type: 'block_submit_retry',
        block_id: blockId,
        block_hash: block.hash,
        attempt: block.attempt,
        error_code: outcome.code,
        message: outcome.message,
        retry_in_ms: block.delayMs,
      });
      block.delayMs = Math.min(block.delayMs * 2, this.#retryMaxMs);
      return;
    }
    if (outcome.kind === 'accepted') this.#settle(block, { result: 'accepted' });
    else if (outcome.kind === 'rejected') this.#settle(block, { result: 'rejected', reason_code: 'block_rejected', reason: outcome.reason });
    else this.#settle(block, { result: outcome.kind, reason: outcome.reason });
  }

  nextDeadlineMs(): number | undefined {
    let min: number | undefined;
    for (const block of this.#blocks.values()) {
      if (block.state === 'waiting_retry' && (min === undefined || block.retryAtMs < min)) min = block.retryAtMs;
    }
    return min;
  }

  /** Re-queue blocks whose retry time has come. Harmless early or twice. */
  onTimeout(nowMs: number): void {
    for (const block of this.#blocks.values()) {
      if (block.state === 'waiting_retry' && block.retryAtMs <= nowMs) {
        block.state = 'queued';
        this.#queue.push(block.blockId);
      }
    }
  }

  /** Shutdown after the drain deadline: everything still pending settles `failed` (hex in the event). */
  settleAll(reason: string): void {
    for (const block of [...this.#blocks.values()]) this.#settle(block, { result: 'failed', reason_code: 'block_submit_failed', reason });
  }

  #settle(
    block: _Block,
    how:
      | { result: 'accepted' }
      | { result: 'duplicate' | 'inconclusive'; reason: string }
      | { result: 'rejected'; reason_code: 'block_rejected'; reason: string }
      | { result: 'failed'; reason_code: 'block_submit_failed'; reason: string },
  ): void {
    this.#blocks.delete(block.blockId);
    this.#emit({
      type: 'block_submit_result',
      block_id: block.blockId,
      block_hash: block.hash,
      attempts: block.attempt,
      ...how,
      // A block that never got a definitive answer must stay recoverable from the log.
      ...(how.result === 'failed' ? { hex: block.hex } : {}),
    });
  }
}
