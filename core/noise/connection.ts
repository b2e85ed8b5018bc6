// Sans-IO Noise connections (STYLE.md "Core in, core out"; models: quinn-proto's
// `handle_timeout`/`poll_transmit`/`poll_timeout`, h11's `next_event`). A connection takes
// bytes and the current monotonic time, and hands back bytes to send, events and its next
// deadline. It never reads a clock, never does I/O, never calls back.
//
//   receive(bytes, nowMs)  → feed bytes from the socket (ownership passes to the connection)
//   send(plaintextFrame)   → queue one SV2 frame, encrypted (transport state only)
//   pollTransmit()         → next bytes for the socket, or undefined
//   pollEvent()            → handshake-complete | frame | closed, or undefined
//   nextDeadlineMs()       → when to call onTimeout, or undefined
//   onTimeout(nowMs)       → harmless if early or repeated
//
// States: 'handshake' → 'transport' → 'closed'. The first error (peer or local) is terminal:
// state stays 'closed', `error` stays the same, later input is ignored, exactly one `closed`
// event is emitted. Arbitrary peer bytes never throw (SV2.md §3.3: every 64-byte act 1 decodes;
// everything else is a MAC check or a length check that yields a ProtocolError).
import type { CryptoProvider } from '../crypto/provider.ts';
import type { RandomSource } from '../random.ts';
import type { Clock } from '../clock.ts';
import { Deadlines } from '../clock.ts';
import { err, ok, protocolError, type ProtocolError, type Result } from '../errors.ts';
import { FRAME_HEADER_BYTES, PAYLOAD_BYTES_LIMIT, type Frame } from '../codec/frame.ts';
import {
  ExpectInitiatorHello,
  ExpectResponderHello,
  INITIATOR_HELLO_BYTES,
  RESPONDER_HELLO_BYTES,
  type CertificatePolicy,
  type EllswiftKeyPair,
  type HandshakeResult,
} from './handshake.ts';
import type { CertificateFields } from './certificate.ts';
import { createTransport, encryptedFrameBytes, type NoiseRole, type NoiseTransport } from './transport.ts';
import type { TransmitArena } from './transmit-arena.ts';

/** Default time for the whole handshake, from construction to Split. */
export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 10_000;

export type NoiseConnectionState = 'handshake' | 'transport' | 'closed';

export type NoiseEvent =
  | {
      readonly type: 'handshake-complete';
      /** Final handshake hash h. */
      readonly handshakeHash: Uint8Array;
      /** Initiator only: the responder static key the certificate covers. */
      readonly responderStaticXOnly?: Uint8Array;
      /** Initiator only: the decoded certificate fields. */
      readonly certificate?: CertificateFields;
      /** Initiator only: false under the explicit `unverified` policy. */
      readonly certificateVerified?: boolean;
    }
  | { readonly type: 'frame'; readonly frame: Frame }
  | { readonly type: 'closed'; readonly error: ProtocolError };

export interface NoiseConnectionOptions {
  readonly provider: CryptoProvider;
  /** Ephemeral keys (and nothing else) come from here. */
  readonly random: RandomSource;
  /** Largest plaintext payload accepted from the peer; default 2^24−1 (U24 limit). */
  readonly payloadBytesMax?: number;
  /** Handshake must finish within this many ms of construction; default 10,000. */
  readonly handshakeTimeoutMs?: number;
}

export interface NoiseResponderConnectionOptions extends NoiseConnectionOptions {
  /** Responder static key (ResponderIdentity.staticKey). */
  readonly staticKey: EllswiftKeyPair;
  /** 74-byte certificate for the static key (ResponderIdentity.certificateAt(nowS)). */
  readonly certificate: Uint8Array;
  /** Explicit ephemeral key; fixed-key transcripts only. */
  readonly ephemeralKey?: EllswiftKeyPair;
}

export interface NoiseInitiatorConnectionOptions extends NoiseConnectionOptions {
  /** Pin the pool authority key, or skip verification explicitly (SRI without a key). */
  readonly certificatePolicy: CertificatePolicy;
  /** Wall clock for certificate validity (SV2.md §3.6); required when the policy is `pinned`. */
  readonly wallClock?: Pick<Clock, 'wallMs'>;
  /** Explicit ephemeral key; fixed-key transcripts only. */
  readonly ephemeralKey?: EllswiftKeyPair;
}

type _DeadlineName = 'handshake';

/** Shared machinery: deadlines, queues, transport, the terminal error. */
abstract class _NoiseConnection {
  readonly #role: NoiseRole;
  readonly #provider: CryptoProvider;
  readonly #payloadBytesMax: number;
  readonly #deadlines = new Deadlines<_DeadlineName>();
  readonly #events: NoiseEvent[] = [];
  // Bytes for the socket, appended in place: frames are sealed straight into this buffer
  // (FrameEncryptor.encryptFrameInto) and pollTransmit hands it over whole. It starts at the
  // first piece's exact size (small frames stay cheap on-heap arrays) and doubles, so a burst
  // (the prevhash fan-out: 2 frames per channel) costs a few allocations, not one per seal.
  #transmit: Uint8Array | undefined;
  #transmitLength = 0;
  #transport: NoiseTransport | undefined;
  #error: ProtocolError | undefined;

  protected constructor(role: NoiseRole, options: NoiseConnectionOptions, nowMs: number) {
    const where = role === 'initiator' ? 'NoiseInitiatorConnection' : 'NoiseResponderConnection';
    if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options must be an object, got ${String(options)}`);
    _checkNow(where, nowMs);
    const payloadBytesMax = options.payloadBytesMax ?? PAYLOAD_BYTES_LIMIT;
    if (!(Number.isInteger(payloadBytesMax) && payloadBytesMax >= 0 && payloadBytesMax <= PAYLOAD_BYTES_LIMIT)) {
      throw new RangeError(`${where}: payloadBytesMax must be an integer in 0..${PAYLOAD_BYTES_LIMIT}, got ${payloadBytesMax}`);
    }
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS_DEFAULT;
    if (!(Number.isFinite(handshakeTimeoutMs) && handshakeTimeoutMs > 0)) {
      throw new RangeError(`${where}: handshakeTimeoutMs must be a positive finite number, got ${handshakeTimeoutMs}`);
    }
    this.#role = role;
    this.#provider = options.provider;
    this.#payloadBytesMax = payloadBytesMax;
    this.#deadlines.set('handshake', nowMs + handshakeTimeoutMs);
  }

  get state(): NoiseConnectionState {
    if (this.#error !== undefined) return 'closed';
    return this.#transport === undefined ? 'handshake' : 'transport';
  }

  /** The terminal error once closed, else undefined. */
  get error(): ProtocolError | undefined {
    return this.#error;
  }

  /**
   * Feed bytes received from the peer at monotonic time `nowMs`. The connection keeps views of
   * `bytes`; the caller must not modify them afterwards. Never throws on any content.
   */
  receive(bytes: Uint8Array, nowMs: number): void {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`receive: bytes must be a Uint8Array, got ${typeof bytes}`);
    _checkNow('receive', nowMs);
    // A driver that is late with onTimeout must not let a handshake finish after its deadline.
    this.onTimeout(nowMs);
    if (this.#error !== undefined || bytes.length === 0) return;
    try {
      let rest = bytes;
      if (this.#transport === undefined) {
        rest = this._receiveHandshake(bytes, nowMs);
        if (this.#error !== undefined || this.#transport === undefined) return;
      }
      this.#receiveTransport(rest);
    } catch (error) {
      // Peer bytes alone cannot get here (every path returns a ProtocolError); a crypto provider
      // fault can. It must cost this one connection, not the process: close it, loudly coded.
      this._fail(protocolError('internal-error', 'local', `receive failed: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  /**
   * Queue one plaintext SV2 frame (6-byte header ‖ payload) for encryption. Sending before the
   * handshake completes is misuse (TypeError): the responder must not speak first (SV2.md §3.8)
   * and the initiator has no keys yet. After close it returns the terminal error. With an
   * `arena` (a broadcast to many connections, transmit-arena.ts) the sealed bytes go into the
   * arena's shared chunks instead of a buffer of this connection's own; the bytes are the same.
   */
  send(plaintextFrame: Uint8Array, arena?: TransmitArena): Result<void> {
    if (this.#error !== undefined) return err(this.#error);
    if (this.#transport === undefined) throw new TypeError('send: the Noise handshake has not completed; wait for handshake-complete');
    if (!(plaintextFrame instanceof Uint8Array) || plaintextFrame.length < FRAME_HEADER_BYTES || plaintextFrame.length - FRAME_HEADER_BYTES > PAYLOAD_BYTES_LIMIT) {
      this.#transport.encryptor.encryptFrame(plaintextFrame); // throws the misuse RangeError
    }
    const frameBytes = encryptedFrameBytes(plaintextFrame.length - FRAME_HEADER_BYTES);
    const buffer = this.#reserveTransmit(frameBytes, arena);
    const sealed = this.#transport.encryptor.encryptFrameInto(plaintextFrame, buffer, this.#transmitLength);
    if (!sealed.ok) {
      this._fail(sealed.error);
      return sealed;
    }
    this.#transmitLength += sealed.value;
    return ok(undefined);
  }

  /** All bytes queued for the socket, joined, or undefined when nothing is pending. */
  pollTransmit(): Uint8Array | undefined {
    const length = this.#transmitLength;
    if (length === 0) return undefined;
    const buffer = this.#transmit!;
    this.#transmit = undefined;
    this.#transmitLength = 0;
    return length === buffer.length ? buffer : buffer.subarray(0, length);
  }

  /** The transmit buffer with room for `bytes` more at #transmitLength. */
  #reserveTransmit(bytes: number, arena?: TransmitArena): Uint8Array {
    const needed = this.#transmitLength + bytes;
    const current = this.#transmit;
    if (current !== undefined && current.length >= needed) return current;
    if (arena !== undefined) {
      // Exactly `needed` bytes: a later send outside the broadcast grows out of the arena.
      this.#transmit = arena.grow(current, this.#transmitLength, needed);
      return this.#transmit;
    }
    const grown = new Uint8Array(current === undefined ? needed : Math.max(needed, 2 * current.length));
    if (current !== undefined) grown.set(current.subarray(0, this.#transmitLength), 0);
    this.#transmit = grown;
    return grown;
  }

  pollEvent(): NoiseEvent | undefined {
    return this.#events.shift();
  }

  /** Next monotonic deadline (the handshake timeout while handshaking), else undefined. */
  nextDeadlineMs(): number | undefined {
    return this.#error === undefined ? this.#deadlines.next() : undefined;
  }

  /** Fire due deadlines. Harmless if called early, late or twice. */
  onTimeout(nowMs: number): void {
    _checkNow('onTimeout', nowMs);
    if (this.#error !== undefined) return;
    for (const name of this.#deadlines.takeDue(nowMs)) {
      if (name === 'handshake' && this.#transport === undefined) {
        this._fail(protocolError('handshake-timeout', 'local', `Noise handshake not completed in time (${this.#role})`));
      }
    }
  }

  /** Close from our side (e.g. after SetupConnection.Error). Queued bytes stay pollable. */
  close(error: ProtocolError = protocolError('closed-locally', 'local', 'connection closed by the local side')): void {
    this._fail(error);
  }

  /** Handle handshake bytes; return whatever arrived after the handshake message. */
  protected abstract _receiveHandshake(bytes: Uint8Array, nowMs: number): Uint8Array;

  protected _queueTransmit(bytes: Uint8Array): void {
    this.#reserveTransmit(bytes.length).set(bytes, this.#transmitLength);
    this.#transmitLength += bytes.length;
  }

  protected _completeHandshake(result: HandshakeResult, event: NoiseEvent & { type: 'handshake-complete' }): void {
    this.#transport = createTransport(this.#provider, this.#role, result.keys, { payloadBytesMax: this.#payloadBytesMax });
    this.#deadlines.clear('handshake');
    this.#events.push(event);
  }

  protected _fail(error: ProtocolError): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    this.#deadlines.clear('handshake');
    this.#events.push({ type: 'closed', error });
  }

  #receiveTransport(bytes: Uint8Array): void {
    const deframer = this.#transport!.deframer;
    deframer.push(bytes);
    for (;;) {
      const result = deframer.next();
      if (result.kind === 'need') return;
      if (result.kind === 'error') {
        this._fail(result.error);
        return;
      }
      this.#events.push({ type: 'frame', frame: result.frame });
    }
  }
}

function _checkNow(where: string, nowMs: number): void {
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new RangeError(`${where}: nowMs must be a finite number, got ${nowMs}`);
}

/** Copy up to `buffer.length - filled` bytes into `buffer`; returns the count copied. */
function _fill(buffer: Uint8Array, filled: number, bytes: Uint8Array): number {
  const count = Math.min(buffer.length - filled, bytes.length);
  buffer.set(bytes.subarray(0, count), filled);
  return count;
}

/**
 * The server side (the gateway): reads exactly 64 bytes (SV2.md §1.2), answers with 234, then
 * speaks encrypted frames. Create it when the TCP connection is accepted.
 */
export class NoiseResponderConnection extends _NoiseConnection {
  readonly #handshake: ExpectInitiatorHello;
  readonly #hello = new Uint8Array(INITIATOR_HELLO_BYTES);
  #helloFilled = 0;

  constructor(options: NoiseResponderConnectionOptions, nowMs: number) {
    super('responder', options, nowMs);
    this.#handshake = new ExpectInitiatorHello({
      provider: options.provider,
      random: options.random,
      staticKey: options.staticKey,
      certificate: options.certificate,
      ...(options.ephemeralKey === undefined ? {} : { ephemeralKey: options.ephemeralKey }),
    });
  }

  protected _receiveHandshake(bytes: Uint8Array): Uint8Array {
    const copied = _fill(this.#hello, this.#helloFilled, bytes);
    this.#helloFilled += copied;
    if (this.#helloFilled < INITIATOR_HELLO_BYTES) return bytes.subarray(bytes.length);
    const output = this.#handshake.readInitiatorHello(this.#hello);
    this._queueTransmit(output.responderHello);
    this._completeHandshake(output, { type: 'handshake-complete', handshakeHash: output.handshakeHash });
    // An honest initiator cannot send transport bytes before reading act 2, but whatever follows
    // is handed to the deframer (and most likely fails its MAC check).
    return bytes.subarray(copied);
  }
}

/**
 * The client side (test clients, load generator, demo miners): act 1 is queued for transmit on
 * construction; reads exactly 234 bytes, checks the certificate, then speaks encrypted frames.
 */
export class NoiseInitiatorConnection extends _NoiseConnection {
  readonly #handshake: ExpectResponderHello;
  readonly #policy: CertificatePolicy;
  readonly #wallClock: Pick<Clock, 'wallMs'> | undefined;
  readonly #hello = new Uint8Array(RESPONDER_HELLO_BYTES);
  #helloFilled = 0;

  constructor(options: NoiseInitiatorConnectionOptions, nowMs: number) {
    super('initiator', options, nowMs);
    if (options.certificatePolicy?.kind === 'pinned' && typeof options.wallClock?.wallMs !== 'function') {
      throw new TypeError('NoiseInitiatorConnection: wallClock is required when certificatePolicy is pinned');
    }
    this.#policy = options.certificatePolicy;
    this.#wallClock = options.wallClock;
    this.#handshake = new ExpectResponderHello({
      provider: options.provider,
      random: options.random,
      certificatePolicy: options.certificatePolicy,
      ...(options.ephemeralKey === undefined ? {} : { ephemeralKey: options.ephemeralKey }),
    });
    this._queueTransmit(this.#handshake.initiatorHello);
  }

  protected _receiveHandshake(bytes: Uint8Array): Uint8Array {
    const copied = _fill(this.#hello, this.#helloFilled, bytes);
    this.#helloFilled += copied;
    if (this.#helloFilled < RESPONDER_HELLO_BYTES) return bytes.subarray(bytes.length);
    // Wall time only matters for a pinned certificate; unverified mode never reads a clock.
    const nowS = this.#policy.kind === 'pinned' ? Math.floor(this.#wallClock!.wallMs() / 1000) : 0;
    const result = this.#handshake.readResponderHello(this.#hello, nowS);
    if (!result.ok) {
      this._fail(result.error);
      return bytes.subarray(bytes.length);
    }
    const done = result.value;
    this._completeHandshake(done, {
      type: 'handshake-complete',
      handshakeHash: done.handshakeHash,
      responderStaticXOnly: done.responderStaticXOnly,
      certificate: done.certificate,
      certificateVerified: done.certificateVerified,
    });
    return bytes.subarray(copied);
  }
}
