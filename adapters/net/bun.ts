// TCP on Bun (Bun.listen / Bun.connect, https://bun.sh/docs/api/tcp). Contract:
// adapters/net/types.ts. Bun's socket.write() hands bytes straight to the kernel and returns
// how many it took; the rest is ours to queue and retry from the `drain` handler. Handlers are
// per listener, so each Bun socket carries its wrapper in `socket.data`.
/// <reference types="../../types/bun.d.ts" />
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

type _BunSocket = BunSocketShim<BunTcpSocket | undefined>;

class BunTcpSocket implements TcpSocket {
  readonly #socket: _BunSocket;
  readonly #callbacks = new SocketCallbacks();
  readonly remoteAddress: string;
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #needDrain = false;
  #localClose = false;
  #error: Error | undefined;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: _BunSocket) {
    this.#socket = socket;
    const port = socket.remotePort;
    this.remoteAddress = socket.remoteAddress ? (typeof port === 'number' ? `${socket.remoteAddress}:${port}` : socket.remoteAddress) : '';
    socket.setNoDelay?.(true);
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
    if (this.#queue.length === 0) {
      const written = Math.max(0, this.#socket.write(bytes));
      if (written < bytes.length) this.#enqueue(bytes.subarray(written));
    } else {
      // Order: never overtake bytes already waiting for drain.
      this.#enqueue(bytes);
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
    this.#socket.pause?.();
    if (this.#queuedBytes === 0) {
      this.#socket.end();
      return;
    }
    // _handleDrain ends the socket once the queue is empty; a peer that never reads is
    // aborted after the timeout.
    this.#flushTimer = setTimeout(() => this.#socket.terminate(), CLOSE_FLUSH_TIMEOUT_MS);
  }

  abort(): void {
    if (this.#callbacks.isClosed) return;
    this.#localClose = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#socket.terminate();
  }

  pause(): void {
    this.#socket.pause?.();
  }

  resume(): void {
    if (!this.closed) this.#socket.resume?.();
  }

  // ---- called from the Bun handlers ----

  _handleData(data: Uint8Array): void {
    if (this.#callbacks.isClosed) return;
    // Bun does not document how long `data` stays valid: hand out a copy the receiver owns.
    this.#callbacks.emitData(new Uint8Array(data));
  }

  _handleDrain(): void {
    while (this.#queue.length > 0) {
      const chunk = this.#queue[0]!;
      const written = Math.max(0, this.#socket.write(chunk));
      this.#queuedBytes -= written;
      if (written < chunk.length) {
        this.#queue[0] = chunk.subarray(written);
        return;
      }
      this.#queue.shift();
    }
    if (this.#localClose) {
      if (!this.#callbacks.isClosed) this.#socket.end();
      return;
    }
    if (this.#needDrain) {
      this.#needDrain = false;
      this.#callbacks.emitDrain();
    }
  }

  _handleError(error: unknown): void {
    this.#error ??= asError(error);
  }

  _handleClose(error: unknown): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    if (error !== undefined && error !== null) this.#error ??= asError(error);
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#callbacks.emitClose(this.#error === undefined ? { local: this.#localClose } : { local: this.#localClose, error: this.#error });
  }

  #enqueue(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
  }
}

function _bun(): BunGlobalShim {
  const bun = globalThis.Bun;
  if (bun === undefined) throw new Error('adapters/net/bun.ts needs the Bun runtime');
  return bun;
}

/** The handlers shared by every socket of one listener or connection. */
function _handlers(onOpen: (socket: _BunSocket) => void): BunSocketHandlerShim<BunTcpSocket | undefined> {
  return {
    open: onOpen,
    data: (socket, data) => socket.data?._handleData(data),
    drain: (socket) => socket.data?._handleDrain(),
    error: (socket, error) => socket.data?._handleError(error),
    close: (socket, error) => socket.data?._handleClose(error),
    end: (socket) => socket.end(),
  };
}

export async function listenTcp(address: TcpAddress, onConnection: (socket: TcpSocket) => void, options: ListenOptions = {}): Promise<TcpListener> {
  checkAddress('listenTcp', address, true);
  const server = _bun().listen<BunTcpSocket | undefined>({
    hostname: address.host,
    port: address.port,
    ...(options.reusePort === true ? { reusePort: true } : {}),
    data: undefined,
    socket: _handlers((socket) => {
      const wrapper = new BunTcpSocket(socket);
      socket.data = wrapper;
      onConnection(wrapper);
    }),
  });
  let stopped = false;
  return {
    port: server.port,
    close: async () => {
      if (stopped) return;
      stopped = true;
      // stop(false): stop accepting, leave open sockets to their owner.
      server.stop(false);
    },
  };
}

export async function connectTcp(address: TcpAddress): Promise<TcpSocket> {
  checkAddress('connectTcp', address, false);
  const socket = await _bun().connect<BunTcpSocket | undefined>({
    hostname: address.host,
    port: address.port,
    data: undefined,
    socket: _handlers((s) => {
      s.data = new BunTcpSocket(s);
    }),
  });
  const wrapper = socket.data;
  if (wrapper === undefined) throw new Error('connectTcp: Bun did not call open before resolving connect');
  return wrapper;
}

export async function connectTls(address: TcpAddress, options: TlsClientOptions): Promise<TcpSocket> {
  checkAddress('connectTls', address, false);
  // Bun calls `handshake` once TLS is up (https://bun.sh/docs/api/tcp); resolve only then, so
  // the first write goes out encrypted to a verified peer.
  let settle: { resolve: (socket: TcpSocket) => void; reject: (error: Error) => void } | undefined;
  const done = new Promise<TcpSocket>((resolve, reject) => (settle = { resolve, reject }));
  const handlers = _handlers((s) => {
    s.data = new BunTcpSocket(s);
  });
  const socket = await _bun().connect<BunTcpSocket | undefined>({
    hostname: address.host,
    port: address.port,
    data: undefined,
    tls: {
      // RFC 6066 §3: SNI carries host names only, never an IP literal.
      ...(/^[0-9.]+$|:/.test(options.serverName ?? address.host) ? {} : { serverName: options.serverName ?? address.host }),
      rejectUnauthorized: true,
      ...(options.caCertsPem === undefined ? {} : { ca: [...options.caCertsPem] }),
    },
    socket: {
      ...handlers,
      handshake: (s, success, authorizationError) => {
        if (success && authorizationError === null && s.data !== undefined) settle?.resolve(s.data);
        else {
          settle?.reject(authorizationError ?? new Error('TLS handshake failed'));
          s.terminate();
        }
      },
      close: (s, error) => {
        settle?.reject(asError(error ?? new Error('connection closed during the TLS handshake')));
        handlers.close?.(s, error);
      },
    },
  });
  void socket;
  return done;
}
