// Mining protocol messages, extension_type 0, msg_type 0x10–0x25 (SV2.md §5.1, current spec
// 08-Message-Types = SRI `mining_sv2`). Numbers and channel bits live in the catalog
// (core/codec/catalog.ts); this file is field lists.
//
// Name notes: the spec's `mining_job_token` is `token` in SRI's SetCustomMiningJob and its
// `coinbase_tx_input_nSequence` is `coinbase_tx_input_n_sequence`; the wire is the same.
// `SetNewPrevHash` here is the mining one (0x20); the TDP one is `SetNewPrevHashTdp`.
import { decodeTlvs, writeTlvs, type Tlv } from '../tlv.ts';
import {
  B0_32,
  B0_64K,
  B0_255,
  BOOL,
  defineMessage,
  type DataType,
  type MessageCodec,
  F32,
  messageCodec,
  type MessageOf,
  OPTION,
  SEQ0_64K,
  SEQ0_255,
  STR0_255,
  U16,
  U256,
  U32,
  U64,
} from '../types.ts';

// Composite field types as named constants, so that each field list below is a plain literal
// whose type JSR can read without inference (deno publish: no slow types).
const OPTION_U32: DataType<number | null> = OPTION(U32);
const SEQ0_255_U256: DataType<readonly Uint8Array[]> = SEQ0_255(U256);
const SEQ0_64K_U32: DataType<readonly number[]> = SEQ0_64K(U32);

const OPEN_STANDARD_MINING_CHANNEL_FIELDS = [
  ['requestId', 'request_id', U32],
  ['userIdentity', 'user_identity', STR0_255],
  ['nominalHashRate', 'nominal_hash_rate', F32],
  ['maxTarget', 'max_target', U256],
] as const;
export const OpenStandardMiningChannel: MessageCodec<MessageOf<'OpenStandardMiningChannel', typeof OPEN_STANDARD_MINING_CHANNEL_FIELDS>> = defineMessage('OpenStandardMiningChannel', OPEN_STANDARD_MINING_CHANNEL_FIELDS);

const OPEN_STANDARD_MINING_CHANNEL_SUCCESS_FIELDS = [
  ['requestId', 'request_id', U32],
  ['channelId', 'channel_id', U32],
  ['target', 'target', U256],
  ['extranoncePrefix', 'extranonce_prefix', B0_32],
  ['groupChannelId', 'group_channel_id', U32],
] as const;
export const OpenStandardMiningChannelSuccess: MessageCodec<MessageOf<'OpenStandardMiningChannelSuccess', typeof OPEN_STANDARD_MINING_CHANNEL_SUCCESS_FIELDS>> = defineMessage('OpenStandardMiningChannelSuccess', OPEN_STANDARD_MINING_CHANNEL_SUCCESS_FIELDS);

const OPEN_MINING_CHANNEL_ERROR_FIELDS = [
  ['requestId', 'request_id', U32],
  ['errorCode', 'error_code', STR0_255],
] as const;
export const OpenMiningChannelError: MessageCodec<MessageOf<'OpenMiningChannelError', typeof OPEN_MINING_CHANNEL_ERROR_FIELDS>> = defineMessage('OpenMiningChannelError', OPEN_MINING_CHANNEL_ERROR_FIELDS);

const OPEN_EXTENDED_MINING_CHANNEL_FIELDS = [
  ['requestId', 'request_id', U32],
  ['userIdentity', 'user_identity', STR0_255],
  ['nominalHashRate', 'nominal_hash_rate', F32],
  ['maxTarget', 'max_target', U256],
  ['minExtranonceSize', 'min_extranonce_size', U16],
] as const;
export const OpenExtendedMiningChannel: MessageCodec<MessageOf<'OpenExtendedMiningChannel', typeof OPEN_EXTENDED_MINING_CHANNEL_FIELDS>> = defineMessage('OpenExtendedMiningChannel', OPEN_EXTENDED_MINING_CHANNEL_FIELDS);

/** `extranonce_size` (rollable bytes, prefix excluded) comes BEFORE `extranonce_prefix` (SV2.md §5.1, §9.12). */
const OPEN_EXTENDED_MINING_CHANNEL_SUCCESS_FIELDS = [
  ['requestId', 'request_id', U32],
  ['channelId', 'channel_id', U32],
  ['target', 'target', U256],
  ['extranonceSize', 'extranonce_size', U16],
  ['extranoncePrefix', 'extranonce_prefix', B0_32],
  ['groupChannelId', 'group_channel_id', U32],
] as const;
export const OpenExtendedMiningChannelSuccess: MessageCodec<MessageOf<'OpenExtendedMiningChannelSuccess', typeof OPEN_EXTENDED_MINING_CHANNEL_SUCCESS_FIELDS>> = defineMessage('OpenExtendedMiningChannelSuccess', OPEN_EXTENDED_MINING_CHANNEL_SUCCESS_FIELDS);

/** `minNtime: null` marks a future job (SV2.md §5.3). */
const NEW_MINING_JOB_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['jobId', 'job_id', U32],
  ['minNtime', 'min_ntime', OPTION_U32],
  ['version', 'version', U32],
  ['merkleRoot', 'merkle_root', U256],
] as const;
export const NewMiningJob: MessageCodec<MessageOf<'NewMiningJob', typeof NEW_MINING_JOB_FIELDS>> = defineMessage('NewMiningJob', NEW_MINING_JOB_FIELDS);

const UPDATE_CHANNEL_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['nominalHashRate', 'nominal_hash_rate', F32],
  ['maximumTarget', 'maximum_target', U256],
] as const;
export const UpdateChannel: MessageCodec<MessageOf<'UpdateChannel', typeof UPDATE_CHANNEL_FIELDS>> = defineMessage('UpdateChannel', UPDATE_CHANNEL_FIELDS);

const UPDATE_CHANNEL_ERROR_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['errorCode', 'error_code', STR0_255],
] as const;
export const UpdateChannelError: MessageCodec<MessageOf<'UpdateChannelError', typeof UPDATE_CHANNEL_ERROR_FIELDS>> = defineMessage('UpdateChannelError', UPDATE_CHANNEL_ERROR_FIELDS);

const CLOSE_CHANNEL_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['reasonCode', 'reason_code', STR0_255],
] as const;
export const CloseChannel: MessageCodec<MessageOf<'CloseChannel', typeof CLOSE_CHANNEL_FIELDS>> = defineMessage('CloseChannel', CLOSE_CHANNEL_FIELDS);

const SET_EXTRANONCE_PREFIX_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['extranoncePrefix', 'extranonce_prefix', B0_32],
] as const;
export const SetExtranoncePrefix: MessageCodec<MessageOf<'SetExtranoncePrefix', typeof SET_EXTRANONCE_PREFIX_FIELDS>> = defineMessage('SetExtranoncePrefix', SET_EXTRANONCE_PREFIX_FIELDS);

const SUBMIT_SHARES_STANDARD_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['sequenceNumber', 'sequence_number', U32],
  ['jobId', 'job_id', U32],
  ['nonce', 'nonce', U32],
  ['ntime', 'ntime', U32],
  ['version', 'version', U32],
] as const;

export type SubmitSharesStandard = MessageOf<'SubmitSharesStandard', typeof SUBMIT_SHARES_STANDARD_FIELDS>;

// Share submission is the hot path: hand-written decoders (monomorphic, no per-field indirect
// call). The property tests check them against the field lists through encode/decode round trips.
export const SubmitSharesStandard: MessageCodec<SubmitSharesStandard> = messageCodec<SubmitSharesStandard>('SubmitSharesStandard', SUBMIT_SHARES_STANDARD_FIELDS, {
  decode: (r, _options, names) => ({
    type: 'SubmitSharesStandard',
    channelId: r.u32(names[0]!),
    sequenceNumber: r.u32(names[1]!),
    jobId: r.u32(names[2]!),
    nonce: r.u32(names[3]!),
    ntime: r.u32(names[4]!),
    version: r.u32(names[5]!),
  }),
});

const SUBMIT_SHARES_EXTENDED_FIELDS = [...SUBMIT_SHARES_STANDARD_FIELDS, ['extranonce', 'extranonce', B0_32]] as const;

/**
 * SubmitSharesExtended. `tlvs` holds the TLV fields after `extranonce` (SV2.md §10), present
 * only when decoding with `negotiatedExtensions` and at least one TLV of a negotiated extension
 * was found; when encoding, given TLVs are appended (an empty list appends nothing, so it
 * decodes back as an absent `tlvs`).
 */
export type SubmitSharesExtended = MessageOf<'SubmitSharesExtended', typeof SUBMIT_SHARES_EXTENDED_FIELDS> & {
  readonly tlvs?: readonly Tlv[];
};

export const SubmitSharesExtended: MessageCodec<SubmitSharesExtended> = messageCodec<SubmitSharesExtended>('SubmitSharesExtended', SUBMIT_SHARES_EXTENDED_FIELDS, {
  decode(r, options, names) {
    const channelId = r.u32(names[0]!);
    const sequenceNumber = r.u32(names[1]!);
    const jobId = r.u32(names[2]!);
    const nonce = r.u32(names[3]!);
    const ntime = r.u32(names[4]!);
    const version = r.u32(names[5]!);
    const extranonce = B0_32.read(r, names[6]!);
    const negotiated = options.negotiatedExtensions;
    // Trailing bytes are ignored unless the caller negotiated extensions (receive leniently,
    // SV2.md §1.1); then they are parsed as TLVs.
    if (negotiated !== undefined && negotiated.length > 0 && r.failure === undefined && r.remaining > 0) {
      const tlvs = decodeTlvs(r.rest(), negotiated);
      if (tlvs.length > 0) return { type: 'SubmitSharesExtended', channelId, sequenceNumber, jobId, nonce, ntime, version, extranonce, tlvs };
    }
    return { type: 'SubmitSharesExtended', channelId, sequenceNumber, jobId, nonce, ntime, version, extranonce };
  },
  encode(w, m, names) {
    w.u32(m.channelId, names[0]!);
    w.u32(m.sequenceNumber, names[1]!);
    w.u32(m.jobId, names[2]!);
    w.u32(m.nonce, names[3]!);
    w.u32(m.ntime, names[4]!);
    w.u32(m.version, names[5]!);
    B0_32.write(w, m.extranonce, names[6]!);
    if (m.tlvs !== undefined) writeTlvs(w, m.tlvs, 'SubmitSharesExtended.tlvs');
  },
});

/** A batch acknowledgement: counts and `newSharesSum` (U64, bigint) cover this batch only (SV2.md §5.3). */
const SUBMIT_SHARES_SUCCESS_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['lastSequenceNumber', 'last_sequence_number', U32],
  ['newSubmitsAcceptedCount', 'new_submits_accepted_count', U32],
  ['newSharesSum', 'new_shares_sum', U64],
] as const;
export const SubmitSharesSuccess: MessageCodec<MessageOf<'SubmitSharesSuccess', typeof SUBMIT_SHARES_SUCCESS_FIELDS>> = defineMessage('SubmitSharesSuccess', SUBMIT_SHARES_SUCCESS_FIELDS);

const SUBMIT_SHARES_ERROR_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['sequenceNumber', 'sequence_number', U32],
  ['errorCode', 'error_code', STR0_255],
] as const;
export const SubmitSharesError: MessageCodec<MessageOf<'SubmitSharesError', typeof SUBMIT_SHARES_ERROR_FIELDS>> = defineMessage('SubmitSharesError', SUBMIT_SHARES_ERROR_FIELDS);

/** Coinbase prefix/suffix are BIP141-stripped (SV2.md §5.4, §9.10); merkle path nodes raw. */
const NEW_EXTENDED_MINING_JOB_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['jobId', 'job_id', U32],
  ['minNtime', 'min_ntime', OPTION_U32],
  ['version', 'version', U32],
  ['versionRollingAllowed', 'version_rolling_allowed', BOOL],
  ['merklePath', 'merkle_path', SEQ0_255_U256],
  ['coinbaseTxPrefix', 'coinbase_tx_prefix', B0_64K],
  ['coinbaseTxSuffix', 'coinbase_tx_suffix', B0_64K],
] as const;
export const NewExtendedMiningJob: MessageCodec<MessageOf<'NewExtendedMiningJob', typeof NEW_EXTENDED_MINING_JOB_FIELDS>> = defineMessage('NewExtendedMiningJob', NEW_EXTENDED_MINING_JOB_FIELDS);

/** Mining SetNewPrevHash (0x20, 48 bytes). `prevHash` in internal byte order (SV2.md §5.5). */
const SET_NEW_PREV_HASH_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['jobId', 'job_id', U32],
  ['prevHash', 'prev_hash', U256],
  ['minNtime', 'min_ntime', U32],
  ['nbits', 'nbits', U32],
] as const;
export const SetNewPrevHash: MessageCodec<MessageOf<'SetNewPrevHash', typeof SET_NEW_PREV_HASH_FIELDS>> = defineMessage('SetNewPrevHash', SET_NEW_PREV_HASH_FIELDS);

const SET_TARGET_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['maximumTarget', 'maximum_target', U256],
] as const;
export const SetTarget: MessageCodec<MessageOf<'SetTarget', typeof SET_TARGET_FIELDS>> = defineMessage('SetTarget', SET_TARGET_FIELDS);

/** `coinbaseTxOutputs` is the consensus `Vec<TxOut>` (CompactSize count + outputs), SV2.md §5.4. */
const SET_CUSTOM_MINING_JOB_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['requestId', 'request_id', U32],
  ['miningJobToken', 'mining_job_token', B0_255],
  ['version', 'version', U32],
  ['prevHash', 'prev_hash', U256],
  ['minNtime', 'min_ntime', U32],
  ['nbits', 'nbits', U32],
  ['coinbaseTxVersion', 'coinbase_tx_version', U32],
  ['coinbasePrefix', 'coinbase_prefix', B0_255],
  ['coinbaseTxInputNSequence', 'coinbase_tx_input_nSequence', U32],
  ['coinbaseTxOutputs', 'coinbase_tx_outputs', B0_64K],
  ['coinbaseTxLocktime', 'coinbase_tx_locktime', U32],
  ['merklePath', 'merkle_path', SEQ0_255_U256],
] as const;
export const SetCustomMiningJob: MessageCodec<MessageOf<'SetCustomMiningJob', typeof SET_CUSTOM_MINING_JOB_FIELDS>> = defineMessage('SetCustomMiningJob', SET_CUSTOM_MINING_JOB_FIELDS);

const SET_CUSTOM_MINING_JOB_SUCCESS_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['requestId', 'request_id', U32],
  ['jobId', 'job_id', U32],
] as const;
export const SetCustomMiningJobSuccess: MessageCodec<MessageOf<'SetCustomMiningJobSuccess', typeof SET_CUSTOM_MINING_JOB_SUCCESS_FIELDS>> = defineMessage('SetCustomMiningJobSuccess', SET_CUSTOM_MINING_JOB_SUCCESS_FIELDS);

const SET_CUSTOM_MINING_JOB_ERROR_FIELDS = [
  ['channelId', 'channel_id', U32],
  ['requestId', 'request_id', U32],
  ['errorCode', 'error_code', STR0_255],
] as const;
export const SetCustomMiningJobError: MessageCodec<MessageOf<'SetCustomMiningJobError', typeof SET_CUSTOM_MINING_JOB_ERROR_FIELDS>> = defineMessage('SetCustomMiningJobError', SET_CUSTOM_MINING_JOB_ERROR_FIELDS);

/** 0x25 (0x26 in SRI before April 2025, SV2.md §9.8); channel bit 0. */
const SET_GROUP_CHANNEL_FIELDS = [
  ['groupChannelId', 'group_channel_id', U32],
  ['channelIds', 'channel_ids', SEQ0_64K_U32],
] as const;
export const SetGroupChannel: MessageCodec<MessageOf<'SetGroupChannel', typeof SET_GROUP_CHANNEL_FIELDS>> = defineMessage('SetGroupChannel', SET_GROUP_CHANNEL_FIELDS);

export type OpenStandardMiningChannel = ReturnType<typeof OpenStandardMiningChannel.decode>;
export type OpenStandardMiningChannelSuccess = ReturnType<typeof OpenStandardMiningChannelSuccess.decode>;
export type OpenMiningChannelError = ReturnType<typeof OpenMiningChannelError.decode>;
export type OpenExtendedMiningChannel = ReturnType<typeof OpenExtendedMiningChannel.decode>;
export type OpenExtendedMiningChannelSuccess = ReturnType<typeof OpenExtendedMiningChannelSuccess.decode>;
export type NewMiningJob = ReturnType<typeof NewMiningJob.decode>;
export type UpdateChannel = ReturnType<typeof UpdateChannel.decode>;
export type UpdateChannelError = ReturnType<typeof UpdateChannelError.decode>;
export type CloseChannel = ReturnType<typeof CloseChannel.decode>;
export type SetExtranoncePrefix = ReturnType<typeof SetExtranoncePrefix.decode>;
export type SubmitSharesSuccess = ReturnType<typeof SubmitSharesSuccess.decode>;
export type SubmitSharesError = ReturnType<typeof SubmitSharesError.decode>;
export type NewExtendedMiningJob = ReturnType<typeof NewExtendedMiningJob.decode>;
export type SetNewPrevHash = ReturnType<typeof SetNewPrevHash.decode>;
export type SetTarget = ReturnType<typeof SetTarget.decode>;
export type SetCustomMiningJob = ReturnType<typeof SetCustomMiningJob.decode>;
export type SetCustomMiningJobSuccess = ReturnType<typeof SetCustomMiningJobSuccess.decode>;
export type SetCustomMiningJobError = ReturnType<typeof SetCustomMiningJobError.decode>;
export type SetGroupChannel = ReturnType<typeof SetGroupChannel.decode>;

export type MiningMessage =
  | OpenStandardMiningChannel
  | OpenStandardMiningChannelSuccess
  | OpenMiningChannelError
  | OpenExtendedMiningChannel
  | OpenExtendedMiningChannelSuccess
  | NewMiningJob
  | UpdateChannel
  | UpdateChannelError
  | CloseChannel
  | SetExtranoncePrefix
  | SubmitSharesStandard
  | SubmitSharesExtended
  | SubmitSharesSuccess
  | SubmitSharesError
  | NewExtendedMiningJob
  | SetNewPrevHash
  | SetTarget
  | SetCustomMiningJob
  | SetCustomMiningJobSuccess
  | SetCustomMiningJobError
  | SetGroupChannel;
