// The one pump between TCP sockets and the sans-IO Gateway (STYLE.md #1 and #9; quinn's
// endpoint driver is the model): socket bytes go into `gateway.receive`, and after every input
// the pump drains the gateway's outputs — commands first (a found block is submitted before
// anything else), then events, then bytes and close markers — and arms one timer for
// `nextDeadlineMs()`.
//
// Journal first, then acknowledge (SPEC §8 "every share the gateway acknowledges is reported";
// issue 12 defect 2): a pass hands every event to `onEvent` (the stack journals each
// `share_accepted` there), then calls `beforeTransmit` once (the stack writes the pass's journal
// records with one write(2): group commit), and only then writes the pass's bytes, among them
// the SubmitShares.Success that acknowledge those shares. So a miner never holds an
// acknowledgement for a share a kill -9 could lose. Acks stay batched (share_ack_batch_size); the
// cost is one write(2) per pass that accepted shares, before its bytes (docs/performance.md).
//
// Backpressure, per connection:
//  - write() returning false means the socket's queue reached its high-water mark (the miner is
//    not reading): stop reading from that miner until `onDrain`, so a miner that does not read
//    cannot keep making us produce replies;
//  - past `outboundBytesMax` queued bytes the connection is closed at once with `slow_consumer`
//    (core/reason-codes.ts) and the queue is discarded: it could never be flushed anyway.
// Connections the gateway refuses (limit, shutdown) are closed before reading a byte.
//
// PROXY protocol v2 (option `proxyProtocol`, gateway.proxy_protocol = "v2"; issue 13 item 3):
// a connection from a trusted load balancer is held, unknown to the gateway, until its header
// (core/gateway/proxy-protocol.ts) is whole; then the gateway accepts it under the client
// address the header names (so per-IP limits, events and logs see the miner, not the balancer)
// and gets the bytes after the header. A bad, oversized or v1 header, one that is not whole
// within `headerTimeoutMs`, or a header from an untrusted peer closes the socket with a
// `connection_refused` event carrying the proxy_* reason code (counted like every refusal).
// Untrusted peers connect directly; their first bytes are only inspected for a header.
import type { Clock, TimerId } from '../core/clock.ts';
import type { Gateway, GatewayCommand } from '../core/gateway/gateway.ts';
import type { GatewayEvent } from '../core/gateway/events.ts';
import { cidrContains, looksLikeProxyHeader, parseProxyHeaderV2, type CidrBlock, type ProxyHeaderResult } from '../core/gateway/proxy-protocol.ts';
import { ipOf } from '../core/gateway/admission.ts';
import { listenTcp as defaultListenTcp, type ListenOptions, type ListenTcp, type TcpAddress, type TcpListener, type TcpSocket } from './net/index.ts';

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
  /**
   * Runs once per pass, after that pass's events went to `onEvent` and before its bytes are
   * written: make what the events recorded crash-safe (the share journal's write). Must not throw.
   */
  readonly beforeTransmit?: () => void;
  /** Read a PROXY protocol v2 header first (see the header). Absent: off. */
  readonly proxyProtocol?: ProxyProtocolOptions;
  /** false: open no miner listener (a gateway.workers leader: its workers own the miner port). */
  readonly listenMiners?: boolean;
  /** Options of the miner listener (reusePort for socket workers, docs/scaling.md). */
  readonly listenOptions?: ListenOptions;
  /**
   * Socket workers (gateway.workers ≥ 2): runs after `beforeTransmit`; a returned promise holds
   * this pass's bytes — and every later pass's, in order — until it resolves (the worker's
   * share records are journaled by the leader first: adapters/workers/worker.ts). undefined:
   * nothing to wait for. Must not throw.
   */
  readonly transmitGate?: () => Promise<void> | undefined;
}

export interface ProxyProtocolOptions {
  /** gateway.proxy_trusted_sources, parsed. */
  readonly trustedSources: readonly CidrBlock[];
  /** The whole header must arrive within this (timing.handshake_timeout_ms). */
  readonly headerTimeoutMs: number;
  /** Default PROXY_V2_HEADER_BYTES_MAX_DEFAULT (core/gateway/proxy-protocol.ts). */
  readonly headerBytesMax?: number;
  /** gateway.max_connections, reported in the refusal event. */
  readonly maxConnections: number;
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
  /** PROXY v2: headers accepted (proxied and LOCAL), and connections refused for their header. */
  readonly proxyHeadersAccepted: number;
  readonly proxyHeadersRefused: number;
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
  readonly #beforeTransmit: (() => void) | undefined;
  readonly #transmitGate: (() => Promise<void> | undefined) | undefined;
  /** Passes' bytes waiting for their transmit gate, oldest first (transmitGate). */
  readonly #held: { ready: boolean; readonly items: ReturnType<Gateway['pollTransmit']>[] }[] = [];
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
  readonly #proxy: ProxyProtocolOptions | undefined;
  /** Sockets still waiting for their PROXY header (closed with the server). */
  readonly #pending = new Set<TcpSocket>();
  #proxyAccepted = 0;
  #proxyRefused = 0;

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
    this.#beforeTransmit = options.beforeTransmit;
    this.#transmitGate = options.transmitGate;
    this.#proxy = options.proxyProtocol;
    if (this.#proxy !== undefined && !(Number.isInteger(this.#proxy.headerTimeoutMs) && this.#proxy.headerTimeoutMs > 0)) {
      throw new RangeError(`serveGateway: proxyProtocol.headerTimeoutMs must be a positive integer, got ${this.#proxy.headerTimeoutMs}`);
    }
  }

  /** Listen and pump until `close()`. */
  static async start(options: GatewayServerOptions): Promise<GatewayServer> {
    if (options === null || typeof options !== 'object') throw new TypeError(`serveGateway: options must be an object, got ${String(options)}`);
    const server = new GatewayServer(options);
    const listen = options.listenTcp ?? defaultListenTcp;
    server.#listener =
      options.listenMiners === false ? { port: 0, close: async () => {} } : await listen(options.listen, (socket) => server.#accept(socket, 'mining'), options.listenOptions);
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
      proxyHeadersAccepted: this.#proxyAccepted,
      proxyHeadersRefused: this.#proxyRefused,
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
    for (const socket of this.#pending) socket.abort();
    this.#pending.clear();
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
    // PROXY protocol applies to the miner port only (docs/scaling.md): TDP clients are pools
    // and JD clients that connect directly.
    if (this.#proxy !== undefined && kind === 'mining') {
      this.#awaitProxyHeader(socket, this.#proxy);
      return;
    }
    this.#admit(socket, kind, socket.remoteAddress, undefined);
  }

  /**
   * Hand a socket to the gateway under `remoteAddress`, then feed it `firstBytes` (what followed
   * a PROXY header). `firstBytes` undefined: the socket's handlers are not attached yet.
   */
  #admit(socket: TcpSocket, kind: 'mining' | 'tdp' | 'jd', remoteAddress: string, firstBytes: Uint8Array | undefined, attach?: (onData: (bytes: Uint8Array) => void, onClose: () => void) => void): void {
    const now = this.#clock.monotonicMs();
    const info = { wallMs: this.#clock.wallMs(), ...(remoteAddress ? { remoteAddress } : {}) };
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
    const onData = (bytes: Uint8Array): void => {
      if (conn.done) return;
      this.#bytesIn += bytes.length;
      this.#gateway.receive(connId, bytes, this.#clock.monotonicMs());
      this.service();
    };
    const onClose = (): void => {
      this.#conns.delete(connId);
      // Harmless if the gateway already closed it (its close marker came first).
      this.#gateway.connectionClosed(connId, this.#clock.monotonicMs());
      this.service();
    };
    if (attach !== undefined) {
      attach(onData, onClose);
      this.#attachDrain(conn);
      if (firstBytes !== undefined && firstBytes.length > 0) onData(firstBytes);
      this.service();
      return;
    }
    socket.onData(onData);
    this.#attachDrain(conn);
    socket.onClose(onClose);
    this.service();
  }

  #attachDrain(conn: _Conn): void {
    const socket = conn.socket;
    socket.onDrain(() => {
      if (conn.paused && !conn.done) {
        conn.paused = false;
        socket.resume();
      }
    });
  }

  /** PROXY v2: buffer the first bytes until the header decides (see the file header). */
  #awaitProxyHeader(socket: TcpSocket, proxy: ProxyProtocolOptions): void {
    const peerAddress = socket.remoteAddress;
    const trusted = cidrContains(proxy.trustedSources, ipOf(peerAddress));
    let buffered = new Uint8Array(0);
    let phase: 'header' | 'admitted' | 'refused' = 'header';
    let dataSink: ((bytes: Uint8Array) => void) | undefined;
    let closeSink: (() => void) | undefined;
    this.#pending.add(socket);
    const timer = this.#clock.setTimer(proxy.headerTimeoutMs, () => {
      if (phase === 'header') refuse('proxy_header_incomplete', `no complete PROXY v2 header within ${proxy.headerTimeoutMs} ms (${buffered.length} bytes received)`);
    });
    const refuse = (code: Extract<ProxyHeaderResult, { kind: 'refused' }>['code'] | 'proxy_header_incomplete' | 'proxy_untrusted_source', detail: string): void => {
      phase = 'refused';
      this.#pending.delete(socket);
      this.#clock.clearTimer(timer);
      this.#bytesIn += buffered.length;
      this.#proxyRefused++;
      this.#socketsRefused++;
      socket.abort();
      this.#onEvent?.(
        this.stamp({
          type: 'connection_refused',
          reason_code: code,
          remote_address: peerAddress || null,
          open_connections: this.#gateway.stats.openConnections,
          max_connections: proxy.maxConnections,
          detail,
        }),
      );
    };
    const admit = (remoteAddress: string, rest: Uint8Array, counted: boolean): void => {
      phase = 'admitted';
      this.#pending.delete(socket);
      this.#clock.clearTimer(timer);
      if (counted) this.#proxyAccepted++;
      // The header's bytes; `rest` is counted when the gateway gets it.
      this.#bytesIn += buffered.length - rest.length;
      this.#admit(socket, 'mining', remoteAddress, rest, (onData, onClose) => {
        dataSink = onData;
        closeSink = onClose;
      });
    };
    const decide = (): void => {
      if (!trusted) {
        const looks = looksLikeProxyHeader(buffered);
        if (looks === 'yes') refuse('proxy_untrusted_source', `${peerAddress} is not in gateway.proxy_trusted_sources`);
        else if (looks === 'no') admit(peerAddress, buffered, false);
        return;
      }
      const result = parseProxyHeaderV2(buffered, proxy.headerBytesMax === undefined ? {} : { headerBytesMax: proxy.headerBytesMax });
      switch (result.kind) {
        case 'need_more':
          return;
        case 'refused':
          refuse(result.code, result.message);
          return;
        case 'local':
          admit(peerAddress, buffered.subarray(result.headerBytes), true);
          return;
        case 'proxied': {
          const { address, port } = result.source;
          admit(`${address}:${port}`, buffered.subarray(result.headerBytes), true);
          return;
        }
        default: {
          const exhaustive: never = result;
          throw new TypeError(`unexpected proxy parse result ${String(exhaustive)}`);
        }
      }
    };
    socket.onData((bytes) => {
      if (phase === 'admitted') {
        dataSink?.(bytes);
        return;
      }
      if (phase === 'refused') return;
      const joined = new Uint8Array(buffered.length + bytes.length);
      joined.set(buffered, 0);
      joined.set(bytes, buffered.length);
      buffered = joined;
      decide();
    });
    socket.onClose(() => {
      if (phase === 'admitted') {
        closeSink?.();
        return;
      }
      if (phase === 'header' && this.#closed) {
        // Our own close() aborted it: not the peer's fault, nothing to report.
        phase = 'refused';
        this.#pending.delete(socket);
        this.#clock.clearTimer(timer);
        return;
      }
      if (phase === 'header') {
        // Cut off mid-header (or before a byte): a truncated header is refused like a stalled one.
        refuse('proxy_header_incomplete', `connection closed after ${buffered.length} bytes, before a complete PROXY v2 header`);
      }
    });
  }

  #drain(): void {
    const gateway = this.#gateway;
    for (;;) {
      let progressed = false;
      for (let command = gateway.pollCommand(); command !== undefined; command = gateway.pollCommand()) {
        progressed = true;
        this.#onCommand?.(command);
      }
      // Bytes are taken now but written after the events (header: journal first, then ack).
      const transmits: ReturnType<Gateway['pollTransmit']>[] = [];
      for (let item = gateway.pollTransmit(); item !== undefined; item = gateway.pollTransmit()) transmits.push(item);
      for (let event = gateway.pollEvent(); event !== undefined; event = gateway.pollEvent()) {
        progressed = true;
        const stamped = { ...event, seq: ++this.#seq, ts: new Date(this.#clock.wallMs()).toISOString() } as StampedEvent;
        this.#onEvent?.(stamped);
      }
      if (transmits.length > 0) {
        progressed = true;
        try {
          this.#beforeTransmit?.();
        } catch {
          // Contract: must not throw. A failing journal is the journal's to report; never
          // let it stall every miner's bytes.
        }
      }
      if (transmits.length > 0 && this.#transmitGate !== undefined) {
        let gate: Promise<void> | undefined;
        try {
          gate = this.#transmitGate();
        } catch {
          gate = undefined;
        }
        if (gate !== undefined || this.#held.length > 0) {
          const entry = { ready: gate === undefined, items: transmits };
          this.#held.push(entry);
          // A gate that never settles (the leader is gone) holds the bytes: the worker exits.
          gate?.then(() => {
            entry.ready = true;
            this.#writeHeld();
          });
          this.#writeHeld();
          if (!progressed) return;
          continue;
        }
      }
      this.#writeAll(transmits);
      if (!progressed) return;
    }
  }

  /** Held passes whose gate resolved, in order (transmitGate). */
  #writeHeld(): void {
    while (this.#held.length > 0 && this.#held[0]!.ready) this.#writeAll(this.#held.shift()!.items);
  }

  #writeAll(transmits: readonly ReturnType<Gateway['pollTransmit']>[]): void {
    for (const item of transmits) {
      if (item === undefined) continue;
      const conn = this.#conns.get(item.conn_id);
      if (conn === undefined || conn.done) continue;
      if ('close' in item) {
        conn.done = true;
        conn.socket.close();
        continue;
      }
      this.#write(conn, item.bytes);
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
