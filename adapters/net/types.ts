// The socket interface every runtime adapter implements (STYLE.md #9, "thin adapters that look
// alike"; after Hono's per-runtime adapters with one set of names). adapters/net/{node,deno,bun}.ts
// each export `listenTcp` and `connectTcp` with exactly these signatures; adapters/net/index.ts
// picks the one for the running runtime. The gateway pump (adapters/gateway-server.ts) and our
// client driver (adapters/fleet.ts) only ever see this interface.
//
// Contract, identical on every runtime (test/integration/net.test.ts checks it on all three):
//  - `onData` delivers bytes in order; each Uint8Array belongs to the receiver (the adapter never
//    reuses or writes to it), so sans-IO cores may keep views of it.
//  - `write` never drops bytes: it queues what the runtime did not take. It returns false when
//    the queued bytes (`bufferedBytes`) reached the adapter's high-water mark, i.e. the kernel
//    buffer is full and the peer is not reading; `onDrain` callbacks run once the queue is
//    empty again. Writing after close is ignored (returns false).
//  - `pause()` stops delivering data (and stops reading from the kernel, so TCP flow control
//    pushes back on the peer); `resume()` restarts it.
//  - Bytes that arrive before the first `onData` registration are kept and handed to it (a
//    client's socket may receive before its driver is attached).
//  - `close()` is graceful: stop reading, send what is queued, then close; if the peer does not
//    take the queued bytes within CLOSE_FLUSH_TIMEOUT_MS it aborts. `abort()` closes at once and
//    discards the queue (a slow consumer cannot be flushed to). Both are idempotent, and
//    `closed` turns true at once.
//  - `onClose` callbacks run exactly once per socket, whichever side closed or failed, with
//    `error` set when the socket failed rather than closed cleanly.

export interface TcpAddress {
  /** IP literal or host name. Tests bind 127.0.0.1 only. */
  readonly host: string;
  /** 0 asks the kernel for a free port (listen only). */
  readonly port: number;
}

export interface TcpCloseInfo {
  /** Present when the socket failed (reset, timeout) rather than closed in order. */
  readonly error?: Error;
  /** True when our own `close()` started it. */
  readonly local: boolean;
}

export interface TcpSocket {
  /** `host:port` of the peer, as the runtime reports it ('' if unknown). */
  readonly remoteAddress: string;
  /** Bytes accepted by `write` and not yet handed to the kernel. */
  readonly bufferedBytes: number;
  readonly closed: boolean;
  /** Queue `bytes`; false = buffered past the high-water mark (wait for onDrain). */
  write(bytes: Uint8Array): boolean;
  onData(callback: (bytes: Uint8Array) => void): void;
  onDrain(callback: () => void): void;
  onClose(callback: (info: TcpCloseInfo) => void): void;
  /** Flush what is queued (bounded by CLOSE_FLUSH_TIMEOUT_MS), then close. */
  close(): void;
  /** Close now, discarding queued bytes. */
  abort(): void;
  pause(): void;
  resume(): void;
}

export interface TcpListener {
  /** The bound port (the kernel's choice when listening on port 0). */
  readonly port: number;
  /** Stop accepting. Open sockets stay open; the caller closes them. */
  close(): Promise<void>;
}

/**
 * `reusePort`: several processes listen on one port and the kernel spreads connections among
 * them (gateway.workers, docs/scaling.md). Deno: `Deno.listen({reusePort})` (Linux; needs
 * `--unstable-net`); Bun: `Bun.listen({reusePort})`; Node 20 has no `reusePort` (added in
 * 22.12/23.1): its workers are `node:cluster` workers and share the listening handle through the
 * cluster primary, so the option is accepted and the cluster does the sharing.
 */
export interface ListenOptions {
  readonly reusePort?: boolean;
}

export type ListenTcp = (address: TcpAddress, onConnection: (socket: TcpSocket) => void, options?: ListenOptions) => Promise<TcpListener>;
export type ConnectTcp = (address: TcpAddress) => Promise<TcpSocket>;

/**
 * TLS client options (https share backends, adapters/share-poster.ts). The certificate is always
 * verified against `serverName` (default: the address host) and the runtime's trust store, or
 * `caCertsPem` when given (tests with a self-signed certificate).
 */
export interface TlsClientOptions {
  readonly serverName?: string;
  readonly caCertsPem?: readonly string[];
}

/** A TCP connection with TLS on top; resolves once the handshake completed. Same TcpSocket contract. */
export type ConnectTls = (address: TcpAddress, tls: TlsClientOptions) => Promise<TcpSocket>;

/** The adapter's user-space queue high-water mark: write() returns false at or above it. */
export const WRITE_HIGH_WATER_BYTES = 64 * 1024;

/** A graceful close() gives the peer this long to take the queued bytes, then aborts. */
export const CLOSE_FLUSH_TIMEOUT_MS = 2_000;

/** Shared argument checks so every runtime fails the same way on misuse. */
export function checkAddress(where: string, address: TcpAddress, allowPortZero: boolean): void {
  if (address === null || typeof address !== 'object') throw new TypeError(`${where}: address must be {host, port}, got ${String(address)}`);
  if (typeof address.host !== 'string' || address.host.length === 0) throw new TypeError(`${where}: host must be a non-empty string, got ${String(address.host)}`);
  const min = allowPortZero ? 0 : 1;
  if (!Number.isInteger(address.port) || address.port < min || address.port > 65535) {
    throw new RangeError(`${where}: port must be an integer in ${min}..65535, got ${address.port}`);
  }
}

/**
 * Callback lists with the once-only close latch every adapter needs. Callbacks registered after
 * close still run (on a microtask), so a late `onClose` is never silently lost.
 */
export class SocketCallbacks {
  readonly #data: ((bytes: Uint8Array) => void)[] = [];
  readonly drain: (() => void)[] = [];
  /** Received before anyone listened; handed to the first onData callback. */
  #early: Uint8Array[] | undefined = [];
  readonly #close: ((info: TcpCloseInfo) => void)[] = [];
  #closeInfo: TcpCloseInfo | undefined;

  get isClosed(): boolean {
    return this.#closeInfo !== undefined;
  }

  onClose(callback: (info: TcpCloseInfo) => void): void {
    const info = this.#closeInfo;
    if (info !== undefined) queueMicrotask(() => callback(info));
    else this.#close.push(callback);
  }

  onData(callback: (bytes: Uint8Array) => void): void {
    this.#data.push(callback);
    const early = this.#early;
    this.#early = undefined;
    if (early !== undefined) for (const bytes of early) callback(bytes);
  }

  emitData(bytes: Uint8Array): void {
    if (this.#early !== undefined) this.#early.push(bytes);
    else for (const callback of this.#data) callback(bytes);
  }

  emitDrain(): void {
    for (const callback of this.drain) callback();
  }

  /** Run the close callbacks once; later calls are ignored. */
  emitClose(info: TcpCloseInfo): void {
    if (this.#closeInfo !== undefined) return;
    this.#closeInfo = info;
    const callbacks = this.#close.splice(0);
    for (const callback of callbacks) callback(info);
  }
}

export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
