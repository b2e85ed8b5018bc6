// One Template Distribution client connection, server side (issue 10; SV2 spec §7; SV2.md §6).
// Sans-IO like the mining Session (STYLE.md #1, #7): bytes and time in; bytes, events and one
// next deadline out. States are named for what they wait for:
//
//   Handshake            Noise NX, the same responder identity as the miner port
//   ExpectSetup          the first frame MUST be SetupConnection (protocol 2 = Template
//                        Distribution, versions containing 2, flags 0): `.Success{2, 0}`, else
//                        `.Error` with SRI's string and a close
//   ExpectConstraints    nothing is served before the client's CoinbaseOutputConstraints (the
//                        reservation decides which transactions fit)
//   Serving              templates go out; CoinbaseOutputConstraints may come AGAIN at any time
//                        (SRI's JD client re-sends it after token allocations): the current
//                        template is re-trimmed and sent as a new non-future NewTemplate
//   Closed               terminal; one `tdp_connection_closed` event
//
// What is sent (SV2.md §6, pool_sv2 0.7.0 `channel_manager/template_distribution_message_handler.rs`):
//  - a tip (the first template a client gets, and every template the gateway releases on a new
//    prevhash): `NewTemplate{future_template: true, template_id: X}` immediately followed by
//    `SetNewPrevHash{template_id: X}`. pool_sv2 shuts down on a SetNewPrevHash whose id matches no
//    future template, and on a non-future NewTemplate before any SetNewPrevHash (no active job):
//    neither can happen here, because a non-future template is only ever sent after a tip.
//  - a fee bump (same prevhash): a non-future NewTemplate when the tailored template's fees are at
//    least `minFeeDeltaSats` above the last template sent on this connection, and no sooner than
//    `feeUpdateIntervalMs` after it; a qualifying template that comes too early waits (the newest
//    one replaces it) until the interval has passed (deadline `fee_update`).
//  - template ids are a per-connection counter from 1: strictly increasing, never reused.
//
// Retention (docs/template-provider.md): the last `retainedTemplates` templates sent on the
// connection stay answerable. RequestTransactionData for a retained template on the tip sent last
// gets `.Success`; for a retained template on an older prevhash `.Error{stale-template-id}`; for
// anything else `.Error{template-id-not-found}`. SubmitSolution is accepted for ANY retained
// template, stale or not (a block on the previous tip can still win a race, and the node decides:
// a found block is never dropped here).
//
// SubmitSolution → block (issue 10 item 1): header = version ‖ the template's prev_hash ‖
// merkle root(SHA256d(stripped coinbase), the merkle_path we sent) ‖ header_timestamp ‖ nbits ‖
// header_nonce; the block = header ‖ CompactSize(1 + n) ‖ the submitted coinbase (with witness) ‖
// the served transactions. It must meet the network target (checked: no node round trip for
// garbage) and then goes to `onSolution`, the gateway's never-lost block path.
//
// Bad input: a frame that does not decode closes with `malformed_message`; a mining, JD or
// server-to-client message, a second SetupConnection, or anything before SetupConnection closes
// with `unexpected_message`; constraints no block can hold close with `tdp_constraints_too_large`;
// more than `requestsPerSecondMax` CoinbaseOutputConstraints + RequestTransactionData in one
// second close with `tdp_request_flood`. Unknown extension types are ignored. Nothing throws.
//
// Timers (one Deadlines table): `setup` = accept + handshake timeout until SetupConnection is
// answered; `fee_update` as above. There is no idle timeout: a TDP client legitimately sends
// nothing for hours (it only listens), and TCP tells us when it is gone.
import { bytesToHex, reversed } from '../bytes.ts';
import { Deadlines } from '../clock.ts';
import { decodeMessage, encodeMessage, type Frame, type Sv2Message } from '../codec/index.ts';
import type { SubmitSolution } from '../codec/messages/template-distribution.ts';
import { protocolError, type ProtocolError } from '../errors.ts';
import type { GatewayEventSink } from '../gateway/events.ts';
import { decodeFailureRefusal, describeSetupConnection, noiseCloseReason, openNoiseResponder, setupConnectionRefusal, SV2_VERSION, type ResponderContext } from '../gateway/sv2-responder.ts';
import { sha256d, type Sha256 } from '../mining/hash.ts';
import { header80 } from '../mining/header.ts';
import { merkleRootFromPath } from '../mining/merkle.ts';
import { hashToDisplayHex, meetsTarget, targetToU256 } from '../mining/target.ts';
import type { NoiseResponderConnection } from '../noise/connection.ts';
import { wireString, type ReasonCode } from '../reason-codes.ts';
import { bip34HeightPush, serializeBlock, type BlockTemplate } from '../template/template.ts';
import { constraintsProblem, tailorTemplate, type CoinbaseConstraints, type TailoredTemplate } from './tailor.ts';
import { parseCoinbase } from './transaction.ts';

/** SetupConnection.protocol for Template Distribution (SV2.md §4). */
export const TEMPLATE_DISTRIBUTION_PROTOCOL = 2;
/** NewTemplate.coinbase_tx_version: 2, as Bitcoin Core's own miner and sv2-tp. */
export const TDP_COINBASE_TX_VERSION = 2;
/** NewTemplate.coinbase_tx_input_sequence: final, as Bitcoin Core's miner (no locktime use). */
export const TDP_COINBASE_INPUT_SEQUENCE = 0xffffffff;
export const TDP_COINBASE_LOCKTIME = 0;

export interface TdpSettings {
  /** template_provider.fee_update_interval_ms: least time between two templates on one tip. */
  readonly feeUpdateIntervalMs: number;
  /** template_provider.min_fee_delta_sats: fee rise that makes a non-future NewTemplate. */
  readonly minFeeDeltaSats: bigint;
  /** template_provider.retained_templates: ids per connection that stay answerable. */
  readonly retainedTemplates: number;
  /** template_provider.max_requests_per_second: constraints + tx-data requests per second. */
  readonly requestsPerSecondMax: number;
}

/** A found block, handed to the gateway's block path. */
export interface TdpBlock {
  readonly connId: number;
  /** The connection's template id (NewTemplate.template_id) and the source template's id. */
  readonly templateId: bigint;
  readonly sourceTemplateId: bigint;
  readonly height: number;
  readonly blockHashDisplay: string;
  readonly block: Uint8Array;
}

export interface TdpSessionContext extends ResponderContext {
  readonly settings: TdpSettings;
  readonly sha256: Sha256;
  /**
   * Optional shared memo (TailorCache): clients with equal constraints get one tailoring per
   * template instead of one each, so a tip's fan-out costs O(distinct constraints) merkle work.
   */
  readonly tailorCache?: TailorCache;
  readonly emit: GatewayEventSink;
  /** The template the gate released last (what miners have), or null before the first. */
  readonly released: () => BlockTemplate | null;
  /** The block path; returns the block id, or null when that block was already submitted. */
  readonly onSolution: (block: TdpBlock) => string | null;
}

export type TdpSessionState = 'handshake' | 'expect_setup' | 'expect_constraints' | 'serving' | 'closed';

/** One template as this connection got it. */
interface _Served {
  readonly id: bigint;
  readonly tailored: TailoredTemplate;
  readonly future: boolean;
  readonly prevKey: string;
}

type _DeadlineName = 'setup' | 'fee_update';

/**
 * Tailored templates keyed by (template id, constraints), newest `capacity` kept. A
 * TailoredTemplate is immutable and holds no per-connection state, so sharing it is safe.
 */
export class TailorCache {
  readonly #entries = new Map<string, TailoredTemplate>();
  hits = 0;
  misses = 0;

  constructor(
    readonly capacity: number,
    readonly sha256: Sha256,
  ) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`TailorCache: capacity must be an integer >= 1, got ${capacity}`);
  }

  get(template: BlockTemplate, constraints: CoinbaseConstraints): TailoredTemplate {
    const key = `${template.templateId}:${constraints.additionalSizeBytes}:${constraints.additionalSigops}`;
    const hit = this.#entries.get(key);
    // The id is ours and stable for the template's lifetime (core/template/template.ts); the
    // identity check guards against a caller reusing an id for a different object.
    if (hit !== undefined && hit.base === template) {
      this.hits += 1;
      return hit;
    }
    this.misses += 1;
    const tailored = tailorTemplate(template, constraints, this.sha256);
    this.#entries.delete(key);
    this.#entries.set(key, tailored);
    while (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value as string);
    return tailored;
  }
}

export type TdpSendCause = 'tip' | 'fee_update' | 'constraints_changed';

export class TdpSession {
  readonly kind = 'tdp' as const;
  readonly connId: number;
  readonly noise: NoiseResponderConnection;
  readonly openedAtMs: number;
  readonly remoteAddress: string | null;
  /** Gateway bookkeeping, as Session.pendingDeadlinesMs (deadline-heap entries, a decreasing stack). */
  readonly pendingDeadlinesMs: number[] = [];
  templatesSent = 0;
  transactionDataServed = 0;
  transactionDataErrors = 0;
  solutionsSubmitted = 0;
  solutionsRejected = 0;
  ignoredFrames = 0;

  readonly #ctx: TdpSessionContext;
  readonly #deadlines = new Deadlines<_DeadlineName>();
  /** Insertion order = id order: the oldest is first (eviction). */
  readonly #served = new Map<bigint, _Served>();
  #state: TdpSessionState = 'handshake';
  #closeReason: ReasonCode | undefined;
  #nowMs: number;
  #nextTemplateId = 1n;
  #constraints: CoinbaseConstraints | null = null;
  /** The prevhash of the last SetNewPrevHash sent (hex), or null. */
  #tipKey: string | null = null;
  #lastSent: _Served | null = null;
  #lastSentAtMs = 0;
  /** A fee-bump candidate waiting for the interval (its tailoring is redone when sent). */
  #pendingFeeTemplate: BlockTemplate | null = null;
  #windowStartMs = 0;
  #windowRequests = 0;
  #vendor = '';

  constructor(connId: number, ctx: TdpSessionContext, nowMs: number, wallMs: number, remoteAddress: string | null) {
    this.connId = connId;
    this.#ctx = ctx;
    this.openedAtMs = nowMs;
    this.#nowMs = nowMs;
    this.remoteAddress = remoteAddress;
    this.noise = openNoiseResponder(ctx, nowMs, wallMs);
    this.#deadlines.set('setup', nowMs + ctx.handshakeTimeoutMs);
  }

  get state(): TdpSessionState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  get closeReason(): ReasonCode | undefined {
    return this.#closeReason;
  }

  /** For the gateway's stale-hold disconnect event (a TDP connection has no channels). */
  get channelCount(): number {
    return 0;
  }

  get constraints(): CoinbaseConstraints | null {
    return this.#constraints;
  }

  /** The newest template id sent, or null. */
  get lastTemplateId(): bigint | null {
    return this.#lastSent?.id ?? null;
  }

  /** The source (gateway) template id of the newest template sent, or null. */
  get lastSourceTemplateId(): bigint | null {
    return this.#lastSent?.tailored.base.templateId ?? null;
  }

  get retainedTemplateIds(): bigint[] {
    return [...this.#served.keys()];
  }

  get vendor(): string {
    return this.#vendor;
  }

  receive(bytes: Uint8Array, nowMs: number): void {
    if (this.#state === 'closed') return;
    this.#nowMs = nowMs;
    this.noise.receive(bytes, nowMs);
    this.#drainNoise(nowMs);
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
      if (name === 'fee_update') this.#flushPendingFee(nowMs);
    }
  }

  /**
   * The gate released `template` (core/gateway/verdict-gate.ts decides; this is the same release
   * the miners get, so the inline and stale-hold rules apply to TDP clients unchanged).
   */
  templateReleased(template: BlockTemplate, nowMs: number): void {
    if (this.#state !== 'serving') return;
    this.#nowMs = nowMs;
    if (this.#tipKey === null || this.#tipKey !== _key(template.prevHash)) {
      this.#pendingFeeTemplate = null;
      this.#deadlines.clear('fee_update');
      this.#sendTemplate(template, 'tip', nowMs);
      return;
    }
    this.#considerFeeUpdate(template, nowMs);
  }

  close(reason: ReasonCode, detail: string, nowMs: number): void {
    this.#close(reason, detail, nowMs);
  }

  peerClosed(nowMs: number): void {
    this.#close('peer_closed', 'the template distribution client closed the connection', nowMs);
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
      // No extensions are defined for Template Distribution (SV2.md §4); the spec says ignore.
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
      case 'CoinbaseOutputConstraints':
        if (!this.#admitRequest(nowMs)) return;
        this.#onConstraints({ additionalSizeBytes: message.coinbaseOutputMaxAdditionalSize, additionalSigops: message.coinbaseOutputMaxAdditionalSigops }, nowMs);
        return;
      case 'RequestTransactionData':
        if (!this.#admitRequest(nowMs)) return;
        this.#onRequestTransactionData(message.templateId);
        return;
      case 'SubmitSolution':
        this.#onSubmitSolution(message);
        return;
      case 'SetupConnection':
        this.#close('unexpected_message', 'second SetupConnection', nowMs);
        return;
      default:
        this.#close('unexpected_message', `${message.type} is not a client-to-server Template Distribution message`, nowMs);
    }
  }

  #setup(m: Extract<Sv2Message, { type: 'SetupConnection' }>, nowMs: number): void {
    // Template Distribution defines no SetupConnection flags (SV2.md §4): any bit is a feature
    // we cannot honour. pool_sv2 and jd_client_sv2 send 0 (pool_sv2 utils.rs get_setup_connection_message_tp).
    const refusal = setupConnectionRefusal(m, TEMPLATE_DISTRIBUTION_PROTOCOL, 0);
    if (refusal !== null) {
      this.#refuseSetup(refusal.flags, refusal.reason, describeSetupConnection(m), nowMs);
      return;
    }
    this.#send({ type: 'SetupConnectionSuccess', usedVersion: SV2_VERSION, flags: 0 });
    this.#state = 'expect_constraints';
    this.#deadlines.clear('setup');
    this.#vendor = m.vendor;
    this.#ctx.emit({
      type: 'tdp_connection_setup',
      conn_id: this.connId,
      used_version: SV2_VERSION,
      vendor: m.vendor,
      hardware_version: m.hardwareVersion,
      firmware: m.firmware,
      device_id: m.deviceId,
    });
  }

  #refuseSetup(flags: number, reason: 'unsupported_protocol' | 'protocol_version_mismatch' | 'unsupported_feature_flags', detail: string, nowMs: number): void {
    const wire = wireString(reason);
    this.#send({ type: 'SetupConnectionError', flags, errorCode: wire });
    this.#close(reason, detail, nowMs, { wire });
  }

  /** One more request in the current one-second window; false (and closed) past the limit. */
  #admitRequest(nowMs: number): boolean {
    if (nowMs - this.#windowStartMs >= 1000) {
      this.#windowStartMs = nowMs;
      this.#windowRequests = 0;
    }
    this.#windowRequests += 1;
    if (this.#windowRequests > this.#ctx.settings.requestsPerSecondMax) {
      this.#close('tdp_request_flood', `more than ${this.#ctx.settings.requestsPerSecondMax} CoinbaseOutputConstraints/RequestTransactionData in one second`, nowMs);
      return false;
    }
    return true;
  }

  #onConstraints(constraints: CoinbaseConstraints, nowMs: number): void {
    const released = this.#ctx.released();
    const problem = constraintsProblem(constraints, released ?? {});
    const first = this.#constraints === null;
    this.#ctx.emit({
      type: 'tdp_constraints',
      conn_id: this.connId,
      additional_size_bytes: constraints.additionalSizeBytes,
      additional_sigops: constraints.additionalSigops,
      first,
      accepted: problem === null,
      ...(problem === null ? {} : { reason_code: 'tdp_constraints_too_large' as const }),
      detail: problem ?? '',
    });
    if (problem !== null) {
      this.#close('tdp_constraints_too_large', problem, nowMs);
      return;
    }
    this.#constraints = constraints;
    if (this.#state === 'expect_constraints') this.#state = 'serving';
    if (released === null) return; // served as soon as the gate releases one
    if (this.#tipKey === null || this.#tipKey !== _key(released.prevHash)) {
      this.#sendTemplate(released, 'tip', nowMs);
    } else {
      // Same tip, new reservation: the template as re-trimmed, at once (not a fee bump, so no
      // interval); the earlier ids stay answerable with their own trimming.
      this.#pendingFeeTemplate = null;
      this.#deadlines.clear('fee_update');
      this.#sendTemplate(released, 'constraints_changed', nowMs);
    }
  }

  #onRequestTransactionData(templateId: bigint): void {
    const served = this.#served.get(templateId);
    const reason: 'tdp_template_id_not_found' | 'tdp_stale_template_id' | null = served === undefined ? 'tdp_template_id_not_found' : served.prevKey !== this.#tipKey ? 'tdp_stale_template_id' : null;
    if (reason !== null) {
      this.transactionDataErrors += 1;
      const wire = wireString(reason);
      this.#send({ type: 'RequestTransactionDataError', templateId, errorCode: wire });
      this.#ctx.emit({ type: 'tdp_transaction_data', conn_id: this.connId, template_id: templateId.toString(), result: 'error', reason_code: reason, wire, tx_count: 0, bytes: 0 });
      return;
    }
    const txs = served!.tailored.transactions;
    let bytes = 0;
    const list = txs.map((tx) => {
      bytes += tx.data.length;
      return tx.data;
    });
    this.transactionDataServed += 1;
    // excess_data: nothing beyond the transactions (spec §7: "any additional data"; Bitcoin Core
    // sends the empty string too).
    this.#send({ type: 'RequestTransactionDataSuccess', templateId, excessData: new Uint8Array(0), transactionList: list });
    this.#ctx.emit({
      type: 'tdp_transaction_data',
      conn_id: this.connId,
      template_id: templateId.toString(),
      result: 'success',
      reason_code: 'tdp_transaction_data_sent',
      wire: null,
      tx_count: txs.length,
      bytes,
    });
  }

  #onSubmitSolution(m: SubmitSolution): void {
    const served = this.#served.get(m.templateId);
    const reject = (reason: 'tdp_template_id_not_found' | 'tdp_solution_malformed' | 'tdp_solution_high_hash' | 'tdp_solution_duplicate', detail: string, blockHash: string | null = null): void => {
      this.solutionsRejected += 1;
      this.#ctx.emit({
        type: 'tdp_solution',
        conn_id: this.connId,
        template_id: m.templateId.toString(),
        source_template_id: served === undefined ? null : served.tailored.base.templateId.toString(),
        result: 'rejected',
        reason_code: reason,
        detail,
        block_hash: blockHash,
        block_id: null,
        stale: served === undefined ? false : served.prevKey !== this.#tipKey,
      });
    };
    if (served === undefined) {
      reject('tdp_template_id_not_found', `template id ${m.templateId} was never sent on this connection or is no longer retained`);
      return;
    }
    const parsed = parseCoinbase(m.coinbaseTx);
    if (!parsed.ok) {
      reject('tdp_solution_malformed', parsed.error);
      return;
    }
    const t = served.tailored;
    const sha256 = this.#ctx.sha256;
    const txid = sha256d(parsed.value.stripped, sha256);
    const header = header80({
      version: m.version,
      prevHash: t.base.prevHash,
      merkleRoot: merkleRootFromPath(txid, t.merklePath, sha256),
      ntime: m.headerTimestamp,
      nbits: t.base.nbits,
      nonce: m.headerNonce,
    });
    const hash = sha256d(header, sha256);
    const blockHash = hashToDisplayHex(hash);
    if (!meetsTarget(hash, t.base.target)) {
      reject('tdp_solution_high_hash', `block hash ${blockHash} is above the network target`, blockHash);
      return;
    }
    const block = serializeBlock(header, m.coinbaseTx, t.transactions);
    const blockId = this.#ctx.onSolution({
      connId: this.connId,
      templateId: m.templateId,
      sourceTemplateId: t.base.templateId,
      height: t.base.height,
      blockHashDisplay: blockHash,
      block,
    });
    if (blockId === null) {
      reject('tdp_solution_duplicate', `block ${blockHash} was already submitted`, blockHash);
      return;
    }
    this.solutionsSubmitted += 1;
    this.#ctx.emit({
      type: 'tdp_solution',
      conn_id: this.connId,
      template_id: m.templateId.toString(),
      source_template_id: t.base.templateId.toString(),
      result: 'submitted',
      reason_code: 'tdp_solution_submitted',
      detail: '',
      block_hash: blockHash,
      block_id: blockId,
      stale: served.prevKey !== this.#tipKey,
    });
  }

  // ---- templates out ---------------------------------------------------------------------------

  #considerFeeUpdate(template: BlockTemplate, nowMs: number): void {
    const last = this.#lastSent;
    if (last === null || this.#constraints === null) return;
    const tailored = this.#tailor(template, nowMs);
    if (tailored === null) return;
    if (tailored.feesSats < last.tailored.feesSats + this.#ctx.settings.minFeeDeltaSats) return;
    const dueAtMs = this.#lastSentAtMs + this.#ctx.settings.feeUpdateIntervalMs;
    if (nowMs >= dueAtMs) {
      this.#sendTailored(tailored, 'fee_update', nowMs);
      return;
    }
    this.#pendingFeeTemplate = template;
    this.#deadlines.set('fee_update', dueAtMs);
  }

  #flushPendingFee(nowMs: number): void {
    const template = this.#pendingFeeTemplate;
    this.#pendingFeeTemplate = null;
    if (template === null || this.#state !== 'serving') return;
    // Still the tip? A new prevhash in the meantime cleared the candidate already.
    if (this.#tipKey !== _key(template.prevHash)) return;
    this.#considerFeeUpdate(template, nowMs);
  }

  #sendTemplate(template: BlockTemplate, cause: TdpSendCause, nowMs: number): void {
    const tailored = this.#tailor(template, nowMs);
    if (tailored !== null) this.#sendTailored(tailored, cause, nowMs);
  }

  /**
   * The template trimmed to this client's constraints, or null (and the connection closed) when
   * this template's own limits cannot hold them: constraints accepted against one template can
   * exceed a later one whose node reports a smaller weight or sigop limit.
   */
  #tailor(template: BlockTemplate, nowMs: number): TailoredTemplate | null {
    const constraints = this.#constraints;
    if (constraints === null) return null;
    const problem = constraintsProblem(constraints, template);
    if (problem !== null) {
      this.#close('tdp_constraints_too_large', `template ${template.templateId}: ${problem}`, nowMs);
      return null;
    }
    return this.#ctx.tailorCache?.get(template, constraints) ?? tailorTemplate(template, constraints, this.#ctx.sha256);
  }

  #sendTailored(t: TailoredTemplate, cause: TdpSendCause, nowMs: number): void {
    const base = t.base;
    const future = cause === 'tip';
    const id = this.#nextTemplateId;
    this.#nextTemplateId += 1n;
    const prevKey = _key(base.prevHash);
    this.#send({
      type: 'NewTemplate',
      templateId: id,
      futureTemplate: future,
      version: base.version >>> 0,
      coinbaseTxVersion: TDP_COINBASE_TX_VERSION,
      coinbasePrefix: bip34HeightPush(base.height),
      coinbaseTxInputSequence: TDP_COINBASE_INPUT_SEQUENCE,
      coinbaseTxValueRemaining: t.coinbaseValueSats,
      coinbaseTxOutputsCount: t.coinbaseOutputsCount,
      coinbaseTxOutputs: t.coinbaseOutputs,
      coinbaseTxLocktime: TDP_COINBASE_LOCKTIME,
      merklePath: [...t.merklePath],
    });
    if (future) {
      // header_timestamp: the node's curtime, never below mintime (BIP23); the mining-side
      // SetNewPrevHash.min_ntime is this value (SV2.md §6).
      this.#send({
        type: 'SetNewPrevHashTdp',
        templateId: id,
        prevHash: base.prevHash,
        headerTimestamp: Math.max(base.curtime, base.mintime) >>> 0,
        nBits: base.nbits >>> 0,
        target: targetToU256(base.target),
      });
      this.#tipKey = prevKey;
    }
    if (this.#state === 'closed') return; // the send failed (Noise) and closed us
    const served: _Served = { id, tailored: t, future, prevKey };
    this.#served.set(id, served);
    while (this.#served.size > this.#ctx.settings.retainedTemplates) {
      const oldest = this.#served.keys().next().value as bigint;
      this.#served.delete(oldest);
    }
    this.#lastSent = served;
    this.#lastSentAtMs = nowMs;
    this.templatesSent += 1;
    this.#ctx.emit({
      type: 'tdp_template_sent',
      conn_id: this.connId,
      template_id: id.toString(),
      source_template_id: base.templateId.toString(),
      future,
      cause,
      height: base.height,
      prev_hash: bytesToHex(reversed(base.prevHash)),
      tx_count: t.transactions.length,
      dropped_tx_count: t.droppedCount,
      fees_sats: t.feesSats.toString(),
      coinbase_value_sats: t.coinbaseValueSats.toString(),
      transactions_weight: t.transactionsWeight,
      reserved_weight: t.reservedWeight,
    });
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
    this.#deadlines.clear('fee_update');
    this.#pendingFeeTemplate = null;
    this.noise.close(protocolError(reason, 'local', detail));
    while (this.noise.pollEvent() !== undefined) {
      // Our own close: nothing new in the Noise event.
    }
    this.#ctx.emit({
      type: 'tdp_connection_closed',
      conn_id: this.connId,
      reason_code: reason,
      detail,
      ...(extra.field === undefined ? {} : { field: extra.field }),
      ...(extra.wire === undefined ? {} : { wire: extra.wire }),
      templates_sent: this.templatesSent,
      solutions_submitted: this.solutionsSubmitted,
      duration_ms: Math.max(0, nowMs - this.openedAtMs),
    });
  }
}

function _key(prevHash: Uint8Array): string {
  return bytesToHex(prevHash);
}
