// THE message catalog (STYLE.md #4): the one table mapping (extension, msg_type) to the message
// name, the channel bit to SEND, and the codec. Decoding dispatches on
// (extension_type & 0x7fff, msg_type) and ignores the header's channel bit (SRI never checks it,
// stratum #2326; SV2.md §1.1, §9.7). Numbers and bits are SV2.md §4, §5.1, §6, §7 and §10,
// i.e. the current spec and SRI after:
//  - Reconnect 0x25 → 0x04 and SetGroupChannel 0x26 → 0x25 (SRI e2f0f9a5, April 2025);
//  - SetCustomMiningJob/.Success/.Error channel bit 0 → 1 and PushSolution 1 → 0 (May 2026).
import { EXTENSION_ID_MASK } from './frame.ts';
import * as common from './messages/common.ts';
import * as extensions from './messages/extensions.ts';
import * as jd from './messages/job-declaration.ts';
import * as mining from './messages/mining.ts';
import * as tdp from './messages/template-distribution.ts';
import type { MessageCodec } from './types.ts';

/** Every SV2 message this codec knows, as a plain object with a `type` discriminant. */
export type Sv2Message =
  | common.CommonMessage
  | mining.MiningMessage
  | tdp.TemplateDistributionMessage
  | jd.JobDeclarationMessage
  | extensions.ExtensionsMessage;

export type MessageType = Sv2Message['type'];

/** The message whose discriminant is `T`. */
export type MessageOfType<T extends MessageType> = Extract<Sv2Message, { readonly type: T }>;

export type Subprotocol = 'common' | 'mining' | 'template-distribution' | 'job-declaration' | 'extensions-negotiation';

export interface CatalogEntry<T extends MessageType = MessageType> {
  readonly type: T;
  /** The spec's name, e.g. `SetupConnection.Success`. */
  readonly specName: string;
  readonly subprotocol: Subprotocol;
  /** Extension id without the channel bit (0 = core protocols, 0x0001 = negotiation). */
  readonly extensionType: number;
  readonly msgType: number;
  /** Channel bit to SEND. Ignored on receive. */
  readonly channelMsg: boolean;
  readonly codec: MessageCodec<MessageOfType<T>>;
}

// Typed as a record over every MessageType: adding a message to a union without a row here (or
// a row without a message) fails to compile — the exhaustiveness check of the one table.
type Row<T extends MessageType> = Omit<CatalogEntry<T>, 'type'>;
const ROWS: { readonly [T in MessageType]: Row<T> } = {
  // Common (SV2.md §4)
  SetupConnection: { specName: 'SetupConnection', subprotocol: 'common', extensionType: 0, msgType: 0x00, channelMsg: false, codec: common.SetupConnection },
  SetupConnectionSuccess: { specName: 'SetupConnection.Success', subprotocol: 'common', extensionType: 0, msgType: 0x01, channelMsg: false, codec: common.SetupConnectionSuccess },
  SetupConnectionError: { specName: 'SetupConnection.Error', subprotocol: 'common', extensionType: 0, msgType: 0x02, channelMsg: false, codec: common.SetupConnectionError },
  ChannelEndpointChanged: { specName: 'ChannelEndpointChanged', subprotocol: 'common', extensionType: 0, msgType: 0x03, channelMsg: true, codec: common.ChannelEndpointChanged },
  Reconnect: { specName: 'Reconnect', subprotocol: 'common', extensionType: 0, msgType: 0x04, channelMsg: false, codec: common.Reconnect },
  // Mining (SV2.md §5.1)
  OpenStandardMiningChannel: { specName: 'OpenStandardMiningChannel', subprotocol: 'mining', extensionType: 0, msgType: 0x10, channelMsg: false, codec: mining.OpenStandardMiningChannel },
  OpenStandardMiningChannelSuccess: { specName: 'OpenStandardMiningChannel.Success', subprotocol: 'mining', extensionType: 0, msgType: 0x11, channelMsg: false, codec: mining.OpenStandardMiningChannelSuccess },
  OpenMiningChannelError: { specName: 'OpenMiningChannel.Error', subprotocol: 'mining', extensionType: 0, msgType: 0x12, channelMsg: false, codec: mining.OpenMiningChannelError },
  OpenExtendedMiningChannel: { specName: 'OpenExtendedMiningChannel', subprotocol: 'mining', extensionType: 0, msgType: 0x13, channelMsg: false, codec: mining.OpenExtendedMiningChannel },
  OpenExtendedMiningChannelSuccess: { specName: 'OpenExtendedMiningChannel.Success', subprotocol: 'mining', extensionType: 0, msgType: 0x14, channelMsg: false, codec: mining.OpenExtendedMiningChannelSuccess },
  NewMiningJob: { specName: 'NewMiningJob', subprotocol: 'mining', extensionType: 0, msgType: 0x15, channelMsg: true, codec: mining.NewMiningJob },
  UpdateChannel: { specName: 'UpdateChannel', subprotocol: 'mining', extensionType: 0, msgType: 0x16, channelMsg: true, codec: mining.UpdateChannel },
  UpdateChannelError: { specName: 'UpdateChannel.Error', subprotocol: 'mining', extensionType: 0, msgType: 0x17, channelMsg: true, codec: mining.UpdateChannelError },
  CloseChannel: { specName: 'CloseChannel', subprotocol: 'mining', extensionType: 0, msgType: 0x18, channelMsg: true, codec: mining.CloseChannel },
  SetExtranoncePrefix: { specName: 'SetExtranoncePrefix', subprotocol: 'mining', extensionType: 0, msgType: 0x19, channelMsg: true, codec: mining.SetExtranoncePrefix },
  SubmitSharesStandard: { specName: 'SubmitSharesStandard', subprotocol: 'mining', extensionType: 0, msgType: 0x1a, channelMsg: true, codec: mining.SubmitSharesStandard },
  SubmitSharesExtended: { specName: 'SubmitSharesExtended', subprotocol: 'mining', extensionType: 0, msgType: 0x1b, channelMsg: true, codec: mining.SubmitSharesExtended },
  SubmitSharesSuccess: { specName: 'SubmitShares.Success', subprotocol: 'mining', extensionType: 0, msgType: 0x1c, channelMsg: true, codec: mining.SubmitSharesSuccess },
  SubmitSharesError: { specName: 'SubmitShares.Error', subprotocol: 'mining', extensionType: 0, msgType: 0x1d, channelMsg: true, codec: mining.SubmitSharesError },
  // 0x1e is reserved.
  NewExtendedMiningJob: { specName: 'NewExtendedMiningJob', subprotocol: 'mining', extensionType: 0, msgType: 0x1f, channelMsg: true, codec: mining.NewExtendedMiningJob },
  SetNewPrevHash: { specName: 'SetNewPrevHash', subprotocol: 'mining', extensionType: 0, msgType: 0x20, channelMsg: true, codec: mining.SetNewPrevHash },
  SetTarget: { specName: 'SetTarget', subprotocol: 'mining', extensionType: 0, msgType: 0x21, channelMsg: true, codec: mining.SetTarget },
  SetCustomMiningJob: { specName: 'SetCustomMiningJob', subprotocol: 'mining', extensionType: 0, msgType: 0x22, channelMsg: true, codec: mining.SetCustomMiningJob },
  SetCustomMiningJobSuccess: { specName: 'SetCustomMiningJob.Success', subprotocol: 'mining', extensionType: 0, msgType: 0x23, channelMsg: true, codec: mining.SetCustomMiningJobSuccess },
  SetCustomMiningJobError: { specName: 'SetCustomMiningJob.Error', subprotocol: 'mining', extensionType: 0, msgType: 0x24, channelMsg: true, codec: mining.SetCustomMiningJobError },
  SetGroupChannel: { specName: 'SetGroupChannel', subprotocol: 'mining', extensionType: 0, msgType: 0x25, channelMsg: false, codec: mining.SetGroupChannel },
  // Job Declaration (SV2.md §7); 0x52–0x54 are unassigned/removed.
  AllocateMiningJobToken: { specName: 'AllocateMiningJobToken', subprotocol: 'job-declaration', extensionType: 0, msgType: 0x50, channelMsg: false, codec: jd.AllocateMiningJobToken },
  AllocateMiningJobTokenSuccess: { specName: 'AllocateMiningJobToken.Success', subprotocol: 'job-declaration', extensionType: 0, msgType: 0x51, channelMsg: false, codec: jd.AllocateMiningJobTokenSuccess },
  ProvideMissingTransactions: { specName: 'ProvideMissingTransactions', subprotocol: 'job-declaration', extensionType: 0, msgType: 0x55, channelMsg: false, codec: jd.ProvideMissingTransactions },
  ProvideMissingTransactionsSuccess: { specName: 'ProvideMissingTransactions.Success', subprotocol: 'job-declaration', extensionType: 0, msgType: 0x56, channelMsg: false, codec: jd.ProvideMissingTransactionsSuccess },
  DeclareMiningJob: { specName: 'DeclareMiningJob', subprotocol: 'job-declaration', extensionType: 0, msgType: 0x57, channelMsg: false, codec: jd.DeclareMiningJob },
  DeclareMiningJobSuccess: { specName: 'DeclareMiningJob.Success', subprotocol: 'job-declaration', extensionType: 0, msgType: 0x58, channelMsg: false, codec: jd.DeclareMiningJobSuccess },
  DeclareMiningJobError: { specName: 'DeclareMiningJob.Error', subprotocol: 'job-declaration', extensionType: 0, msgType: 0x59, channelMsg: false, codec: jd.DeclareMiningJobError },
  PushSolution: { specName: 'PushSolution', subprotocol: 'job-declaration', extensionType: 0, msgType: 0x60, channelMsg: false, codec: jd.PushSolution },
  // Template Distribution (SV2.md §6)
  CoinbaseOutputConstraints: { specName: 'CoinbaseOutputConstraints', subprotocol: 'template-distribution', extensionType: 0, msgType: 0x70, channelMsg: false, codec: tdp.CoinbaseOutputConstraints },
  NewTemplate: { specName: 'NewTemplate', subprotocol: 'template-distribution', extensionType: 0, msgType: 0x71, channelMsg: false, codec: tdp.NewTemplate },
  SetNewPrevHashTdp: { specName: 'SetNewPrevHash', subprotocol: 'template-distribution', extensionType: 0, msgType: 0x72, channelMsg: false, codec: tdp.SetNewPrevHashTdp },
  RequestTransactionData: { specName: 'RequestTransactionData', subprotocol: 'template-distribution', extensionType: 0, msgType: 0x73, channelMsg: false, codec: tdp.RequestTransactionData },
  RequestTransactionDataSuccess: { specName: 'RequestTransactionData.Success', subprotocol: 'template-distribution', extensionType: 0, msgType: 0x74, channelMsg: false, codec: tdp.RequestTransactionDataSuccess },
  RequestTransactionDataError: { specName: 'RequestTransactionData.Error', subprotocol: 'template-distribution', extensionType: 0, msgType: 0x75, channelMsg: false, codec: tdp.RequestTransactionDataError },
  SubmitSolution: { specName: 'SubmitSolution', subprotocol: 'template-distribution', extensionType: 0, msgType: 0x76, channelMsg: false, codec: tdp.SubmitSolution },
  // Extensions Negotiation, extension 0x0001 (SV2.md §10)
  RequestExtensions: { specName: 'RequestExtensions', subprotocol: 'extensions-negotiation', extensionType: 0x0001, msgType: 0x00, channelMsg: false, codec: extensions.RequestExtensions },
  RequestExtensionsSuccess: { specName: 'RequestExtensions.Success', subprotocol: 'extensions-negotiation', extensionType: 0x0001, msgType: 0x01, channelMsg: false, codec: extensions.RequestExtensionsSuccess },
  RequestExtensionsError: { specName: 'RequestExtensions.Error', subprotocol: 'extensions-negotiation', extensionType: 0x0001, msgType: 0x02, channelMsg: false, codec: extensions.RequestExtensionsError },
};

/** Every catalogued message, in table order. */
export const CATALOG: readonly CatalogEntry[] = Object.entries(ROWS).map(
  ([type, row]) => Object.freeze({ type, ...row }) as unknown as CatalogEntry,
);

const _byType = new Map<string, CatalogEntry>(CATALOG.map((e) => [e.type, e]));
const _byWireKey = new Map<number, CatalogEntry>();
for (const entry of CATALOG) {
  const key = _wireKey(entry.extensionType, entry.msgType);
  // A duplicate number would make dispatch ambiguous; fail loudly at module load (our bug).
  if (_byWireKey.has(key)) throw new Error(`catalog: duplicate (ext 0x${entry.extensionType.toString(16)}, type 0x${entry.msgType.toString(16)})`);
  _byWireKey.set(key, entry);
}

function _wireKey(extensionType: number, msgType: number): number {
  return (extensionType & EXTENSION_ID_MASK) * 256 + msgType;
}

/** The entry for a received (extension, msg_type); the channel bit is masked off. */
export function lookupWire(extensionType: number, msgType: number): CatalogEntry | undefined {
  return _byWireKey.get(_wireKey(extensionType, msgType));
}

/** The entry for a message type name; throws TypeError for a name that is not catalogued. */
export function catalogEntry<T extends MessageType>(type: T): CatalogEntry<T> {
  const entry = _byType.get(type);
  if (entry === undefined) throw new TypeError(`catalogEntry: unknown message type ${JSON.stringify(type)}`);
  return entry as unknown as CatalogEntry<T>;
}

/** True if `name` is a catalogued message type (for untyped input, e.g. config or tests). */
export function isMessageType(name: string): name is MessageType {
  return _byType.has(name);
}
