// The gateway's TCP verifier (SPEC §7, `gateway.verifier_addr = "host:port"`), as the SANS-IO
// TemplateVerifier the Gateway wants (core/gateway/gateway.ts `GatewayOptions.verifier`). It is the
// one socket driver for the verifier protocol; adapters/verifier-client.ts adds a timer and promises
// on top of it for callers outside the gateway. The gateway's verdict gate must see outcomes on the
// pump's clock, drained by
// `gateway.pollVerifier(now)` and ordered with its own deadlines (a verdict at exactly
// t0 + verdict timeout counts, SPEC §6). So the Gateway drives core's VerifierClientSession
// directly (request / pollOutcome / nextDeadlineMs / onTimeout), and this bridge only does the
// session's I/O:
//   - after each call that can produce I/O (request, onTimeout): write pollTransmit() bytes,
//     start a connect on a 'connect' action, abort the socket on 'disconnect';
//   - on each socket event (connected, data, close, connect failure/timeout): feed the session,
//     do its I/O, then call `onInput(now)`, which the stack wires to `gateway.pollVerifier(now)`
//     and `server.service()` (drain the gate's releases/events, re-arm the pump's one timer).
// Never calls into the gateway synchronously from inside a gateway call (socket writes and
// connect starts are non-blocking), so the Gateway's one-call-at-a-time rule holds.
// Reconnect backoff and per-request deadlines are the session's (they reach the pump's timer
// through gateway.nextDeadlineMs()); the only timer here bounds a connect attempt.
import type { Clock, TimerId } from '../core/clock.ts';
import { VerifierClientSession, type VerifierClientStats } from '../core/policy/verifier-protocol.ts';
import type { TemplateVerifier, VerdictOutcome, VerdictRequest } from '../core/policy/types.ts';
import { connectTcp as defaultConnectTcp, type ConnectTcp, type TcpAddress, type TcpSocket } from './net/index.ts';

export interface VerifierBridgeOptions {
  readonly address: TcpAddress;
  readonly clock: Clock;
  /** First reconnect delay (default 100 ms); doubles per failure up to reconnectMaxMs. */
  readonly reconnectInitialMs?: number;
  /** timing.reconnect_backoff_max_ms. */
  readonly reconnectMaxMs: number;
  /** A connect neither done nor failed by then counts as failed. Default 2,000 ms. */
  readonly connectTimeoutMs?: number;
  /** The runtime's TCP connect; default adapters/net. */
  readonly connectTcp?: ConnectTcp;
  /** Connection state changes (logs): 'connected' with the address, 'disconnected' with why. */
  readonly onConnection?: (state: 'connected' | 'disconnected', detail: string) => void;
}

export class VerifierBridge implements TemplateVerifier {
  readonly kind = 'remote' as const;
  readonly session: VerifierClientSession;
  readonly #opts: VerifierBridgeOptions;
  readonly #clock: Clock;
  readonly #connect: ConnectTcp;
  #socket: TcpSocket | null = null;
  /** Bumped per connect attempt and per disconnect: callbacks of an abandoned socket are ignored. */
  #generation = 0;
  #connectTimer: TimerId | null = null;
  #closed = false;
  /** Where input from the network goes after the session took it (set by `attach`). */
  #onInput: (nowMs: number) => void = () => {};

  constructor(options: VerifierBridgeOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`VerifierBridge: options must be an object, got ${String(options)}`);
    this.#opts = options;
    this.#clock = options.clock;
    this.#connect = options.connectTcp ?? defaultConnectTcp;
    const reconnectInitialMs = options.reconnectInitialMs ?? Math.min(100, options.reconnectMaxMs);
    this.session = new VerifierClientSession({ reconnectInitialMs, reconnectMaxMs: options.reconnectMaxMs });
    // The session starts with a 'connect' action: connect now, before the first template.
    this.#io();
  }

  /** After network input fed the session: `onInput(now)` (gateway.pollVerifier + pump service). */
  attach(onInput: (nowMs: number) => void): void {
    this.#onInput = onInput;
  }

  get stats(): VerifierClientStats {
    return this.session.stats;
  }

  get connected(): boolean {
    return this.session.state === 'connected';
  }

  // ---- TemplateVerifier (called by the Gateway) -------------------------------------------------

  request(req: VerdictRequest, nowMs: number): number {
    const id = this.session.request(req, nowMs);
    this.#io();
    return id;
  }

  pollOutcome(): VerdictOutcome | null {
    return this.session.pollOutcome();
  }

  pollProtocolError() {
    return this.session.pollProtocolError();
  }

  nextDeadlineMs(): number | null {
    return this.#closed ? null : this.session.nextDeadlineMs();
  }

  onTimeout(nowMs: number): void {
    this.session.onTimeout(nowMs);
    this.#io();
  }

  /** Stop: open requests end `verifier_unavailable` (drained by the next pollVerifier); no reconnects. */
  close(): void {
    if (this.#closed) return;
    this.session.close(this.#clock.monotonicMs());
    this.#closed = true;
    this.#io();
    this.#clearConnectTimer();
    this.#generation++;
    this.#socket?.abort();
    this.#socket = null;
  }

  // ---- I/O ---------------------------------------------------------------------------------------

  #io(): void {
    const s = this.session;
    for (let a = s.pollAction(); a !== null; a = s.pollAction()) {
      if (a.type === 'connect') {
        if (!this.#closed) this.#startConnect();
      } else {
        this.#generation++;
        this.#clearConnectTimer();
        this.#socket?.abort();
        this.#socket = null;
        this.#opts.onConnection?.('disconnected', a.reason);
      }
    }
    const socket = this.#socket;
    for (let b = s.pollTransmit(); b !== null; b = s.pollTransmit()) socket?.write(b);
  }

  /** Network input reached the session: do its I/O, then let the gateway see the outcomes. */
  #input(): void {
    this.#io();
    if (this.#closed) return;
    try {
      this.#onInput(this.#clock.monotonicMs());
    } catch {
      // The pump's own errors are not the verifier connection's; never break the socket callback.
    }
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== null) this.#clock.clearTimer(this.#connectTimer);
    this.#connectTimer = null;
  }

  #startConnect(): void {
    const generation = ++this.#generation;
    const timeoutMs = this.#opts.connectTimeoutMs ?? 2000;
    let settled = false;
    this.#clearConnectTimer();
    this.#connectTimer = this.#clock.setTimer(timeoutMs, () => {
      this.#connectTimer = null;
      if (settled || generation !== this.#generation) return;
      settled = true;
      this.#generation++;
      this.session.connectFailed(`no connection within ${timeoutMs} ms`, this.#clock.monotonicMs());
      this.#opts.onConnection?.('disconnected', 'connect timeout');
      this.#input();
    });
    this.#connect(this.#opts.address).then(
      (socket) => {
        if (settled || generation !== this.#generation || this.#closed) {
          socket.abort();
          return;
        }
        settled = true;
        this.#clearConnectTimer();
        this.#socket = socket;
        socket.onData((bytes) => {
          if (generation !== this.#generation) return;
          this.session.receive(bytes, this.#clock.monotonicMs());
          this.#input();
        });
        socket.onClose((info) => {
          if (generation !== this.#generation) return;
          this.#socket = null;
          const why = info.error?.message ?? (info.local ? 'closed locally' : 'closed by the verifier');
          this.session.connectionLost(why, this.#clock.monotonicMs());
          this.#opts.onConnection?.('disconnected', why);
          this.#input();
        });
        this.session.connected(this.#clock.monotonicMs());
        this.#opts.onConnection?.('connected', `${this.#opts.address.host}:${this.#opts.address.port}`);
        this.#input();
      },
      (error: unknown) => {
        if (settled || generation !== this.#generation) return;
        settled = true;
        this.#clearConnectTimer();
        const why = error instanceof Error ? error.message : String(error);
        this.session.connectFailed(why, this.#clock.monotonicMs());
        this.#opts.onConnection?.('disconnected', `connect failed: ${why}`);
        this.#input();
      },
    );
  }
}
