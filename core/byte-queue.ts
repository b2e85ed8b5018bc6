// A FIFO of byte chunks for incremental parsers. Bytes from the socket are appended without
// copying; `take` copies only when a request spans chunks. Deframers use it so that a frame is
// never parsed before all of it has arrived (STYLE.md #5).

export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #head = 0; // offset into #chunks[0]
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** Copy of the first `n` bytes without consuming them. Caller ensures `n <= length`. */
  peek(n: number): Uint8Array {
    return this.#read(n, false);
  }

  /** Remove and return the first `n` bytes. Caller ensures `n <= length`. */
  take(n: number): Uint8Array {
    return this.#read(n, true);
  }

  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#length = 0;
  }

  #read(n: number, consume: boolean): Uint8Array {
    if (!(Number.isInteger(n) && n >= 0 && n <= this.#length)) {
      throw new RangeError(`ByteQueue: cannot read ${n} bytes, ${this.#length} buffered`);
    }
    const first = this.#chunks[0];
    // Fast path: the request lies within the first chunk, so a view is enough.
    if (first !== undefined && first.length - this.#head >= n) {
      const view = first.subarray(this.#head, this.#head + n);
      if (consume) this.#advance(n);
      return consume ? view : view.slice();
    }
    const out = new Uint8Array(n);
    let filled = 0;
    let index = 0;
    let offset = this.#head;
    while (filled < n) {
      const chunk = this.#chunks[index]!;
      const count = Math.min(n - filled, chunk.length - offset);
      out.set(chunk.subarray(offset, offset + count), filled);
      filled += count;
      index++;
      offset = 0;
    }
    if (consume) this.#advance(n);
    return out;
  }

  #advance(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const first = this.#chunks[0]!;
      const available = first.length - this.#head;
      if (n < available) {
        this.#head += n;
        return;
      }
      n -= available;
      this.#chunks.shift();
      this.#head = 0;
    }
  }
}
