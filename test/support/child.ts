// A child process on the runtime the suite runs on: `reservegrid …` through that runtime's entry
// point (runtimes/<runtime>.ts), or any TypeScript script. One place for the spawn, the output
// capture and the exit, so every test that reads a child's output sees all of it.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtime } from '../harness.ts';
import { assert } from '../assert.ts';
import { resolveWorkerCount } from '../../adapters/workers/leader.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RuntimeChild {
  readonly child: ChildProcess;
  /**
   * Resolves on 'close', not 'exit': only then have stdout and stderr been read to the end
   * ('exit' can come first, and a test reading the output then misses its last lines).
   */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Everything the child has written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Still running: neither exited nor killed. */
  readonly running: boolean;
}

/** `<this runtime> <script> …args`, from the repository root; `script` relative to it. */
export function spawnScript(script: string, args: readonly string[]): RuntimeChild {
  const g = globalThis as unknown as { Deno?: { execPath(): string }; process?: { execPath: string } };
  const exec = g.Deno?.execPath() ?? g.process!.execPath;
  const prefix = runtime === 'deno' ? ['run', '-A', script] : runtime === 'bun' ? [script] : ['--import', 'tsx', script];
  const child = spawn(exec, [...prefix, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => void (out += chunk));
  child.stderr!.on('data', (chunk: string) => void (err += chunk));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
  };
}

/** `reservegrid …args` through this runtime's entry point. */
export function spawnCli(args: readonly string[]): RuntimeChild {
  return spawnScript(`runtimes/${runtime}.ts`, args);
}

/**
 * The socket workers `reservegrid run` starts when its config has no gateway.workers key: the
 * default "auto" is one per core of this machine (adapters/workers/leader.ts), and 1 (one
 * process, no workers line) on a one-core machine.
 */
export function defaultWorkerCount(): number {
  return resolveWorkerCount('auto');
}

/**
 * Asserts what `run` printed about its socket workers: with `workers` ≥ 2 the line
 * "N socket workers share the miner port (pids a, b, …)" with N distinct pids, none the
 * leader's; with 1 no such line (docs/running.md).
 */
export function assertWorkersLine(run: RuntimeChild, workers: number): void {
  const m = /(\d+) socket workers share the miner port \(pids ([\d, ]+)\)/.exec(run.stdout());
  if (workers < 2) {
    assert.equal(m, null, `one process, no workers line: ${run.stdout()}`);
    return;
  }
  assert.ok(m !== null, `the workers line: ${run.stdout()}`);
  assert.equal(Number(m[1]), workers, 'one socket worker per core');
  const pids = new Set(m[2]!.split(', ').map(Number));
  assert.equal(pids.size, workers, `distinct worker pids ${m[2]}`);
  assert.ok(!pids.has(run.child.pid!), 'the workers are processes of their own');
}
