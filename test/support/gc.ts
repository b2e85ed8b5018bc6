// The runtime's garbage collector where it can be reached, for memory readings in the hostile
// tests, the soak and the gateway bench (GC'd readings are far less noisy; docs/performance.md).
export type Gc = () => void;

/** Bun.gc; V8's (Node, Deno) via --expose-gc set at run time; undefined where neither works. */
export async function findGc(): Promise<Gc | undefined> {
  const g = globalThis as { gc?: Gc; Bun?: { gc(force: boolean): void } };
  if (g.Bun !== undefined) return () => g.Bun!.gc(true);
  if (typeof g.gc === 'function') return g.gc;
  try {
    // Turn on --expose-gc at run time and fetch `gc` from a fresh context.
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as Gc | undefined;
    if (typeof gc === 'function') return gc;
  } catch {
    // no GC control on this runtime: readings are then noisier
  }
  return undefined;
}
