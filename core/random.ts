// Randomness is injected (SPEC §2). Production gets a CSPRNG from adapters/random.ts; tests and
// simulations get `SeededRandom`, reproducible from a printed seed.

export interface RandomSource {
  /** Fill `out` with random bytes and return it. */
  fill(out: Uint8Array): Uint8Array;
}

export function randomBytes(source: RandomSource, length: number): Uint8Array {
  return source.fill(new Uint8Array(length));
}

/**
 * Deterministic xoshiro128** generator seeded through splitmix32. NOT cryptographically secure:
 * for tests, fuzzing and the simulated fleet only; never for production keys.
 */
export class SeededRandom implements RandomSource {
  readonly #s = new Uint32Array(4);

  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`SeededRandom: seed must be a safe integer, got ${seed}`);
    let x = seed >>> 0 ^ Math.floor(seed / 2 ** 32);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2] ^= s[0]!;
    s[3] ^= s[1]!;
    s[1] ^= s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform integer in [0, bound). */
  nextInt(bound: number): number {
    if (!(bound > 0 && bound <= 2 ** 32)) throw new RangeError(`nextInt: bound must be in (0, 2^32], got ${bound}`);
    return Math.floor((this.nextU32() / 2 ** 32) * bound);
  }

  fill(out: Uint8Array): Uint8Array {
    for (let i = 0; i < out.length; i += 4) {
      const v = this.nextU32();
      for (let j = 0; j < 4 && i + j < out.length; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
