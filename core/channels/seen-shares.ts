// Duplicate-share detection (SV2.md §5.5 step 7/8, config timing.nonce_expire_secs).
//
// Keyed by the header hash: two submits with the same header are the same work. Bounded in time
// and space:
// - two generations, rotated every `expireMs`: a hash is remembered for at least `expireMs` and
//   at most 2·`expireMs` (an entry added to the current generation survives one rotation);
// - at most `capacity` hashes in both generations together; when the current generation fills
//   its half, the generations rotate early and the dropped ones are counted (`evictions`).
// - `clear()` on a new prevhash (SRI flushes its seen-set there: old work cannot recur).
// Lookup cost: the low 48 bits of the hash (uniformly random) are a Number key; a bucket keeps
// the full 32-byte hashes, so a key collision never makes a false duplicate.

type Bucket = Uint8Array | Uint8Array[];

export class SeenShares {
  readonly expireMs: number;
  readonly capacity: number;
  #current = new Map<number, Bucket>();
  #previous = new Map<number, Bucket>();
  #currentSize = 0;
  #previousSize = 0;
  #rotatedAtMs: number | null = null;
  /** Hashes forgotten before `expireMs` because the set was full. */
  evictions = 0;

  constructor(options: { expireMs: number; capacity: number }) {
    const { expireMs, capacity } = options;
    if (!Number.isFinite(expireMs) || expireMs <= 0) throw new RangeError(`SeenShares: expireMs must be > 0, got ${expireMs}`);
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError(`SeenShares: capacity must be an integer >= 2, got ${capacity}`);
    this.expireMs = expireMs;
    this.capacity = capacity;
  }

  get size(): number {
    return this.#currentSize + this.#previousSize;
  }

  /** True if `hash` was already seen within the window; otherwise records it and returns false. */
  checkAndAdd(hash: Uint8Array, nowMs: number): boolean {
    this.#age(nowMs);
    const key = hash[0]! + hash[1]! * 0x100 + hash[2]! * 0x10000 + hash[3]! * 0x1000000 + hash[4]! * 0x100000000 + hash[5]! * 0x10000000000;
    if (_has(this.#current.get(key), hash) || _has(this.#previous.get(key), hash)) return true;
    if (this.#currentSize >= this.capacity >>> 1) {
      this.evictions += this.#previousSize;
      this.#rotate(nowMs);
    }
    const bucket = this.#current.get(key);
    if (bucket === undefined) this.#current.set(key, hash);
    else if (Array.isArray(bucket)) bucket.push(hash);
    else this.#current.set(key, [bucket, hash]);
    this.#currentSize++;
    return false;
  }

  clear(): void {
    // A generation with no hash is an empty Map already: keep it. Every connection clears on a
    // new prevhash (the fan-out), and two fresh Maps per connection were garbage of the switch.
    if (this.#currentSize > 0) this.#current = new Map();
    if (this.#previousSize > 0) this.#previous = new Map();
    this.#currentSize = 0;
    this.#previousSize = 0;
  }

  #age(nowMs: number): void {
    if (this.#rotatedAtMs === null) {
      this.#rotatedAtMs = nowMs;
      return;
    }
    const elapsed = nowMs - this.#rotatedAtMs;
    if (elapsed >= 2 * this.expireMs) {
      this.clear();
      this.#rotatedAtMs = nowMs;
    } else if (elapsed >= this.expireMs) {
      this.#rotate(nowMs);
    }
  }

  #rotate(nowMs: number): void {
    this.#previous = this.#current;
    this.#previousSize = this.#currentSize;
    this.#current = new Map();
    this.#currentSize = 0;
    this.#rotatedAtMs = nowMs;
  }
}

function _has(bucket: Bucket | undefined, hash: Uint8Array): boolean {
  if (bucket === undefined) return false;
  if (!Array.isArray(bucket)) return _equal32(bucket, hash);
  for (const h of bucket) if (_equal32(h, hash)) return true;
  return false;
}

// Hashes are public: no constant-time compare needed.
function _equal32(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false;
  return true;
}
