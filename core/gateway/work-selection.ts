// Miner-proposed work (issue 4 item 6, SPEC §3 "SetCustomMiningJob verified by policy before it
// is accepted"): the WorkSelectionHandler the session calls for SetCustomMiningJob on a
// connection that negotiated REQUIRES_WORK_SELECTION (SV2.md §4). Pure and synchronous.
//
//   1. the channel must be an open EXTENDED channel of this connection, else `invalid-channel-id`
//      (standard channels are refused at open on such a connection: session.ts)
//   2. PolicyEngine.verifyCustomJob against the chain view of the RELEASED template (the one
//      miners are working on): prev_hash must be its prevhash, nbits its nbits, min_ntime within
//      [mintime, maxtime], BIP9 version, BIP34 coinbase_prefix, merkle path depth, outputs that
//      parse and pay the pool at least the subsidy (engine.ts). A failure answers
//      SetCustomMiningJob.Error with SRI's string (SV2.md §5.8) and emits `custom_job_rejected`
//      with the registry code.
//   3. the job is built with SRI's custom coinbase (SV2.md §5.4; core/channels/custom-job.ts)
//      and installed in the channel (MiningChannels.addCustomJob), so shares against its job id
//      validate; SetCustomMiningJob.Success {channel_id, request_id, job_id}; `custom_job_accepted`.
//
// DECISIONS:
// - Chain view = the released template (gateway.currentJob), not the newest template seen: in
//   inline mode a custom job on a tip whose template has no acceptable verdict yet is refused as
//   `stale-chain-tip` (fail closed, SPEC §6). Before any template, every custom job is stale.
// - mining_job_token (issue 11 item 4): with a Job Declaration Server (`tokens`), the token must
//   be one it issued to the channel's account (core/job-declaration/tokens.ts): a DECLARED token
//   (DeclareMiningJob.Success, unexpired — 10 s — and unused; it is spent here) or, for a JD
//   connection in coinbase-only mode, its allocated token. Refusals answer
//   `invalid-mining-job-token` with the jd_token_* code. A declared job is then checked field by
//   field against the declaration, with SRI's strings (pool_sv2 0.7.0 checks the same list
//   through its JDS): prev_hash `stale-chain-tip`, nbits `invalid-nbits`, version
//   `invalid-version`, coinbase_tx_version `invalid-coinbase-tx-version`, coinbase_prefix (and the
//   extranonce size it implies) `invalid-coinbase-prefix`, input nSequence
//   `invalid-coinbase-tx-input-n-sequence`, outputs byte for byte `invalid-coinbase-tx-outputs`,
//   locktime `invalid-coinbase-tx-locktime`, merkle_path from the declared txids
//   `invalid-merkle-path`. Then the policy checks above run as for any custom job (so a job on an
//   old tip is `stale-chain-tip` after a prevhash switch, fail closed). Without `tokens` (no
//   [job_declaration]) the token is not checked and policy alone gates the job.
// - Transactions: a declared job carries its transactions, so a share meeting the network target
//   is a complete block and goes to submitblock like any other (never lost). Otherwise only the
//   merkle path is known: when it equals a cached template's path the block uses that template's
//   transactions; an empty path is a coinbase-only block; otherwise (coinbase-only JD mode with
//   the miner's own transactions) a found block is recorded with an empty hex and not submitted
//   (custom-job.ts): the miner's own template provider propagates it.
// - Socket workers (gateway.workers ≥ 2, docs/scaling.md "Job Declaration with workers"): the
//   token table lives in the leader, so a worker's handler has `remoteTokens` instead of `tokens`.
//   The token stage (checkCustomJobToken: consume + the field-by-field comparison above) runs in
//   the leader on the worker's request (answerCustomJobTokenCheck) — the one table, so single
//   use and the 10 s expiry are exactly the single-process ones, judged on the leader's clock
//   when the request arrives. The worker's session holds that connection's later input, in
//   order, until the answer (session.ts), or until `remoteTokens.timeoutMs` has passed:
//   `custom_job_token_check_timeout`, fail closed. The answer carries only what the worker needs to
//   finish: the declaration id and the declared transactions (so a block is complete). Then the
//   policy checks and the install run in the worker as in one process.
import { bytesToHex, equalBytes, reversed } from '../bytes.ts';
import type { Sv2Message } from '../codec/index.ts';
import type { SetCustomMiningJob } from '../codec/messages/mining.ts';
import { CustomJobSource, type JobTemplate, type MiningChannels } from '../channels/index.ts';
import { parseTxOutVec } from '../policy/bitcoin.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import { EMPTY_CHAIN_VIEW, type ChainView } from '../policy/types.ts';
import { targetFromNbits } from '../mining/target.ts';
import { wireString, type ReasonCode } from '../reason-codes.ts';
import type { TemplateTransaction } from '../template/template.ts';
import type { DeclaredJob } from '../job-declaration/jds-session.ts';
import type { MiningJobTokens } from '../job-declaration/tokens.ts';
import type { GatewayEventSink } from './events.ts';
import type { PendingCustomJob, WorkSelectionHandler } from './session.ts';

/** How long a worker waits for the leader's token check (docs/scaling.md: the leader answers
 * from memory over loopback, well under a millisecond; 2 s covers a leader busy with a
 * 4,000-transaction template pass or a declaration verdict many times over). */
export const CUSTOM_JOB_TOKEN_CHECK_TIMEOUT_MS = 2_000;

/** A worker's request to the leader: check this SetCustomMiningJob's token (worker-control.ts). */
export interface CustomJobTokenCheck {
  /** The worker's ticket (U32), echoed in the answer. */
  readonly id: number;
  /** The channel's authenticated identity (the token is bound to its account). */
  readonly user: string;
  /** The channel's full extranonce size (prefix + miner part), compared with the declared coinbase. */
  readonly fullExtranonceBytes: number;
  readonly job: SetCustomMiningJob;
}

/** The leader's answer: the token stage passed (with the declared job's id and transactions, or
 * null in coinbase-only mode), or the refusal with its code. */
export type CustomJobTokenAnswer =
  | { readonly ok: true; readonly declared: { readonly declarationId: bigint; readonly transactions: readonly Uint8Array[] } | null }
  | { readonly ok: false; readonly reasonCode: CustomJobTokenRefusal; readonly detail: string };

/** Every code the token stage refuses with (the token, then the declaration's fields). */
export const CUSTOM_JOB_TOKEN_REFUSALS = [
  'jd_token_unknown', 'jd_token_expired', 'jd_token_foreign', 'jd_token_reused',
  'custom_job_stale_chain_tip', 'custom_job_invalid_nbits', 'custom_job_invalid_version', 'custom_job_invalid_coinbase_tx_version',
  'custom_job_invalid_coinbase_prefix', 'custom_job_invalid_input_sequence', 'custom_job_invalid_coinbase_outputs',
  'custom_job_invalid_locktime', 'custom_job_invalid_merkle_path',
] as const satisfies readonly ReasonCode[];
export type CustomJobTokenRefusal = (typeof CUSTOM_JOB_TOKEN_REFUSALS)[number];

/** A worker's way to the leader's tokens (adapters/workers/worker.ts sends the request). */
export interface RemoteCustomJobTokens {
  /** How long the session holds the connection's input for an answer. */
  readonly timeoutMs: number;
  /** Send the request to the leader. Must not throw. */
  request(check: CustomJobTokenCheck): void;
}

/**
 * The token stage of SetCustomMiningJob, where the tokens are: in one process, and in the
 * leader for its workers. Consumes the token (a refusal after the consume — a field that differs
 * from the declaration — leaves it spent, as SRI's pool does), then compares the fields.
 */
export function checkCustomJobToken(
  tokens: MiningJobTokens<DeclaredJob>,
  m: SetCustomMiningJob,
  user: string,
  fullExtranonceBytes: number,
  nowMs: number,
): { readonly ok: true; readonly declared: DeclaredJob | null } | { readonly ok: false; readonly code: CustomJobTokenRefusal; readonly detail: string } {
  const token = tokens.consumeForCustomJob(m.miningJobToken, user, nowMs);
  if (!token.ok) return { ok: false, code: token.reason, detail: token.detail };
  if (token.kind === 'coinbase_only') return { ok: true, declared: null };
  const mismatch = _declarationMismatch(m, token.job, fullExtranonceBytes);
  if (mismatch !== null) return { ok: false, code: mismatch.code, detail: mismatch.detail };
  return { ok: true, declared: token.job };
}

/** The leader's side of a worker's check (adapters/workers/leader.ts). */
export function answerCustomJobTokenCheck(tokens: MiningJobTokens<DeclaredJob> | undefined, check: CustomJobTokenCheck, nowMs: number): CustomJobTokenAnswer {
  if (tokens === undefined) return { ok: false, reasonCode: 'jd_token_unknown', detail: 'the leader runs no Job Declaration Server' };
  const r = checkCustomJobToken(tokens, check.job, check.user, check.fullExtranonceBytes, nowMs);
  if (!r.ok) return { ok: false, reasonCode: r.code, detail: r.detail };
  return { ok: true, declared: r.declared === null ? null : { declarationId: r.declared.declarationId, transactions: r.declared.transactions.map((t) => t.data) } };
}

interface _Pending {
  readonly connId: number;
  readonly m: SetCustomMiningJob;
}

export interface PolicyWorkSelectionOptions {
  readonly engine: PolicyEngine;
  /** The released template miners work on (Gateway.currentJob); null before the first. */
  readonly currentJob: () => JobTemplate | null;
  /** The Job Declaration Server's tokens; present = SetCustomMiningJob requires one (issue 11). */
  readonly tokens?: MiningJobTokens<DeclaredJob>;
  /** Socket worker: the leader's tokens, asked over the control channel (instead of `tokens`). */
  readonly remoteTokens?: RemoteCustomJobTokens;
  /** Other cached templates whose merkle path a coinbase-only custom job may reuse (TemplateCache.templates). */
  readonly templates?: () => readonly { readonly merklePath: readonly Uint8Array[]; readonly transactions: readonly TemplateTransaction[] }[];
}

function _samePath(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!equalBytes(a[i]!, b[i]!)) return false;
  return true;
}

export class PolicyWorkSelection implements WorkSelectionHandler {
  readonly #engine: PolicyEngine;
  readonly #currentJob: () => JobTemplate | null;
  readonly #tokens: MiningJobTokens<DeclaredJob> | undefined;
  readonly #remote: RemoteCustomJobTokens | undefined;
  readonly #templates: PolicyWorkSelectionOptions['templates'];
  /** Worker: checks sent to the leader and not yet answered, by ticket. */
  readonly #pending = new Map<number, _Pending>();
  #nextTicket = 0;
  /**
   * Counters for tests and /status. `late`: leader answers for a ticket nobody waits for any more
   * (timed out, or its connection closed); `timedOut`: checks refused as custom_job_token_check_timeout.
   */
  readonly counters = { accepted: 0, rejected: 0, late: 0, timedOut: 0 };

  constructor(options: PolicyWorkSelectionOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`PolicyWorkSelection: options must be an object, got ${String(options)}`);
    if (options.engine === null || typeof options.engine !== 'object' || typeof options.engine.verifyCustomJob !== 'function') {
      throw new TypeError('PolicyWorkSelection: options.engine must be a PolicyEngine');
    }
    if (typeof options.currentJob !== 'function') throw new TypeError('PolicyWorkSelection: options.currentJob must be a function');
    if (options.tokens !== undefined && options.remoteTokens !== undefined) throw new TypeError('PolicyWorkSelection: tokens and remoteTokens exclude each other');
    if (options.remoteTokens !== undefined && !(Number.isSafeInteger(options.remoteTokens.timeoutMs) && options.remoteTokens.timeoutMs >= 1)) {
      throw new RangeError(`PolicyWorkSelection: remoteTokens.timeoutMs must be a positive integer, got ${options.remoteTokens.timeoutMs}`);
    }
    this.#engine = options.engine;
    this.#currentJob = options.currentJob;
    this.#tokens = options.tokens;
    this.#remote = options.remoteTokens;
    this.#templates = options.templates;
  }

  /** Checks waiting for the leader (worker). */
  get pendingChecks(): number {
    return this.#pending.size;
  }

  /** The chain view and min_ntime bounds from the released template. */
  static chainOf(current: JobTemplate | null): { chain: ChainView; minNtime: number | null; maxNtime: number | null } {
    if (current === null) return { chain: EMPTY_CHAIN_VIEW, minNtime: null, maxNtime: null };
    return {
      chain: { tipHash: current.prevHash, tipHeight: current.height - 1, recentHashes: [], expectedNbits: current.nbits },
      minNtime: current.template.mintime,
      maxNtime: current.maxNtime,
    };
  }

  handleSetCustomMiningJob(connId: number, channels: MiningChannels, m: SetCustomMiningJob, nowMs: number, emit: GatewayEventSink): Sv2Message[] | PendingCustomJob {
    const info = channels.channelInfo(m.channelId);
    if (info === undefined || info.kind !== 'extended') {
      return this.#refuse(connId, m, emit, 'invalid_channel_id', wireString('invalid_channel_id'), `channel ${m.channelId} is not an open extended channel of this connection`);
    }
    const fullExtranonceBytes = info.extranoncePrefix.length + info.extranonceSize;
    if (this.#remote !== undefined) {
      // The leader holds the tokens: ask, and let the session hold this connection's input.
      this.#nextTicket = this.#nextTicket >= 0xffffffff ? 1 : this.#nextTicket + 1;
      const id = this.#nextTicket;
      this.#pending.set(id, { connId, m });
      this.#remote.request({ id, user: info.userIdentity, fullExtranonceBytes, job: m });
      return { pending: id, deadlineMs: nowMs + this.#remote.timeoutMs };
    }
    let declared: { readonly declarationId: bigint; readonly transactions: readonly Pick<TemplateTransaction, 'data'>[] } | null = null;
    if (this.#tokens !== undefined) {
      const token = checkCustomJobToken(this.#tokens, m, info.userIdentity, fullExtranonceBytes, nowMs);
      if (!token.ok) return this.#refuse(connId, m, emit, token.code, wireString(token.code), token.detail);
      declared = token.declared;
    }
    return this.#finish(connId, channels, m, declared, nowMs, emit);
  }

  /** The connection waiting for `ticket`, or undefined — then the answer is late (counted). */
  claimAnswer(ticket: number): number | undefined {
    const p = this.#pending.get(ticket);
    if (p === undefined) this.counters.late += 1;
    return p?.connId;
  }

  /** The leader answered `ticket`: refuse with its code, or finish as a single-process gateway would. */
  completeSetCustomMiningJob(ticket: number, answer: CustomJobTokenAnswer, channels: MiningChannels, nowMs: number, emit: GatewayEventSink): Sv2Message[] {
    const p = this.#pending.get(ticket);
    if (p === undefined) return [];
    this.#pending.delete(ticket);
    if (!answer.ok) return this.#refuse(p.connId, p.m, emit, answer.reasonCode, wireString(answer.reasonCode), answer.detail);
    const declared = answer.declared === null ? null : { declarationId: answer.declared.declarationId, transactions: answer.declared.transactions.map((data) => ({ data })) };
    return this.#finish(p.connId, channels, p.m, declared, nowMs, emit);
  }

  /** No answer by the deadline: refused, fail closed (a late answer is only counted). */
  expireSetCustomMiningJob(ticket: number, _nowMs: number, emit: GatewayEventSink): Sv2Message[] {
    const p = this.#pending.get(ticket);
    if (p === undefined) return [];
    this.#pending.delete(ticket);
    this.counters.timedOut += 1;
    return this.#refuse(p.connId, p.m, emit, 'custom_job_token_check_timeout', wireString('custom_job_token_check_timeout'), `the leader did not answer the token check within ${this.#remote?.timeoutMs ?? 0} ms`);
  }

  /** The connection closed while its check was out. */
  abandonSetCustomMiningJob(ticket: number): void {
    this.#pending.delete(ticket);
  }

  #refuse(connId: number, m: SetCustomMiningJob, emit: GatewayEventSink, reasonCode: ReasonCode, wire: string, detail: string): Sv2Message[] {
    this.counters.rejected += 1;
    emit({ type: 'custom_job_rejected', conn_id: connId, channel_id: m.channelId, request_id: m.requestId, reason_code: reasonCode, wire, detail });
    return [{ type: 'SetCustomMiningJobError', channelId: m.channelId, requestId: m.requestId, errorCode: wire }];
  }

  /** After the token stage: the policy's chain checks, then the job is installed. */
  #finish(
    connId: number,
    channels: MiningChannels,
    m: SetCustomMiningJob,
    declared: { readonly declarationId: bigint; readonly transactions: readonly Pick<TemplateTransaction, 'data'>[] } | null,
    nowMs: number,
    emit: GatewayEventSink,
  ): Sv2Message[] {
    const current = this.#currentJob();
    const { chain, minNtime, maxNtime } = PolicyWorkSelection.chainOf(current);
    const verdict = this.#engine.verifyCustomJob(m, { chain, minNtime, maxNtime });
    if (!verdict.ok) return this.#refuse(connId, m, emit, verdict.reasonCode, verdict.wire, verdict.detail);
    // verifyCustomJob checked that these parse and that the tip (hence `current`) is known.
    const outputs = parseTxOutVec(m.coinbaseTxOutputs)!;
    const networkTarget = targetFromNbits(m.nbits >>> 0)!;
    let transactions: readonly Pick<TemplateTransaction, 'data'>[] | null = null;
    if (declared !== null) transactions = declared.transactions;
    else if (m.merklePath.length === 0) transactions = [];
    else if (current !== null && _samePath(m.merklePath, current.merklePath)) transactions = current.template.transactions;
    else transactions = (this.#templates?.() ?? []).find((t) => _samePath(m.merklePath, t.merklePath))?.transactions ?? null;
    const height = chain.tipHeight! + 1;
    const source = new CustomJobSource({ fields: m, outputs, height, networkTarget, transactions });
    const jobId = channels.addCustomJob(m.channelId, source, m.minNtime, nowMs);
    if (jobId === null) return this.#refuse(connId, m, emit, 'invalid_channel_id', wireString('invalid_channel_id'), `channel ${m.channelId} is not an open extended channel of this connection`);
    this.counters.accepted += 1;
    emit({
      type: 'custom_job_accepted',
      conn_id: connId,
      channel_id: m.channelId,
      request_id: m.requestId,
      job_id: jobId,
      prev_hash: bytesToHex(reversed(m.prevHash)),
      height,
      pool_paid_sats: verdict.poolPaidSats.toString(),
      transactions_known: transactions !== null,
      ...(declared === null ? {} : { declaration_id: declared.declarationId.toString() }),
    });
    return [{ type: 'SetCustomMiningJobSuccess', channelId: m.channelId, requestId: m.requestId, jobId }];
  }
}

/** The first field of SetCustomMiningJob that differs from its declaration (SRI's order), or null. */
function _declarationMismatch(m: SetCustomMiningJob, job: DeclaredJob, fullExtranonceBytes: number): { code: CustomJobTokenRefusal; detail: string } | null {
  const cb = job.coinbase;
  const hex = (b: Uint8Array): string => bytesToHex(b);
  if (!equalBytes(m.prevHash, job.prevHash)) return { code: 'custom_job_stale_chain_tip', detail: `prev_hash=${hex(reversed(m.prevHash))} is not the declared job's ${hex(reversed(job.prevHash))}` };
  if (m.nbits >>> 0 !== job.nbits >>> 0) return { code: 'custom_job_invalid_nbits', detail: `nbits=${(m.nbits >>> 0).toString(16)} != declared ${(job.nbits >>> 0).toString(16)}` };
  if (m.version >>> 0 !== job.version >>> 0) return { code: 'custom_job_invalid_version', detail: `version=0x${(m.version >>> 0).toString(16)} != declared 0x${(job.version >>> 0).toString(16)}` };
  if (m.coinbaseTxVersion >>> 0 !== cb.version >>> 0) return { code: 'custom_job_invalid_coinbase_tx_version', detail: `coinbase_tx_version=${m.coinbaseTxVersion} != declared ${cb.version}` };
  const head = cb.scriptSig.subarray(0, cb.scriptSig.length - cb.extranonceBytes);
  if (!equalBytes(m.coinbasePrefix, head)) return { code: 'custom_job_invalid_coinbase_prefix', detail: `coinbase_prefix=${hex(m.coinbasePrefix)} != declared ${hex(head)}` };
  if (fullExtranonceBytes !== cb.extranonceBytes) return { code: 'custom_job_invalid_coinbase_prefix', detail: `the channel's extranonce is ${fullExtranonceBytes} bytes, the declared coinbase leaves ${cb.extranonceBytes}` };
  if (m.coinbaseTxInputNSequence >>> 0 !== cb.inputSequence >>> 0) return { code: 'custom_job_invalid_input_sequence', detail: `coinbase_tx_input_nSequence=${m.coinbaseTxInputNSequence >>> 0} != declared ${cb.inputSequence >>> 0}` };
  if (!equalBytes(m.coinbaseTxOutputs, cb.outputsSerialized)) return { code: 'custom_job_invalid_coinbase_outputs', detail: 'coinbase_tx_outputs are not byte-equal to the declared coinbase outputs' };
  if (m.coinbaseTxLocktime >>> 0 !== cb.locktime >>> 0) return { code: 'custom_job_invalid_locktime', detail: `coinbase_tx_locktime=${m.coinbaseTxLocktime >>> 0} != declared ${cb.locktime >>> 0}` };
  if (!_samePath(m.merklePath, job.merklePath)) return { code: 'custom_job_invalid_merkle_path', detail: `merkle_path (${m.merklePath.length} levels) is not the path of the declared transactions (${job.merklePath.length} levels)` };
  return null;
}
