// The one pump between TCP sockets and the sans-IO Gateway (STYLE.md #1 and #9; quinn's
// endpoint driver is the model): socket bytes go into `gateway.receive`, and after every input
// the pump drains the gateway's outputs in the order core/gateway/gateway.ts asks for —
// commands first (a found block is submitted before anything else), then bytes and close
// markers, then events — and arms one timer for `nextDeadlineMs()`.
//
// Backpressure, per connection:
//  - write() returning false means the socket's queue reached its high-water mark (the miner is
//    not reading): stop reading from that miner until `onDrain`, so a miner that does not read
//    cannot keep making us produce replies;
//  - past `outboundBytesMax` queued bytes the connection is closed at once with `slow_consumer`
//    (core/reason-codes.ts) and the queue is discarded: it could never be flushed anyway.
// Connections the gateway refuses (limit, shutdown) are closed before reading a byte.
import type { Clock, TimerId } from '../core/clock.ts';
import type { Gateway, GatewayCommand } from '../core/gateway/gateway.ts';
import type { GatewayEvent } from '../core/gateway/events.ts';
import { listenTcp as defaultListenTcp, type ListenTcp, type TcpAddress, type TcpListener, type TcpSocket } from './net/index.ts';

/** Default hard bound on one connection's unsent bytes before `slow_consumer`. */
export const OUTBOUND_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;

/**
 * The same bound for Template Distribution clients: one RequestTransactionData.Success carries a
 * whole block's transactions (up to ~4 MB on mainnet, plus 16 bytes of MAC per 64 KiB chunk), so
 * the miners' 4 MiB would close a JD client that asked twice in a row; 64 MiB holds a dozen.
 */
export const TDP_OUTBOUND_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/** A gateway event as it leaves the process: wall time and a sequence number stamped on. */
export type StampedEvent = GatewayEvent & { readonly seq: number; readonly ts: string };

export interface GatewayServerOptions {
  readonly gateway: Gateway;
  readonly clock: Clock;
  /** Where miners connect (gateway.listen_addr). */
  readonly listen: TcpAddress;
  /**
   * Where Template Distribution clients connect (template_provider.listen_addr, issue 10); the
   * gateway must have been built with templateProvider options. Same pump, same connection ids.
   */
  readonly tdpListen?: TcpAddress;
  /**
   * Where Job Declaration clients connect (job_declaration.listen_addr, issue 11); the gateway
   * must have been built with jobDeclaration options. Same pump, same connection ids; the TDP
   * outbound bound applies (a declaration's ProvideMissingTransactions answers are small, but the
   * client's uploads are bounded by gateway.max_frame_payload_bytes either way).
   */
  readonly jdListen?: TcpAddress;
  /** Unsent bytes one connection may queue before it is closed with slow_consumer. */
  readonly outboundBytesMax?: number;
  /** The same for Template Distribution connections (default TDP_OUTBOUND_BYTES_MAX_DEFAULT). */
  readonly tdpOutboundBytesMax?: number;
  /** Every event, stamped, in order. Must not throw. */
  readonly onEvent?: (event: StampedEvent) => void;
  /**
   * Every command (`submit_block`); the caller answers with `gateway.blockSubmitResult(...)`
   * and then `server.service()`. Must not throw.
   */
  readonly onCommand?: (command: GatewayCommand) => void;
  /** The runtime's TCP adapter; default adapters/net/index.ts. */
  readonly listenTcp?: ListenTcp;
}

export interface GatewayServerStats {
  readonly openSockets: number;
  readonly socketsAccepted: number;
  readonly socketsRefused: number;
  readonly slowConsumerCloses: number;
  /** Times reading from a connection was paused because its socket buffer was full. */
  readonly readPauses: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly eventsEmitted: number;
}

interface _Conn {
  readonly connId: number;
  readonly socket: TcpSocket;
  /** outboundBytesMax or tdpOutboundBytesMax, by listener. */
  readonly outboundBytesMax: number;
  paused: boolean;
  /** Closed by us (gateway close marker or slow_consumer); later bytes for it are dropped. */
  done: boolean;
}

export class GatewayServer {
  readonly #gateway: Gateway;
  readonly #clock: Clock;
  readonly #outboundBytesMax: number;
  readonly #tdpOutboundBytesMax: number;
  readonly #onEvent: ((event: StampedEvent) => void) | undefined;
  readonly #onCommand: ((command: GatewayCommand) => void) | undefined;
  readonly #conns = new Map<number, _Conn>();
  #listener: TcpListener | undefined;
  #tdpListener: TcpListener | undefined;
  #jdListener: TcpListener | undefined;
  #timer: TimerId | undefined;
  #timerAtMs: number | undefined;
  #servicing = false;
  #again = false;
  #seq = 0;
  #socketsAccepted = 0;
  #socketsRefused = 0;
  #slowConsumerCloses = 0;
  #readPauses = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #closed = false;

  private constructor(options: GatewayServerOptions) {
    this.#gateway = options.gateway;
    this.#clock = options.clock;
    this.#outboundBytesMax = options.outboundBytesMax ?? OUTBOUND_BYTES_MAX_DEFAULT;
    if (!(Number.isInteger(this.#outboundBytesMax) && this.#outboundBytesMax > 0)) {
      throw new RangeError(`serveGateway: outboundBytesMax must be a positive integer, got ${this.#outboundBytesMax}`);
    }
    this.#tdpOutboundBytesMax = options.tdpOutboundBytesMax ?? TDP_OUTBOUND_BYTES_MAX_DEFAULT;
    if (!(Number.isInteger(this.#tdpOutboundBytesMax) && this.#tdpOutboundBytesMax > 0)) {
      throw new RangeError(`serveGateway: tdpOutboundBytesMax must be a positive integer, got ${this.#tdpOutboundBytesMax}`);
    }
    this.#onEvent = options.onEvent;
    this.#onCommand = options.onCommand;
  }

  /** Listen and pump until `close()`. */
  static async start(options: GatewayServerOptions): Promise<GatewayServer> {
    if (options === null || typeof options !== 'object') throw new TypeError(`serveGateway: options must be an object, got ${String(options)}`);
    const server = new GatewayServer(options);
    const listen = options.listenTcp ?? defaultListenTcp;
    server.#listener = await listen(options.listen, (socket) => server.#accept(socket, 'mining'));
    if (options.tdpListen !== undefined) {
      try {
        server.#tdpListener = await listen(options.tdpListen, (socket) => server.#accept(socket, 'tdp'));
      } catch (error) {
        await server.#listener.close();
        throw error;
      }
    }
    if (options.jdListen !== undefined) {
      try {
        server.#jdListener = await listen(options.jdListen, (socket) => server.#accept(socket, 'jd'));
      } catch (error) {
        await server.#listener.close();
        await server.#tdpListener?.close();
        throw error;
      }
    }
    server.service();
    return server;
  }

  /** The bound port (the kernel's choice when listening on port 0). */
  get port(): number {
    return this.#listener?.port ?? 0;
  }

  /** The Template Provider listener's bound port, or null without one. */
  get tdpPort(): number | null {
    return this.#tdpListener === undefined ? null : this.#tdpListener.port;
  }

  /** The Job Declaration listener's bound port, or null without one. */
  get jdPort(): number | null {
    return this.#jdListener === undefined ? null : this.#jdListener.port;
  }

  get stats(): GatewayServerStats {
    return {
      openSockets: this.#conns.size,
      socketsAccepted: this.#socketsAccepted,
      socketsRefused: this.#socketsRefused,
      slowConsumerCloses: this.#slowConsumerCloses,
      readPauses: this.#readPauses,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      eventsEmitted: this.#seq,
    };
  }

  /**
   * Stamp an event that did not come out of the gateway (share forwarding) with the next `seq`
   * and the wall time, so one event log has one gap-free sequence. The caller publishes it.
   */
  stamp(event: GatewayEvent): StampedEvent {
    return { ...event, seq: ++this.#seq, ts: new Date(this.#clock.wallMs()).toISOString() } as StampedEvent;
  }

  /**
   * Drain the gateway's outputs and re-arm the deadline timer. Call it after feeding the
   * gateway from outside the pump (templates, block results, shutdown). Re-entrant calls
   * (an onEvent handler feeding the gateway) are folded into the running pass.
   */
  service(): void {
    if (this.#servicing) {
      this.#again = true;
      return;
    }
    this.#servicing = true;
    try {
      do {
        this.#again = false;
        this.#drain();
      } while (this.#again);
      this.#arm();
    } finally {
      this.#servicing = false;
    }
  }

  /**
   * Graceful stop: `gateway.shutdown`, then pump until the gateway reports `stopped` (it bounds
   * that by shutdown_drain_timeout_ms) or `timeoutMs` passes, then close everything.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.#gateway.shutdown(this.#clock.monotonicMs());
    this.service();
    const started = this.#clock.monotonicMs();
    while (!this.#gateway.stopped && this.#clock.monotonicMs() - started < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await this.close();
  }

  /** Stop listening, abort every socket, cancel the timer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    await this.#listener?.close();
    await this.#tdpListener?.close();
    await this.#jdListener?.close();
    for (const conn of [...this.#conns.values()]) {
      conn.done = true;
      // Graceful: bytes the gateway already produced (CloseChannel 'shutdown') still go out.
      conn.socket.close();
    }
  }

  // ---- internals -------------------------------------------------------------------------

  #accept(socket: TcpSocket, kind: 'mining' | 'tdp' | 'jd'): void {
    if (this.#closed) {
      socket.abort();
      return;
    }
    const now = this.#clock.monotonicMs();
    const info = { wallMs: this.#clock.wallMs(), ...(socket.remoteAddress ? { remoteAddress: socket.remoteAddress } : {}) };
    const connId = kind === 'mining' ? this.#gateway.acceptConnection(now, info) : kind === 'tdp' ? this.#gateway.acceptTdpConnection(now, info) : this.#gateway.acceptJdsConnection(now, info);
    if (connId === null) {
      this.#socketsRefused++;
      socket.abort();
      this.service();
      return;
    }
    this.#socketsAccepted++;
    const conn: _Conn = { connId, socket, outboundBytesMax: kind === 'mining' ? this.#outboundBytesMax : this.#tdpOutboundBytesMax, paused: false, done: false };
    this.#conns.set(connId, conn);
    socket.onData((bytes) => {
      if (conn.done) return;
      this.#bytesIn += bytes.length;
      this.#gateway.receive(connId, bytes, this.#clock.monotonicMs());
      this.service();
    });
    socket.onDrain(() => {
      if (conn.paused && !conn.done) {
        conn.paused = false;
        socket.resume();
      }
    });
    socket.onClose(() => {
      this.#conns.delete(connId);
      // Harmless if the gateway already closed it (its close marker came first).
      this.#gateway.connectionClosed(connId, this.#clock.monotonicMs());
      this.service();
    });
    this.service();
  }

  #drain(): void {
    const gateway = this.#gateway;
    for (;;) {
      let progressed = false;
      for (let command = gateway.pollCommand(); command !== undefined; command = gateway.pollCommand()) {
        progressed = true;
        this.#onCommand?.(command);
      }
      for (let item = gateway.pollTransmit(); item !== undefined; item = gateway.pollTransmit()) {
        progressed = true;
        const conn = this.#conns.get(item.conn_id);
        if (conn === undefined || conn.done) continue;
        if ('close' in item) {
          conn.done = true;
          conn.socket.close();
          continue;
        }
        this.#write(conn, item.bytes);
      }
      for (let event = gateway.pollEvent(); event !== undefined; event = gateway.pollEvent()) {
        progressed = true;
        const stamped = { ...event, seq: ++this.#seq, ts: new Date(this.#clock.wallMs()).toISOString() } as StampedEvent;
        this.#onEvent?.(stamped);
      }
      if (!progressed) return;
    }
  }

  #write(conn: _Conn, bytes: Uint8Array): void {
    this.#bytesOut += bytes.length;
    const accepted = conn.socket.write(bytes);
    if (conn.socket.bufferedBytes > conn.outboundBytesMax) {
      this.#slowConsumerCloses++;
      conn.done = true;
      // The gateway records why (connection_closed{reason_code: slow_consumer}); whatever it
      // still wants to send this miner is dropped with the socket.
      this.#gateway.closeConnection(conn.connId, 'slow_consumer', this.#clock.monotonicMs());
      conn.socket.abort();
      return;
    }
    if (!accepted && !conn.paused) {
      conn.paused = true;
      this.#readPauses++;
      conn.socket.pause();
    }
  }

  /** One timer for the gateway's next deadline; an earlier timer is kept (onTimeout is harmless early). */
  #arm(): void {
    if (this.#closed) return;
    const at = this.#gateway.nextDeadlineMs();
    if (at === undefined) return;
    if (this.#timer !== undefined && this.#timerAtMs !== undefined && this.#timerAtMs <= at) return;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timerAtMs = at;
    this.#timer = this.#clock.setTimer(Math.max(0, at - this.#clock.monotonicMs()), () => {
      this.#timer = undefined;
      this.#timerAtMs = undefined;
      this.#gateway.onTimeout(this.#clock.monotonicMs());
      this.service();
    });
  }
}

/** Listen on `options.listen` and pump the gateway (see GatewayServer). */
export function serveGateway(options: GatewayServerOptions): Promise<GatewayServer> {
  return GatewayServer.start(options);
}
