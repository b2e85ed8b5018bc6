// SV2 frame header and the plaintext deframer (SV2.md §1.1).
//
//   offset 0  U16 LE extension_type  (bit 15 = channel_msg, bits 0..14 = extension id)
//   offset 2  U8     msg_type
//   offset 3  U24 LE msg_length      (payload bytes, header excluded)
//
// The channel_msg flag is the MSB (0x8000) of the U16 value, i.e. bit 7 of byte 1 on the wire,
// whatever the spec's wording says (SV2.md §1.1, §9.7).
import { ByteQueue } from '../byte-queue.ts';
import { protocolError, type ProtocolError } from '../errors.ts';

export const FRAME_HEADER_BYTES = 6;
export const CHANNEL_MSG_BIT = 0x8000;
export const EXTENSION_ID_MASK = 0x7fff;
/** U24 maximum: the largest payload the header can describe. */
export const PAYLOAD_BYTES_LIMIT = 0xffffff;

export interface FrameHeader {
  /** Extension id with the channel bit removed (0 = core protocols). */
  readonly extensionType: number;
  readonly channelMsg: boolean;
  readonly msgType: number;
  /** Plaintext payload length in bytes. */
  readonly msgLength: number;
}

export interface Frame {
  readonly header: FrameHeader;
  readonly payload: Uint8Array;
}

export function encodeHeader(header: FrameHeader, out: Uint8Array = new Uint8Array(FRAME_HEADER_BYTES), offset = 0): Uint8Array {
  const { extensionType, channelMsg, msgType, msgLength } = header;
  if (!(Number.isInteger(extensionType) && extensionType >= 0 && extensionType <= EXTENSION_ID_MASK)) {
    throw new RangeError(`encodeHeader: extensionType must be 0..0x7fff, got ${extensionType}`);
  }
  if (!(Number.isInteger(msgType) && msgType >= 0 && msgType <= 0xff)) {
    throw new RangeError(`encodeHeader: msgType must be 0..255, got ${msgType}`);
  }
  if (!(Number.isInteger(msgLength) && msgLength >= 0 && msgLength <= PAYLOAD_BYTES_LIMIT)) {
    throw new RangeError(`encodeHeader: msgLength must be 0..${PAYLOAD_BYTES_LIMIT}, got ${msgLength}`);
  }
  const ext = extensionType | (channelMsg ? CHANNEL_MSG_BIT : 0);
  out[offset] = ext & 0xff;
  out[offset + 1] = ext >>> 8;
  out[offset + 2] = msgType;
  out[offset + 3] = msgLength & 0xff;
  out[offset + 4] = (msgLength >>> 8) & 0xff;
  out[offset + 5] = msgLength >>> 16;
  return out;
}

/** Parse 6 header bytes. Every 6-byte string is a syntactically valid header. */
export function decodeHeader(bytes: Uint8Array, offset = 0): FrameHeader {
  if (bytes.length - offset < FRAME_HEADER_BYTES) {
    throw new RangeError(`decodeHeader: need ${FRAME_HEADER_BYTES} bytes at offset ${offset}, have ${bytes.length - offset}`);
  }
  const ext = bytes[offset]! | (bytes[offset + 1]! << 8);
  return {
    extensionType: ext & EXTENSION_ID_MASK,
    channelMsg: (ext & CHANNEL_MSG_BIT) !== 0,
    msgType: bytes[offset + 2]!,
    msgLength: bytes[offset + 3]! | (bytes[offset + 4]! << 8) | (bytes[offset + 5]! << 16),
  };
}

/** Header + payload in one buffer (the plaintext frame; Noise wraps it unchanged). */
export function encodeFrame(header: Omit<FrameHeader, 'msgLength'>, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  encodeHeader({ ...header, msgLength: payload.length }, out, 0);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** What a deframer hands back: a frame, how many more bytes it needs, or a terminal error. */
export type DeframeResult =
  | { readonly kind: 'frame'; readonly frame: Frame }
  | { readonly kind: 'need'; readonly bytes: number }
  | { readonly kind: 'error'; readonly error: ProtocolError };

export interface DeframerOptions {
  /** Largest payload accepted; a header announcing more is refused before buffering. */
  readonly payloadBytesMax?: number;
}

/**
 * Incremental plaintext deframer (for unencrypted links, e.g. a LAN or tests). "Need more
 * bytes" is a value; the first error is terminal and repeated on every later call.
 */
export class PlainDeframer {
  readonly #queue = new ByteQueue();
  readonly #payloadBytesMax: number;
  #header: FrameHeader | undefined;
  #error: ProtocolError | undefined;

  constructor(options: DeframerOptions = {}) {
    this.#payloadBytesMax = options.payloadBytesMax ?? PAYLOAD_BYTES_LIMIT;
  }

  get buffered(): number {
    return this.#queue.length;
  }

  push(bytes: Uint8Array): void {
    if (this.#error === undefined) this.#queue.push(bytes);
  }

  next(): DeframeResult {
    if (this.#error !== undefined) return { kind: 'error', error: this.#error };
    if (this.#header === undefined) {
      if (this.#queue.length < FRAME_HEADER_BYTES) return { kind: 'need', bytes: FRAME_HEADER_BYTES - this.#queue.length };
      const header = decodeHeader(this.#queue.take(FRAME_HEADER_BYTES));
      if (header.msgLength > this.#payloadBytesMax) {
        this.#queue.clear();
        this.#error = protocolError(
          'frame-too-large',
          'remote',
          `frame announces ${header.msgLength} payload bytes, maximum is ${this.#payloadBytesMax}`,
        );
        return { kind: 'error', error: this.#error };
      }
      this.#header = header;
    }
    const header = this.#header;
    if (this.#queue.length < header.msgLength) return { kind: 'need', bytes: header.msgLength - this.#queue.length };
    this.#header = undefined;
    return { kind: 'frame', frame: { header, payload: this.#queue.take(header.msgLength) } };
  }
}
