// A Map keyed by 32-byte digests (txids, wtxids) without building a string per lookup. The key
// of the underlying Map is the digest's first 6 bytes as a number (48 bits, exact in a double,
// the same key core/policy/engine.ts uses for its duplicate and blocklist checks); every hit is
// confirmed with a full 32-byte compare, and the rare prefix collisions share a bucket.
//
// Why: the hex keys this replaces cost a 64-character string (and its hash) per lookup; with
// 4,000 declared wtxids that was ~15 % of a Job Declaration verdict (docs/job-declaration.md,
// "Performance"). Why 48 bits is enough against a hostile peer: grinding transactions into one
// bucket costs ~2^48 double hashes per colliding entry, and a collision only makes its bucket a
// short list, never a wrong answer.

/** The Map key of a digest: bytes 0..5, little-endian, as a number below 2^48. */
export function digestKey(d: Uint8Array): number {
  return (d[0]! | (d[1]! << 8) | (d[2]! << 16)) + (d[3]! | (d[4]! << 8) | (d[5]! << 16)) * 0x1000000;
}

/** Do `a` and `b` hold the same 32 bytes? (Only the first 32 are compared.) */
export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface _Entry<V> {
  readonly digest: Uint8Array;
  value: V;
  /** The next entry with the same 48-bit key (a prefix collision), or null. */
  next: _Entry<V> | null;
}

/**
 * digest → value. The digest arrays are held by reference, never copied: a caller must not
 * mutate a digest it has used as a key (transactions' txids/wtxids are immutable by convention).
 */
export class DigestMap<V> {
  readonly #buckets = new Map<number, _Entry<V>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(digest: Uint8Array): V | undefined {
    if (digest.length < 32) return undefined;
    for (let e: _Entry<V> | null | undefined = this.#buckets.get(digestKey(digest)); e !== undefined && e !== null; e = e.next) {
      if (sameDigest(e.digest, digest)) return e.value;
    }
    return undefined;
  }

  has(digest: Uint8Array): boolean {
    return this.get(digest) !== undefined;
  }

  set(digest: Uint8Array, value: V): void {
    if (digest.length !== 32) throw new RangeError(`DigestMap.set: a digest is 32 bytes, got ${digest.length}`);
    const key = digestKey(digest);
    const head = this.#buckets.get(key);
    for (let e: _Entry<V> | null | undefined = head; e !== undefined && e !== null; e = e.next) {
      if (sameDigest(e.digest, digest)) {
        e.value = value;
        return;
      }
    }
    this.#buckets.set(key, { digest, value, next: head ?? null });
    this.#size += 1;
  }

  /** Remove `digest`; true when it was there. */
  delete(digest: Uint8Array): boolean {
    if (digest.length < 32) return false;
    const key = digestKey(digest);
    let prev: _Entry<V> | null = null;
    for (let e: _Entry<V> | null | undefined = this.#buckets.get(key); e !== undefined && e !== null; prev = e, e = e.next) {
      if (!sameDigest(e.digest, digest)) continue;
      if (prev !== null) prev.next = e.next;
      else if (e.next !== null) this.#buckets.set(key, e.next);
      else this.#buckets.delete(key);
      this.#size -= 1;
      return true;
    }
    return false;
  }

  clear(): void {
    this.#buckets.clear();
    this.#size = 0;
  }

  /** Entries (digest, value), in no particular order. */
  *entries(): IterableIterator<[Uint8Array, V]> {
    for (const head of this.#buckets.values()) for (let e: _Entry<V> | null = head; e !== null; e = e.next) yield [e.digest, e.value];
  }
}
