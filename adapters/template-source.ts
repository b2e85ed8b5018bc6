// Where block templates come from and where found blocks go (SPEC §4, issue 3 items 1 and 9).
//
// Two implementations satisfy this interface STRUCTURALLY (no `implements` needed):
//   - BitcoindRpc (adapters/bitcoind-rpc.ts): Bitcoin Core / btcd over JSON-RPC;
//   - the demo's embedded chain (a small local chain that builds real templates).
// The poller (adapters/template-poller.ts) calls getBlockTemplate on its timer; the block
// executor (adapters/block-executor.ts) calls submitBlock for every `submit_block` command the
// core Gateway emits.
//
// Contract (STYLE.md #6): failures are VALUES, never exceptions. An implementation that throws
// anyway is treated by the poller/executor as `upstream-unreachable` (defence in depth), but
// must not rely on that.
import type { Result } from '../core/errors.ts';
import type { BlockTemplate } from '../core/template/template.ts';
import type { BlockProposalOutcome, SubmitBlockOutcome, UpstreamError, UpstreamErrorCode } from './bitcoind-rpc.ts';

export type { BlockProposalOutcome, BlockTemplate, SubmitBlockOutcome, UpstreamError, UpstreamErrorCode };

export interface TemplateSource {
  /**
   * The node's current template, parsed. `templateId` is OURS (a counter the poller passes in,
   * NewTemplate.template_id, SV2.md §6): the source must put it in `BlockTemplate.templateId`
   * unchanged. The poller decides whether the template CHANGED (prevhash, tx set, fees), so a
   * source may return an equal template on every call.
   */
  getBlockTemplate(templateId: bigint): Promise<Result<BlockTemplate, UpstreamError>>;

  /**
   * Submit a serialized block (hex, or raw bytes). The outcome classifies the node's answer:
   * `accepted`, `duplicate` (already known: safe after a retry), `inconclusive`, `rejected`
   * (with the BIP22 reason). A transport failure (timeout, connection refused, HTTP error) is
   * an `err` — the executor reports it as `transport_error` so the core retries; the block is
   * never dropped.
   */
  submitBlock(block: Uint8Array | string): Promise<Result<SubmitBlockOutcome, UpstreamError>>;

  /**
   * BIP23 block proposal (issue 11; adapters/proposal-executor.ts): would this block be valid on
   * the node's tip (proof of work not checked)? Optional: a source without it (the embedded demo
   * chain) needs `job_declaration.block_proposals = false`.
   */
  proposeBlock?(block: Uint8Array | string, options?: { readonly timeoutMs?: number }): Promise<Result<BlockProposalOutcome, UpstreamError>>;
}

/** Build an UpstreamError (for sources other than BitcoindRpc, e.g. the demo chain). */
export function upstreamError(code: UpstreamErrorCode, method: string, message: string): UpstreamError {
  return { code, origin: 'remote', message, method };
}
