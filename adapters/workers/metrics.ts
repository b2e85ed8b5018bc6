// The socket-worker series (gateway.workers, docs/scaling.md, docs/metrics.md): registered by
// every gateway stack so dashboards and the docs see one fixed set of series (0 with
// gateway.workers = 1, where the one process serves its miners itself); the leader's worker pool
// (adapters/workers/leader.ts) becomes their source.
import type { MetricsRegistry } from '../../core/metrics/registry.ts';

export const WORKER_STATES = ['starting', 'running', 'down'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

export interface WorkerMetricsSource {
  /** Worker processes by state now. */
  states(): Readonly<Record<WorkerState, number>>;
  /** Respawns so far (monotonic). */
  restarts(): number;
}

export interface WorkerMetrics {
  setSource(source: WorkerMetricsSource | null): void;
}

export function registerWorkerMetrics(registry: MetricsRegistry): WorkerMetrics {
  const gauge = registry.gauge({ name: 'reservegrid_workers', help: 'Socket worker processes (gateway.workers >= 2) by state: starting (spawned, no HELLO yet), running, down (waiting for its respawn). All 0 with gateway.workers = 1.', labels: ['state'], seriesMax: 3 });
  const restarts = registry.counter({ name: 'reservegrid_worker_restarts_total', help: 'Socket worker exits the leader respawned after (crash, kill -9, control channel lost).' });
  for (const state of WORKER_STATES) gauge.set({ state }, 0);
  restarts.touch(undefined);
  let source: WorkerMetricsSource | null = null;
  let counted = 0;
  registry.addCollector(() => {
    if (source === null) return;
    const states = source.states();
    for (const state of WORKER_STATES) gauge.set({ state }, states[state]);
    const n = source.restarts();
    if (n > counted) restarts.inc(undefined, n - counted);
    counted = Math.max(counted, n);
  });
  return { setSource: (s) => void (source = s) };
}
