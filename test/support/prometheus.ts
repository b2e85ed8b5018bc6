// A real Prometheus (Debian's `prometheus` package) for the dashboard test: found like btcd
// (test/support/btcd.ts), started on loopback with a generated config, queried over its HTTP API
// (https://prometheus.io/docs/prometheus/latest/querying/api/).
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { findBinary, isExecutable, testIfPresent } from './find-binary.ts';
import { until } from './wait.ts';

export const PROMETHEUS_MISSING_REASON = 'prometheus not found: apt-get install prometheus (or set RG_PROMETHEUS_BIN)';

/** $RG_PROMETHEUS_BIN, else `prometheus` on PATH; null if none. */
export function findPrometheus(): string | null {
  return findBinary('prometheus', { envVar: 'RG_PROMETHEUS_BIN' });
}

/** promtool from the same package, next to the prometheus binary; null if absent. */
export function findPromtool(prometheusBin: string): string | null {
  const path = join(dirname(prometheusBin), 'promtool');
  return isExecutable(path) ? path : null;
}

/** Like testWithBtcd: with RG_REQUIRE_PROMETHEUS=1 (CI) a missing prometheus fails instead of skipping. */
export function testWithPrometheus(name: string, fn: (bin: string) => Promise<void>, options: { timeoutMs?: number } = {}): void {
  const bin = findPrometheus();
  testIfPresent(name, () => fn(bin!), {
    missing: bin === null ? PROMETHEUS_MISSING_REASON : undefined,
    requireVar: 'RG_REQUIRE_PROMETHEUS',
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

export interface RunningPrometheus {
  readonly url: string;
  /** Instant query; the `data` of a success answer, else throws with Prometheus's error. */
  query(expr: string): Promise<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>;
  /** GET /api/v1/label/<name>/values?match[]=<match>: what Grafana's label_values() variable runs. */
  labelValues(name: string, match: string): Promise<string[]>;
  stop(): Promise<void>;
  log(): string;
}

/** Start `bin` with `configFile`, storage in `dataDir`, on 127.0.0.1 and a port the kernel picks. */
export async function startPrometheus(bin: string, configFile: string, dataDir: string): Promise<RunningPrometheus> {
  const child: ChildProcess = spawn(bin, [`--config.file=${configFile}`, `--storage.tsdb.path=${dataDir}`, '--web.listen-address=127.0.0.1:0', '--log.level=info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => void (log += c));
  child.stderr!.on('data', (c: string) => void (log += c));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    stopped = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    // Prometheus logs the bound address once its listener is up, then "ready".
    const port = await until('prometheus to listen', 60_000, () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}:\n${log}`);
      const m = /msg="Listening on" address=127\.0\.0\.1:(\d+)/.exec(log);
      return m !== null && log.includes('Server is ready to receive web requests') ? Number(m[1]) : undefined;
    }, 50);
    const url = `http://127.0.0.1:${port}`;
    const api = async <T>(path: string): Promise<T> => {
      const res = await fetch(url + path);
      const body = (await res.json()) as { status: string; data: T; error?: string };
      if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
      return body.data;
    };
    return {
      url,
      query: (expr) => api(`/api/v1/query?query=${encodeURIComponent(expr)}`),
      labelValues: (name, match) => api(`/api/v1/label/${encodeURIComponent(name)}/values?match[]=${encodeURIComponent(match)}`),
      stop,
      log: () => log,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
