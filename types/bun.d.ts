// Minimal Bun shim: only the Bun APIs adapters/crypto-native.ts probes and adapters/net/bun.ts
// uses (STYLE.md #9). Declared
// as an optional property of globalThis, not as a global namespace, so code must check that Bun
// is there before using it (it is absent on Node and Deno).
interface BunCryptoHasherShim {
  update(data: Uint8Array): BunCryptoHasherShim;
  digest(): Uint8Array;
}

interface BunGlobalShim {
  readonly version: string;
  readonly CryptoHasher: new (algorithm: 'sha256', hmacKey?: Uint8Array) => BunCryptoHasherShim;
  readonly SHA256: { hash(data: Uint8Array): Uint8Array };
  // TCP (adapters/net/bun.ts): https://bun.sh/docs/api/tcp
  listen<Data>(options: BunTcpOptionsShim<Data>): BunTcpListenerShim;
  connect<Data>(options: BunTcpOptionsShim<Data>): Promise<BunSocketShim<Data>>;
}

interface BunSocketShim<Data> {
  data: Data;
  readonly remoteAddress: string;
  readonly remotePort?: number;
  /** Bytes the kernel took (may be fewer than given; the rest waits for `drain`). */
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause?(): void;
  resume?(): void;
  setNoDelay?(noDelay?: boolean): boolean;
}

interface BunSocketHandlerShim<Data> {
  open?(socket: BunSocketShim<Data>): void;
  data?(socket: BunSocketShim<Data>, data: Uint8Array): void;
  drain?(socket: BunSocketShim<Data>): void;
  close?(socket: BunSocketShim<Data>, error?: unknown): void;
  end?(socket: BunSocketShim<Data>): void;
  error?(socket: BunSocketShim<Data>, error: unknown): void;
  handshake?(socket: BunSocketShim<Data>, success: boolean, authorizationError: Error | null): void;
  connectError?(socket: BunSocketShim<Data>, error: unknown): void;
}

interface BunTcpOptionsShim<Data> {
  readonly hostname: string;
  readonly port: number;
  readonly data?: Data;
  /** SO_REUSEPORT (Linux): several processes listen on one port (gateway.workers). */
  readonly reusePort?: boolean;
  readonly socket: BunSocketHandlerShim<Data>;
  /** Client TLS (https://bun.sh/docs/api/tcp): verified against `ca` or the trust store. */
  readonly tls?: { readonly serverName?: string; readonly ca?: string[]; readonly rejectUnauthorized?: boolean };
}

interface BunTcpListenerShim {
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

declare var Bun: BunGlobalShim | undefined;
