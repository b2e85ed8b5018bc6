// Noise transport phase (SV2.md §3.7): one CipherState per direction, chunked frame encryption
// and an incremental encrypted deframer.
//
//   [ AEAD(k, n,   "", header6)                 ]  22 bytes (6 + MAC)
//   [ AEAD(k, n+1, "", payload[0 : 65519])      ]  ≤ 65,535 bytes
//   [ AEAD(k, n+2, "", payload[65519 : 131038]) ]  ...
//   [ AEAD(k, n+m, "", last 1..65519 bytes)     ]  len + 16
//
// k1 protects initiator→responder, k2 responder→initiator; nonce 00000000 ‖ LE64(n); no AD; no
// rekey; msg_length in the encrypted header is the PLAINTEXT payload length (SV2.md §9.5); a
// zero-length payload has no payload ciphertext at all (SRI `while start < len`, Core, Bitaxe).
import type { CryptoProvider } from '../crypto/provider.ts';
import { ByteQueue } from '../byte-queue.ts';
import { protocolError, err, ok, type ProtocolError, type Result } from '../errors.ts';
import {
  FRAME_HEADER_BYTES,
  PAYLOAD_BYTES_LIMIT,
  decodeHeader,
  type DeframeResult,
  type FrameHeader,
} from '../codec/frame.ts';
import { CipherState, MAC_BYTES } from './symmetric-state.ts';

/** Enc(header6): 6 + 16. */
export const ENCRYPTED_HEADER_BYTES = FRAME_HEADER_BYTES + MAC_BYTES;
/** One Noise message is at most 65,535 bytes, so a chunk carries ≤ 65,535 − 16 plaintext bytes. */
export const CHUNK_PLAINTEXT_BYTES_MAX = 65_519;
export const CHUNK_CIPHERTEXT_BYTES_MAX = CHUNK_PLAINTEXT_BYTES_MAX + MAC_BYTES;

const EMPTY = new Uint8Array(0);

/** ceil(L / 65,519): the number of payload AEAD blocks (0 for L = 0). */
export function payloadChunkCount(payloadBytes: number): number {
  checkPayloadBytes('payloadChunkCount', payloadBytes);
  return Math.ceil(payloadBytes / CHUNK_PLAINTEXT_BYTES_MAX);
}

/** ct_len(L) = L + 16·ceil(L / 65,519) (SV2.md §3.7). */
export function encryptedPayloadBytes(payloadBytes: number): number {
  return payloadBytes + MAC_BYTES * payloadChunkCount(payloadBytes);
}

/** 22 + ct_len(L): the bytes one encrypted frame occupies on the wire. */
export function encryptedFrameBytes(payloadBytes: number): number {
  return ENCRYPTED_HEADER_BYTES + encryptedPayloadBytes(payloadBytes);
}

function checkPayloadBytes(where: string, payloadBytes: number): void {
  if (!(Number.isInteger(payloadBytes) && payloadBytes >= 0 && payloadBytes <= PAYLOAD_BYTES_LIMIT)) {
    throw new RangeError(`${where}: payloadBytes must be an integer in 0..${PAYLOAD_BYTES_LIMIT}, got ${payloadBytes}`);
  }
}

/** The two keys from Split (SV2.md §3.7). */
export interface TransportKeys {
  /** k1: encrypts initiator→responder traffic. */
  readonly initiatorToResponderKey: Uint8Array;
  /** k2: encrypts responder→initiator traffic. */
  readonly responderToInitiatorKey: Uint8Array;
}

export type NoiseRole = 'initiator' | 'responder';

/** Encrypts whole plaintext frames for one direction. */
export class FrameEncryptor {
  readonly #cipher: CipherState;

  constructor(provider: CryptoProvider, key: Uint8Array) {
    this.#cipher = new CipherState(provider, key);
  }

  /** Next nonce counter value (frames use 1 + chunk count nonces each). */
  get nonce(): bigint {
    return this.#cipher.nonce;
  }

  /** Noise SetNonce, for tests of the 2^64−1 limit. */
  setNonce(n: bigint): void {
    this.#cipher.setNonce(n);
  }

  /**
   * Encrypt one plaintext frame (6-byte header ‖ payload, as `encodeFrame` builds it). A frame
   * whose header length disagrees with its payload is misuse (RangeError). The only returned
   * failure is `nonce-exhausted` (no rekey in SV2): the whole frame is refused up front, so no
   * partial frame ever reaches the wire and the counter is unchanged.
   */
  encryptFrame(plaintextFrame: Uint8Array): Result<Uint8Array> {
    _checkPlaintextFrame('encryptFrame', plaintextFrame);
    const out = new Uint8Array(encryptedFrameBytes(plaintextFrame.length - FRAME_HEADER_BYTES));
    const written = this.encryptFrameInto(plaintextFrame, out, 0);
    return written.ok ? ok(out) : written;
  }

  /**
   * encryptFrame written into `out` at `offset`, which must have room for
   * `encryptedFrameBytes(payload length)` bytes (RangeError otherwise). Returns the bytes
   * written. One output buffer for header and payload seals: no per-seal arrays (with a provider
   * that has aeadEncryptInto) and no concatenation (the prevhash fan-out seals 20,000 frames).
   */
  encryptFrameInto(plaintextFrame: Uint8Array, out: Uint8Array, offset: number): Result<number> {
    _checkPlaintextFrame('encryptFrameInto', plaintextFrame);
    const payloadBytes = plaintextFrame.length - FRAME_HEADER_BYTES;
    // msg_length is U24 LE at header bytes 3..5 (codec/frame.ts).
    const msgLength = plaintextFrame[3]! | (plaintextFrame[4]! << 8) | (plaintextFrame[5]! << 16);
    if (msgLength !== payloadBytes) {
      throw new RangeError(`encryptFrame: header msg_length ${msgLength} != payload length ${payloadBytes}`);
    }
    const frameBytes = encryptedFrameBytes(payloadBytes);
    if (!(out instanceof Uint8Array) || !Number.isInteger(offset) || offset < 0 || offset + frameBytes > out.length) {
      throw new RangeError(`encryptFrameInto: out needs ${frameBytes} bytes at offset ${offset}, has ${out instanceof Uint8Array ? out.length : typeof out}`);
    }
    const chunks = payloadChunkCount(payloadBytes);
    if (!this.#cipher.hasNoncesFor(1 + chunks)) {
      return err(protocolError('nonce-exhausted', 'local', 'send nonce would reach 2^64-1; SV2 has no rekey, the session must end'));
    }
    if (chunks <= 1) {
      const views = _frameViews(plaintextFrame);
      let written = offset + this.#cipher.encryptWithAdInto(EMPTY, views.header, out, offset);
      if (chunks === 1) written += this.#cipher.encryptWithAdInto(EMPTY, views.payload, out, written);
      return ok(written - offset);
    }
    let written = offset + this.#cipher.encryptWithAdInto(EMPTY, plaintextFrame.subarray(0, FRAME_HEADER_BYTES), out, offset);
    for (let start = FRAME_HEADER_BYTES; start < plaintextFrame.length; start += CHUNK_PLAINTEXT_BYTES_MAX) {
      const end = Math.min(start + CHUNK_PLAINTEXT_BYTES_MAX, plaintextFrame.length);
      written += this.#cipher.encryptWithAdInto(EMPTY, plaintextFrame.subarray(start, end), out, written);
    }
    return ok(written - offset);
  }
}

// The header and payload views of the frame sealed last. During a broadcast every connection
// seals the same frame object, patched in place between seals (core/gateway/broadcast-encoder.ts),
// so its two subarrays are made once per broadcast instead of once per connection (two typed-array
// objects per frame: ~4,000 per prevhash switch to 1,000 connections, garbage of the switch). A
// view reads the frame's current bytes, so the patches are sealed. Keyed by identity: an array's
// length is fixed (and the payload view of a length-tracking one tracks it too).
let _viewsOf: Uint8Array | undefined;
let _views: { readonly header: Uint8Array; readonly payload: Uint8Array } = { header: EMPTY, payload: EMPTY };

function _frameViews(plaintextFrame: Uint8Array): { readonly header: Uint8Array; readonly payload: Uint8Array } {
  if (plaintextFrame !== _viewsOf) {
    _views = { header: plaintextFrame.subarray(0, FRAME_HEADER_BYTES), payload: plaintextFrame.subarray(FRAME_HEADER_BYTES) };
    _viewsOf = plaintextFrame;
  }
  return _views;
}

function _checkPlaintextFrame(where: string, plaintextFrame: Uint8Array): void {
  if (!(plaintextFrame instanceof Uint8Array) || plaintextFrame.length < FRAME_HEADER_BYTES) {
    throw new RangeError(
      `${where}: plaintextFrame must be a Uint8Array of at least ${FRAME_HEADER_BYTES} bytes, got ${
        plaintextFrame instanceof Uint8Array ? `${plaintextFrame.length} bytes` : typeof plaintextFrame
      }`,
    );
  }
}

export interface EncryptedDeframerOptions {
  /**
   * Largest plaintext payload accepted. A header announcing more is refused with
   * `frame-too-large` right after the 22-byte header is decrypted, before any payload is
   * buffered. Default 2^24−1 (the U24 limit); gateways configure much less.
   */
  readonly payloadBytesMax?: number;
}

/**
 * Incremental deframer for one encrypted direction. Reads 22 bytes, decrypts the header,
 * checks msg_length against `payloadBytesMax`, waits for ct_len(L) bytes, then decrypts chunk by
 * chunk. "Need more" is a value; the first error (`decrypt-failed`, `frame-too-large`,
 * `nonce-exhausted`) is terminal: later bytes are dropped and every call returns that error.
 */
export class EncryptedDeframer {
  readonly #cipher: CipherState;
  readonly #queue = new ByteQueue();
  readonly #payloadBytesMax: number;
  #header: FrameHeader | undefined;
  #error: ProtocolError | undefined;

  constructor(provider: CryptoProvider, key: Uint8Array, options: EncryptedDeframerOptions = {}) {
    const max = options.payloadBytesMax ?? PAYLOAD_BYTES_LIMIT;
    checkPayloadBytes('EncryptedDeframer payloadBytesMax', max);
    this.#cipher = new CipherState(provider, key);
    this.#payloadBytesMax = max;
  }

  /** Ciphertext bytes held (at most one frame's worth beyond what `next` has consumed). */
  get buffered(): number {
    return this.#queue.length;
  }

  get nonce(): bigint {
    return this.#cipher.nonce;
  }

  setNonce(n: bigint): void {
    this.#cipher.setNonce(n);
  }

  /** The terminal error, if one happened. */
  get error(): ProtocolError | undefined {
    return this.#error;
  }

  push(bytes: Uint8Array): void {
    if (this.#error === undefined) this.#queue.push(bytes);
  }

  next(): DeframeResult {
    if (this.#error !== undefined) return { kind: 'error', error: this.#error };
    if (this.#header === undefined) {
      if (this.#queue.length < ENCRYPTED_HEADER_BYTES) return { kind: 'need', bytes: ENCRYPTED_HEADER_BYTES - this.#queue.length };
      if (!this.#cipher.hasNoncesFor(1)) return this.#fail('nonce-exhausted', 'receive nonce reached 2^64-1; SV2 has no rekey');
      const plainHeader = this.#cipher.decryptWithAd(EMPTY, this.#queue.take(ENCRYPTED_HEADER_BYTES));
      if (plainHeader === null) return this.#fail('decrypt-failed', 'frame header MAC does not verify', 'header');
      const header = decodeHeader(plainHeader);
      if (header.msgLength > this.#payloadBytesMax) {
        return this.#fail('frame-too-large', `frame announces ${header.msgLength} payload bytes, maximum is ${this.#payloadBytesMax}`);
      }
      if (!this.#cipher.hasNoncesFor(payloadChunkCount(header.msgLength))) {
        return this.#fail('nonce-exhausted', 'receive nonce would reach 2^64-1; SV2 has no rekey');
      }
      this.#header = header;
    }
    const header = this.#header;
    const payloadBytes = header.msgLength;
    const ciphertextBytes = encryptedPayloadBytes(payloadBytes);
    if (this.#queue.length < ciphertextBytes) return { kind: 'need', bytes: ciphertextBytes - this.#queue.length };
    // All ciphertext is here: decrypt each ≤ 65,535-byte piece with its own nonce.
    let payload: Uint8Array;
    if (payloadBytes === 0) {
      payload = new Uint8Array(0);
    } else if (ciphertextBytes <= CHUNK_CIPHERTEXT_BYTES_MAX) {
      const plain = this.#cipher.decryptWithAd(EMPTY, this.#queue.take(ciphertextBytes));
      if (plain === null) return this.#fail('decrypt-failed', 'frame payload MAC does not verify', 'payload');
      payload = plain;
    } else {
      payload = new Uint8Array(payloadBytes);
      for (let offset = 0; offset < payloadBytes; offset += CHUNK_PLAINTEXT_BYTES_MAX) {
        const plainBytes = Math.min(CHUNK_PLAINTEXT_BYTES_MAX, payloadBytes - offset);
        const plain = this.#cipher.decryptWithAd(EMPTY, this.#queue.take(plainBytes + MAC_BYTES));
        if (plain === null) return this.#fail('decrypt-failed', `frame payload chunk at offset ${offset} MAC does not verify`, 'payload');
        payload.set(plain, offset);
      }
    }
    this.#header = undefined;
    return { kind: 'frame', frame: { header, payload } };
  }

  #fail(code: string, message: string, field?: string): DeframeResult {
    this.#queue.clear();
    this.#header = undefined;
    // Nonce exhaustion is our limit, not the peer's fault; everything else is what the peer sent.
    this.#error = protocolError(code, code === 'nonce-exhausted' ? 'local' : 'remote', message, field);
    return { kind: 'error', error: this.#error };
  }
}

/** The pair of transport objects one endpoint uses after Split. */
export interface NoiseTransport {
  readonly encryptor: FrameEncryptor;
  readonly deframer: EncryptedDeframer;
}

/**
 * Wire the Split keys for `role`: the initiator encrypts with k1 and decrypts with k2; the
 * responder the other way round (SV2.md §3.7; SRI initiator encryptor = c1, responder = c2).
 */
export function createTransport(
  provider: CryptoProvider,
  role: NoiseRole,
  keys: TransportKeys,
  options: EncryptedDeframerOptions = {},
): NoiseTransport {
  const sendKey = role === 'initiator' ? keys.initiatorToResponderKey : keys.responderToInitiatorKey;
  const receiveKey = role === 'initiator' ? keys.responderToInitiatorKey : keys.initiatorToResponderKey;
  return { encryptor: new FrameEncryptor(provider, sendKey), deframer: new EncryptedDeframer(provider, receiveKey, options) };
}
