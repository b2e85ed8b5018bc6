// The gateway orchestrator (issue 3, SPEC §3–§4), sans-IO like everything in core
// (STYLE.md #1, after quinn-proto's Endpoint): connections, templates and block answers go in;
// bytes, close markers, commands, events and one next deadline come out. One synchronous call at
// a time; no clock, no I/O, no callbacks into the adapter.
//
//   acceptConnection(nowMs, {wallMs, remoteAddress})  → conn id, or null when refused
//   receive(connId, bytes, nowMs) / connectionClosed(connId, nowMs) / closeConnection(...)
//   templateUpdated(template, nowMs) / upstreamFailed(error, nowMs)
//   blockSubmitResult(blockId, outcome, nowMs)
//   customJobTokenAnswer(ticket, answer, nowMs)   (socket worker: the leader's token check)
//   adoptWorkerBlock(blockId, hex, nowMs)          (leader: a worker's block, retried here)
//   shutdown(nowMs)
//   pollCommand()   → {type:'submit_block', block_id, hex, attempt}   ← poll this FIRST
//   pollProposal()  → {type:'propose_block', conn_id, declaration_id, hex}   (after the commands)
//   blockProposalResult(connId, declarationId, answer, nowMs)   (the node's BIP23 answer)
//   pollTransmit()  → {conn_id, bytes} | {conn_id, close: true}
//   pollEvent()     → GatewayEvent (docs/events.md)
//   nextDeadlineMs() / onTimeout(nowMs)   (harmless early or twice)
//
// Jobs (SV2.md §5.3, issue 3 item 2): a template with a NEW prevhash goes to every channel of
// every connection at once, in one pass (future job + SetNewPrevHash per channel, or once per
// group channel on connections without REQUIRES_STANDARD_JOBS: core/channels/channels.ts), cancelling
// any aggregated update still waiting. Templates on the SAME prevhash are aggregated: the first
// arms a `job_broadcast_interval_ms` deadline, later ones replace the pending template, and one
// broadcast of the newest goes out when the deadline fires (0 = no aggregation).
//
// Modes and the verdict gate (issue 4, SPEC §5–§6; core/gateway/verdict-gate.ts): `templateUpdated`
// records the template and hands it to the VerdictGate, which asks the verifier
// (`GatewayOptions.verifier`, a sans-IO TemplateVerifier) and calls `releaseTemplate` — the ONLY
// path by which a template reaches the JobFactory (so it becomes `current` for new channels) and
// the miners — at once in observe mode, never in shadow mode, and in inline mode once a verdict
// (or permit_all) allows it. A stale hold expiry closes `connectionIds()` (ascending, a stable
// order) with `stale_hold_expired`, one `miner_disconnected` each. Inline needs a verifier.
// A remote verifier's I/O driver calls `pollVerifier(nowMs)` after feeding it; the embedded one
// answers inside `templateUpdated`. Verifier outcomes are drained BEFORE gate deadlines fire in
// `onTimeout`, so a verdict due at the same instant as the verdict timeout counts as in time.
//
// Upstream failures: `upstreamFailed` only records and emits `upstream_unavailable`; miners keep
// the jobs they have (nothing is withdrawn). The next template emits `upstream_recovered`.
//
// Shutdown (SPEC §8 spirit, issue 3 item 4): refuse new connections, flush every pending ack,
// CloseChannel('shutdown') every channel, close every connection, and wait for found blocks to be
// settled until `shutdown_drain_timeout_ms`; what is still pending then is settled `failed`
// with its hex. `gateway_shutdown {phase:'completed'}` marks the end; `stopped` turns true.
import { bytesToHex, equalBytes, hexToBytes, reversed } from '../bytes.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import type { EllswiftKeyPair } from '../noise/handshake.ts';
import type { RandomSource } from '../random.ts';
import type { ReasonCode } from '../reason-codes.ts';
import type { BlockTemplate } from '../template/template.ts';
import { doubleHashOf } from '../mining/hash.ts';
import { BroadcastEncoder } from './broadcast-encoder.ts';
import { TransmitArena } from '../noise/transmit-arena.ts';
import {
  ExtranonceAllocator,
  JobFactory,
  type BlockCandidate,
  type ChannelsSettings,
  type JobTemplate,
  type PayoutScript,
} from '../channels/index.ts';
import { Authenticator, type AuthOptions } from './auth.ts';
import { BlockSubmitter, type BlockSubmitOutcome, type SubmitBlockCommand } from './block-submitter.ts';
import { DeadlineHeap } from './deadline-heap.ts';
import { Admission, ADMISSION_UNLIMITED, IP_ENTRIES_MAX_DEFAULT, ipOf, type AdmissionLimits } from './admission.ts';
import type { GatewayEvent } from './events.ts';
import { Session, type SessionContext, type WorkSelectionHandler } from './session.ts';
import type { CustomJobTokenAnswer } from './work-selection.ts';
import { ShareIdAllocator } from './share-id.ts';
import { VerdictGate, type VerdictGateSettings } from './verdict-gate.ts';
import type { TemplateVerifier } from '../policy/types.ts';
import { TailorCache, TdpSession, type TdpBlock, type TdpSettings } from '../template-provider/tdp-session.ts';
import { JdsSession, type DeclaredJob, type JdsBlock, type JdsSettings } from '../job-declaration/jds-session.ts';
import type { ProposalSettings, ProposeBlockCommand } from '../job-declaration/proposal.ts';
import type { MiningJobTokens } from '../job-declaration/tokens.ts';
import { NO_TRANSACTIONS, ProvidedTransactions } from '../job-declaration/transactions.ts';
import { PolicyEngine, type PolicySettings } from '../policy/engine.ts';
import { TemplateCache } from '../template-provider/template-cache.ts';

export type GatewayMode = 'shadow' | 'observe' | 'inline';

export interface GatewayOptions {
  /** gateway.id: partitions extranonce prefixes and share ids. */
  readonly gatewayId: number;
  readonly mode: GatewayMode;
  readonly provider: CryptoProvider;
  /** Noise ephemeral keys, the boot id, extranonce boot nonce. */
  readonly random: RandomSource;
  /** Responder static key and its certificate source (core/noise ResponderIdentity fits). */
  readonly identity: { readonly staticKey: EllswiftKeyPair; certificateAt(nowS: number): Uint8Array };
  readonly auth: AuthOptions;
  readonly channels: ChannelsSettings;
  readonly payout: readonly PayoutScript[];
  readonly poolTag: string;
  readonly maxConnections: number;
  readonly maxFramePayloadBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly jobBroadcastIntervalMs: number;
  readonly blockRetryInitialMs: number;
  readonly blockRetryMaxMs: number;
  readonly shutdownDrainTimeoutMs: number;
  /**
   * Issue 12 item 4: per-IP and global admission limits (core/gateway/admission.ts, the
   * `[limits]` config section). Absent = no limit beyond maxConnections.
   */
  readonly admission?: AdmissionLimits;
  /**
   * Issue 12 item 4: rejected shares one connection may send per minute (token bucket of this
   * capacity refilled at this rate); past it the connection is closed with
   * `invalid_share_budget_exceeded`. Absent = no budget.
   */
  readonly invalidSharesPerMinuteMax?: number;
  /** Events held until polled; past it new events are dropped and counted. Default 100,000. */
  readonly eventQueueMax?: number;
  /**
   * Issue 13 item 2: jobs and SetNewPrevHash once per group channel on connections without
   * REQUIRES_STANDARD_JOBS (docs/performance.md, "Group channels"). Default true; false sends
   * one message per channel (the per-channel fan-out the bench compares against).
   */
  readonly groupChannels?: boolean;
  /** Issue 4: SetCustomMiningJob handler; enables REQUIRES_WORK_SELECTION. */
  readonly workSelection?: WorkSelectionHandler;
  /** Issue 4: where verdicts come from (required in inline mode; without one, observe and
   * shadow log no verdicts). */
  readonly verifier?: TemplateVerifier;
  /** Issue 4 SPEC §6 timing and failure policy (required in inline mode). */
  readonly prevhash?: VerdictGateSettings;
  /** Issue 10: the Template Provider role ([template_provider]); absent = no TDP clients. */
  readonly templateProvider?: TemplateProviderOptions;
  /** Issue 11: the Job Declaration Server role ([job_declaration]); absent = no JD clients. */
  readonly jobDeclaration?: JobDeclarationOptions;
  /**
   * Issue 13 item 1 (gateway.workers ≥ 2, docs/scaling.md): this gateway is socket worker
   * `index` of `count`. Its extranonce counter carries the index in its top bits (no two workers
   * share a prefix), connection ids start at `connIdBase` + 1 (ids stay unique in the leader's
   * aggregated events across workers and respawns), and the stale hold is the leader's
   * (`followLeaderGate`), not this gateway's own gate, which never sees a template.
   */
  readonly worker?: { readonly index: number; readonly count: number; readonly connIdBase: number };
  /** Every template this gateway releases to its miners (the leader forwards it to its workers). Must not throw. */
  readonly onRelease?: (template: BlockTemplate, nowMs: number) => void;
}

/** The Job Declaration Server role (issue 11, docs/job-declaration.md). */
export interface JobDeclarationOptions {
  /** job_declaration.max_clients: JD connections open at once. */
  readonly maxClients: number;
  readonly settings: JdsSettings;
  /** The token table, shared with the mining port's SetCustomMiningJob (work-selection.ts). */
  readonly tokens: MiningJobTokens<DeclaredJob>;
  /** job_declaration.provided_transactions_max: transactions clients provided, kept for later declarations. */
  readonly providedTransactionsMax: number;
  /** The policy declarations are judged by (the same settings as the template verifier's). */
  readonly policy: PolicySettings;
  /** job_declaration.block_proposals: ask the node (BIP23) after the policy; absent = off. */
  readonly proposal?: ProposalSettings;
}

/** The Template Provider role (issue 10, docs/template-provider.md). */
export interface TemplateProviderOptions {
  /** template_provider.max_clients: TDP connections open at once. */
  readonly maxClients: number;
  readonly settings: TdpSettings;
  /** Released templates kept for lookups by id, txid and wtxid (TemplateCache). Default 16. */
  readonly cachedTemplates?: number;
}

/** One TDP client as /status lists it. */
export interface TdpClientStatus {
  readonly conn_id: number;
  readonly remote_address: string | null;
  readonly state: string;
  readonly vendor: string;
  readonly opened_at_ms: number;
  readonly constraints: { readonly additional_size_bytes: number; readonly additional_sigops: number } | null;
  readonly templates_sent: number;
  readonly last_template_id: string | null;
  readonly last_source_template_id: string | null;
  readonly retained_template_ids: readonly string[];
  readonly transaction_data_served: number;
  readonly transaction_data_errors: number;
  readonly solutions_submitted: number;
  readonly solutions_rejected: number;
}

/**
 * Templates with declaration merkle trees (TemplateCache treesMax) when a JD port is open: a JDC
 * declares a template it just received, i.e. one of the newest; ~0.5 MB each at 4,000 transactions.
 */
export const JD_TEMPLATE_TREES = 4;
/** Used by observe/shadow when no `prevhash` settings are given (permit_all is never applied there). */
const OBSERVE_GATE_SETTINGS: VerdictGateSettings = { verdictTimeoutMs: 50, staleHoldMs: 5000, upstreamFailurePolicy: 'fail_closed', requestTimeoutMs: 2000 };

export type TransmitItem = { readonly conn_id: number; readonly bytes: Uint8Array } | { readonly conn_id: number; readonly close: true };

export type GatewayCommand = SubmitBlockCommand;

export type GatewayState = 'running' | 'draining' | 'stopped';

export interface GatewayStats {
  readonly openConnections: number;
  readonly connectionsAccepted: number;
  readonly connectionsRefused: number;
  readonly sharesAccepted: number;
  readonly sharesRejected: number;
  readonly blocksFound: number;
  readonly blocksPending: number;
  readonly templatesReceived: number;
  readonly jobBroadcasts: number;
  readonly eventsDropped: number;
  readonly deadlineHeapSize: number;
  readonly tdpOpenClients: number;
  readonly tdpClientsAccepted: number;
  readonly tdpClientsRefused: number;
}

/** A FIFO with O(1) amortised shift and a capacity. */
class _Fifo<T> {
  #items: T[] = [];
  #head = 0;
  constructor(readonly capacity: number) {}
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): boolean {
    if (this.length >= this.capacity) return false;
    this.#items.push(item);
    return true;
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as T;
    this.#head += 1;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/** The arguments every accept (miner, TDP, JD port) takes from its adapter. */
function _checkAccept(name: string, nowMs: number, info: { readonly wallMs: number } | null): void {
  _checkNow(name, nowMs);
  if (info === null || typeof info !== 'object' || !Number.isFinite(info.wallMs)) {
    throw new TypeError(`${name}: info.wallMs must be a finite number, got ${String(info?.wallMs)}`);
  }
}

function _checkNow(where: string, nowMs: number): void {
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new RangeError(`${where}: nowMs must be a finite number, got ${nowMs}`);
}

function _positiveInt(where: string, name: string, value: number, min = 1): void {
  if (!(Number.isInteger(value) && value >= min)) throw new RangeError(`${where}: ${name} must be an integer >= ${min}, got ${value}`);
}

export class Gateway {
  readonly gatewayId: number;
  readonly mode: GatewayMode;
  readonly bootId: string;

  readonly #options: GatewayOptions;
  readonly #ctx: SessionContext;
  readonly #factory: JobFactory;
  readonly #shareIds: ShareIdAllocator;
  readonly #submitter: BlockSubmitter;
  /** Miner sessions and TDP sessions share one connection-id space, heap and output queue, so
   * the pump and the stale-hold disconnects treat them alike. */
  readonly #sessions = new Map<number, Session | TdpSession | JdsSession>();
  readonly #tdpCtx: ConstructorParameters<typeof TdpSession>[1] | undefined;
  readonly #jdsCtx: ConstructorParameters<typeof JdsSession>[1] | undefined;
  #jdsOpenClients = 0;
  #jdsClientsAccepted = 0;
  #jdsClientsRefused = 0;
  #nextDeclarationId = 1n;
  /** propose_block commands not yet taken by the adapter (bounded: max_clients × max_pending_declarations). */
  #proposals: _Fifo<ProposeBlockCommand> | undefined;
  #lateProposalAnswers = 0;
  readonly #templateCache: TemplateCache;
  /** Block hashes submitted by any path (bounded, #firstSubmission): one block, one submission. */
  readonly #submittedBlockHashes = new Set<string>();
  /** When the template cache's pending declaration trees are due (right after a release), or undefined. */
  #treesAtMs: number | undefined;
  #tdpOpenClients = 0;
  #tdpClientsAccepted = 0;
  #tdpClientsRefused = 0;
  /** Connections with bytes or a close marker to hand out, in the order they became ready. */
  readonly #dirty = new Set<number>();
  readonly #heap = new DeadlineHeap();
  readonly #admission: Admission;
  /** conn id → its IP (admission key) and whether it is still before SetupConnection.Success. */
  readonly #admitted = new Map<number, { readonly ip: string; handshaking: boolean }>();
  readonly #events: _Fifo<GatewayEvent>;
  readonly #gate: VerdictGate;
  readonly #verifier: TemplateVerifier | undefined;
  #lastReceivedPrevHash: Uint8Array | undefined;
  #nextConnId = 1;
  /** Worker mode: the leader's gate state (followLeaderGate), else undefined. */
  #leaderGate: { holding: boolean; refusingMiners: boolean } | undefined;
  #openConnections = 0;
  #state: GatewayState = 'running';
  #drainDeadlineMs: number | undefined;

  #lastPrevHash: Uint8Array | undefined;
  #pendingJob: JobTemplate | undefined;
  #pendingAggregated = 0;
  #broadcastAtMs: number | undefined;
  #upstreamFailures = 0;

  #connectionsAccepted = 0;
  #connectionsRefused = 0;
  #blocksFound = 0;
  #templatesReceived = 0;
  #jobBroadcasts = 0;
  #eventsDropped = 0;
  #closedSharesAccepted = 0;
  #closedSharesRejected = 0;

  constructor(options: GatewayOptions, nowMs: number) {
    const where = 'Gateway';
    if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options must be an object, got ${String(options)}`);
    _checkNow(where, nowMs);
    if (options.mode !== 'shadow' && options.mode !== 'observe' && options.mode !== 'inline') {
      throw new RangeError(`${where}: mode must be 'shadow' | 'observe' | 'inline', got ${JSON.stringify(options.mode)}`);
    }
    if (options.mode === 'inline' && (options.verifier === undefined || options.prevhash === undefined)) {
      // Refuse loudly instead of serving unverified work while the operator asked for enforcement.
      throw new RangeError(`${where}: mode 'inline' needs options.verifier and options.prevhash (the verdict gate enforces verdicts)`);
    }
    _positiveInt(where, 'maxConnections', options.maxConnections);
    _positiveInt(where, 'maxFramePayloadBytes', options.maxFramePayloadBytes);
    _positiveInt(where, 'handshakeTimeoutMs', options.handshakeTimeoutMs);
    _positiveInt(where, 'idleTimeoutMs', options.idleTimeoutMs);
    _positiveInt(where, 'jobBroadcastIntervalMs', options.jobBroadcastIntervalMs, 0);
    _positiveInt(where, 'shutdownDrainTimeoutMs', options.shutdownDrainTimeoutMs, 0);
    this.#options = options;
    if (options.worker !== undefined) {
      const w = options.worker;
      if (!(Number.isSafeInteger(w.connIdBase) && w.connIdBase >= 0)) throw new RangeError(`${where}: worker.connIdBase must be a non-negative safe integer, got ${w.connIdBase}`);
      this.#nextConnId = w.connIdBase + 1;
      this.#leaderGate = { holding: false, refusingMiners: false };
    }
    // Room for an entry per open connection (never prunable) plus the spent buckets of closed ones.
    this.#admission = new Admission(options.admission ?? ADMISSION_UNLIMITED, options.maxConnections + IP_ENTRIES_MAX_DEFAULT);
    if (options.invalidSharesPerMinuteMax !== undefined) _positiveInt(where, 'invalidSharesPerMinuteMax', options.invalidSharesPerMinuteMax);
    this.gatewayId = options.gatewayId;
    this.mode = options.mode;
    this.#events = new _Fifo<GatewayEvent>(options.eventQueueMax ?? 100_000);
    this.#shareIds = new ShareIdAllocator(options.gatewayId, options.random);
    this.bootId = this.#shareIds.bootId;
    const provider = options.provider;
    const sha256 = (data: Uint8Array): Uint8Array => provider.sha256(data);
    // Merkle roots and header hashes: the provider's native double hash where it is the faster
    // one (Bun), the pure-TS one otherwise (core/mining/hash.ts doubleHashOf).
    this.#factory = new JobFactory({ payout: options.payout, poolTag: options.poolTag, sha256, sha256d: doubleHashOf(provider) });
    const emit = (event: GatewayEvent): void => this.#emit(event);
    this.#submitter = new BlockSubmitter({ retryInitialMs: options.blockRetryInitialMs, retryMaxMs: options.blockRetryMaxMs }, emit);
    const identity = options.identity;
    this.#ctx = {
      provider,
      random: options.random,
      staticKey: identity.staticKey,
      certificateAt: (wallMs) => identity.certificateAt(Math.floor(wallMs / 1000)),
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
      payloadBytesMax: options.maxFramePayloadBytes,
      auth: new Authenticator(options.auth),
      factory: this.#factory,
      extranonce: new ExtranonceAllocator({
        gatewayId: options.gatewayId,
        random: options.random,
        ...(options.worker === undefined ? {} : { partition: { index: options.worker.index, count: options.worker.count } }),
      }),
      channelsSettings: options.channels,
      sha256,
      shareIds: this.#shareIds,
      emit,
      onBlock: (candidate, shareId, connId, who) => this.#onBlock(candidate, shareId, connId, who),
      ...(options.workSelection === undefined ? {} : { workSelection: options.workSelection }),
      staleHold: () => this.#leaderGate?.holding ?? this.#gate.holding,
      mode: options.mode,
      ...(options.invalidSharesPerMinuteMax === undefined ? {} : { invalidSharesPerMinuteMax: options.invalidSharesPerMinuteMax }),
      groupChannels: options.groupChannels ?? true,
    };
    // With a Job Declaration port, the newest templates also get their merkle trees when they
    // arrive, so a declaration of one reuses them (template-cache.ts; docs/job-declaration.md).
    const declares = options.jobDeclaration !== undefined && options.mode !== 'shadow';
    this.#templateCache = new TemplateCache(options.templateProvider?.cachedTemplates ?? 16, { treesMax: declares ? JD_TEMPLATE_TREES : 0, sha256d: doubleHashOf(provider) });
    const tp = options.templateProvider;
    if (tp !== undefined) {
      _positiveInt(where, 'templateProvider.maxClients', tp.maxClients);
      _positiveInt(where, 'templateProvider.settings.retainedTemplates', tp.settings.retainedTemplates);
      _positiveInt(where, 'templateProvider.settings.requestsPerSecondMax', tp.settings.requestsPerSecondMax);
      _positiveInt(where, 'templateProvider.settings.feeUpdateIntervalMs', tp.settings.feeUpdateIntervalMs, 0);
      this.#tdpCtx = {
        provider,
        random: options.random,
        staticKey: identity.staticKey,
        certificateAt: (wallMs) => identity.certificateAt(Math.floor(wallMs / 1000)),
        handshakeTimeoutMs: options.handshakeTimeoutMs,
        payloadBytesMax: options.maxFramePayloadBytes,
        settings: tp.settings,
        sha256,
        // 64 (template, constraints) pairs: a few templates × the distinct constraints in use.
        tailorCache: new TailorCache(64, sha256),
        emit,
        released: () => this.#gate.released,
        onSolution: (block) => this.#onTdpSolution(block),
      };
    }
    const jd = options.jobDeclaration;
    if (jd !== undefined) {
      _positiveInt(where, 'jobDeclaration.maxClients', jd.maxClients);
      _positiveInt(where, 'jobDeclaration.settings.requestsPerSecondMax', jd.settings.requestsPerSecondMax);
      _positiveInt(where, 'jobDeclaration.settings.declaredTransactionsMax', jd.settings.declaredTransactionsMax, 0);
      if (options.mode === 'shadow') {
        // shadow serves nobody: no JD context is built, every JD connection is refused.
        this.#jdsCtx = undefined;
      } else {
        const cache = this.#templateCache;
        this.#jdsCtx = {
          provider,
          random: options.random,
          staticKey: identity.staticKey,
          certificateAt: (wallMs) => identity.certificateAt(Math.floor(wallMs / 1000)),
          handshakeTimeoutMs: options.handshakeTimeoutMs,
          payloadBytesMax: options.maxFramePayloadBytes,
          settings: jd.settings,
          mode: options.mode,
          authenticator: this.#ctx.auth,
          tokens: jd.tokens,
          engine: new PolicyEngine(jd.policy),
          sha256,
          released: () => this.#gate.released,
          chain: () => {
            const t = this.#gate.released;
            return t === null ? { tipHash: null, tipHeight: null, recentHashes: [], expectedNbits: null } : { tipHash: t.prevHash, tipHeight: t.height - 1, recentHashes: [], expectedNbits: t.nbits };
          },
          templates: { byWtxid: (w) => cache.byWtxid(w), byTxid: (t) => cache.byTxid(t), trees: () => cache.trees() },
          mempool: NO_TRANSACTIONS,
          provided: new ProvidedTransactions(jd.providedTransactionsMax),
          nextDeclarationId: () => this.#nextDeclarationId++,
          emit,
          onSolution: (block) => this.#onJdsSolution(block),
          ...(jd.proposal === undefined ? {} : { proposal: jd.proposal, propose: (command: ProposeBlockCommand) => this.#queueProposal(command) }),
        };
        if (jd.proposal !== undefined) {
          _positiveInt(where, 'jobDeclaration.proposal.timeoutMs', jd.proposal.timeoutMs);
          if (jd.proposal.failurePolicy !== 'fail_closed' && jd.proposal.failurePolicy !== 'permit_all') {
            throw new RangeError(`${where}: jobDeclaration.proposal.failurePolicy must be 'fail_closed' | 'permit_all', got ${JSON.stringify(jd.proposal.failurePolicy)}`);
          }
          this.#proposals = new _Fifo<ProposeBlockCommand>(jd.maxClients * Math.max(1, jd.settings.pendingDeclarationsMax));
        }
      }
    } else {
      this.#jdsCtx = undefined;
    }
    this.#verifier = options.verifier;
    this.#gate = new VerdictGate(options.mode, options.prevhash ?? OBSERVE_GATE_SETTINGS, {
      requestVerdict: (request, now) => (this.#verifier === undefined ? null : this.#verifier.request(request, now)),
      release: (template, now) => this.releaseTemplate(template, now),
      affectedConnections: () => this.connectionIds(),
      disconnect: (connId, order, now) => this.#disconnectForExpiredHold(connId, order, now),
      emit,
    });
  }

  /** Admission state (handshaking counts, tracked IPs): tests and benchmarks. */
  get admission(): Admission {
    return this.#admission;
  }

  /** The verdict gate (phase, holding, deadlines): tests and /status. */
  get gate(): VerdictGate {
    return this.#gate;
  }

  get state(): GatewayState {
    return this.#state;
  }

  get stopped(): boolean {
    return this.#state === 'stopped';
  }

  /** The JobFactory's current (released) template, if any. */
  get currentJob(): JobTemplate | null {
    return this.#factory.current;
  }

  get stats(): GatewayStats {
    let accepted = this.#closedSharesAccepted;
    let rejected = this.#closedSharesRejected;
    for (const s of this.#sessions.values()) {
      if (!s.closed && s instanceof Session) {
        accepted += s.sharesAccepted;
        rejected += s.sharesRejected;
      }
    }
    return {
      openConnections: this.#openConnections,
      connectionsAccepted: this.#connectionsAccepted,
      connectionsRefused: this.#connectionsRefused,
      sharesAccepted: accepted,
      sharesRejected: rejected,
      blocksFound: this.#blocksFound,
      blocksPending: this.#submitter.pending,
      templatesReceived: this.#templatesReceived,
      jobBroadcasts: this.#jobBroadcasts,
      eventsDropped: this.#eventsDropped,
      deadlineHeapSize: this.#heap.size,
      tdpOpenClients: this.#tdpOpenClients,
      tdpClientsAccepted: this.#tdpClientsAccepted,
      tdpClientsRefused: this.#tdpClientsRefused,
    };
  }

  /** Open connection ids, ascending (a stable order for deterministic disconnects). */
  connectionIds(): number[] {
    const ids: number[] = [];
    for (const [id, s] of this.#sessions) if (!s.closed) ids.push(id);
    return ids; // Map order = insertion order = ascending ids.
  }

  /** The session of an open miner connection (tests, the issue-4 gate). */
  session(connId: number): Session | undefined {
    const s = this.#sessions.get(connId);
    return s instanceof Session ? s : undefined;
  }

  /** The session of an open Template Provider connection (tests). */
  tdpSession(connId: number): TdpSession | undefined {
    const s = this.#sessions.get(connId);
    return s instanceof TdpSession ? s : undefined;
  }

  /** Whether the Template Provider role is configured. */
  get templateProviderEnabled(): boolean {
    return this.#tdpCtx !== undefined;
  }

  /** Released templates by id, txid and wtxid (the TP's and the JDS's lookups). */
  get templateCache(): TemplateCache {
    return this.#templateCache;
  }

  /** Open TDP clients, ascending connection id (/status). */
  tdpClients(): TdpClientStatus[] {
    const out: TdpClientStatus[] = [];
    for (const s of this.#sessions.values()) {
      if (!(s instanceof TdpSession) || s.closed) continue;
      const c = s.constraints;
      out.push({
        conn_id: s.connId,
        remote_address: s.remoteAddress,
        state: s.state,
        vendor: s.vendor,
        opened_at_ms: s.openedAtMs,
        constraints: c === null ? null : { additional_size_bytes: c.additionalSizeBytes, additional_sigops: c.additionalSigops },
        templates_sent: s.templatesSent,
        last_template_id: s.lastTemplateId?.toString() ?? null,
        last_source_template_id: s.lastSourceTemplateId?.toString() ?? null,
        retained_template_ids: s.retainedTemplateIds.map(String),
        transaction_data_served: s.transactionDataServed,
        transaction_data_errors: s.transactionDataErrors,
        solutions_submitted: s.solutionsSubmitted,
        solutions_rejected: s.solutionsRejected,
      });
    }
    return out;
  }

  /**
   * A TCP connection was accepted on the Template Provider listener (issue 10). Returns its id
   * (same id space as miners), or null when refused: no [template_provider], shutting down,
   * shadow mode (nothing is released there, so there is nothing to serve), a stale hold that
   * expired (the same refusal miners get, so a pool fails over to another TP), or max_clients.
   */
  acceptTdpConnection(nowMs: number, info: { readonly wallMs: number; readonly remoteAddress?: string }): number | null {
    _checkAccept('acceptTdpConnection', nowMs, info);
    const ctx = this.#tdpCtx;
    if (ctx === undefined) throw new RangeError('acceptTdpConnection: the gateway has no templateProvider options');
    const remote = info.remoteAddress ?? null;
    const maxClients = this.#options.templateProvider!.maxClients;
    const refusal = this.#portRefusal(this.#tdpOpenClients, maxClients);
    if (refusal !== null) {
      this.#tdpClientsRefused += 1;
      this.#emit({ type: 'tdp_connection_refused', reason_code: refusal, remote_address: remote, open_clients: this.#tdpOpenClients, max_clients: maxClients });
      return null;
    }
    const connId = this.#nextConnId++;
    const session = new TdpSession(connId, ctx, nowMs, info.wallMs, remote);
    this.#sessions.set(connId, session);
    this.#tdpOpenClients += 1;
    this.#tdpClientsAccepted += 1;
    this.#emit({ type: 'tdp_connection_opened', conn_id: connId, remote_address: remote, open_clients: this.#tdpOpenClients });
    this.#after(session);
    return connId;
  }

  /**
   * One admission rule for the miner, Template Provider and Job Declaration ports, in this order
   * (SPEC fail-closed): shutting down; shadow mode (nothing is released, so nothing to serve); a
   * stale hold that expired (no new work while no acceptable template exists for the tip: the
   * leader's view in worker mode); then the port's own client limit. The miner port adds its
   * per-IP admission after this.
   */
  #portRefusal(open: number, maxClients: number): 'shutdown' | 'shadow_mode' | 'stale_hold_expired' | 'connection_limit_reached' | null {
    if (this.#state !== 'running') return 'shutdown';
    if (this.mode === 'shadow') return 'shadow_mode';
    if (this.#leaderGate?.refusingMiners ?? this.#gate.refusingMiners) return 'stale_hold_expired';
    return open >= maxClients ? 'connection_limit_reached' : null;
  }

  /** The Job Declaration Server role is on (options.jobDeclaration, not shadow). */
  get jobDeclarationEnabled(): boolean {
    return this.#jdsCtx !== undefined;
  }

  jdsSession(connId: number): JdsSession | undefined {
    const s = this.#sessions.get(connId);
    return s instanceof JdsSession ? s : undefined;
  }

  /** JD connections: open now, accepted and refused since start. */
  get jdsCounts(): { readonly open: number; readonly accepted: number; readonly refused: number } {
    return { open: this.#jdsOpenClients, accepted: this.#jdsClientsAccepted, refused: this.#jdsClientsRefused };
  }

  /**
   * A TCP connection was accepted on the Job Declaration port (issue 11). Returns its id (same
   * id space as the miner port), or null when refused: shutting down, shadow mode, or
   * job_declaration.max_clients reached. Throws when the gateway has no jobDeclaration options.
   */
  acceptJdsConnection(nowMs: number, info: { readonly wallMs: number; readonly remoteAddress?: string }): number | null {
    _checkAccept('acceptJdsConnection', nowMs, info);
    if (this.#options.jobDeclaration === undefined) throw new RangeError('acceptJdsConnection: the gateway has no jobDeclaration options');
    const ctx = this.#jdsCtx;
    const maxClients = this.#options.jobDeclaration.maxClients;
    const remote = info.remoteAddress ?? null;
    const refusal = this.#portRefusal(this.#jdsOpenClients, maxClients);
    if (refusal !== null || ctx === undefined) {
      this.#jdsClientsRefused += 1;
      this.#emit({ type: 'jd_connection_refused', reason_code: refusal ?? 'shadow_mode', remote_address: remote, open_clients: this.#jdsOpenClients, max_clients: maxClients });
      return null;
    }
    const connId = this.#nextConnId++;
    const session = new JdsSession(connId, ctx, nowMs, info.wallMs, remote);
    this.#sessions.set(connId, session);
    this.#jdsOpenClients += 1;
    this.#jdsClientsAccepted += 1;
    this.#emit({ type: 'jd_connection_opened', conn_id: connId, remote_address: remote, open_clients: this.#jdsOpenClients });
    this.#after(session);
    return connId;
  }

  // ---- connections -----------------------------------------------------------------------------

  /**
   * A TCP connection was accepted. Returns its id, or null when refused (connection limit, or
   * shutting down): the adapter then closes the socket without reading.
   */
  acceptConnection(nowMs: number, info: { readonly wallMs: number; readonly remoteAddress?: string }): number | null {
    _checkAccept('acceptConnection', nowMs, info);
    const remote = info.remoteAddress ?? null;
    const ip = ipOf(info.remoteAddress);
    // Global refusals first; the per-IP and handshake limits (admission.ts) only count a
    // connection that would otherwise be accepted, and spend its rate token only then.
    const refusal = this.#portRefusal(this.#openConnections, this.#options.maxConnections) ?? this.#admission.admit(ip, nowMs);
    if (refusal !== null) {
      this.#connectionsRefused += 1;
      this.#emit({
        type: 'connection_refused',
        reason_code: refusal,
        remote_address: remote,
        open_connections: this.#openConnections,
        max_connections: this.#options.maxConnections,
      });
      return null;
    }
    const connId = this.#nextConnId++;
    this.#admitted.set(connId, { ip, handshaking: true });
    const session = new Session(connId, this.#ctx, nowMs, info.wallMs);
    this.#sessions.set(connId, session);
    this.#openConnections += 1;
    this.#connectionsAccepted += 1;
    this.#emit({ type: 'connection_opened', conn_id: connId, remote_address: remote, open_connections: this.#openConnections });
    this.#after(session);
    return connId;
  }

  /** Bytes read from connection `connId`. Unknown or closed ids are ignored. */
  receive(connId: number, bytes: Uint8Array, nowMs: number): void {
    const session = this.#sessions.get(connId);
    if (session === undefined || session.closed) return;
    session.receive(bytes, nowMs);
    this.#after(session);
  }

  /** The peer closed (or the socket failed): forget the connection; nothing more is sent. */
  connectionClosed(connId: number, nowMs: number): void {
    const session = this.#sessions.get(connId);
    if (session === undefined) return;
    if (!session.closed) {
      session.peerClosed(nowMs);
      this.#onSessionClosed(session);
    }
    this.#sessions.delete(connId);
    this.#dirty.delete(connId);
  }

  /** Close a connection from our side (slow_consumer from the pump, issue-4 disconnects). */
  closeConnection(connId: number, reason: ReasonCode, nowMs: number, detail: string = reason): void {
    const session = this.#sessions.get(connId);
    if (session === undefined || session.closed) return;
    session.close(reason, detail, nowMs);
    this.#after(session);
  }

  // ---- templates -------------------------------------------------------------------------------

  /** A template from the source (getblocktemplate poll, embedded chain). */
  templateUpdated(template: BlockTemplate, nowMs: number): void {
    _checkNow('templateUpdated', nowMs);
    if (this.#state !== 'running') return;
    this.#templatesReceived += 1;
    if (this.#upstreamFailures > 0) {
      this.#emit({ type: 'upstream_recovered', consecutive_failures: this.#upstreamFailures });
      this.#upstreamFailures = 0;
    }
    const newPrevhash = this.#lastReceivedPrevHash === undefined || !equalBytes(this.#lastReceivedPrevHash, template.prevHash);
    this.#lastReceivedPrevHash = Uint8Array.from(template.prevHash);
    this.#emit({
      type: 'template_received',
      template_id: template.templateId.toString(),
      height: template.height,
      prev_hash: bytesToHex(Uint8Array.from(template.prevHash).reverse()),
      new_prevhash: newPrevhash,
      tx_count: template.transactions.length,
      coinbase_value: template.coinbaseValue.toString(),
    });
    // The gate releases (observe: now; inline: when allowed; shadow: never) and asks the verifier.
    this.#gate.templateArrived(template, nowMs);
    this.pollVerifier(nowMs);
  }

  /** Drain the verifier's outcomes into the gate (a remote verifier's driver calls this after
   * feeding it; harmless any time). */
  pollVerifier(nowMs: number): void {
    _checkNow('pollVerifier', nowMs);
    const verifier = this.#verifier;
    if (verifier === undefined) return;
    // Refusals first: the event says why the outcomes that follow carry no verdict.
    if (verifier.pollProtocolError !== undefined) {
      for (let e = verifier.pollProtocolError(); e !== null; e = verifier.pollProtocolError()) {
        this.#emit({ type: 'verifier_protocol_error', reason_code: e.reasonCode, request_id: e.requestId, template_id: e.templateId === null ? null : e.templateId.toString(), detail: e.detail });
      }
    }
    for (let o = verifier.pollOutcome(); o !== null; o = verifier.pollOutcome()) this.#gate.outcome(o, nowMs);
  }

  /**
   * Make `template` the current work: build its job, and send it — at once on a new prevhash,
   * aggregated otherwise. The only path from a template to the miners (issue-4 seam).
   */
  releaseTemplate(template: BlockTemplate, nowMs: number): void {
    _checkNow('releaseTemplate', nowMs);
    if (this.#state !== 'running') return;
    const newPrevhash = this.#lastPrevHash === undefined || !equalBytes(this.#lastPrevHash, template.prevHash);
    const job = this.#factory.addTemplate(template);
    this.#templateCache.add(template);
    // The declaration trees of this template are built on the next pass, after its bytes are out.
    if (this.#templateCache.treesPending > 0) this.#treesAtMs = nowMs;
    if (this.#options.onRelease !== undefined) {
      try {
        this.#options.onRelease(template, nowMs);
      } catch {
        // Contract: must not throw; a faulty observer never blocks the miners' work.
      }
    }
    // TDP clients get exactly what miners get, at the same moment (one rule: the gate's release).
    for (const session of this.#sessions.values()) {
      if (!(session instanceof TdpSession) || session.state !== 'serving') continue;
      session.templateReleased(template, nowMs);
      this.#after(session);
    }
    if (newPrevhash) {
      this.#lastPrevHash = Uint8Array.from(template.prevHash);
      this.#pendingJob = undefined;
      this.#pendingAggregated = 0;
      this.#broadcastAtMs = undefined;
      this.#broadcast(job, 'future_prevhash', 1, nowMs);
      return;
    }
    this.#pendingAggregated += 1;
    this.#pendingJob = job;
    if (this.#options.jobBroadcastIntervalMs === 0) {
      this.#flushPendingBroadcast(nowMs);
      return;
    }
    // Armed by the first template of a window, never pushed back: a steady stream of templates
    // still yields one broadcast per interval.
    this.#broadcastAtMs ??= nowMs + this.#options.jobBroadcastIntervalMs;
  }

  /** The template source failed; miners keep their last job. */
  upstreamFailed(error: { readonly code: string; readonly message: string }, nowMs: number): void {
    _checkNow('upstreamFailed', nowMs);
    this.#upstreamFailures += 1;
    this.#emit({
      type: 'upstream_unavailable',
      reason_code: 'upstream_unavailable',
      error_code: String(error.code),
      message: String(error.message),
      consecutive_failures: this.#upstreamFailures,
    });
  }

  // ---- workers (issue 13 item 1) ------------------------------------------------------------------

  /**
   * Worker mode: the leader's verdict gate state. `holding` marks shares `stale_hold` (SPEC §6);
   * `refusingMiners` refuses new miners with `stale_hold_expired` until the leader releases an
   * acceptable template. Without options.worker this throws (a misuse).
   */
  followLeaderGate(state: { readonly holding: boolean; readonly refusingMiners: boolean }): void {
    if (this.#leaderGate === undefined) throw new TypeError('followLeaderGate: this gateway was not built with options.worker');
    this.#leaderGate = { holding: state.holding === true, refusingMiners: state.refusingMiners === true };
  }

  /**
   * Worker mode: the leader's stale hold expired (SPEC §6): close every miner connection in
   * ascending id order, exactly as the gate's own expiry does without workers.
   */
  leaderHoldExpired(nowMs: number): void {
    _checkNow('leaderHoldExpired', nowMs);
    if (this.#leaderGate === undefined) throw new TypeError('leaderHoldExpired: this gateway was not built with options.worker');
    this.#leaderGate = { ...this.#leaderGate, refusingMiners: true };
    const ids = [...this.#sessions.entries()].filter(([, s]) => s instanceof Session && !s.closed).map(([id]) => id).sort((a, b) => a - b);
    let order = 0;
    for (const connId of ids) this.#disconnectForExpiredHold(connId, ++order, nowMs);
  }

  /** SPEC fail-closed: one miner disconnected at hold expiry, in `order` (the gate's or the leader's). */
  #disconnectForExpiredHold(connId: number, order: number, nowMs: number): void {
    const session = this.#sessions.get(connId);
    if (session === undefined || session.closed) return;
    this.#emit({
      type: 'miner_disconnected',
      conn_id: connId,
      reason_code: 'stale_hold_expired',
      order,
      channels: session.channelCount,
      held_template_id: this.#factory.current === null ? null : this.#factory.current.templateId.toString(),
    });
    this.closeConnection(connId, 'stale_hold_expired', nowMs, 'stale hold expired: no acceptable template for the new prevhash');
  }

  // ---- blocks ----------------------------------------------------------------------------------

  pollCommand(): GatewayCommand | undefined {
    return this.#submitter.pollCommand();
  }

  /** The JDS's BIP23 proposals for the node (job_declaration.block_proposals); take them after the commands (found blocks first, SPEC §4). */
  pollProposal(): ProposeBlockCommand | undefined {
    return this.#proposals?.shift();
  }

  /** Node answers to proposals that no declaration was waiting for (timed out, connection gone). */
  get lateProposalAnswers(): number {
    let n = this.#lateProposalAnswers;
    for (const s of this.#sessions.values()) if (s instanceof JdsSession) n += s.lateProposalAnswers;
    return n;
  }

  /**
   * The node's answer to a `propose_block` command (the adapter's ProposalAnswer: `{kind:'valid'}`,
   * `{kind:'invalid', reason}`, `{kind:'node_error', code, message}`; checked by the session,
   * core/job-declaration/proposal.ts). An answer for a connection that is gone is ignored and
   * counted (`jd_proposal_late`).
   */
  blockProposalResult(connId: number, declarationId: string, answer: unknown, nowMs: number): void {
    _checkNow('blockProposalResult', nowMs);
    const session = this.jdsSession(connId);
    if (session === undefined) {
      this.#lateProposalAnswers += 1;
      const kind = answer !== null && typeof answer === 'object' ? (answer as { kind?: unknown }).kind : undefined;
      this.#emit({ type: 'jd_proposal_late', conn_id: connId, declaration_id: String(declarationId).slice(0, 24), answer_kind: kind === 'valid' || kind === 'invalid' || kind === 'node_error' ? kind : 'malformed' });
      return;
    }
    session.proposalAnswered(String(declarationId), answer, nowMs);
    this.#after(session);
  }

  /**
   * Socket worker (gateway.workers ≥ 2): the leader's answer to a SetCustomMiningJob token check
   * (work-selection.ts, docs/scaling.md "Job Declaration with workers"). The waiting session
   * finishes the job and handles its held input; an answer nobody waits for (timed out, closed)
   * is counted late and changes nothing.
   */
  customJobTokenAnswer(ticket: number, answer: CustomJobTokenAnswer, nowMs: number): void {
    _checkNow('customJobTokenAnswer', nowMs);
    const connId = this.#options.workSelection?.claimAnswer?.(ticket);
    const session = connId === undefined ? undefined : this.#sessions.get(connId);
    if (!(session instanceof Session) || !session.answerCustomJob(ticket, answer, nowMs)) {
      this.#options.workSelection?.abandonSetCustomMiningJob?.(ticket);
      return;
    }
    this.#after(session);
  }

  /**
   * Leader (gateway.workers ≥ 2, docs/scaling.md "A worker's block"): a block one of its socket
   * workers found (its SUBMIT_BLOCK), submitted and RETRIED by this gateway's submitter, so the
   * schedule survives the worker. The worker logged `block_found` with the hex first; this
   * gateway emits `block_submit_retry` / `block_submit_result` for it. Its hash is recorded so a
   * later SubmitSolution or PushSolution of the same block here is not submitted again. False
   * (nothing queued) for an id already pending here or hex that is no block (a header and more).
   */
  adoptWorkerBlock(blockId: string, hex: string, nowMs: number): boolean {
    _checkNow('adoptWorkerBlock', nowMs);
    if (typeof blockId !== 'string' || blockId.length === 0 || blockId.length > 128 || this.#submitter.has(blockId)) return false;
    if (typeof hex !== 'string' || hex.length < 2 * 81 || hex.length % 2 !== 0 || !/^[0-9a-f]+$/.test(hex)) return false;
    const hash = bytesToHex(reversed(doubleHashOf(this.#options.provider)(hexToBytes(hex.slice(0, 160)))));
    this.#firstSubmission(hash);
    this.#submitter.add(blockId, hex, hash);
    return true;
  }

  /** The Job Declaration tokens ([job_declaration]), for a leader answering its workers' checks. */
  get jobDeclarationTokens(): MiningJobTokens<DeclaredJob> | undefined {
    return this.#options.jobDeclaration?.tokens;
  }

  #queueProposal(command: ProposeBlockCommand): void {
    // The session bounds its own waiting declarations, and max_clients bounds the sessions, so
    // this FIFO cannot overflow; if it did, the declaration simply times out (failure policy).
    this.#proposals?.push(command);
  }

  blockSubmitResult(blockId: string, outcome: BlockSubmitOutcome, nowMs: number): void {
    _checkNow('blockSubmitResult', nowMs);
    this.#submitter.result(blockId, outcome, nowMs);
    this.#maybeFinishShutdown(nowMs);
  }

  // ---- output and time -------------------------------------------------------------------------

  pollTransmit(): TransmitItem | undefined {
    for (const connId of this.#dirty) {
      const session = this.#sessions.get(connId);
      if (session === undefined) {
        this.#dirty.delete(connId);
        continue;
      }
      const bytes = session.noise.pollTransmit();
      if (bytes !== undefined) {
        // A closed session stays dirty so its close marker follows its last bytes.
        if (!session.closed) this.#dirty.delete(connId);
        return { conn_id: connId, bytes };
      }
      this.#dirty.delete(connId);
      if (session.closed) {
        this.#sessions.delete(connId);
        return { conn_id: connId, close: true };
      }
    }
    return undefined;
  }

  pollEvent(): GatewayEvent | undefined {
    return this.#events.shift();
  }

  nextDeadlineMs(): number | undefined {
    let min = this.#heap.peekMs();
    const verifierAt = this.#verifier?.nextDeadlineMs() ?? undefined;
    const tokensAt = this.#options.jobDeclaration?.tokens.nextDeadlineMs() ?? undefined;
    for (const at of [this.#broadcastAtMs, this.#submitter.nextDeadlineMs(), this.#drainDeadlineMs, this.#gate.nextDeadlineMs(), verifierAt, tokensAt, this.#treesAtMs]) {
      if (at !== undefined && (min === undefined || at < min)) min = at;
    }
    return min;
  }

  onTimeout(nowMs: number): void {
    _checkNow('onTimeout', nowMs);
    // Collect first, then run: a session re-armed during this pass waits for the next call, so a
    // faulty deadline can never spin this loop.
    const due = this.#heap.popDue(nowMs);
    for (const connId of due) {
      const session = this.#sessions.get(connId);
      if (session === undefined) continue;
      session.pendingDeadlinesMs.pop();
      session.onTimeout(nowMs);
      this.#after(session);
    }
    // Verifier outcomes (input) before gate deadlines: a verdict due at the verdict timeout's
    // instant is in time (SPEC §6 "by t0 + 50").
    if (this.#verifier !== undefined) {
      this.#verifier.onTimeout(nowMs);
      this.pollVerifier(nowMs);
    }
    this.#gate.onTimeout(nowMs);
    this.pollVerifier(nowMs); // a retry the gate just sent may be answered at once (embedded, or down)
    if (this.#broadcastAtMs !== undefined && this.#broadcastAtMs <= nowMs) this.#flushPendingBroadcast(nowMs);
    this.#submitter.onTimeout(nowMs);
    this.#options.jobDeclaration?.tokens.onTimeout(nowMs);
    if (this.#treesAtMs !== undefined && this.#treesAtMs <= nowMs) {
      this.#treesAtMs = undefined;
      this.#templateCache.buildTrees();
    }
    this.#maybeFinishShutdown(nowMs);
  }

  /** Begin a graceful shutdown (see the header). Idempotent. */
  shutdown(nowMs: number): void {
    _checkNow('shutdown', nowMs);
    if (this.#state !== 'running') return;
    this.#state = 'draining';
    this.#gate.shutdown(nowMs);
    this.#broadcastAtMs = undefined;
    this.#pendingJob = undefined;
    this.#emit({ type: 'gateway_shutdown', phase: 'started', connections: this.#openConnections, blocks_pending: this.#submitter.pending });
    for (const session of [...this.#sessions.values()]) {
      if (session.closed) continue;
      session.shutdown(nowMs);
      this.#after(session);
    }
    this.#drainDeadlineMs = nowMs + this.#options.shutdownDrainTimeoutMs;
    this.#maybeFinishShutdown(nowMs);
  }

  // ---- internals -------------------------------------------------------------------------------

  #emit(event: GatewayEvent): void {
    if (!this.#events.push(event)) this.#eventsDropped += 1;
  }

  /** Bookkeeping after any input to a session: output, close, deadline. */
  #after(session: Session | TdpSession | JdsSession): void {
    // Admission (core/gateway/admission.ts) tracks miner connections only: a TDP or JD session is never
    // in #admitted, so only a mining Session can leave the handshaking count here.
    const admitted = this.#admitted.get(session.connId);
    if (admitted !== undefined && admitted.handshaking && session instanceof Session && session.state === 'ready') {
      admitted.handshaking = false;
      this.#admission.setupDone(admitted.ip);
    }
    if (session.closed) {
      this.#onSessionClosed(session);
      this.#dirty.add(session.connId);
      return;
    }
    this.#dirty.add(session.connId);
    // Push only a deadline earlier than every entry already pending for this session; a later
    // one waits for the earliest entry to fire (onTimeout is harmless early) and is pushed then.
    // So a deadline that moves later on every frame (idle) costs no heap entry per frame.
    const at = session.nextDeadlineMs();
    const pending = session.pendingDeadlinesMs;
    if (at !== undefined && (pending.length === 0 || at < pending[pending.length - 1]!)) {
      pending.push(at);
      this.#heap.push(at, session.connId);
    }
  }

  #closedCounted = new WeakSet<Session | TdpSession | JdsSession>();

  #onSessionClosed(session: Session | TdpSession | JdsSession): void {
    if (this.#closedCounted.has(session)) return;
    this.#closedCounted.add(session);
    if (session instanceof JdsSession) {
      this.#jdsOpenClients -= 1;
      return;
    }
    if (session instanceof TdpSession) {
      this.#tdpOpenClients -= 1;
      return;
    }
    this.#openConnections -= 1;
    const admitted = this.#admitted.get(session.connId);
    if (admitted !== undefined) {
      this.#admitted.delete(session.connId);
      this.#admission.closed(admitted.ip, admitted.handshaking);
    }
    this.#closedSharesAccepted += session.sharesAccepted;
    this.#closedSharesRejected += session.sharesRejected;
  }

  #flushPendingBroadcast(nowMs: number): void {
    const job = this.#pendingJob;
    const aggregated = this.#pendingAggregated;
    this.#pendingJob = undefined;
    this.#pendingAggregated = 0;
    this.#broadcastAtMs = undefined;
    if (job !== undefined) this.#broadcast(job, 'update', aggregated, nowMs);
  }

  /** One pass over every connection (the prevhash fan-out), then one event. */
  #broadcast(job: JobTemplate, kind: 'future_prevhash' | 'update', aggregated: number, nowMs: number): void {
    let connections = 0;
    let messages = 0;
    const encoder = new BroadcastEncoder(); // one per broadcast (broadcast-encoder.ts)
    const arena = new TransmitArena(); // the sealed bytes of every connection (transmit-arena.ts)
    for (const session of this.#sessions.values()) {
      if (!(session instanceof Session) || session.state !== 'ready') continue;
      const sent = session.setTemplate(job, nowMs, encoder, arena);
      if (sent > 0) connections += 1;
      messages += sent;
      this.#after(session);
    }
    this.#jobBroadcasts += 1;
    this.#emit({
      type: 'job_broadcast',
      template_id: job.templateId.toString(),
      kind,
      connections,
      messages,
      templates_aggregated: aggregated,
    });
  }

  /**
   * Remembers a block hash (display hex) as submitted; false when it already was (the last 1024).
   * One block, one submission across the share path, TDP SubmitSolution and JDS PushSolution:
   * a JD client in full-template mode sends one block all three ways (jd_client_sv2 0.6.0
   * downstream_message_handler.rs: share upstream, SubmitSolution to its TP, PushSolution to its
   * JDS), and when ReserveGrid is pool, TP and JDS the first path submits it (interop check (h)).
   */
  #firstSubmission(blockHashDisplay: string): boolean {
    if (this.#submittedBlockHashes.has(blockHashDisplay)) return false;
    this.#submittedBlockHashes.add(blockHashDisplay);
    if (this.#submittedBlockHashes.size > 1024) this.#submittedBlockHashes.delete(this.#submittedBlockHashes.values().next().value as string);
    return true;
  }

  #onBlock(candidate: BlockCandidate, shareId: string, connId: number, who: string): void {
    // Already submitted through SubmitSolution or PushSolution: the share stays accepted, the
    // block is not submitted or counted again. (An empty block, below, is never submitted.)
    if (candidate.block.length > 0 && !this.#firstSubmission(candidate.blockHashDisplay)) return;
    // Submit first (SPEC §4): the command is queued before the share's own event and ack.
    const blockId = shareId;
    const hex = bytesToHex(candidate.block);
    this.#blocksFound += 1;
    // An empty block: a miner's custom job whose transactions we never saw (work-selection.ts);
    // recorded, not submitted (the miner's own template provider propagates it).
    if (candidate.block.length > 0) this.#submitter.add(blockId, hex, candidate.blockHashDisplay);
    this.#emit({
      type: 'block_found',
      block_id: blockId,
      share_id: shareId,
      conn_id: connId,
      channel_id: candidate.channelId,
      identity: who,
      height: candidate.height,
      template_id: candidate.templateId.toString(),
      block_hash: candidate.blockHashDisplay,
      hex,
    });
  }

  /**
   * A TDP client's SubmitSolution became a block (core/template-provider/tdp-session.ts checked
   * the proof of work): the same never-lost path as a share's block (SPEC §4) — `submit_block`
   * first, then `block_found` with the whole hex. A solution whose block hash was already
   * submitted returns null (one block, one submission).
   */
  #onTdpSolution(block: TdpBlock): string | null {
    if (!this.#firstSubmission(block.blockHashDisplay)) return null;
    const blockId = this.#shareIds.next();
    const hex = bytesToHex(block.block);
    this.#blocksFound += 1;
    this.#submitter.add(blockId, hex, block.blockHashDisplay);
    this.#emit({
      type: 'block_found',
      block_id: blockId,
      // No share: the id is drawn from the same allocator so it is unique like every block id.
      share_id: blockId,
      conn_id: block.connId,
      channel_id: 0,
      identity: 'tdp',
      height: block.height,
      template_id: block.sourceTemplateId.toString(),
      block_hash: block.blockHashDisplay,
      hex,
    });
    return blockId;
  }

  /**
   * A JD client's PushSolution became a block (core/job-declaration/jds-session.ts rebuilt it from
   * the declared job and checked the proof of work): the same never-lost path, deduplicated with
   * TDP solutions by block hash (a JDC in full-template mode sends both PushSolution to us and
   * SubmitSolution to its TP; when we are both, one block is submitted once).
   */
  #onJdsSolution(block: JdsBlock): string | null {
    return this.#onTdpSolution({ connId: block.connId, templateId: 0n, sourceTemplateId: block.declarationId, height: block.height, blockHashDisplay: block.blockHashDisplay, block: block.block });
  }

  #maybeFinishShutdown(nowMs: number): void {
    if (this.#state !== 'draining') return;
    if (this.#submitter.pending > 0 && this.#drainDeadlineMs !== undefined && nowMs < this.#drainDeadlineMs) return;
    if (this.#submitter.pending > 0) this.#submitter.settleAll(`shutdown drain timeout (${this.#options.shutdownDrainTimeoutMs} ms) reached before the node answered`);
    this.#state = 'stopped';
    this.#drainDeadlineMs = undefined;
    this.#emit({ type: 'gateway_shutdown', phase: 'completed', connections: this.#openConnections, blocks_pending: 0 });
  }
}
