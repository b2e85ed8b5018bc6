// Minimal Deno shim: only what runtimes/deno.ts and the Deno adapters (adapters/*-deno.ts,
// adapters/net/deno.ts) use (STYLE.md #9).
declare namespace Deno {
  const args: string[];
  function exit(code?: number): never;
  /** https://docs.deno.com/api/deno/~/Deno.addSignalListener */
  function addSignalListener(signal: 'SIGINT' | 'SIGTERM', handler: () => void): void;
  function removeSignalListener(signal: 'SIGINT' | 'SIGTERM', handler: () => void): void;
  function readTextFileSync(path: string | URL): string;
  const env: { get(key: string): string | undefined; toObject(): Record<string, string> };
  const stdout: { writeSync(p: Uint8Array): number };
  const stderr: { writeSync(p: Uint8Array): number };
  // TCP (adapters/net/deno.ts): https://docs.deno.com/api/deno/~/Deno.listen
  interface NetAddr {
    readonly transport: 'tcp' | 'udp';
    readonly hostname: string;
    readonly port: number;
  }
  interface Conn {
    readonly localAddr: NetAddr;
    readonly remoteAddr: NetAddr;
    read(p: Uint8Array): Promise<number | null>;
    write(p: Uint8Array): Promise<number>;
    close(): void;
    setNoDelay(noDelay?: boolean): void;
  }
  interface Listener {
    readonly addr: NetAddr;
    accept(): Promise<Conn>;
    close(): void;
  }
  function listen(options: { hostname?: string; port: number; transport?: 'tcp' }): Listener;
  function connect(options: { hostname?: string; port: number; transport?: 'tcp' }): Promise<Conn>;
  // https://docs.deno.com/api/deno/~/Deno.connectTls
  interface TlsConn extends Conn {
    handshake(): Promise<unknown>;
  }
  function connectTls(options: { hostname?: string; port: number; serverName?: string; caCerts?: string[] }): Promise<TlsConn>;
}
