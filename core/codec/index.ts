// Public codec API: frames, data types, the message catalog, TLVs.
//
// Receive leniently, send strictly (SV2.md §1.1, §9):
//  - decodeMessage never throws on any bytes: it ignores the header's channel bit and any
//    trailing payload bytes (except TLVs of negotiated extensions on SubmitSharesExtended) and
//    returns a ProtocolError (`unknown-message`, `truncated`, `invalid-length`,
//    `invalid-option`) naming the field.
//  - encodeMessage sets the catalog's channel bit, writes exactly the fields (plus TLVs only
//    when given) and throws TypeError/RangeError naming the field on an out-of-range value.
import { err, ok, protocolError, type Result } from '../errors.ts';
import { catalogEntry, lookupWire, type CatalogEntry, type MessageType, type Sv2Message } from './catalog.ts';
import { decodeHeader, FRAME_HEADER_BYTES, encodeHeader, PAYLOAD_BYTES_LIMIT, type Frame, type FrameHeader } from './frame.ts';
import { Reader, Writer, type DecodeOptions, type MessageCodec } from './types.ts';

export * from './frame.ts';
export * from './types.ts';
export * from './tlv.ts';
export * from './catalog.ts';
export * as common from './messages/common.ts';
export * as mining from './messages/mining.ts';
export * as templateDistribution from './messages/template-distribution.ts';
export * as jobDeclaration from './messages/job-declaration.ts';
export * as extensions from './messages/extensions.ts';
export type * from './messages/common.ts';
export type * from './messages/mining.ts';
export type * from './messages/template-distribution.ts';
export type * from './messages/job-declaration.ts';
export type * from './messages/extensions.ts';

function _entryOf(message: Sv2Message): CatalogEntry {
  if (message === null || typeof message !== 'object') throw new TypeError(`message must be an object, got ${String(message)}`);
  return catalogEntry(message.type) as CatalogEntry;
}

/** The header fields the catalog prescribes for `message` (channel bit as in SV2.md tables). */
export function messageHeader(message: Sv2Message): Omit<FrameHeader, 'msgLength'> {
  const entry = _entryOf(message);
  return { extensionType: entry.extensionType, channelMsg: entry.channelMsg, msgType: entry.msgType };
}

/** The payload only (no header). Strict: throws TypeError/RangeError naming the field. */
export function encodePayload(message: Sv2Message): Uint8Array {
  const codec = _entryOf(message).codec as unknown as MessageCodec<Sv2Message>;
  const writer = new Writer();
  codec.encode(writer, message);
  return writer.finish();
}

/** The whole plaintext frame: 6-byte header (catalog channel bit) + payload. Strict. */
export function encodeMessage(message: Sv2Message): Uint8Array {
  const entry = _entryOf(message);
  // Writer's default capacity (64 bytes) keeps small frames in V8's on-heap typed arrays, which
  // are much cheaper to allocate than off-heap ones.
  const writer = new Writer();
  writer.skip(FRAME_HEADER_BYTES);
  (entry.codec as unknown as MessageCodec<Sv2Message>).encode(writer, message);
  const msgLength = writer.length - FRAME_HEADER_BYTES;
  if (msgLength > PAYLOAD_BYTES_LIMIT) {
    throw new RangeError(`${message.type}: payload is ${msgLength} bytes, the U24 msg_length allows ${PAYLOAD_BYTES_LIMIT}`);
  }
  // Explicit object, no spread: spreading here cost more than the whole payload encode.
  encodeHeader({ extensionType: entry.extensionType, channelMsg: entry.channelMsg, msgType: entry.msgType, msgLength }, writer.buffer, 0);
  return writer.finish();
}

/** Decode a frame's payload by (extension & 0x7fff, msg_type). Never throws. */
export function decodeMessage(frame: Frame, options: DecodeOptions = {}): Result<Sv2Message> {
  const { header, payload } = frame;
  const entry = lookupWire(header.extensionType, header.msgType);
  if (entry === undefined) {
    return err(
      protocolError(
        'unknown-message',
        'remote',
        `no message (extension 0x${(header.extensionType & 0x7fff).toString(16).padStart(4, '0')}, msg_type 0x${header.msgType.toString(16).padStart(2, '0')})`,
      ),
    );
  }
  const reader = new Reader(payload);
  const message = (entry.codec as unknown as MessageCodec<Sv2Message>).decode(reader, options);
  return reader.failure === undefined ? ok(message) : err(reader.failure);
}

/** Decode one whole plaintext frame (header + exactly msg_length payload bytes). Never throws. */
export function decodeFrameBytes(bytes: Uint8Array, options: DecodeOptions = {}): Result<Sv2Message> {
  if (bytes.length < FRAME_HEADER_BYTES) {
    return err(protocolError('truncated', 'remote', `frame header needs ${FRAME_HEADER_BYTES} bytes, got ${bytes.length}`, 'header'));
  }
  const header = decodeHeader(bytes);
  const available = bytes.length - FRAME_HEADER_BYTES;
  if (available < header.msgLength) {
    return err(protocolError('truncated', 'remote', `frame announces ${header.msgLength} payload bytes, got ${available}`, 'payload'));
  }
  if (available > header.msgLength) {
    return err(protocolError('frame-length-mismatch', 'remote', `frame announces ${header.msgLength} payload bytes, got ${available}`, 'payload'));
  }
  return decodeMessage({ header, payload: bytes.subarray(FRAME_HEADER_BYTES) }, options);
}

/** Type guard narrowing a decoded message by its discriminant. */
export function isMessage<T extends MessageType>(message: Sv2Message, type: T): message is Extract<Sv2Message, { readonly type: T }> {
  return message.type === type;
}
