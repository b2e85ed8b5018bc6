// One socket worker of a gateway.workers ≥ 2 gateway (issue 13 item 1, docs/scaling.md "One
// machine, many cores"): `reservegrid worker` (runtimes/commands/worker.ts), started by the
// leader (adapters/workers/leader.ts), never by hand.
//
// A worker owns its miners: it listens on the shared miner port (SO_REUSEPORT on Deno and Bun,
// the node:cluster handle on Node: adapters/net/types.ts ListenOptions), runs the Noise
// handshakes, channels and share validation in its own core Gateway, and encrypts and writes
// its miners' bytes. What it does not own comes from the leader over the control channel
// (core/gateway/worker-control.ts, one loopback TCP connection through adapters/net):
//
//   TEMPLATE      the template the leader's verdict gate released → gateway.releaseTemplate, so
//                 every worker builds the same job (same template id, merkle path, prev hash)
//                 from the same input; only the extranonce prefixes differ (the worker index is
//                 in the counter's top bits, core/channels/extranonce.ts)
//   GATE          the leader's stale hold (shares marked stale_hold; new miners refused)
//   HOLD_EXPIRED  disconnect every miner (SPEC §6), as the gate does in one process
//   BLOCK_RESULT  the node's definitive answer to a block this worker found (the leader
//                 submits it and retries transport errors itself)
//   TOKEN_ANSWER  the leader's check of a SetCustomMiningJob's token ([job_declaration]: the
//                 tokens are the leader's; this worker sent TOKEN_CHECK and its session holds
//                 that connection's input until the answer, core/gateway/work-selection.ts)
//   SHUTDOWN      graceful stop: CloseChannel 'shutdown' to every channel, as `run` does
//
// Journal first, then acknowledge, across processes (docs/share-forwarding.md "Durability"):
// every pass's events go to the leader in one EVENTS frame; a frame with share_accepted or
// block_found wants an ACK, which the leader sends once it journaled (and logged) them. The
// pump's transmitGate (adapters/gateway-server.ts) holds the pass's bytes — among them the
// SubmitShares.Success for those shares — and every later pass's, in order, until that ACK. So
// a kill -9 of a worker never loses a share a miner holds an acknowledgement for.
//
// The leader going away (control channel closed or malformed) ends the worker at once: its
// miners reconnect to the next leader's workers; a worker never serves without a leader.
import type { Clock } from '../../core/clock.ts';
import type { Config } from '../../core/config/schema.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';
import { createGateway } from '../../core/gateway/create.ts';
import type { Gateway } from '../../core/gateway/gateway.ts';
import type { BlockSubmitOutcome, SubmitBlockCommand } from '../../core/gateway/block-submitter.ts';
import { parseCidr } from '../../core/gateway/proxy-protocol.ts';
import { encodeWorkerControl, WorkerControlDecoder, type WorkerControlMessage } from '../../core/gateway/worker-control.ts';
import { CUSTOM_JOB_TOKEN_CHECK_TIMEOUT_MS, type CustomJobTokenCheck } from '../../core/gateway/work-selection.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { EmbeddedVerifier } from '../../core/policy/embedded-verifier.ts';
import { PolicyEngine, policySettingsFromConfig } from '../../core/policy/engine.ts';
import type { RandomSource } from '../../core/random.ts';
import { selectCryptoProvider } from '../crypto-native.ts';
import { serveGateway, type GatewayServer } from '../gateway-server.ts';
import { parseListenAddr, responderIdentityFromConfig } from '../gateway-stack.ts';
import { connectTcp as defaultConnectTcp, type ConnectTcp, type ListenTcp, type TcpAddress } from '../net/index.ts';

/** Connection ids of one worker start: spawn number × 2^32 (unique across workers and respawns). */
export const WORKER_CONN_ID_STRIDE = 2 ** 32;

export interface SocketWorkerOptions {
  readonly config: Config;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly provider?: CryptoProvider;
  /** The leader's control listener (loopback). */
  readonly leader: TcpAddress;
  /** This worker's index, 0..count-1, and the number of workers. */
  readonly index: number;
  readonly count: number;
  /** The leader's spawn number for this process (1, 2, ...): the connection-id base. */
  readonly spawn: number;
  /** The miner port to bind with reusePort (the configured one, or the first worker's). */
  readonly port: number;
  /** This process's id, reported in HELLO. */
  readonly pid: number;
  readonly connectTcp?: ConnectTcp;
  readonly listenTcp?: ListenTcp;
}

export interface SocketWorker {
  readonly gateway: Gateway;
  readonly server: GatewayServer;
  /** Resolves with the exit code: 0 after SHUTDOWN or stop(), 1 when the leader went away. */
  readonly done: Promise<number>;
  /** Why the leader connection ended abnormally (for the worker's stderr), else null. */
  readonly leaderError: string | null;
  /** Graceful stop (as SHUTDOWN). Idempotent. */
  stop(): Promise<void>;
}

/** Shares and blocks need the leader's journal before their acknowledgement leaves (header). */
const ACKED_TYPES = new Set(['share_accepted', 'block_found']);

export async function startSocketWorker(options: SocketWorkerOptions): Promise<SocketWorker> {
  const { config, clock, random, index, count, spawn } = options;
  if (!(Number.isInteger(count) && count >= 2 && Number.isInteger(index) && index >= 0 && index < count)) {
    throw new RangeError(`startSocketWorker: index must be in 0..count-1 with count >= 2, got index ${index}, count ${count}`);
  }
  if (!(Number.isInteger(spawn) && spawn >= 1 && spawn < 2 ** 21)) throw new RangeError(`startSocketWorker: spawn must be an integer 1..2^21-1, got ${spawn}`);
  const provider = options.provider ?? selectCryptoProvider('auto');
  const listen = parseListenAddr(config.gateway.listen_addr);
  // The worker serves miners only: the Template Provider and Job Declaration ports are the leader's.
  const workerConfig: Config = {
    ...config,
    template_provider: { ...config.template_provider, listen_addr: undefined },
    job_declaration: { ...config.job_declaration, listen_addr: undefined },
  } as Config;
  const control = await (options.connectTcp ?? defaultConnectTcp)(options.leader);
  const send = (message: WorkerControlMessage): void => {
    if (!control.closed) control.write(encodeWorkerControl(message));
  };

  const gateway = createGateway(workerConfig, {
    provider,
    random,
    identity: responderIdentityFromConfig(config, random),
    nowMs: clock.monotonicMs(),
    // Never asked: this gateway's own gate sees no template (templateUpdated is the leader's).
    // Inline mode needs one to be constructed.
    verifier: new EmbeddedVerifier(new PolicyEngine(policySettingsFromConfig(config))),
    worker: { index, count, connIdBase: spawn * WORKER_CONN_ID_STRIDE },
    // [job_declaration]: the JD port and its tokens are the leader's; SetCustomMiningJob asks it.
    ...(config.job_declaration.listen_addr !== undefined && config.mining.allow_work_selection
      ? { remoteCustomJobTokens: { timeoutMs: CUSTOM_JOB_TOKEN_CHECK_TIMEOUT_MS, request: (check: CustomJobTokenCheck) => send({ type: 'token_check', check }) } }
      : {}),
  });

  // ---- events to the leader, acks back ------------------------------------------------------
  let pending: unknown[] = [];
  let pendingWantsAck = false;
  let flushQueued = false;
  let batch = 0;
  let wantedBatch = 0;
  let ackedBatch = 0;
  let ackWaiters: { readonly batch: number; readonly resolve: () => void }[] = [];
  const flushEvents = (): void => {
    flushQueued = false;
    if (pending.length === 0) return;
    batch = batch === 0xffffffff ? 1 : batch + 1;
    send({ type: 'events', batch, wantsAck: pendingWantsAck, events: pending });
    if (pendingWantsAck) wantedBatch = batch;
    pending = [];
    pendingWantsAck = false;
  };
  const transmitGate = (): Promise<void> | undefined => {
    flushEvents();
    if (wantedBatch === ackedBatch) return undefined;
    const want = wantedBatch;
    return new Promise<void>((resolve) => ackWaiters.push({ batch: want, resolve }));
  };

  let server: GatewayServer | undefined;
  const service = (): void => server?.service();
  try {
    server = await serveGateway({
      gateway,
      clock,
      listen: { host: listen.bindHost, port: options.port },
      listenOptions: { reusePort: true },
      ...(options.listenTcp === undefined ? {} : { listenTcp: options.listenTcp }),
      onEvent: (event) => {
        const { seq: _seq, ts: _ts, ...bare } = event;
        pending.push(bare);
        if (ACKED_TYPES.has(event.type)) pendingWantsAck = true;
        if (!flushQueued) {
          flushQueued = true;
          queueMicrotask(flushEvents);
        }
      },
      // Found blocks go to the leader, whose gateway submits them and keeps the retry schedule
      // (Gateway.adoptWorkerBlock: a kill of this worker does not end it); the node's definitive
      // answer comes back as BLOCK_RESULT and settles this gateway's record of the block.
      onCommand: (command: SubmitBlockCommand) => {
        flushEvents();
        send({ type: 'submit_block', command });
      },
      transmitGate,
      ...(config.gateway.proxy_protocol === 'v2'
        ? { proxyProtocol: { trustedSources: config.gateway.proxy_trusted_sources.map((t) => parseCidr(t)!), headerTimeoutMs: config.timing.handshake_timeout_ms, maxConnections: config.gateway.max_connections } }
        : {}),
    });
  } catch (error) {
    control.abort();
    throw error;
  }
  const runningServer = server;

  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  let stopping: Promise<void> | undefined;
  let lastError: string | null = null;
  const stop = (code = 0): Promise<void> => {
    stopping ??= (async () => {
      try {
        await runningServer.shutdown(config.timing.shutdown_drain_timeout_ms + 1000);
      } finally {
        flushEvents();
        control.close();
        resolveDone(code);
      }
    })();
    return stopping;
  };
  const leaderGone = (why: string): void => {
    if (stopping !== undefined) return;
    // No leader: nothing can be journaled, so nothing more may be acknowledged. Abort at once.
    lastError = why;
    stopping = (async () => {
      await runningServer.close();
      resolveDone(1);
    })();
  };

  const decoder = new WorkerControlDecoder();
  const onMessage = (message: WorkerControlMessage): void => {
    const now = clock.monotonicMs();
    switch (message.type) {
      case 'template':
        gateway.releaseTemplate(message.template as BlockTemplate, now);
        service();
        return;
      case 'gate':
        gateway.followLeaderGate(message);
        return;
      case 'hold_expired':
        gateway.leaderHoldExpired(now);
        service();
        return;
      case 'ack': {
        ackedBatch = message.batch;
        const ready = ackWaiters.filter((w) => _batchDone(w.batch, message.batch));
        ackWaiters = ackWaiters.filter((w) => !_batchDone(w.batch, message.batch));
        for (const w of ready) w.resolve();
        return;
      }
      case 'block_result':
        gateway.blockSubmitResult(message.blockId, message.outcome as BlockSubmitOutcome, now);
        service();
        return;
      case 'token_answer':
        gateway.customJobTokenAnswer(message.id, message.answer, now);
        service();
        return;
      case 'shutdown':
        void stop(0);
        return;
      default:
        // hello / events / submit_block / token_check travel the other way: the leader is broken.
        leaderGone(`unexpected ${message.type} from the leader`);
    }
  };
  control.onData((bytes: Uint8Array) => {
    decoder.push(bytes);
    for (let m = decoder.poll(); m !== undefined; m = decoder.poll()) onMessage(m);
    if (decoder.error !== null) {
      leaderGone(decoder.error.message);
      control.abort();
    }
  });
  control.onClose(() => leaderGone('control channel closed'));
  send({ type: 'hello', index, pid: options.pid, port: runningServer.port });
  return {
    gateway,
    server: runningServer,
    done,
    get leaderError() {
      return lastError;
    },
    stop: () => stop(0),
  };
}

/** Acks are cumulative; batch numbers wrap at 2^32 (a wrap is billions of passes away). */
function _batchDone(waiting: number, acked: number): boolean {
  return waiting <= acked || waiting - acked > 0x7fffffff;
}
