// The leader of a gateway.workers ≥ 2 gateway (issue 13 item 1, docs/scaling.md "One machine,
// many cores"). `reservegrid run` starts the whole stack (adapters/gateway-stack.ts) without a
// miner listener — template source and poller, verifier and verdict gate (the prevhash and
// fail-closed decision), share forwarder and its journal, the event log, metrics, /status, the
// HTTP API, the Template Provider and Job Declaration ports — and this pool of socket workers
// (adapters/workers/worker.ts), each a process of the same runtime (adapters/workers/spawn.ts)
// owning the miners that land on it through the shared miner port.
//
// Per worker, one loopback control connection (core/gateway/worker-control.ts):
//  - HELLO: the worker is serving; it gets the gate state and the released template at once.
//  - every template the leader's gate releases is sent ONCE to each worker (TEMPLATE); the gate's
//    hold and refusal state (GATE) whenever it changes; HOLD_EXPIRED when the hold expires.
//  - EVENTS: the worker's gateway events, ingested into the stack (stamped, journaled, logged,
//    counted) in arrival order; a batch with shares is ACKed after the journal write, and only
//    then does the worker send SubmitShares.Success (worker.ts header).
//  - SUBMIT_BLOCK: the block is adopted by this stack's gateway (Gateway.adoptWorkerBlock): its
//    submitter submits it through this stack's template source and keeps the retry schedule, so
//    a worker that dies mid-retry does not end the retries (docs/scaling.md "A worker's block").
//    The definitive answer goes back as BLOCK_RESULT (blockSettled), which settles the worker's
//    own record of the block; the worker never sees a transport error, so it never retries.
//  - TOKEN_CHECK: a SetCustomMiningJob's mining_job_token, checked against (and spent in) this
//    stack's Job Declaration tokens; TOKEN_ANSWER goes back at once (work-selection.ts).
//
// Aggregation: connection ids are unique across workers and respawns (spawn number × 2^32,
// worker.ts), so the stack's metrics and /status count every worker's connections and channels
// as one gateway; `open_connections` in forwarded events is rewritten to the total over workers.
//
// Crash handling: a worker is down when its process exits or its control channel closes (EOF, a
// malformed frame), whichever is seen first. The leader then kills the process if it still runs,
// closes its connections in the aggregated view (connection_closed, reason worker_exited, one
// per connection it had open), emits worker_exited, counts a restart and respawns the index after
// a backoff doubling from RESPAWN_INITIAL_MS to timing.reconnect_backoff_max_ms (reset after a
// worker has served RESPAWN_RESET_MS). Its miners reconnect meanwhile to the surviving workers:
// the port stays open with them. Acknowledged shares are all journaled (above).
//
// stop(): SHUTDOWN to every worker (each sends CloseChannel 'shutdown', flushes its events and
// exits), waits up to timing.shutdown_drain_timeout_ms + 2 s, then SIGKILLs what is left.
import type { Clock, TimerId } from '../../core/clock.ts';
import type { Config } from '../../core/config/schema.ts';
import { answerCustomJobTokenCheck } from '../../core/gateway/work-selection.ts';
import type { GatewayEvent } from '../../core/gateway/events.ts';
import type { BlockSubmitOutcome, SubmitBlockCommand } from '../../core/gateway/block-submitter.ts';
import { encodeWorkerControl, WorkerControlDecoder, type WorkerControlMessage } from '../../core/gateway/worker-control.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { WORKER_CONN_ID_STRIDE } from './worker.ts';
import type { GatewayStack } from '../gateway-stack.ts';
import { listenTcp as defaultListenTcp, type ListenTcp, type TcpListener, type TcpSocket } from '../net/index.ts';
import { cpuCount, spawnWorker as defaultSpawnWorker, workerRuntime, type SpawnWorker, type WorkerProcess } from './spawn.ts';

export const RESPAWN_INITIAL_MS = 250;
/** A worker that served this long resets its index's backoff. */
export const RESPAWN_RESET_MS = 30_000;
/** A spawned process must say HELLO within this, or it is killed and counted as an exit. */
export const WORKER_HELLO_TIMEOUT_MS = 30_000;

import type { WorkerState } from './metrics.ts';
export type { WorkerState };

/** gateway.workers resolved: "auto" = the machine's core count. */
export function resolveWorkerCount(value: number | 'auto', cores: () => number = cpuCount): number {
  return value === 'auto' ? Math.max(1, Math.min(256, cores())) : value;
}

export interface WorkerPoolOptions {
  readonly config: Config;
  /** Passed to every worker as `--config` (it loads the same file and environment). */
  readonly configPath: string;
  readonly count: number;
  readonly clock: Clock;
  readonly stack: Pick<GatewayStack, 'ingest' | 'flushJournal' | 'gateway'> & { readonly server: Pick<GatewayStack['server'], 'service'>; readonly telemetry: Pick<GatewayStack['telemetry'], 'workerMetrics' | 'setWorkersStatus'> };
  readonly spawnWorker?: SpawnWorker;
  readonly listenTcp?: ListenTcp;
  /** Diagnostics (respawns, control errors) for stderr. Must not throw. */
  readonly onLog?: (line: string) => void;
}

interface _Slot {
  readonly index: number;
  state: WorkerState;
  restarts: number;
  consecutiveFailures: number;
  process: WorkerProcess | null;
  spawn: number;
  conn: TcpSocket | null;
  startedAtMs: number;
  pid: number;
  helloTimer: TimerId | undefined;
  respawnTimer: TimerId | undefined;
  /** Open connection ids of this worker's current process (aggregated view). */
  readonly open: Set<number>;
}

export interface WorkerPoolSlotStatus {
  readonly index: number;
  readonly state: WorkerState;
  readonly pid: number;
  readonly restarts: number;
  readonly connections: number;
}

export interface WorkerPool {
  /** The shared miner port (the first worker's bound port when the config says 0). */
  readonly port: number;
  readonly count: number;
  readonly runtime: typeof workerRuntime;
  slots(): WorkerPoolSlotStatus[];
  /** Forward a template the leader's gate released (GatewayDeps.onRelease). */
  templateReleased(template: BlockTemplate): void;
  /** Re-read the leader's gate after its events (the stack's onEvent). */
  gateChanged(): void;
  /**
   * A block_submit_result of this stack (the stack's onEvent): for a block a worker sent, its
   * definitive answer goes back to that worker process if it still runs (BLOCK_RESULT).
   */
  blockSettled(event: Extract<GatewayEvent, { type: 'block_submit_result' }>): void;
  /** Kill one worker's process with SIGKILL (tests; operators use kill). */
  kill(index: number): void;
  stop(): Promise<void>;
}

export async function startWorkerPool(options: WorkerPoolOptions): Promise<WorkerPool> {
  const { config, clock, count, stack } = options;
  if (!(Number.isInteger(count) && count >= 2 && count <= 256)) throw new RangeError(`startWorkerPool: count must be an integer 2..256, got ${count}`);
  const spawnWorker = options.spawnWorker ?? defaultSpawnWorker;
  const log = (line: string): void => {
    try {
      options.onLog?.(line);
    } catch {
      // diagnostics only
    }
  };
  const respawnMaxMs = Math.max(RESPAWN_INITIAL_MS, config.timing.reconnect_backoff_max_ms);
  const configuredPort = Number(config.gateway.listen_addr.slice(config.gateway.listen_addr.lastIndexOf(':') + 1));
  let sharedPort = configuredPort;
  let spawnSeq = 0;
  let stopping = false;
  const slots: _Slot[] = Array.from({ length: count }, (_, index) => ({
    index,
    state: 'down' as WorkerState,
    restarts: 0,
    consecutiveFailures: 0,
    process: null,
    spawn: 0,
    conn: null,
    startedAtMs: 0,
    pid: 0,
    helloTimer: undefined,
    respawnTimer: undefined,
    open: new Set<number>(),
  }));

  // ---- metrics and /status ------------------------------------------------------------------
  let restartsTotal = 0;
  stack.telemetry.workerMetrics.setSource({
    states: () => ({ starting: slots.filter((s) => s.state === 'starting').length, running: slots.filter((s) => s.state === 'running').length, down: slots.filter((s) => s.state === 'down').length }),
    restarts: () => restartsTotal,
  });
  stack.telemetry.setWorkersStatus(() => ({
    count,
    runtime: workerRuntime,
    port: sharedPort,
    // How the port is shared (adapters/workers/spawn.ts): Node 20 has no reusePort.
    port_sharing: workerRuntime === 'node' ? 'node:cluster' : 'SO_REUSEPORT',
    restarts: restartsTotal,
    slots: slots.map((s) => ({ worker: s.index, state: s.state, pid: s.pid, restarts: s.restarts, connections: s.open.size })),
  }));

  const send = (slot: _Slot, message: WorkerControlMessage): void => {
    if (slot.conn !== null && !slot.conn.closed) slot.conn.write(encodeWorkerControl(message));
  };
  const totalOpen = (): number => slots.reduce((n, s) => n + s.open.size, 0);

  // ---- the leader's gate, mirrored --------------------------------------------------------------
  let sentGate = { holding: false, refusingMiners: false };

  // ---- workers' blocks: submitted and retried here --------------------------------------------
  /** Which worker process sent each adopted block still unsettled (its answer goes back there). */
  const blockOwners = new Map<string, { readonly slot: _Slot; readonly spawn: number }>();
  const gateState = (): { holding: boolean; refusingMiners: boolean } => ({ holding: stack.gateway.gate.holding, refusingMiners: stack.gateway.gate.refusingMiners });

  // ---- control connections ------------------------------------------------------------------
  let resolveFirst: (() => void) | undefined;
  const firstHello = new Promise<void>((resolve) => (resolveFirst = resolve));
  const onControl = (socket: TcpSocket): void => {
    const decoder = new WorkerControlDecoder();
    let slot: _Slot | null = null;
    socket.onData((bytes) => {
      decoder.push(bytes);
      for (let m = decoder.poll(); m !== undefined; m = decoder.poll()) {
        if (slot === null) {
          if (m.type !== 'hello') {
            socket.abort();
            return;
          }
          const s = slots[m.index];
          // A HELLO must come from the process we spawned for that index.
          if (s === undefined || s.process === null || s.process.pid !== m.pid || s.conn !== null || s.state !== 'starting') {
            log(`control: unexpected HELLO (worker ${m.index}, pid ${m.pid}); closed`);
            socket.abort();
            return;
          }
          slot = s;
          hello(s, socket, m.port);
          continue;
        }
        handle(slot, m);
      }
      if (decoder.error !== null && slot !== null) {
        down(slot, 'worker_control_invalid', decoder.error.message);
      } else if (decoder.error !== null) socket.abort();
    });
    socket.onClose(() => {
      if (slot !== null && slot.conn === socket) down(slot, 'worker_exited', 'control channel closed');
    });
  };

  const hello = (slot: _Slot, socket: TcpSocket, port: number): void => {
    if (slot.helloTimer !== undefined) clock.clearTimer(slot.helloTimer);
    slot.helloTimer = undefined;
    slot.conn = socket;
    slot.state = 'running';
    slot.startedAtMs = clock.monotonicMs();
    if (sharedPort === 0) sharedPort = port;
    stack.ingest({ type: 'worker_started', worker: slot.index, pid: slot.pid, port, conn_id_base: slot.spawn * WORKER_CONN_ID_STRIDE, restarts: slot.restarts });
    // The gate's state, then the current work: a respawned worker serves the same job at once.
    send(slot, { type: 'gate', ...sentGate });
    const released = stack.gateway.gate.released;
    if (released !== null) send(slot, { type: 'template', template: released });
    resolveFirst?.();
  };

  const handle = (slot: _Slot, m: WorkerControlMessage): void => {
    switch (m.type) {
      case 'events': {
        for (const raw of m.events) {
          if (raw === null || typeof raw !== 'object' || typeof (raw as { type?: unknown }).type !== 'string') continue;
          const event = raw as GatewayEvent & { open_connections?: number; conn_id?: number };
          // A worker's blocks are submitted and retried by this stack (SUBMIT_BLOCK below), which
          // reports them; the worker's own record of a block would report it a second time.
          if (event.type === 'block_submit_result' || event.type === 'block_submit_retry') continue;
          if (event.type === 'connection_opened' && typeof event.conn_id === 'number') slot.open.add(event.conn_id);
          if (event.type === 'connection_closed' && typeof event.conn_id === 'number') slot.open.delete(event.conn_id);
          // One gateway's view: open connections over all workers.
          const ingested = typeof event.open_connections === 'number' ? ({ ...event, open_connections: totalOpen() } as GatewayEvent) : event;
          stack.ingest(ingested);
        }
        if (m.wantsAck) {
          // Journal first, then ACK: only now may the worker acknowledge these shares.
          stack.flushJournal();
          send(slot, { type: 'ack', batch: m.batch });
        }
        return;
      }
      case 'submit_block': {
        const command = m.command as SubmitBlockCommand;
        if (stack.gateway.adoptWorkerBlock(command.block_id, command.hex, clock.monotonicMs())) {
          blockOwners.set(command.block_id, { slot, spawn: slot.spawn });
          stack.server.service();
        } else log(`worker ${slot.index}: SUBMIT_BLOCK ${command.block_id.slice(0, 64)} not adopted (already pending, or no block)`);
        return;
      }
      case 'token_check':
        // The one token table (docs/scaling.md "Job Declaration with workers"): consumed here, on
        // this clock, in arrival order over all workers — so single use and expiry are exact.
        send(slot, { type: 'token_answer', id: m.check.id, answer: answerCustomJobTokenCheck(stack.gateway.jobDeclarationTokens, m.check, clock.monotonicMs()) });
        return;
      default:
        down(slot, 'worker_control_invalid', `unexpected ${m.type} from worker ${slot.index}`);
    }
  };

  const control: TcpListener = await (options.listenTcp ?? defaultListenTcp)({ host: '127.0.0.1', port: 0 }, onControl);

  const spawn = async (slot: _Slot): Promise<void> => {
    slot.respawnTimer = undefined;
    if (stopping) return;
    spawnSeq += 1;
    slot.spawn = spawnSeq;
    slot.state = 'starting';
    slot.open.clear();
    // Node: every worker asks the cluster for the configured port (the primary shares one
    // handle per address, port 0 included); Deno and Bun bind the port the first worker got.
    const port = workerRuntime === 'node' ? configuredPort : sharedPort;
    const args = ['--config', options.configPath, '--leader', String(control.port), '--index', String(slot.index), '--count', String(count), '--spawn', String(slot.spawn), '--port', String(port)];
    let proc: WorkerProcess;
    try {
      proc = await spawnWorker(args);
    } catch (error) {
      slot.process = null;
      down(slot, 'worker_exited', `spawn failed: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    slot.process = proc;
    slot.pid = proc.pid;
    const mine = slot.spawn;
    proc.onExit((detail) => {
      if (slot.spawn === mine) down(slot, 'worker_exited', detail);
    });
    slot.helloTimer = clock.setTimer(WORKER_HELLO_TIMEOUT_MS, () => {
      slot.helloTimer = undefined;
      if (slot.spawn === mine && slot.state === 'starting') down(slot, 'worker_exited', `no HELLO within ${WORKER_HELLO_TIMEOUT_MS} ms`);
    });
  };

  const down = (slot: _Slot, reason: 'worker_exited' | 'worker_control_invalid', detail: string): void => {
    if (slot.state === 'down') return;
    const wasRunning = slot.state === 'running';
    slot.state = 'down';
    if (slot.helloTimer !== undefined) clock.clearTimer(slot.helloTimer);
    slot.helloTimer = undefined;
    const conn = slot.conn;
    slot.conn = null;
    conn?.abort();
    slot.process?.kill('SIGKILL');
    // Its miners' connections are gone with it: close them in the aggregated view.
    const lost = [...slot.open].sort((a, b) => a - b);
    slot.open.clear();
    for (const connId of lost) {
      stack.ingest({ type: 'connection_closed', conn_id: connId, reason_code: 'worker_exited', detail: `worker ${slot.index} (pid ${slot.pid}) ${detail}`, channels: 0, shares_accepted: 0, shares_rejected: 0, duration_ms: 0 });
    }
    if (wasRunning && clock.monotonicMs() - slot.startedAtMs >= RESPAWN_RESET_MS) slot.consecutiveFailures = 0;
    slot.consecutiveFailures += 1;
    const delay = stopping ? null : Math.min(respawnMaxMs, RESPAWN_INITIAL_MS * 2 ** Math.min(20, slot.consecutiveFailures - 1));
    stack.ingest({ type: 'worker_exited', worker: slot.index, pid: slot.pid, reason_code: reason, detail, connections: lost.length, respawn_in_ms: delay });
    if (delay === null) return;
    slot.restarts += 1;
    restartsTotal += 1;
    log(`worker ${slot.index} (pid ${slot.pid}) ${reason}: ${detail}; respawning in ${delay} ms`);
    slot.respawnTimer = clock.setTimer(delay, () => void spawn(slot));
  };

  // Worker 0 first: with port 0 its bound port is the one the others share (Deno, Bun).
  await spawn(slots[0]!);
  let firstTimer: TimerId | undefined;
  const started = await Promise.race([firstHello.then(() => true), new Promise<boolean>((resolve) => (firstTimer = clock.setTimer(WORKER_HELLO_TIMEOUT_MS, () => resolve(false))))]);
  // Cleared, so a stopped leader on Node is not kept alive by it.
  if (firstTimer !== undefined) clock.clearTimer(firstTimer);
  if (!started || sharedPort === 0) {
    stopping = true;
    for (const s of slots) s.process?.kill('SIGKILL');
    await control.close();
    throw new Error(`worker 0 did not start within ${WORKER_HELLO_TIMEOUT_MS} ms`);
  }
  for (const slot of slots.slice(1)) await spawn(slot);

  return {
    get port() {
      return sharedPort;
    },
    count,
    runtime: workerRuntime,
    slots: () => slots.map((s) => ({ index: s.index, state: s.state, pid: s.pid, restarts: s.restarts, connections: s.open.size })),
    templateReleased: (template) => {
      // Encoded once, written to each worker (issue 13: the job's input crosses once per worker).
      const frame = encodeWorkerControl({ type: 'template', template });
      for (const slot of slots) if (slot.state === 'running' && slot.conn !== null && !slot.conn.closed) slot.conn.write(frame);
    },
    gateChanged: () => {
      const now = gateState();
      if (now.holding === sentGate.holding && now.refusingMiners === sentGate.refusingMiners) return;
      const expired = now.refusingMiners && !sentGate.refusingMiners;
      sentGate = now;
      for (const slot of slots) {
        if (slot.state !== 'running') continue;
        send(slot, { type: 'gate', ...now });
        if (expired) send(slot, { type: 'hold_expired' });
      }
    },
    blockSettled: (event) => {
      const owner = blockOwners.get(event.block_id);
      if (owner === undefined) return;
      blockOwners.delete(event.block_id);
      // `failed` (shutdown drain, overflow) is no node answer: the worker's record ends with its own drain.
      if (event.result === 'failed' || owner.slot.spawn !== owner.spawn || owner.slot.state !== 'running') return;
      const outcome: BlockSubmitOutcome = event.result === 'accepted' ? { kind: 'accepted' } : { kind: event.result, reason: event.reason ?? '' };
      send(owner.slot, { type: 'block_result', blockId: event.block_id, outcome });
    },
    kill: (index) => slots[index]?.process?.kill('SIGKILL'),
    stop: async () => {
      if (stopping) return;
      stopping = true;
      for (const slot of slots) {
        if (slot.respawnTimer !== undefined) clock.clearTimer(slot.respawnTimer);
        slot.respawnTimer = undefined;
        send(slot, { type: 'shutdown' });
      }
      const deadline = clock.monotonicMs() + config.timing.shutdown_drain_timeout_ms + 2000;
      while (slots.some((s) => s.process !== null && !s.process.exited) && clock.monotonicMs() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const slot of slots) slot.process?.kill('SIGKILL');
      await control.close();
    },
  };
}
