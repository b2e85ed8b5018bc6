// Our Template Distribution client (core/client/tdp-client.ts) on a real loopback socket: the
// one pump between a TcpSocket and the sans-IO client, for the Template Provider integration
// tests on node, deno and bun. Every wait is bounded (test/support/wait.ts).
import type { Clock } from '../../core/clock.ts';
import { TdpClient, type TdpClientEvent, type TdpClientOptions } from '../../core/client/tdp-client.ts';
import type { Sv2Message } from '../../core/codec/index.ts';
import { connectTcp, type TcpSocket } from '../../adapters/net/index.ts';
import { until } from './wait.ts';

export type Msg<T extends Sv2Message['type']> = Extract<Sv2Message, { type: T }>;

export class TdpConnection {
  readonly client: TdpClient;
  readonly socket: TcpSocket;
  readonly messages: Sv2Message[] = [];
  readonly violations: string[] = [];
  readonly events: TdpClientEvent[] = [];
  closed = false;
  #taken = 0;

  private constructor(client: TdpClient, socket: TcpSocket, readonly clock: Clock) {
    this.client = client;
    this.socket = socket;
  }

  static async connect(options: { host: string; port: number; clock: Clock } & Omit<TdpClientOptions, 'wallClock'>): Promise<TdpConnection> {
    const socket = await connectTcp({ host: options.host, port: options.port });
    const client = new TdpClient({ ...options, wallClock: options.clock }, options.clock.monotonicMs());
    const conn = new TdpConnection(client, socket, options.clock);
    socket.onData((bytes) => {
      client.receive(bytes, options.clock.monotonicMs());
      conn.#pump();
    });
    socket.onClose(() => {
      conn.closed = true;
    });
    conn.#pump();
    return conn;
  }

  /** Write what the client queued and collect its events. Call after any client method. */
  flush(): void {
    this.#pump();
  }

  /** The next message of `type` not yet taken (in arrival order), waited for. */
  async next<T extends Sv2Message['type']>(type: T, timeoutMs: number): Promise<Msg<T>> {
    return until(`a ${type}`, timeoutMs, () => {
      for (let i = this.#taken; i < this.messages.length; i++) {
        if (this.messages[i]!.type === type) {
          this.#taken = i + 1;
          return this.messages[i] as Msg<T>;
        }
      }
      return undefined;
    });
  }

  abort(): void {
    this.socket.abort();
  }

  #pump(): void {
    for (let b = this.client.pollTransmit(); b !== undefined; b = this.client.pollTransmit()) this.socket.write(b);
    for (let e = this.client.pollEvent(); e !== undefined; e = this.client.pollEvent()) {
      this.events.push(e);
      if (e.type === 'message') this.messages.push(e.message);
      else if (e.type === 'protocol_violation') this.violations.push(e.detail);
    }
  }
}
