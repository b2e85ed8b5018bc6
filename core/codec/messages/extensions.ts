// Extensions Negotiation messages, extension_type 0x0001, channel bit 0 (SV2.md §10). Sent right
// after SetupConnection.Success. `request_id` is a U16 here, unlike the U32 elsewhere.
// msg_type 0x00 under ext 0x0001 is RequestExtensions, not SetupConnection: dispatch always
// keys on (extension, msg_type) (SV2.md §1.1). Numbers live in the catalog.
import { type DataType, defineMessage, type MessageCodec, type MessageOf, SEQ0_64K, U16 } from '../types.ts';

// Composite field types as named constants, so that each field list below is a plain literal
// whose type JSR can read without inference (deno publish: no slow types).
const SEQ0_64K_U16: DataType<readonly number[]> = SEQ0_64K(U16);

const REQUEST_EXTENSIONS_FIELDS = [
  ['requestId', 'request_id', U16],
  ['requestedExtensions', 'requested_extensions', SEQ0_64K_U16],
] as const;
export const RequestExtensions: MessageCodec<MessageOf<'RequestExtensions', typeof REQUEST_EXTENSIONS_FIELDS>> = defineMessage('RequestExtensions', REQUEST_EXTENSIONS_FIELDS);

const REQUEST_EXTENSIONS_SUCCESS_FIELDS = [
  ['requestId', 'request_id', U16],
  ['supportedExtensions', 'supported_extensions', SEQ0_64K_U16],
] as const;
export const RequestExtensionsSuccess: MessageCodec<MessageOf<'RequestExtensionsSuccess', typeof REQUEST_EXTENSIONS_SUCCESS_FIELDS>> = defineMessage('RequestExtensionsSuccess', REQUEST_EXTENSIONS_SUCCESS_FIELDS);

const REQUEST_EXTENSIONS_ERROR_FIELDS = [
  ['requestId', 'request_id', U16],
  ['unsupportedExtensions', 'unsupported_extensions', SEQ0_64K_U16],
  ['requiredExtensions', 'required_extensions', SEQ0_64K_U16],
] as const;
export const RequestExtensionsError: MessageCodec<MessageOf<'RequestExtensionsError', typeof REQUEST_EXTENSIONS_ERROR_FIELDS>> = defineMessage('RequestExtensionsError', REQUEST_EXTENSIONS_ERROR_FIELDS);

export type RequestExtensions = ReturnType<typeof RequestExtensions.decode>;
export type RequestExtensionsSuccess = ReturnType<typeof RequestExtensionsSuccess.decode>;
export type RequestExtensionsError = ReturnType<typeof RequestExtensionsError.decode>;

export type ExtensionsMessage = RequestExtensions | RequestExtensionsSuccess | RequestExtensionsError;
