// A min-heap of (deadline, connection) so the gateway's next deadline is O(1) and a timer
// firing costs O(k log n) for k due connections, whatever the number of connections (the 10,000-
// channel target in issue 3). Entries are never removed early: a connection that re-arms an
// EARLIER deadline pushes a new entry, a later one waits for the old entry to fire (the callee's
// onTimeout is harmless when early, STYLE.md #1) and then reschedules. So the heap holds at most
// a few entries per live connection; `size` is observable for tests and metrics.

export class DeadlineHeap {
  readonly #atMs: number[] = [];
  readonly #ids: number[] = [];

  get size(): number {
    return this.#atMs.length;
  }

  peekMs(): number | undefined {
    return this.#atMs[0];
  }

  push(atMs: number, id: number): void {
    const at = this.#atMs;
    const ids = this.#ids;
    let i = at.length;
    at.push(atMs);
    ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (at[parent]! <= atMs) break;
      at[i] = at[parent]!;
      ids[i] = ids[parent]!;
      i = parent;
    }
    at[i] = atMs;
    ids[i] = id;
  }

  /** Remove and return the ids of every entry due at `nowMs` (earliest first). */
  popDue(nowMs: number, out: number[] = []): number[] {
    while (this.#atMs.length > 0 && this.#atMs[0]! <= nowMs) out.push(this.#pop());
    return out;
  }

  #pop(): number {
    const at = this.#atMs;
    const ids = this.#ids;
    const top = ids[0]!;
    const lastAt = at.pop()!;
    const lastId = ids.pop()!;
    const n = at.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && at[right]! < at[left]! ? right : left;
        if (at[child]! >= lastAt) break;
        at[i] = at[child]!;
        ids[i] = ids[child]!;
        i = child;
      }
      at[i] = lastAt;
      ids[i] = lastId;
    }
    return top;
  }
}
