// Simulated SV2 miners over real TCP and Noise: our sans-IO MiningClient (core/client) driven
// over the runtime's TCP adapter (adapters/net). Used by integration tests, the demo and the
// benchmarks.
//
//  - MinerConnection: one socket ⇄ one MiningClient (the client-side pump: bytes in, bytes out,
//    one deadline timer), with `nextEvent` for scripted tests or an `onEvent` handler.
//  - Fleet: N miners, each opening one standard or extended channel, "hashing" with the CPU
//    share finder at a configured number of attempts per tick, submitting every share found
//    and counting what the server answered. Bounded in time (durationMs), in shares
//    (sharesMax) and in work per tick (attemptsPerTick × miners).
import { SystemClock } from './clock.ts';
import { systemRandom } from './random.ts';
import type { Clock, TimerId } from '../core/clock.ts';
import type { CryptoProvider } from '../core/crypto/provider.ts';
import { nobleProvider } from '../core/crypto/provider.ts';
import { doubleHashOf } from '../core/mining/hash.ts';
import type { RandomSource } from '../core/random.ts';
import type { CertificatePolicy } from '../core/noise/index.ts';
import { MiningClient, ShareFinder, type ClientEvent, type MiningClientOptions } from '../core/client/index.ts';
import { CLOSE_FLUSH_TIMEOUT_MS, connectTcp as defaultConnectTcp, type ConnectTcp, type TcpSocket } from './net/index.ts';

export interface MinerConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly provider?: CryptoProvider;
  readonly random?: RandomSource;
  /** Pinned authority key (x-only, 32 bytes), or explicitly `unverified`. */
  readonly certificatePolicy: CertificatePolicy;
  readonly clock?: Clock;
  readonly client?: Omit<MiningClientOptions, 'provider' | 'random' | 'certificatePolicy' | 'wallClock'>;
  /** Handle events as they arrive instead of queueing them for nextEvent. */
  readonly onEvent?: (event: ClientEvent) => void;
  /** Events kept for nextEvent (oldest dropped beyond it, counted). Default 10,000. */
  readonly queuedEventsMax?: number;
  readonly connectTcp?: ConnectTcp;
}

type _Waiter = {
  readonly match: (event: ClientEvent) => boolean;
  readonly resolve: (event: ClientEvent) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
};

/** One miner: a TCP socket pumped into a MiningClient. */
export class MinerConnection {
  readonly client: MiningClient;
  readonly #socket: TcpSocket;
  readonly #clock: Clock;
  readonly #onEvent: ((event: ClientEvent) => void) | undefined;
  readonly #queue: ClientEvent[] = [];
  readonly #queuedEventsMax: number;
  #waiter: _Waiter | undefined;
  #timer: TimerId | undefined;
  #timerAtMs: number | undefined;
  #socketClosed = false;
  #eventsDroppedHere = 0;
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>;

  private constructor(socket: TcpSocket, client: MiningClient, clock: Clock, options: MinerConnectionOptions) {
    this.#socket = socket;
    this.client = client;
    this.#clock = clock;
    this.#onEvent = options.onEvent;
    this.#queuedEventsMax = options.queuedEventsMax ?? 10_000;
    let markClosed!: () => void;
    this.closed = new Promise((resolve) => (markClosed = resolve));
    socket.onData((bytes) => {
      this.client.receive(bytes, this.#clock.monotonicMs());
      this.flush();
    });
    socket.onClose(() => {
      this.#socketClosed = true;
      if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
      this.#timer = undefined;
      if (this.client.state !== 'closed') {
        this.client.close({ code: 'peer-closed', origin: 'remote', message: 'the server closed the TCP connection' });
      }
      this.flush();
      markClosed();
    });
    this.flush();
  }

  /** Connect and start the Noise handshake (SetupConnection follows by itself). */
  static async connect(options: MinerConnectionOptions): Promise<MinerConnection> {
    const clock = options.clock ?? new SystemClock();
    const socket = await (options.connectTcp ?? defaultConnectTcp)({ host: options.host, port: options.port });
    const client = new MiningClient(
      {
        ...options.client,
        provider: options.provider ?? nobleProvider,
        random: options.random ?? systemRandom,
        certificatePolicy: options.certificatePolicy,
        wallClock: clock,
      },
      clock.monotonicMs(),
    );
    return new MinerConnection(socket, client, clock, options);
  }

  get socketClosed(): boolean {
    return this.#socketClosed;
  }

  /** Events dropped from the nextEvent queue (nobody waited for them). */
  get eventsDropped(): number {
    return this.#eventsDroppedHere;
  }

  /**
   * Move the client's output to the socket, dispatch its events, re-arm its deadline. Call
   * after every request made on `client` (open channel, submit share).
   */
  flush(): void {
    for (let bytes = this.client.pollTransmit(); bytes !== undefined; bytes = this.client.pollTransmit()) {
      if (!this.#socketClosed) this.#socket.write(bytes);
    }
    for (let event = this.client.pollEvent(); event !== undefined; event = this.client.pollEvent()) this.#dispatch(event);
    // The client closed itself (setup refused, timeout, bad frame): its last bytes are out.
    if (this.client.state === 'closed' && !this.#socketClosed) this.#socket.close();
    this.#arm();
  }

  /** The next event of `type` (or matching `match`), skipping others; rejects on timeout or close. */
  nextEvent<T extends ClientEvent['type']>(type: T, timeoutMs: number, match: (event: Extract<ClientEvent, { type: T }>) => boolean = () => true): Promise<Extract<ClientEvent, { type: T }>> {
    if (this.#waiter !== undefined) throw new TypeError('nextEvent: one wait at a time');
    const matches = (event: ClientEvent): boolean => event.type === type && match(event as Extract<ClientEvent, { type: T }>);
    const index = this.#queue.findIndex(matches);
    if (index >= 0) return Promise.resolve(this.#queue.splice(index, 1)[0] as Extract<ClientEvent, { type: T }>);
    const closed = this.#queue.find((e) => e.type === 'closed');
    if (closed !== undefined && type !== 'closed') return Promise.reject(new Error(`waiting for ${type}: client closed (${_describe(closed)})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`timeout after ${timeoutMs} ms waiting for ${type}; queued: ${this.#queue.map((e) => e.type).join(', ') || 'nothing'}`));
      }, timeoutMs);
      this.#waiter = { match: matches, resolve: resolve as (event: ClientEvent) => void, reject, timer };
    });
  }

  /** Events received and not yet taken by nextEvent. */
  get queuedEvents(): readonly ClientEvent[] {
    return this.#queue;
  }

  /** Stop reading from the socket (simulates a miner that does not read; TCP pushes back). */
  pauseReading(): void {
    this.#socket.pause();
  }

  resumeReading(): void {
    this.#socket.resume();
  }

  /** Close the client (its bytes flushed) and the socket. */
  close(): void {
    if (this.client.state !== 'closed') this.client.close();
    this.flush();
    if (!this.#socketClosed) this.#socket.close();
  }

  /** Close at once, discarding unsent bytes. */
  abort(): void {
    if (this.client.state !== 'closed') this.client.close();
    while (this.client.pollTransmit() !== undefined);
    this.#socket.abort();
  }

  #dispatch(event: ClientEvent): void {
    if (this.#onEvent !== undefined) {
      this.#onEvent(event);
      return;
    }
    const waiter = this.#waiter;
    if (waiter !== undefined && waiter.match(event)) {
      this.#waiter = undefined;
      clearTimeout(waiter.timer);
      waiter.resolve(event);
      return;
    }
    if (this.#queue.length >= this.#queuedEventsMax) {
      this.#queue.shift();
      this.#eventsDroppedHere++;
    }
    this.#queue.push(event);
    if (waiter !== undefined && event.type === 'closed') {
      this.#waiter = undefined;
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`client closed while waiting: ${_describe(event)}`));
    }
  }

  #arm(): void {
    const at = this.#socketClosed ? undefined : this.client.nextDeadlineMs();
    if (at === this.#timerAtMs) return;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#timerAtMs = at;
    if (at === undefined) return;
    this.#timer = this.#clock.setTimer(Math.max(0, at - this.#clock.monotonicMs()), () => {
      this.#timer = undefined;
      this.#timerAtMs = undefined;
      this.client.onTimeout(this.#clock.monotonicMs());
      this.flush();
    });
  }
}

function _describe(event: ClientEvent): string {
  return event.type === 'closed' ? `${event.error.code}: ${event.error.message}` : event.type;
}

// ---- the fleet -------------------------------------------------------------------------------

export type FleetChannelKind = 'standard' | 'extended' | 'mixed';

export interface FleetOptions {
  readonly host: string;
  readonly port: number;
  /** Pinned authority key (x-only, 32 bytes) or explicitly `unverified`. */
  readonly certificatePolicy: CertificatePolicy;
  /** Number of simulated miners (connections), 1..100,000. */
  readonly miners: number;
  /** Channel per miner; `mixed` alternates standard (even index) and extended (odd). */
  readonly channel?: FleetChannelKind;
  /** user_identity of miner i; default `fleet.m<i>`. */
  readonly userIdentity?: (index: number) => string;
  /** Worker TLV name per share (extended channels; requests extension 0x0002). */
  readonly workerName?: (index: number) => string;
  /** nominal_hash_rate sent in the open request (H/s); default derived from attemptsPerTick/tickMs. */
  readonly nominalHashRate?: number;
  /** Hash rate emulation: nonces tried per miner per tick. */
  readonly attemptsPerTick: number;
  readonly tickMs: number;
  /** Hard bound on the run; the fleet stops (and closes every miner) after it. */
  readonly durationMs: number;
  /** Stop after this many shares were submitted in total (default: no bound beyond time). */
  readonly sharesMax?: number;
  /** Connections opened at once while starting (default 64). */
  readonly connectConcurrency?: number;
  readonly provider?: CryptoProvider;
  readonly random?: RandomSource;
  readonly clock?: Clock;
  readonly connectTcp?: ConnectTcp;
  /** Every client event of every miner (tests, the demo's log). Must not throw. */
  readonly onEvent?: (minerIndex: number, event: ClientEvent) => void;
}

export interface FleetStats {
  readonly miners: number;
  connected: number;
  connectFailures: number;
  setupDone: number;
  channelsOpened: number;
  channelOpenFailures: number;
  jobs: number;
  prevHashes: number;
  hashes: number;
  sharesSubmitted: number;
  sharesAccepted: number;
  sharesRejected: number;
  rejectedByCode: Record<string, number>;
  /** Shares whose hash met the network target (the server should report a block for each). */
  blockCandidates: number;
  disconnects: number;
  /** The first few distinct failure messages (bounded). */
  errors: string[];
  elapsedMs: number;
}

const FLEET_ERRORS_MAX = 20;

interface _Miner {
  readonly index: number;
  connection: MinerConnection | undefined;
  channelId: number | undefined;
  finder: ShareFinder | undefined;
  /** New job, prev hash, target or prefix: rebuild the work on the next tick. */
  stale: boolean;
  /** Setup finished before connect() returned the connection: open the channel once it has. */
  openPending: boolean;
}

/** N simulated miners; see the file header. Start with `Fleet.start`. */
export class Fleet {
  readonly #options: FleetOptions;
  readonly #clock: Clock;
  readonly #miners: _Miner[] = [];
  readonly #stats: FleetStats;
  readonly #startedMs: number;
  #tickTimer: TimerId | undefined;
  #endTimer: TimerId | undefined;
  #stopped = false;
  #finish!: (stats: FleetStats) => void;
  /** Resolves with the final stats when the fleet stops (duration, sharesMax or stop()). */
  readonly done: Promise<FleetStats>;

  private constructor(options: FleetOptions) {
    this.#options = options;
    this.#clock = options.clock ?? new SystemClock();
    this.#startedMs = this.#clock.monotonicMs();
    this.#stats = {
      miners: options.miners, connected: 0, connectFailures: 0, setupDone: 0, channelsOpened: 0, channelOpenFailures: 0,
      jobs: 0, prevHashes: 0, hashes: 0, sharesSubmitted: 0, sharesAccepted: 0, sharesRejected: 0, rejectedByCode: {},
      blockCandidates: 0, disconnects: 0, errors: [], elapsedMs: 0,
    };
    this.done = new Promise((resolve) => (this.#finish = resolve));
  }

  /** Connect every miner (bounded concurrency), then tick until a bound is reached. */
  static async start(options: FleetOptions): Promise<Fleet> {
    _checkFleetOptions(options);
    const fleet = new Fleet(options);
    fleet.#endTimer = fleet.#clock.setTimer(options.durationMs, () => void fleet.stop());
    await fleet.#connectAll();
    if (!fleet.#stopped) fleet.#scheduleTick();
    return fleet;
  }

  /** A snapshot of the counters. */
  get stats(): FleetStats {
    return { ...this.#stats, rejectedByCode: { ...this.#stats.rejectedByCode }, errors: [...this.#stats.errors], elapsedMs: this.#clock.monotonicMs() - this.#startedMs };
  }

  /** Stop ticking and close every miner; resolves with the final stats. Idempotent. */
  async stop(): Promise<FleetStats> {
    if (!this.#stopped) {
      this.#stopped = true;
      if (this.#tickTimer !== undefined) this.#clock.clearTimer(this.#tickTimer);
      if (this.#endTimer !== undefined) this.#clock.clearTimer(this.#endTimer);
      const closing: Promise<void>[] = [];
      for (const miner of this.#miners) {
        if (miner.connection === undefined) continue;
        miner.connection.close();
        closing.push(miner.connection.closed);
      }
      // Sockets close within CLOSE_FLUSH_TIMEOUT_MS; do not wait longer than that for stragglers.
      // The guard timer is cleared once they are closed, so it never keeps the process alive.
      let guard: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(closing),
        new Promise((resolve) => {
          guard = setTimeout(resolve, CLOSE_FLUSH_TIMEOUT_MS + 1000);
        }),
      ]);
      clearTimeout(guard);
      this.#finish(this.stats);
    }
    return this.done;
  }

  async #connectAll(): Promise<void> {
    const options = this.#options;
    const concurrency = options.connectConcurrency ?? 64;
    for (let i = 0; i < options.miners; i++) this.#miners.push({ index: i, connection: undefined, channelId: undefined, finder: undefined, stale: true, openPending: false });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.#miners.length && !this.#stopped) {
        const miner = this.#miners[next++]!;
        try {
          miner.connection = await MinerConnection.connect({
            host: options.host,
            port: options.port,
            certificatePolicy: options.certificatePolicy,
            clock: this.#clock,
            ...(options.provider === undefined ? {} : { provider: options.provider }),
            ...(options.random === undefined ? {} : { random: options.random }),
            ...(options.connectTcp === undefined ? {} : { connectTcp: options.connectTcp }),
            client: {
              setup: { deviceId: `fleet-${miner.index}` },
              ...(options.workerName === undefined ? {} : { requestExtensions: [0x0002] }),
              // The client's hash defaults to its provider's (core/mining/hash.ts doubleHashOf):
              // pure-TS double SHA-256, or the native one where it is faster (Bun).
            },
            onEvent: (event) => this.#onEvent(miner, event),
          });
          this.#stats.connected++;
          if (this.#stopped) miner.connection.close();
          else if (miner.openPending) this.#openChannel(miner);
        } catch (error) {
          this.#stats.connectFailures++;
          this.#error(`connect: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, options.miners) }, worker));
  }

  #onEvent(miner: _Miner, event: ClientEvent): void {
    const stats = this.#stats;
    switch (event.type) {
      case 'setup_success':
        stats.setupDone++;
        // Opened after this dispatch returns (requests made inside the client's own event
        // dispatch would interleave with it); deferred further if connect() has not returned.
        miner.openPending = true;
        queueMicrotask(() => this.#openChannel(miner));
        break;
      case 'channel_opened':
        stats.channelsOpened++;
        miner.channelId = event.channel_id;
        miner.stale = true;
        break;
      case 'channel_open_failed':
        stats.channelOpenFailures++;
        this.#error(`open channel: ${event.error_code}`);
        break;
      case 'new_job':
        stats.jobs++;
        miner.stale = true;
        break;
      case 'new_prev_hash':
        stats.prevHashes++;
        miner.stale = true;
        break;
      case 'target_changed':
      case 'extranonce_prefix_changed':
        miner.stale = true;
        break;
      case 'shares_accepted':
        stats.sharesAccepted += event.accepted_count;
        break;
      case 'share_rejected':
        stats.sharesRejected++;
        stats.rejectedByCode[event.error_code] = (stats.rejectedByCode[event.error_code] ?? 0) + 1;
        break;
      case 'channel_closed':
        if (event.channel_id === miner.channelId) miner.channelId = undefined;
        break;
      case 'closed':
        if (!this.#stopped) {
          stats.disconnects++;
          this.#error(`miner ${miner.index} closed: ${event.error.code} (${event.error.message})`);
        }
        miner.channelId = undefined;
        break;
      default:
        break;
    }
    this.#options.onEvent?.(miner.index, event);
  }

  #openChannel(miner: _Miner): void {
    const connection = miner.connection;
    if (connection === undefined || !miner.openPending || connection.client.state !== 'ready' || this.#stopped) return;
    miner.openPending = false;
    const options = this.#options;
    const kind = options.channel === 'mixed' ? (miner.index % 2 === 0 ? 'standard' : 'extended') : (options.channel ?? 'extended');
    const userIdentity = options.userIdentity?.(miner.index) ?? `fleet.m${miner.index}`;
    const nominalHashRate = options.nominalHashRate ?? (options.attemptsPerTick * 1000) / options.tickMs;
    if (kind === 'standard') connection.client.openStandardChannel({ userIdentity, nominalHashRate });
    else connection.client.openExtendedChannel({ userIdentity, nominalHashRate });
    connection.flush();
  }

  #scheduleTick(): void {
    this.#tickTimer = this.#clock.setTimer(this.#options.tickMs, () => {
      this.#tickTimer = undefined;
      if (this.#stopped) return;
      this.#tick();
      if (!this.#stopped) this.#scheduleTick();
    });
  }

  /** One round of hashing for every miner with work, within its attempt budget. */
  #tick(): void {
    const options = this.#options;
    const stats = this.#stats;
    for (const miner of this.#miners) {
      const connection = miner.connection;
      if (connection === undefined || miner.channelId === undefined || connection.client.state !== 'ready') continue;
      let budget = options.attemptsPerTick;
      // Bounded: every pass either spends attempts or gets new work, at most a few times a tick.
      for (let pass = 0; budget > 0 && pass < 8; pass++) {
        if (miner.stale || miner.finder === undefined) {
          const work = connection.client.work(miner.channelId);
          if (work === undefined) break;
          miner.finder = new ShareFinder(work, { sha256d: doubleHashOf(options.provider ?? nobleProvider) });
          miner.stale = false;
        }
        const result = miner.finder.search(budget);
        budget -= result.attempts;
        stats.hashes += result.attempts;
        if (result.share !== undefined) {
          const work = miner.finder.work;
          if (result.share.isBlock) stats.blockCandidates++;
          connection.client.submitShare(miner.channelId, {
            jobId: work.jobId,
            nonce: result.share.nonce,
            ntime: result.share.ntime,
            version: result.share.version,
            ...(connection.client.channel(miner.channelId)?.kind === 'extended' ? { extranonce: work.extranonce } : {}),
            ...(options.workerName !== undefined && connection.client.negotiatedExtensions.includes(0x0002) ? { worker: options.workerName(miner.index) } : {}),
          });
          stats.sharesSubmitted++;
          if (options.sharesMax !== undefined && stats.sharesSubmitted >= options.sharesMax) {
            connection.flush();
            void this.stop();
            return;
          }
        }
        if (result.exhausted) miner.stale = true;
      }
      connection.flush();
    }
  }

  #error(message: string): void {
    const errors = this.#stats.errors;
    if (errors.length < FLEET_ERRORS_MAX && !errors.includes(message)) errors.push(message);
  }
}

function _checkFleetOptions(options: FleetOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`Fleet: options must be an object, got ${String(options)}`);
  const int = (name: keyof FleetOptions, value: unknown, min: number, max: number): void => {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) throw new RangeError(`Fleet: ${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  };
  int('miners', options.miners, 1, 100_000);
  int('attemptsPerTick', options.attemptsPerTick, 0, 100_000_000);
  int('tickMs', options.tickMs, 1, 3_600_000);
  int('durationMs', options.durationMs, 1, 24 * 3_600_000);
  if (options.sharesMax !== undefined) int('sharesMax', options.sharesMax, 1, Number.MAX_SAFE_INTEGER);
  if (options.connectConcurrency !== undefined) int('connectConcurrency', options.connectConcurrency, 1, 10_000);
}

/** Start a fleet (see Fleet). */
export function startFleet(options: FleetOptions): Promise<Fleet> {
  return Fleet.start(options);
}
