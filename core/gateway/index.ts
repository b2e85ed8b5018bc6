// Gateway core public API (issue 3 part 2). docs/events.md lists the events, docs/auth.md the
// credential convention.
export { Authenticator, ChannelWorkers, parseUserIdentity, type AuthDecision, type AuthMode, type AuthOptions, type ParsedUserIdentity } from './auth.ts';
export { BlockSubmitter, type BlockSubmitOutcome, type BlockSubmitterOptions, type SubmitBlockCommand } from './block-submitter.ts';
export { createGateway, gatewayOptionsFromConfig, templateProviderOptionsFromConfig, type GatewayDeps } from './create.ts';
export { DeadlineHeap } from './deadline-heap.ts';
export type { ChannelKind, GatewayEvent, GatewayEventSink, GatewayEventType } from './events.ts';
export { GATEWAY_EVENT_TYPES } from './events.ts';
export {
  Gateway,
  type GatewayCommand,
  type GatewayMode,
  type GatewayOptions,
  type GatewayState,
  type GatewayStats,
  type TdpClientStatus,
  type JobDeclarationOptions,
  type TemplateProviderOptions,
  type TransmitItem,
} from './gateway.ts';
export { Session, SUPPORTED_EXTENSIONS, SV2_VERSION, type SessionContext, type SessionState, type WorkSelectionHandler } from './session.ts';
export { BOOT_ID_BYTES, ShareIdAllocator } from './share-id.ts';
export { PolicyWorkSelection, type PolicyWorkSelectionOptions } from './work-selection.ts';
