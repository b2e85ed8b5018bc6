// Scale benchmark (issue 13 acceptance): the real `reservegrid run` process, with
// gateway.workers = 1 and = 2, and SRI's pool_sv2 0.7.0 beside it, under the same load shapes:
// shares/s through Noise sockets, prevhash fan-out at 1,000 and 10,000 channels, and a reconnect
// storm of 10,000 miners. A script, not a test (SPEC §13). docs/performance.md ("Scale: workers
// = 1 and 2, beside SRI") explains every figure.
//
// bench-all process limit: 40 min (a full run is three targets × 20,000 handshakes on 2 cores)
//
// Per target, one server process (the gateway runs on this runtime, spawned through its entry
// point runtimes/<runtime>.ts; SRI's pool is the same Rust binary on every runtime) and P load
// processes (load-fleet.ts: gateway-load.ts on Node with native crypto, connections split evenly):
//   1. N1 connections (1,000; quick 100), one extended channel each, C per process handshaking at
//      once; then shares: closed loop, 10 in flight per channel (one ack batch), SATURATE_MS.
//      `shares_per_s`, `ack_p50/p99_ms` (merged from every process's latency histogram).
//   2. SWITCHES prevhash switches at N1 channels: the bench's node (template-rpc.ts) moves its
//      tip; from the moment it served the first template on the new tip until each channel's
//      SetNewPrevHash was decoded by its load process. `prevhash_p50/p99_ms_<n>` over every
//      (channel, switch); `prevhash_all_ms_<n>` = the median over switches of the time until the
//      last channel had it.
//   3. N10 − N1 more connections (10,000 in all; quick 400), then SWITCHES switches at N10.
//   4. The storm: every process aborts all its sockets at once and reconnects as many, C at a
//      time each, retrying a refused attempt; `storm_ms_<n>` = first drop → last channel with its
//      job and SetNewPrevHash again (TCP + Noise NX + SetupConnection + OpenExtendedMiningChannel
//      + first job); `storm_handshakes_per_s_<n>` = N10 / that.
//   CPU: `load_cpu_cores_*` is the load processes' CPU time over the phase's wall time (the
//   busiest single process is printed too); `server_cpu_cores_*` the same for the server process
//   and its children (the workers), from /proc; `server_runqueue_wait_*` the time the server's
//   main threads were runnable but waiting for a CPU, over wall time (/proc/<pid>/schedstat): near
//   0 = the server had the CPU whenever it wanted it, near 1 per process = it was starved (other
//   work on the machine). On this 2-core machine load and server together cannot exceed 2 cores.
//
// ReserveGrid's targets are the production set-up: templates through its RPC client and poller
// (every 100 ms), the file share journal (journal before ack) and event log in a temp dir, shares
// forwarded as signed batches to a real share sink (runtimes/commands/share-sink.ts) in this
// process. SRI's pool is fed by a workers = 1 ReserveGrid's Template Provider on the same node
// (Sv2Tp, our key pinned), as in sri-side-by-side.bench.ts, so its fan-out includes that TDP hop;
// it has no workers setting (one tokio process using every core), so the workers dimension does
// not apply to it. All miners come from 127.0.0.1, so the gateway's per-IP limits are raised to
// its global ones; the global handshake limit keeps its default (1,000), above P × C.
//
//   node --import tsx test/bench/scale.bench.ts   (deno run -A / bun; or RG_RUNTIMES=node npm run
//   bench scale). RG_BENCH_QUICK=1: 100 / 400 connections, 2 switches, 1.5 s of shares, 2 load
//   processes. RG_BENCH_SCALE_TARGETS=w1,w2,sri picks targets (default: all three on node, w1,w2
//   on deno and bun: SRI is the same binary everywhere); RG_BENCH_LOAD_PROCESSES=P;
//   RG_BENCH_SCALE_CONNECTIONS=N10 (default 10,000) for a smaller storm on a busy machine.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { systemRandom } from '../../adapters/random.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { loadConfig } from '../../core/config/load.ts';
import { generateAuthorityKeyPair } from '../../core/noise/index.ts';
import { startShareSink } from '../../runtimes/commands/share-sink.ts';
import { spawnCli, type RuntimeChild } from '../support/child.ts';
import { sv2AddressOf } from '../support/btcd-run.ts';
import { sleep, until } from '../support/wait.ts';
import { report, runtime } from './bench-util.ts';
import { LoadFleet, percentile, type ConnectShape, type FleetCpu } from './load-fleet.ts';
import { HOST, sriSkipReason, startPool, type Pool } from './sri-pool.ts';
import { startTemplateRpc, type TemplateRpc } from './template-rpc.ts';

const env = (name: string): string | undefined => (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];
const QUICK = env('RG_BENCH_QUICK') === '1';
const N1 = QUICK ? 100 : 1_000;
/** The storm's and the second fan-out's size (RG_BENCH_SCALE_CONNECTIONS: a smaller run on a
 * busy machine; the rows are named by the size actually used). */
const N10 = Number(env('RG_BENCH_SCALE_CONNECTIONS') ?? (QUICK ? 400 : 10_000));
if (!(Number.isInteger(N10) && N10 > N1 && N10 <= 12_000)) throw new RangeError(`RG_BENCH_SCALE_CONNECTIONS must be an integer in ${N1 + 1}..12000 (max_connections 15,000 with room for the storm), got ${N10}`);
const SWITCHES = QUICK ? 2 : 5;
const SATURATE_MS = QUICK ? 1_500 : 5_000;
const WINDOW = 10;
const LOAD_PROCESSES = Number(env('RG_BENCH_LOAD_PROCESSES') ?? (QUICK ? 2 : 4));
/** Connection attempts in flight per load process: P × C stays below the gateway's max_handshaking (1,000). */
const CONCURRENCY = QUICK ? 32 : 128;
/** Attempts after a refused one, per connection (100 ms apart): a miner retries. */
const RETRIES = 20;
const SHARE_SECRET = 'bench-share-secret-0123456789';
// SRI's pool is the same binary whatever runtime this bench runs on: measured once, in the
// node pass of `npm run bench` (RG_BENCH_SCALE_TARGETS overrides).
const TARGETS = (env('RG_BENCH_SCALE_TARGETS') ?? (runtime === 'node' ? 'w1,w2,sri' : 'w1,w2')).split(',').filter(Boolean);
const provider = selectCryptoProvider('auto');
const label = (n: number): string => (n % 1000 === 0 ? `${n / 1000}k` : String(n));

/** Below bench-all's limit (header): past it, kill the server processes ourselves and fail, so
 * that no `reservegrid run` or pool outlives the bench (load processes exit with our stdin). */
const WATCHDOG_MS = 38 * 60_000;
const servers = new Set<{ kill(signal: 'SIGKILL'): unknown }>();

const skip = sriSkipReason();
if (skip !== undefined) {
  console.log(`SKIP scale: ${skip}`);
  process.exit(0);
}

// ---- CPU of a process and its descendants (/proc) ----------------------------------------------

interface TreeTimes {
  /** utime + stime of the processes (all their threads), ms (USER_HZ = 100 on Linux). */
  readonly cpuMs: number;
  /** Time their main threads (the JavaScript thread; pool_sv2's main thread) were runnable but
   * waiting for a CPU (/proc/<pid>/schedstat, second field), ms: how starved they were. */
  readonly waitMs: number;
}

/** `pid` and every live descendant (the workers), summed. */
function treeTimes(pid: number): TreeTimes {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we read
    }
    // Fields after the command name (which may contain spaces) in parentheses: state ppid … utime(14) stime(15).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parent.set(Number(name), Number(fields[1]));
    ticks.set(Number(name), Number(fields[11]) + Number(fields[12]));
  }
  let cpuTicks = 0;
  let waitNs = 0;
  for (const [p] of ticks) {
    for (let q: number | undefined = p; q !== undefined && q > 1; q = parent.get(q)) {
      if (q !== pid) continue;
      cpuTicks += ticks.get(p)!;
      try {
        waitNs += Number(readFileSync(`/proc/${p}/schedstat`, 'utf8').split(' ')[1]);
      } catch {
        // exited, or no schedstats in this kernel: counted as no wait
      }
      break;
    }
  }
  return { cpuMs: cpuTicks * 10, waitMs: waitNs / 1e6 };
}

// ---- ReserveGrid: `reservegrid run` ------------------------------------------------------------

const authority = generateAuthorityKeyPair(systemRandom);
const rpc = await startTemplateRpc();
const sink = await startShareSink({ host: HOST, port: 0, secret: SHARE_SECRET, provider });

/** Does this build's config know gateway.workers? (It came with issue 13 item 1.) */
function workersKeyProblem(workers: number): string | undefined {
  const loaded = loadConfig({ tomlText: gatewayToml('/tmp/x', workers, false), fileName: 'scale.toml', env: {} });
  return loaded.ok ? undefined : loaded.problems.map((p) => `${p.key}: ${p.message}`).join('; ');
}

function gatewayToml(dir: string, workers: number | undefined, templateProvider: boolean): string {
  const config: Record<string, Record<string, unknown>> = {
    gateway: {
      mode: 'observe', id: 1, listen_addr: '127.0.0.1:0', http_listen_addr: '127.0.0.1:0',
      verifier_addr: 'embedded', upstream_url: rpc.url, upstream_failure_policy: 'permit_all',
      http_api_key: 'bench-api-key-not-used',
      event_log_path: join(dir, 'events.jsonl'), event_log_max_bytes: 16 * 1024 * 1024, event_log_max_files: 1,
      data_dir: join(dir, 'data'),
      // 10,000 miners plus the ones still closing when the storm's reconnects arrive.
      max_connections: 15_000,
      ...(workers === undefined ? {} : { workers }),
    },
    // Every miner is 127.0.0.1 here: per-IP limits as high as the global ones.
    limits: { max_connections_per_ip: 15_000, max_handshaking_per_ip: 1_000, connection_rate_per_ip: 1_000_000, connection_burst_per_ip: 1_000_000 },
    noise: { authority_public_key: authority.publicKey, authority_secret_key: authority.secretKeyText },
    timing: { upstream_poll_interval_ms: 100, job_broadcast_interval_ms: 100, handshake_timeout_ms: 120_000 },
    share: { share_upstream_url: sink.url, share_upstream_secret: SHARE_SECRET },
    auth: { mode: 'open' },
    // The easiest share target (nominal_hash_rate 0, tiny minimum difficulty, no vardiff): any
    // share with a fresh nonce is valid and the miners do no hashing; bits 1d00ffff: none is a block.
    mining: { payout: [{ script_hex: '0014751e76e8199196d454941c45d1b3a323f1433bd6', weight: 1 }], min_difficulty: 1e-12, vardiff_enabled: false, share_ack_batch_size: WINDOW },
    upstream: { rpc_user: rpc.user, rpc_password: rpc.password },
  };
  if (templateProvider) config['template_provider'] = { listen_addr: '127.0.0.1:0' };
  return stringifyToml(config);
}

interface Run {
  readonly child: RuntimeChild;
  readonly port: number;
  readonly tpPort: number | undefined;
  readonly dir: string;
  stop(): Promise<void>;
}

async function startRun(workers: number | undefined, templateProvider: boolean): Promise<Run> {
  const dir = mkdtempSync(join(env('TMPDIR') || '/tmp', `rg-scale-${runtime}-`));
  const file = join(dir, 'gateway.toml');
  writeFileSync(file, gatewayToml(dir, workers, templateProvider));
  const child = spawnCli(['run', '--config', file]);
  servers.add(child.child);
  const stop = async (): Promise<void> => {
    servers.delete(child.child);
    if (child.running) {
      child.child.kill('SIGTERM');
      await Promise.race([child.exited, sleep(20_000)]);
      if (child.running) child.child.kill('SIGKILL');
      await Promise.race([child.exited, sleep(5_000)]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const address = await sv2AddressOf(child, 120_000);
    let tpPort: number | undefined;
    if (templateProvider) {
      tpPort = await until('the Template Provider line', 60_000, () => {
        if (!child.running) throw new Error(`run exited: ${child.stderr()}`);
        const m = /Template Provider \(SV2 Template Distribution\) on [^:\s]+:(\d+)/.exec(child.stdout());
        return m === null ? undefined : Number(m[1]);
      }, 20);
    }
    // Every worker is up (its worker_started event; starting one takes seconds on a loaded box)
    // and the first template is in (the poller's first answer) before any miner connects.
    if (workers !== undefined && workers > 1) {
      const log = join(dir, 'events.jsonl');
      await until(`${workers} worker_started events`, 180_000, () => {
        if (!child.running) throw new Error(`run exited: ${child.stderr()}`);
        const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
        return (text.match(/"type":"worker_started"/g) ?? []).length >= workers ? true : undefined;
      }, 100);
    }
    const served = rpc.templatesServed;
    await until('the gateway to poll the node', 30_000, () => (rpc.templatesServed > served ? true : undefined), 20);
    await sleep(300);
    return { child, port: address.port, tpPort, dir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---- one target --------------------------------------------------------------------------------

interface Figures {
  sharesPerS: number;
  ackP50Ms: number;
  ackP99Ms: number;
  rejected: number;
  loadCpuShares: FleetCpu;
  serverCoresShares: number;
  serverWaitShares: number;
  prevhash: Record<number, { p50Ms: number; p99Ms: number; allMs: number }>;
  stormMs: number;
  stormHandshakesPerS: number;
  stormRetried: number;
  loadCpuStorm: FleetCpu;
  serverCoresStorm: number;
  serverWaitStorm: number;
  connectHandshakesPerS: number;
}

const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function measure(name: string, port: number, authorityXOnlyHex: string, serverPid: number): Promise<Figures> {
  console.log(`# ${name}: start ${new Date().toISOString()}, load average ${loadAverage()}`);
  const fleet = LoadFleet.start(LOAD_PROCESSES);
  const shape: ConnectShape = { host: HOST, port, authority: authorityXOnlyHex, kind: 'extended', channelsPerConnection: 1, concurrency: CONCURRENCY, retries: RETRIES };
  const boundMs = (n: number): number => 60_000 + n * 60; // ≥ 16 handshakes/s, or the run is broken
  try {
    const c = await fleet.connect(N1, shape, boundMs(N1));
    await sleep(500);
    let times0 = treeTimes(serverPid);
    let t0 = performance.now();
    const sat = await fleet.saturate(SATURATE_MS, WINDOW);
    let times1 = treeTimes(serverPid);
    const serverCoresShares = (times1.cpuMs - times0.cpuMs) / (performance.now() - t0);
    const serverWaitShares = (times1.waitMs - times0.waitMs) / (performance.now() - t0);
    if (sat.rejected > 0) console.log(`# ${name}: ${sat.rejected} shares rejected: ${JSON.stringify(sat.rejectedBy)}`);
    // The gateway forwards the shares it acknowledged after the fact (journal first, then the
    // sink): let that backlog drain, so the switches below are measured on a quiet gateway.
    const settleStarted = performance.now();
    let lastCount = -1;
    await until('share forwarding to settle', 120_000, async () => {
      const count = sink.stats.sharesNew;
      if (count === lastCount) return true;
      lastCount = count;
      await sleep(1000);
      return undefined;
    }, 0);
    console.log(`# ${name}: forwarding settled after ${((performance.now() - settleStarted) / 1000).toFixed(1)} s (${sink.stats.sharesNew} shares at the sink)`);
    const prevhash: Figures['prevhash'] = {};
    const switches = async (n: number): Promise<void> => {
      const all: number[] = [];
      const last: number[] = [];
      for (let i = 0; i < SWITCHES; i++) {
        const delivered = await fleet.prevhashSwitch(() => rpc.advance(), 60_000);
        if (delivered.length !== n) throw new Error(`${name}: ${delivered.length} of ${n} SetNewPrevHash`);
        all.push(...delivered);
        last.push(delivered[delivered.length - 1]!);
        await sleep(500);
      }
      all.sort((a, b) => a - b);
      last.sort((a, b) => a - b);
      prevhash[n] = { p50Ms: percentile(all, 50), p99Ms: percentile(all, 99), allMs: percentile(last, 50) };
      console.log(`# ${name}: ${SWITCHES} switches at ${n} channels, until the last channel: ${last.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    };
    await switches(N1);
    await fleet.connect(N10 - N1, shape, boundMs(N10 - N1));
    await sleep(1000);
    await switches(N10);
    times0 = treeTimes(serverPid);
    t0 = performance.now();
    const storm = await fleet.storm(CONCURRENCY, RETRIES, boundMs(N10));
    times1 = treeTimes(serverPid);
    const serverCoresStorm = (times1.cpuMs - times0.cpuMs) / (performance.now() - t0);
    const serverWaitStorm = (times1.waitMs - times0.waitMs) / (performance.now() - t0);
    const figures: Figures = {
      sharesPerS: sat.ackedPerS, ackP50Ms: sat.ackP50Ms, ackP99Ms: sat.ackP99Ms, rejected: sat.rejected,
      loadCpuShares: sat.cpu, serverCoresShares, serverWaitShares, prevhash,
      stormMs: storm.ms, stormHandshakesPerS: (storm.connections * 1000) / storm.ms, stormRetried: storm.retried,
      loadCpuStorm: storm.cpu, serverCoresStorm, serverWaitStorm,
      connectHandshakesPerS: (N1 * 1000) / c.ms,
    };
    console.log(`# ${name}: ${JSON.stringify(figures)}`);
    console.log(`# ${name}: end ${new Date().toISOString()}, load average ${loadAverage()}`);
    return figures;
  } finally {
    await fleet.close();
  }
}

function reportFigures(target: string, f: Figures): void {
  const p = provider.name;
  const row = (name: string, value: number, unit: string): void => report({ provider: p, name: `scale_${name}_${target}`, value, unit });
  row('shares_per_s', f.sharesPerS, '/s');
  row('ack_p50_ms', f.ackP50Ms, 'ms');
  row('ack_p99_ms', f.ackP99Ms, 'ms');
  for (const [n, v] of Object.entries(f.prevhash)) {
    row(`prevhash_p50_ms_${label(Number(n))}`, v.p50Ms, 'ms');
    row(`prevhash_p99_ms_${label(Number(n))}`, v.p99Ms, 'ms');
    row(`prevhash_all_ms_${label(Number(n))}`, v.allMs, 'ms');
  }
  row(`storm_ms_${label(N10)}`, f.stormMs, 'ms');
  row(`storm_handshakes_per_s_${label(N10)}`, f.stormHandshakesPerS, '/s');
  row('storm_retries', f.stormRetried, 'attempts');
  row(`connect_handshakes_per_s_${label(N1)}`, f.connectHandshakesPerS, '/s');
  row('load_cpu_cores_shares', f.loadCpuShares.cores, 'cores');
  row('load_cpu_max_process_shares', f.loadCpuShares.maxProcessShare, 'of a core');
  row('server_cpu_cores_shares', f.serverCoresShares, 'cores');
  row('server_runqueue_wait_shares', f.serverWaitShares, 'cores');
  row('load_cpu_cores_storm', f.loadCpuStorm.cores, 'cores');
  row('load_cpu_max_process_storm', f.loadCpuStorm.maxProcessShare, 'of a core');
  row('server_cpu_cores_storm', f.serverCoresStorm, 'cores');
  row('server_runqueue_wait_storm', f.serverWaitStorm, 'cores');
}

// ---- the run -------------------------------------------------------------------------------------

const hasWorkersKey = workersKeyProblem(1) === undefined;
console.log(`# ${runtime}: scale bench, ${N1} / ${N10} connections, ${SWITCHES} switches, ${LOAD_PROCESSES} load processes × ${CONCURRENCY} handshakes in flight; targets ${TARGETS.join(', ')}`);
console.log(`# load average ${loadAverage()}`);
let failures = 0;
const watchdog = setTimeout(() => {
  console.log(`# scale bench: not done within ${WATCHDOG_MS / 60_000} min: servers killed, no further figures`);
  for (const server of servers) server.kill('SIGKILL');
  process.exit(1);
}, WATCHDOG_MS);
try {
  for (const target of TARGETS) {
    if (target === 'w1' || target === 'w2') {
      const workers = target === 'w1' ? 1 : 2;
      if (!hasWorkersKey && workers > 1) {
        console.log(`# ReserveGrid workers=${workers} on ${runtime}: not measured: this build has no gateway.workers (${workersKeyProblem(workers)})`);
        continue;
      }
      let run: Run | undefined;
      try {
        run = await startRun(hasWorkersKey ? workers : undefined, false);
        console.log(`# ReserveGrid workers=${workers} on ${runtime}: reservegrid run pid ${run.child.child.pid}, 127.0.0.1:${run.port}`);
        reportFigures(target, await measure(`ReserveGrid workers=${workers}`, run.port, bytesToHex(authority.publicKeyXOnly), run.child.child.pid!));
      } catch (error) {
        failures++;
        console.log(`# ReserveGrid workers=${workers} on ${runtime}: FAILED, no figures: ${error instanceof Error ? error.message : String(error)}`);
        if (run !== undefined) console.log(`#   run stderr: ${run.child.stderr().slice(-2000)}`);
      } finally {
        await run?.stop();
      }
    } else if (target === 'sri') {
      let feeder: Run | undefined;
      let pool: Pool | undefined;
      try {
        feeder = await startRun(hasWorkersKey ? 1 : undefined, true);
        pool = await startPool({ tpPort: feeder.tpPort!, tpAuthorityPublicKey: authority.publicKey, runDir: join(feeder.dir, 'sri'), shareBatchSize: WINDOW });
        servers.add(pool.child);
        console.log(`# SRI pool_sv2 0.7.0 (no workers setting: one process, all cores) on 127.0.0.1:${pool.port}, pid ${pool.child.pid}, fed by ReserveGrid's TP (pid ${feeder.child.child.pid})`);
        reportFigures('sri', await measure('SRI pool_sv2', pool.port, pool.authorityXOnlyHex, pool.child.pid!));
      } catch (error) {
        failures++;
        console.log(`# SRI pool_sv2: FAILED, no figures: ${error instanceof Error ? error.message : String(error)}`);
        if (pool !== undefined) console.log(`#   pool output: ${pool.output().slice(-2000)}`);
      } finally {
        if (pool !== undefined) servers.delete(pool.child);
        await pool?.stop();
        await feeder?.stop();
      }
    } else {
      throw new Error(`RG_BENCH_SCALE_TARGETS: unknown target ${target} (w1, w2, sri)`);
    }
  }
} finally {
  clearTimeout(watchdog);
  await sink.close();
  await rpc.close();
}
console.log(`# share sink: ${sink.stats.sharesNew} shares received`);
process.exit(failures > 0 ? 1 : 0);
