// Share ids (SPEC §8: `share_accepted` and `share_forward_result` are joined by `share_id`, across
// crashes and restarts). Format:
//
//   <gateway_id>-<boot_id>-<counter>        e.g. "7-3f9a1c0e5b7d2a64-42"
//
//   gateway_id  gateway.id (U16, unique among the gateways serving one pool; config doc says so)
//   boot_id     16 hex digits (64 bits) drawn from the injected RandomSource once per Gateway
//               construction, i.e. once per process start: a restart never reuses a prefix
//               (birthday bound: 2^32 boots per gateway id before a 50% chance of one collision)
//   counter     decimal, from 1, +1 per accepted share (exact up to 2^53)
//
// No clock is involved, so ids are reproducible from a seed in tests and simulations.
import { bytesToHex } from '../bytes.ts';
import type { RandomSource } from '../random.ts';

export const BOOT_ID_BYTES = 8;

export class ShareIdAllocator {
  readonly gatewayId: number;
  readonly bootId: string;
  readonly #prefix: string;
  #counter = 0;

  constructor(gatewayId: number, random: RandomSource) {
    if (!(Number.isInteger(gatewayId) && gatewayId >= 0 && gatewayId <= 0xffff)) {
      throw new RangeError(`ShareIdAllocator: gatewayId must be an integer in 0..65535, got ${gatewayId}`);
    }
    if (random === null || typeof random !== 'object' || typeof random.fill !== 'function') {
      throw new TypeError(`ShareIdAllocator: random must be a RandomSource, got ${String(random)}`);
    }
    this.gatewayId = gatewayId;
    this.bootId = bytesToHex(random.fill(new Uint8Array(BOOT_ID_BYTES)));
    this.#prefix = `${gatewayId}-${this.bootId}-`;
  }

  /** Ids handed out so far. */
  get count(): number {
    return this.#counter;
  }

  next(): string {
    this.#counter += 1;
    return this.#prefix + this.#counter;
  }
}
