// TemplateSource over the demo's embedded chain (core/template/embedded-chain.ts; issue 3
// item 9): what `reservegrid demo` uses instead of a Bitcoin node. New transactions "arrive" on
// a Clock timer (so templates change on the same prevhash, exercising job aggregation), and a
// found block is validated and connected by the chain (so the prevhash moves). `onChange` fires
// after either, so the demo can poll at once instead of waiting for the next poll interval.
import type { Clock, TimerId } from '../core/clock.ts';
import { hexToBytes } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/errors.ts';
import type { RandomSource } from '../core/random.ts';
import { EmbeddedChain, type EmbeddedChainOptions, type EmbeddedSubmitOutcome } from '../core/template/embedded-chain.ts';
import type { BlockTemplate } from '../core/template/template.ts';
import { upstreamError, type SubmitBlockOutcome, type TemplateSource, type UpstreamError } from './template-source.ts';

export interface EmbeddedSourceOptions {
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Chain options other than time and randomness (nbits, halving interval, bounds…). */
  readonly chain?: Omit<EmbeddedChainOptions, 'random' | 'nowMs'>;
  /** New transactions arrive every this many ms (default 3000; 0 = never). */
  readonly transactionIntervalMs?: number;
  /** Up to this many transactions per arrival, at least 1 (default 4). */
  readonly transactionsPerIntervalMax?: number;
  /** After new transactions or a connected block (the template changed). Must not throw. */
  readonly onChange?: (what: EmbeddedChange) => void;
}

export type EmbeddedChange =
  | { readonly kind: 'transactions'; readonly added: number; readonly mempoolSize: number; readonly mempoolFeesSats: bigint }
  | { readonly kind: 'block'; readonly outcome: EmbeddedSubmitOutcome; readonly height: number };

export class EmbeddedTemplateSource implements TemplateSource {
  readonly chain: EmbeddedChain;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #intervalMs: number;
  readonly #perIntervalMax: number;
  #onChange: ((what: EmbeddedChange) => void) | undefined;
  #timer: TimerId | undefined;
  #running = false;

  constructor(options: EmbeddedSourceOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`EmbeddedTemplateSource: options must be an object, got ${String(options)}`);
    this.#clock = options.clock;
    this.#random = options.random;
    this.#intervalMs = options.transactionIntervalMs ?? 3000;
    this.#perIntervalMax = options.transactionsPerIntervalMax ?? 4;
    if (!(Number.isFinite(this.#intervalMs) && this.#intervalMs >= 0)) throw new RangeError(`EmbeddedTemplateSource: transactionIntervalMs must be >= 0, got ${this.#intervalMs}`);
    if (!(Number.isInteger(this.#perIntervalMax) && this.#perIntervalMax >= 1)) {
      throw new RangeError(`EmbeddedTemplateSource: transactionsPerIntervalMax must be an integer >= 1, got ${this.#perIntervalMax}`);
    }
    this.#onChange = options.onChange;
    this.chain = new EmbeddedChain({ ...options.chain, random: options.random, nowMs: options.clock.wallMs() });
  }

  /** Set (or replace) the change observer, e.g. once the poller it should wake exists. */
  set onChange(handler: ((what: EmbeddedChange) => void) | undefined) {
    this.#onChange = handler;
  }

  /** Start the transaction-arrival timer. Idempotent. */
  start(): void {
    if (this.#running || this.#intervalMs === 0) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stop the timer. Idempotent. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  getBlockTemplate(templateId: bigint): Promise<Result<BlockTemplate, UpstreamError>> {
    try {
      return Promise.resolve(ok(this.chain.template(templateId, this.#clock.wallMs())));
    } catch (error) {
      // Only reachable through a bug (misuse throws); still a value per the TemplateSource contract.
      return Promise.resolve(err(upstreamError('upstream-bad-response', 'getblocktemplate', `embedded chain: ${error instanceof Error ? error.message : String(error)}`)));
    }
  }

  submitBlock(block: Uint8Array | string): Promise<Result<SubmitBlockOutcome, UpstreamError>> {
    let bytes: Uint8Array;
    try {
      bytes = typeof block === 'string' ? hexToBytes(block) : block;
    } catch {
      // bitcoind: RPC error -22 "Block decode failed": a rejection, not a transport failure.
      return Promise.resolve(ok({ kind: 'rejected', reason: 'block-decode-failed' }));
    }
    const outcome = this.chain.submitBlock(bytes, this.#clock.wallMs());
    if (outcome.kind === 'accepted' || outcome.kind === 'inconclusive') this.#changed({ kind: 'block', outcome, height: this.chain.height });
    return Promise.resolve(ok(_toSubmitBlockOutcome(outcome)));
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimer(this.#intervalMs, () => {
      this.#timer = undefined;
      if (!this.#running) return;
      const count = 1 + (this.#random.fill(new Uint8Array(1))[0]! % this.#perIntervalMax);
      const added = this.chain.addTransactions(count);
      if (added > 0) this.#changed({ kind: 'transactions', added, mempoolSize: this.chain.mempoolSize, mempoolFeesSats: this.chain.mempoolFeesSats });
      this.#schedule();
    });
  }

  #changed(what: EmbeddedChange): void {
    try {
      this.#onChange?.(what);
    } catch {
      // An observer must not break the chain's timer.
    }
  }
}

function _toSubmitBlockOutcome(outcome: EmbeddedSubmitOutcome): SubmitBlockOutcome {
  switch (outcome.kind) {
    case 'accepted':
      return { kind: 'accepted' };
    case 'duplicate':
      return { kind: 'duplicate', reason: outcome.reason };
    case 'inconclusive':
      return { kind: 'inconclusive', reason: outcome.reason };
    case 'rejected':
      return { kind: 'rejected', reason: outcome.reason };
  }
}
