// TCP on Deno (Deno.listen / Deno.connect). Contract: adapters/net/types.ts.
// Deno.Conn is promise-based (https://docs.deno.com/api/deno/~/Deno.Conn): a read loop feeds
// onData, and a write loop drains our queue, since conn.write may take only part of a chunk.
// Nothing tells us synchronously that the kernel buffer is full, so the queue length is the
// signal: write() returns false at WRITE_HIGH_WATER_BYTES, as Node does at its highWaterMark.
import {
  asError,
  checkAddress,
  CLOSE_FLUSH_TIMEOUT_MS,
  SocketCallbacks,
  WRITE_HIGH_WATER_BYTES,
  type TcpAddress,
  type TcpCloseInfo,
  type ListenOptions,
  type TcpListener,
  type TcpSocket,
  type TlsClientOptions,
} from './types.ts';

/**
 * Each connection keeps one read pending, into its own buffer, for as long as it is open: the
 * buffer is the dominant per-connection cost on Deno (a fixed 64 KiB made an idle miner cost
 * ~62 KiB of RSS). Miners send a few hundred bytes at a time, so a connection starts small,
 * doubles its buffer when a read fills it (a peer sending in bulk), and drops back to the small
 * one after READ_SHRINK_AFTER reads that would have fit in it (docs/performance.md).
 */
const READ_BUFFER_MIN_BYTES = 2 * 1024;
const READ_BUFFER_MAX_BYTES = 64 * 1024;
const READ_SHRINK_AFTER = 16;
/** Queued chunks are joined into writes of at most this many bytes (fewer ops per frame burst). */
const WRITE_COALESCE_BYTES_MAX = 256 * 1024;
/** Back-off after a failed accept (EMFILE and the like) so the loop does not spin. */
const ACCEPT_RETRY_MS = 50;

class DenoTcpSocket implements TcpSocket {
  readonly #conn: Deno.Conn;
  readonly #callbacks = new SocketCallbacks();
  readonly remoteAddress: string;
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #needDrain = false;
  #paused = false;
  #resumeWaiter: (() => void) | undefined;
  #localClose = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: Deno.TcpConn | Deno.TlsConn) {
    this.#conn = conn;
    const addr = conn.remoteAddr;
    this.remoteAddress = addr && 'hostname' in addr ? `${addr.hostname}:${addr.port}` : '';
    try {
      // TCP only (Deno.TcpConn); a TLS connection (connectTls, share poster) has no such call.
      if ('setNoDelay' in conn) conn.setNoDelay(true);
    } catch {
      // Not every transport supports it; latency only.
    }
    void this.#readLoop();
  }

  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  get closed(): boolean {
    return this.#localClose || this.#callbacks.isClosed;
  }

  write(bytes: Uint8Array): boolean {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`write: bytes must be a Uint8Array, got ${typeof bytes}`);
    if (this.closed) return false;
    if (bytes.length > 0) {
      this.#queue.push(bytes);
      this.#queuedBytes += bytes.length;
      if (!this.#writing) void this.#writeLoop();
    }
    if (this.#queuedBytes < WRITE_HIGH_WATER_BYTES) return true;
    this.#needDrain = true;
    return false;
  }

  onData(callback: (bytes: Uint8Array) => void): void {
    this.#callbacks.onData(callback);
  }

  onDrain(callback: () => void): void {
    this.#callbacks.drain.push(callback);
  }

  onClose(callback: (info: TcpCloseInfo) => void): void {
    this.#callbacks.onClose(callback);
  }

  close(): void {
    if (this.closed) return;
    this.#localClose = true;
    this.#paused = true;
    if (this.#queuedBytes === 0) {
      this.#finish(undefined);
      return;
    }
    // The write loop finishes the socket once the queue is empty; a peer that never reads is
    // aborted after the timeout.
    this.#flushTimer = setTimeout(() => this.#finish(undefined), CLOSE_FLUSH_TIMEOUT_MS);
  }

  abort(): void {
    if (this.#callbacks.isClosed) return;
    this.#localClose = true;
    this.#finish(undefined);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    const waiter = this.#resumeWaiter;
    this.#resumeWaiter = undefined;
    waiter?.();
  }

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(READ_BUFFER_MIN_BYTES);
    let smallReads = 0;
    while (!this.#callbacks.isClosed) {
      // Paused: issue no read, so the kernel buffer fills and TCP pushes back on the peer.
      if (this.#paused) await new Promise<void>((resolve) => (this.#resumeWaiter = resolve));
      if (this.#callbacks.isClosed) return;
      let count: number | null;
      try {
        count = await this.#conn.read(buffer);
      } catch (error) {
        // After our own close() the pending read fails with BadResource/Interrupted: not an error.
        this.#finish(this.#localClose ? undefined : asError(error));
        return;
      }
      if (count === null) {
        this.#finish(undefined);
        return;
      }
      // A read completed just after pause(): hold its bytes until resume().
      if (this.#paused) await new Promise<void>((resolve) => (this.#resumeWaiter = resolve));
      if (this.#callbacks.isClosed) return;
      // The read buffer is reused: hand out a copy the receiver owns.
      const data = buffer.slice(0, count);
      if (count === buffer.length && buffer.length < READ_BUFFER_MAX_BYTES) {
        buffer = new Uint8Array(buffer.length * 2);
        smallReads = 0;
      } else if (buffer.length > READ_BUFFER_MIN_BYTES) {
        smallReads = count <= READ_BUFFER_MIN_BYTES ? smallReads + 1 : 0;
        if (smallReads >= READ_SHRINK_AFTER) {
          buffer = new Uint8Array(READ_BUFFER_MIN_BYTES);
          smallReads = 0;
        }
      }
      this.#callbacks.emitData(data);
    }
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#callbacks.isClosed) {
        const chunk = this.#nextChunk();
        let written: number;
        try {
          written = await this.#conn.write(chunk);
        } catch (error) {
          this.#finish(this.#localClose ? undefined : asError(error));
          return;
        }
        this.#queuedBytes -= written;
        if (written < chunk.length) this.#queue.unshift(chunk.subarray(written));
      }
    } finally {
      this.#writing = false;
    }
    if (this.#callbacks.isClosed) return;
    if (this.#localClose) {
      this.#finish(undefined);
      return;
    }
    if (this.#needDrain) {
      this.#needDrain = false;
      this.#callbacks.emitDrain();
    }
  }

  /** Take the next write: one chunk, or several small ones joined. */
  #nextChunk(): Uint8Array {
    const first = this.#queue.shift()!;
    if (this.#queue.length === 0 || first.length >= WRITE_COALESCE_BYTES_MAX) return first;
    let total = first.length;
    let count = 1;
    for (const chunk of this.#queue) {
      if (total + chunk.length > WRITE_COALESCE_BYTES_MAX) break;
      total += chunk.length;
      count++;
    }
    if (count === 1) return first;
    const joined = new Uint8Array(total);
    joined.set(first, 0);
    let offset = first.length;
    for (const chunk of this.#queue.splice(0, count - 1)) {
      joined.set(chunk, offset);
      offset += chunk.length;
    }
    return joined;
  }

  #finish(error: Error | undefined): void {
    if (this.#callbacks.isClosed) return;
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime (peer reset): nothing to release.
    }
    this.#callbacks.emitClose(error === undefined ? { local: this.#localClose } : { local: this.#localClose, error });
    // A read loop parked in pause must not hang forever on a closed socket.
    const waiter = this.#resumeWaiter;
    this.#resumeWaiter = undefined;
    waiter?.();
  }
}

export async function listenTcp(address: TcpAddress, onConnection: (socket: TcpSocket) => void, options: ListenOptions = {}): Promise<TcpListener> {
  checkAddress('listenTcp', address, true);
  // reusePort is an unstable Deno API (the worker is started with --unstable-net).
  const listener = Deno.listen({ hostname: address.host, port: address.port, transport: 'tcp', ...(options.reusePort === true ? { reusePort: true } : {}) });
  let closed = false;
  void (async () => {
    while (!closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        if (closed) return;
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      onConnection(new DenoTcpSocket(conn));
    }
  })();
  return {
    port: listener.addr.port,
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    },
  };
}

export async function connectTcp(address: TcpAddress): Promise<TcpSocket> {
  checkAddress('connectTcp', address, false);
  const conn = await Deno.connect({ hostname: address.host, port: address.port, transport: 'tcp' });
  return new DenoTcpSocket(conn);
}

export async function connectTls(address: TcpAddress, options: TlsClientOptions): Promise<TcpSocket> {
  checkAddress('connectTls', address, false);
  // https://docs.deno.com/api/deno/~/Deno.connectTls: verifies against caCerts or the trust store.
  const conn = await Deno.connectTls({
    hostname: address.host,
    port: address.port,
    ...(options.serverName === undefined ? {} : { serverName: options.serverName }),
    ...(options.caCertsPem === undefined ? {} : { caCerts: [...options.caCertsPem] }),
  });
  try {
    await conn.handshake();
  } catch (error) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    throw error;
  }
  return new DenoTcpSocket(conn);
}
