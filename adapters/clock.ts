// System clock for every runtime: performance.now() is monotonic on Node, Deno and Bun;
// Date.now() is only used for wall time (certificate validity, event timestamps).
import type { Clock, TimerId } from '../core/clock.ts';

export class SystemClock implements Clock {
  readonly #timers = new Map<TimerId, ReturnType<typeof setTimeout>>();
  #nextId = 1;

  monotonicMs(): number {
    return performance.now();
  }

  wallMs(): number {
    return Date.now();
  }

  setTimer(delayMs: number, callback: () => void): TimerId {
    const id = this.#nextId++;
    const handle = setTimeout(() => {
      this.#timers.delete(id);
      callback();
    }, Math.max(0, delayMs));
    this.#timers.set(id, handle);
    return id;
  }

  clearTimer(id: TimerId): void {
    const handle = this.#timers.get(id);
    if (handle !== undefined) {
      clearTimeout(handle);
      this.#timers.delete(id);
    }
  }
}
