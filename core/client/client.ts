// Our SV2 mining client (the initiator side), sans-IO like every core protocol object
// (STYLE.md #1): bytes and `nowMs` in; bytes, events and the next deadline out. It drives a
// NoiseInitiatorConnection and speaks the Mining protocol on top of it. Used by tests, the
// demo's simulated miners (adapters/fleet.ts) and the benchmarks, so it tracks exactly what a
// miner needs to build shares and nothing more.
//
//   receive(bytes, nowMs)   → socket bytes in
//   pollTransmit()          → bytes for the socket
//   pollEvent()             → ClientEvent (snake_case, like the gateway's events)
//   nextDeadlineMs() / onTimeout(nowMs)
//   openStandardChannel / openExtendedChannel / updateChannel / closeChannel  → requests out
//   work(channelId)         → MiningWork for the finder (core/client/finder.ts)
//   submitShare(channelId, fields) → SubmitSharesStandard/Extended out, returns sequence_number
//
// Connection flow (SV2.md §3.8): Noise act 1 is queued at construction; on handshake-complete
// we send SetupConnection (Mining, versions 2..2); SetupConnection.Success makes the client
// `ready`; if extensions were asked for, RequestExtensions follows at once (SV2.md §10).
// Channel state follows SV2.md §5.2–§5.3: a future job (min_ntime = None) waits for the
// SetNewPrevHash naming it; a SetNewPrevHash invalidates every other job on the channel; a job
// with min_ntime set is active at once on the current prev hash; SetTarget changes the target of
// later jobs and of future jobs not yet activated (jobs already active keep theirs, as the
// server validates against the per-job target). Messages sent to a group channel id apply to
// every member channel.
//
// Bounds (STYLE.md #8): channels per client, jobs per channel (oldest inactive job evicted),
// events queued (overflow counted in `eventsDropped`).
import type { CryptoProvider } from '../crypto/provider.ts';
import type { RandomSource } from '../random.ts';
import type { Clock } from '../clock.ts';
import { Deadlines } from '../clock.ts';
import { protocolError, type ProtocolError } from '../errors.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../codec/index.ts';
import { EXTENSIONS_NEGOTIATION, WORKER_HASHRATE_TRACKING, workerIdentityTlv } from '../codec/tlv.ts';
import { NoiseInitiatorConnection, type CertificatePolicy } from '../noise/index.ts';
import { concatBytes } from '../bytes.ts';
import { merkleRootWith } from '../mining/merkle.ts';
import { doubleHashOf, resolveSha256d, type Sha256, type Sha256d } from '../mining/hash.ts';
import type { MiningWork } from './finder.ts';

export const SETUP_TIMEOUT_MS_DEFAULT = 10_000;
export const CLIENT_CHANNELS_MAX_DEFAULT = 64;
export const CLIENT_JOBS_PER_CHANNEL_MAX_DEFAULT = 32;
export const CLIENT_EVENTS_MAX_DEFAULT = 4096;

/** SetupConnection fields a caller may choose (protocol and versions are fixed: Mining, 2..2). */
export interface ClientSetupFields {
  readonly flags: number;
  readonly endpointHost: string;
  readonly endpointPort: number;
  readonly vendor: string;
  readonly hardwareVersion: string;
  readonly firmware: string;
  readonly deviceId: string;
}

export interface MiningClientOptions {
  readonly provider: CryptoProvider;
  /** Noise ephemeral keys only. */
  readonly random: RandomSource;
  /** Pin the pool authority key (secure), or `unverified` explicitly. */
  readonly certificatePolicy: CertificatePolicy;
  /** Wall clock for the certificate validity check; required with a pinned policy. */
  readonly wallClock?: Pick<Clock, 'wallMs'>;
  readonly setup?: Partial<ClientSetupFields>;
  /** Extensions to request after SetupConnection.Success, e.g. [0x0002] (worker TLV). */
  readonly requestExtensions?: readonly number[];
  readonly handshakeTimeoutMs?: number;
  /** From construction until SetupConnection.Success; default 10,000. */
  readonly setupTimeoutMs?: number;
  readonly channelsMax?: number;
  readonly jobsPerChannelMax?: number;
  readonly eventsMax?: number;
  /** A single hash for merkle roots of extended work, honoured as given (slower than the default). */
  readonly sha256?: Sha256;
  /**
   * The double hash for merkle roots of extended work. Default (core/mining/hash.ts rule):
   * `sha256` if given, else the provider's native double hash where it is faster (Bun), else
   * the pure-TS one.
   */
  readonly sha256d?: Sha256d;
}

export type ClientState = 'handshake' | 'expect-setup-success' | 'ready' | 'closed';
export type ChannelKind = 'standard' | 'extended';

export type ClientEvent =
  | { readonly type: 'handshake_complete'; readonly certificate_verified: boolean }
  | { readonly type: 'setup_success'; readonly used_version: number; readonly flags: number }
  | { readonly type: 'setup_error'; readonly flags: number; readonly error_code: string }
  | { readonly type: 'extensions_negotiated'; readonly supported: readonly number[] }
  | { readonly type: 'extensions_refused'; readonly unsupported: readonly number[]; readonly required: readonly number[] }
  | {
      readonly type: 'channel_opened';
      readonly request_id: number;
      readonly channel_id: number;
      readonly kind: ChannelKind;
      readonly group_channel_id: number;
      readonly target: Uint8Array;
      readonly extranonce_prefix: Uint8Array;
      readonly extranonce_size: number;
    }
  | { readonly type: 'channel_open_failed'; readonly request_id: number; readonly error_code: string }
  | { readonly type: 'new_job'; readonly channel_id: number; readonly job_id: number; readonly future: boolean; readonly extended: boolean }
  | { readonly type: 'new_prev_hash'; readonly channel_id: number; readonly job_id: number; readonly job_known: boolean }
  | { readonly type: 'target_changed'; readonly channel_id: number; readonly target: Uint8Array }
  | { readonly type: 'extranonce_prefix_changed'; readonly channel_id: number; readonly extranonce_prefix: Uint8Array }
  | {
      readonly type: 'shares_accepted';
      readonly channel_id: number;
      readonly last_sequence_number: number;
      readonly accepted_count: number;
      readonly shares_sum: bigint;
    }
  | { readonly type: 'share_rejected'; readonly channel_id: number; readonly sequence_number: number; readonly error_code: string }
  | { readonly type: 'update_channel_error'; readonly channel_id: number; readonly error_code: string }
  | { readonly type: 'channel_closed'; readonly channel_id: number; readonly reason_code: string }
  | { readonly type: 'unhandled_message'; readonly message: Sv2Message }
  | { readonly type: 'closed'; readonly error: ProtocolError };

/** One job as the client keeps it. */
export interface ClientJob {
  readonly jobId: number;
  /** min_ntime from the job; null = future job (SV2.md §5.3). */
  readonly minNtime: number | null;
  readonly version: number;
  readonly versionRollingAllowed: boolean;
  /** Standard job: the merkle root the server computed for this channel. */
  readonly merkleRoot?: Uint8Array;
  /** Extended job: the pieces to compute it (SV2.md §5.4). */
  readonly merklePath?: readonly Uint8Array[];
  readonly coinbaseTxPrefix?: Uint8Array;
  readonly coinbaseTxSuffix?: Uint8Array;
  /** The share target this job is validated against (SV2.md §5.3). */
  target: Uint8Array;
  /** Activated by a SetNewPrevHash, or issued with min_ntime on the current prev hash. */
  active: boolean;
}

export interface ChannelStats {
  submitted: number;
  accepted: number;
  rejected: number;
  /** Sum of new_shares_sum over the acknowledgements (difficulty units, SV2.md §5.3). */
  sharesSum: bigint;
}

/** A channel as the client sees it. Read-only to callers. */
export interface ClientChannel {
  readonly channelId: number;
  readonly kind: ChannelKind;
  readonly requestId: number;
  readonly userIdentity: string;
  readonly groupChannelId: number;
  readonly target: Uint8Array;
  readonly extranoncePrefix: Uint8Array;
  /** Rollable extranonce bytes the client owns (extended); 0 for standard channels. */
  readonly extranonceSize: number;
  readonly jobs: ReadonlyMap<number, ClientJob>;
  /** The job shares should be built on, once a prev hash is known. */
  readonly activeJobId: number | undefined;
  readonly prevHash: Uint8Array | undefined;
  readonly nbits: number | undefined;
  /** min_ntime from the last SetNewPrevHash. */
  readonly prevHashMinNtime: number | undefined;
  readonly stats: Readonly<ChannelStats>;
}

interface _Channel {
  channelId: number;
  kind: ChannelKind;
  requestId: number;
  userIdentity: string;
  groupChannelId: number;
  target: Uint8Array;
  extranoncePrefix: Uint8Array;
  extranonceSize: number;
  jobs: Map<number, ClientJob>;
  activeJobId: number | undefined;
  prevHash: Uint8Array | undefined;
  nbits: number | undefined;
  prevHashMinNtime: number | undefined;
  nextSequenceNumber: number;
  extranonceCounter: bigint;
  stats: ChannelStats;
}

interface _PendingOpen {
  readonly kind: ChannelKind;
  readonly userIdentity: string;
}

export interface OpenChannelRequest {
  readonly userIdentity: string;
  /** Hashes per second (F32 on the wire). */
  readonly nominalHashRate: number;
  /** U256 LE; default all ones (no constraint). */
  readonly maxTarget?: Uint8Array;
}

export interface OpenExtendedChannelRequest extends OpenChannelRequest {
  /** Rollable extranonce bytes asked for; default 8. */
  readonly minExtranonceSize?: number;
}

/** The fields of one share submission. Nothing is checked against the job: tests send bad ones on purpose. */
export interface ShareFields {
  readonly jobId: number;
  readonly nonce: number;
  readonly ntime: number;
  readonly version: number;
  /** Extended channels only: the rollable extranonce (must be extranonce_size bytes to be valid). */
  readonly extranonce?: Uint8Array;
  /** Extended channels with extension 0x0002 negotiated: the worker identity TLV (≤ 32 bytes). */
  readonly worker?: string;
}

type _DeadlineName = 'setup';

const _MAX_TARGET = new Uint8Array(32).fill(0xff);

export class MiningClient {
  readonly #noise: NoiseInitiatorConnection;
  readonly #setup: ClientSetupFields;
  readonly #requestExtensions: readonly number[];
  readonly #deadlines = new Deadlines<_DeadlineName>();
  readonly #events: ClientEvent[] = [];
  readonly #eventsMax: number;
  readonly #channelsMax: number;
  readonly #jobsPerChannelMax: number;
  readonly #sha256d: Sha256d;
  readonly #channels = new Map<number, _Channel>();
  readonly #pendingOpens = new Map<number, _PendingOpen>();
  #state: ClientState = 'handshake';
  #error: ProtocolError | undefined;
  #nextRequestId = 1;
  #negotiated: readonly number[] = [];
  #eventsDropped = 0;

  constructor(options: MiningClientOptions, nowMs: number) {
    if (options === null || typeof options !== 'object') throw new TypeError(`MiningClient: options must be an object, got ${String(options)}`);
    const setupTimeoutMs = options.setupTimeoutMs ?? SETUP_TIMEOUT_MS_DEFAULT;
    if (!(Number.isFinite(setupTimeoutMs) && setupTimeoutMs > 0)) throw new RangeError(`MiningClient: setupTimeoutMs must be a positive finite number, got ${setupTimeoutMs}`);
    this.#channelsMax = _positiveInt('channelsMax', options.channelsMax ?? CLIENT_CHANNELS_MAX_DEFAULT);
    this.#jobsPerChannelMax = _positiveInt('jobsPerChannelMax', options.jobsPerChannelMax ?? CLIENT_JOBS_PER_CHANNEL_MAX_DEFAULT);
    this.#eventsMax = _positiveInt('eventsMax', options.eventsMax ?? CLIENT_EVENTS_MAX_DEFAULT);
    this.#requestExtensions = [...(options.requestExtensions ?? [])];
    for (const ext of this.#requestExtensions) {
      if (!Number.isInteger(ext) || ext < 0 || ext > 0xffff) throw new RangeError(`MiningClient: requestExtensions entries must be U16, got ${ext}`);
    }
    this.#sha256d = resolveSha256d(options, doubleHashOf(options.provider));
    this.#setup = {
      flags: 0,
      endpointHost: '',
      endpointPort: 0,
      vendor: 'ReserveGrid OS',
      hardwareVersion: 'cpu',
      firmware: '0.1.0',
      deviceId: '',
      ...options.setup,
    };
    this.#noise = new NoiseInitiatorConnection(
      {
        provider: options.provider,
        random: options.random,
        certificatePolicy: options.certificatePolicy,
        ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
        ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
      },
      nowMs,
    );
    this.#deadlines.set('setup', nowMs + setupTimeoutMs);
    this.#drainNoise();
  }

  get state(): ClientState {
    return this.#state;
  }

  /** The terminal error once closed. */
  get error(): ProtocolError | undefined {
    return this.#error;
  }

  /** Extensions the server agreed to (RequestExtensions.Success). */
  get negotiatedExtensions(): readonly number[] {
    return this.#negotiated;
  }

  /** Events dropped because the queue was full (the driver did not poll). */
  get eventsDropped(): number {
    return this.#eventsDropped;
  }

  get channels(): ReadonlyMap<number, ClientChannel> {
    return this.#channels;
  }

  channel(channelId: number): ClientChannel | undefined {
    return this.#channels.get(channelId);
  }

  // ---- I/O side --------------------------------------------------------------------------

  /** Bytes from the socket. The client keeps views of them. Never throws on their content. */
  receive(bytes: Uint8Array, nowMs: number): void {
    this.onTimeout(nowMs);
    if (this.#state === 'closed') return;
    this.#noise.receive(bytes, nowMs);
    this.#drainNoise();
  }

  pollTransmit(): Uint8Array | undefined {
    return this.#noise.pollTransmit();
  }

  pollEvent(): ClientEvent | undefined {
    return this.#events.shift();
  }

  nextDeadlineMs(): number | undefined {
    if (this.#state === 'closed') return undefined;
    const own = this.#deadlines.next();
    const noise = this.#noise.nextDeadlineMs();
    if (own === undefined) return noise;
    if (noise === undefined) return own;
    return Math.min(own, noise);
  }

  /** Harmless early or twice. */
  onTimeout(nowMs: number): void {
    if (this.#state === 'closed') return;
    this.#noise.onTimeout(nowMs);
    this.#drainNoise();
    if (this.#isClosed()) return;
    for (const name of this.#deadlines.takeDue(nowMs)) {
      if (name === 'setup' && (this.#state === 'handshake' || this.#state === 'expect-setup-success')) {
        this.#fail(protocolError('setup-timeout', 'local', 'no SetupConnection.Success in time'));
      }
    }
  }

  /** Close from our side; bytes already queued stay pollable. */
  close(error: ProtocolError = protocolError('closed-locally', 'local', 'client closed the connection')): void {
    this.#fail(error);
  }

  // ---- requests --------------------------------------------------------------------------

  /** OpenStandardMiningChannel; returns its request_id. Needs the `ready` state. */
  openStandardChannel(request: OpenChannelRequest): number {
    const requestId = this.#beginOpen('openStandardChannel', request, 'standard');
    this.#send({
      type: 'OpenStandardMiningChannel',
      requestId,
      userIdentity: request.userIdentity,
      nominalHashRate: request.nominalHashRate,
      maxTarget: request.maxTarget ?? _MAX_TARGET,
    });
    return requestId;
  }

  /** OpenExtendedMiningChannel; returns its request_id. Needs the `ready` state. */
  openExtendedChannel(request: OpenExtendedChannelRequest): number {
    const minExtranonceSize = request.minExtranonceSize ?? 8;
    if (!Number.isInteger(minExtranonceSize) || minExtranonceSize < 0 || minExtranonceSize > 0xffff) {
      throw new RangeError(`openExtendedChannel: minExtranonceSize must be a U16, got ${minExtranonceSize}`);
    }
    const requestId = this.#beginOpen('openExtendedChannel', request, 'extended');
    this.#send({
      type: 'OpenExtendedMiningChannel',
      requestId,
      userIdentity: request.userIdentity,
      nominalHashRate: request.nominalHashRate,
      maxTarget: request.maxTarget ?? _MAX_TARGET,
      minExtranonceSize,
    });
    return requestId;
  }

  updateChannel(channelId: number, nominalHashRate: number, maximumTarget: Uint8Array = _MAX_TARGET): void {
    this.#requireReady('updateChannel');
    this.#send({ type: 'UpdateChannel', channelId, nominalHashRate, maximumTarget });
  }

  /** CloseChannel from the client; the channel is forgotten at once. */
  closeChannel(channelId: number, reasonCode = 'client-close'): void {
    this.#requireReady('closeChannel');
    this.#send({ type: 'CloseChannel', channelId, reasonCode });
    this.#channels.delete(channelId);
  }

  /**
   * Submit a share on `channelId` (any channel id, even unknown: tests probe the server with
   * bad ones). Returns the sequence_number used. Misuse throws: a worker name without the
   * negotiated 0x0002 extension, an extranonce on a standard channel.
   */
  submitShare(channelId: number, fields: ShareFields): number {
    this.#requireReady('submitShare');
    const channel = this.#channels.get(channelId);
    const extended = fields.extranonce !== undefined || channel?.kind === 'extended';
    if (channel?.kind === 'standard' && fields.extranonce !== undefined) {
      throw new TypeError(`submitShare: channel ${channelId} is standard; extranonce is for extended channels`);
    }
    if (fields.worker !== undefined && !extended) throw new TypeError('submitShare: the worker TLV needs an extended channel');
    if (fields.worker !== undefined && !this.#negotiated.includes(WORKER_HASHRATE_TRACKING)) {
      throw new TypeError('submitShare: the worker TLV needs extension 0x0002 negotiated (requestExtensions: [0x0002])');
    }
    const sequenceNumber = channel === undefined ? 0 : channel.nextSequenceNumber++;
    if (channel !== undefined) channel.stats.submitted++;
    const common = { channelId, sequenceNumber, jobId: fields.jobId, nonce: fields.nonce, ntime: fields.ntime, version: fields.version };
    if (extended) {
      const extranonce = fields.extranonce ?? new Uint8Array(0);
      this.#send(
        fields.worker === undefined
          ? { type: 'SubmitSharesExtended', ...common, extranonce }
          : { type: 'SubmitSharesExtended', ...common, extranonce, tlvs: [workerIdentityTlv(fields.worker)] },
      );
    } else {
      this.#send({ type: 'SubmitSharesStandard', ...common });
    }
    return sequenceNumber;
  }

  /**
   * The work for the channel's active job, or undefined before the first prev hash. Extended
   * channels get a fresh rollable extranonce per call (a counter, little-endian, exactly
   * extranonce_size bytes) unless one is given.
   */
  work(channelId: number, extranonce?: Uint8Array): MiningWork | undefined {
    const channel = this.#channels.get(channelId);
    if (channel === undefined || channel.activeJobId === undefined || channel.prevHash === undefined || channel.nbits === undefined) return undefined;
    const job = channel.jobs.get(channel.activeJobId);
    if (job === undefined) return undefined;
    let merkleRoot: Uint8Array;
    let rolled: Uint8Array = new Uint8Array(0);
    if (job.merkleRoot !== undefined) {
      merkleRoot = job.merkleRoot;
    } else {
      if (channel.kind === 'extended') rolled = extranonce ?? this.#nextExtranonce(channel);
      if (rolled.length !== (channel.kind === 'extended' ? channel.extranonceSize : 0)) {
        throw new RangeError(`work: extranonce must be ${channel.extranonceSize} bytes on channel ${channelId}, got ${rolled.length}`);
      }
      // SHA256d(prefix ‖ extranonce prefix ‖ rolled ‖ suffix) folded up the path (SV2.md §5.4).
      const txid = this.#sha256d(concatBytes(job.coinbaseTxPrefix!, channel.extranoncePrefix, rolled, job.coinbaseTxSuffix!));
      merkleRoot = merkleRootWith(txid, job.merklePath!, this.#sha256d, txid);
    }
    // Header ntime: never below the job's or the prev hash's min_ntime (SV2.md §5.5 step 5).
    const ntime = Math.max(job.minNtime ?? 0, channel.prevHashMinNtime ?? 0);
    return {
      channelId,
      jobId: job.jobId,
      version: job.version,
      versionRollingAllowed: job.versionRollingAllowed,
      prevHash: channel.prevHash,
      merkleRoot,
      ntime,
      nbits: channel.nbits,
      target: job.target,
      extranonce: rolled,
    };
  }

  // ---- internals -------------------------------------------------------------------------

  /** Re-reads the state after calls that may close (TypeScript narrows the field otherwise). */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #beginOpen(where: string, request: OpenChannelRequest, kind: ChannelKind): number {
    this.#requireReady(where);
    if (request === null || typeof request !== 'object') throw new TypeError(`${where}: request must be an object, got ${String(request)}`);
    if (this.#channels.size + this.#pendingOpens.size >= this.#channelsMax) {
      throw new RangeError(`${where}: at most ${this.#channelsMax} channels per client (channelsMax)`);
    }
    const requestId = this.#nextRequestId;
    this.#nextRequestId = (this.#nextRequestId + 1) >>> 0 || 1;
    this.#pendingOpens.set(requestId, { kind, userIdentity: request.userIdentity });
    return requestId;
  }

  #requireReady(where: string): void {
    if (this.#state !== 'ready') throw new TypeError(`${where}: the client is ${this.#state}, not ready (wait for setup_success)`);
  }

  #send(message: Sv2Message): void {
    if (this.#state === 'closed') return;
    const sent = this.#noise.send(encodeMessage(message));
    if (!sent.ok) this.#fail(sent.error);
  }

  #emit(event: ClientEvent): void {
    if (this.#events.length >= this.#eventsMax && event.type !== 'closed') {
      this.#eventsDropped++;
      return;
    }
    this.#events.push(event);
  }

  #fail(error: ProtocolError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#error = error;
    this.#deadlines.clear('setup');
    this.#noise.close(error);
    // Drop the noise layer's own 'closed' event: ours below is the one.
    while (this.#noise.pollEvent() !== undefined);
    this.#emit({ type: 'closed', error });
  }

  #drainNoise(): void {
    for (let event = this.#noise.pollEvent(); event !== undefined; event = this.#noise.pollEvent()) {
      if (this.#state === 'closed') return;
      switch (event.type) {
        case 'handshake-complete':
          this.#state = 'expect-setup-success';
          this.#emit({ type: 'handshake_complete', certificate_verified: event.certificateVerified === true });
          this.#send({ type: 'SetupConnection', protocol: 0, minVersion: 2, maxVersion: 2, ...this.#setup });
          break;
        case 'frame': {
          const decoded = decodeMessage(event.frame);
          if (!decoded.ok) {
            this.#fail(decoded.error);
            return;
          }
          this.#handle(decoded.value);
          break;
        }
        case 'closed':
          this.#fail(event.error);
          return;
        default: {
          const never: never = event;
          throw new TypeError(`unknown noise event ${String(never)}`);
        }
      }
    }
  }

  #handle(message: Sv2Message): void {
    if (this.#state === 'expect-setup-success') {
      if (message.type === 'SetupConnectionSuccess') {
        this.#state = 'ready';
        this.#deadlines.clear('setup');
        this.#emit({ type: 'setup_success', used_version: message.usedVersion, flags: message.flags });
        if (this.#requestExtensions.length > 0) {
          this.#send({ type: 'RequestExtensions', requestId: 1, requestedExtensions: [...this.#requestExtensions] });
        }
        return;
      }
      if (message.type === 'SetupConnectionError') {
        this.#emit({ type: 'setup_error', flags: message.flags, error_code: message.errorCode });
        this.#fail(protocolError('setup-refused', 'remote', `SetupConnection.Error: ${message.errorCode}`));
        return;
      }
      this.#fail(protocolError('unexpected-message', 'remote', `${message.type} before SetupConnection.Success (SV2.md §3.8)`));
      return;
    }
    switch (message.type) {
      case 'RequestExtensionsSuccess':
        this.#negotiated = message.supportedExtensions.filter((e) => e !== EXTENSIONS_NEGOTIATION);
        this.#emit({ type: 'extensions_negotiated', supported: this.#negotiated });
        return;
      case 'RequestExtensionsError':
        this.#emit({ type: 'extensions_refused', unsupported: message.unsupportedExtensions, required: message.requiredExtensions });
        return;
      case 'OpenStandardMiningChannelSuccess':
        this.#opened(message.requestId, message.channelId, message.target, message.extranoncePrefix, 0, message.groupChannelId, 'standard');
        return;
      case 'OpenExtendedMiningChannelSuccess':
        this.#opened(message.requestId, message.channelId, message.target, message.extranoncePrefix, message.extranonceSize, message.groupChannelId, 'extended');
        return;
      case 'OpenMiningChannelError':
        this.#pendingOpens.delete(message.requestId);
        this.#emit({ type: 'channel_open_failed', request_id: message.requestId, error_code: message.errorCode });
        return;
      case 'NewMiningJob':
        for (const channel of this.#targets(message.channelId)) {
          this.#addJob(channel, {
            jobId: message.jobId,
            minNtime: message.minNtime,
            version: message.version,
            // Standard channels always allow rolling within the mask (SV2.md §5.7).
            versionRollingAllowed: true,
            merkleRoot: message.merkleRoot,
            target: channel.target,
            active: false,
          });
        }
        return;
      case 'NewExtendedMiningJob':
        for (const channel of this.#targets(message.channelId)) {
          this.#addJob(channel, {
            jobId: message.jobId,
            minNtime: message.minNtime,
            version: message.version,
            versionRollingAllowed: message.versionRollingAllowed,
            merklePath: message.merklePath,
            coinbaseTxPrefix: message.coinbaseTxPrefix,
            coinbaseTxSuffix: message.coinbaseTxSuffix,
            target: channel.target,
            active: false,
          });
        }
        return;
      case 'SetNewPrevHash':
        for (const channel of this.#targets(message.channelId)) {
          channel.prevHash = message.prevHash;
          channel.nbits = message.nbits;
          channel.prevHashMinNtime = message.minNtime;
          // Every other job is invalid from now on (SV2.md §5.3).
          for (const jobId of [...channel.jobs.keys()]) if (jobId !== message.jobId) channel.jobs.delete(jobId);
          const job = channel.jobs.get(message.jobId);
          if (job !== undefined) job.active = true;
          channel.activeJobId = job === undefined ? undefined : message.jobId;
          this.#emit({ type: 'new_prev_hash', channel_id: channel.channelId, job_id: message.jobId, job_known: job !== undefined });
        }
        return;
      case 'SetTarget':
        for (const channel of this.#targets(message.channelId)) {
          channel.target = message.maximumTarget;
          // Later jobs and not-yet-activated future jobs take the new target (SV2.md §5.3).
          for (const job of channel.jobs.values()) if (!job.active) job.target = message.maximumTarget;
          this.#emit({ type: 'target_changed', channel_id: channel.channelId, target: message.maximumTarget });
        }
        return;
      case 'SetExtranoncePrefix':
        for (const channel of this.#targets(message.channelId)) {
          channel.extranoncePrefix = message.extranoncePrefix;
          this.#emit({ type: 'extranonce_prefix_changed', channel_id: channel.channelId, extranonce_prefix: message.extranoncePrefix });
        }
        return;
      case 'SubmitSharesSuccess': {
        const channel = this.#channels.get(message.channelId);
        if (channel !== undefined) {
          channel.stats.accepted += message.newSubmitsAcceptedCount;
          channel.stats.sharesSum += message.newSharesSum;
        }
        this.#emit({
          type: 'shares_accepted',
          channel_id: message.channelId,
          last_sequence_number: message.lastSequenceNumber,
          accepted_count: message.newSubmitsAcceptedCount,
          shares_sum: message.newSharesSum,
        });
        return;
      }
      case 'SubmitSharesError': {
        const channel = this.#channels.get(message.channelId);
        if (channel !== undefined) channel.stats.rejected++;
        this.#emit({ type: 'share_rejected', channel_id: message.channelId, sequence_number: message.sequenceNumber, error_code: message.errorCode });
        return;
      }
      case 'UpdateChannelError':
        this.#emit({ type: 'update_channel_error', channel_id: message.channelId, error_code: message.errorCode });
        return;
      case 'CloseChannel':
        for (const channel of this.#targets(message.channelId)) {
          this.#channels.delete(channel.channelId);
          this.#emit({ type: 'channel_closed', channel_id: channel.channelId, reason_code: message.reasonCode });
        }
        return;
      case 'SetGroupChannel':
        for (const id of message.channelIds) {
          const channel = this.#channels.get(id);
          if (channel !== undefined) channel.groupChannelId = message.groupChannelId;
        }
        return;
      default:
        // Reconnect, ChannelEndpointChanged, custom-job replies, or a message a server should
        // never send a client: surface it, do not guess.
        this.#emit({ type: 'unhandled_message', message });
    }
  }

  #opened(requestId: number, channelId: number, target: Uint8Array, extranoncePrefix: Uint8Array, extranonceSize: number, groupChannelId: number, kind: ChannelKind): void {
    const pending = this.#pendingOpens.get(requestId);
    this.#pendingOpens.delete(requestId);
    if (pending === undefined) {
      this.#fail(protocolError('unexpected-message', 'remote', `channel open success for unknown request_id ${requestId}`));
      return;
    }
    if (pending.kind !== kind) {
      this.#fail(protocolError('unexpected-message', 'remote', `${kind} channel success for a ${pending.kind} request (request_id ${requestId})`));
      return;
    }
    this.#channels.set(channelId, {
      channelId,
      kind,
      requestId,
      userIdentity: pending.userIdentity,
      groupChannelId,
      target,
      extranoncePrefix,
      extranonceSize,
      jobs: new Map(),
      activeJobId: undefined,
      prevHash: undefined,
      nbits: undefined,
      prevHashMinNtime: undefined,
      nextSequenceNumber: 0,
      extranonceCounter: 0n,
      stats: { submitted: 0, accepted: 0, rejected: 0, sharesSum: 0n },
    });
    this.#emit({
      type: 'channel_opened',
      request_id: requestId,
      channel_id: channelId,
      kind,
      group_channel_id: groupChannelId,
      target,
      extranonce_prefix: extranoncePrefix,
      extranonce_size: extranonceSize,
    });
  }

  /** The channel named by `id`, or every member of the group `id` (SV2.md §5.2). */
  #targets(id: number): _Channel[] {
    const channel = this.#channels.get(id);
    if (channel !== undefined) return [channel];
    const members: _Channel[] = [];
    for (const c of this.#channels.values()) if (c.groupChannelId === id) members.push(c);
    return members;
  }

  #addJob(channel: _Channel, job: ClientJob): void {
    const future = job.minNtime === null;
    // A job with min_ntime is live at once on the current prev hash (SV2.md §5.3).
    if (!future && channel.prevHash !== undefined) {
      job.active = true;
      channel.activeJobId = job.jobId;
    }
    channel.jobs.delete(job.jobId);
    channel.jobs.set(job.jobId, job);
    // Bound: evict the oldest job that is not the active one.
    if (channel.jobs.size > this.#jobsPerChannelMax) {
      for (const jobId of channel.jobs.keys()) {
        if (jobId !== channel.activeJobId) {
          channel.jobs.delete(jobId);
          break;
        }
      }
    }
    this.#emit({ type: 'new_job', channel_id: channel.channelId, job_id: job.jobId, future, extended: job.merkleRoot === undefined });
  }

  #nextExtranonce(channel: _Channel): Uint8Array {
    const out = new Uint8Array(channel.extranonceSize);
    let value = channel.extranonceCounter++;
    for (let i = 0; i < out.length && value > 0n; i++) {
      out[i] = Number(value & 0xffn);
      value >>= 8n;
    }
    return out;
  }
}

function _positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`MiningClient: ${name} must be a positive integer, got ${value}`);
  return value;
}
