// Time is injected (SPEC §2, STYLE.md #2). Core protocol objects never read a clock: they take
// `nowMs` as an argument and report their next deadline. Drivers (adapters, the conformance
// suite) own a `Clock` and call `onTimeout(now)` when a deadline passes.

export type TimerId = number;

export interface Clock {
  /** Monotonic milliseconds from an arbitrary origin; never goes backwards. All deadlines. */
  monotonicMs(): number;
  /** Unix wall-clock milliseconds. Only for certificate validity and event timestamps. */
  wallMs(): number;
  /** Run `callback` once, `delayMs` from now (monotonic). */
  setTimer(delayMs: number, callback: () => void): TimerId;
  /** Cancel a timer; harmless for unknown or already-fired ids. */
  clearTimer(id: TimerId): void;
}

interface PendingTimer {
  readonly id: TimerId;
  readonly atMs: number;
  readonly callback: () => void;
}

/**
 * Deterministic clock for tests and simulation (after TigerBeetle's `time.zig` and
 * fake-timers). Time only moves when `advance`/`advanceTo` is called; timers fire in deadline
 * order, ties in creation order, each with the clock set to exactly its deadline.
 */
export class FakeClock implements Clock {
  #nowMs: number;
  readonly #wallOriginMs: number;
  #nextId = 1;
  #timers: PendingTimer[] = [];

  constructor(options: { startMs?: number; wallOriginMs?: number } = {}) {
    this.#nowMs = options.startMs ?? 0;
    this.#wallOriginMs = options.wallOriginMs ?? 1_700_000_000_000;
  }

  monotonicMs(): number {
    return this.#nowMs;
  }

  wallMs(): number {
    return this.#wallOriginMs + this.#nowMs;
  }

  setTimer(delayMs: number, callback: () => void): TimerId {
    if (!Number.isFinite(delayMs)) throw new RangeError(`setTimer: delayMs must be finite, got ${delayMs}`);
    const id = this.#nextId++;
    this.#timers.push({ id, atMs: this.#nowMs + Math.max(0, delayMs), callback });
    return id;
  }

  clearTimer(id: TimerId): void {
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }

  /** Number of timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  advance(deltaMs: number): void {
    if (!(deltaMs >= 0)) throw new RangeError(`advance: deltaMs must be >= 0, got ${deltaMs}`);
    this.advanceTo(this.#nowMs + deltaMs);
  }

  /** Move to `targetMs`, firing every timer due on the way (including ones armed by timers). */
  advanceTo(targetMs: number): void {
    if (targetMs < this.#nowMs) {
      throw new RangeError(`advanceTo: ${targetMs} is before now (${this.#nowMs}); monotonic time cannot go back`);
    }
    for (;;) {
      let next: PendingTimer | undefined;
      for (const t of this.#timers) {
        if (t.atMs <= targetMs && (next === undefined || t.atMs < next.atMs || (t.atMs === next.atMs && t.id < next.id))) {
          next = t;
        }
      }
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#nowMs = next.atMs;
      next.callback();
    }
    this.#nowMs = targetMs;
  }
}

/**
 * A table of named deadlines (STYLE.md #3): re-arming a name replaces it, the next deadline is
 * the minimum, and `takeDue` is harmless if called early or twice.
 */
export class Deadlines<Name extends string = string> {
  readonly #atMs = new Map<Name, number>();

  set(name: Name, atMs: number): void {
    this.#atMs.set(name, atMs);
  }

  clear(name: Name): void {
    this.#atMs.delete(name);
  }

  get(name: Name): number | undefined {
    return this.#atMs.get(name);
  }

  /** Earliest armed deadline, or undefined when none is armed. */
  next(): number | undefined {
    let min: number | undefined;
    for (const at of this.#atMs.values()) if (min === undefined || at < min) min = at;
    return min;
  }

  /** Remove and return the names due at `nowMs`, earliest first (ties in insertion order). */
  takeDue(nowMs: number): Name[] {
    const due = [...this.#atMs.entries()].filter(([, at]) => at <= nowMs).sort((a, b) => a[1] - b[1]);
    for (const [name] of due) this.#atMs.delete(name);
    return due.map(([name]) => name);
  }
}
