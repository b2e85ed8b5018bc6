// The node-RPC executors (block-executor.ts: submitblock; proposal-executor.ts: BIP23 proposals)
// start every command at once and must be able to wait for what they started, so a clean stop
// never abandons a found block or an answer (docs/reliability.md). This is that bookkeeping, once.
// Each attempt is bounded by the RPC client's own request timeout, so `idle()` always ends.

/** A set of attempts in flight: `track` adds one that removes itself when it settles. */
export class InFlight {
  readonly #attempts = new Set<Promise<void>>();

  /** How many attempts have not settled yet. */
  get size(): number {
    return this.#attempts.size;
  }

  /** Track `attempt` (which must not reject: executors turn every failure into an outcome). */
  track(attempt: Promise<void>): void {
    const tracked: Promise<void> = attempt.finally(() => this.#attempts.delete(tracked));
    this.#attempts.add(tracked);
  }

  /** Resolves when every tracked attempt, including ones started meanwhile, has settled. */
  async idle(): Promise<void> {
    while (this.#attempts.size > 0) await Promise.all([...this.#attempts]);
  }
}
