// One backing store for a burst of sealed frames to many connections (issue 13 item 2: the
// prevhash fan-out). Each connection's transmit buffer (core/noise/connection.ts) is normally
// its own Uint8Array, allocated at the first frame's size and grown (copied) by the next: two
// allocations and one copy per connection per switch, and every typed array above V8's on-heap
// limit (64 bytes) costs an external backing store. The switch profile put that at 10–18 % of
// the switch (docs/performance.md, "Where the time goes"). With an arena, the connections of one
// broadcast carve their buffers out of a few large chunks, one after the other: a connection's
// second frame extends its region in place (it is still the chunk's last region, because the
// broadcast fills one connection at a time), so there is no copy and one allocation per chunk.
//
// Lifetime: the gateway makes one arena per broadcast and drops it after; each region is an
// ordinary subarray that pollTransmit hands out, so a chunk lives until the last socket write of
// any of its regions is done (a few hundred KiB per switch, briefly). Bytes are the same as
// without the arena; only where they are stored differs.

/** Bytes per chunk: 1,000 connections × (NewExtendedMiningJob + SetNewPrevHash) ≈ 2 chunks. */
export const TRANSMIT_ARENA_CHUNK_BYTES = 256 * 1024;

export class TransmitArena {
  readonly #chunkBytes: number;
  #chunk: Uint8Array | undefined;
  #used = 0;
  /** The region handed out last (the only one that can grow in place) and its start. */
  #last: Uint8Array | undefined;
  #lastStart = 0;
  /** Chunks allocated so far (tests and the bench read it). */
  chunks = 0;

  constructor(chunkBytes: number = TRANSMIT_ARENA_CHUNK_BYTES) {
    if (!(Number.isInteger(chunkBytes) && chunkBytes >= 1024)) throw new RangeError(`TransmitArena: chunkBytes must be an integer >= 1024, got ${chunkBytes}`);
    this.#chunkBytes = chunkBytes;
  }

  /**
   * A region of exactly `needed` bytes whose first `used` bytes equal `current`'s first `used`
   * bytes (`current` undefined: `used` must be 0). Grows `current` in place when it is the last
   * region handed out and its chunk has room; otherwise a new region, with the bytes copied.
   */
  grow(current: Uint8Array | undefined, used: number, needed: number): Uint8Array {
    if (current !== undefined && current === this.#last && this.#lastStart + needed <= this.#chunk!.length) {
      this.#used = this.#lastStart + needed;
      const region = this.#chunk!.subarray(this.#lastStart, this.#used);
      this.#last = region;
      return region;
    }
    if (this.#chunk === undefined || this.#used + needed > this.#chunk.length) {
      this.#chunk = new Uint8Array(Math.max(this.#chunkBytes, needed));
      this.#used = 0;
      this.chunks += 1;
    }
    const start = this.#used;
    this.#used += needed;
    const region = this.#chunk.subarray(start, this.#used);
    if (current !== undefined && used > 0) region.set(current.subarray(0, used), 0);
    this.#last = region;
    this.#lastStart = start;
    return region;
  }
}
