// One Job Declaration client connection, server side (issue 11; SV2 spec §6; SV2.md §7).
// Sans-IO like the mining Session and the TdpSession (STYLE.md #1, #7): bytes and time in;
// bytes, events and one next deadline out. States are named for what they wait for:
//
//   Handshake        Noise NX, the same responder identity (authority key, certificate) as the
//                    miner port
//   ExpectSetup      the first frame MUST be SetupConnection for protocol 1 (Job Declaration),
//                    versions containing 2. Flag bit 0 DECLARE_TX_DATA = full-template mode; no
//                    flag = coinbase-only mode (jd_server_sv2 0.6.0 refuses it with
//                    `missing-declare-tx-data-flag`; we support it: its tokens go straight to
//                    SetCustomMiningJob with coinbase checks only). Other bits: `.Error
//                    unsupported-feature-flags`.
//   Ready            AllocateMiningJobToken, DeclareMiningJob, ProvideMissingTransactions.Success,
//                    PushSolution
//   Closed           terminal; one `jd_connection_closed` event
//
// AllocateMiningJobToken (issue 11 item 2): `user_identifier` is authenticated by auth.mode with
// the mining port's credential convention (core/gateway/auth.ts). The protocol has no error
// message for it, so a refused identity closes the connection with the auth code (`unknown_user`,
// ...). The answer's coinbase_tx_outputs are the pool payout outputs from mining.payout with
// value 0, as a CompactSize-prefixed Vec<TxOut> (jd_server_sv2: "spec says we must set the value
// to 0"; jd_client_sv2 puts the whole remaining value in the first one).
//
// DeclareMiningJob (item 3): token (tokens.ts) → list length → coinbase rebuild
// (declared-coinbase.ts) → wtxid resolution (transactions.ts); missing ones are asked for ONCE
// with ProvideMissingTransactions, and the answer must hold exactly the requested transactions,
// each with the declared wtxid. Then declaration.ts judges it with the policy engine, and then
// (proposal.ts, when job_declaration.block_proposals is on) the node judges consensus: the
// session emits a `propose_block` command through `ctx.propose`, arms a deadline of
// `proposal.timeoutMs`, and answers the declaration only when `proposalAnswered` brings the
// node's answer back or the deadline fires (then the failure policy decides). In `inline` only
// an accepted policy verdict is proposed (a rejection is answered at once); in `observe` every
// judged declaration is, so the log says what the node thought too. An answer for a declaration
// no longer waiting (timed out, connection closed) is ignored and counted. Gate
// failures (token, list, coinbase bytes, missing or wrong transactions, no tip) are always
// answered with DeclareMiningJob.Error; the verdict obeys the mode: `inline` answers .Error with
// SRI's code string and our reason code in error_details, `observe` answers .Success and logs.
// error_details = UTF-8 JSON {"reason_code": ..., "reason_detail": ...}.
//
// Bad input: undecodable frames close with `malformed_message`; messages of other protocols or
// directions with `unexpected_message`; more than `requestsPerSecondMax` AllocateMiningJobToken +
// DeclareMiningJob in one second, or more than `pendingDeclarationsMax` declarations waiting for
// transactions or for the node (together), close with `jd_request_flood`. Nothing throws.
import { bytesToHex, reversed, utf8 } from '../bytes.ts';
import { Deadlines } from '../clock.ts';
import { decodeMessage, encodeMessage, type Frame, type Sv2Message } from '../codec/index.ts';
import type { DeclareMiningJob, ProvideMissingTransactionsSuccess, PushSolution } from '../codec/messages/job-declaration.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { protocolError, type ProtocolError } from '../errors.ts';
import type { Authenticator } from '../gateway/auth.ts';
import { doubleHashOf, sha256d, type Sha256, type Sha256d } from '../mining/hash.ts';
import { header80 } from '../mining/header.ts';
import { coinbaseMerklePath, merkleRootFromPath } from '../mining/merkle.ts';
import { hashToDisplayHex, meetsTarget } from '../mining/target.ts';
import type { NoiseResponderConnection } from '../noise/connection.ts';
import { decodeFailureRefusal, describeSetupConnection, noiseCloseReason, openNoiseResponder, setupConnectionRefusal, SV2_VERSION } from '../gateway/sv2-responder.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import { rejectedVerdict, type ChainView, type Verdict } from '../policy/types.ts';
import type { RandomSource } from '../random.ts';
import { REASON_CODES, wireString, type ReasonCode } from '../reason-codes.ts';
import { serializeBlock, type BlockTemplate, type TemplateTransaction } from '../template/template.ts';
import { decodeTransaction } from '../template/embedded-chain.ts';
import { judgeDeclaration, type DeclarationJudgement } from './declaration.ts';
import { assembleProposalBlock, checkProposalAnswer, proposalVerdict, type ProposalResult, type ProposalSettings, type ProposeBlockCommand } from './proposal.ts';
import { rebuildDeclaredCoinbase, serializeOutputs, type DeclaredCoinbase } from './declared-coinbase.ts';
import type { JdsEvent, JdsEventSink } from './events.ts';
import type { MiningJobTokens } from './tokens.ts';
import { sameDigest } from '../digest-map.ts';
import { decodeProvided, providedTransaction, resolveDeclaration, resolveFees, type DeclarationResolution, type DeclaredTransaction, type ProvidedTransactions, type TransactionLookup } from './transactions.ts';

/** SetupConnection.protocol for Job Declaration (SV2.md §4). */
export const JOB_DECLARATION_PROTOCOL = 1;
/** SetupConnection flag bit 0 for protocol 1 (SV2.md §7). */
export const DECLARE_TX_DATA = 0x1;
/** A block holds at most 16,666 non-coinbase transactions (core/policy/engine.ts MERKLE_PATH_DEPTH_MAX). */
export const DECLARED_TRANSACTIONS_MAX = 16_666;

export interface JdsSettings {
  /** job_declaration.max_declared_transactions: longest wtxid_list accepted. */
  readonly declaredTransactionsMax: number;
  /** job_declaration.max_requests_per_second: AllocateMiningJobToken + DeclareMiningJob per second. */
  readonly requestsPerSecondMax: number;
  /** job_declaration.max_pending_declarations: declarations awaiting ProvideMissingTransactions.Success or the node's proposal answer. */
  readonly pendingDeclarationsMax: number;
  /** Declared jobs per connection kept for PushSolution (the newest). */
  readonly retainedJobs: number;
}

/** What a declared token carries to SetCustomMiningJob and PushSolution. */
export interface DeclaredJob {
  readonly declarationId: bigint;
  readonly connId: number;
  readonly requestId: number;
  readonly user: string;
  readonly version: number;
  readonly coinbasePrefix: Uint8Array;
  readonly coinbaseSuffix: Uint8Array;
  readonly coinbase: DeclaredCoinbase;
  /** In declared order, with the fee the policy used. */
  readonly transactions: readonly TemplateTransaction[];
  readonly merklePath: readonly Uint8Array[];
  readonly prevHash: Uint8Array;
  readonly height: number;
  readonly nbits: number;
  readonly target: bigint;
  readonly declaredAtMs: number;
  readonly verdict: Verdict;
}

/** A found block, handed to the gateway's block path (as TdpBlock). */
export interface JdsBlock {
  readonly connId: number;
  readonly declarationId: bigint;
  readonly height: number;
  readonly blockHashDisplay: string;
  readonly block: Uint8Array;
}

export interface JdsSessionContext {
  readonly provider: CryptoProvider;
  readonly random: RandomSource;
  readonly staticKey: ConstructorParameters<typeof NoiseResponderConnection>[0]['staticKey'];
  readonly certificateAt: (wallMs: number) => Uint8Array;
  readonly handshakeTimeoutMs: number;
  readonly payloadBytesMax: number;
  readonly settings: JdsSettings;
  readonly mode: 'observe' | 'inline';
  readonly authenticator: Authenticator;
  readonly tokens: MiningJobTokens<DeclaredJob>;
  readonly engine: PolicyEngine;
  readonly sha256?: Sha256;
  /** The template the gate released last (the tip a declaration builds on), or null. */
  readonly released: () => BlockTemplate | null;
  readonly chain: () => ChainView;
  /** The templates' transactions (TemplateCache). */
  readonly templates: TransactionLookup;
  /** The node's mempool as the adapter last saw it; NO_TRANSACTIONS when not kept. */
  readonly mempool: TransactionLookup;
  readonly provided: ProvidedTransactions;
  /** Ids for declarations, unique across connections (the replay key). */
  readonly nextDeclarationId: () => bigint;
  readonly emit: JdsEventSink;
  /** The block path; returns the block id, or null when that block was already submitted. */
  readonly onSolution: (block: JdsBlock) => string | null;
  /** job_declaration.block_proposals on: timeout and failure policy (proposal.ts). Absent = off. */
  readonly proposal?: ProposalSettings;
  /** Queue a `propose_block` command for the adapter (needed when `proposal` is set). */
  readonly propose?: (command: ProposeBlockCommand) => void;
}

export type JdsSessionState = 'handshake' | 'expect_setup' | 'ready' | 'closed';

interface _Pending {
  /**
   * The declaration without its wtxid list: a pending declaration lives across a round trip, and
   * 4,000 wtxid views kept alive that long are copied by every collection that runs meanwhile
   * (docs/job-declaration.md "Performance"); the list's length and the missing positions' wtxids
   * are all that is needed later.
   */
  readonly message: Omit<DeclareMiningJob, 'wtxidList'>;
  readonly txCount: number;
  /** The declared wtxids of the `missing` positions, in the same order. */
  readonly missingWtxids: readonly Uint8Array[];
  readonly user: string;
  readonly coinbase: DeclaredCoinbase;
  readonly resolved: (DeclaredTransaction | undefined)[];
  readonly missing: readonly number[];
  readonly reuse: DeclarationResolution['reuse'];
}

/** A judged declaration waiting for the node's proposal answer. */
interface _AwaitingNode {
  readonly pending: _Pending;
  readonly judged: DeclarationJudgement;
  readonly declarationId: bigint;
  readonly transactions: readonly DeclaredTransaction[];
  readonly tip: BlockTemplate;
  readonly proposedAtMs: number;
}

type _DeadlineName = 'setup' | `proposal:${string}`;

/** SRI's DeclareMiningJob.Error strings (job_declaration_sv2 10.0.0 lib.rs) for our codes. */
export function declareMiningJobWire(code: ReasonCode): string {
  const own = (REASON_CODES[code] as { wire?: string }).wire;
  if (code.startsWith('jd_') && own !== undefined) return own;
  switch (code) {
    case 'prevhash_stale':
    case 'prevhash_unknown':
      return 'stale-chain-tip';
    case 'bip34_height_mismatch':
      return 'invalid-coinbase-tx-input';
    case 'witness_commitment_invalid':
    case 'coinbase_value_too_high':
    case 'coinbase_payout_missing':
    case 'coinbase_payout_unpaid':
      return 'invalid-coinbase-tx';
    default:
      return 'invalid-job';
  }
}

export class JdsSession {
  readonly kind = 'jds' as const;
  readonly connId: number;
  readonly noise: NoiseResponderConnection;
  readonly openedAtMs: number;
  readonly remoteAddress: string | null;
  readonly pendingDeadlinesMs: number[] = [];
  tokensAllocated = 0;
  declarations = 0;
  declarationsAccepted = 0;
  declarationsRefused = 0;
  unknownResponses = 0;
  /** Proposal answers for declarations no longer waiting (after the timeout, or never proposed here). */
  lateProposalAnswers = 0;
  proposalsSent = 0;
  solutionsSubmitted = 0;
  solutionsRejected = 0;
  ignoredFrames = 0;

  readonly #ctx: JdsSessionContext;
  /** The provider's fastest double SHA-256 (Bun's native one; else core's pure TS): txids, wtxids, merkle nodes. */
  readonly #sha256d: Sha256d;
  readonly #deadlines = new Deadlines<_DeadlineName>();
  readonly #pending = new Map<number, _Pending>();
  /** Declaration id (decimal) → the declaration waiting for the node. */
  readonly #awaitingNode = new Map<string, _AwaitingNode>();
  /** Newest last; bounded by settings.retainedJobs. */
  readonly #jobs: DeclaredJob[] = [];
  #state: JdsSessionState = 'handshake';
  #closeReason: ReasonCode | undefined;
  #nowMs: number;
  #coinbaseOnly = false;
  #windowStartMs = 0;
  #windowRequests = 0;

  constructor(connId: number, ctx: JdsSessionContext, nowMs: number, wallMs: number, remoteAddress: string | null) {
    this.connId = connId;
    this.#ctx = ctx;
    this.#sha256d = doubleHashOf(ctx.provider);
    this.openedAtMs = nowMs;
    this.#nowMs = nowMs;
    this.remoteAddress = remoteAddress;
    this.noise = openNoiseResponder(ctx, nowMs, wallMs);
    this.#deadlines.set('setup', nowMs + ctx.handshakeTimeoutMs);
  }

  get state(): JdsSessionState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  get closeReason(): ReasonCode | undefined {
    return this.#closeReason;
  }

  /** For the gateway's stale-hold disconnect event (a JD connection has no channels). */
  get channelCount(): number {
    return 0;
  }

  get coinbaseOnly(): boolean {
    return this.#coinbaseOnly;
  }

  get pendingDeclarations(): number {
    return this.#pending.size;
  }

  /** Declarations waiting for the node's proposal answer. */
  get awaitingNode(): number {
    return this.#awaitingNode.size;
  }

  receive(bytes: Uint8Array, nowMs: number): void {
    if (this.#state === 'closed') return;
    this.#nowMs = nowMs;
    this.noise.receive(bytes, nowMs);
    this.#drainNoise(nowMs);
  }

  pollTransmit(): Uint8Array | undefined {
    return this.noise.pollTransmit();
  }

  nextDeadlineMs(): number | undefined {
    if (this.#state === 'closed') return undefined;
    const own = this.#deadlines.next();
    const noise = this.noise.nextDeadlineMs();
    if (noise === undefined) return own;
    return own === undefined || noise < own ? noise : own;
  }

  onTimeout(nowMs: number): void {
    if (this.#state === 'closed') return;
    this.#nowMs = nowMs;
    this.noise.onTimeout(nowMs);
    this.#drainNoise(nowMs);
    if (this.closed) return;
    for (const name of this.#deadlines.takeDue(nowMs)) {
      if (name === 'setup') {
        this.#close('handshake_timeout', `no SetupConnection within ${this.#ctx.handshakeTimeoutMs} ms`, nowMs);
        return;
      }
      const waiting = this.#awaitingNode.get(name.slice('proposal:'.length));
      if (waiting === undefined) continue;
      this.#awaitingNode.delete(name.slice('proposal:'.length));
      this.#conclude(waiting, { result: 'timeout', latencyMs: nowMs - waiting.proposedAtMs }, nowMs);
      if (this.closed) return;
    }
  }

  /**
   * The node's answer to the proposal of declaration `declarationId` (the adapter's
   * ProposalAnswer, checked here: proposal.ts checkProposalAnswer). Returns false, and counts it,
   * when that declaration is not waiting on this connection (its deadline passed, or it was never
   * proposed): the answer is ignored.
   */
  proposalAnswered(declarationId: string, answer: unknown, nowMs: number): boolean {
    this.#nowMs = nowMs;
    const waiting = this.#awaitingNode.get(declarationId);
    if (waiting === undefined || this.#state === 'closed') {
      this.lateProposalAnswers += 1;
      this.#ctx.emit({ type: 'jd_proposal_late', conn_id: this.connId, declaration_id: String(declarationId).slice(0, 24), answer_kind: _answerKind(answer) });
      return false;
    }
    this.#awaitingNode.delete(declarationId);
    this.#deadlines.clear(`proposal:${declarationId}`);
    this.#conclude(waiting, checkProposalAnswer(answer, Math.max(0, nowMs - waiting.proposedAtMs)), nowMs);
    return true;
  }

  close(reason: ReasonCode, detail: string, nowMs: number): void {
    this.#close(reason, detail, nowMs);
  }

  peerClosed(nowMs: number): void {
    this.#close('peer_closed', 'the job declaration client closed the connection', nowMs);
  }

  shutdown(nowMs: number): void {
    this.#close('shutdown', 'gateway shutting down', nowMs);
  }

  // ---- input -----------------------------------------------------------------------------------

  #drainNoise(nowMs: number): void {
    for (let event = this.noise.pollEvent(); event !== undefined; event = this.noise.pollEvent()) {
      if (this.#state === 'closed') continue;
      if (event.type === 'frame') this.#handleFrame(event.frame, nowMs);
      else if (event.type === 'handshake-complete') this.#state = 'expect_setup';
      else this.#closeFromNoise(event.error, nowMs);
    }
  }

  #handleFrame(frame: Frame, nowMs: number): void {
    if ((frame.header.extensionType & 0x7fff) !== 0) {
      // No extension is defined for Job Declaration (SV2.md §4): ignore, as the spec says.
      this.ignoredFrames += 1;
      return;
    }
    const decoded = decodeMessage(frame);
    if (!decoded.ok) {
      const refusal = decodeFailureRefusal(decoded.error);
      this.#close(refusal.reason, refusal.detail, nowMs, { field: refusal.field });
      return;
    }
    const message = decoded.value;
    if (this.#state === 'expect_setup') {
      if (message.type === 'SetupConnection') this.#setup(message, nowMs);
      else this.#close('unexpected_message', `${message.type} before SetupConnection`, nowMs);
      return;
    }
    switch (message.type) {
      case 'AllocateMiningJobToken':
        if (!this.#admitRequest(nowMs)) return;
        this.#onAllocate(message.userIdentifier, message.requestId, nowMs);
        return;
      case 'DeclareMiningJob':
        if (!this.#admitRequest(nowMs)) return;
        this.#onDeclare(message, nowMs);
        return;
      case 'ProvideMissingTransactionsSuccess':
        this.#onProvided(message, nowMs);
        return;
      case 'PushSolution':
        this.#onPushSolution(message);
        return;
      case 'SetupConnection':
        this.#close('unexpected_message', 'second SetupConnection', nowMs);
        return;
      default:
        this.#close('unexpected_message', `${message.type} is not a client-to-server Job Declaration message`, nowMs);
    }
  }

  #setup(m: Extract<Sv2Message, { type: 'SetupConnection' }>, nowMs: number): void {
    const refusal = setupConnectionRefusal(m, JOB_DECLARATION_PROTOCOL, DECLARE_TX_DATA);
    if (refusal !== null) {
      const wire = wireString(refusal.reason);
      this.#send({ type: 'SetupConnectionError', flags: refusal.flags, errorCode: wire });
      this.#close(refusal.reason, describeSetupConnection(m), nowMs, { wire });
      return;
    }
    this.#coinbaseOnly = (m.flags & DECLARE_TX_DATA) === 0;
    // Response flags mean something else than request flags (SV2.md §9.9): none are set.
    this.#send({ type: 'SetupConnectionSuccess', usedVersion: SV2_VERSION, flags: 0 });
    this.#state = 'ready';
    this.#deadlines.clear('setup');
    this.#ctx.emit({
      type: 'jd_connection_setup',
      conn_id: this.connId,
      coinbase_only: this.#coinbaseOnly,
      vendor: m.vendor,
      hardware_version: m.hardwareVersion,
      firmware: m.firmware,
      device_id: m.deviceId,
    });
  }

  #admitRequest(nowMs: number): boolean {
    if (nowMs - this.#windowStartMs >= 1000) {
      this.#windowStartMs = nowMs;
      this.#windowRequests = 0;
    }
    this.#windowRequests += 1;
    if (this.#windowRequests > this.#ctx.settings.requestsPerSecondMax) {
      this.#close('jd_request_flood', `more than ${this.#ctx.settings.requestsPerSecondMax} AllocateMiningJobToken/DeclareMiningJob in one second`, nowMs);
      return false;
    }
    return true;
  }

  #onAllocate(userIdentifier: string, requestId: number, nowMs: number): void {
    const decision = this.#ctx.authenticator.authenticate(userIdentifier);
    if (!decision.ok) {
      // AllocateMiningJobToken has no error message: the connection ends with the auth code.
      this.#close(decision.reason, `AllocateMiningJobToken user_identifier "${decision.identity}" refused`, nowMs, { wire: wireString(decision.reason) });
      return;
    }
    const token = this.#ctx.tokens.allocate(decision.identity, this.connId, this.#coinbaseOnly, nowMs);
    const outputs = serializeOutputs(this.#ctx.engine.settings.payout.map((p) => ({ valueSats: 0n, scriptPubKey: p.scriptPubKey })));
    this.#send({ type: 'AllocateMiningJobTokenSuccess', requestId, miningJobToken: token, coinbaseTxOutputs: outputs });
    this.tokensAllocated += 1;
    this.#ctx.emit({
      type: 'jd_token_allocated',
      conn_id: this.connId,
      request_id: requestId,
      user: decision.identity,
      token_prefix: _tokenPrefix(token),
      expires_at_ms: nowMs + this.#ctx.tokens.settings.allocatedExpiryMs,
      coinbase_only: this.#coinbaseOnly,
    });
  }

  #onDeclare(m: DeclareMiningJob, nowMs: number): void {
    if (this.#coinbaseOnly) {
      this.#close('unexpected_message', 'DeclareMiningJob on a coinbase-only connection (SetupConnection without DECLARE_TX_DATA)', nowMs);
      return;
    }
    if (this.#pending.has(m.requestId)) {
      this.#close('unexpected_message', `DeclareMiningJob request_id ${m.requestId} is already waiting for transactions`, nowMs);
      return;
    }
    this.declarations += 1;
    const taken = this.#ctx.tokens.takeAllocated(m.miningJobToken, this.connId, nowMs);
    if (!taken.ok) {
      this.#refuse(m.requestId, null, rejectedVerdict(taken.reason, taken.detail, {}), { txCount: m.wtxidList.length, missingCount: 0, token: m.miningJobToken, spend: false });
      return;
    }
    const gate = (verdict: Verdict): void => this.#refuse(m.requestId, taken.user, verdict, { txCount: m.wtxidList.length, missingCount: 0, token: m.miningJobToken, spend: true });
    const max = this.#ctx.settings.declaredTransactionsMax;
    if (m.wtxidList.length > max) return gate(rejectedVerdict('jd_wtxid_list_too_long', `wtxid_list has ${m.wtxidList.length} entries, at most ${max}`, { tx_count: m.wtxidList.length, max_declared_transactions: max }));
    const rebuilt = rebuildDeclaredCoinbase(m.coinbaseTxPrefix, m.coinbaseTxSuffix);
    if (!rebuilt.ok) return gate(rejectedVerdict('jd_coinbase_invalid', rebuilt.error, {}));
    const { resolved, missing, reuse } = resolveDeclaration(m.wtxidList, this.#lookups(), this.#ctx.provided);
    const { wtxidList, ...message } = m;
    const pending: _Pending = { message, txCount: wtxidList.length, missingWtxids: missing.map((i) => wtxidList[i]!), user: taken.user, coinbase: rebuilt.value, resolved, missing, reuse };
    if (missing.length === 0) {
      this.#finish(pending, nowMs);
      return;
    }
    if (this.#pending.size >= this.#ctx.settings.pendingDeclarationsMax) {
      this.#ctx.tokens.spendAllocated(m.miningJobToken);
      this.#close('jd_request_flood', `more than ${this.#ctx.settings.pendingDeclarationsMax} declarations waiting for transactions`, nowMs);
      return;
    }
    this.#pending.set(m.requestId, pending);
    this.#send({ type: 'ProvideMissingTransactions', requestId: m.requestId, unknownTxPositionList: missing });
    this.#ctx.emit({ type: 'jd_missing_transactions', conn_id: this.connId, request_id: m.requestId, tx_count: m.wtxidList.length, missing_count: missing.length });
  }

  #onProvided(m: ProvideMissingTransactionsSuccess, nowMs: number): void {
    const pending = this.#pending.get(m.requestId);
    if (pending === undefined) {
      this.unknownResponses += 1;
      this.#ctx.emit({ type: 'jd_unexpected_response', conn_id: this.connId, request_id: m.requestId, reason_code: 'jd_unknown_request' });
      return;
    }
    this.#pending.delete(m.requestId);
    const { message, missing } = pending;
    const refuse = (verdict: Verdict): void =>
      this.#refuse(message.requestId, pending.user, verdict, { txCount: pending.txCount, missingCount: missing.length, token: message.miningJobToken, spend: true });
    if (this.#ctx.tokens.allocatedExpired(message.miningJobToken, nowMs)) {
      return refuse(rejectedVerdict('jd_token_expired', 'the allocated token expired while the declaration waited for transactions', {}));
    }
    if (m.transactionList.length !== missing.length) {
      return refuse(rejectedVerdict('jd_missing_txs', `asked for ${missing.length} transactions, got ${m.transactionList.length}`, { requested: missing.length, provided: m.transactionList.length }));
    }
    const resolved = pending.resolved.slice();
    for (let k = 0; k < missing.length; k++) {
      const position = missing[k]!;
      const tx = decodeProvided(m.transactionList[k]!, this.#sha256d);
      if (tx === null) return refuse(rejectedVerdict('jd_provided_tx_invalid', `transaction ${k} (position ${position}) does not decode as exactly one transaction`, { position }));
      const declared = pending.missingWtxids[k]!;
      if (declared.length !== 32 || !sameDigest(tx.wtxid, declared)) {
        return refuse(rejectedVerdict('jd_provided_tx_invalid', `transaction ${k} has wtxid ${hashToDisplayHex(tx.wtxid)}, position ${position} declares ${hashToDisplayHex(declared)}`, { position }));
      }
      resolved[position] = providedTransaction(tx);
    }
    this.#finish({ ...pending, resolved }, nowMs);
  }

  #lookups(): { readonly source: 'template' | 'mempool'; readonly lookup: TransactionLookup }[] {
    return [
      { source: 'template', lookup: this.#ctx.templates },
      { source: 'mempool', lookup: this.#ctx.mempool },
    ];
  }

  #finish(pending: _Pending, nowMs: number): void {
    const m = pending.message;
    const tip = this.#ctx.released();
    const counts = { txCount: pending.txCount, missingCount: pending.missing.length, token: m.miningJobToken, spend: true };
    if (tip === null) {
      this.#refuse(m.requestId, pending.user, rejectedVerdict('prevhash_unknown', 'no template released yet: the chain tip the job would build on is unknown', {}), counts);
      return;
    }
    const txs = resolveFees(pending.resolved as DeclaredTransaction[], this.#lookups(), this.#ctx.provided, this.#sha256d);
    for (const tx of txs) if (tx.source === 'provided') this.#ctx.provided.add(tx);
    const declarationId = this.#ctx.nextDeclarationId();
    const chain = this.#ctx.chain();
    const judged = judgeDeclaration({ declarationId, version: m.version, coinbase: pending.coinbase, transactions: txs, tip, chain, reuse: pending.reuse, sha256d: this.#sha256d }, this.#ctx.engine, this.#ctx.sha256);
    const enforced = this.#ctx.mode === 'inline';
    const proposal = this.#ctx.proposal;
    const propose = this.#ctx.propose;
    // The node is asked about what could be accepted (inline) or about everything judged
    // (observe, so the log says what the node thought of a policy rejection too). A coinbase
    // check that failed before the engine leaves no template to propose.
    if (proposal !== undefined && propose !== undefined && judged.template !== null && (judged.verdict.accepted || !enforced)) {
      if (this.#pending.size + this.#awaitingNode.size >= this.#ctx.settings.pendingDeclarationsMax) {
        this.#ctx.tokens.spendAllocated(m.miningJobToken);
        this.#close('jd_request_flood', `more than ${this.#ctx.settings.pendingDeclarationsMax} declarations waiting for transactions or the node`, nowMs);
        return;
      }
      const key = declarationId.toString();
      this.#awaitingNode.set(key, { pending, judged, declarationId, transactions: txs, tip, proposedAtMs: nowMs });
      this.#deadlines.set(`proposal:${key}`, nowMs + proposal.timeoutMs);
      this.proposalsSent += 1;
      const block = assembleProposalBlock({ version: m.version, tip, coinbase: pending.coinbase, transactions: txs, merklePath: judged.template.merklePath }, this.#ctx.sha256);
      propose({ type: 'propose_block', conn_id: this.connId, declaration_id: key, block });
      return;
    }
    this.#answer(pending, judged, judged.verdict, declarationId, txs, tip, nowMs);
  }

  /** The node answered (or did not in time): fold it into the verdict and answer the declaration. */
  #conclude(waiting: _AwaitingNode, result: ProposalResult, nowMs: number): void {
    const proposal = this.#ctx.proposal!;
    const verdict = proposalVerdict(waiting.judged.verdict, result, proposal.failurePolicy, proposal.timeoutMs);
    const m = waiting.pending.message;
    // The allocated token may have expired, or been forgotten (tokens_max), while we waited.
    if (this.#ctx.tokens.allocatedExpired(m.miningJobToken, nowMs)) {
      const counts = { txCount: waiting.pending.txCount, missingCount: waiting.pending.missing.length, token: m.miningJobToken, spend: true };
      this.#refuse(m.requestId, waiting.pending.user, rejectedVerdict('jd_token_expired', 'the allocated token expired while the declaration waited for the node', verdict.policy_context), counts, { declarationId: waiting.declarationId });
      return;
    }
    this.#answer(waiting.pending, waiting.judged, verdict, waiting.declarationId, waiting.transactions, waiting.tip, nowMs);
  }

  #answer(pending: _Pending, judged: DeclarationJudgement, verdict: Verdict, declarationId: bigint, txs: readonly DeclaredTransaction[], tip: BlockTemplate, nowMs: number): void {
    const m = pending.message;
    const counts = { txCount: pending.txCount, missingCount: pending.missing.length, token: m.miningJobToken, spend: true };
    const enforced = this.#ctx.mode === 'inline';
    if (!verdict.accepted && enforced) {
      this.#refuse(m.requestId, pending.user, verdict, counts, { declarationId, totalFees: judged.totalFeesSats, height: judged.template?.height ?? null, prevHash: tip.prevHash, enforced: true });
      return;
    }
    const template = judged.template;
    const job: DeclaredJob = {
      declarationId,
      connId: this.connId,
      requestId: m.requestId,
      user: pending.user,
      version: m.version,
      coinbasePrefix: Uint8Array.from(m.coinbaseTxPrefix),
      coinbaseSuffix: Uint8Array.from(m.coinbaseTxSuffix),
      coinbase: pending.coinbase,
      transactions: template === null ? txs.map((t) => ({ ...t, fee: t.fee ?? 0n, depends: [] })) : template.transactions,
      merklePath: template?.merklePath ?? coinbaseMerklePath(txs.map((t) => t.txid), this.#ctx.sha256),
      prevHash: tip.prevHash,
      height: template?.height ?? tip.height,
      nbits: tip.nbits,
      target: tip.target,
      declaredAtMs: nowMs,
      verdict,
    };
    const token = this.#ctx.tokens.declare(m.miningJobToken, job, nowMs);
    this.#jobs.push(job);
    while (this.#jobs.length > this.#ctx.settings.retainedJobs) this.#jobs.shift();
    this.#send({ type: 'DeclareMiningJobSuccess', requestId: m.requestId, newMiningJobToken: token });
    this.declarationsAccepted += 1;
    this.#emitVerdict(m.requestId, pending.user, verdict, {
      answeredSuccess: true,
      enforced,
      wire: null,
      txCount: counts.txCount,
      missingCount: counts.missingCount,
      declarationId,
      totalFees: judged.totalFeesSats,
      height: job.height,
      prevHash: tip.prevHash,
      token,
    });
  }

  /** Answer DeclareMiningJob.Error and log the verdict; the allocated token is spent (unless it was never ours to spend). */
  #refuse(
    requestId: number,
    user: string | null,
    verdict: Verdict,
    counts: { txCount: number; missingCount: number; token: Uint8Array; spend: boolean },
    facts: { declarationId?: bigint; totalFees?: bigint | null; height?: number | null; prevHash?: Uint8Array; enforced?: boolean } = {},
  ): void {
    if (counts.spend) this.#ctx.tokens.spendAllocated(counts.token);
    const wire = declareMiningJobWire(verdict.reason_code);
    const details = utf8(JSON.stringify({ reason_code: verdict.reason_code, reason_detail: verdict.reason_detail }));
    this.#send({ type: 'DeclareMiningJobError', requestId, errorCode: wire, errorDetails: details.length <= 0xffff ? details : details.subarray(0, 0xffff) });
    this.declarationsRefused += 1;
    this.#emitVerdict(requestId, user ?? '', verdict, {
      answeredSuccess: false,
      enforced: true,
      wire,
      txCount: counts.txCount,
      missingCount: counts.missingCount,
      declarationId: facts.declarationId ?? null,
      totalFees: facts.totalFees ?? null,
      height: facts.height ?? null,
      prevHash: facts.prevHash ?? null,
      token: null,
    });
  }

  #emitVerdict(
    requestId: number,
    user: string,
    verdict: Verdict,
    f: { answeredSuccess: boolean; enforced: boolean; wire: string | null; txCount: number; missingCount: number; declarationId: bigint | null; totalFees: bigint | null; height: number | null; prevHash: Uint8Array | null; token: Uint8Array | null },
  ): void {
    const event: JdsEvent = {
      type: 'jd_declaration_verdict',
      conn_id: this.connId,
      request_id: requestId,
      declaration_id: f.declarationId === null ? '' : f.declarationId.toString(),
      user,
      mode: this.#ctx.mode,
      answered_success: f.answeredSuccess,
      enforced: f.enforced,
      accepted: verdict.accepted,
      reason_code: verdict.reason_code,
      reason_detail: verdict.reason_detail,
      policy_context: verdict.policy_context,
      wire: f.wire,
      tx_count: f.txCount,
      missing_count: f.missingCount,
      total_fees_sats: f.totalFees === null ? null : f.totalFees.toString(),
      height: f.height,
      prev_hash: f.prevHash === null ? null : bytesToHex(reversed(f.prevHash)),
      token_prefix: f.token === null ? null : _tokenPrefix(f.token),
    };
    this.#ctx.emit(event);
  }

  /**
   * PushSolution (SV2.md §7) names no token or job: it is matched against this connection's
   * retained declared jobs by prev_hash and nbits, rebuilt with the full extranonce, and must
   * meet the network target; then it goes to the block path (deduplicated there with the share
   * path: the same block id).
   */
  #onPushSolution(m: PushSolution): void {
    const sha256 = this.#ctx.sha256;
    for (let i = this.#jobs.length - 1; i >= 0; i--) {
      const job = this.#jobs[i]!;
      if (bytesToHex(job.prevHash) !== bytesToHex(m.prevHash) || job.nbits >>> 0 !== m.nbits >>> 0) continue;
      if (m.extranonce.length !== job.coinbase.extranonceBytes) continue;
      const full = new Uint8Array(job.coinbasePrefix.length + m.extranonce.length + job.coinbaseSuffix.length);
      full.set(job.coinbasePrefix, 0);
      full.set(m.extranonce, job.coinbasePrefix.length);
      full.set(job.coinbaseSuffix, job.coinbasePrefix.length + m.extranonce.length);
      const coinbase = decodeTransaction(full, 0, sha256);
      if (coinbase === null) continue;
      const header = header80({ version: m.version, prevHash: job.prevHash, merkleRoot: merkleRootFromPath(coinbase.tx.txid, job.merklePath, sha256), ntime: m.ntime, nbits: job.nbits, nonce: m.nonce });
      const hash = sha256d(header, sha256);
      if (!meetsTarget(hash, job.target)) continue;
      const blockId = this.#ctx.onSolution({
        connId: this.connId,
        declarationId: job.declarationId,
        height: job.height,
        blockHashDisplay: hashToDisplayHex(hash),
        block: serializeBlock(header, full, job.transactions),
      });
      if (blockId === null) this.solutionsRejected += 1;
      else this.solutionsSubmitted += 1;
      return;
    }
    this.solutionsRejected += 1;
  }

  // ---- output and close ------------------------------------------------------------------------

  #send(message: Sv2Message): void {
    if (this.#state === 'closed') return;
    const sent = this.noise.send(encodeMessage(message));
    if (!sent.ok) this.#closeFromNoise(sent.error, this.#nowMs);
  }

  #closeFromNoise(error: ProtocolError, nowMs: number): void {
    if (this.#state === 'closed') return;
    const reason = noiseCloseReason(error.code, this.#state === 'handshake');
    this.#close(reason, `${error.code}: ${error.message}`, nowMs, error.field === undefined ? {} : { field: error.field });
  }

  #close(reason: ReasonCode, detail: string, nowMs: number, extra: { field?: string | undefined; wire?: string } = {}): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeReason = reason;
    this.#deadlines.clear('setup');
    // Declarations waiting for transactions die with the connection; their tokens are spent.
    for (const p of this.#pending.values()) this.#ctx.tokens.spendAllocated(p.message.miningJobToken);
    this.#pending.clear();
    // So do declarations waiting for the node; a later answer is counted as late.
    for (const w of this.#awaitingNode.values()) {
      this.#ctx.tokens.spendAllocated(w.pending.message.miningJobToken);
      this.#deadlines.clear(`proposal:${w.declarationId.toString()}`);
    }
    this.#awaitingNode.clear();
    this.noise.close(protocolError(reason, 'local', detail));
    while (this.noise.pollEvent() !== undefined) {
      // Our own close: nothing new in the Noise event.
    }
    this.#ctx.emit({
      type: 'jd_connection_closed',
      conn_id: this.connId,
      reason_code: reason,
      detail,
      ...(extra.field === undefined ? {} : { field: extra.field }),
      ...(extra.wire === undefined ? {} : { wire: extra.wire }),
      tokens_allocated: this.tokensAllocated,
      declarations: this.declarations,
      duration_ms: Math.max(0, nowMs - this.openedAtMs),
    });
  }
}

function _answerKind(answer: unknown): string {
  const kind = answer !== null && typeof answer === 'object' ? (answer as { kind?: unknown }).kind : undefined;
  return kind === 'valid' || kind === 'invalid' || kind === 'node_error' ? kind : 'malformed';
}

function _tokenPrefix(token: Uint8Array): string {
  return bytesToHex(token.subarray(0, 4));
}
