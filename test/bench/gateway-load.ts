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
//        optional "nominalHashRate" (default 0: the easiest target from ReserveGrid and SRI alike)
//   {"cmd":"open","kind","channelsPerConnection"}   more channels on every connection
//   {"cmd":"saturate","durationMs","window"}        closed loop: `window` shares in flight per connection
//   {"cmd":"paced","durationMs","ratePerS"}          open loop at a fixed total rate
//   {"cmd":"watch_prevhash","expected"}              report when `expected` SetNewPrevHash arrived
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
}
interface Conn {
  connection: MinerConnection;
  readonly channels: Chan[];
  opened: number;
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
let prevhashWatch: { expected: number; seen: number; resolve: (lastMs: number) => void } | undefined;
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
      conn.channels.push({ conn, channelId: event.channel_id, extranonce: event.kind === 'extended' ? new Uint8Array(size) : undefined, nonce: 0, sentAtMs: new Map(), inFlight: 0 });
      break;
    }
    case 'new_prev_hash':
      if (event.job_known) {
        conn.opened++;
        openedTotal++;
        if (prevhashWatch !== undefined && ++prevhashWatch.seen === prevhashWatch.expected) prevhashWatch.resolve(wallNowMs());
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

async function connectAll(cmd: { host: string; port: number; authority: string; connections: number; channelsPerConnection: number; kind: 'standard' | 'extended'; nominalHashRate?: number }): Promise<Record<string, unknown>> {
  const started = performance.now();
  const authorityXOnly = hexToBytes(cmd.authority);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cmd.connections) {
      next++;
      const conn: Conn = { connection: undefined as unknown as MinerConnection, channels: [], opened: 0 };
      const connection = await MinerConnection.connect({
        host: cmd.host, port: cmd.port, provider, clock,
        certificatePolicy: { kind: 'pinned', authorityXOnly },
        client: { setupTimeoutMs: 120_000, handshakeTimeoutMs: 120_000 },
        onEvent: (event) => onEvent(conn, event),
      });
      conn.connection = connection;
      byConnection.set(connection, conn);
      conns.push(conn);
      // Wait for SetupConnection.Success, then open the channels.
      while (connection.client.state !== 'ready') {
        if (connection.client.state === 'closed') throw new Error('client closed during setup');
        await new Promise((r) => setTimeout(r, 2));
      }
      for (let i = 0; i < cmd.channelsPerConnection; i++) {
        const request = { userIdentity: `bench.c${conns.length}.${i}`, nominalHashRate: cmd.nominalHashRate ?? 0 };
        if (cmd.kind === 'standard') connection.client.openStandardChannel(request);
        else connection.client.openExtendedChannel(request);
      }
      connection.flush();
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const want = cmd.connections * cmd.channelsPerConnection;
  const deadline = performance.now() + 120_000;
  while (openedTotal < want && performance.now() < deadline) await new Promise<void>((r) => channelWaiters.push(r));
  return { connections: conns.length, channelsActive: openedTotal, connectMs: performance.now() - started };
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
  const deadline = performance.now() + 120_000;
  while (openedTotal < want && performance.now() < deadline) await new Promise<void>((r) => channelWaiters.push(r));
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

function summary(durationMs: number): Record<string, unknown> {
  const sorted = latencies.slice().sort((a, b) => a - b);
  return {
    durationMs, submitted, acked, rejected, rejectedBy: { ...rejectedBy },
    ackedPerS: (acked * 1000) / durationMs,
    latencyP50Ms: percentile(sorted, 50), latencyP99Ms: percentile(sorted, 99), latencySamples: sorted.length,
  };
}

async function drain(): Promise<void> {
  mode = 'idle';
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline && conns.some((c) => c.channels.some((ch) => ch.inFlight > 0))) await new Promise((r) => setTimeout(r, 20));
}

async function saturate(durationMs: number, w: number): Promise<Record<string, unknown>> {
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
  const result = summary(performance.now() - started);
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
      reply('saturate', await saturate(cmd['durationMs'] as number, cmd['window'] as number));
      break;
    case 'paced':
      reply('paced', await paced(cmd['durationMs'] as number, cmd['ratePerS'] as number));
      break;
    case 'watch_prevhash': {
      const expected = cmd['expected'] as number;
      const lastMs = await new Promise<number>((resolve) => {
        prevhashWatch = { expected, seen: 0, resolve };
        reply('watching', {});
      });
      prevhashWatch = undefined;
      reply('watch_prevhash', { lastWallMs: lastMs });
      break;
    }
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
