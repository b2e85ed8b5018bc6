// The promise-based TCP client to `reservegrid verifier` (SPEC §7, issue 4 item 3), for callers
// that want `await client.verify(req)` (tests, the verdict bench, tools). The gateway does not use
// it: its verdict gate drives adapters/verifier-bridge.ts on the pump's clock. This client is that
// same bridge plus what a promise API needs: its own timer at the session's next deadline, and a
// waiter per request. All protocol logic (request ids, pipelining, deadlines, backoff) is core's
// VerifierClientSession; all socket handling (connect timeout, reconnects, stale sockets) is the
// bridge's, so the two cannot drift apart.
//
// Availability promise (never a hang): every verify() promise resolves, at the latest at its
// request deadline, with a verdict or an 'unavailable' outcome (`verifier_unavailable`,
// `verdict_timeout`).
import type { Clock, TimerId } from '../core/clock.ts';
import type { VerifierClientSession, VerifierClientStats } from '../core/policy/verifier-protocol.ts';
import type { AsyncTemplateVerifier, VerdictOutcome, VerdictRequest } from '../core/policy/types.ts';
import type { TcpAddress } from './net/index.ts';
import { VerifierBridge } from './verifier-bridge.ts';

export interface VerifierClientOptions {
  readonly address: TcpAddress;
  readonly clock: Clock;
  /** First reconnect delay (default 100 ms); doubles per failure up to reconnectMaxMs. */
  readonly reconnectInitialMs?: number;
  /** timing.reconnect_backoff_max_ms. */
  readonly reconnectMaxMs: number;
  /** Default 2,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Every outcome, also those of verify() promises (tests listen here). */
  readonly onOutcome?: (outcome: VerdictOutcome) => void;
  /** Connection state changes, for logs/events: 'connected', 'disconnected: <why>'. */
  readonly onConnection?: (state: 'connected' | 'disconnected', detail: string) => void;
}

/** `host:port` (bracketed IPv6 allowed) → TcpAddress; throws TypeError on anything else. */
export function parseVerifierAddr(text: string): TcpAddress {
  const colon = text.lastIndexOf(':');
  const port = Number(text.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`verifier address must be host:port, got ${JSON.stringify(text)}`);
  const host = text.slice(0, colon);
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port };
}

export class VerifierClient implements AsyncTemplateVerifier {
  readonly kind = 'remote' as const;
  readonly #bridge: VerifierBridge;
  readonly #clock: Clock;
  readonly #onOutcome: ((outcome: VerdictOutcome) => void) | undefined;
  readonly #waiters = new Map<number, (o: VerdictOutcome) => void>();
  #timer: TimerId | null = null;
  #timerAt = Infinity;

  constructor(options: VerifierClientOptions) {
    this.#clock = options.clock;
    this.#onOutcome = options.onOutcome;
    this.#bridge = new VerifierBridge({
      address: options.address,
      clock: options.clock,
      reconnectInitialMs: options.reconnectInitialMs ?? 100,
      reconnectMaxMs: options.reconnectMaxMs,
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.onConnection === undefined ? {} : { onConnection: options.onConnection }),
    });
    // Network input (connected, data, close) reaches the session through the bridge; then we
    // resolve whatever it produced and re-arm our timer.
    this.#bridge.attach(() => this.#drain());
    this.#drain();
  }

  get session(): VerifierClientSession {
    return this.#bridge.session;
  }

  get stats(): VerifierClientStats {
    return this.#bridge.stats;
  }

  /** Start a request; its outcome goes to onOutcome. Returns the request id. */
  request(req: VerdictRequest): number {
    const id = this.#bridge.request(req, this.#clock.monotonicMs());
    this.#drain();
    return id;
  }

  verify(req: VerdictRequest): Promise<VerdictOutcome> {
    return new Promise((resolve) => {
      const id = this.#bridge.request(req, this.#clock.monotonicMs());
      this.#waiters.set(id, resolve);
      this.#drain();
    });
  }

  async close(): Promise<void> {
    this.#bridge.close(); // open requests end verifier_unavailable; resolved by the drain below
    this.#drain();
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#timerAt = Infinity;
  }

  #drain(): void {
    for (let o = this.#bridge.pollOutcome(); o !== null; o = this.#bridge.pollOutcome()) {
      const waiter = this.#waiters.get(o.requestId);
      if (waiter !== undefined) {
        this.#waiters.delete(o.requestId);
        waiter(o);
      }
      this.#onOutcome?.(o);
    }
    this.#arm();
  }

  /** One timer at the session's next deadline (request deadlines, reconnect backoff). */
  #arm(): void {
    const at = this.#bridge.nextDeadlineMs();
    if (at === null) {
      if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
      this.#timer = null;
      this.#timerAt = Infinity;
      return;
    }
    if (this.#timer !== null && this.#timerAt <= at) return;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimer(Math.max(0, at - this.#clock.monotonicMs()), () => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#bridge.onTimeout(this.#clock.monotonicMs());
      this.#drain();
    });
  }
}
