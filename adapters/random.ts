// CSPRNG for production: WebCrypto getRandomValues exists on Node ≥ 19, Deno and Bun.
import type { RandomSource } from '../core/random.ts';

// getRandomValues refuses more than 65,536 bytes per call (WebCrypto spec).
const GET_RANDOM_VALUES_BYTES_MAX = 65_536;

export const systemRandom: RandomSource = {
  fill(out: Uint8Array): Uint8Array {
    for (let offset = 0; offset < out.length; offset += GET_RANDOM_VALUES_BYTES_MAX) {
      globalThis.crypto.getRandomValues(out.subarray(offset, offset + GET_RANDOM_VALUES_BYTES_MAX));
    }
    return out;
  },
};
