// Several load processes (load-process.ts → gateway-load.ts) driven as one: a handshake storm of
// 10,000 miners needs more than one single-threaded Noise initiator. Connections are split evenly
// between the processes; every command goes to all of them at once and their replies are merged
// (shares/s summed, latency histograms merged, SetNewPrevHash arrival times pooled, a storm timed
// from the first drop to the last process done). Every wait is bounded.
import { startLoad, type Load } from './load-process.ts';

// Replies read field by field: the load process's protocol is JSON lines (gateway-load.ts header).
type Reply = Record<string, any>;

export interface ConnectShape {
  readonly host: string;
  readonly port: number;
  /** The server's authority key, x-only hex. */
  readonly authority: string;
  readonly kind: 'standard' | 'extended';
  readonly channelsPerConnection: number;
  /** Connections handshaking at once, per process. */
  readonly concurrency: number;
  /** Attempts per connection after the first (refused or dropped), 100 ms apart. */
  readonly retries: number;
}

export interface FleetCpu {
  /** CPU time of all load processes together, ms. */
  readonly cpuMs: number;
  /** That over the phase's wall time: cores' worth of load generator. */
  readonly cores: number;
  /** The busiest single process's share of its one core (each is single-threaded). */
  readonly maxProcessShare: number;
}

export interface SaturateResult {
  readonly ackedPerS: number;
  readonly ackP50Ms: number;
  readonly ackP99Ms: number;
  readonly rejected: number;
  readonly rejectedBy: Record<string, number>;
  readonly cpu: FleetCpu;
}

export interface StormResult {
  /** First socket dropped → last channel with its job and SetNewPrevHash again. */
  readonly ms: number;
  readonly connections: number;
  readonly channels: number;
  readonly retried: number;
  readonly cpu: FleetCpu;
}

const within = <T>(what: string, ms: number, p: Promise<T>): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`load fleet: ${what} not done within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
};

function percentileOfHistogram(merged: Map<number, number>, ratio: number, p: number): number {
  const total = [...merged.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return NaN;
  const rank = Math.min(total - 1, Math.floor((p / 100) * total));
  let seen = 0;
  for (const b of [...merged.keys()].sort((x, y) => x - y)) {
    seen += merged.get(b)!;
    if (seen > rank) return ratio ** b; // the bucket's upper bound
  }
  return NaN;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export class LoadFleet {
  readonly #loads: Load<Reply>[];
  /** Channels with a job on each process, as its last connect/open/storm reported. */
  readonly #channels: number[];
  #connections = 0;

  private constructor(loads: Load<Reply>[]) {
    this.#loads = loads;
    this.#channels = loads.map(() => 0);
  }

  static start(processes: number): LoadFleet {
    if (!(Number.isInteger(processes) && processes >= 1 && processes <= 64)) throw new RangeError(`LoadFleet: processes must be 1..64, got ${processes}`);
    return new LoadFleet(Array.from({ length: processes }, () => startLoad<Reply>()));
  }

  get processes(): number {
    return this.#loads.length;
  }

  get connections(): number {
    return this.#connections;
  }

  get channels(): number {
    return this.#channels.reduce((a, b) => a + b, 0);
  }

  #cpu(replies: readonly Reply[], wallMs: number, key = 'cpuMs'): FleetCpu {
    const cpuMs = replies.reduce((n, r) => n + (r[key] as number), 0);
    return { cpuMs, cores: cpuMs / wallMs, maxProcessShare: Math.max(...replies.map((r) => (r[key] as number) / wallMs)) };
  }

  /** `total` more connections, split evenly; resolves when all their channels have a job. */
  async connect(total: number, shape: ConnectShape, timeoutMs: number): Promise<{ ms: number; cpu: FleetCpu; retried: number }> {
    const share = (i: number): number => Math.floor(total / this.#loads.length) + (i < total % this.#loads.length ? 1 : 0);
    const started = performance.now();
    const replies = await within(`connecting ${total}`, timeoutMs, Promise.all(this.#loads.map((load, i) => load.request({ cmd: 'connect', ...shape, connections: share(i) }))));
    const ms = performance.now() - started;
    replies.forEach((r, i) => {
      const want = this.#channels[i]! + share(i) * shape.channelsPerConnection;
      if (r['channelsActive'] !== want) throw new Error(`load process ${i}: ${r['channelsActive']} of ${want} channels active after connect`);
      this.#channels[i] = r['channelsActive'] as number;
    });
    this.#connections += total;
    return { ms, cpu: this.#cpu(replies, ms), retried: replies.reduce((n, r) => n + (r['retried'] as number), 0) };
  }

  /** Closed loop on every channel of every process at once (gateway-load.ts `saturate`). */
  async saturate(durationMs: number, window: number): Promise<SaturateResult> {
    const replies = await within('saturate', durationMs + 60_000, Promise.all(this.#loads.map((load) => load.request({ cmd: 'saturate', durationMs, window, histogram: true }))));
    const merged = new Map<number, number>();
    const rejectedBy: Record<string, number> = {};
    for (const r of replies) {
      for (const [b, n] of Object.entries(r['latencyHistogram'] as Record<string, number>)) merged.set(Number(b), (merged.get(Number(b)) ?? 0) + n);
      for (const [code, n] of Object.entries(r['rejectedBy'] as Record<string, number>)) rejectedBy[code] = (rejectedBy[code] ?? 0) + n;
    }
    const ratio = replies[0]!['latencyHistogramRatio'] as number;
    const wallMs = Math.max(...replies.map((r) => r['loadWallMs'] as number));
    return {
      ackedPerS: replies.reduce((n, r) => n + (r['ackedPerS'] as number), 0),
      ackP50Ms: percentileOfHistogram(merged, ratio, 50),
      ackP99Ms: percentileOfHistogram(merged, ratio, 99),
      rejected: replies.reduce((n, r) => n + (r['rejected'] as number), 0),
      rejectedBy,
      cpu: this.#cpu(replies, wallMs, 'loadCpuMs'),
    };
  }

  /**
   * Arm every process to record the arrival of one SetNewPrevHash per channel, then `trigger`
   * (which moves the tip and resolves with the start time, wall-clock ms); resolves with every
   * channel's delivery time after that start, ms, sorted.
   */
  async prevhashSwitch(trigger: () => Promise<number>, timeoutMs: number): Promise<number[]> {
    const watching = this.#loads.map((load) => load.expect('watching'));
    const done = this.#loads.map((load, i) => load.request({ cmd: 'watch_prevhash', expected: this.#channels[i], samples: true }));
    await within('arming the SetNewPrevHash watch', 30_000, Promise.all(watching));
    const t0 = await within('the new tip to be served', 30_000, trigger());
    const replies = await within(`${this.channels} SetNewPrevHash`, timeoutMs, Promise.all(done));
    return replies.flatMap((r) => (r['deliveredWallMs'] as number[]).map((t) => t - t0)).sort((a, b) => a - b);
  }

  /** Every process drops all its connections at once and reconnects as many (gateway-load.ts `storm`). */
  async storm(concurrency: number, retries: number, timeoutMs: number): Promise<StormResult> {
    const replies = await within('the reconnect storm', timeoutMs, Promise.all(this.#loads.map((load) => load.request({ cmd: 'storm', concurrency, retries }))));
    replies.forEach((r, i) => {
      if (r['channelsActive'] !== r['channelsWanted']) throw new Error(`load process ${i}: ${r['channelsActive']} of ${r['channelsWanted']} channels mining again after the storm`);
      this.#channels[i] = r['channelsActive'] as number;
    });
    const ms = Math.max(...replies.map((r) => r['doneWallMs'] as number)) - Math.min(...replies.map((r) => r['dropWallMs'] as number));
    return {
      ms,
      connections: replies.reduce((n, r) => n + (r['connections'] as number), 0),
      channels: this.channels,
      retried: replies.reduce((n, r) => n + (r['retried'] as number), 0),
      cpu: this.#cpu(replies, ms),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.#loads.map((load) => load.close()));
  }
}
