// Runs the gateway's `propose_block` commands (the Job Declaration Server's BIP23 proposals,
// core/job-declaration/proposal.ts) against the template source and reports every answer back
// with `gateway.blockProposalResult(conn_id, declaration_id, answer, nowMs)`. The core owns the
// timeout (job_declaration.proposal_timeout_ms on its clock) and the failure policy; this adapter
// only executes one request per command and says what the node answered:
//
//   null                                     → {kind:'valid'}
//   a reject string                          → {kind:'invalid', reason}
//   upstream-rpc-error -22 / -25             → {kind:'invalid', reason: the node's message}: the
//                                              node refused the block itself (decode / verify)
//   anything else (unreachable, timeout, HTTP error, other RPC errors, an answer that is neither
//   null nor a string, a source that throws) → {kind:'node_error', code, message}
// The core checks the shape again (trust no peer answer: proposal.ts checkProposalAnswer).
import type { Clock } from '../core/clock.ts';
import type { ProposalAnswer, ProposeBlockCommand } from '../core/job-declaration/proposal.ts';
import { Buffer } from 'node:buffer';
import type { TemplateSource } from './template-source.ts';
import { InFlight } from './in-flight.ts';

/** Lower-case hex with the runtime's native encoder (node:buffer on Node, Deno and Bun): a
 * 4,000-transaction block is ~1 MB, which the pure-TS encoder takes tens of ms for. */
export function blockHex(block: Uint8Array): string {
  return Buffer.from(block.buffer, block.byteOffset, block.byteLength).toString('hex');
}

/** The part of the core Gateway the executor reports to. */
export interface ProposalResultSink {
  blockProposalResult(connId: number, declarationId: string, answer: unknown, nowMs: number): void;
}

export interface ProposalExecutorOptions {
  readonly source: Required<Pick<TemplateSource, 'proposeBlock'>>;
  readonly gateway: ProposalResultSink;
  readonly clock: Clock;
  /** The request timeout handed to the source (job_declaration.proposal_timeout_ms): nothing lingers past the core's deadline. */
  readonly timeoutMs: number;
  /** Called after every result fed to the gateway (the pump's `service()`). */
  readonly onGatewayInput?: () => void;
}

/** JSON-RPC codes by which a node refuses the block itself (Bitcoin Core rpc/protocol.h). */
const RPC_DESERIALIZATION_ERROR = -22;
const RPC_VERIFY_ERROR = -25;

export class ProposalExecutor {
  readonly #options: ProposalExecutorOptions;
  readonly #inFlight = new InFlight();
  #stopped = false;
  started = 0;
  answered = 0;

  constructor(options: ProposalExecutorOptions) {
    if (typeof options?.source?.proposeBlock !== 'function') throw new TypeError('ProposalExecutor: source.proposeBlock must be a function');
    this.#options = options;
  }

  /** Start one proposal for `command` (the pump's `onProposal`). Never throws. */
  execute(command: ProposeBlockCommand): void {
    if (command?.type !== 'propose_block') return;
    this.started += 1;
    this.#inFlight.track(this.#attempt(command));
  }

  async idle(): Promise<void> {
    await this.#inFlight.idle();
  }

  stop(): void {
    this.#stopped = true;
  }

  async #attempt(command: ProposeBlockCommand): Promise<void> {
    let answer: ProposalAnswer;
    try {
      const result = await this.#options.source.proposeBlock(blockHex(command.block), { timeoutMs: this.#options.timeoutMs });
      if (result.ok) answer = result.value.kind === 'valid' ? { kind: 'valid' } : { kind: 'invalid', reason: result.value.reason };
      else if (result.error.code === 'upstream-rpc-error' && (result.error.rpcCode === RPC_DESERIALIZATION_ERROR || result.error.rpcCode === RPC_VERIFY_ERROR)) {
        answer = { kind: 'invalid', reason: result.error.rpcMessage ?? result.error.message };
      } else answer = { kind: 'node_error', code: result.error.code, message: result.error.message };
    } catch (error) {
      answer = { kind: 'node_error', code: 'upstream-unreachable', message: `proposeBlock threw: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (this.#stopped) return;
    this.answered += 1;
    try {
      this.#options.gateway.blockProposalResult(command.conn_id, command.declaration_id, answer, this.#options.clock.monotonicMs());
      this.#options.onGatewayInput?.();
    } catch {
      // The core throws only on misuse (a bug); never an unhandled rejection.
    }
  }
}
