// Process and build metrics (docs/metrics.md "Process"): what every Prometheus client library
// exports (`process_*`, after client_golang's process collector) plus
// `reservegrid_build_info{version,runtime,runtime_version}`, read at scrape time. Here and not in
// core: they read the host (node:process, /proc), which core must not touch (SPEC §2).
//
// The same on Node, Deno and Bun: all three implement node:process (cpuUsage, memoryUsage,
// uptime). Open and maximum file descriptors come from /proc/self, so only where it exists
// (Linux); elsewhere those two series are absent rather than wrong.
import { readdirSync, readFileSync } from 'node:fs';
import process from 'node:process';
import type { MetricsRegistry } from '../core/metrics/registry.ts';
import { VERSION } from './version.ts';

export interface BuildInfo {
  /** package.json `version`. */
  readonly version: string;
  readonly runtime: 'node' | 'deno' | 'bun';
  /** The runtime's own version: Node's, Deno's or Bun's (not the Node API level Deno and Bun report). */
  readonly runtimeVersion: string;
}

/** This build and the runtime it runs on. */
export function buildInfo(): BuildInfo {
  const g = globalThis as unknown as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  const runtime = g.Deno !== undefined ? 'deno' : g.Bun !== undefined ? 'bun' : 'node';
  const runtimeVersion = runtime === 'deno' ? g.Deno!.version.deno : runtime === 'bun' ? g.Bun!.version : process.versions.node;
  return { version: VERSION, runtime, runtimeVersion };
}

/** Register the process metrics and build info on `registry`; they refresh before each render. */
export function attachProcessMetrics(registry: MetricsRegistry, info: BuildInfo = buildInfo()): void {
  const build = registry.gauge({ name: 'reservegrid_build_info', help: 'Always 1; the labels say which build runs on which runtime.', labels: ['version', 'runtime', 'runtime_version'], seriesMax: 1 });
  build.set({ version: info.version, runtime: info.runtime, runtime_version: info.runtimeVersion }, 1);
  const cpu = registry.counter({ name: 'process_cpu_seconds_total', help: 'User and system CPU time spent, in seconds.' });
  const rss = registry.gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.' });
  const heapUsed = registry.gauge({ name: 'process_heap_used_bytes', help: 'JavaScript heap in use, in bytes (memoryUsage().heapUsed).' });
  const heapTotal = registry.gauge({ name: 'process_heap_total_bytes', help: 'JavaScript heap reserved, in bytes (memoryUsage().heapTotal).' });
  const start = registry.gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch, in seconds.' });
  start.set(undefined, Math.round(Date.now() / 1000 - process.uptime()));
  const fdsReadable = _openFds() !== undefined;
  const openFds = fdsReadable ? registry.gauge({ name: 'process_open_fds', help: 'Open file descriptors (/proc/self/fd).' }) : undefined;
  const maxFds = fdsReadable ? _maxFds() : undefined;
  if (maxFds !== undefined) registry.gauge({ name: 'process_max_fds', help: 'Maximum open file descriptors (soft limit, /proc/self/limits).' }).set(undefined, maxFds);
  let cpuSecondsSeen = 0;
  const collect = (): void => {
    const usage = process.cpuUsage();
    const cpuSeconds = (usage.user + usage.system) / 1e6;
    // A counter only rises: advance by what was added since the last scrape.
    if (cpuSeconds > cpuSecondsSeen) {
      cpu.inc(undefined, cpuSeconds - cpuSecondsSeen);
      cpuSecondsSeen = cpuSeconds;
    }
    const memory = process.memoryUsage();
    rss.set(undefined, memory.rss);
    heapUsed.set(undefined, memory.heapUsed);
    heapTotal.set(undefined, memory.heapTotal);
    const fds = openFds === undefined ? undefined : _openFds();
    if (fds !== undefined) openFds!.set(undefined, fds);
  };
  collect();
  registry.addCollector(collect);
}

function _openFds(): number | undefined {
  try {
    // Minus the descriptor readdir itself holds open while listing.
    return Math.max(0, readdirSync('/proc/self/fd').length - 1);
  } catch {
    return undefined;
  }
}

function _maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}
