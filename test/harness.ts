// The one test harness, run unchanged on Node, Deno and Bun (STYLE.md #11).
//
// Why not micro-should or each runtime's own runner: the cross-runtime summary needs a
// machine-readable count per runtime, every skip must say why, socket tests need a per-test
// hang guard, and a failure must not stop the run. This file is that and nothing more.

export type RuntimeName = 'node' | 'deno' | 'bun';

export const runtime: RuntimeName =
  'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';

type TestFn = () => void | Promise<void>;

interface Case {
  readonly name: string;
  readonly fn?: TestFn;
  readonly skipReason?: string;
  readonly timeoutMs: number;
}

const cases: Case[] = [];
const prefixes: string[] = [];
const DEFAULT_TIMEOUT_MS = 30_000;

export function describe(name: string, body: () => void): void {
  prefixes.push(name);
  try {
    body();
  } finally {
    prefixes.pop();
  }
}

function qualified(name: string): string {
  return [...prefixes, name].join(' › ');
}

export function test(name: string, fn: TestFn, options: { timeoutMs?: number } = {}): void {
  cases.push({ name: qualified(name), fn, timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
}

/** Register a skipped case; the reason is printed with it. */
test.skip = (name: string, reason: string): void => {
  cases.push({ name: qualified(name), skipReason: reason, timeoutMs: 0 });
};

/** Seed for randomized cases: `RG_SEED` if set, else a fixed default so runs are repeatable. */
export const seed: number = (() => {
  const raw = readEnv('RG_SEED');
  if (raw === undefined || raw === '') return 0x5eed_2026;
  const parsed = Number(raw);
  if (!Number.isSafeInteger(parsed)) throw new RangeError(`RG_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return parsed;
})();

/** fast-check parameters carrying the printed seed. */
export function propertyParams(numRuns = 200): { seed: number; numRuns: number } {
  return { seed, numRuns };
}

export function readEnv(name: string): string | undefined {
  const g = globalThis as { Deno?: { env: { get(k: string): string | undefined } }; process?: { env: Record<string, string | undefined> } };
  if (g.Deno) return g.Deno.env.get(name);
  return g.process?.env[name];
}

export interface Summary {
  readonly runtime: RuntimeName;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly failures: readonly string[];
  readonly durationMs: number;
}

/** Run every registered case whose name contains `filter`, sequentially, in registration order. */
export async function runRegistered(filter?: string): Promise<Summary> {
  const started = performance.now();
  let passed = 0;
  let skipped = 0;
  const failures: string[] = [];
  for (const c of cases) {
    if (filter && !c.name.includes(filter)) continue;
    if (c.fn === undefined) {
      skipped++;
      console.log(`  - skip ${c.name} (${c.skipReason})`);
      continue;
    }
    const t0 = performance.now();
    try {
      await withTimeout(c.fn, c.timeoutMs, c.name);
      passed++;
      const ms = performance.now() - t0;
      if (ms > 2000) console.log(`  ✓ ${c.name} (${Math.round(ms)} ms)`);
    } catch (error) {
      failures.push(c.name);
      console.log(`  ✗ ${c.name}`);
      console.log(indent(error instanceof Error ? (error.stack ?? error.message) : String(error)));
    }
  }
  return { runtime, passed, failed: failures.length, skipped, failures, durationMs: performance.now() - started };
}

async function withTimeout(fn: TestFn, timeoutMs: number, name: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test "${name}" did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(fn), guard]);
  } finally {
    clearTimeout(timer);
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .slice(0, 25)
    .map((line) => `      ${line}`)
    .join('\n');
}
