// Gateway benchmark (a script, not a test: performance is never asserted in tests, SPEC §13).
// The real gateway (core/gateway Gateway + adapters/gateway-server.ts pump over this runtime's
// TCP adapter) on 127.0.0.1:0, observe mode, the recorded btcd template
// (test/fixtures/btcd-gbt-with-transactions.json, 2 transactions → 2-level merkle path) with a
// hard network target, and channels with the easiest share target. Miners are our own Noise
// initiators in a separate Node process (test/bench/gateway-load.ts), so the gateway process
// has one core to itself and the other core drives the load. docs/performance.md explains
// every figure. Prints, for this runtime and the provider selectCryptoProvider('auto') picks:
//
//   shares_per_s_{standard,extended}     gateway-side accepted shares/s, 1,000 connections, each
//                                        keeping one ack batch (share_ack_batch_size = 10) in flight
//   ack_{p50,p99}_ms_saturated_*         miner-side submit → SubmitShares.Success at that load
//   ack_{p50,p99}_ms_paced_5k            same at a fixed 5,000 shares/s, share_ack_batch_size = 1
//   idle_conn_{rss,heap}_bytes           per handshaked idle connection with one extended
//                                        channel and its job: slope over batches of 1,000 after
//                                        the first two (GC'd before every reading)
//   idle_conn_rss_all_in_bytes           RSS growth from 0 to all batches' connections / count
//   prevhash_switch_core_ms              10,000 extended channels (1,000 connections × 10): from
//                                        templateUpdated(new prevhash) until every encrypted
//                                        job + SetNewPrevHash is out of the core (no sockets);
//                                        median. Group channels on (the default): one job +
//                                        SetNewPrevHash per connection
//   prevhash_switch_core_{p50,p99}_ms_{1k,10k}[_per_channel]
//                                        the same over CORE_SWITCH_RUNS runs (200; quick 10;
//                                        RG_BENCH_CORE_RUNS) at 1,000 (1 channel per connection)
//                                        and 10,000 channels; _per_channel with
//                                        GatewayOptions.groupChannels = false (one job +
//                                        SetNewPrevHash per channel, the fan-out before groups).
//                                        Every run's template is built before the first; between
//                                        runs the in-process miners decrypt what was sent and the
//                                        heap is collected (gc()) and the bench waits
//                                        RG_BENCH_SETTLE_MS (50) for V8's background sweeping, so
//                                        each timed run starts with an empty young generation and
//                                        no bench garbage (docs/performance.md, "The tail of the
//                                        core switch")
//   prevhash_switch_core_gc_runs_* / _nogc_p99_ms_*
//                                        timed runs that held a collection (Node: perf_hooks gc
//                                        entries; Deno, Bun: the heap shrank) and the p99 of the rest
//   prevhash_switch_sockets_ms           the 10,000-channel switch through the pump: until every
//                                        byte was handed to the sockets (write() returned); median
//   prevhash_switch_delivered_ms         until the miners' process had decoded all 10,000
//                                        SetNewPrevHash (cross-process wall clock); median
//   prevhash_switch_{sockets,delivered}_{p50,p99}_ms_{1k,10k}
//                                        the same at 1,000 and 10,000 channels, p50 / p99
//
//   node --import tsx test/bench/gateway.bench.ts      (or deno run -A / bun; or
//   RG_RUNTIMES=node npm run bench gateway). RG_BENCH_QUICK=1 runs a smaller, shorter version.
//   bench-all process limit: 20 min (all phases, with 2 × 200 core switches)
import { readFileSync } from 'node:fs';
import { SystemClock } from '../../adapters/clock.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { systemRandom } from '../../adapters/random.ts';
import { serveGateway, type GatewayServer } from '../../adapters/gateway-server.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { Gateway, type GatewayOptions } from '../../core/gateway/index.ts';
import { generateAuthorityKeyPair, ResponderIdentity } from '../../core/noise/index.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { MiningClient } from '../../core/client/index.ts';
import { report, runtime } from './bench-util.ts';
import { startLoad, type Load } from './load-process.ts';
import { findGc, type Gc } from '../support/gc.ts';
import { sleep, until } from '../support/wait.ts';

const QUICK = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env['RG_BENCH_QUICK'] === '1';
const CONNECTIONS = QUICK ? 200 : 1_000;
const SWITCH_CHANNELS_PER_CONNECTION = 10; // × CONNECTIONS = 10,000 extended channels
const SATURATE_MS = QUICK ? 2_000 : 5_000;
const PACED_MS = QUICK ? 2_000 : 4_000;
const PACED_RATE_PER_S = 5_000;
const MEMORY_BATCHES = Number((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env['RG_BENCH_MEMORY_BATCHES'] ?? (QUICK ? 3 : 4));
if (!(MEMORY_BATCHES >= 3)) throw new RangeError(`RG_BENCH_MEMORY_BATCHES must be >= 3 (two batches before the steady state, one more to measure), got ${MEMORY_BATCHES}`);
const SWITCH_REPEATS = Number((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env['RG_BENCH_SWITCH_REPEATS'] ?? (QUICK ? 3 : 11));
/**
 * Core-only switches per configuration (cheap: no sockets), for p50 / p99. 200 since the tail work
 * (issue 13): with 40 the nearest-rank p99 was the single slowest run.
 */
/** Pause after the between-runs collection, for V8's concurrent sweeping to finish (coreSwitch). */
const SETTLE_MS = Number(process.env["RG_BENCH_SETTLE_MS"] ?? 50);
const CORE_SWITCH_RUNS = Number((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env['RG_BENCH_CORE_RUNS'] ?? (QUICK ? 10 : 200));
if (!(Number.isInteger(CORE_SWITCH_RUNS) && CORE_SWITCH_RUNS >= 1)) throw new RangeError(`RG_BENCH_CORE_RUNS must be a positive integer, got ${CORE_SWITCH_RUNS}`);
const ACK_BATCH = 10; // mining.share_ack_batch_size default
const HOST = '127.0.0.1';

const provider = selectCryptoProvider(((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env['RG_BENCH_PROVIDER'] ?? 'auto') as 'auto' | 'noble' | 'native');
const clock = new SystemClock();
const wallNowMs = (): number => performance.timeOrigin + performance.now();

// ---- template ------------------------------------------------------------------------------

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;
let templateCounter = 0n;
/** The recorded template with mainnet difficulty-1 bits (no share is a block) and a chosen prev hash. */
function template(prevIndex: number): BlockTemplate {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = '1d00ffff';
  json['previousblockhash'] = (0xbe000000 + prevIndex).toString(16).padStart(64, '0');
  templateCounter += 1n;
  const parsed = parseGetBlockTemplate(json, { templateId: templateCounter });
  if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
  return parsed.value;
}

// ---- gateway -------------------------------------------------------------------------------

const authority = generateAuthorityKeyPair(systemRandom);
const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random: systemRandom });

function gatewayOptions(overrides: Partial<GatewayOptions['channels']> = {}, groupChannels = true): GatewayOptions {
  return {
    groupChannels,
    gatewayId: 1, mode: 'observe', provider, random: systemRandom, identity,
    auth: { mode: 'open', maxWorkerIdBytes: 512, maxWorkersPerChannel: 1000 },
    // Config defaults except: min_difficulty 0 (+ nominal_hash_rate 0 from the miners) = the
    // easiest target, vardiff off (the target must not move during a run), more channels per
    // connection for the 10,000-channel switch.
    channels: {
      sharesPerMinute: 6, minDifficulty: 0, maxDifficulty: 1e12, vardiffEnabled: false, vardiffRetargetIntervalSecs: 60,
      shareAckBatchSize: ACK_BATCH, shareAckDelayMs: 100, nonceExpireSecs: 60, extranonceRollableBytesDefault: 8,
      channelsPerConnectionMax: 64, ntimeFutureSecsMax: 7000, seenSharesMax: 200_000,
      ...overrides,
    },
    payout: [{ scriptPubKey: hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6'), weight: 1 }],
    poolTag: 'ReserveGridBench', maxConnections: 20_000, maxFramePayloadBytes: 65_536, handshakeTimeoutMs: 120_000,
    idleTimeoutMs: 3_600_000, jobBroadcastIntervalMs: 100, blockRetryInitialMs: 100, blockRetryMaxMs: 1000, shutdownDrainTimeoutMs: 500,
  };
}

interface Served {
  readonly gateway: Gateway;
  readonly server: GatewayServer;
  accepted: number;
  rejected: number;
}

async function serve(overrides: Partial<GatewayOptions['channels']> = {}): Promise<Served> {
  const gateway = new Gateway(gatewayOptions(overrides), clock.monotonicMs());
  gateway.templateUpdated(template(0), clock.monotonicMs());
  const served = { gateway, accepted: 0, rejected: 0 } as Served;
  const server = await serveGateway({
    gateway, clock, listen: { host: HOST, port: 0 },
    // Counting events is what an event log consumer does; the pump stamps every event anyway.
    onEvent: (event) => {
      if (event.type === 'share_accepted') served.accepted++;
      else if (event.type === 'share_rejected') served.rejected++;
    },
  });
  (served as { server: GatewayServer }).server = server;
  return served;
}

function connectCmd(served: Served, kind: 'standard' | 'extended', channelsPerConnection: number): Record<string, unknown> {
  return { cmd: 'connect', host: HOST, port: served.server.port, authority: bytesToHex(authority.publicKeyXOnly), connections: CONNECTIONS, channelsPerConnection, kind };
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`benchmark self-check failed: ${what}`);
}

/** Nearest-rank percentile (p in 0..100) of the samples. */
function percentile(xs: readonly number[], p: number): number {
  const sorted = xs.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const kLabel = (channels: number): string => `${Math.round(channels / 1000)}k`;

/** Process CPU time (user + system), ms; NaN where the runtime has no process.cpuUsage. */
function cpuMs(): number {
  const usage = (process as { cpuUsage?: () => { user: number; system: number } }).cpuUsage?.();
  return usage === undefined ? Number.NaN : (usage.user + usage.system) / 1000;
}

/**
 * RG_BENCH_CPU_PROFILE=<file> (Node only): a V8 CPU profile of exactly `fn` (the core switches
 * at 10,000 channels), written as a .cpuprofile (Chrome DevTools / speedscope), so the
 * handshakes before it do not drown the switch (docs/performance.md, "Where the time goes").
 * RG_BENCH_HEAP_PROFILE=<file> (Node only): the same span under V8's sampling heap profiler,
 * counting objects already collected again (so it is the allocation, not what survived), written
 * as a .heapprofile; test/bench/heap-profile-split.ts splits it into gateway and bench client.
 */
async function profiled(label: string, tag: string, fn: () => Promise<void>): Promise<void> {
  const cpuBase = process.env['RG_BENCH_CPU_PROFILE'];
  const heapBase = process.env['RG_BENCH_HEAP_PROFILE'];
  if ((cpuBase === undefined && heapBase === undefined) || runtime !== 'node') return fn();
  const { Session } = await import('node:inspector');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err: Error | null, result?: unknown) => (err ? reject(err) : resolve(result))));
  if (cpuBase !== undefined) {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 100 });
    await post('Profiler.start');
  }
  if (heapBase !== undefined) {
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  await fn();
  if (cpuBase !== undefined) {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    const path = `${cpuBase.replace(/\.cpuprofile$/, '')}-${tag}.cpuprofile`;
    writeFileSync(path, JSON.stringify(profile));
    console.log(`  CPU profile of ${label} written to ${path}`);
  }
  if (heapBase !== undefined) {
    const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
    const path = `${heapBase.replace(/\.heapprofile$/, '')}-${tag}.heapprofile`;
    writeFileSync(path, JSON.stringify(profile));
    console.log(`  allocation profile of ${label} written to ${path}`);
  }
  session.disconnect();
}

// ---- memory ----------------------------------------------------------------------------------

interface MemoryReading {
  readonly rss: number;
  readonly heap: number;
  /** V8's young generation (new space), physical bytes; NaN where the runtime does not say (Bun). */
  readonly young: number;
}

async function settle(gc: Gc | undefined): Promise<MemoryReading> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(50);
  }
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed, young: await youngGenerationBytes() };
}

/** V8's new space, physical bytes; NaN on JavaScriptCore (Bun: its node:v8 shim answers zeros). */
async function youngGenerationBytes(): Promise<number> {
  if (runtime === 'bun') return Number.NaN;
  try {
    const v8 = await import('node:v8');
    return v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')?.space_size ?? Number.NaN;
  } catch {
    return Number.NaN; // no heap-space statistics on this runtime
  }
}

/** Least-squares slope of equally spaced readings (per step). */
function slope(ys: readonly number[]): number {
  const n = ys.length;
  const meanX = (n - 1) / 2;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den;
}

const mib = (bytes: number): string => (Number.isNaN(bytes) ? 'n/a' : (bytes / 1048576).toFixed(1));


// ---- phases -----------------------------------------------------------------------------------

async function memoryAndSwitch(gc: Gc | undefined): Promise<void> {
  const served = await serve();
  const load = startLoad();
  const extra: Load[] = [];
  try {
    // MEMORY_BATCHES batches of CONNECTIONS idle connections, each from its own load process;
    // the last batch is the one the switch below runs on. Readings after each batch (GC'd).
    // The first batch includes one-off growth (V8's young generation sizing itself up to
    // 2 × semi-space, allocator pools, compiled code) and leaves the slack of its handshakes'
    // peak, which the second batch partly fills; from the second batch on, RSS grows by the
    // same amount per batch. So: per-connection = least-squares slope of RSS over the readings
    // from the end of batch 2 on (the steady state), and all-in = RSS growth from no connection
    // to all of them, divided by their number (docs/performance.md, "Memory per idle connection").
    const readings: MemoryReading[] = [await settle(gc)];
    let lastConnectMs = 0;
    for (let b = 0; b < MEMORY_BATCHES; b++) {
      const batch = b === MEMORY_BATCHES - 1 ? load : startLoad();
      if (batch !== load) extra.push(batch);
      const connected = await batch.request(connectCmd(served, 'extended', 1));
      check(connected['channelsActive'] === CONNECTIONS, `batch ${b + 1}: all ${CONNECTIONS} channels active (${JSON.stringify(connected)})`);
      lastConnectMs = connected['connectMs'] as number;
      await sleep(300);
      readings.push(await settle(gc));
    }
    console.log(`  ${MEMORY_BATCHES} × ${CONNECTIONS} connections handshaked + 1 extended channel each (last batch in ${Math.round(lastConnectMs)} ms); gc: ${gc === undefined ? 'unavailable' : 'forced'}`);
    console.log(`  RSS MiB:  ${readings.map((r) => mib(r.rss)).join(' → ')}`);
    console.log(`  heap MiB: ${readings.map((r) => mib(r.heap)).join(' → ')}`);
    console.log(`  young generation MiB: ${readings.map((r) => mib(r.young)).join(' → ')}`);
    const steady = readings.slice(2);
    const total = CONNECTIONS * MEMORY_BATCHES;
    const per = `B/conn (slope over ${CONNECTIONS * (steady.length - 1)} connections after the first ${2 * CONNECTIONS})`;
    report({ provider: provider.name, name: 'idle_conn_rss_bytes', value: slope(steady.map((r) => r.rss)) / CONNECTIONS, unit: per });
    report({ provider: provider.name, name: 'idle_conn_heap_bytes', value: slope(steady.map((r) => r.heap)) / CONNECTIONS, unit: per });
    report({ provider: provider.name, name: 'idle_conn_rss_all_in_bytes', value: (readings[readings.length - 1]!.rss - readings[0]!.rss) / total, unit: `B/conn (RSS growth 0 → ${total} connections)` });
    for (const batch of extra) await batch.close();
    await until('the other batches closed', 30_000, () => (served.gateway.connectionIds().length === CONNECTIONS ? true : undefined), 20);

    const switchAt = async (channelsPerConnection: number, firstPrev: number): Promise<{ socketsMs: number[]; deliveredMs: number[] }> => {
      const socketsMs: number[] = [];
      const socketsCpuMs: number[] = [];
      const deliveredMs: number[] = [];
      const expected = CONNECTIONS * channelsPerConnection;
      for (let i = 0; i < SWITCH_REPEATS; i++) {
        const watching = load.request({ cmd: 'watch_prevhash', expected });
        await load.expect('watching');
        await sleep(200);
        const startWall = wallNowMs();
        const c0 = cpuMs();
        const t0 = performance.now();
        served.gateway.templateUpdated(template(firstPrev + i), clock.monotonicMs());
        served.server.service();
        socketsMs.push(performance.now() - t0);
        socketsCpuMs.push(cpuMs() - c0);
        const done = await Promise.race([watching, sleep(30_000).then(() => undefined)]);
        check(done !== undefined, `all ${expected} SetNewPrevHash delivered within 30 s`);
        deliveredMs.push((done!['lastWallMs'] as number) - startWall);
      }
      const k = kLabel(expected);
      console.log(`  prevhash switch to ${expected} ext channels through sockets, ${SWITCH_REPEATS} runs: ${socketsMs.map((x) => x.toFixed(0)).join(', ')} ms; delivered: ${deliveredMs.map((x) => x.toFixed(0)).join(', ')} ms`);
      for (const [name, xs] of [['sockets', socketsMs], ['delivered', deliveredMs]] as const) {
        report({ provider: provider.name, name: `prevhash_switch_${name}_p50_ms_${k}`, value: percentile(xs, 50), unit: `ms (${SWITCH_REPEATS} runs, ${expected} ext channels)` });
        report({ provider: provider.name, name: `prevhash_switch_${name}_p99_ms_${k}`, value: percentile(xs, 99), unit: `ms (${SWITCH_REPEATS} runs, ${expected} ext channels)` });
      }
      report({ provider: provider.name, name: `prevhash_switch_sockets_cpu_p50_ms_${k}`, value: percentile(socketsCpuMs, 50), unit: `CPU ms (${SWITCH_REPEATS} runs)` });
      return { socketsMs, deliveredMs };
    };
    check(served.gateway.connectionIds().length === CONNECTIONS, 'connections still open');
    await switchAt(1, 1);

    // 9 more extended channels per connection: 10,000 channels in all.
    const more = await load.request({ cmd: 'open', kind: 'extended', channelsPerConnection: SWITCH_CHANNELS_PER_CONNECTION - 1 });
    // The load counts every activated job (SetNewPrevHash with a known job): the first batch's
    // channels, one per channel per 1k switch, and now the new channels' first jobs.
    const activatedBefore = CONNECTIONS + SWITCH_REPEATS * CONNECTIONS;
    check(more['channelsActive'] === activatedBefore + CONNECTIONS * (SWITCH_CHANNELS_PER_CONNECTION - 1), `10 channels per connection active (${JSON.stringify(more)})`);
    await sleep(100);
    check(served.gateway.connectionIds().length === CONNECTIONS, 'connections still open');
    const tenK = await switchAt(SWITCH_CHANNELS_PER_CONNECTION, 1000);
    report({ provider: provider.name, name: 'prevhash_switch_sockets_ms', value: percentile(tenK.socketsMs, 50), unit: `ms (median, ${CONNECTIONS * SWITCH_CHANNELS_PER_CONNECTION} ext channels)` });
    report({ provider: provider.name, name: 'prevhash_switch_delivered_ms', value: percentile(tenK.deliveredMs, 50), unit: `ms (median, ${CONNECTIONS * SWITCH_CHANNELS_PER_CONNECTION} ext channels)` });
  } finally {
    for (const batch of extra) await batch.close();
    await load.close();
    await served.server.close();
  }
}

/** One timed core switch: its span on the performance clock and whether the JS heap shrank across it. */
interface TimedRun {
  readonly start: number;
  readonly end: number;
  readonly ms: number;
  /** A collection ran inside the span (a lower bound: one that frees less than the span allocated is missed). */
  readonly heapShrank: boolean;
}

/** One V8 collection as node:perf_hooks reports it (Node only). */
interface GcEntry {
  readonly start: number;
  readonly duration: number;
  /** perf_hooks constants.NODE_PERFORMANCE_GC_*: 1 minor (scavenge), 4 major (mark-compact), 8 incremental marking, 16 weak callbacks. */
  readonly kind: number;
}

/**
 * Node: every collection from now on (perf_hooks 'gc' entries, delivered after the synchronous
 * runs; `take` waits for them). Undefined on Deno and Bun, which report none.
 */
async function watchGc(): Promise<{ take(): Promise<GcEntry[]>; stop(): void } | undefined> {
  if (runtime !== 'node') return undefined;
  const { PerformanceObserver } = await import('node:perf_hooks');
  let entries: GcEntry[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) entries.push({ start: e.startTime, duration: e.duration, kind: (e as { detail?: { kind?: number } }).detail?.kind ?? 0 });
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    async take() {
      await sleep(50);
      const taken = entries;
      entries = [];
      return taken;
    },
    stop: () => observer.disconnect(),
  };
}

/**
 * Tail diagnostics of one set of core switches: how many runs had a collection inside the
 * timed region (Node: a perf_hooks 'gc' entry overlapping it; elsewhere: the heap shrank), the
 * p99 of the other runs, and on Node which kinds and how long.
 */
function gcRows({ suffix, intervals }: { suffix: string; intervals: readonly TimedRun[] }, entries: readonly GcEntry[] | undefined): void {
  const kindName = (k: number): string => (k === 1 ? 'scavenge' : k === 4 ? 'mark-compact' : k === 8 ? 'incremental' : k === 16 ? 'weak callbacks' : `kind ${k}`);
  const hit: boolean[] = [];
  const inRegion = new Map<string, { count: number; ms: number; max: number }>();
  const outside = new Map<string, { count: number; ms: number }>();
  for (const e of entries ?? []) {
    const run = intervals.findIndex((r) => e.start < r.end && e.start + e.duration > r.start);
    const name = kindName(e.kind);
    if (run >= 0) {
      hit[run] = true;
      const agg = inRegion.get(name) ?? { count: 0, ms: 0, max: 0 };
      agg.count += 1;
      agg.ms += e.duration;
      agg.max = Math.max(agg.max, e.duration);
      inRegion.set(name, agg);
    } else if (e.start >= intervals[0]!.start && e.start <= intervals.at(-1)!.end) {
      const agg = outside.get(name) ?? { count: 0, ms: 0 };
      agg.count += 1;
      agg.ms += e.duration;
      outside.set(name, agg);
    }
  }
  const gcRun = (r: TimedRun, i: number): boolean => (entries === undefined ? r.heapShrank : hit[i] === true);
  const clean = intervals.filter((r, i) => !gcRun(r, i)).map((r) => r.ms);
  const gcRuns = intervals.length - clean.length;
  const how = entries === undefined ? 'heap shrank' : 'perf_hooks gc entry';
  console.log(`  ${suffix}: ${gcRuns} of ${intervals.length} timed runs held a collection (${how}); p99 of the others ${clean.length > 0 ? percentile(clean, 99).toFixed(1) : '-'} ms`);
  if (entries !== undefined) {
    const fmt = (m: Map<string, { count: number; ms: number; max?: number }>): string =>
      [...m].map(([k, v]) => `${v.count} ${k} ${v.ms.toFixed(1)} ms${v.max === undefined ? '' : ` (max ${v.max.toFixed(1)})`}`).join(', ') || 'none';
    console.log(`    collections inside timed regions: ${fmt(inRegion)}; between them (bench client, untimed): ${fmt(outside)}`);
    for (let i = 0; i < intervals.length; i++) {
      if (hit[i] !== true) continue;
      const held = (entries ?? []).filter((e) => e.start < intervals[i]!.end && e.start + e.duration > intervals[i]!.start);
      console.log(`    run ${i}: ${intervals[i]!.ms.toFixed(1)} ms, ${held.map((e) => `${kindName(e.kind)} ${e.duration.toFixed(1)} ms`).join(' + ')}`);
    }
  }
  report({ provider: provider.name, name: `prevhash_switch_core_gc_runs_${suffix}`, value: gcRuns, unit: `of ${intervals.length} runs (${how})` });
  if (clean.length > 0) report({ provider: provider.name, name: `prevhash_switch_core_nogc_p99_ms_${suffix}`, value: percentile(clean, 99), unit: `ms (${clean.length} runs without a collection)` });
}

/**
 * The core alone: a Gateway and CONNECTIONS in-memory MiningClients (real Noise, no sockets),
 * 1 then 10 extended channels each; time templateUpdated + draining pollTransmit (every byte
 * encrypted). `groupChannels` false = one job + SetNewPrevHash per channel (the old fan-out).
 */
async function coreSwitch(groupChannels: boolean): Promise<void> {
  const gateway = new Gateway(gatewayOptions({}, groupChannels), clock.monotonicMs());
  gateway.templateUpdated(template(0), clock.monotonicMs());
  const clients = new Map<number, MiningClient>();
  const pump = (): number => {
    let bytes = 0;
    for (let moved = true; moved; ) {
      moved = false;
      for (const [connId, client] of clients) {
        for (let out = client.pollTransmit(); out !== undefined; out = client.pollTransmit()) {
          gateway.receive(connId, out, clock.monotonicMs());
          moved = true;
        }
        while (client.pollEvent() !== undefined);
      }
      for (let item = gateway.pollTransmit(); item !== undefined; item = gateway.pollTransmit()) {
        if ('bytes' in item) {
          bytes += item.bytes.length;
          clients.get(item.conn_id)?.receive(item.bytes, clock.monotonicMs());
          moved = true;
        }
      }
      while (gateway.pollEvent() !== undefined);
    }
    return bytes;
  };
  for (let i = 0; i < CONNECTIONS; i++) {
    const connId = gateway.acceptConnection(clock.monotonicMs(), { wallMs: clock.wallMs() })!;
    clients.set(connId, new MiningClient({ provider, random: systemRandom, certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly }, wallClock: clock, handshakeTimeoutMs: 120_000, setupTimeoutMs: 120_000 }, clock.monotonicMs()));
  }
  const h0 = performance.now();
  pump();
  console.log(`  in-memory: ${CONNECTIONS} handshakes + setup in ${Math.round(performance.now() - h0)} ms`);
  let prev = 100;
  const runSwitches = async (channelsPerConnection: number): Promise<{ suffix: string; intervals: TimedRun[] }> => {
    const runs: number[] = [];
    const cpuRuns: number[] = [];
    const intervals: TimedRun[] = [];
    const framesPerConnection = groupChannels ? 2 : 2 * channelsPerConnection;
    // Every run's template is built before the first timed run (the JSON round trip and GBT
    // parse are the bench's work, not the switch's; before, they were inside the timed region).
    const templates: (BlockTemplate | undefined)[] = Array.from({ length: CORE_SWITCH_RUNS }, () => template(prev++));
    for (let i = 0; i < CORE_SWITCH_RUNS; i++) {
      const next = templates[i]!;
      templates[i] = undefined;
      const heap0 = process.memoryUsage().heapUsed;
      const c0 = cpuMs();
      const t0 = performance.now();
      gateway.templateUpdated(next, clock.monotonicMs());
      let bytes = 0;
      const out: { conn_id: number; bytes: Uint8Array }[] = [];
      for (let item = gateway.pollTransmit(); item !== undefined; item = gateway.pollTransmit()) {
        if ('bytes' in item) {
          bytes += item.bytes.length;
          out.push(item);
        }
      }
      const t1 = performance.now();
      runs.push(t1 - t0);
      cpuRuns.push(cpuMs() - c0);
      intervals.push({ start: t0, end: t1, ms: t1 - t0, heapShrank: process.memoryUsage().heapUsed < heap0 });
      while (gateway.pollEvent() !== undefined);
      check(bytes > CONNECTIONS * framesPerConnection * 50, `switch produced bytes (${bytes})`);
      // Untimed: the clients decrypt what was sent (their Noise nonces stay in step for later opens).
      for (const item of out) clients.get(item.conn_id)?.receive(item.bytes, clock.monotonicMs());
      for (const client of clients.values()) while (client.pollEvent() !== undefined);
      // ... and their garbage is collected here, before the next timed run: decrypting and
      // decoding 1,000 connections' frames allocates ~2 × what the switch itself does (allocation
      // profile, docs/performance.md), so without this most collections inside the timed region
      // were the bench client's, not the gateway's. Then a pause: V8 sweeps the collected heap
      // on helper threads afterwards, and that sweeping would otherwise run during the next timed
      // run, on the other core or as the main thread's lazy sweeping (it showed as process CPU
      // well above the wall time of the run).
      gc?.();
      await sleep(SETTLE_MS);
    }
    const channels = CONNECTIONS * channelsPerConnection;
    const suffix = `${kLabel(channels)}${groupChannels ? '' : '_per_channel'}`;
    const unit = `ms (${CORE_SWITCH_RUNS} runs, ${channels} ext channels, ${groupChannels ? 'group channels' : 'per channel'})`;
    console.log(`  prevhash switch in the core, ${channels} channels, ${groupChannels ? 'group channels' : 'per channel'}: min ${percentile(runs, 0).toFixed(1)} p50 ${percentile(runs, 50).toFixed(1)} p99 ${percentile(runs, 99).toFixed(1)} ms; process CPU p50 ${percentile(cpuRuns, 50).toFixed(1)} ms`);
    report({ provider: provider.name, name: `prevhash_switch_core_p50_ms_${suffix}`, value: percentile(runs, 50), unit });
    report({ provider: provider.name, name: `prevhash_switch_core_p99_ms_${suffix}`, value: percentile(runs, 99), unit });
    // CPU time of the process over the same interval: what the switch costs on a shared machine,
    // where wall time also counts the time other processes held the core.
    report({ provider: provider.name, name: `prevhash_switch_core_cpu_p50_ms_${suffix}`, value: percentile(cpuRuns, 50), unit: `CPU ms (${CORE_SWITCH_RUNS} runs)` });
    if (groupChannels && channelsPerConnection === SWITCH_CHANNELS_PER_CONNECTION) {
      report({ provider: provider.name, name: 'prevhash_switch_core_ms', value: percentile(runs, 50), unit: `ms (median, ${channels} ext channels)` });
    }
    return { suffix, intervals };
  };
  const open = (n: number): void => {
    for (const client of clients.values()) {
      check(client.state === 'ready', `in-memory client ready (${client.state}; ${JSON.stringify(gateway.stats)})`);
      for (let c = 0; c < n; c++) client.openExtendedChannel({ userIdentity: `core.${c}`, nominalHashRate: 0 });
    }
    pump();
  };
  const watch = await watchGc();
  open(1);
  gcRows(await runSwitches(1), await watch?.take());
  open(SWITCH_CHANNELS_PER_CONNECTION - 1);
  let tenK: Awaited<ReturnType<typeof runSwitches>> | undefined;
  await profiled(`${CORE_SWITCH_RUNS} switches to ${CONNECTIONS * SWITCH_CHANNELS_PER_CONNECTION} channels`, groupChannels ? 'group' : 'per-channel', async () => {
    tenK = await runSwitches(SWITCH_CHANNELS_PER_CONNECTION);
  });
  gcRows(tenK!, await watch?.take());
  watch?.stop();
}

async function throughput(kind: 'standard' | 'extended'): Promise<void> {
  const served = await serve();
  const load = startLoad();
  try {
    const connected = await load.request(connectCmd(served, kind, 1));
    check(connected['channelsActive'] === CONNECTIONS, `all ${CONNECTIONS} channels active`);
    const startAccepted = served.accepted;
    const t0 = performance.now();
    const result = await load.request({ cmd: 'saturate', durationMs: SATURATE_MS, window: ACK_BATCH });
    const elapsed = performance.now() - t0;
    // Gateway side: accepted shares over the whole request (warm-up included in both terms).
    const gatewayRate = ((served.accepted - startAccepted) * 1000) / elapsed;
    check(served.rejected === 0, `no share rejected (${served.rejected}; ${JSON.stringify(result['rejectedBy'])})`);
    console.log(`  ${kind}: miners saw ${Math.round(result['ackedPerS'] as number)} acked/s over ${SATURATE_MS} ms after warm-up; gateway ${Math.round(gatewayRate)} accepted/s incl. warm-up`);
    report({ provider: provider.name, name: `shares_per_s_${kind}`, value: result['ackedPerS'] as number, unit: `shares/s (${CONNECTIONS} conns)` });
    report({ provider: provider.name, name: `ack_p50_ms_saturated_${kind}`, value: result['latencyP50Ms'] as number, unit: 'ms' });
    report({ provider: provider.name, name: `ack_p99_ms_saturated_${kind}`, value: result['latencyP99Ms'] as number, unit: 'ms' });
  } finally {
    await load.close();
    await served.server.close();
  }
}

async function pacedLatency(): Promise<void> {
  const served = await serve({ shareAckBatchSize: 1 });
  const load = startLoad();
  try {
    const connected = await load.request(connectCmd(served, 'extended', 1));
    check(connected['channelsActive'] === CONNECTIONS, `all ${CONNECTIONS} channels active`);
    await load.request({ cmd: 'paced', durationMs: 1000, ratePerS: PACED_RATE_PER_S }); // warm-up
    const result = await load.request({ cmd: 'paced', durationMs: PACED_MS, ratePerS: PACED_RATE_PER_S });
    check(served.rejected === 0, 'no share rejected');
    console.log(`  paced extended: ${Math.round(result['ackedPerS'] as number)} acked/s, ${result['latencySamples']} samples`);
    report({ provider: provider.name, name: 'ack_p50_ms_paced_5k', value: result['latencyP50Ms'] as number, unit: 'ms (batch 1, ext)' });
    report({ provider: provider.name, name: 'ack_p99_ms_paced_5k', value: result['latencyP99Ms'] as number, unit: 'ms (batch 1, ext)' });
  } finally {
    await load.close();
    await served.server.close();
  }
}

const only = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env['RG_BENCH_PHASES']?.split(',');
const want = (phase: string): boolean => only === undefined || only.includes(phase);
console.log(`  gateway bench on ${runtime}, provider ${provider.name}, ${CONNECTIONS} connections${QUICK ? ' (quick)' : ''}`);
const gc = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env['RG_BENCH_NO_GC'] === '1' ? undefined : await findGc();
if (want('memory')) await memoryAndSwitch(gc);
if (want('core')) await coreSwitch(true);
// The per-channel comparison only when asked for (RG_BENCH_PHASES=…,core_per_channel).
if (only?.includes('core_per_channel') === true) await coreSwitch(false);
if (want('standard')) await throughput('standard');
if (want('extended')) await throughput('extended');
if (want('paced')) await pacedLatency();
process.exit(0);
