// Waiting in integration tests: every wait is bounded, and says what it waited for when it times out.

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `poll` (sync or async) every `intervalMs` until it returns a value other than undefined.
 * Rejects after `timeoutMs`, or with whatever `poll` throws (a child that died, an early exit).
 * Polls that re-read files or logs should use a longer interval than the default.
 */
export async function until<T>(what: string, timeoutMs: number, poll: () => T | undefined | Promise<T | undefined>, intervalMs = 5): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await poll();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
