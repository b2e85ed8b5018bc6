// Common protocol messages, extension_type 0, msg_type 0x00–0x04 (SV2.md §4).
// Numbers and channel bits live in the one catalog (core/codec/catalog.ts); this file is only
// field lists. Field keys are the spec's names in camelCase; the second column is the spec name
// used in error messages (`SetupConnection.endpoint_host`).
import { defineMessage, type MessageCodec, type MessageOf, STR0_255, U16, U32, U8 } from '../types.ts';

/** SetupConnection.protocol values (SV2.md §4). Decoded as a plain U8: an unknown value is for
 * the connection logic to answer with `unsupported-protocol`, not a decode failure. */
export const Protocol = { mining: 0, jobDeclaration: 1, templateDistribution: 2 } as const;

/** SetupConnection.flags (client requirements) for protocol 0 (Mining). Bit 0 = LSB. */
export const MiningSetupFlags = {
  requiresStandardJobs: 1 << 0,
  requiresWorkSelection: 1 << 1,
  requiresVersionRolling: 1 << 2,
} as const;

/** SetupConnection.Success.flags (server requirements) for Mining. NOT the request flags echoed
 * back (SV2.md §4, §9.9). */
export const MiningSetupSuccessFlags = {
  requiresFixedVersion: 1 << 0,
  requiresExtendedChannels: 1 << 1,
} as const;

/** SetupConnection.flags for protocol 1 (Job Declaration). */
export const JobDeclarationSetupFlags = { declareTxData: 1 << 0 } as const;

const SETUP_CONNECTION_FIELDS = [
  ['protocol', 'protocol', U8],
  ['minVersion', 'min_version', U16],
  ['maxVersion', 'max_version', U16],
  ['flags', 'flags', U32],
  ['endpointHost', 'endpoint_host', STR0_255],
  ['endpointPort', 'endpoint_port', U16],
  ['vendor', 'vendor', STR0_255],
  ['hardwareVersion', 'hardware_version', STR0_255],
  ['firmware', 'firmware', STR0_255],
  ['deviceId', 'device_id', STR0_255],
] as const;
export const SetupConnection: MessageCodec<MessageOf<'SetupConnection', typeof SETUP_CONNECTION_FIELDS>> = defineMessage('SetupConnection', SETUP_CONNECTION_FIELDS);

const SETUP_CONNECTION_SUCCESS_FIELDS = [
  ['usedVersion', 'used_version', U16],
  ['flags', 'flags', U32],
] as const;
export const SetupConnectionSuccess: MessageCodec<MessageOf<'SetupConnectionSuccess', typeof SETUP_CONNECTION_SUCCESS_FIELDS>> = defineMessage('SetupConnectionSuccess', SETUP_CONNECTION_SUCCESS_FIELDS);

/** `flags` = the requested flags the server does NOT support (0 for other errors). */
const SETUP_CONNECTION_ERROR_FIELDS = [
  ['flags', 'flags', U32],
  ['errorCode', 'error_code', STR0_255],
] as const;
export const SetupConnectionError: MessageCodec<MessageOf<'SetupConnectionError', typeof SETUP_CONNECTION_ERROR_FIELDS>> = defineMessage('SetupConnectionError', SETUP_CONNECTION_ERROR_FIELDS);

const CHANNEL_ENDPOINT_CHANGED_FIELDS = [['channelId', 'channel_id', U32]] as const;
export const ChannelEndpointChanged: MessageCodec<MessageOf<'ChannelEndpointChanged', typeof CHANNEL_ENDPOINT_CHANGED_FIELDS>> = defineMessage('ChannelEndpointChanged', CHANNEL_ENDPOINT_CHANGED_FIELDS);

/** 0x04 (was 0x25 before April 2025 in SRI, SV2.md §9.8). Empty host / port 0 = keep current. */
const RECONNECT_FIELDS = [
  ['newHost', 'new_host', STR0_255],
  ['newPort', 'new_port', U16],
] as const;
export const Reconnect: MessageCodec<MessageOf<'Reconnect', typeof RECONNECT_FIELDS>> = defineMessage('Reconnect', RECONNECT_FIELDS);

export type SetupConnection = ReturnType<typeof SetupConnection.decode>;
export type SetupConnectionSuccess = ReturnType<typeof SetupConnectionSuccess.decode>;
export type SetupConnectionError = ReturnType<typeof SetupConnectionError.decode>;
export type ChannelEndpointChanged = ReturnType<typeof ChannelEndpointChanged.decode>;
export type Reconnect = ReturnType<typeof Reconnect.decode>;
export type CommonMessage = SetupConnection | SetupConnectionSuccess | SetupConnectionError | ChannelEndpointChanged | Reconnect;
