// Locating the external programs the integration tests drive (btcd, nats-server, prometheus) and
// gating a test on their presence, in one place: the same search order and the same CI rule
// (RG_REQUIRE_*=1 turns a missing program into a failure, so a broken install cannot turn real
// tests into silent skips) for every program.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readEnv, test } from '../harness.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** True if `path` exists and this process may execute it. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface FindBinaryOptions {
  /** Environment variable naming the binary; tried first. */
  readonly envVar: string;
  /** Also look in the project-local .tmp/go/bin (where scripts/install-*.sh put pinned builds). */
  readonly projectLocal?: boolean;
}

/** $envVar, else .tmp/go/bin/<name> (with projectLocal), else <name> on PATH; null if none. */
export function findBinary(name: string, options: FindBinaryOptions): string | null {
  const candidates: string[] = [];
  const fromEnv = readEnv(options.envVar);
  if (fromEnv) candidates.push(fromEnv);
  if (options.projectLocal === true) candidates.push(join(repoRoot, '.tmp', 'go', 'bin', name));
  for (const dir of (readEnv('PATH') ?? '').split(delimiter)) if (dir) candidates.push(join(dir, name));
  return candidates.find(isExecutable) ?? null;
}

/**
 * Register `fn` as a test when `missing` is undefined (everything it needs is installed); else as
 * a skip giving `missing` as the reason, or, with $requireVar=1 (CI), as a test that fails with it.
 */
export function testIfPresent(
  name: string,
  fn: () => Promise<void>,
  gate: { readonly missing: string | undefined; readonly requireVar: string; readonly timeoutMs: number },
): void {
  const { missing, requireVar } = gate;
  if (missing === undefined) test(name, fn, { timeoutMs: gate.timeoutMs });
  else if (readEnv(requireVar) === '1') test(name, () => { throw new Error(`${requireVar}=1 but ${missing}`); });
  else test.skip(name, missing);
}
