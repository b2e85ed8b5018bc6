// Entry point of the suite on every runtime: finds `*.test.ts` under conformance/cases, test/unit
// and test/integration, imports them (they register cases), runs them, and prints one
// machine-readable `RESULT {...}` line that scripts/test-all.mjs aggregates.
//
//   node --import tsx test/run.ts [--filter TEXT] [--dir conformance]
//   deno run -A test/run.ts ...      bun test/run.ts ...
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, relative } from 'node:path';
import { runRegistered, runtime, seed } from './harness.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = globalThis.process?.argv.slice(2) ?? [];
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const dirs = option('--dir') ? [option('--dir')!] : ['conformance/cases', 'test/unit', 'test/integration'];
const filter = option('--filter');

function findTests(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const files = dirs.flatMap((d) => findTests(join(root, d)));
console.log(`[${runtime}] ${files.length} test files; seed ${seed} (set RG_SEED=${seed} to reproduce randomized cases)`);
for (const file of files) {
  await import(pathToFileURL(file).href);
}
const summary = await runRegistered(filter);
console.log(`[${runtime}] ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped in ${Math.round(summary.durationMs)} ms (${files.map((f) => relative(root, f)).length} files)`);
console.log(`RESULT ${JSON.stringify(summary)}`);
// Exit explicitly: a leaked socket or timer in one test must not hang the whole run.
const exit = (globalThis as { Deno?: { exit(c: number): never }; process?: { exit(c: number): never } });
if (exit.Deno) exit.Deno.exit(summary.failed > 0 ? 1 : 0);
else exit.process!.exit(summary.failed > 0 ? 1 : 0);
