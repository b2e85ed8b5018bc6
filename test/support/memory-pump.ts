// Byte shuttling between in-memory miners (core Noise initiators) and a sans-IO Gateway, for the
// tests that drive the gateway without sockets on the fake clock (test/unit/gateway.test.ts,
// test/unit/work-selection.test.ts, conformance/prevhash-world.ts). One loop, so every world
// moves bytes, commands and events in the same order.
import type { Gateway } from '../../core/gateway/gateway.ts';

export interface PumpedMiner {
  readonly connId: number;
  readonly noise: { pollTransmit(): Uint8Array | undefined; receive(bytes: Uint8Array, nowMs: number): void };
  closedByServer: boolean;
  /** Take decoded messages out of the miner's Noise connection. */
  drain(): void;
}

export interface PumpSinks {
  readonly command: (command: NonNullable<ReturnType<Gateway['pollCommand']>>) => void;
  readonly event: (event: NonNullable<ReturnType<Gateway['pollEvent']>>) => void;
  /** Stop sending bytes from miners the gateway already closed (default false: send them). */
  readonly skipClosedMiners?: boolean;
}

/** Shuttle until nothing moves; throws if it never settles (a livelock is a bug). */
export function pumpGateway(
  gateway: Pick<Gateway, 'receive' | 'pollTransmit' | 'pollCommand' | 'pollEvent'>,
  miners: ReadonlyMap<number, PumpedMiner>,
  nowMs: number,
  sinks: PumpSinks,
): void {
  for (let round = 0; round < 1000; round++) {
    let moved = false;
    for (const miner of miners.values()) {
      if (sinks.skipClosedMiners && miner.closedByServer) continue;
      const out = miner.noise.pollTransmit();
      if (out !== undefined) {
        gateway.receive(miner.connId, out, nowMs);
        moved = true;
      }
    }
    for (let item = gateway.pollTransmit(); item !== undefined; item = gateway.pollTransmit()) {
      moved = true;
      const miner = miners.get(item.conn_id);
      if (miner === undefined) continue;
      if ('bytes' in item) miner.noise.receive(item.bytes, nowMs);
      else miner.closedByServer = true;
    }
    for (const miner of miners.values()) miner.drain();
    for (let c = gateway.pollCommand(); c !== undefined; c = gateway.pollCommand()) sinks.command(c);
    for (let e = gateway.pollEvent(); e !== undefined; e = gateway.pollEvent()) sinks.event(e);
    if (!moved) return;
  }
  throw new Error('pump did not settle');
}
