// What a CLI command may touch. Each runtime's entry point (node.ts, deno.ts, bun.ts) builds one
// from its native APIs; commands never reach for process, Deno or Bun themselves, so every
// command runs, and is tested, identically on all three runtimes.
import type { Clock } from '../core/clock.ts';
import type { RandomSource } from '../core/random.ts';

export interface CliIo {
  readonly runtime: 'node' | 'deno' | 'bun';
  readonly env: Readonly<Record<string, string | undefined>>;
  readFile(path: string): string;
  stdout(text: string): void;
  stderr(text: string): void;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** The terminal's width when stdout is a terminal, else undefined (help wraps at 80 then). */
  readonly columns?: number;
  /**
   * Call `callback` once on the first SIGINT or SIGTERM (long-running commands such as `run`
   * stop cleanly on it). Returns a function that removes the hook. Optional so in-memory test
   * ios need not provide it; every runtime entry point does.
   */
  onShutdownSignal?(callback: (signal: 'SIGINT' | 'SIGTERM') => void): () => void;
}

export interface Command {
  /** Words that select it, e.g. ['config', 'check']. */
  readonly words: readonly string[];
  readonly usage: string;
  readonly summary: string;
  /** The operator doc with the details (options, output), named at the end of --help. */
  readonly docs?: string;
  /** Returns the process exit code. */
  run(args: readonly string[], io: CliIo): number | Promise<number>;
}
