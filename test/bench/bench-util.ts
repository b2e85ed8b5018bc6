// Shared helpers of the benchmark scripts: the runtime name, a timed loop and the
// `BENCH {"runtime","provider","name","value","unit"}` line that scripts/bench-all.mjs collects.
export const runtime: 'node' | 'deno' | 'bun' = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';

/** Run `op` repeatedly for about `durationMs`; return operations per second. */
export function opsPerSecond(op: () => unknown, durationMs: number): number {
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  // Check the clock every few ops so that timing overhead stays negligible for fast ops.
  for (let batch = 1; elapsed < durationMs; batch = Math.min(batch * 2, 1024)) {
    for (let i = 0; i < batch; i++) op();
    count += batch;
    elapsed = performance.now() - start;
  }
  return (count * 1000) / elapsed;
}

export interface BenchRow {
  provider?: string;
  name: string;
  value: number;
  unit?: string;
}

/** Print one machine-readable BENCH line and one readable line. */
export function report(row: BenchRow): void {
  const value = Math.round(row.value * 100) / 100;
  const full = { runtime, provider: row.provider ?? '-', name: row.name, value, ...(row.unit !== undefined ? { unit: row.unit } : {}) };
  console.log(`BENCH ${JSON.stringify(full)}`);
  console.log(`  ${runtime.padEnd(4)} ${full.provider.padEnd(34)} ${row.name.padEnd(34)} ${value.toLocaleString('en-US')} ${row.unit ?? ''}`);
}
