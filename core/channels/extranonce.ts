// Server extranonce prefixes (SV2.md §5.2, issue 3 item 2): unique per channel and partitioned
// by `gateway.id` so several gateways can serve one pool without handing out the same work.
//
// Layout (8 bytes, big-endian so the hex reads naturally in logs):
//   gateway_id U16 ‖ boot_nonce U16 ‖ counter U32
// - gateway_id: config `gateway.id` (0..65535): different gateways never collide.
// - boot_nonce: 16 random bits drawn from the injected RandomSource at construction, so a
//   restarted gateway (counter back at 0) almost never repeats a prefix it used before the
//   restart (1 in 65,536 per pair of boots; a repeat only duplicates work, it is not unsafe).
// - counter: one per opened channel, never reused within a boot (2^32 channels). With socket
//   workers (gateway.workers ≥ 2, docs/scaling.md) the counter's top `ceil(log2(count))` bits
//   are the worker's index, so two workers of one gateway can never hand out the same prefix
//   whatever their boot nonces (each worker has 2^(32 - bits) channels per boot).
// With the 8-byte prefix an extended channel can get up to 24 rollable bytes (prefix + rollable
// ≤ 32, SRI MAX_EXTRANONCE_LEN). A standard channel's full extranonce is the prefix itself.
import type { RandomSource } from '../random.ts';

export const EXTRANONCE_PREFIX_BYTES = 8;

export class ExtranonceAllocator {
  readonly gatewayId: number;
  readonly bootNonce: number;
  /** Worker index placed in the counter's top bits (0 without workers). */
  readonly #partitionBase: number;
  /** Channels this allocator may number: 2^(32 - partition bits). */
  readonly #counterLimit: number;
  #counter = 0;

  constructor(options: { gatewayId: number; random: RandomSource; partition?: { readonly index: number; readonly count: number } }) {
    const { gatewayId, random, partition } = options;
    let bits = 0;
    if (partition !== undefined) {
      const { index, count } = partition;
      if (!(Number.isInteger(count) && count >= 1 && count <= 0x10000)) throw new RangeError(`ExtranonceAllocator: partition.count must be an integer 1..65536, got ${count}`);
      if (!(Number.isInteger(index) && index >= 0 && index < count)) throw new RangeError(`ExtranonceAllocator: partition.index must be an integer 0..${count - 1}, got ${index}`);
      while (2 ** bits < count) bits++;
    }
    this.#counterLimit = 2 ** (32 - bits);
    this.#partitionBase = partition === undefined ? 0 : partition.index * this.#counterLimit;
    if (!Number.isInteger(gatewayId) || gatewayId < 0 || gatewayId > 0xffff) {
      throw new RangeError(`ExtranonceAllocator: gatewayId must be a U16, got ${gatewayId}`);
    }
    if (random === null || typeof random !== 'object' || typeof random.fill !== 'function') {
      throw new TypeError('ExtranonceAllocator: random must be a RandomSource');
    }
    const nonce = random.fill(new Uint8Array(2));
    this.gatewayId = gatewayId;
    this.bootNonce = (nonce[0]! << 8) | nonce[1]!;
  }

  /** Prefixes handed out so far. */
  get allocatedCount(): number {
    return this.#counter;
  }

  /** A fresh prefix, or null once the U32 counter is exhausted (the caller refuses the channel). */
  allocate(): Uint8Array | null {
    if (this.#counter >= this.#counterLimit) return null;
    const n = this.#partitionBase + this.#counter++;
    const out = new Uint8Array(EXTRANONCE_PREFIX_BYTES);
    out[0] = this.gatewayId >>> 8;
    out[1] = this.gatewayId & 0xff;
    out[2] = this.bootNonce >>> 8;
    out[3] = this.bootNonce & 0xff;
    out[4] = n >>> 24;
    out[5] = (n >>> 16) & 0xff;
    out[6] = (n >>> 8) & 0xff;
    out[7] = n & 0xff;
    return out;
  }
}
