// Runs the gateway's `submit_block` commands against the template source and reports every
// answer back (SPEC §4: a found block is submitted at once, retried on transport errors, never
// lost). The retry policy lives in the core (core/gateway/block-submitter.ts): this adapter only
// executes one attempt per command and classifies the answer.
//
//   node answered (accepted / duplicate / inconclusive / rejected)  → that outcome, definitive
//   upstream-rpc-error -22 (decode failed) / -25 (verify error)     → rejected: the node refused
//                                                                     the block itself
//   anything else (unreachable, timeout, HTTP error, other RPC errors such as -28 "warming up",
//   a malformed answer, a source that throws)                       → transport_error: the core
//                                                                     re-sends after its backoff
// Resubmitting is safe: a node that already has the block says `duplicate`.
//
// Never drops a command: every command is started at once (the core bounds how many blocks can
// be pending, BlockSubmitter pendingMax), and every started attempt ends in exactly one
// `blockSubmitResult` unless the executor was stopped (the gateway has then settled the block
// itself, with its hex in the `block_submit_result` event).
import type { Clock } from '../core/clock.ts';
import type { BlockSubmitOutcome, SubmitBlockCommand } from '../core/gateway/block-submitter.ts';
import type { TemplateSource, UpstreamError } from './template-source.ts';
import { InFlight } from './in-flight.ts';

/** The part of the core Gateway the executor reports to. */
export interface BlockResultSink {
  blockSubmitResult(blockId: string, outcome: BlockSubmitOutcome, nowMs: number): void;
}

export interface BlockExecutorOptions {
  readonly source: Pick<TemplateSource, 'submitBlock'>;
  readonly gateway: BlockResultSink;
  readonly clock: Clock;
  /** Called after every result fed to the gateway (the pump's `service()`). */
  readonly onGatewayInput?: () => void;
}

export interface BlockExecutorStats {
  readonly started: number;
  readonly inFlight: number;
  readonly definitive: number;
  readonly transportErrors: number;
  /** Answers that arrived after stop() and were not reported. */
  readonly ignoredAfterStop: number;
}

/** JSON-RPC codes by which a node refuses the submitted block itself (Bitcoin Core rpc/protocol.h). */
const RPC_DESERIALIZATION_ERROR = -22;
const RPC_VERIFY_ERROR = -25;

export class BlockExecutor {
  readonly #options: BlockExecutorOptions;
  readonly #inFlight = new InFlight();
  #stopped = false;
  #started = 0;
  #definitive = 0;
  #transportErrors = 0;
  #ignored = 0;

  constructor(options: BlockExecutorOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`BlockExecutor: options must be an object, got ${String(options)}`);
    if (typeof options.source?.submitBlock !== 'function') throw new TypeError('BlockExecutor: source.submitBlock must be a function');
    this.#options = options;
  }

  get stats(): BlockExecutorStats {
    return {
      started: this.#started,
      inFlight: this.#inFlight.size,
      definitive: this.#definitive,
      transportErrors: this.#transportErrors,
      ignoredAfterStop: this.#ignored,
    };
  }

  /** Start one attempt for `command` (the pump's `onCommand`). Never throws. */
  execute(command: SubmitBlockCommand): void {
    if (command?.type !== 'submit_block') return;
    this.#started += 1;
    this.#inFlight.track(this.#attempt(command));
  }

  /** Resolves when no attempt is in flight (bounded by the source's request timeout). */
  async idle(): Promise<void> {
    await this.#inFlight.idle();
  }

  /** Stop reporting: answers arriving later are counted and dropped (the gateway has stopped). */
  stop(): void {
    this.#stopped = true;
  }

  async #attempt(command: SubmitBlockCommand): Promise<void> {
    let outcome: BlockSubmitOutcome;
    try {
      const result = await this.#options.source.submitBlock(command.hex);
      outcome = result.ok ? result.value : classifySubmitError(result.error);
    } catch (error) {
      outcome = { kind: 'transport_error', code: 'upstream-unreachable', message: `submitblock threw: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (this.#stopped) {
      this.#ignored += 1;
      return;
    }
    if (outcome.kind === 'transport_error') this.#transportErrors += 1;
    else this.#definitive += 1;
    try {
      this.#options.gateway.blockSubmitResult(command.block_id, outcome, this.#options.clock.monotonicMs());
      this.#options.onGatewayInput?.();
    } catch {
      // The core throws only on misuse (a bug); an unhandled rejection here would crash the
      // process, which is worse than the (already counted) lost report.
    }
  }
}

/** How an UpstreamError from `submitblock` is reported to the core (see the header). */
export function classifySubmitError(error: Pick<UpstreamError, 'code' | 'message'> & { readonly rpcCode?: number; readonly rpcMessage?: string }): BlockSubmitOutcome {
  if (error.code === 'upstream-rpc-error' && (error.rpcCode === RPC_DESERIALIZATION_ERROR || error.rpcCode === RPC_VERIFY_ERROR)) {
    return { kind: 'rejected', reason: error.rpcMessage ?? error.message };
  }
  return { kind: 'transport_error', code: error.code, message: error.message };
}
