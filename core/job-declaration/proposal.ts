// Consensus validity of a declared job through the node (issue 11 item 3; SPEC §14;
// docs/job-declaration.md "Consensus through the node"): after the policy verdict, the declared
// block is sent to the node as a BIP23 block proposal (`getblocktemplate {"mode": "proposal",
// "data": hex}`), which btcd and Bitcoin Core both implement, so this works with any node and not
// only with Bitcoin Core over IPC (jd_server_sv2 0.6.0). Pure: this file assembles the block,
// checks the node's answer and folds it into the verdict; the session (jds-session.ts) emits the
// `propose_block` command and an adapter (adapters/proposal-executor.ts) asks the node.
//
// The block (BIP23 "Block Proposal": a complete block, proof of work not checked):
//   header   the declared version, the released template's prev_hash, curtime and nbits, nonce 0
//   coinbase prefix ‖ 0×extranonce_bytes ‖ suffix (declared-coinbase.ts `withWitness`): the
//            extranonce is the miner's to roll and changes no consensus fact the node checks here
//   txs      the declared transactions, in declared order
//   root     the merkle root of [coinbase txid, declared txids...]
//
// The node's answer (BIP23): null = valid; a string = the reason it is invalid (BIP22 strings,
// btcd prefixes "rejected: "); a JSON-RPC error = the node could not judge it (or, -22 / -25, the
// block itself does not decode or verify). The adapter maps these to a ProposalAnswer; anything
// the core cannot check as one of those shapes is `malformed` (trust no peer answer).
import type { Sha256 } from '../mining/hash.ts';
import { header80 } from '../mining/header.ts';
import { coinbaseMerklePath, merkleRootFromPath } from '../mining/merkle.ts';
import type { PolicyContextValue, Verdict } from '../policy/types.ts';
import { rejectedVerdict } from '../policy/types.ts';
import { decodeTransaction } from '../template/embedded-chain.ts';
import { serializeBlock, type BlockTemplate, type TemplateTransaction } from '../template/template.ts';
import type { DeclaredCoinbase } from './declared-coinbase.ts';

/** Longest node reject string kept (BIP22 reasons are short tokens; btcd's are one sentence). */
export const PROPOSAL_REASON_CHARS_MAX = 256;

/**
 * The node's reject strings that mean "your prev block is not my tip": the tip moved while the
 * declaration waited for the node (a race at every new block), or the block it built on became
 * invalid. Bitcoin Core: `inconclusive-not-best-prevblk` (rpc/mining.cpp, proposal mode). btcd
 * v0.26.2 (rpcserver.go): `bad-prevblk` when the proposal's prev block is not the best block
 * (handleGetBlockTemplateProposal) or is an invalid ancestor, and `inconclusive-not-best-prvblk`
 * (its spelling) for ErrPrevBlockNotBest. This is not a fault of the declared transactions: the
 * job is on a stale tip, so the verdict is `prevhash_stale`, answered `stale-chain-tip` like every
 * declaration on an old tip (issue 11 item 5). That string matters to the miner's side: SRI's JD
 * client treats every DeclareMiningJob.Error except `stale-chain-tip` as a reason to drop this
 * pool and fall back (jd_client_sv2 0.6.0 channel_manager/jd_message_handler.rs), so answering a
 * tip race `invalid-job` would cost the pool its miners at a new block.
 */
export const PROPOSAL_STALE_TIP_REASONS: ReadonlySet<string> = new Set(['inconclusive-not-best-prevblk', 'inconclusive-not-best-prvblk', 'bad-prevblk']);

/** job_declaration.proposal_failure_policy: what a declaration gets when the node gives no answer. */
export type ProposalFailurePolicy = 'fail_closed' | 'permit_all';

export interface ProposalSettings {
  /** job_declaration.proposal_timeout_ms: the node's answer must arrive within this on the Clock. */
  readonly timeoutMs: number;
  readonly failurePolicy: ProposalFailurePolicy;
}

/** What the adapter reports for one proposal (checked by `checkProposalAnswer`). */
export type ProposalAnswer =
  | { readonly kind: 'valid' }
  | { readonly kind: 'invalid'; readonly reason: string }
  /** The node did not judge it: unreachable, HTTP or RPC error, or an answer that is no BIP23 shape. */
  | { readonly kind: 'node_error'; readonly code: string; readonly message: string };

/** The node's part of a declaration verdict, as policy_context records it. */
export type ProposalResult =
  | { readonly result: 'valid'; readonly latencyMs: number }
  | { readonly result: 'invalid'; readonly reason: string; readonly latencyMs: number }
  | { readonly result: 'node_error' | 'malformed'; readonly reason: string; readonly latencyMs: number }
  | { readonly result: 'timeout'; readonly latencyMs: number };

/** The `propose_block` command the gateway hands its adapter (docs/job-declaration.md). */
export interface ProposeBlockCommand {
  readonly type: 'propose_block';
  /** The JD connection and the declaration: the answer is routed back with both. */
  readonly conn_id: number;
  readonly declaration_id: string;
  /** The serialized block (`getblocktemplate {"mode":"proposal","data": hex}`). Bytes, not hex:
   * hex-encoding ~1 MB in pure TS costs tens of ms, so the adapter does it with the runtime's
   * native encoder, outside the verdict path. */
  readonly block: Uint8Array;
}

export interface ProposalBlockInput {
  readonly version: number;
  readonly tip: Pick<BlockTemplate, 'prevHash' | 'curtime' | 'nbits'>;
  readonly coinbase: Pick<DeclaredCoinbase, 'withWitness'>;
  readonly transactions: readonly Pick<TemplateTransaction, 'txid' | 'data'>[];
  /** The coinbase's merkle path over the declared txids when already computed (declaration.ts
   * does, for the engine): the root is then log2(n) hashes instead of n. */
  readonly merklePath?: readonly Uint8Array[];
}

/** The declared block, byte for byte as BIP23 wants it (see the header). Throws only on a coinbase that does not decode (rebuildDeclaredCoinbase checked it). */
export function assembleProposalBlock(input: ProposalBlockInput, sha256?: Sha256): Uint8Array {
  const decoded = decodeTransaction(input.coinbase.withWitness, 0, sha256);
  if (decoded === null) throw new RangeError('assembleProposalBlock: the declared coinbase does not decode');
  const root =
    input.merklePath !== undefined
      ? merkleRootFromPath(decoded.tx.txid, input.merklePath, sha256)
      : merkleRootFromPath(decoded.tx.txid, coinbaseMerklePath(input.transactions.map((t) => t.txid), sha256), sha256);
  const header = header80({ version: input.version >>> 0, prevHash: input.tip.prevHash, merkleRoot: root, ntime: input.tip.curtime >>> 0, nbits: input.tip.nbits >>> 0, nonce: 0 });
  return serializeBlock(header, input.coinbase.withWitness, input.transactions);
}

function _printable(text: string): boolean {
  return !/[\u0000-\u001f\u007f]/.test(text);
}

/** Check what the adapter handed back; anything that is not one of the three shapes is `malformed`. */
export function checkProposalAnswer(answer: unknown, latencyMs: number): ProposalResult {
  const malformed = (why: string): ProposalResult => ({ result: 'malformed', reason: why, latencyMs });
  if (answer === null || typeof answer !== 'object') return malformed(`proposal answer is ${answer === null ? 'null' : typeof answer}, not an object`);
  const a = answer as Record<string, unknown>;
  if (a.kind === 'valid') return { result: 'valid', latencyMs };
  if (a.kind === 'invalid') {
    const reason = a.reason;
    if (typeof reason !== 'string' || reason.length === 0) return malformed('invalid proposal without a reject reason string');
    if (reason.length > PROPOSAL_REASON_CHARS_MAX) return malformed(`reject reason is ${reason.length} characters, more than ${PROPOSAL_REASON_CHARS_MAX}`);
    if (!_printable(reason)) return malformed('reject reason holds control characters');
    return { result: 'invalid', reason, latencyMs };
  }
  if (a.kind === 'node_error') {
    const code = typeof a.code === 'string' ? a.code : 'unknown';
    const message = typeof a.message === 'string' ? a.message.slice(0, PROPOSAL_REASON_CHARS_MAX) : '';
    return code === 'upstream-bad-response' ? malformed(message) : { result: 'node_error', reason: `${code}: ${message}`, latencyMs };
  }
  return malformed(`proposal answer kind ${JSON.stringify(String(a.kind)).slice(0, 40)} is not valid | invalid | node_error`);
}

/** policy_context keys for the node's part (docs/job-declaration.md "The verdict"). */
export function proposalContext(p: ProposalResult): Record<string, PolicyContextValue> {
  const out: Record<string, PolicyContextValue> = { proposal_result: p.result, proposal_latency_ms: p.latencyMs };
  if ('reason' in p) out['proposal_reason'] = p.reason;
  return out;
}

/**
 * Fold the node's answer into the policy verdict. First failure wins: a policy rejection (only
 * proposed in `observe`) stays the verdict and only records what the node said. An accepted
 * verdict becomes `prevhash_stale` when the node's tip moved (PROPOSAL_STALE_TIP_REASONS),
 * `jd_proposal_rejected` when the node says invalid, and `jd_proposal_unavailable` on no usable
 * answer (an `inconclusive…` string included) under `fail_closed`; `permit_all` keeps it accepted
 * and records why.
 */
export function proposalVerdict(policy: Verdict, p: ProposalResult, failurePolicy: ProposalFailurePolicy, timeoutMs: number): Verdict {
  const context = { ...policy.policy_context, ...proposalContext(p) };
  if (!policy.accepted || p.result === 'valid') return { ...policy, policy_context: context };
  if (p.result === 'invalid') {
    if (PROPOSAL_STALE_TIP_REASONS.has(p.reason)) {
      return rejectedVerdict('prevhash_stale', `the node's tip is no longer the declared job's prev_hash (node: ${p.reason})`, context);
    }
    if (!p.reason.startsWith('inconclusive')) return rejectedVerdict('jd_proposal_rejected', p.reason, context);
    // Any other BIP22 "inconclusive…": the node could not decide, which is not a verdict on the
    // block; the failure policy decides below, as for a node error.
  }
  if (failurePolicy === 'permit_all') return { ...policy, policy_context: { ...context, proposal_failure_policy: 'permit_all' } };
  const why = p.result === 'timeout' ? `the node gave no proposal answer within ${timeoutMs} ms` : `the node could not judge the proposal (${p.result}: ${p.reason})`;
  return rejectedVerdict('jd_proposal_unavailable', `${why}; job_declaration.proposal_failure_policy = fail_closed`, { ...context, proposal_failure_policy: 'fail_closed' });
}
