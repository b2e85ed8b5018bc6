// Per-connection mining channels (SV2.md §5.2–§5.7, SPEC §3–§4): standard and extended channels,
// their jobs, targets, vardiff, share validation, duplicate detection and batched acks.
//
// Sans-IO: every input carries `nowMs`; outputs are SV2 message objects (core/codec) in send
// order, which the gateway session encodes and encrypts. Nothing here throws on peer input:
// bad opens, updates and shares are returned outcomes carrying a registry reason code and the
// SRI wire string (SV2.md §5.8). Only misuse by our own code throws.
//
// Job ids (SV2.md §5.3, PR #209): increasing from 1 and never reused on a channel. Each channel
// draws them from a counter: its own (per-channel jobs), or its group's when group jobs are on
// (below), so a job sent once to the group has the same id on every member. The jobs of the
// current prevhash lie in [oldestActiveJobId, counter); everything below it is stale (an earlier
// prevhash, or evicted beyond ACTIVE_JOBS_MAX) and answers `stale-share` without any per-job
// history; 0, ids never issued and ids issued only to other channels of the group answer
// `invalid-job-id` (the last ones only while in the active range).
//
// Group channels (spec §5.2.3, SV2.md §5.2): every channel belongs to the group of the channels
// on this connection with the same full-extranonce length and version-rolling policy (the group
// shares one coinbase_tx_prefix, which holds the scriptSig length, so the spec requires equal
// lengths); the first group takes `groupChannelId`, later ones the next free id of the channel
// namespace. With `groupJobs` (the session sets it when SetupConnection did not set
// REQUIRES_STANDARD_JOBS, as SRI's pool_sv2 does), `setTemplate` sends ONE NewExtendedMiningJob
// and (new prevhash) ONE SetNewPrevHash per group, addressed to the group id, instead of one per
// channel: spec §5.3.16 ("for a group channel: a broadcast … with one single message") and
// §5.3.17 ("sent only once to each group channel"). Standard members mine it by inserting their
// extranonce_prefix (spec §5.2.1: the client computes their merkle roots); NewMiningJob can never
// be group-addressed (spec §5.3.15: a standard channel's merkle root is its own). Without
// `groupJobs` every channel gets its own NewMiningJob / NewExtendedMiningJob + SetNewPrevHash.
// Opening a channel always sends its first job and SetNewPrevHash to the channel itself (SRI).
//
// Hot path (share validation): no coinbase serialization per share. Standard channels use the
// merkle root computed when the job was made (SV2.md §5.2: header-only mining). Extended
// channels hash prefix ‖ channel extranonce prefix ‖ miner extranonce ‖ suffix from the job's
// cached scratch buffer (JobCoinbase.scratch), writing only the extranonce bytes. The header is
// built in one reusable 80-byte buffer. Allocations per share: the hashes and the outcome.
import type {
  CloseChannel,
  NewExtendedMiningJob,
  NewMiningJob,
  OpenExtendedMiningChannel,
  OpenMiningChannelError,
  OpenStandardMiningChannel,
  SetNewPrevHash,
  SetTarget,
  SubmitSharesError,
  SubmitSharesExtended,
  SubmitSharesStandard,
  SubmitSharesSuccess,
  UpdateChannel,
  UpdateChannelError,
} from '../codec/messages/mining.ts';
import type { Sv2Message } from '../codec/catalog.ts';
import { EXTRANONCE_BYTES_MAX } from '../mining/coinbase.ts';
import { fastSha256d, resolveSha256d, type Sha256, type Sha256d } from '../mining/hash.ts';
import { merkleFold64, sha256dAny } from '../mining/sha256d64.ts';
import { HEADER_BYTES } from '../mining/header.ts';
import { hashToDisplayHex, meetsTarget, targetFromHashRate, targetFromU256, targetToU256, U256_MAX } from '../mining/target.ts';
import { wireString, type ReasonCode } from '../reason-codes.ts';
import { difficultyFromTarget, targetFromDifficulty } from './difficulty.ts';
import type { JobCoinbase, JobTemplate } from './job-factory.ts';
import type { JobFactory } from './job-factory.ts';
import { checkChannelsSettings, type ChannelsSettings } from './settings.ts';
import { SeenShares } from './seen-shares.ts';
import { ShareAckBatcher } from './share-acks.ts';

/** BIP323 general-purpose version bits 5–28 (SV2.md §5.7); BIP320's 0x1FFFE000 is a subset. */
export const VERSION_ROLLING_MASK = 0x1fffffe0;
/** Jobs kept per channel on one prevhash; older ones become stale (bounded memory). */
export const ACTIVE_JOBS_MAX = 16;

/** Where extranonce prefixes come from: ExtranonceAllocator, or a fixed source in tests. */
export interface ExtranonceSource {
  allocate(): Uint8Array | null;
}

export type ChannelKind = 'standard' | 'extended';

/**
 * What a job is made from: a JobTemplate (our template), or a miner's custom job
 * (custom-job.ts CustomJobSource, SetCustomMiningJob, issue 4 item 6).
 */
export type JobSource = Pick<JobTemplate, 'templateId' | 'height' | 'prevHash' | 'nbits' | 'version' | 'networkTarget' | 'merklePath' | 'coinbase' | 'assembleBlock'>;

export type OpenOutcome =
  | {
      readonly ok: true;
      readonly channelId: number;
      readonly kind: ChannelKind;
      readonly target: bigint;
      readonly extranoncePrefix: Uint8Array;
      /** Rollable bytes the miner owns (0 for standard channels). */
      readonly extranonceSize: number;
      /** .Success, then (when a template is known) the future job and SetNewPrevHash. */
      readonly messages: Sv2Message[];
    }
  | { readonly ok: false; readonly reasonCode: ReasonCode; readonly messages: [OpenMiningChannelError] };

export type UpdateOutcome =
  | { readonly ok: true; readonly messages: Sv2Message[] }
  | { readonly ok: false; readonly reasonCode: ReasonCode; readonly messages: [UpdateChannelError] };

export interface BlockCandidate {
  readonly channelId: number;
  readonly jobId: number;
  readonly templateId: bigint;
  readonly height: number;
  readonly blockHashDisplay: string;
  /** The 80-byte header. */
  readonly header: Uint8Array;
  /** The full coinbase WITH witness (jobs carry the stripped one, SV2.md §9.10). */
  readonly coinbase: Uint8Array;
  /** header ‖ tx count ‖ coinbase ‖ template transactions: the submitblock payload. */
  readonly block: Uint8Array;
}

export type ShareOutcome =
  | {
      readonly ok: true;
      readonly channelId: number;
      readonly sequenceNumber: number;
      readonly jobId: number;
      readonly templateId: bigint;
      /** Difficulty of the target the share was credited at. */
      readonly difficulty: number;
      readonly hashDisplay: string;
      /** Non-null: the share meets the network target. Submit it before anything else (SPEC §4). */
      readonly block: BlockCandidate | null;
      /** A full ack batch to send now, or null. */
      readonly ack: SubmitSharesSuccess | null;
    }
  | {
      readonly ok: false;
      readonly channelId: number;
      readonly sequenceNumber: number;
      readonly jobId: number;
      readonly reasonCode: ReasonCode;
      readonly wire: string;
      readonly message: SubmitSharesError;
    };

interface Job {
  readonly jobId: number;
  readonly source: JobSource;
  readonly version: number;
  /** Lowest valid ntime: SetNewPrevHash.min_ntime (future jobs) or NewMiningJob.min_ntime. */
  readonly minNtime: number;
  readonly sentAtMs: number;
  readonly target: bigint;
  readonly targetBytes: Uint8Array;
  readonly difficulty: number;
  readonly networkTargetBytes: Uint8Array;
  /**
   * Standard channels: the merkle root of the job; computed when the job is made for a
   * NewMiningJob, or on the first share for a group job (nothing per member on the broadcast).
   */
  merkleRoot: Uint8Array | null;
  /** The cached coinbase for the channel's full-extranonce length. */
  readonly coinbase: JobCoinbase;
  readonly versionRollingAllowed: boolean;
}

/** Where a channel's job ids come from: its own counter, or its group's (shared). */
interface JobCounter {
  next: number;
}

interface Group extends JobCounter {
  readonly id: number;
  readonly fullExtranonceBytes: number;
  readonly versionRollingAllowed: boolean;
  readonly members: Set<Channel>;
}

interface Channel {
  readonly id: number;
  readonly kind: ChannelKind;
  readonly userIdentity: string;
  readonly extranoncePrefix: Uint8Array;
  readonly rollableBytes: number;
  readonly fullExtranonceBytes: number;
  readonly versionRollingAllowed: boolean;
  nominalHashRate: number;
  maxTarget: bigint;
  target: bigint;
  targetBytes: Uint8Array;
  difficulty: number;
  readonly group: Group;
  /** The group (groupJobs) or a counter of the channel's own. */
  readonly jobIds: JobCounter;
  oldestActiveJobId: number;
  readonly jobs: ActiveJobs;
  readonly acks: ShareAckBatcher;
  vardiffWindowStartMs: number;
  vardiffShares: number;
  vardiffNextMs: number;
}

/**
 * A channel's active jobs, oldest first (at most ACTIVE_JOBS_MAX; ids ascending, as they are
 * issued). A fixed ring of slots instead of a Map: a new prevhash empties every member of every
 * group on the switch, and `Map.prototype.clear` allocates a fresh hash table each time (V8), which
 * was ~2 MB of garbage and a runtime call per member at 10,000 channels (docs/performance.md,
 * "Where the time goes"). Lookups scan ≤ 16 ids, newest first (a share is usually on the newest job).
 */
class ActiveJobs {
  readonly #slots: (Job | undefined)[] = Array.from({ length: ACTIVE_JOBS_MAX }, () => undefined);
  #start = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(jobId: number): Job | undefined {
    const slots = this.#slots;
    for (let i = this.#size - 1; i >= 0; i--) {
      const job = slots[(this.#start + i) % ACTIVE_JOBS_MAX]!;
      if (job.jobId === jobId) return job;
    }
    return undefined;
  }

  /** The oldest job's id, or undefined when empty. */
  oldestId(): number | undefined {
    return this.#size === 0 ? undefined : this.#slots[this.#start]!.jobId;
  }

  /** Ids, oldest first. */
  ids(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.#size; i++) out.push(this.#slots[(this.#start + i) % ACTIVE_JOBS_MAX]!.jobId);
    return out;
  }

  /** Replace the job with the same id in place (as Map.set does), else append as the newest. */
  set(job: Job): void {
    const slots = this.#slots;
    for (let i = 0; i < this.#size; i++) {
      const at = (this.#start + i) % ACTIVE_JOBS_MAX;
      if (slots[at]!.jobId === job.jobId) {
        slots[at] = job;
        return;
      }
    }
    if (this.#size === ACTIVE_JOBS_MAX) throw new RangeError('ActiveJobs: full; evict the oldest first'); // our misuse only
    slots[(this.#start + this.#size) % ACTIVE_JOBS_MAX] = job;
    this.#size += 1;
  }

  /** Forget the oldest job (its slot is cleared so the record can be collected). */
  dropOldest(): void {
    if (this.#size === 0) return;
    this.#slots[this.#start] = undefined;
    this.#start = (this.#start + 1) % ACTIVE_JOBS_MAX;
    this.#size -= 1;
  }

  /** Forget every job, allocating nothing. */
  clear(): void {
    for (let i = 0; i < this.#size; i++) this.#slots[(this.#start + i) % ACTIVE_JOBS_MAX] = undefined;
    this.#start = 0;
    this.#size = 0;
  }
}

export class MiningChannels {
  readonly groupChannelId: number;
  readonly settings: ChannelsSettings;
  readonly counters = { jobsEvicted: 0, sharesAccepted: 0, sharesRejected: 0, blocksFound: 0 };
  readonly #factory: JobFactory;
  readonly #extranonce: ExtranonceSource;
  readonly #sha256d: Sha256d;
  readonly #channels = new Map<number, Channel>();
  readonly #groups: Group[] = [];
  readonly #groupJobs: boolean;
  readonly #seen: SeenShares;
  readonly #header = new Uint8Array(HEADER_BYTES);
  /** The merkle-root field of #header: extended shares fold their root straight into it. */
  readonly #headerRoot = this.#header.subarray(36, 68);
  readonly #pair = new Uint8Array(64);
  /** Hardest and easiest targets the config allows (max_difficulty, min_difficulty). */
  readonly #hardestTarget: bigint;
  readonly #easiestTarget: bigint;
  #nextChannelId: number;
  #current: JobTemplate | null = null;
  /** SetNewPrevHash.min_ntime of the current prevhash (non-future jobs reuse it). */
  #prevMinNtime = 0;

  constructor(options: {
    factory: JobFactory;
    extranonce: ExtranonceSource;
    settings: ChannelsSettings;
    /** A single hash, honoured as given (resolveSha256d rule 2). */
    sha256?: Sha256;
    /** The double hash for merkle roots and headers; default the factory's (core/mining/hash.ts). */
    sha256d?: Sha256d;
    groupChannelId?: number;
    /**
     * Send template jobs and SetNewPrevHash once per group channel (see the header). Default
     * false; the gateway session turns it on unless SetupConnection set REQUIRES_STANDARD_JOBS.
     */
    groupJobs?: boolean;
  }) {
    const { factory, extranonce, settings } = options;
    if (factory === null || typeof factory !== 'object') throw new TypeError('MiningChannels: factory must be a JobFactory');
    if (extranonce === null || typeof extranonce !== 'object' || typeof extranonce.allocate !== 'function') {
      throw new TypeError('MiningChannels: extranonce must have allocate()');
    }
    checkChannelsSettings(settings);
    const group = options.groupChannelId ?? 1;
    if (!Number.isInteger(group) || group < 1 || group >= 0xffffffff) throw new RangeError(`MiningChannels: groupChannelId must be 1..2^32-2, got ${group}`);
    this.#factory = factory;
    this.#extranonce = extranonce;
    this.settings = settings;
    // One rule for every hot path (core/mining/hash.ts resolveSha256d): explicit sha256d, else an
    // explicit single sha256, else the factory's double hash (pure TS unless a provider's native
    // one is faster: Bun).
    this.#sha256d = resolveSha256d(options, factory.sha256d ?? fastSha256d);
    // Group and channel ids share one namespace (SV2.md §5.2): channels start after the group.
    this.groupChannelId = group;
    this.#nextChannelId = group + 1;
    this.#groupJobs = options.groupJobs ?? false;
    this.#seen = new SeenShares({ expireMs: settings.nonceExpireSecs * 1000, capacity: settings.seenSharesMax });
    this.#hardestTarget = targetFromDifficulty(settings.maxDifficulty);
    this.#easiestTarget = settings.minDifficulty === 0 ? U256_MAX : targetFromDifficulty(settings.minDifficulty);
  }

  get channelCount(): number {
    return this.#channels.size;
  }

  /** Header hashes forgotten early because the duplicate set was full. */
  get duplicateSetEvictions(): number {
    return this.#seen.evictions;
  }

  hasChannel(channelId: number): boolean {
    return this.#channels.has(channelId);
  }

  /** Whether template jobs go out once per group channel (see the header). */
  get groupJobs(): boolean {
    return this.#groupJobs;
  }

  /** Read-only view of a channel for events and tests. */
  channelInfo(channelId: number):
    | { kind: ChannelKind; userIdentity: string; groupChannelId: number; target: bigint; difficulty: number; extranoncePrefix: Uint8Array; extranonceSize: number; nominalHashRate: number; activeJobIds: number[] }
    | undefined {
    const ch = this.#channels.get(channelId);
    if (ch === undefined) return undefined;
    return {
      kind: ch.kind,
      groupChannelId: ch.group.id,
      userIdentity: ch.userIdentity,
      target: ch.target,
      difficulty: ch.difficulty,
      extranoncePrefix: ch.extranoncePrefix,
      extranonceSize: ch.rollableBytes,
      nominalHashRate: ch.nominalHashRate,
      activeJobIds: ch.jobs.ids(),
    };
  }

  // ── open / update / close ─────────────────────────────────────────────────────────────

  openStandard(msg: OpenStandardMiningChannel, nowMs: number): OpenOutcome {
    return this.#open('standard', msg.requestId, msg.userIdentity, msg.nominalHashRate, msg.maxTarget, 0, true, nowMs);
  }

  /**
   * `versionRollingAllowed: false` when the session negotiated REQUIRES_FIXED_VERSION
   * (SV2.md §5.7); then any version change is `version-rolling-not-allowed`.
   */
  openExtended(msg: OpenExtendedMiningChannel, nowMs: number, options: { versionRollingAllowed?: boolean } = {}): OpenOutcome {
    return this.#open('extended', msg.requestId, msg.userIdentity, msg.nominalHashRate, msg.maxTarget, msg.minExtranonceSize, options.versionRollingAllowed ?? true, nowMs);
  }

  #open(
    kind: ChannelKind,
    requestId: number,
    userIdentity: string,
    nominalHashRate: number,
    maxTargetBytes: Uint8Array,
    minExtranonceSize: number,
    versionRollingAllowed: boolean,
    nowMs: number,
  ): OpenOutcome {
    const refuse = (reasonCode: ReasonCode): OpenOutcome => ({
      ok: false,
      reasonCode,
      messages: [{ type: 'OpenMiningChannelError', requestId, errorCode: wireString(reasonCode) }],
    });
    // SV2.md §9.17: F32 must be a usable rate.
    if (!_validHashRate(nominalHashRate)) return refuse('invalid_nominal_hashrate');
    if (this.#channels.size >= this.settings.channelsPerConnectionMax) return refuse('channel_limit_reached');
    const maxTarget = targetFromU256(maxTargetBytes);
    // The spec refuses a max_target the server cannot honour (SV2.md §5.3); SRI clamps. We clamp
    // down to max_target, but cannot go harder than max_difficulty allows.
    if (maxTarget < this.#hardestTarget) return refuse('max_target_out_of_range');
    let rollableBytes = 0;
    let prefix: Uint8Array | null;
    if (kind === 'extended') {
      // prefix + rollable ≤ 32 (SV2.md §5.2, §9.12). The prefix length comes from the source, so
      // a refused open drops one prefix (the allocator's counter has 2^32 of them).
      prefix = this.#extranonce.allocate();
      if (prefix === null) return refuse('channel_limit_reached');
      const room = EXTRANONCE_BYTES_MAX - prefix.length;
      if (minExtranonceSize > room) return refuse('min_extranonce_size_too_large');
      rollableBytes = Math.min(Math.max(minExtranonceSize, this.settings.extranonceRollableBytesDefault), room);
    } else {
      prefix = this.#extranonce.allocate();
      if (prefix === null) return refuse('channel_limit_reached');
    }
    const fullExtranonceBytes = prefix.length + rollableBytes;
    const vra = kind === 'standard' ? true : versionRollingAllowed;
    let group = this.#groups.find((g) => g.fullExtranonceBytes === fullExtranonceBytes && g.versionRollingAllowed === vra);
    // A new group takes an id from the channel namespace too (spec §5.2.3: one namespace).
    const needsGroupId = group === undefined && this.#groups.length > 0;
    const channelId = this.#nextChannelId + (needsGroupId ? 1 : 0);
    if (channelId > 0xffffffff) return refuse('channel_limit_reached');
    if (group === undefined) {
      group = { id: needsGroupId ? this.#nextChannelId : this.groupChannelId, fullExtranonceBytes, versionRollingAllowed: vra, members: new Set(), next: 1 };
      this.#groups.push(group);
    }
    this.#nextChannelId = channelId + 1;
    const target = this.#initialTarget(nominalHashRate, maxTarget);
    const interval = this.settings.vardiffRetargetIntervalSecs * 1000;
    const ch: Channel = {
      id: channelId,
      kind,
      userIdentity,
      extranoncePrefix: prefix,
      rollableBytes,
      fullExtranonceBytes,
      versionRollingAllowed: vra,
      nominalHashRate,
      maxTarget,
      target,
      targetBytes: targetToU256(target),
      difficulty: difficultyFromTarget(target),
      group,
      jobIds: this.#groupJobs ? group : { next: 1 },
      oldestActiveJobId: 1,
      jobs: new ActiveJobs(),
      acks: new ShareAckBatcher({ channelId, batchSize: this.settings.shareAckBatchSize, delayMs: this.settings.shareAckDelayMs }),
      vardiffWindowStartMs: nowMs,
      vardiffShares: 0,
      vardiffNextMs: nowMs + interval,
    };
    this.#channels.set(channelId, ch);
    group.members.add(ch);
    const messages: Sv2Message[] = [
      kind === 'standard'
        ? { type: 'OpenStandardMiningChannelSuccess', requestId, channelId, target: ch.targetBytes, extranoncePrefix: prefix, groupChannelId: group.id }
        : {
            type: 'OpenExtendedMiningChannelSuccess',
            requestId,
            channelId,
            target: ch.targetBytes,
            extranonceSize: rollableBytes,
            extranoncePrefix: prefix,
            groupChannelId: group.id,
          },
    ];
    // SV2.md §5.3: after .Success, a future job (min_ntime None) then SetNewPrevHash naming it.
    if (this.#current === null && this.#factory.current !== null) this.#adopt(this.#factory.current);
    if (this.#current !== null) this.#pushPrevHashJob(ch, this.#current, nowMs, messages);
    return { ok: true, channelId, kind, target, extranoncePrefix: prefix, extranonceSize: rollableBytes, messages };
  }

  /** UpdateChannel (SV2.md §5.1): new nominal rate and max target → new target, SetTarget if it changed. */
  updateChannel(msg: UpdateChannel, nowMs: number): UpdateOutcome {
    const refuse = (reasonCode: ReasonCode): UpdateOutcome => ({
      ok: false,
      reasonCode,
      messages: [{ type: 'UpdateChannelError', channelId: msg.channelId, errorCode: wireString(reasonCode) }],
    });
    const ch = this.#channels.get(msg.channelId);
    if (ch === undefined) return refuse('invalid_channel_id');
    if (!_validHashRate(msg.nominalHashRate)) return refuse('invalid_nominal_hashrate');
    const maxTarget = targetFromU256(msg.maximumTarget);
    if (maxTarget < this.#hardestTarget) return refuse('max_target_out_of_range');
    ch.nominalHashRate = msg.nominalHashRate;
    ch.maxTarget = maxTarget;
    // Vardiff starts a fresh window from the client's own estimate.
    ch.vardiffWindowStartMs = nowMs;
    ch.vardiffShares = 0;
    ch.vardiffNextMs = nowMs + this.settings.vardiffRetargetIntervalSecs * 1000;
    const target = this.#initialTarget(msg.nominalHashRate, maxTarget);
    const messages: Sv2Message[] = [];
    const setTarget = this.#retarget(ch, target);
    if (setTarget !== null) messages.push(setTarget);
    return { ok: true, messages };
  }

  /** The client's CloseChannel: forget the channel. False if it was not open. */
  closeChannel(channelId: number): boolean {
    const ch = this.#channels.get(channelId);
    if (ch === undefined) return false;
    ch.group.members.delete(ch);
    return this.#channels.delete(channelId);
  }

  /** Shutdown: a CloseChannel for every open channel (acks: call flushAcks() first). */
  closeAll(reasonWire: string): CloseChannel[] {
    const out: CloseChannel[] = [];
    for (const id of this.#channels.keys()) out.push({ type: 'CloseChannel', channelId: id, reasonCode: reasonWire });
    this.#channels.clear();
    for (const group of this.#groups) group.members.clear();
    return out;
  }

  // ── jobs ───────────────────────────────────────────────────────────────────────────────

  /**
   * A template for this connection. New prevhash: for every channel a future job (min_ntime
   * None) and a SetNewPrevHash naming it; all earlier jobs become stale; the duplicate set is
   * flushed (SRI). Same prevhash: for every channel a job with min_ntime set, active at once.
   * With `groupJobs`, one NewExtendedMiningJob (+ one SetNewPrevHash) per non-empty group,
   * addressed to the group id, stands for the per-channel messages (see the header).
   */
  setTemplate(job: JobTemplate, nowMs: number): Sv2Message[] {
    const messages: Sv2Message[] = [];
    const newPrevHash = this.#current === null || !_equal32(this.#current.prevHash, job.prevHash);
    if (newPrevHash) this.#adopt(job);
    else this.#current = job;
    if (this.#groupJobs) {
      for (const group of this.#groups) if (group.members.size > 0) this.#pushGroupJob(group, job, newPrevHash, nowMs, messages);
    } else if (newPrevHash) {
      for (const ch of this.#channels.values()) this.#pushPrevHashJob(ch, job, nowMs, messages);
    } else {
      for (const ch of this.#channels.values()) messages.push(this.#makeJob(ch, job, this.#prevMinNtime, false, nowMs));
    }
    return messages;
  }

  /**
   * One group's job: the id is drawn once from the group's counter and recorded on every member
   * (each with its own target and coinbase extranonce prefix); the message carries the group id.
   */
  #pushGroupJob(group: Group, job: JobTemplate, newPrevHash: boolean, nowMs: number, out: Sv2Message[]): void {
    const jobId = this.#takeJobId(group);
    const coinbase = job.coinbase(group.fullExtranonceBytes);
    const networkTargetBytes = _networkTargetBytes(job); // once per group, not per member
    // Extended members with the same target share one (immutable) job record; a standard
    // member's record is its own (its merkle root, made on the first share, is per channel).
    // The per-member records were ~25 % of a grouped switch (docs/performance.md).
    let shared: Job | undefined;
    for (const ch of group.members) {
      if (newPrevHash) {
        ch.jobs.clear();
        ch.oldestActiveJobId = jobId;
      }
      let record = shared !== undefined && ch.kind === 'extended' && shared.target === ch.target ? shared : undefined;
      if (record === undefined) {
        record = this.#newJob(ch, jobId, job, coinbase, this.#prevMinNtime, null, nowMs, networkTargetBytes);
        if (ch.kind === 'extended') shared = record;
      }
      this.#storeJob(ch, record);
    }
    out.push({
      type: 'NewExtendedMiningJob',
      channelId: group.id,
      jobId,
      minNtime: newPrevHash ? null : this.#prevMinNtime,
      version: job.version,
      versionRollingAllowed: group.versionRollingAllowed,
      merklePath: job.merklePath as Uint8Array[],
      coinbaseTxPrefix: coinbase.parts.prefix,
      coinbaseTxSuffix: coinbase.parts.suffix,
    });
    if (newPrevHash) out.push({ type: 'SetNewPrevHash', channelId: group.id, jobId, prevHash: job.prevHash, minNtime: this.#prevMinNtime, nbits: job.nbits });
  }

  /**
   * SetCustomMiningJob (issue 4 item 6, SV2.md §5.1): install a VERIFIED miner-proposed job on an
   * extended channel, active at once with `minNtime` (like a same-prevhash job). It takes the
   * channel's next job id (never reused), which the caller answers in SetCustomMiningJob.Success;
   * shares against it validate like any other job's, and a new prevhash makes it stale. Null when
   * the channel is unknown or not extended (SRI: `invalid-channel-id`).
   */
  addCustomJob(channelId: number, source: JobSource, minNtime: number, nowMs: number): number | null {
    const ch = this.#channels.get(channelId);
    if (ch === undefined || ch.kind !== 'extended') return null;
    return this.#makeJob(ch, source, minNtime >>> 0, false, nowMs).jobId;
  }

  #adopt(job: JobTemplate): void {
    this.#current = job;
    this.#prevMinNtime = job.minNtime;
    this.#seen.clear();
  }

  /** Future job + SetNewPrevHash for one channel; earlier jobs become stale. */
  #pushPrevHashJob(ch: Channel, job: JobTemplate, nowMs: number, out: Sv2Message[]): void {
    ch.jobs.clear();
    ch.oldestActiveJobId = ch.jobIds.next;
    const jobMessage = this.#makeJob(ch, job, this.#prevMinNtime, true, nowMs);
    out.push(jobMessage);
    const snph: SetNewPrevHash = {
      type: 'SetNewPrevHash',
      channelId: ch.id,
      jobId: (jobMessage as NewMiningJob | NewExtendedMiningJob).jobId,
      prevHash: job.prevHash,
      minNtime: this.#prevMinNtime,
      nbits: job.nbits,
    };
    out.push(snph);
  }

  /** The next id of a counter; 2^32 jobs on one counter restart numbering at 1 (all older ids are long gone). */
  #takeJobId(counter: JobCounter): number {
    const jobId = counter.next++;
    if (counter.next > 0xffffffff) counter.next = 1;
    return jobId;
  }

  /** Store a new job on a channel (see #storeJob). */
  #recordJob(ch: Channel, jobId: number, source: JobSource, coinbase: JobCoinbase, minNtime: number, merkleRoot: Uint8Array | null, nowMs: number): void {
    this.#storeJob(ch, this.#newJob(ch, jobId, source, coinbase, minNtime, merkleRoot, nowMs));
  }

  /** A job record with the channel's current target. */
  #newJob(
    ch: Channel,
    jobId: number,
    source: JobSource,
    coinbase: JobCoinbase,
    minNtime: number,
    merkleRoot: Uint8Array | null,
    nowMs: number,
    networkTargetBytes: Uint8Array = _networkTargetBytes(source),
  ): Job {
    return {
      jobId,
      source,
      version: source.version,
      minNtime,
      sentAtMs: nowMs,
      target: ch.target,
      targetBytes: ch.targetBytes,
      difficulty: ch.difficulty,
      networkTargetBytes,
      merkleRoot,
      coinbase,
      versionRollingAllowed: ch.versionRollingAllowed,
    };
  }

  /** Store a job on a channel (bounded: beyond ACTIVE_JOBS_MAX the oldest becomes stale). */
  #storeJob(ch: Channel, job: Job): void {
    const jobId = job.jobId;
    if (jobId === 1) ch.oldestActiveJobId = 1; // numbering restarted (see #takeJobId)
    // Insertion order = ascending ids, so the first job is the oldest; ids in between that this
    // channel never got (another member's open) are skipped over.
    if (ch.jobs.size === ACTIVE_JOBS_MAX && ch.jobs.get(jobId) === undefined) {
      ch.jobs.dropOldest();
      this.counters.jobsEvicted++;
      ch.jobs.set(job);
      ch.oldestActiveJobId = ch.jobs.oldestId() ?? ch.jobIds.next;
      return;
    }
    ch.jobs.set(job);
  }

  #makeJob(ch: Channel, source: JobSource, minNtime: number, future: boolean, nowMs: number): NewMiningJob | NewExtendedMiningJob {
    const jobId = this.#takeJobId(ch.jobIds);
    const coinbase = source.coinbase(ch.fullExtranonceBytes);
    let merkleRoot: Uint8Array | null = null;
    if (ch.kind === 'standard') merkleRoot = this.#merkleRoot(coinbase, ch.extranoncePrefix, null, source.merklePath, new Uint8Array(32));
    this.#recordJob(ch, jobId, source, coinbase, minNtime, merkleRoot, nowMs);
    const min = future ? null : minNtime;
    if (ch.kind === 'standard') {
      return { type: 'NewMiningJob', channelId: ch.id, jobId, minNtime: min, version: source.version, merkleRoot: merkleRoot! };
    }
    return {
      type: 'NewExtendedMiningJob',
      channelId: ch.id,
      jobId,
      minNtime: min,
      version: source.version,
      versionRollingAllowed: ch.versionRollingAllowed,
      merklePath: source.merklePath as Uint8Array[],
      coinbaseTxPrefix: coinbase.parts.prefix,
      coinbaseTxSuffix: coinbase.parts.suffix,
    };
  }

  /**
   * SHA256d(prefix ‖ channel prefix ‖ extranonce ‖ suffix) folded up the merkle path (SV2.md
   * §5.4), written into `out` (32 bytes) and returned. With the pure-TS double hash the fold
   * keeps the running root as state words (merkleFold64): no allocation at all.
   */
  #merkleRoot(coinbase: JobCoinbase, channelPrefix: Uint8Array, extranonce: Uint8Array | null, path: readonly Uint8Array[], out: Uint8Array): Uint8Array {
    const { scratch, extranonceOffset } = coinbase;
    scratch.set(channelPrefix, extranonceOffset);
    if (extranonce !== null) scratch.set(extranonce, extranonceOffset + channelPrefix.length);
    const sha256d = this.#sha256d;
    if (sha256d === fastSha256d) return merkleFold64(sha256dAny(scratch, out), path, out);
    sha256d(scratch, out);
    const pair = this.#pair;
    for (let i = 0; i < path.length; i++) {
      pair.set(out, 0);
      pair.set(path[i]!, 32);
      sha256d(pair, out);
    }
    return out;
  }

  // ── shares ─────────────────────────────────────────────────────────────────────────────

  submitStandard(msg: SubmitSharesStandard, nowMs: number): ShareOutcome {
    const ch = this.#channels.get(msg.channelId);
    if (ch === undefined) return this.#reject(msg.channelId, msg.sequenceNumber, msg.jobId, 'invalid_channel_id');
    // A standard submit on an extended channel carries no extranonce: validated as one with an
    // empty extranonce (so `bad-extranonce-size` unless the channel has no rollable bytes).
    return this.#validate(ch, msg.sequenceNumber, msg.jobId, msg.nonce, msg.ntime, msg.version, ch.kind === 'extended' ? _EMPTY : null, nowMs);
  }

  submitExtended(msg: SubmitSharesExtended, nowMs: number): ShareOutcome {
    const ch = this.#channels.get(msg.channelId);
    // SRI looks extended submits up among extended channels only.
    if (ch === undefined || ch.kind !== 'extended') return this.#reject(msg.channelId, msg.sequenceNumber, msg.jobId, 'invalid_channel_id');
    return this.#validate(ch, msg.sequenceNumber, msg.jobId, msg.nonce, msg.ntime, msg.version, msg.extranonce, nowMs);
  }

  /** SRI's order (SV2.md §5.5): stale, unknown job, extranonce size, ntime, version, block, target. */
  #validate(
    ch: Channel,
    sequenceNumber: number,
    jobId: number,
    nonce: number,
    ntime: number,
    version: number,
    extranonce: Uint8Array | null,
    nowMs: number,
  ): ShareOutcome {
    // 1–2. stale / unknown job.
    const job = ch.jobs.get(jobId);
    if (job === undefined) {
      const stale = jobId >= 1 && jobId < ch.oldestActiveJobId;
      return this.#reject(ch.id, sequenceNumber, jobId, stale ? 'stale_share' : 'invalid_job_id');
    }
    // 3. extended: the rollable part must be exactly the channel's size (SV2.md §5.2).
    if (extranonce !== null && extranonce.length !== ch.rollableBytes) return this.#reject(ch.id, sequenceNumber, jobId, 'bad_extranonce_size');
    // 5. ntime: SRI checks ntime ≥ min_ntime only; we also refuse what the node would refuse
    //    (more than ntimeFutureSecsMax past min_ntime + time since the job went out).
    if (ntime < job.minNtime) return this.#reject(ch.id, sequenceNumber, jobId, 'ntime_out_of_range');
    const elapsedSecs = Math.max(0, Math.floor((nowMs - job.sentAtMs) / 1000));
    if (ntime > job.minNtime + elapsedSecs + this.settings.ntimeFutureSecsMax) return this.#reject(ch.id, sequenceNumber, jobId, 'ntime_out_of_range');
    // 6. version rolling (SV2.md §5.7).
    const mask = job.versionRollingAllowed ? VERSION_ROLLING_MASK : 0;
    if (((version ^ job.version) & ~mask) >>> 0 !== 0) {
      return this.#reject(ch.id, sequenceNumber, jobId, job.versionRollingAllowed ? 'invalid_non_rollable_version_bit' : 'version_rolling_not_allowed');
    }
    // 4. merkle root (cannot fail here: the job's coinbase was built when the job was made);
    //    an extended share's root is folded straight into the header buffer.
    const header = this.#header;
    if (ch.kind === 'standard') {
      // A group job's root is this channel's own (its extranonce_prefix), made on first use.
      job.merkleRoot ??= this.#merkleRoot(job.coinbase, ch.extranoncePrefix, null, job.source.merklePath, new Uint8Array(32));
      header.set(job.merkleRoot, 36);
    } else this.#merkleRoot(job.coinbase, ch.extranoncePrefix, extranonce, job.source.merklePath, this.#headerRoot);
    _le32(header, 0, version);
    header.set(job.source.prevHash, 4);
    _le32(header, 68, ntime);
    _le32(header, 72, job.source.nbits);
    _le32(header, 76, nonce);
    const hash = this.#sha256d(header);
    // 7. block first: a block is never refused for share-level reasons except duplicates.
    const isBlock = meetsTarget(hash, job.networkTargetBytes);
    // 8. share target: the easier of the job's and the channel's current target (a lowered
    //    difficulty applies at once; a raised one only to later jobs, SV2.md §5.3).
    const useJob = job.target >= ch.target;
    if (!isBlock && !meetsTarget(hash, useJob ? job.targetBytes : ch.targetBytes)) {
      return this.#reject(ch.id, sequenceNumber, jobId, 'difficulty_too_low');
    }
    if (this.#seen.checkAndAdd(hash, nowMs)) return this.#reject(ch.id, sequenceNumber, jobId, 'duplicate_share');
    const difficulty = useJob ? job.difficulty : ch.difficulty;
    let block: BlockCandidate | null = null;
    if (isBlock) {
      const headerCopy = header.slice();
      const full = new Uint8Array(ch.fullExtranonceBytes);
      full.set(ch.extranoncePrefix, 0);
      if (extranonce !== null) full.set(extranonce, ch.extranoncePrefix.length);
      const { coinbase, block: bytes } = job.source.assembleBlock(headerCopy, full);
      block = {
        channelId: ch.id,
        jobId,
        templateId: job.source.templateId,
        height: job.source.height,
        blockHashDisplay: hashToDisplayHex(hash),
        header: headerCopy,
        coinbase,
        block: bytes,
      };
      this.counters.blocksFound++;
    }
    this.counters.sharesAccepted++;
    ch.vardiffShares++;
    const ack = ch.acks.add(sequenceNumber, difficulty, nowMs);
    return {
      ok: true,
      channelId: ch.id,
      sequenceNumber,
      jobId,
      templateId: job.source.templateId,
      difficulty,
      hashDisplay: block !== null ? block.blockHashDisplay : hashToDisplayHex(hash),
      block,
      ack,
    };
  }

  #reject(channelId: number, sequenceNumber: number, jobId: number, reasonCode: ReasonCode): ShareOutcome {
    this.counters.sharesRejected++;
    const wire = wireString(reasonCode);
    return {
      ok: false,
      channelId,
      sequenceNumber,
      jobId,
      reasonCode,
      wire,
      message: { type: 'SubmitSharesError', channelId, sequenceNumber, errorCode: wire },
    };
  }

  // ── targets, vardiff, timers ──────────────────────────────────────────────────────────

  /** SRI's formula (SV2.md §5.3), clamped to the config bounds, then to the client's max_target. */
  #initialTarget(nominalHashRate: number, maxTarget: bigint): bigint {
    // `+ 0` turns -0 into 0 (targetFromHashRate refuses -0; SRI treats it as 0).
    return this.#clamp(targetFromHashRate(nominalHashRate + 0, this.settings.sharesPerMinute), maxTarget);
  }

  #clamp(target: bigint, maxTarget: bigint): bigint {
    let t = target;
    if (t < this.#hardestTarget) t = this.#hardestTarget;
    if (t > this.#easiestTarget) t = this.#easiestTarget;
    if (t > maxTarget) t = maxTarget;
    return t;
  }

  /** Set a channel's target; the SetTarget to send, or null if unchanged. */
  #retarget(ch: Channel, target: bigint): SetTarget | null {
    if (target === ch.target) return null;
    ch.target = target;
    ch.targetBytes = targetToU256(target);
    ch.difficulty = difficultyFromTarget(target);
    return { type: 'SetTarget', channelId: ch.id, maximumTarget: ch.targetBytes };
  }

  /**
   * Vardiff for one channel at the end of its window. rate = accepted shares per minute;
   * difficulty × clamp(rate / goal, ¼, 4) when the rate is outside [goal·⅔, goal·1.5]; no
   * shares at all quarters the difficulty. Deterministic: only `nowMs` and the share count.
   */
  #vardiff(ch: Channel, nowMs: number): SetTarget | null {
    const elapsedMs = nowMs - ch.vardiffWindowStartMs;
    const shares = ch.vardiffShares;
    ch.vardiffWindowStartMs = nowMs;
    ch.vardiffShares = 0;
    ch.vardiffNextMs = nowMs + this.settings.vardiffRetargetIntervalSecs * 1000;
    if (elapsedMs <= 0) return null;
    const goal = this.settings.sharesPerMinute;
    const ratio = shares / (elapsedMs / 60_000) / goal;
    if (ratio >= 2 / 3 && ratio <= 1.5) return null;
    const factor = Math.min(4, Math.max(0.25, ratio));
    // target ∝ 1/difficulty: new target = target / factor, computed exactly in bigint (factor
    // as a rational with 2^20 resolution).
    const scaled = BigInt(Math.max(1, Math.round(factor * 2 ** 20)));
    let target = (ch.target << 20n) / scaled;
    if (target > U256_MAX) target = U256_MAX;
    if (target < 1n) target = 1n;
    return this.#retarget(ch, this.#clamp(target, ch.maxTarget));
  }

  /** Due vardiff SetTargets and partial ack batches. Harmless when called early or twice. */
  onTimeout(nowMs: number): Sv2Message[] {
    const out: Sv2Message[] = [];
    for (const ch of this.#channels.values()) {
      const ack = ch.acks.poll(nowMs);
      if (ack !== null) out.push(ack);
      if (this.settings.vardiffEnabled && nowMs >= ch.vardiffNextMs) {
        const setTarget = this.#vardiff(ch, nowMs);
        if (setTarget !== null) out.push(setTarget);
      }
    }
    return out;
  }

  nextDeadlineMs(): number | null {
    let next: number | null = null;
    for (const ch of this.#channels.values()) {
      const ack = ch.acks.deadlineMs();
      if (ack !== null && (next === null || ack < next)) next = ack;
      if (this.settings.vardiffEnabled && (next === null || ch.vardiffNextMs < next)) next = ch.vardiffNextMs;
    }
    return next;
  }

  /** Every pending partial ack batch, now (shutdown, before closeAll). */
  flushAcks(): SubmitSharesSuccess[] {
    const out: SubmitSharesSuccess[] = [];
    for (const ch of this.#channels.values()) {
      const ack = ch.acks.flush();
      if (ack !== null) out.push(ack);
    }
    return out;
  }
}

const _EMPTY = new Uint8Array(0);

/** SV2.md §9.17: NaN, infinite and negative rates are refused; -0 counts as 0 (as in SRI). */
function _validHashRate(rate: number): boolean {
  return typeof rate === 'number' && Number.isFinite(rate) && rate >= 0;
}

const _networkTargetCache = new WeakMap<JobSource, Uint8Array>();
function _networkTargetBytes(job: JobSource): Uint8Array {
  let bytes = _networkTargetCache.get(job);
  if (bytes === undefined) {
    bytes = targetToU256(job.networkTarget);
    _networkTargetCache.set(job, bytes);
  }
  return bytes;
}

function _equal32(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function _le32(out: Uint8Array, at: number, value: number): void {
  out[at] = value & 0xff;
  out[at + 1] = (value >>> 8) & 0xff;
  out[at + 2] = (value >>> 16) & 0xff;
  out[at + 3] = (value >>> 24) & 0xff;
}
