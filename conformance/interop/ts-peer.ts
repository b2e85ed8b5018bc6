// Minimal SV2 test peers for the SRI interop run (conformance/interop/run.ts): a node:net server
// that drives core's NoiseResponderConnection and a client that drives NoiseInitiatorConnection,
// both speaking our codec. They are test peers, not the gateway: one connection, a fixed
// script (SetupConnection → OpenStandardMiningChannel → future NewMiningJob → SetNewPrevHash,
// SV2.md §3.8 and §5.3), and a timeout on every wait.
import net from 'node:net';
import { SystemClock } from '../../adapters/clock.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';
import type { ProtocolError } from '../../core/errors.ts';
import type { RandomSource } from '../../core/random.ts';
import { decodeMessage, encodeFrame, encodeMessage, type Frame, type Sv2Message } from '../../core/codec/index.ts';
import {
  NoiseInitiatorConnection,
  NoiseResponderConnection,
  ResponderIdentity,
  type NoiseEvent,
} from '../../core/noise/index.ts';

/** One received frame: the plaintext bytes as reassembled, and our decoding of them. */
export interface Received {
  readonly frameBytes: Uint8Array;
  readonly frame: Frame;
  readonly message: Sv2Message;
}

type _Waiter = {
  readonly resolve: (event: NoiseEvent) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
};

/**
 * The one pump between a socket and a sans-IO Noise connection: socket bytes go into
 * `receive`, `pollTransmit` output goes to the socket, events queue up for `nextEvent`, and the
 * connection's deadline is armed as a timer.
 */
export class NoisePeer {
  readonly #socket: net.Socket;
  readonly #connection: NoiseInitiatorConnection | NoiseResponderConnection;
  readonly #clock = new SystemClock();
  readonly #events: NoiseEvent[] = [];
  #waiter: _Waiter | undefined;
  #deadlineTimer: number | undefined;
  #socketError: Error | undefined;
  /** Everything we sent, as plaintext frames, in order. */
  readonly sent: { readonly message: Sv2Message; readonly frameBytes: Uint8Array }[] = [];

  constructor(socket: net.Socket, connection: NoiseInitiatorConnection | NoiseResponderConnection) {
    this.#socket = socket;
    this.#connection = connection;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        // The connection keeps views of what it is given: hand it a private copy.
        this.#connection.receive(new Uint8Array(chunk), this.#clock.monotonicMs());
        this.#pump();
      } catch (error) {
        // receive() must never throw on peer bytes; if it does, that is the finding: fail the
        // waiting step with it instead of crashing the driver.
        this.#socketError = new Error(`connection.receive threw: ${error instanceof Error ? error.message : String(error)}`);
        socket.destroy();
        this.#wake();
      }
    });
    socket.on('error', (error) => {
      this.#socketError = error;
      this.#wake();
    });
    socket.on('close', () => {
      this.#socketError ??= new Error('socket closed by peer');
      this.#wake();
    });
    this.#pump();
  }

  get connection(): NoiseInitiatorConnection | NoiseResponderConnection {
    return this.#connection;
  }

  /** Encode `message` with our codec, encrypt and send it. Returns the plaintext frame. */
  send(message: Sv2Message): Uint8Array {
    const frameBytes = encodeMessage(message);
    const result = this.#connection.send(frameBytes);
    if (!result.ok) throw new Error(`send ${message.type}: ${_describe(result.error)}`);
    this.sent.push({ message, frameBytes });
    this.#pump();
    return frameBytes;
  }

  /** Wait for the handshake to complete; throws on close, socket error or timeout. */
  async handshake(timeoutMs: number): Promise<NoiseEvent & { type: 'handshake-complete' }> {
    const event = await this.#nextEvent(timeoutMs, 'handshake-complete');
    if (event.type !== 'handshake-complete') throw new Error(`expected handshake-complete, got ${event.type}`);
    return event;
  }

  /** Next decoded frame; throws on close, a decode error, socket error or timeout. */
  async next(timeoutMs: number, what = 'a frame'): Promise<Received> {
    const event = await this.#nextEvent(timeoutMs, what);
    if (event.type !== 'frame') throw new Error(`expected ${what}, got event ${event.type}`);
    const { header, payload } = event.frame;
    // Rebuild the plaintext frame exactly as the peer sent it (header fields as received).
    const frameBytes = encodeFrame({ extensionType: header.extensionType, channelMsg: header.channelMsg, msgType: header.msgType }, payload);
    const decoded = decodeMessage(event.frame);
    if (!decoded.ok) throw new Error(`our decoder rejected ${what}: ${_describe(decoded.error)}`);
    return { frameBytes, frame: event.frame, message: decoded.value };
  }

  /** Wait until the peer closes the socket (or `timeoutMs`); never throws. */
  async closedByPeer(timeoutMs: number): Promise<boolean> {
    if (this.#socket.destroyed || this.#socket.readableEnded) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(): void {
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimer(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#socket.destroy();
  }

  #pump(): void {
    for (let bytes = this.#connection.pollTransmit(); bytes !== undefined; bytes = this.#connection.pollTransmit()) {
      if (!this.#socket.destroyed) this.#socket.write(bytes);
    }
    for (let event = this.#connection.pollEvent(); event !== undefined; event = this.#connection.pollEvent()) {
      this.#events.push(event);
    }
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimer(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    const deadline = this.#connection.nextDeadlineMs();
    if (deadline !== undefined) {
      this.#deadlineTimer = this.#clock.setTimer(deadline - this.#clock.monotonicMs(), () => {
        this.#deadlineTimer = undefined;
        this.#connection.onTimeout(this.#clock.monotonicMs());
        this.#pump();
      });
    }
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    const event = this.#events.shift();
    if (event !== undefined) {
      this.#waiter = undefined;
      clearTimeout(waiter.timer);
      if (event.type === 'closed') waiter.reject(new Error(`connection closed: ${_describe(event.error)}`));
      else waiter.resolve(event);
    } else if (this.#socketError !== undefined) {
      this.#waiter = undefined;
      clearTimeout(waiter.timer);
      const closed = this.#connection.error;
      waiter.reject(new Error(closed ? `connection closed: ${_describe(closed)}` : this.#socketError.message));
    }
  }

  #nextEvent(timeoutMs: number, what: string): Promise<NoiseEvent> {
    if (this.#waiter !== undefined) throw new TypeError('NoisePeer: one wait at a time');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`timeout after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.#waiter = { resolve, reject, timer };
      this.#wake();
    });
  }
}

function _describe(error: ProtocolError): string {
  return `${error.code} (${error.origin}): ${error.message}`;
}

// ---- the server side ----------------------------------------------------------------------

export interface TestResponderOptions {
  readonly provider: CryptoProvider;
  readonly random: RandomSource;
  readonly authoritySecretKey: Uint8Array;
  /** Handles the one accepted connection; its result settles `session`. */
  readonly onPeer: (peer: NoisePeer) => Promise<Sv2Message[]>;
  readonly timeoutMs: number;
}

export interface TestResponder {
  readonly port: number;
  /** The script's outcome: the messages received, or the reason it failed. */
  readonly session: Promise<Sv2Message[]>;
  close(): void;
}

/** Listen on 127.0.0.1:0 and serve exactly one connection with our Noise responder. */
export async function startTestResponder(options: TestResponderOptions): Promise<TestResponder> {
  const clock = new SystemClock();
  const identity = new ResponderIdentity({
    authoritySecretKey: options.authoritySecretKey,
    validitySecs: 3600,
    backdateSecs: 300,
    random: options.random,
  });
  const peers: NoisePeer[] = [];
  let settle!: { resolve: (m: Sv2Message[]) => void; reject: (e: Error) => void };
  const session = new Promise<Sv2Message[]>((resolve, reject) => (settle = { resolve, reject }));
  // The driver decides pass/fail from `session`; never let an unobserved rejection crash it.
  session.catch(() => undefined);
  const server = net.createServer((socket) => {
    server.close(); // exactly one connection
    const connection = new NoiseResponderConnection(
      {
        provider: options.provider,
        random: options.random,
        staticKey: identity.staticKey,
        certificate: identity.certificateAt(Math.floor(clock.wallMs() / 1000)),
      },
      clock.monotonicMs(),
    );
    const peer = new NoisePeer(socket, connection);
    peers.push(peer);
    options.onPeer(peer).then(settle.resolve, settle.reject);
  });
  const timer = setTimeout(() => settle.reject(new Error(`test responder: no session result in ${options.timeoutMs} ms`)), options.timeoutMs);
  session.finally(() => clearTimeout(timer)).catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('test responder: no TCP address');
  return {
    port: address.port,
    session,
    close() {
      clearTimeout(timer);
      server.close();
      for (const peer of peers) peer.close();
    },
  };
}

/** Fixed values our test server answers with (SV2.md §11 share-vector target). */
export const SERVER_SCRIPT = {
  channelId: 1,
  // U256 LE of 0x0001179d…8205, the SRI share-vector target (SV2.md §5.6).
  targetHex: '058215af34444e5887d6f718a4a3ee04fcc407c311dddaff61a761989d170100',
  extranoncePrefixHex: '00000001',
  jobId: 1,
  version: 0x2000_0000,
  prevHashHex: '17cd48869956dc99e01cd892e478e39dd563a0a3803b8bbe9e3e000000000000',
  minNtime: 1_745_611_105,
  nbits: 0x1b00_d7c0,
} as const;

/** a ≤ b for two 32-byte little-endian integers (SV2.md §2: U256 targets are LE). */
export function le256LessOrEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return true;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError(`fromHex: not hex: ${hex.slice(0, 40)}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/**
 * The server script (SV2.md §3.8, §5.3): SetupConnection → .Success(2, flags 0);
 * OpenStandardMiningChannel → .Success (request id echoed, target clamped to max_target), then a
 * future NewMiningJob and the SetNewPrevHash that activates it. Waits for the client to close.
 */
export async function serveMiningScript(peer: NoisePeer, stepTimeoutMs: number): Promise<Sv2Message[]> {
  const received: Sv2Message[] = [];
  try {
    await peer.handshake(stepTimeoutMs);
    const setup = await peer.next(stepTimeoutMs, 'SetupConnection');
    received.push(setup.message);
    if (setup.message.type !== 'SetupConnection') throw new Error(`expected SetupConnection, got ${setup.message.type}`);
    const { protocol, minVersion, maxVersion } = setup.message;
    if (protocol !== 0 || minVersion > 2 || maxVersion < 2) {
      peer.send({ type: 'SetupConnectionError', flags: 0, errorCode: protocol !== 0 ? 'unsupported-protocol' : 'protocol-version-mismatch' });
      throw new Error(`SetupConnection refused: protocol ${protocol}, versions ${minVersion}..${maxVersion}`);
    }
    peer.send({ type: 'SetupConnectionSuccess', usedVersion: 2, flags: 0 });
    const open = await peer.next(stepTimeoutMs, 'OpenStandardMiningChannel');
    received.push(open.message);
    if (open.message.type !== 'OpenStandardMiningChannel') throw new Error(`expected OpenStandardMiningChannel, got ${open.message.type}`);
    const fixed = fromHex(SERVER_SCRIPT.targetHex);
    const target = le256LessOrEqual(fixed, open.message.maxTarget) ? fixed : Uint8Array.from(open.message.maxTarget);
    peer.send({
      type: 'OpenStandardMiningChannelSuccess',
      requestId: open.message.requestId,
      channelId: SERVER_SCRIPT.channelId,
      target,
      extranoncePrefix: fromHex(SERVER_SCRIPT.extranoncePrefixHex),
      groupChannelId: 0,
    });
    peer.send({
      type: 'NewMiningJob',
      channelId: SERVER_SCRIPT.channelId,
      jobId: SERVER_SCRIPT.jobId,
      minNtime: null,
      version: SERVER_SCRIPT.version,
      merkleRoot: Uint8Array.from({ length: 32 }, (_, i) => i),
    });
    peer.send({
      type: 'SetNewPrevHash',
      channelId: SERVER_SCRIPT.channelId,
      jobId: SERVER_SCRIPT.jobId,
      prevHash: fromHex(SERVER_SCRIPT.prevHashHex),
      minNtime: SERVER_SCRIPT.minNtime,
      nbits: SERVER_SCRIPT.nbits,
    });
    if (!(await peer.closedByPeer(stepTimeoutMs))) throw new Error('client did not close after the script');
    return received;
  } finally {
    peer.close();
  }
}

// ---- the client side ----------------------------------------------------------------------

export interface TestInitiatorOptions {
  readonly port: number;
  readonly provider: CryptoProvider;
  readonly random: RandomSource;
  /** Pinned authority key (x-only, 32 bytes). */
  readonly authorityXOnly: Uint8Array;
  readonly timeoutMs: number;
}

/** Connect to 127.0.0.1:port with our Noise initiator (authority key pinned). */
export async function connectTestInitiator(options: TestInitiatorOptions): Promise<NoisePeer> {
  const clock = new SystemClock();
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: options.port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect timeout after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  const connection = new NoiseInitiatorConnection(
    {
      provider: options.provider,
      random: options.random,
      certificatePolicy: { kind: 'pinned', authorityXOnly: options.authorityXOnly },
      wallClock: clock,
    },
    clock.monotonicMs(),
  );
  return new NoisePeer(socket, connection);
}

/** What the client script sends (compared against what SRI reports having received). */
export const CLIENT_SCRIPT = {
  requestId: 42,
  userIdentity: 'reservegrid.interop',
  nominalHashRate: 1.5e12,
  // 2^224 − 1 as U256 LE: a max_target that actually constrains the server's target.
  maxTargetHex: 'ff'.repeat(28) + '00000000',
} as const;

/**
 * The client script: SetupConnection (mining, v2..2) → expect .Success(used_version 2);
 * OpenStandardMiningChannel → expect .Success echoing request_id with target ≤ max_target; then
 * the future NewMiningJob and its SetNewPrevHash. Returns every received frame.
 */
export async function runClientScript(peer: NoisePeer, stepTimeoutMs: number): Promise<Received[]> {
  const received: Received[] = [];
  await peer.handshake(stepTimeoutMs);
  peer.send({
    type: 'SetupConnection',
    protocol: 0,
    minVersion: 2,
    maxVersion: 2,
    flags: 0,
    endpointHost: '127.0.0.1',
    endpointPort: 0,
    vendor: 'ReserveGrid OS',
    hardwareVersion: 'interop',
    firmware: '0.1.0',
    deviceId: 'ts-initiator',
  });
  const success = await peer.next(stepTimeoutMs, 'SetupConnection.Success');
  received.push(success);
  if (success.message.type !== 'SetupConnectionSuccess') throw new Error(`expected SetupConnectionSuccess, got ${success.message.type}`);
  if (success.message.usedVersion !== 2) throw new Error(`used_version ${success.message.usedVersion} != 2`);
  const maxTarget = fromHex(CLIENT_SCRIPT.maxTargetHex);
  peer.send({
    type: 'OpenStandardMiningChannel',
    requestId: CLIENT_SCRIPT.requestId,
    userIdentity: CLIENT_SCRIPT.userIdentity,
    nominalHashRate: CLIENT_SCRIPT.nominalHashRate,
    maxTarget,
  });
  const opened = await peer.next(stepTimeoutMs, 'OpenStandardMiningChannel.Success');
  received.push(opened);
  const m = opened.message;
  if (m.type !== 'OpenStandardMiningChannelSuccess') throw new Error(`expected OpenStandardMiningChannelSuccess, got ${m.type}`);
  if (m.requestId !== CLIENT_SCRIPT.requestId) throw new Error(`request_id not echoed: sent ${CLIENT_SCRIPT.requestId}, got ${m.requestId}`);
  if (!le256LessOrEqual(m.target, maxTarget)) throw new Error(`target ${toHex(m.target)} > max_target ${CLIENT_SCRIPT.maxTargetHex}`);
  const job = await peer.next(stepTimeoutMs, 'NewMiningJob');
  received.push(job);
  if (job.message.type !== 'NewMiningJob' || job.message.channelId !== m.channelId || job.message.minNtime !== null) {
    throw new Error(`expected a future NewMiningJob on channel ${m.channelId}, got ${job.message.type}`);
  }
  const prev = await peer.next(stepTimeoutMs, 'SetNewPrevHash');
  received.push(prev);
  if (prev.message.type !== 'SetNewPrevHash' || prev.message.jobId !== job.message.jobId) {
    throw new Error(`expected SetNewPrevHash for job ${job.message.jobId}, got ${prev.message.type}`);
  }
  return received;
}
