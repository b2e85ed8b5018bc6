// Load generator of test/bench/gateway.bench.ts: a separate process (always Node with the native
// provider, the fastest client we have, so that the gateway under test — on whichever runtime —
// is what limits the figures) holding N Noise connections to the gateway through our own
// initiator (adapters/fleet.ts MinerConnection over core/client MiningClient).
//
// Shares need no hashing: the bench gateway gives every channel the easiest target
// (nominal_hash_rate 0, min_difficulty 0, so target 2^256−1) and a hard network target, so any
// share with a fresh nonce on the active job passes validation and none is a block.
//
// Protocol with the parent: JSON lines. Parent → child on stdin:
//   {"cmd":"connect","host","port","authority","connections","channelsPerConnection","kind"}
//        optional "nominalHashRate" (default 0: the easiest target from ReserveGrid and SRI alike),
//        "concurrency" (connections handshaking at once, default 32), "retries" (per connection,
//        after a refused or dropped attempt, 100 ms apart; default 0: the first failure fails the
//        command). More `connect`s add connections to the ones already open.
//   {"cmd":"open","kind","channelsPerConnection"}   more channels on every connection
//   {"cmd":"saturate","durationMs","window"}        closed loop: `window` shares in flight per connection
//        optional "histogram": true adds `latencyHistogram` (bucket → count, buckets of
//        HISTOGRAM_RATIO) so a parent can merge the latencies of several load processes
//   {"cmd":"paced","durationMs","ratePerS"}          open loop at a fixed total rate
//   {"cmd":"watch_prevhash","expected"}              report when `expected` SetNewPrevHash arrived;
//        optional "samples": true adds `deliveredWallMs`, the arrival time of every one of them
//   {"cmd":"storm","concurrency","retries"}          drop every connection at once (socket abort)
//        and reconnect as many, with as many channels each, as were open; reply once every channel
//        has its job and SetNewPrevHash again: `dropWallMs`, `doneWallMs`, `cpuMs`, `retried`
//   {"cmd":"close"}
// Child → parent on stdout: {"reply": <cmd>, ...result}. Anything else on stdout is ignored.
// Every reply carries `loadCpuMs` (this process's user+system CPU since the previous reply) and
// `loadWallMs`, so the parent can show the generator was not the bottleneck (its CPU share).
import { createInterface } from 'node:readline';
import { MinerConnection } from '../../adapters/fleet.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { hexToBytes } from '../../core/bytes.ts';
import type { ClientEvent } from '../../core/client/index.ts';

interface Chan {
  readonly conn: Conn;
  readonly channelId: number;
  readonly extranonce: Uint8Array | undefined;
  nonce: number;
  /** Submit time (ms) by sequence number, for acknowledgement latency. */
  readonly sentAtMs: Map<number, number>;
  inFlight: number;
  /** Has had its first job and SetNewPrevHash (counted once in `openedTotal`). */
  active: boolean;
}
interface Conn {
  connection: MinerConnection;
  readonly channels: Chan[];
  opened: number;
  /** Set while connecting: settled by SetupConnection.Success, or by a close / setup error. */
  setup?: { resolve: () => void; reject: (error: Error) => void };
}
/** The shape of the last `connect`, which `storm` reconnects with. */
interface ConnectCmd {
  host: string;
  port: number;
  authority: string;
  connections: number;
  channelsPerConnection: number;
  kind: 'standard' | 'extended';
  nominalHashRate?: number;
  concurrency?: number;
  retries?: number;
}

const clock = new SystemClock();
const provider = selectCryptoProvider('auto');
const wallNowMs = (): number => performance.timeOrigin + performance.now();
let conns: Conn[] = [];
const byConnection = new Map<MinerConnection, Conn>();
let mode: 'idle' | 'saturate' | 'paced' = 'idle';
let window = 0;
let latencies: number[] = [];
let acked = 0;
let rejected = 0;
let submitted = 0;
const rejectedBy: Record<string, number> = {};
let prevhashWatch: { expected: number; seen: number; resolve: (lastMs: number) => void; samples: number[] | undefined } | undefined;
let lastConnect: ConnectCmd | undefined;
/** Latency buckets are powers of this ratio (2 %): a merged percentile is within 2 % of the exact one. */
const HISTOGRAM_RATIO = 1.02;
/** The longest a connect, open or storm waits for its channels: every command is bounded. */
const CHANNELS_WAIT_MS = 180_000;
let channelWaiters: (() => void)[] = [];
let openedTotal = 0;

let cpuMark = process.cpuUsage();
let wallMark = performance.now();
function reply(what: string, body: Record<string, unknown>): void {
  const cpu = process.cpuUsage(cpuMark);
  const now = performance.now();
  const load = { loadCpuMs: (cpu.user + cpu.system) / 1000, loadWallMs: now - wallMark };
  cpuMark = process.cpuUsage();
  wallMark = now;
  process.stdout.write(`${JSON.stringify({ reply: what, ...body, ...load })}\n`);
}

function submit(chan: Chan, count: number): void {
  const client = chan.conn.connection.client;
  const view = client.channel(chan.channelId);
  if (view === undefined || view.activeJobId === undefined || view.prevHashMinNtime === undefined) return;
  const job = view.jobs.get(view.activeJobId)!;
  const now = clock.monotonicMs();
  for (let i = 0; i < count; i++) {
    const seq = client.submitShare(chan.channelId, {
      jobId: job.jobId,
      nonce: chan.nonce++ >>> 0,
      ntime: view.prevHashMinNtime,
      version: job.version,
      ...(chan.extranonce === undefined ? {} : { extranonce: chan.extranonce }),
    });
    chan.sentAtMs.set(seq, now);
    chan.inFlight++;
    submitted++;
  }
}

function onEvent(conn: Conn, event: ClientEvent): void {
  switch (event.type) {
    case 'channel_opened': {
      const size = event.extranonce_size;
      conn.channels.push({ conn, channelId: event.channel_id, extranonce: event.kind === 'extended' ? new Uint8Array(size) : undefined, nonce: 0, sentAtMs: new Map(), inFlight: 0, active: false });
      break;
    }
    case 'setup_success':
      conn.setup?.resolve();
      conn.setup = undefined;
      break;
    case 'setup_error':
      conn.setup?.reject(new Error(`SetupConnection refused: ${event.error_code}`));
      conn.setup = undefined;
      break;
    case 'closed':
      conn.setup?.reject(new Error(`closed during setup: ${event.error.code}: ${event.error.message}`));
      conn.setup = undefined;
      break;
    case 'new_prev_hash':
      if (event.job_known) {
        // A channel is active from its first SetNewPrevHash on; later ones (switches) are watched.
        const chan = conn.channels.find((c) => c.channelId === event.channel_id);
        if (chan !== undefined && !chan.active) {
          chan.active = true;
          conn.opened++;
          openedTotal++;
        }
        if (prevhashWatch !== undefined) {
          const now = wallNowMs();
          prevhashWatch.samples?.push(now);
          if (++prevhashWatch.seen === prevhashWatch.expected) prevhashWatch.resolve(now);
        }
        if (channelWaiters.length > 0) for (const w of channelWaiters.splice(0)) w();
      }
      break;
    case 'shares_accepted': {
      const chan = conn.channels.find((c) => c.channelId === event.channel_id);
      if (chan === undefined) break;
      const now = clock.monotonicMs();
      let count = 0;
      for (const [seq, at] of chan.sentAtMs) {
        if (seq > event.last_sequence_number) break; // Map keeps insertion (= sequence) order
        chan.sentAtMs.delete(seq);
        if (mode !== 'idle') latencies.push(now - at);
        count++;
      }
      chan.inFlight -= count;
      acked += event.accepted_count;
      if (mode === 'saturate' && chan.inFlight < window) {
        submit(chan, window - chan.inFlight);
        conn.connection.flush();
      }
      break;
    }
    case 'share_rejected': {
      rejected++;
      rejectedBy[event.error_code] = (rejectedBy[event.error_code] ?? 0) + 1;
      const chan = conn.channels.find((c) => c.channelId === event.channel_id);
      if (chan !== undefined && chan.sentAtMs.delete(event.sequence_number)) chan.inFlight--;
      break;
    }
    default:
      break;
  }
}

async function connectAll(cmd: ConnectCmd): Promise<Record<string, unknown>> {
  lastConnect = cmd;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const authorityXOnly = hexToBytes(cmd.authority);
  const want = openedTotal + cmd.connections * cmd.channelsPerConnection;
  const retriesMax = cmd.retries ?? 0;
  let retried = 0;
  let next = 0;
  const attempt = async (): Promise<void> => {
    const conn: Conn = { connection: undefined as unknown as MinerConnection, channels: [], opened: 0 };
    const setupDone = new Promise<void>((resolve, reject) => (conn.setup = { resolve, reject }));
    // Registered before the connect, so an early close cannot leave the promise unobserved.
    setupDone.catch(() => {});
    const connection = await MinerConnection.connect({
      host: cmd.host, port: cmd.port, provider, clock,
      certificatePolicy: { kind: 'pinned', authorityXOnly },
      client: { setupTimeoutMs: 120_000, handshakeTimeoutMs: 120_000 },
      onEvent: (event) => onEvent(conn, event),
    });
    conn.connection = connection;
    try {
      // SetupConnection.Success (event-driven: no polling per connection), then the channels.
      await setupDone;
    } catch (error) {
      connection.abort();
      throw error;
    }
    byConnection.set(connection, conn);
    conns.push(conn);
    for (let i = 0; i < cmd.channelsPerConnection; i++) {
      const request = { userIdentity: `bench.c${conns.length}.${i}`, nominalHashRate: cmd.nominalHashRate ?? 0 };
      if (cmd.kind === 'standard') connection.client.openStandardChannel(request);
      else connection.client.openExtendedChannel(request);
    }
    connection.flush();
  };
  const worker = async (): Promise<void> => {
    while (next < cmd.connections) {
      next++;
      for (let tries = 0; ; tries++) {
        try {
          await attempt();
          break;
        } catch (error) {
          // Refused (a limit, a full accept queue) or dropped: a miner tries again (bounded).
          if (tries >= retriesMax) throw error;
          retried++;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: cmd.concurrency ?? 32 }, worker));
  const deadline = performance.now() + CHANNELS_WAIT_MS;
  while (openedTotal < want && performance.now() < deadline) await waitChannels(deadline);
  const cpu = process.cpuUsage(cpu0);
  return { connections: conns.length, channelsActive: openedTotal, connectMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000, retried };
}

/** Until the next channel becomes active, or `deadline` (performance.now() ms). */
function waitChannels(deadline: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
    channelWaiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function storm(concurrency: number, retries: number): Promise<Record<string, unknown>> {
  if (lastConnect === undefined || conns.length === 0) throw new Error('storm: no connections to drop');
  const connections = conns.length;
  const channels = conns.reduce((n, c) => n + c.channels.length, 0);
  const perConnection = Math.round(channels / connections);
  const cpu0 = process.cpuUsage();
  const dropWallMs = wallNowMs();
  // All at once, as a power cut or a network flap does: no CloseChannel, the sockets just go.
  for (const conn of conns) conn.connection.abort();
  conns = [];
  byConnection.clear();
  openedTotal = 0;
  const r = await connectAll({ ...lastConnect, connections, channelsPerConnection: perConnection, concurrency, retries });
  const doneWallMs = wallNowMs();
  const cpu = process.cpuUsage(cpu0);
  return { ...r, dropWallMs, doneWallMs, cpuMs: (cpu.user + cpu.system) / 1000, channelsWanted: connections * perConnection };
}

async function openMore(kind: 'standard' | 'extended', perConnection: number): Promise<Record<string, unknown>> {
  const want = openedTotal + conns.length * perConnection;
  for (const conn of conns) {
    for (let i = 0; i < perConnection; i++) {
      const request = { userIdentity: `bench.more.${i}`, nominalHashRate: 0 };
      if (kind === 'standard') conn.connection.client.openStandardChannel(request);
      else conn.connection.client.openExtendedChannel(request);
    }
    conn.connection.flush();
  }
  const deadline = performance.now() + CHANNELS_WAIT_MS;
  while (openedTotal < want && performance.now() < deadline) await waitChannels(deadline);
  return { channelsActive: openedTotal };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function resetCounters(): void {
  latencies = [];
  acked = 0;
  rejected = 0;
  submitted = 0;
  for (const k of Object.keys(rejectedBy)) delete rejectedBy[k];
}

function summary(durationMs: number, histogram = false): Record<string, unknown> {
  const sorted = latencies.slice().sort((a, b) => a - b);
  const result: Record<string, unknown> = {
    durationMs, submitted, acked, rejected, rejectedBy: { ...rejectedBy },
    ackedPerS: (acked * 1000) / durationMs,
    latencyP50Ms: percentile(sorted, 50), latencyP99Ms: percentile(sorted, 99), latencySamples: sorted.length,
  };
  if (histogram) {
    // Bucket b holds latencies in (RATIO^(b-1), RATIO^b] ms; below 0.01 ms all go to the first.
    const buckets: Record<number, number> = {};
    for (const ms of sorted) {
      const b = Math.ceil(Math.log(Math.max(ms, 0.01)) / Math.log(HISTOGRAM_RATIO));
      buckets[b] = (buckets[b] ?? 0) + 1;
    }
    result['latencyHistogram'] = buckets;
    result['latencyHistogramRatio'] = HISTOGRAM_RATIO;
  }
  return result;
}

async function drain(): Promise<void> {
  mode = 'idle';
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline && conns.some((c) => c.channels.some((ch) => ch.inFlight > 0))) await new Promise((r) => setTimeout(r, 20));
}

async function saturate(durationMs: number, w: number, histogram = false): Promise<Record<string, unknown>> {
  window = w;
  mode = 'saturate';
  // Warm-up (JIT on both sides, socket buffers) is not counted.
  for (const conn of conns) {
    for (const chan of conn.channels) submit(chan, window);
    conn.connection.flush();
  }
  await new Promise((r) => setTimeout(r, Math.min(1000, durationMs / 4)));
  resetCounters();
  const started = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  const result = summary(performance.now() - started, histogram);
  await drain();
  return result;
}

async function paced(durationMs: number, ratePerS: number): Promise<Record<string, unknown>> {
  mode = 'paced';
  const chans = conns.flatMap((c) => c.channels);
  const tickMs = 10;
  let index = 0;
  let credit = 0;
  resetCounters();
  const started = performance.now();
  let last = started;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      credit += ((now - last) * ratePerS) / 1000;
      last = now;
      const touched = new Set<Conn>();
      while (credit >= 1) {
        const chan = chans[index++ % chans.length]!;
        submit(chan, 1);
        touched.add(chan.conn);
        credit -= 1;
      }
      for (const conn of touched) conn.connection.flush();
      if (now - started >= durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  const elapsed = performance.now() - started;
  await drain();
  return summary(elapsed);
}

async function handle(line: string): Promise<void> {
  const cmd = JSON.parse(line) as { cmd: string } & Record<string, unknown>;
  switch (cmd.cmd) {
    case 'connect':
      reply('connect', await connectAll(cmd as never));
      break;
    case 'open':
      reply('open', await openMore(cmd['kind'] as 'standard' | 'extended', cmd['channelsPerConnection'] as number));
      break;
    case 'saturate':
      reply('saturate', await saturate(cmd['durationMs'] as number, cmd['window'] as number, cmd['histogram'] === true));
      break;
    case 'paced':
      reply('paced', await paced(cmd['durationMs'] as number, cmd['ratePerS'] as number));
      break;
    case 'watch_prevhash': {
      const expected = cmd['expected'] as number;
      const samples = cmd['samples'] === true ? [] as number[] : undefined;
      const lastMs = await new Promise<number>((resolve) => {
        prevhashWatch = { expected, seen: 0, resolve, samples };
        reply('watching', {});
      });
      prevhashWatch = undefined;
      reply('watch_prevhash', { lastWallMs: lastMs, ...(samples === undefined ? {} : { deliveredWallMs: samples }) });
      break;
    }
    case 'storm':
      reply('storm', await storm(cmd['concurrency'] as number, cmd['retries'] as number));
      break;
    case 'close':
      for (const conn of conns) conn.connection.abort();
      conns = [];
      reply('close', {});
      setTimeout(() => process.exit(0), 50);
      break;
    default:
      reply('error', { message: `unknown command ${cmd.cmd}` });
  }
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(() => handle(line)).catch((error: unknown) => reply('error', { message: error instanceof Error ? error.stack ?? error.message : String(error) }));
});
lines.on('close', () => process.exit(0));
