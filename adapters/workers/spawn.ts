// Starting a socket worker process of the running runtime (gateway.workers, docs/scaling.md):
//
//   Node  node:cluster `fork()` of runtimes/node.ts (same execArgv, so `--import tsx` carries
//         over). Node 20 has no SO_REUSEPORT (`reusePort` arrived in 22.12/23.1), so the workers
//         share the miner port through the cluster: a worker's listen() gets the primary's
//         handle and, with the default round-robin scheduling on Linux, the primary accepts and
//         hands each connection to the next worker — an even spread, at the cost of one accept
//         and one handle transfer in the leader per connection (nothing per byte).
//   Deno  `deno run -A --unstable-net runtimes/deno.ts worker …` (Deno.listen reusePort is
//         unstable, Linux only): each worker binds the port with SO_REUSEPORT and the kernel
//         spreads connections by 4-tuple hash; the leader is not on the path.
//   Bun   `bun runtimes/bun.ts worker …`; Bun.listen reusePort, as Deno.
//
// Whatever the runtime, the worker talks to the leader over the same loopback control channel
// (adapters/workers/worker.ts); only the process start differs.
import { spawn as spawnChild } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { availableParallelism, cpus } from 'node:os';

export type WorkerRuntime = 'node' | 'deno' | 'bun';

export const workerRuntime: WorkerRuntime = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';

export interface WorkerProcess {
  readonly pid: number;
  /** Runs once, when the process has exited (code, or the signal that ended it). */
  onExit(callback: (detail: string) => void): void;
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
  readonly exited: boolean;
}

/** Start `reservegrid worker <args>` on this runtime. */
export type SpawnWorker = (args: readonly string[]) => Promise<WorkerProcess>;

/** gateway.workers "auto": the cores this process may use. */
export function cpuCount(): number {
  try {
    return Math.max(1, availableParallelism());
  } catch {
    return Math.max(1, cpus().length);
  }
}

/**
 * The entry point this process was started from (runtimes/<runtime>.ts, or the built bin), so a
 * worker runs exactly the same code as its leader; runtimes/<runtime>.ts when it is unknown.
 */
function entry(runtime: WorkerRuntime): string {
  const g = globalThis as unknown as { Deno?: { mainModule: string }; process?: { argv: string[] } };
  const main = runtime === 'deno' ? g.Deno?.mainModule : g.process?.argv[1];
  if (main !== undefined && main !== '') return main.startsWith('file:') ? fileURLToPath(main) : main;
  return fileURLToPath(new URL(`../../runtimes/${runtime}.ts`, import.meta.url));
}

export const spawnWorker: SpawnWorker = async (args) => {
  if (workerRuntime === 'node') return spawnClusterWorker(args);
  const g = globalThis as unknown as { Deno?: { execPath(): string }; process: { execPath: string } };
  const exec = g.Deno?.execPath() ?? g.process.execPath;
  const argv = workerRuntime === 'deno' ? ['run', '-A', '--unstable-net', entry('deno'), 'worker', ...args] : [entry('bun'), 'worker', ...args];
  const child = spawnChild(exec, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  let exited = false;
  const callbacks: ((detail: string) => void)[] = [];
  let detail: string | undefined;
  child.once('exit', (code, signal) => {
    exited = true;
    detail = signal !== null ? `signal ${signal}` : `exit code ${code}`;
    for (const cb of callbacks.splice(0)) cb(detail);
  });
  return {
    pid: child.pid ?? 0,
    onExit: (cb) => (detail !== undefined ? queueMicrotask(() => cb(detail!)) : void callbacks.push(cb)),
    kill: (signal) => void (exited ? undefined : child.kill(signal)),
    get exited() {
      return exited;
    },
  };
};

async function spawnClusterWorker(args: readonly string[]): Promise<WorkerProcess> {
  const cluster = (await import('node:cluster')).default;
  const proc = (globalThis as unknown as { process: { execArgv: string[] } }).process;
  cluster.setupPrimary({ exec: entry('node'), args: ['worker', ...args], execArgv: proc.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] } as Parameters<typeof cluster.setupPrimary>[0]);
  const worker = cluster.fork();
  await new Promise<void>((resolve, reject) => {
    worker.once('online', () => resolve());
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
  let exited = worker.isDead();
  const callbacks: ((detail: string) => void)[] = [];
  let detail: string | undefined = exited ? 'exited during start' : undefined;
  worker.once('exit', (code: number | null, signal: string | null) => {
    exited = true;
    detail = signal !== null && signal !== undefined ? `signal ${signal}` : `exit code ${code}`;
    for (const cb of callbacks.splice(0)) cb(detail);
  });
  return {
    pid: worker.process.pid ?? 0,
    onExit: (cb) => (detail !== undefined ? queueMicrotask(() => cb(detail!)) : void callbacks.push(cb)),
    kill: (signal) => void (exited ? undefined : worker.process.kill(signal)),
    get exited() {
      return exited;
    },
  };
}

/**
 * In a worker, after it stopped: a node:cluster worker's IPC channel would keep the process
 * alive, so drop it (the runtime then exits with the command's code). Elsewhere a no-op.
 */
export function releaseWorkerProcess(): void {
  const proc = (globalThis as unknown as { process?: { connected?: boolean; disconnect?: () => void } }).process;
  if (workerRuntime === 'node' && proc?.connected === true) proc.disconnect?.();
}
