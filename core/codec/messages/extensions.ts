// Extensions Negotiation messages, extension_type 0x0001, channel bit 0 (SV2.md §10). Sent right
// after SetupConnection.Success. `request_id` is a U16 here, unlike the U32 elsewhere.
// msg_type 0x00 under ext 0x0001 is RequestExtensions, not SetupConnection: dispatch always
// keys on (extension, msg_type) (SV2.md §1.1). Numbers live in the catalog.
import { defineMessage, SEQ0_64K, U16 } from '../types.ts';

export const RequestExtensions = defineMessage('RequestExtensions', [
  ['requestId', 'request_id', U16],
  ['requestedExtensions', 'requested_extensions', SEQ0_64K(U16)],
]);

export const RequestExtensionsSuccess = defineMessage('RequestExtensionsSuccess', [
  ['requestId', 'request_id', U16],
  ['supportedExtensions', 'supported_extensions', SEQ0_64K(U16)],
]);

export const RequestExtensionsError = defineMessage('RequestExtensionsError', [
  ['requestId', 'request_id', U16],
  ['unsupportedExtensions', 'unsupported_extensions', SEQ0_64K(U16)],
  ['requiredExtensions', 'required_extensions', SEQ0_64K(U16)],
]);

export type RequestExtensions = ReturnType<typeof RequestExtensions.decode>;
export type RequestExtensionsSuccess = ReturnType<typeof RequestExtensionsSuccess.decode>;
export type RequestExtensionsError = ReturnType<typeof RequestExtensionsError.decode>;

export type ExtensionsMessage = RequestExtensions | RequestExtensionsSuccess | RequestExtensionsError;
