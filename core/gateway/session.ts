// One miner connection, server side (SV2.md §3.8; STYLE.md #7 states named for what they wait
// for): owns a NoiseResponderConnection and the connection's MiningChannels (core/channels).
//
//   Handshake        Noise NX (64 bytes in, 234 out); the Noise object enforces its timeout
//   ExpectSetup      the first frame MUST be SetupConnection (§3.8 step 2); anything else closes
//                    with `unexpected_message`, and nothing is sent before our answer to it
//   Ready            RequestExtensions (0x0001, offering 0x0002), Open*/Update/CloseChannel,
//                    SubmitShares*, SetCustomMiningJob (only after REQUIRES_WORK_SELECTION was
//                    accepted; such a connection opens extended channels only: work-selection.ts)
//   Closed           terminal: one `connection_closed` event, later input ignored
//
// SetupConnection rules (SV2.md §4): protocol must be 0 (Mining) else `unsupported-protocol`;
// the version range must contain 2 (SRI `get_version`: fail if min > 2 or max < 2) else
// `protocol-version-mismatch`; requested flags we cannot honour are answered with
// `unsupported-feature-flags` and exactly those bits in `.Error.flags` (a client may probe with
// all bits set). Supported: REQUIRES_STANDARD_JOBS (we serve standard channels) and
// REQUIRES_VERSION_ROLLING (we always allow rolling within 0x1FFFFFE0); REQUIRES_WORK_SELECTION
// only when a work-selection handler is plugged in (issue 4). `.Success.flags` is always 0: the
// response flags mean something else and must never echo the request (SV2.md §9.9). Every
// .Error is followed by a close.
//
// Errors: a frame that does not decode as the message its header names closes with
// `malformed_message` (the decoder's field goes in the event); a message that is unknown, sent
// in the wrong state, or only valid server→client closes with `unexpected_message`. Frames of an
// unknown extension_type are ignored, as the spec requires (counted). Nothing a peer sends
// throws.
//
// Timers (one Deadlines table): `setup` = accept + handshake_timeout_ms until SetupConnection is
// answered (covers a client that finishes Noise and then stalls); `idle` = last frame received +
// channel_idle_timeout_ms. Channel timers (ack batches, vardiff) live in MiningChannels.
import { bytesToHex, utf8 } from '../bytes.ts';
import { Deadlines } from '../clock.ts';
import { decodeMessage, encodeMessage, FRAME_HEADER_BYTES, type DecodeOptions, type Frame, type Sv2Message } from '../codec/index.ts';
import { MiningSetupFlags } from '../codec/messages/common.ts';
import type { BroadcastEncoder } from './broadcast-encoder.ts';
import type {
  OpenExtendedMiningChannel,
  OpenStandardMiningChannel,
  SetCustomMiningJob,
  SubmitSharesExtended,
  SubmitSharesStandard,
} from '../codec/messages/mining.ts';
import { EXTENSIONS_NEGOTIATION, WORKER_HASHRATE_TRACKING, workerIdentityOf } from '../codec/tlv.ts';
import { protocolError, type ProtocolError } from '../errors.ts';
import type { NoiseResponderConnection } from '../noise/connection.ts';
import type { TransmitArena } from '../noise/transmit-arena.ts';
import { wireString, type ReasonCode } from '../reason-codes.ts';
import { targetToDisplayHex } from '../mining/target.ts';
import {
  difficultyFromTarget,
  MiningChannels,
  type BlockCandidate,
  type ChannelsSettings,
  type ExtranonceAllocator,
  type JobFactory,
  type JobTemplate,
} from '../channels/index.ts';
import { ChannelWorkers, type Authenticator } from './auth.ts';
import type { ChannelKind, GatewayEventSink } from './events.ts';
import type { ShareIdAllocator } from './share-id.ts';
import type { CustomJobTokenAnswer } from './work-selection.ts';
import { decodeFailureRefusal, describeSetupConnection, noiseCloseReason, openNoiseResponder, setupConnectionRefusal, SV2_VERSION, type ResponderContext } from './sv2-responder.ts';

export { SV2_VERSION };

/** Extensions this server offers in RequestExtensions.Success (SV2.md §10). */
export const SUPPORTED_EXTENSIONS: readonly number[] = [WORKER_HASHRATE_TRACKING];

/**
 * Issue 4 seam: miner-proposed work (SetCustomMiningJob, SPEC §7). When a handler is present the
 * gateway accepts REQUIRES_WORK_SELECTION and routes SetCustomMiningJob to it; the returned
 * messages (SetCustomMiningJob.Success/.Error) are sent on the connection. Without one the flag
 * is refused at SetupConnection, so a compliant client never sends the message.
 */
export interface WorkSelectionHandler {
  /** The answer now, or a pending check (a socket worker asks the leader's tokens). */
  handleSetCustomMiningJob(connId: number, channels: MiningChannels, message: SetCustomMiningJob, nowMs: number, emit: GatewayEventSink): Sv2Message[] | PendingCustomJob;
  /** A pending check's answer arrived: the messages to send (Gateway.customJobTokenAnswer). */
  completeSetCustomMiningJob?(ticket: number, answer: CustomJobTokenAnswer, channels: MiningChannels, nowMs: number, emit: GatewayEventSink): Sv2Message[];
  /** A pending check's deadline passed without an answer: the refusal to send. */
  expireSetCustomMiningJob?(ticket: number, nowMs: number, emit: GatewayEventSink): Sv2Message[];
  /** The connection closed while its check was pending. */
  abandonSetCustomMiningJob?(ticket: number): void;
  /** The connection waiting for `ticket`, or undefined (a late answer: counted). */
  claimAnswer?(ticket: number): number | undefined;
}

/**
 * SetCustomMiningJob is being checked elsewhere (gateway.workers ≥ 2: the leader's token table,
 * work-selection.ts): the session holds every later frame of this connection, in order, until
 * the answer or `deadlineMs` (then the handler refuses it, `custom_job_token_check_timeout`).
 */
export interface PendingCustomJob {
  readonly pending: number;
  readonly deadlineMs: number;
}

/** Frame bytes a session holds while a SetCustomMiningJob waits (past it: closed). */
export const HELD_INPUT_BYTES_MAX = 1024 * 1024;

/** What every session shares; built once by the Gateway. */
export interface SessionContext extends ResponderContext {
  readonly idleTimeoutMs: number;
  readonly auth: Authenticator;
  readonly factory: JobFactory;
  readonly extranonce: ExtranonceAllocator;
  readonly channelsSettings: ChannelsSettings;
  readonly sha256: (data: Uint8Array) => Uint8Array;
  readonly shareIds: ShareIdAllocator;
  readonly emit: GatewayEventSink;
  /** Called BEFORE the share's own event and ack: the block goes out first (SPEC §4). */
  readonly onBlock: (candidate: BlockCandidate, shareId: string, connId: number, identity: string) => void;
  readonly workSelection?: WorkSelectionHandler;
  /** Issue 4: a stale hold is on, so an accepted share is on held work (SPEC §6). */
  readonly staleHold?: () => boolean;
  /** gateway.mode, stamped on share_accepted (issue 5 item 1). Default 'observe'. */
  readonly mode?: 'shadow' | 'observe' | 'inline';
  /** limits.max_invalid_shares_per_minute (issue 12 item 4); absent = no budget. */
  readonly invalidSharesPerMinuteMax?: number;
  /**
   * Issue 13 item 2: send template jobs and SetNewPrevHash once per group channel on
   * connections that did not set REQUIRES_STANDARD_JOBS (core/channels/channels.ts header).
   * Default true; false = one message per channel everywhere (GatewayOptions.groupChannels).
   */
  readonly groupChannels?: boolean;
}

export type SessionState = 'handshake' | 'expect_setup' | 'ready' | 'closed';

interface _ChannelInfo {
  readonly kind: ChannelKind;
  readonly identity: string;
  readonly worker: string | null;
  /** The channel's extranonce prefix, hex (share_accepted.extranonce). */
  readonly prefixHex: string;
  /** Created on the first 0x0002 TLV (bounded by auth.max_workers_per_channel). */
  workers: ChannelWorkers | null;
}

type _DeadlineName = 'setup' | 'idle' | 'custom_job';

const NO_EXTENSIONS: DecodeOptions = {};
const WORKER_EXTENSION: DecodeOptions = { negotiatedExtensions: [WORKER_HASHRATE_TRACKING] };

export class Session {
  readonly connId: number;
  readonly noise: NoiseResponderConnection;
  readonly openedAtMs: number;
  /**
   * Gateway bookkeeping: the times of this session's entries in the gateway's deadline heap, a
   * strictly decreasing stack (an entry is pushed only when earlier than every pending one, and
   * the heap pops them in ascending order, i.e. from the top of this stack). Bounded by the
   * number of distinct timers a session has.
   */
  readonly pendingDeadlinesMs: number[] = [];
  sharesAccepted = 0;
  sharesRejected = 0;
  /** Frames of unknown extension types, ignored (spec: MUST ignore). */
  ignoredFrames = 0;
  /** Client CloseChannel for channels that were not open. */
  unknownChannelCloses = 0;

  readonly #ctx: SessionContext;
  readonly #deadlines = new Deadlines<_DeadlineName>();
  readonly #channelInfo = new Map<number, _ChannelInfo>();
  #state: SessionState = 'handshake';
  #channels: MiningChannels | undefined;
  #decodeOptions: DecodeOptions = NO_EXTENSIONS;
  /** SetupConnection set REQUIRES_WORK_SELECTION and it was accepted (issue 4 item 6). */
  #workSelection = false;
  #closeReason: ReasonCode | undefined;
  /** The ticket of a SetCustomMiningJob whose check is out (PendingCustomJob), else null. */
  #awaiting: number | null = null;
  /** Frames received while #awaiting, in order, handled once the answer is in. */
  #held: Frame[] = [];
  #heldBytes = 0;
  /** Latest time seen, for closes triggered while sending (no nowMs at hand). */
  #nowMs: number;
  /**
   * Invalid-share budget (issue 12 item 4): a token bucket of `invalidSharesPerMinuteMax`
   * tokens refilled at that many per minute; each rejected share spends one. A connection that
   * rejects faster than that is closed (`invalid_share_budget_exceeded`), so a flood of invalid
   * shares costs the gateway at most one budget of validation work per minute per connection
   * and cannot crowd out other miners' shares. Honest miners stay far below it: stale shares
   * after a prevhash switch are a handful per channel.
   */
  #invalidShareTokens: number;
  #invalidShareRefilledAtMs: number;

  constructor(connId: number, ctx: SessionContext, nowMs: number, wallMs: number) {
    this.connId = connId;
    this.#ctx = ctx;
    this.openedAtMs = nowMs;
    this.#nowMs = nowMs;
    this.noise = openNoiseResponder(ctx, nowMs, wallMs);
    this.#deadlines.set('setup', nowMs + ctx.handshakeTimeoutMs);
    this.#deadlines.set('idle', nowMs + ctx.idleTimeoutMs);
    this.#invalidShareTokens = ctx.invalidSharesPerMinuteMax ?? Number.POSITIVE_INFINITY;
    this.#invalidShareRefilledAtMs = nowMs;
  }

  get state(): SessionState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** The reason the session closed with, once closed. */
  get closeReason(): ReasonCode | undefined {
    return this.#closeReason;
  }

  /** The connection's channels (after SetupConnection), for the gateway and the issue-4 seam. */
  get channels(): MiningChannels | undefined {
    return this.#channels;
  }

  get channelCount(): number {
    return this.#channelInfo.size;
  }

  /** Whether 0x0002 (worker TLV) was negotiated. */
  get workerExtension(): boolean {
    return this.#decodeOptions === WORKER_EXTENSION;
  }

  /** Bytes from the socket. Never throws on content. */
  receive(bytes: Uint8Array, nowMs: number): void {
    if (this.#state === 'closed') return;
    this.#nowMs = nowMs;
    this.noise.receive(bytes, nowMs);
    this.#drainNoise(nowMs);
  }

  nextDeadlineMs(): number | undefined {
    if (this.#state === 'closed') return undefined;
    let min = this.#deadlines.next();
    const noise = this.noise.nextDeadlineMs();
    if (noise !== undefined && (min === undefined || noise < min)) min = noise;
    const channels = this.#channels?.nextDeadlineMs();
    if (channels !== undefined && channels !== null && (min === undefined || channels < min)) min = channels;
    return min;
  }

  /** Fire due timers. Harmless early or twice. */
  onTimeout(nowMs: number): void {
    if (this.#state === 'closed') return;
    this.#nowMs = nowMs;
    this.noise.onTimeout(nowMs);
    this.#drainNoise(nowMs);
    if (this.closed) return;
    for (const name of this.#deadlines.takeDue(nowMs)) {
      if (name === 'setup') {
        // Re-armed only while waiting; a Ready session has cleared it.
        this.#close('handshake_timeout', `no SetupConnection within ${this.#ctx.handshakeTimeoutMs} ms`, nowMs);
        return;
      }
      if (name === 'idle') {
        this.#close('idle_timeout', `nothing received for ${this.#ctx.idleTimeoutMs} ms`, nowMs);
        return;
      }
      if (name === 'custom_job' && this.#awaiting !== null) {
        const ticket = this.#awaiting;
        this.#resume(this.#ctx.workSelection?.expireSetCustomMiningJob?.(ticket, nowMs, this.#ctx.emit) ?? [], nowMs);
        if (this.closed) return;
      }
    }
    if (this.#channels !== undefined) this.#sendAll(this.#channels.onTimeout(nowMs));
  }

  /**
   * New work for every channel on this connection (future job + SetNewPrevHash, or an update;
   * once per group channel when group jobs are on). `encoder` and `arena` are the broadcast's:
   * one encode per distinct job with 8 bytes patched per message (broadcast-encoder.ts), sealed
   * into the broadcast's shared transmit chunks (core/noise/transmit-arena.ts).
   */
  setTemplate(job: JobTemplate, nowMs: number, encoder?: BroadcastEncoder, arena?: TransmitArena): number {
    if (this.#state !== 'ready' || this.#channels === undefined) return 0;
    const messages = this.#channels.setTemplate(job, nowMs);
    if (encoder === undefined) this.#sendAll(messages);
    else for (const message of messages) this.#sendFrame(encoder.encode(message), arena);
    return messages.length;
  }

  /** Close from our side (limits, slow consumer, issue-4 stale hold). Queued bytes stay pollable. */
  close(reason: ReasonCode, detail: string, nowMs: number): void {
    this.#close(reason, detail, nowMs);
  }

  /** The peer closed TCP: nothing more can be sent. */
  peerClosed(nowMs: number): void {
    this.#close('peer_closed', 'the miner closed the connection', nowMs);
  }

  /**
   * Graceful shutdown: acknowledge every pending accepted share, CloseChannel('shutdown') each
   * channel, then close.
   */
  shutdown(nowMs: number): void {
    if (this.#state === 'closed') return;
    if (this.#channels !== undefined) {
      this.#sendAll(this.#channels.flushAcks());
      this.#sendAll(this.#channels.closeAll(wireString('shutdown')));
      for (const channelId of this.#channelInfo.keys()) {
        this.#ctx.emit({ type: 'channel_closed', conn_id: this.connId, channel_id: channelId, reason_code: 'shutdown' });
      }
      this.#channelInfo.clear();
    }
    this.#close('shutdown', 'gateway shutting down', nowMs);
  }

  /**
   * The answer to this connection's pending SetCustomMiningJob check (Gateway.customJobTokenAnswer).
   * False when nothing waits for `ticket` here (closed, timed out): the caller counts it late.
   */
  answerCustomJob(ticket: number, answer: CustomJobTokenAnswer, nowMs: number): boolean {
    if (this.#state === 'closed' || this.#awaiting !== ticket || this.#channels === undefined) return false;
    this.#nowMs = nowMs;
    this.#resume(this.#ctx.workSelection?.completeSetCustomMiningJob?.(ticket, answer, this.#channels, nowMs, this.#ctx.emit) ?? [], nowMs);
    return true;
  }

  /** Whether a SetCustomMiningJob check is out (input held). */
  get awaitingCustomJob(): boolean {
    return this.#awaiting !== null;
  }

  // ---- input ---------------------------------------------------------------------------------

  /** Send the pending job's answer, then handle the held frames in order until the next wait. */
  #resume(messages: Sv2Message[], nowMs: number): void {
    this.#awaiting = null;
    this.#deadlines.clear('custom_job');
    this.#sendAll(messages);
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    for (let i = 0; i < held.length; i++) {
      if (this.#state === 'closed') return;
      if (this.#awaiting !== null) {
        // A held SetCustomMiningJob went out in turn: the rest waits for its answer.
        for (let j = i; j < held.length; j++) this.#hold(held[j]!, nowMs);
        return;
      }
      this.#handleFrame(held[i]!, nowMs);
    }
  }

  #hold(frame: Frame, nowMs: number): void {
    this.#heldBytes += FRAME_HEADER_BYTES + frame.payload.length;
    if (this.#heldBytes > HELD_INPUT_BYTES_MAX) {
      this.#close('custom_job_held_input_exceeded', `more than ${HELD_INPUT_BYTES_MAX} bytes sent while a SetCustomMiningJob waited for its token check`, nowMs);
      return;
    }
    this.#held.push(frame);
  }

  #drainNoise(nowMs: number): void {
    for (let event = this.noise.pollEvent(); event !== undefined; event = this.noise.pollEvent()) {
      if (this.#state === 'closed') continue; // drain and drop after a close
      if (event.type === 'frame') {
        this.#deadlines.set('idle', nowMs + this.#ctx.idleTimeoutMs);
        // Per-connection order: nothing overtakes a SetCustomMiningJob being checked.
        if (this.#awaiting !== null) this.#hold(event.frame, nowMs);
        else this.#handleFrame(event.frame, nowMs);
      } else if (event.type === 'handshake-complete') {
        this.#state = 'expect_setup';
      } else {
        this.#closeFromNoise(event.error, nowMs);
      }
    }
  }

  #handleFrame(frame: Frame, nowMs: number): void {
    const extension = frame.header.extensionType & 0x7fff;
    if (extension !== 0 && extension !== EXTENSIONS_NEGOTIATION) {
      this.ignoredFrames += 1;
      return;
    }
    const decoded = decodeMessage(frame, this.#decodeOptions);
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
      case 'SubmitSharesStandard':
      case 'SubmitSharesExtended':
        this.#submit(message, nowMs);
        return;
      case 'OpenStandardMiningChannel':
        this.#open(message, 'standard', nowMs);
        return;
      case 'OpenExtendedMiningChannel':
        this.#open(message, 'extended', nowMs);
        return;
      case 'UpdateChannel': {
        const outcome = this.#channels!.updateChannel(message, nowMs);
        this.#sendAll(outcome.messages);
        return;
      }
      case 'CloseChannel':
        if (this.#channels!.closeChannel(message.channelId)) {
          this.#channelInfo.delete(message.channelId);
          this.#ctx.emit({ type: 'channel_closed', conn_id: this.connId, channel_id: message.channelId, reason_code: 'channel_closed_by_client' });
        } else {
          this.unknownChannelCloses += 1;
        }
        return;
      case 'RequestExtensions':
        this.#requestExtensions(message.requestId, message.requestedExtensions);
        return;
      case 'SetCustomMiningJob':
        // Only on a connection that negotiated REQUIRES_WORK_SELECTION (SV2.md §4).
        if (this.#ctx.workSelection === undefined || !this.#workSelection) {
          this.#close('unexpected_message', 'SetCustomMiningJob without REQUIRES_WORK_SELECTION', nowMs);
        } else {
          const outcome = this.#ctx.workSelection.handleSetCustomMiningJob(this.connId, this.#channels!, message, nowMs, this.#ctx.emit);
          if (Array.isArray(outcome)) this.#sendAll(outcome);
          else {
            this.#awaiting = outcome.pending;
            this.#deadlines.set('custom_job', outcome.deadlineMs);
          }
        }
        return;
      case 'SetupConnection':
        this.#close('unexpected_message', 'second SetupConnection', nowMs);
        return;
      default:
        this.#close('unexpected_message', `${message.type} is not a client-to-server mining message`, nowMs);
    }
  }

  #setup(m: Extract<Sv2Message, { type: 'SetupConnection' }>, nowMs: number): void {
    const supported =
      MiningSetupFlags.requiresStandardJobs |
      MiningSetupFlags.requiresVersionRolling |
      (this.#ctx.workSelection !== undefined ? MiningSetupFlags.requiresWorkSelection : 0);
    // Protocol 0 = Mining.
    const refusal = setupConnectionRefusal(m, 0, supported);
    if (refusal !== null) {
      this.#refuseSetup(refusal.flags, refusal.reason, describeSetupConnection(m), nowMs);
      return;
    }
    // Never echo the client's flags (SV2.md §9.9): 0 = no server requirements.
    this.#send({ type: 'SetupConnectionSuccess', usedVersion: SV2_VERSION, flags: 0 });
    this.#state = 'ready';
    this.#workSelection = (m.flags & MiningSetupFlags.requiresWorkSelection) !== 0;
    this.#deadlines.clear('setup');
    this.#channels = new MiningChannels({
      factory: this.#ctx.factory,
      extranonce: this.#ctx.extranonce,
      settings: this.#ctx.channelsSettings,
      // Group jobs (spec §5.2.1, §5.3.16–17) unless the client said it can only take standard
      // jobs (REQUIRES_STANDARD_JOBS: an end device), as SRI's pool_sv2 decides. Not on a
      // work-selection connection either: SRI's pool sends such a client no template jobs at
      // all, so nothing there has ever been tested against group-addressed ones.
      groupJobs: (this.#ctx.groupChannels ?? true) && (m.flags & MiningSetupFlags.requiresStandardJobs) === 0 && !this.#workSelection,
      // No sha256 here: the channels take the factory's double hash (core/mining/hash.ts rule).
    });
    this.#ctx.emit({
      type: 'connection_setup',
      conn_id: this.connId,
      used_version: SV2_VERSION,
      requested_flags: m.flags,
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

  #requestExtensions(requestId: number, requested: readonly number[]): void {
    const supported = requested.filter((e, i) => SUPPORTED_EXTENSIONS.includes(e) && requested.indexOf(e) === i);
    if (supported.length === 0 && requested.length > 0) {
      // Only when nothing requested is offered (SRI's mining handlers); mixed requests get the subset.
      this.#send({ type: 'RequestExtensionsError', requestId, unsupportedExtensions: [...requested], requiredExtensions: [] });
    } else {
      this.#send({ type: 'RequestExtensionsSuccess', requestId, supportedExtensions: supported });
      if (supported.includes(WORKER_HASHRATE_TRACKING)) this.#decodeOptions = WORKER_EXTENSION;
    }
    this.#ctx.emit({ type: 'extensions_negotiated', conn_id: this.connId, requested: [...requested], supported });
  }

  #open(m: OpenStandardMiningChannel | OpenExtendedMiningChannel, kind: ChannelKind, nowMs: number): void {
    const decision = this.#ctx.auth.authenticate(m.userIdentity);
    if (!decision.ok) {
      const wire = wireString(decision.reason);
      this.#send({ type: 'OpenMiningChannelError', requestId: m.requestId, errorCode: wire });
      this.#ctx.emit({
        type: 'channel_open_rejected',
        conn_id: this.connId,
        request_id: m.requestId,
        kind,
        identity: decision.identity,
        reason_code: decision.reason,
        wire,
      });
      return;
    }
    if (kind === 'standard' && this.#workSelection) {
      // Custom jobs need the coinbase in the miner's hands: extended channels only (SRI string).
      const wire = wireString('standard_channels_not_supported');
      this.#send({ type: 'OpenMiningChannelError', requestId: m.requestId, errorCode: wire });
      this.#ctx.emit({ type: 'channel_open_rejected', conn_id: this.connId, request_id: m.requestId, kind, identity: decision.identity, reason_code: 'standard_channels_not_supported', wire });
      return;
    }
    // The channel layer never sees the credential.
    const channels = this.#channels!;
    const outcome =
      kind === 'standard'
        ? channels.openStandard({ ...(m as OpenStandardMiningChannel), userIdentity: decision.identity }, nowMs)
        : channels.openExtended({ ...(m as OpenExtendedMiningChannel), userIdentity: decision.identity }, nowMs);
    if (!outcome.ok) {
      this.#sendAll(outcome.messages);
      this.#ctx.emit({
        type: 'channel_open_rejected',
        conn_id: this.connId,
        request_id: m.requestId,
        kind,
        identity: decision.identity,
        reason_code: outcome.reasonCode,
        wire: outcome.messages[0].errorCode,
      });
      return;
    }
    this.#channelInfo.set(outcome.channelId, { kind, identity: decision.identity, worker: decision.worker, prefixHex: bytesToHex(outcome.extranoncePrefix), workers: null });
    this.#sendAll(outcome.messages);
    this.#ctx.emit({
      type: 'channel_opened',
      conn_id: this.connId,
      channel_id: outcome.channelId,
      kind,
      identity: decision.identity,
      worker: decision.worker,
      nominal_hash_rate: m.nominalHashRate,
      target: targetToDisplayHex(outcome.target),
      difficulty: difficultyFromTarget(outcome.target),
      extranonce_prefix: bytesToHex(outcome.extranoncePrefix),
      extranonce_size: outcome.extranonceSize,
    });
  }

  #submit(m: SubmitSharesStandard | SubmitSharesExtended, nowMs: number): void {
    const channels = this.#channels!;
    const info = this.#channelInfo.get(m.channelId);
    let worker = info?.worker ?? null;
    // 0x0002 worker TLV (SV2.md §10): only decoded when negotiated; limits from SPEC §9.
    if (info !== undefined && m.type === 'SubmitSharesExtended' && m.tlvs !== undefined) {
      const tlvWorker = workerIdentityOf(m.tlvs);
      let refusal: 'worker_id_too_long' | 'too_many_workers' | undefined;
      if (!tlvWorker.ok) refusal = 'worker_id_too_long';
      else if (tlvWorker.value !== null) {
        info.workers ??= new ChannelWorkers(this.#ctx.auth.maxWorkersPerChannel, this.#ctx.auth.maxWorkerIdBytes);
        refusal = info.workers.admit(tlvWorker.value, utf8(tlvWorker.value).length);
        worker = tlvWorker.value;
      }
      if (refusal !== undefined) {
        this.#reject(m, info.identity, worker, refusal, wireString(refusal));
        return;
      }
    }
    const outcome = m.type === 'SubmitSharesStandard' ? channels.submitStandard(m, nowMs) : channels.submitExtended(m, nowMs);
    if (!outcome.ok) {
      this.#reject(m, info?.identity ?? null, worker, outcome.reasonCode, outcome.wire, outcome.message);
      return;
    }
    this.sharesAccepted += 1;
    const shareId = this.#ctx.shareIds.next();
    const identity = info?.identity ?? '';
    if (outcome.block !== null) this.#ctx.onBlock(outcome.block, shareId, this.connId, identity);
    this.#ctx.emit({
      type: 'share_accepted',
      share_id: shareId,
      conn_id: this.connId,
      channel_id: m.channelId,
      sequence_number: m.sequenceNumber,
      job_id: m.jobId,
      template_id: outcome.templateId.toString(),
      identity,
      worker,
      difficulty: outcome.difficulty,
      hash: outcome.hashDisplay,
      block: outcome.block !== null,
      // Held work is validated and acknowledged as usual, only marked (SPEC §6).
      stale_hold: this.#ctx.staleHold?.() ?? false,
      // What a pool backend needs to re-check the share (issue 5 item 1): the submitted header
      // fields and the full extranonce it was mined with (standard channels: the prefix only).
      nonce: m.nonce,
      ntime: m.ntime,
      version: m.version,
      extranonce: m.type === 'SubmitSharesExtended' ? (info?.prefixHex ?? '') + bytesToHex(m.extranonce) : (info?.prefixHex ?? ''),
      mode: this.#ctx.mode ?? 'observe',
    });
    if (outcome.ack !== null) this.#send(outcome.ack);
  }

  #reject(
    m: SubmitSharesStandard | SubmitSharesExtended,
    identity: string | null,
    worker: string | null,
    reason: ReasonCode,
    wire: string,
    message: Sv2Message = { type: 'SubmitSharesError', channelId: m.channelId, sequenceNumber: m.sequenceNumber, errorCode: wire },
  ): void {
    this.sharesRejected += 1;
    this.#send(message);
    this.#ctx.emit({
      type: 'share_rejected',
      conn_id: this.connId,
      channel_id: m.channelId,
      sequence_number: m.sequenceNumber,
      job_id: m.jobId,
      identity,
      worker,
      reason_code: reason,
      wire,
    });
    this.#spendInvalidShareToken();
  }

  /** One rejected share against the budget; closes the connection when it is spent. */
  #spendInvalidShareToken(): void {
    const perMinute = this.#ctx.invalidSharesPerMinuteMax;
    if (perMinute === undefined) return;
    const nowMs = this.#nowMs;
    const elapsedMs = nowMs - this.#invalidShareRefilledAtMs;
    if (elapsedMs > 0) {
      this.#invalidShareTokens = Math.min(perMinute, this.#invalidShareTokens + (elapsedMs * perMinute) / 60_000);
      this.#invalidShareRefilledAtMs = nowMs;
    }
    this.#invalidShareTokens -= 1;
    if (this.#invalidShareTokens < 0) {
      // The SubmitShares.Error for this share is already queued; it goes out before the close.
      this.#close('invalid_share_budget_exceeded', `more than ${perMinute} rejected shares per minute (limits.max_invalid_shares_per_minute)`, nowMs);
    }
  }

  // ---- output and close ------------------------------------------------------------------------

  #send(message: Sv2Message): void {
    if (this.#state === 'closed') return;
    this.#sendFrame(encodeMessage(message));
  }

  #sendFrame(plaintextFrame: Uint8Array, arena?: TransmitArena): void {
    if (this.#state === 'closed') return;
    const sent = this.noise.send(plaintextFrame, arena);
    if (!sent.ok) this.#closeFromNoise(sent.error, this.#nowMs);
  }

  #sendAll(messages: readonly Sv2Message[]): void {
    for (const message of messages) this.#send(message);
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
    this.#deadlines.clear('idle');
    this.#deadlines.clear('custom_job');
    if (this.#awaiting !== null) this.#ctx.workSelection?.abandonSetCustomMiningJob?.(this.#awaiting);
    this.#awaiting = null;
    this.#held = [];
    this.#heldBytes = 0;
    // Local close; already-queued bytes (an .Error, CloseChannels) stay pollable.
    this.noise.close(protocolError(reason, 'local', detail));
    while (this.noise.pollEvent() !== undefined) {
      // The Noise 'closed' event for our own close carries nothing new.
    }
    this.#ctx.emit({
      type: 'connection_closed',
      conn_id: this.connId,
      reason_code: reason,
      detail,
      ...(extra.field === undefined ? {} : { field: extra.field }),
      ...(extra.wire === undefined ? {} : { wire: extra.wire }),
      channels: this.#channelInfo.size,
      shares_accepted: this.sharesAccepted,
      shares_rejected: this.sharesRejected,
      duration_ms: Math.max(0, nowMs - this.openedAtMs),
    });
  }
}
