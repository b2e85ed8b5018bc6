// TCP on Node (node:net). Contract: adapters/net/types.ts.
// Node's own write buffer is the queue: `writableLength` is what the kernel has not taken yet,
// and 'drain' fires when it empties (https://nodejs.org/api/stream.html#event-drain).
import net from 'node:net';
import tls from 'node:tls';
import {
  asError,
  checkAddress,
  CLOSE_FLUSH_TIMEOUT_MS,
  SocketCallbacks,
  WRITE_HIGH_WATER_BYTES,
  type TcpAddress,
  type ListenOptions,
  type TcpListener,
  type TcpSocket,
  type TlsClientOptions,
} from './types.ts';

class NodeTcpSocket implements TcpSocket {
  readonly #socket: net.Socket;
  readonly #callbacks = new SocketCallbacks();
  readonly remoteAddress: string;
  #needDrain = false;
  #localClose = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #error: Error | undefined;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    this.remoteAddress = socket.remoteAddress === undefined ? '' : `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      // Node allocates a fresh buffer per read, so a view is already the receiver's own.
      this.#callbacks.emitData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    socket.on('drain', () => {
      if (!this.#needDrain) return;
      this.#needDrain = false;
      this.#callbacks.emitDrain();
    });
    socket.on('error', (error) => {
      this.#error ??= error;
    });
    // A half-closed socket is useless to SV2; end our side too so 'close' follows.
    socket.on('end', () => socket.destroy());
    socket.on('close', () => {
      if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
      this.#callbacks.emitClose(this.#error === undefined ? { local: this.#localClose } : { local: this.#localClose, error: this.#error });
    });
  }

  get bufferedBytes(): number {
    // A destroyed socket discarded its queue, whatever writableLength still says.
    return this.#socket.destroyed ? 0 : this.#socket.writableLength;
  }

  get closed(): boolean {
    return this.#localClose || this.#callbacks.isClosed || this.#socket.destroyed;
  }

  write(bytes: Uint8Array): boolean {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`write: bytes must be a Uint8Array, got ${typeof bytes}`);
    if (this.closed) return false;
    this.#socket.write(bytes);
    if (this.#socket.writableLength < WRITE_HIGH_WATER_BYTES) return true;
    this.#needDrain = true;
    return false;
  }

  onData(callback: (bytes: Uint8Array) => void): void {
    this.#callbacks.onData(callback);
  }

  onDrain(callback: () => void): void {
    this.#callbacks.drain.push(callback);
  }

  onClose(callback: (info: { error?: Error; local: boolean }) => void): void {
    this.#callbacks.onClose(callback);
  }

  close(): void {
    if (this.closed) return;
    this.#localClose = true;
    this.#socket.pause();
    if (this.#socket.writableLength === 0) {
      this.#socket.destroy();
      return;
    }
    // end() flushes, then 'finish'; a peer that never reads is aborted after the timeout.
    this.#socket.end(() => this.#socket.destroy());
    this.#flushTimer = setTimeout(() => this.#socket.destroy(), CLOSE_FLUSH_TIMEOUT_MS);
  }

  abort(): void {
    if (this.#socket.destroyed) return;
    this.#localClose = true;
    this.#socket.destroy();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }
}

export async function listenTcp(address: TcpAddress, onConnection: (socket: TcpSocket) => void, _options: ListenOptions = {}): Promise<TcpListener> {
  checkAddress('listenTcp', address, true);
  // _options.reusePort: Node 20 has no SO_REUSEPORT (types.ts ListenOptions); a node:cluster
  // worker's listen() shares the primary's handle, which is how gateway.workers runs on Node.
  const server = net.createServer((socket) => onConnection(new NodeTcpSocket(socket)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // A failing accept (EMFILE) must not crash the process; the listener keeps going.
  server.on('error', () => undefined);
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('listenTcp: the server has no TCP address');
  return {
    port: bound.port,
    // server.close() stops accepting at once but only calls back when every connection has
    // ended; open sockets are the caller's, so do not wait for them.
    close: async () => {
      if (server.listening) server.close();
    },
  };
}

export async function connectTcp(address: TcpAddress): Promise<TcpSocket> {
  checkAddress('connectTcp', address, false);
  const socket = net.connect({ host: address.host, port: address.port });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => {
      socket.destroy();
      reject(asError(error));
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.off('error', fail);
      resolve();
    });
  });
  return new NodeTcpSocket(socket);
}

export async function connectTls(address: TcpAddress, options: TlsClientOptions): Promise<TcpSocket> {
  checkAddress('connectTls', address, false);
  const socket = tls.connect({
    host: address.host,
    port: address.port,
    // RFC 6066 §3: SNI carries host names only; an IP literal is verified against the
    // certificate's IP SANs without one (Node warns, DEP0123, if given one).
    ...(net.isIP(options.serverName ?? address.host) === 0 ? { servername: options.serverName ?? address.host } : {}),
    ...(options.caCertsPem === undefined ? {} : { ca: [...options.caCertsPem] }),
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => {
      socket.destroy();
      reject(asError(error));
    };
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      socket.off('error', fail);
      resolve();
    });
  });
  return new NodeTcpSocket(socket);
}
