// The gateway's TCP client to `reservegrid verifier` (SPEC §7, issue 4 item 3). All protocol
// logic (request ids, pipelining, deadlines, backoff) is core's VerifierClientSession; this file
// only opens sockets, moves bytes and runs ONE timer at the session's next deadline.
//
// Availability promise (never a hang): every verify() promise resolves, at the latest at its
// request deadline, with a verdict or an 'unavailable' outcome (`verifier_unavailable`,
// `verdict_timeout`). A connect attempt that neither succeeds nor fails within
// `connectTimeoutMs` counts as failed, so a black-holed address cannot park the session in
// 'connecting'.
import type { Clock, TimerId } from '../core/clock.ts';
import type { Config } from '../core/config/schema.ts';
import { EmbeddedVerifier } from '../core/policy/embedded-verifier.ts';
import { PolicyEngine, policySettingsFromConfig } from '../core/policy/engine.ts';
import { VerifierClientSession, type VerifierClientStats } from '../core/policy/verifier-protocol.ts';
import type { AsyncTemplateVerifier, VerdictOutcome, VerdictRequest } from '../core/policy/types.ts';
import { connectTcp, type TcpAddress, type TcpSocket } from './net/index.ts';

export interface VerifierClientOptions {
  readonly address: TcpAddress;
  readonly clock: Clock;
  /** First reconnect delay (default 100 ms); doubles per failure up to reconnectMaxMs. */
  readonly reconnectInitialMs?: number;
  /** timing.reconnect_backoff_max_ms. */
  readonly reconnectMaxMs: number;
  /** Default 2,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Every outcome, also those of verify() promises (the gateway glue and tests listen here). */
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
  readonly session: VerifierClientSession;
  readonly #opts: VerifierClientOptions;
  readonly #clock: Clock;
  readonly #waiters = new Map<number, (o: VerdictOutcome) => void>();
  #socket: TcpSocket | null = null;
  /** Bumped per connect attempt: callbacks of an abandoned socket are ignored. */
  #generation = 0;
  #timer: TimerId | null = null;
  #timerAt = Infinity;
  #closed = false;

  constructor(options: VerifierClientOptions) {
    this.#opts = options;
    this.#clock = options.clock;
    this.session = new VerifierClientSession({ reconnectInitialMs: options.reconnectInitialMs ?? 100, reconnectMaxMs: options.reconnectMaxMs });
    this.#pump();
  }

  get stats(): VerifierClientStats {
    return this.session.stats;
  }

  /** Start a request; its outcome goes to onOutcome. Returns the request id. */
  request(req: VerdictRequest): number {
    const id = this.session.request(req, this.#clock.monotonicMs());
    this.#pump();
    return id;
  }

  verify(req: VerdictRequest): Promise<VerdictOutcome> {
    return new Promise((resolve) => {
      const id = this.session.request(req, this.#clock.monotonicMs());
      this.#waiters.set(id, resolve);
      this.#pump();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.session.close(this.#clock.monotonicMs());
    this.#pump();
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#socket?.abort();
    this.#socket = null;
  }

  #pump(): void {
    const s = this.session;
    for (let a = s.pollAction(); a !== null; a = s.pollAction()) {
      if (a.type === 'connect') this.#connect();
      else {
        this.#generation++;
        this.#socket?.abort();
        this.#socket = null;
        this.#opts.onConnection?.('disconnected', a.reason);
      }
    }
    const socket = this.#socket;
    for (let b = s.pollTransmit(); b !== null; b = s.pollTransmit()) socket?.write(b);
    for (let o = s.pollOutcome(); o !== null; o = s.pollOutcome()) {
      const w = this.#waiters.get(o.requestId);
      if (w !== undefined) {
        this.#waiters.delete(o.requestId);
        w(o);
      }
      this.#opts.onOutcome?.(o);
    }
    this.#arm();
  }

  #arm(): void {
    const at = this.#closed ? null : this.session.nextDeadlineMs();
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
      this.session.onTimeout(this.#clock.monotonicMs());
      this.#pump();
    });
  }

  #connect(): void {
    const generation = ++this.#generation;
    let settled = false;
    const timeoutMs = this.#opts.connectTimeoutMs ?? 2000;
    const timer = this.#clock.setTimer(timeoutMs, () => {
      if (settled || generation !== this.#generation) return;
      settled = true;
      this.session.connectFailed(`no connection within ${timeoutMs} ms`, this.#clock.monotonicMs());
      this.#opts.onConnection?.('disconnected', 'connect timeout');
      this.#pump();
    });
    connectTcp(this.#opts.address).then(
      (socket) => {
        if (settled || generation !== this.#generation || this.#closed) {
          socket.abort();
          return;
        }
        settled = true;
        this.#clock.clearTimer(timer);
        this.#socket = socket;
        socket.onData((bytes) => {
          if (generation !== this.#generation) return;
          this.session.receive(bytes, this.#clock.monotonicMs());
          this.#pump();
        });
        socket.onClose((info) => {
          if (generation !== this.#generation) return;
          this.#socket = null;
          const why = info.error?.message ?? (info.local ? 'closed locally' : 'closed by the verifier');
          this.session.connectionLost(why, this.#clock.monotonicMs());
          this.#opts.onConnection?.('disconnected', why);
          this.#pump();
        });
        this.session.connected(this.#clock.monotonicMs());
        this.#opts.onConnection?.('connected', `${this.#opts.address.host}:${this.#opts.address.port}`);
        this.#pump();
      },
      (error: unknown) => {
        if (settled || generation !== this.#generation) return;
        settled = true;
        this.#clock.clearTimer(timer);
        const why = error instanceof Error ? error.message : String(error);
        this.session.connectFailed(why, this.#clock.monotonicMs());
        this.#opts.onConnection?.('disconnected', `connect failed: ${why}`);
        this.#pump();
      },
    );
  }
}

/** The embedded engine behind the async contract (verify resolves on a microtask). */
export class EmbeddedAsyncVerifier implements AsyncTemplateVerifier {
  readonly kind = 'embedded' as const;
  readonly #verifier: EmbeddedVerifier;
  readonly #clock: Clock;

  constructor(engine: PolicyEngine, clock: Clock) {
    this.#verifier = new EmbeddedVerifier(engine);
    this.#clock = clock;
  }

  verify(req: VerdictRequest): Promise<VerdictOutcome> {
    const start = this.#clock.monotonicMs();
    this.#verifier.request(req, start);
    const o = this.#verifier.pollOutcome()!;
    return Promise.resolve({ ...o, latencyMs: this.#clock.monotonicMs() - start });
  }

  async close(): Promise<void> {}
}

/** `gateway.verifier_addr`: "embedded" → the engine in-process; host:port → a VerifierClient. */
export function createVerifier(config: Pick<Config, 'gateway' | 'timing' | 'policy' | 'mining'>, clock: Clock, hooks: Pick<VerifierClientOptions, 'onOutcome' | 'onConnection'> = {}): AsyncTemplateVerifier {
  if (config.gateway.verifier_addr === 'embedded') return new EmbeddedAsyncVerifier(new PolicyEngine(policySettingsFromConfig(config)), clock);
  return new VerifierClient({
    address: parseVerifierAddr(config.gateway.verifier_addr),
    clock,
    reconnectMaxMs: config.timing.reconnect_backoff_max_ms,
    ...hooks,
  });
}
