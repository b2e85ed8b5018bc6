// Seeded fault simulation of the whole gateway core (issue 12 build item 2), after TigerBeetle's
// VOPR: one PRNG, seeded by a printed seed, drives everything: which action comes next, the
// miners (our SV2 client, core/client, over in-memory Noise), the template source (new blocks,
// fee bumps, easy-nbits blocks), the verifier (latency, outages, dropped requests, arbitrary but
// well-formed verdicts), the share backend (core/forwarding/sink.ts behind latencies, HTTP
// errors, drops, duplicate deliveries and restarts), the Bitcoin node that takes found blocks,
// and process crashes at random points of a pump pass with journal recovery. Time is a
// FakeClock; nothing here reads a real clock or real randomness, so a seed replays exactly.
//
// What a crash keeps (the kill -9 model of adapters/share-journal-file.ts and event-log.ts):
// the journal's records that were written to the OS (`flush`), and the event-log lines that were
// written; everything else of the process (gateway, forwarder, in-flight requests, buffered
// records, transmits not yet handed to the socket) is gone. Miners, the backend, the verifier
// service and the node are other processes and survive; the miners' connections do not.
//
// One pump pass follows the order the real stack must keep (docs/share-forwarding.md
// "Durability"; SPEC §4 "submitted before anything else"):
//   1. bytes from miners → gateway; verifier outcomes → gateway
//   2. submit_block commands → the node at once
//   3. gateway events → forwarder (share_accepted → accept, journaled in the buffer)
//   4. journal flush (the records reach the OS)          ← crash point "before-flush"
//   5. event-log write of the pass's events              ← crash point "journal-not-log"
//   6. transmits → miners (acks), posts → backend        ← crash point "before-delivery"
// The injectable defects (SimDefect) break exactly one of these rules, to prove that the
// invariants catch it (test/unit/simulation.test.ts).
//
// Invariants, checked as they become decidable, i.e. after every pass of every step (names are
// what a violation reports):
//   ack-not-durable      a share the miner saw acknowledged is not in the durable journal (nor
//                        settled in the log) at that moment
//   result-twice         a second share_forward_result for one share id, in any run
//   result-without-share a result for an id neither logged as accepted nor journaled
//   resent-after-settle  a share journaled as settled was settled again (re-sent after restart)
//   ok-not-at-backend    a result `ok` for a share the backend never stored
//   backend-double-count the backend counted one share id as new twice
//   block-not-submitted  a logged block_found whose block never reached the node
//   unverified-job       inline: a template released to miners without the verdict the mode
//                        needs (fail_closed: accepted; permit_all: accepted or timed out, never
//                        rejected), or a miner working on a prevhash never released
//   disconnect-order     a stale-hold burst of miner_disconnected not in ascending conn_id
//   queue-unbounded      more unsettled shares than queue size + recovered
//   bad-request          the backend (core/forwarding/sink.ts) refused a request's signature or body
//   livelock             a pump that never settles (1000 passes)
//   result-missing       at the end (after a quiet drain and a graceful shutdown): a logged
//                        share_accepted or an acknowledged share without exactly one settlement
//   lost-in-journal      at the end: the journal still holds unsettled shares after shutdown
import { readFileSync } from 'node:fs';
import { bytesToHex, hexToBytes, utf8 } from '../../../core/bytes.ts';
import { FakeClock } from '../../../core/clock.ts';
import type { CryptoProvider } from '../../../core/crypto/provider.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { selectCryptoProvider } from '../../../adapters/crypto-native.ts';
import { MiningClient, ShareFinder } from '../../../core/client/index.ts';
import {
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  ShareForwarder,
  ShareSink,
  type ForwardCommand,
  type ForwardStatus,
  type PostOutcome,
  type ShareForwardEvent,
  type ShareJournal,
  type ShareRecord,
} from '../../../core/forwarding/index.ts';
import { shareRecordFromEvent } from '../../../core/forwarding/forwarder.ts';
import { Gateway, type GatewayEvent, type GatewayMode } from '../../../core/gateway/index.ts';
import type { BlockSubmitOutcome, SubmitBlockCommand } from '../../../core/gateway/block-submitter.ts';
import type { UpstreamFailurePolicy } from '../../../core/gateway/verdict-gate.ts';
import { ResponderIdentity, generateAuthorityKeyPair } from '../../../core/noise/index.ts';
import { acceptedVerdict, rejectedVerdict, unavailableOutcome, type TemplateVerifier, type VerdictOutcome, type VerdictRequest } from '../../../core/policy/types.ts';
import { SeededRandom } from '../../../core/random.ts';
import { parseGetBlockTemplate } from '../../../core/template/gbt.ts';
import type { BlockTemplate } from '../../../core/template/template.ts';

const GBT = JSON.parse(readFileSync(new URL('../../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const SECRET = 'simulation-secret-0123456789';
const WALL0_MS = 1_700_000_000_000;
const START_MS = 10_000;
const PAYOUT = hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6');
/** Hard nbits: a share is never a block. Easy (regtest) nbits: about every other share is one. */
const HARD_BITS = '1e00ffff';
const EASY_BITS = '207fffff';
const VERDICT_TIMEOUT_MS = 50;
const STALE_HOLD_MS = 5000;
const FORWARD_TIMEOUT_MS = 400;

export type SimDefect =
  /** The forwarder's result for one share never reaches the log (a forwarder that loses a result). */
  | 'drop-result'
  /** The driver hands acks to miners before the journal flush (SubmitShares.Success before journal). */
  | 'ack-before-journal'
  /** The driver publishes one share_forward_result twice. */
  | 'double-result'
  /** The journal loses one share's accepted record (a journal that skips a write). */
  | 'journal-skips-accept';

export interface SimOptions {
  readonly seed: number;
  /** Random actions before the final drain (default 120). */
  readonly steps?: number;
  readonly defect?: SimDefect;
  /**
   * Crypto for Noise and signatures. Default: the runtime's native provider where it has one
   * (adapters/crypto-native.ts, checked against noble at start-up), which halves the cost of the
   * handshakes that dominate a seed; results do not depend on it (no randomness inside).
   */
  readonly provider?: CryptoProvider;
  /** Every action, crash and notable event, one line each (the CLI prints them). */
  readonly trace?: (line: string) => void;
}

export interface SimViolation {
  readonly invariant: Invariant;
  readonly step: number;
  readonly detail: string;
}

export interface SimStats {
  steps: number;
  passes: number;
  crashes: number;
  restarts: number;
  connects: number;
  sharesSubmitted: number;
  sharesAcked: number;
  sharesAccepted: number;
  results: number;
  recovered: number;
  blocksFound: number;
  blocksAtNode: number;
  posts: number;
  templates: number;
  released: number;
  staleHoldDisconnects: number;
  /** Blocks that never reached the node: their finder was killed, or gave up at a graceful
   * shutdown's drain deadline; the block_found / block_submit_result line holds the hex. */
  blocksLeftToLog: number;
  simulatedMs: number;
}

export interface SimReport {
  readonly seed: number;
  readonly mode: GatewayMode;
  readonly policy: UpstreamFailurePolicy;
  readonly defect: SimDefect | undefined;
  readonly violation: SimViolation | undefined;
  readonly stats: SimStats;
  /** FNV-1a of the whole trace (actions, events, answers): equal for equal seeds. */
  readonly digest: string;
}

/** Every invariant the simulator checks, by the name a violation reports (docs/simulation.md). */
export const INVARIANTS = [
  'ack-not-durable',
  'result-twice',
  'result-without-share',
  'resent-after-settle',
  'ok-not-at-backend',
  'backend-double-count',
  'bad-request',
  'block-not-submitted',
  'unverified-job',
  'disconnect-order',
  'queue-unbounded',
  'livelock',
  'result-missing',
  'lost-in-journal',
] as const;
export type Invariant = (typeof INVARIANTS)[number];

class _Violation extends Error {
  constructor(readonly invariant: Invariant, readonly detail: string) {
    super(`${invariant}: ${detail}`);
  }
}

class _Crash extends Error {
  constructor(readonly point: CrashPoint) {
    super(`crash ${point}`);
  }
}

type CrashPoint = 'before-flush' | 'journal-not-log' | 'before-delivery';
const CRASH_POINTS: readonly CrashPoint[] = ['before-flush', 'journal-not-log', 'before-delivery'];

// ---- the disk: durable journal lines and event-log lines -------------------------------------

/**
 * The share journal as adapters/share-journal-file.ts writes it (`{"a":share}` / `{"s":id,"r":status}`
 * JSON lines), over an in-memory disk: records are buffered, `flush`/`commit` move them to the
 * durable lines, a crash drops the buffer. Recovery replays the durable lines the same way.
 */
class SimDiskJournal implements ShareJournal {
  #buffer: string[] = [];
  constructor(readonly durable: string[], readonly skipOneAccept: { pending: boolean } | undefined) {}
  accepted(_share: ShareRecord, json: string): void {
    if (this.skipOneAccept?.pending) {
      this.skipOneAccept.pending = false; // the injected defect: this record never reaches the disk
      return;
    }
    this.#buffer.push(`{"a":${json}}`);
  }
  settled(shareId: string, status: ForwardStatus): void {
    this.#buffer.push(JSON.stringify({ s: shareId, r: status }));
  }
  commit(): void {
    this.flush();
  }
  flush(): void {
    for (const line of this.#buffer) this.durable.push(line);
    this.#buffer = [];
  }
}

interface JournalView {
  readonly accepted: Set<string>;
  readonly settled: Map<string, string>;
  readonly unsettled: ShareRecord[];
}

function readJournal(lines: readonly string[]): JournalView {
  const accepted = new Set<string>();
  const settled = new Map<string, string>();
  const live = new Map<string, ShareRecord>();
  for (const line of lines) {
    const record = JSON.parse(line) as { a?: ShareRecord; s?: string; r?: string };
    if (record.a !== undefined) {
      accepted.add(record.a.share_id);
      live.set(record.a.share_id, record.a);
    } else if (record.s !== undefined) {
      settled.set(record.s, record.r ?? '');
      live.delete(record.s);
    }
  }
  return { accepted, settled, unsettled: [...live.values()] };
}

// ---- templates ---------------------------------------------------------------------------------

function makeTemplate(prevIndex: number, templateId: bigint, easy: boolean, curtimeBump: number): BlockTemplate {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = easy ? EASY_BITS : HARD_BITS;
  json['previousblockhash'] = prevIndex.toString(16).padStart(64, 'c');
  json['curtime'] = (json['curtime'] as number) + curtimeBump;
  const parsed = parseGetBlockTemplate(json, { templateId });
  if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
  return parsed.value;
}

// ---- the verifier (client side, sans-IO, as TemplateVerifier) -------------------------------

/**
 * A verifier whose every answer is drawn: latency, an outage (unavailable at once), a dropped
 * request (the request's own deadline answers verdict_timeout, as the TemplateVerifier contract
 * requires), and the verdict itself — well-formed, for the asked template, but accept/reject at
 * random ("wrong answers within protocol": a policy the gateway cannot second-guess).
 */
class SimVerifier implements TemplateVerifier {
  readonly kind = 'remote' as const;
  #nextId = 1;
  #scheduled: { atMs: number; seq: number; outcome: VerdictOutcome }[] = [];
  #seq = 0;
  #ready: VerdictOutcome[] = [];
  /** Per template id: first request time, and the verdicts delivered (in this process). */
  readonly firstRequestMs = new Map<bigint, number>();
  /** Per prevhash (display hex): the first request for any template on it (the switch's t0). */
  readonly firstRequestByPrevMs = new Map<string, number>();
  readonly delivered = new Map<bigint, { accepted: boolean }[]>();
  /** Templates for which an 'unavailable' outcome (outage or request timeout) was delivered. */
  readonly unavailable = new Set<bigint>();
  constructor(readonly world: SimWorld) {}

  request(req: VerdictRequest, nowMs: number): number {
    const id = this.#nextId++;
    const w = this.world;
    const templateId = req.template.templateId;
    if (!this.firstRequestMs.has(templateId)) this.firstRequestMs.set(templateId, nowMs);
    const prev = _prevDisplay(req.template);
    if (!this.firstRequestByPrevMs.has(prev)) this.firstRequestByPrevMs.set(prev, nowMs);
    const fate = w.rng.nextInt(100);
    let note: string;
    if (w.verifierDown || fate < 5) {
      this.#ready.push(unavailableOutcome(id, templateId, 'verifier_unavailable', 'simulated outage', 0));
      note = 'unavailable';
    } else if (fate < 15) {
      this.#schedule(nowMs + req.timeoutMs, unavailableOutcome(id, templateId, 'verdict_timeout', `no answer in ${req.timeoutMs} ms`, req.timeoutMs));
      note = 'dropped';
    } else {
      const latencyMs = w.rng.nextInt(100) < 70 ? w.rng.nextInt(40) : w.rng.nextInt(3 * VERDICT_TIMEOUT_MS);
      const accepted = w.rng.nextInt(100) < 75;
      const verdict = accepted ? acceptedVerdict({ fee_tier: 'mid' }) : rejectedVerdict('avg_fee_below_minimum', 'simulated rejection', { fee_tier: 'mid' });
      const outcome: VerdictOutcome = { kind: 'verdict', requestId: id, templateId, verdict, latencyMs };
      if (latencyMs === 0) this.#ready.push(outcome);
      else this.#schedule(nowMs + latencyMs, outcome);
      note = `${accepted ? 'accept' : 'reject'} in ${latencyMs} ms`;
    }
    w.note(`verifier request ${id} template ${templateId}: ${note}`);
    return id;
  }

  #schedule(atMs: number, outcome: VerdictOutcome): void {
    this.#scheduled.push({ atMs, seq: this.#seq++, outcome });
  }

  pollOutcome(): VerdictOutcome | null {
    const o = this.#ready.shift();
    if (o === undefined) return null;
    if (o.kind === 'verdict') {
      const list = this.delivered.get(o.templateId) ?? [];
      list.push({ accepted: o.verdict.accepted });
      this.delivered.set(o.templateId, list);
    } else {
      this.unavailable.add(o.templateId);
    }
    return o;
  }

  nextDeadlineMs(): number | null {
    let min: number | null = null;
    for (const s of this.#scheduled) if (min === null || s.atMs < min) min = s.atMs;
    return min;
  }

  onTimeout(nowMs: number): void {
    const due = this.#scheduled.filter((s) => s.atMs <= nowMs).sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
    if (due.length === 0) return;
    this.#scheduled = this.#scheduled.filter((s) => s.atMs > nowMs);
    for (const s of due) this.#ready.push(s.outcome);
  }

  accepted(templateId: bigint): boolean {
    return (this.delivered.get(templateId) ?? []).some((d) => d.accepted);
  }
  rejected(templateId: bigint): boolean {
    return (this.delivered.get(templateId) ?? []).some((d) => !d.accepted);
  }
}

// ---- miners ------------------------------------------------------------------------------------

class SimMiner {
  client: MiningClient | undefined;
  connId: number | undefined;
  incarnation = 0;
  channelId: number | undefined;
  kind: 'standard' | 'extended';
  /** Set once the gateway closed the connection or crashed under it. */
  dead = true;
  constructor(readonly index: number) {
    this.kind = index % 2 === 1 ? 'extended' : 'standard';
  }
}

// ---- one process incarnation -------------------------------------------------------------------

interface Process {
  readonly incarnation: number;
  readonly gateway: Gateway;
  readonly forwarder: ShareForwarder;
  readonly journal: SimDiskJournal;
  readonly verifier: SimVerifier;
  readonly queueBound: number;
  /** Prevhashes (display hex) of every released template in this process. */
  readonly releasedPrev: Set<string>;
  /** (conn:channel:seq) → share id, from this process's share_accepted events. */
  readonly shareBySeq: Map<string, string>;
  shuttingDown: boolean;
}

interface PendingAnswer {
  readonly atMs: number;
  readonly seq: number;
  readonly incarnation: number;
  /** Who answers: a backend restart loses its answers, a node answer survives it. */
  readonly from: 'backend' | 'node';
  readonly apply: () => void;
}

// ---- the world ---------------------------------------------------------------------------------

export class SimWorld {
  readonly rng: SeededRandom;
  readonly clock = new FakeClock({ startMs: START_MS, wallOriginMs: WALL0_MS - START_MS });
  readonly options: SimOptions;
  readonly mode: GatewayMode;
  readonly policy: UpstreamFailurePolicy;
  readonly stats: SimStats = {
    steps: 0, passes: 0, crashes: 0, restarts: 0, connects: 0, sharesSubmitted: 0, sharesAcked: 0, sharesAccepted: 0,
    results: 0, recovered: 0, blocksFound: 0, blocksAtNode: 0, posts: 0, templates: 0, released: 0, staleHoldDisconnects: 0, blocksLeftToLog: 0, simulatedMs: 0,
  };
  readonly #authority: ReturnType<typeof generateAuthorityKeyPair>;
  readonly #forwarderShape: { queueSize: number; maxInFlight: number; batchIntervalMs: number; batchMaxShares: number; attemptsMax: number };
  readonly #minersMax: number;
  readonly #miners: SimMiner[] = [];

  // Other processes and the disk: survive crashes.
  readonly #journalLines: string[] = [];
  readonly #log: GatewayEvent[] = [];
  readonly #sink: ShareSink;
  readonly #provider: CryptoProvider;

  readonly #atBackend = new Set<string>();
  readonly #blocksAtNode = new Set<string>();
  /** block_id of every submit_block command handed out (attempt 1 goes before the log line). */
  readonly #blocksCommanded = new Set<string>();
  /** Logged block_found: block hash → the process that found it. */
  readonly #loggedBlocks = new Map<string, number>();
  /** Blocks the gateway settled `failed` (logged with their hex). */
  readonly #blocksGivenUp = new Set<string>();
  /** Set by the final drain: every submitblock reaches the node. */
  #nodeReliable = false;
  /** Processes that died by kill -9 (a block pending in one is left to the log's hex). */
  readonly #crashedProcesses = new Set<number>();
  #backendDownUntilMs = -1;
  verifierDown = false;

  // Accounting across runs (what the invariants compare).
  readonly #loggedAccepted = new Set<string>();
  readonly #loggedResult = new Map<string, string>();
  /** Journaled in a pass whose log write a crash prevented (crash point journal-not-log). */
  readonly #acceptedUnlogged = new Set<string>();
  readonly #settledUnlogged = new Map<string, string>();
  /** Share ids the miners saw acknowledged. */
  readonly #acked = new Set<string>();

  // Template source state.
  #prevIndex = 1;
  #easy = false;
  #templateCounter = 100n;
  #curtimeBump = 0;
  #current: BlockTemplate;

  #process: Process | undefined;
  #incarnation = 0;
  #pending: PendingAnswer[] = [];
  #pendingSeq = 0;
  #crashArmed: { passesLeft: number; point: CrashPoint } | undefined;
  /** The current pass's events until the log write: what a crash before it loses. */
  #unpublished: GatewayEvent[] = [];
  #step = 0;
  #digest = 0x811c9dc5;
  #droppedOne = false;
  readonly #skipOneAccept = { pending: true };
  #doubledOne = false;

  constructor(options: SimOptions) {
    this.options = options;
    this.rng = new SeededRandom(options.seed);
    this.#provider = options.provider ?? selectCryptoProvider('auto');
    this.#sink = new ShareSink({ secret: utf8(SECRET), provider: this.#provider, rejectShare: (s) => (_hash(s.share_id) % 17 === 0 ? 'below pool difficulty' : undefined) });
    this.#authority = generateAuthorityKeyPair(this.rng);
    this.mode = this.rng.nextInt(4) === 0 ? 'observe' : 'inline';
    this.policy = this.rng.nextInt(2) === 0 ? 'fail_closed' : 'permit_all';
    this.#forwarderShape = {
      queueSize: 5 + this.rng.nextInt(120),
      maxInFlight: 1 + this.rng.nextInt(3),
      batchIntervalMs: 1 + this.rng.nextInt(200),
      batchMaxShares: 1 + this.rng.nextInt(12),
      attemptsMax: 1 + this.rng.nextInt(6),
    };
    this.#minersMax = 2 + this.rng.nextInt(4);
    for (let i = 0; i < this.#minersMax; i++) this.#miners.push(new SimMiner(i));
    this.#current = this.#nextTemplate();
    this.note(`seed ${options.seed}: mode ${this.mode}, policy ${this.policy}, miners ${this.#minersMax}, forwarder ${JSON.stringify(this.#forwarderShape)}${options.defect ? `, DEFECT ${options.defect}` : ''}`);
  }

  get now(): number {
    return this.clock.monotonicMs();
  }

  note(line: string): void {
    const text = `[${this.#step} @${this.now - START_MS}ms] ${line}`;
    for (let i = 0; i < text.length; i++) this.#digest = Math.imul(this.#digest ^ text.charCodeAt(i), 0x01000193) >>> 0;
    this.options.trace?.(text);
  }

  // ---- running -----------------------------------------------------------------------------

  run(): SimReport {
    const steps = this.options.steps ?? 120;
    let violation: SimViolation | undefined;
    try {
      this.#guard(() => this.#start());
      for (this.#step = 1; this.#step <= steps; this.#step++) {
        this.stats.steps++;
        this.#guard(() => this.#action());
      }
      this.#step = steps + 1;
      this.#guard(() => this.#finish());
    } catch (e) {
      if (!(e instanceof _Violation)) throw e;
      violation = { invariant: e.invariant, step: this.#step, detail: e.detail };
      this.note(`VIOLATION ${e.invariant}: ${e.detail}`);
    }
    this.stats.simulatedMs = this.now - START_MS;
    return {
      seed: this.options.seed,
      mode: this.mode,
      policy: this.policy,
      defect: this.options.defect,
      violation,
      stats: { ...this.stats },
      digest: this.#digest.toString(16).padStart(8, '0'),
    };
  }

  /** Run `fn`; a crash armed for one of its passes kills the process, which restarts at once. */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof _Crash)) throw e;
      // The rest of the action died with the process; the supervisor restarts it at once.
      this.#crashed(e.point);
      this.#start();
    }
  }

  #action(): void {
    const r = this.rng.nextInt(1000);
    if (r < 300) return this.#advance(1 + this.rng.nextInt(this.rng.nextInt(10) === 0 ? 7000 : 300));
    if (r < 560) return this.#mine();
    if (r < 640) return this.#connect();
    if (r < 670) return this.#disconnect();
    if (r < 730) return this.#newTemplate(true);
    if (r < 790) return this.#newTemplate(false);
    if (r < 830) {
      const ms = 1 + this.rng.nextInt(3000);
      this.#backendDownUntilMs = this.now + ms;
      const lost = this.#pending.filter((p) => p.from === 'backend').length;
      this.note(`backend restarts: down ${ms} ms, ${lost} answers in flight lost`);
      this.#pending = this.#pending.filter((p) => p.from !== 'backend');
      return;
    }
    if (r < 860) {
      this.verifierDown = !this.verifierDown;
      this.note(`verifier ${this.verifierDown ? 'down' : 'back up'}`);
      return;
    }
    if (r < 900) {
      const point = CRASH_POINTS[this.rng.nextInt(CRASH_POINTS.length)]!;
      this.#crashArmed = { passesLeft: this.rng.nextInt(4), point };
      this.note(`crash armed: ${point} in pass +${this.#crashArmed.passesLeft}`);
      return this.#mine();
    }
    if (r < 910) return this.#gracefulRestart();
    if (r < 930) {
      // The node's RPC fails a poll: miners keep the jobs they have (gateway.ts header).
      this.note('template source: poll failed');
      this.#process!.gateway.upstreamFailed({ code: 'ECONNREFUSED', message: 'simulated node outage' }, this.now);
      return this.#pump();
    }
    return this.#advance(1 + this.rng.nextInt(60));
  }

  // ---- the process -------------------------------------------------------------------------

  #start(): void {
    this.#incarnation++;
    this.stats.restarts++;
    const incarnation = this.#incarnation;
    const view = readJournal(this.#journalLines);
    const journal = new SimDiskJournal(this.#journalLines, this.options.defect === 'journal-skips-accept' ? this.#skipOneAccept : undefined);
    const verifier = new SimVerifier(this);
    const identity = new ResponderIdentity({ authoritySecretKey: this.#authority.secretKey, validitySecs: 3600 * 24 * 30, backdateSecs: 300, random: this.rng });
    const gateway = new Gateway(
      {
        gatewayId: 7,
        mode: this.mode,
        provider: this.#provider,
        random: this.rng,
        identity,
        auth: { mode: 'open', maxWorkerIdBytes: 32, maxWorkersPerChannel: 2 },
        channels: {
          sharesPerMinute: 6, minDifficulty: 0, maxDifficulty: 1e12, vardiffEnabled: false, vardiffRetargetIntervalSecs: 60,
          shareAckBatchSize: 1, shareAckDelayMs: 100, nonceExpireSecs: 60, extranonceRollableBytesDefault: 8,
          channelsPerConnectionMax: 8, ntimeFutureSecsMax: 7000, seenSharesMax: 1000,
        },
        payout: [{ scriptPubKey: PAYOUT, weight: 1 }],
        poolTag: 'Sim',
        maxConnections: 64,
        maxFramePayloadBytes: 65_536,
        handshakeTimeoutMs: 10_000,
        idleTimeoutMs: 3_600_000,
        jobBroadcastIntervalMs: 0,
        blockRetryInitialMs: 100,
        blockRetryMaxMs: 1000,
        shutdownDrainTimeoutMs: 1000,
        verifier,
        prevhash: { verdictTimeoutMs: VERDICT_TIMEOUT_MS, staleHoldMs: STALE_HOLD_MS, upstreamFailurePolicy: this.policy, requestTimeoutMs: 2000 },
      },
      this.now,
    );
    const s = this.#forwarderShape;
    const forwarder = new ShareForwarder(
      {
        gatewayId: 7,
        bootId: `r${incarnation}`,
        secret: utf8(SECRET),
        provider: this.#provider,
        queueSize: s.queueSize,
        maxInFlight: s.maxInFlight,
        batchIntervalMs: s.batchIntervalMs,
        batchMaxShares: s.batchMaxShares,
        timeoutMs: FORWARD_TIMEOUT_MS,
        retryInitialMs: 50,
        retryMaxMs: 800,
        attemptsMax: s.attemptsMax,
        journal,
        recovered: view.unsettled,
      },
      this.now,
    );
    const proc: Process = {
      incarnation, gateway, forwarder, journal, verifier, queueBound: s.queueSize + view.unsettled.length,
      releasedPrev: new Set(), shareBySeq: new Map(), shuttingDown: false,
    };
    this.stats.recovered += view.unsettled.length;
    // Spy on the one path from a template to the miners (core/gateway/gateway.ts header).
    const release = gateway.releaseTemplate.bind(gateway);
    gateway.releaseTemplate = (t: BlockTemplate, nowMs: number): void => {
      this.#checkRelease(proc, t, nowMs);
      proc.releasedPrev.add(_prevDisplay(t));
      this.stats.released++;
      release(t, nowMs);
    };
    this.#process = proc;
    this.note(`process ${incarnation} starts, ${view.unsettled.length} shares recovered from the journal${view.unsettled.length > 0 ? `: ${view.unsettled.map((r) => r.share_id).join(" ")}` : ""}`);
    gateway.templateUpdated(this.#current, this.now);
    this.#pump();
  }

  #crashed(point: CrashPoint): void {
    const proc = this.#process!;
    this.stats.crashes++;
    this.#crashedProcesses.add(proc.incarnation);
    this.note(`CRASH (kill -9) of process ${proc.incarnation} at ${point}`);
    this.#process = undefined;
    this.#crashArmed = undefined;
    // In-flight answers to the dead process are lost (its sockets are gone).
    this.#pending = this.#pending.filter((p) => p.incarnation !== proc.incarnation);
    for (const m of this.#miners) {
      if (m.incarnation === proc.incarnation) m.dead = true;
    }
    // The pass's unwritten log lines die with the process, while the journal may already hold
    // their records: the forwarder commits before it posts, so a pass that settles one batch and
    // posts the next has the settle record on disk before the log line (crash-windows.ts
    // `resultUnlogged`), and a pass killed between the journal write and the log write leaves
    // journaled shares with no share_accepted line (`unlogged`). Exactly these are tolerated.
    const view = readJournal(this.#journalLines);
    for (const e of this.#unpublished) {
      if (e.type === 'share_accepted' && view.accepted.has(e.share_id)) this.#acceptedUnlogged.add(e.share_id);
      if (e.type === 'share_forward_result' && view.settled.has(e.share_id)) this.#settledUnlogged.set(e.share_id, e.status);
    }
    this.#unpublished = [];
    // No accepted share lost across the crash: every acknowledged share is in the journal.
    for (const id of this.#acked) {
      if (!view.accepted.has(id) && !this.#loggedResult.has(id)) throw new _Violation('ack-not-durable', `acknowledged share ${id} neither journaled nor settled when process ${proc.incarnation} died`);
    }
  }

  #gracefulRestart(): void {
    const proc = this.#process!;
    this.note(`graceful restart of process ${proc.incarnation}`);
    this.#shutdown(proc);
    this.#process = undefined;
    this.#pending = this.#pending.filter((p) => p.incarnation !== proc.incarnation);
    for (const m of this.#miners) if (m.incarnation === proc.incarnation) m.dead = true;
    this.#start();
  }

  /** Gateway shutdown and forwarder drain, time moving until both are done (bounded). */
  #shutdown(proc: Process): void {
    proc.shuttingDown = true;
    proc.gateway.shutdown(this.now);
    proc.forwarder.shutdown(this.now, 1000);
    this.#pump();
    for (let i = 0; i < 10_000 && !(proc.gateway.stopped && proc.forwarder.finished); i++) {
      const at = this.#nextDeadline();
      if (at === undefined) break;
      this.#advanceTo(at);
    }
    if (!proc.forwarder.finished) throw new _Violation('result-missing', `forwarder of process ${proc.incarnation} did not finish its drain`);
  }

  // ---- actions -----------------------------------------------------------------------------

  #nextTemplate(): BlockTemplate {
    this.#templateCounter += 1n;
    this.stats.templates++;
    return makeTemplate(this.#prevIndex, this.#templateCounter, this.#easy, this.#curtimeBump);
  }

  #newTemplate(newBlock: boolean): void {
    if (newBlock) {
      this.#prevIndex++;
      this.#easy = this.rng.nextInt(4) === 0;
    } else {
      this.#curtimeBump += 1 + this.rng.nextInt(30);
    }
    this.#current = this.#nextTemplate();
    this.note(`template ${this.#current.templateId}: ${newBlock ? `new block ${this.#prevIndex}${this.#easy ? ' (easy nbits)' : ''}` : 'fee bump'}`);
    this.#process!.gateway.templateUpdated(this.#current, this.now);
    this.#pump();
  }

  #connect(): void {
    const miner = this.#miners.find((m) => m.dead);
    if (miner === undefined) return this.#mine();
    const proc = this.#process!;
    const connId = proc.gateway.acceptConnection(this.now, { wallMs: this.clock.wallMs(), remoteAddress: `10.0.0.${miner.index}:4000` });
    this.stats.connects++;
    if (connId === null) {
      this.note(`miner ${miner.index} refused`);
      return;
    }
    miner.client = new MiningClient(
      {
        provider: this.#provider,
        random: this.rng,
        certificatePolicy: { kind: 'pinned', authorityXOnly: this.#authority.publicKeyXOnly },
        wallClock: this.clock,
      },
      this.now,
    );
    miner.connId = connId;
    miner.incarnation = proc.incarnation;
    miner.channelId = undefined;
    miner.dead = false;
    this.note(`miner ${miner.index} connects as conn ${connId}`);
    this.#pump();
  }

  #disconnect(): void {
    const live = this.#miners.filter((m) => !m.dead);
    if (live.length === 0) return this.#connect();
    const miner = live[this.rng.nextInt(live.length)]!;
    miner.dead = true;
    miner.client!.close();
    this.note(`miner ${miner.index} (conn ${miner.connId}) hangs up`);
    this.#process!.gateway.connectionClosed(miner.connId!, this.now);
    this.#pump();
  }

  #mine(): void {
    const ready = this.#miners.filter((m) => !m.dead && m.channelId !== undefined && m.client!.work(m.channelId) !== undefined);
    if (ready.length === 0) return this.#advance(1 + this.rng.nextInt(50));
    const miner = ready[this.rng.nextInt(ready.length)]!;
    const client = miner.client!;
    const n = 1 + this.rng.nextInt(3);
    for (let i = 0; i < n; i++) {
      const work = client.work(miner.channelId!);
      if (work === undefined) break;
      const bad = this.rng.nextInt(20) === 0;
      const found = new ShareFinder(work, { nonceStart: this.rng.nextU32() }).search(256);
      if (found.share === undefined) continue;
      const seq = client.submitShare(miner.channelId!, {
        jobId: bad ? work.jobId + 1000 : work.jobId,
        nonce: found.share.nonce,
        ntime: found.share.ntime,
        version: found.share.version,
        ...(miner.kind === 'extended' ? { extranonce: work.extranonce } : {}),
      });
      this.stats.sharesSubmitted++;
      this.note(`miner ${miner.index} submits seq ${seq}${bad ? ' (bad job id)' : ''}${found.share.isBlock ? ' (block)' : ''}`);
    }
    this.#pump();
  }

  #advance(ms: number): void {
    this.#advanceTo(this.now + ms);
  }

  #advanceTo(target: number): void {
    for (let i = 0; i < 100_000; i++) {
      const at = this.#nextDeadline();
      if (at === undefined || at > target) break;
      this.clock.advanceTo(Math.max(at, this.now));
      this.#fireDue();
    }
    this.clock.advanceTo(target);
    this.#fireDue();
  }

  #nextDeadline(): number | undefined {
    let min: number | undefined;
    const consider = (at: number | null | undefined): void => {
      if (at !== undefined && at !== null && (min === undefined || at < min)) min = at;
    };
    const proc = this.#process;
    if (proc !== undefined) {
      consider(proc.gateway.nextDeadlineMs());
      consider(proc.forwarder.nextDeadlineMs());
      consider(proc.verifier.nextDeadlineMs());
    }
    for (const p of this.#pending) consider(p.atMs);
    for (const m of this.#miners) if (!m.dead) consider(m.client!.nextDeadlineMs());
    return min;
  }

  #fireDue(): void {
    const now = this.now;
    const due = this.#pending.filter((p) => p.atMs <= now).sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
    if (due.length > 0) this.#pending = this.#pending.filter((p) => p.atMs > now);
    for (const p of due) p.apply();
    const proc = this.#process;
    if (proc !== undefined) {
      proc.verifier.onTimeout(now);
      proc.gateway.pollVerifier(now);
      const g = proc.gateway.nextDeadlineMs();
      if (g !== undefined && g <= now) proc.gateway.onTimeout(now);
      const f = proc.forwarder.nextDeadlineMs();
      if (f !== undefined && f <= now) proc.forwarder.onTimeout(now, this.clock.wallMs());
    }
    for (const m of this.#miners) {
      if (m.dead) continue;
      const at = m.client!.nextDeadlineMs();
      if (at !== undefined && at <= now) m.client!.onTimeout(now);
    }
    this.#pump();
  }

  // ---- the pump ----------------------------------------------------------------------------

  #pump(): void {
    for (let round = 0; round < 1000; round++) {
      if (!this.#pass()) return;
    }
    throw new _Violation('livelock', 'pump did not settle in 1000 passes');
  }

  /** One pass in the order of the file header; returns whether anything moved. */
  #pass(): boolean {
    const proc = this.#process;
    if (proc === undefined) return false;
    const { gateway, forwarder } = proc;
    const now = this.now;
    let moved = false;
    for (const m of this.#miners) {
      if (m.dead || m.incarnation !== proc.incarnation) continue;
      for (let b = m.client!.pollTransmit(); b !== undefined; b = m.client!.pollTransmit()) {
        gateway.receive(m.connId!, b, now);
        moved = true;
      }
    }
    gateway.pollVerifier(now);
    // 2. Blocks go to the node before anything else (SPEC §4).
    for (let c = gateway.pollCommand(); c !== undefined; c = gateway.pollCommand()) {
      moved = true;
      this.#submitBlock(proc, c);
    }
    const outbox: ({ conn_id: number; bytes: Uint8Array } | { conn_id: number; close: true })[] = [];
    for (let t = gateway.pollTransmit(); t !== undefined; t = gateway.pollTransmit()) {
      moved = true;
      outbox.push(t);
    }
    // 3. Events: the forwarder takes each accepted share before its line is written.
    const pendingLog: GatewayEvent[] = [];
    this.#unpublished = pendingLog;
    for (let e = gateway.pollEvent(); e !== undefined; e = gateway.pollEvent()) {
      moved = true;
      if (e.type === 'share_accepted') {
        proc.shareBySeq.set(`${e.conn_id}:${e.channel_id}:${e.sequence_number}`, e.share_id);
        pendingLog.push(e);
        forwarder.accept(shareRecordFromEvent(e as unknown as { share_id: string } & Record<string, unknown>), now);
        this.#drainForwarder(proc, pendingLog);
      } else {
        pendingLog.push(e);
      }
    }
    this.#drainForwarder(proc, pendingLog);
    const posts: ForwardCommand[] = [];
    for (let c = forwarder.pollCommand(); c !== undefined; c = forwarder.pollCommand()) {
      moved = true;
      posts.push(c);
    }
    if (pendingLog.length > 0) moved = true;
    if (!moved) return false;
    this.stats.passes++;
    const defect = this.options.defect;
    if (defect === 'ack-before-journal') this.#deliver(proc, outbox);
    this.#maybeCrash('before-flush');
    proc.journal.flush();
    this.#maybeCrash('journal-not-log');
    this.#publish(proc, pendingLog);
    this.#unpublished = [];
    this.#maybeCrash('before-delivery');
    if (defect !== 'ack-before-journal') this.#deliver(proc, outbox);
    for (const c of posts) this.#post(proc, c);
    this.#checkProcess(proc);
    if (this.#crashArmed !== undefined) this.#crashArmed.passesLeft--;
    return true;
  }

  #maybeCrash(point: CrashPoint): void {
    const armed = this.#crashArmed;
    if (armed !== undefined && armed.passesLeft <= 0 && armed.point === point) throw new _Crash(point);
  }

  #drainForwarder(proc: Process, into: GatewayEvent[]): void {
    for (let e = proc.forwarder.pollEvent(); e !== undefined; e = proc.forwarder.pollEvent()) {
      if (e.type !== 'share_forward_result') continue;
      if (this.options.defect === 'drop-result' && !this.#droppedOne && e.status === 'ok') {
        this.#droppedOne = true;
        this.note(`DEFECT drops the result of ${e.share_id}`);
        continue;
      }
      into.push(e as unknown as GatewayEvent);
      if (this.options.defect === 'double-result' && !this.#doubledOne) {
        this.#doubledOne = true;
        into.push(e as unknown as GatewayEvent);
      }
    }
  }

  /** Transmits to miners (acks among them), then each miner's events. */
  #deliver(proc: Process, outbox: readonly ({ conn_id: number; bytes: Uint8Array } | { conn_id: number; close: true })[]): void {
    const byConn = new Map<number, SimMiner>();
    for (const m of this.#miners) if (!m.dead && m.incarnation === proc.incarnation) byConn.set(m.connId!, m);
    for (const item of outbox) {
      const miner = byConn.get(item.conn_id);
      if (miner === undefined || miner.dead) continue;
      if ('bytes' in item) miner.client!.receive(item.bytes, this.now);
      else {
        miner.dead = true;
        miner.client!.close();
        this.note(`gateway closed miner ${miner.index} (conn ${miner.connId})`);
      }
    }
    for (const miner of byConn.values()) this.#minerEvents(proc, miner);
  }

  #minerEvents(proc: Process, miner: SimMiner): void {
    const client = miner.client!;
    for (let e = client.pollEvent(); e !== undefined; e = client.pollEvent()) {
      switch (e.type) {
        case 'setup_success': {
          const req =
            miner.kind === 'extended'
              ? client.openExtendedChannel({ userIdentity: `sim.m${miner.index}`, nominalHashRate: 1, minExtranonceSize: 8 })
              : client.openStandardChannel({ userIdentity: `sim.m${miner.index}`, nominalHashRate: 1 });
          this.note(`miner ${miner.index} set up, opens ${miner.kind} channel (request ${req})`);
          break;
        }
        case 'channel_opened':
          miner.channelId = e.channel_id;
          this.note(`miner ${miner.index} channel ${e.channel_id} open`);
          break;
        case 'new_prev_hash': {
          const work = client.work(e.channel_id);
          if (work !== undefined && this.mode === 'inline') {
            const prev = bytesToHex(Uint8Array.from(work.prevHash).reverse());
            if (!proc.releasedPrev.has(prev)) throw new _Violation('unverified-job', `miner ${miner.index} got work on prevhash ${prev}, never released in process ${proc.incarnation}`);
          }
          break;
        }
        case 'shares_accepted': {
          const id = proc.shareBySeq.get(`${miner.connId}:${e.channel_id}:${e.last_sequence_number}`);
          if (id === undefined) throw new _Violation('ack-not-durable', `miner ${miner.index} acked seq ${e.last_sequence_number} with no share_accepted event`);
          this.#acked.add(id);
          this.stats.sharesAcked++;
          // Journal first, then acknowledge (issue 12 defect 2): the share must be durable now.
          if (!this.#journalHas(id)) throw new _Violation('ack-not-durable', `share ${id} acknowledged to miner ${miner.index} before it reached the journal`);
          break;
        }
        case 'closed':
          if (!miner.dead) {
            // The miner gave up on its own (a protocol error it saw): it hangs up the socket.
            miner.dead = true;
            proc.gateway.connectionClosed(miner.connId!, this.now);
          }
          this.note(`miner ${miner.index} connection closed: ${e.error.code}`);
          break;
        default:
          break;
      }
    }
  }

  #durableAccepted = new Set<string>();
  #durableScanned = 0;
  #journalHas(id: string): boolean {
    for (; this.#durableScanned < this.#journalLines.length; this.#durableScanned++) {
      const line = this.#journalLines[this.#durableScanned]!;
      if (line.startsWith('{"a":')) this.#durableAccepted.add((JSON.parse(line) as { a: ShareRecord }).a.share_id);
    }
    return this.#durableAccepted.has(id) || this.#loggedResult.has(id);
  }

  /** The pass's events reach the event log: check each as it lands. */
  #publish(proc: Process, events: readonly GatewayEvent[]): void {
    const burst: number[] = [];
    for (const e of events) {
      this.#log.push(e);
      switch (e.type) {
        case 'share_accepted':
          this.note(`log: share_accepted ${e.share_id} (conn ${e.conn_id} seq ${e.sequence_number})`);
          this.stats.sharesAccepted++;
          this.#loggedAccepted.add(e.share_id);
          break;
        case 'share_forward_result': {
          this.stats.results++;
          const id = e.share_id;
          this.note(`log: share_forward_result ${id} ${e.status}${e.recovered ? ' (recovered)' : ''}`);
          if (this.#loggedResult.has(id)) throw new _Violation('result-twice', `share ${id}: ${this.#loggedResult.get(id)} then ${e.status}`);
          if (this.#settledUnlogged.has(id)) throw new _Violation('resent-after-settle', `share ${id} journaled as ${this.#settledUnlogged.get(id)} before a crash, settled again as ${e.status}`);
          if (!this.#loggedAccepted.has(id) && !this.#acceptedUnlogged.has(id) && !(e.status === 'dropped_queue_full' || e.status === 'dropped_shutdown')) {
            throw new _Violation('result-without-share', `result ${e.status} for ${id}, never accepted`);
          }
          if (e.status === 'ok' && !this.#atBackend.has(id)) throw new _Violation('ok-not-at-backend', `share ${id} settled ok, backend never stored it`);
          this.#loggedResult.set(id, e.status);
          break;
        }
        case 'block_found':
          this.stats.blocksFound++;
          if (!this.#blocksCommanded.has(e.block_id)) throw new _Violation('block-not-submitted', `block ${e.block_id} (share ${e.share_id}) logged before its submit_block command`);
          this.#loggedBlocks.set(e.block_hash, proc.incarnation);
          break;
        case 'block_submit_result':
          // The gateway gave up (a graceful shutdown's drain deadline): the block goes to the log
          // with its hex, for the operator to submit by hand (docs/events.md).
          if (e.result === 'failed') {
            if (e.hex === undefined || e.hex.length < 160) throw new _Violation('block-not-submitted', `block ${e.block_hash} given up without its hex`);
            this.#blocksGivenUp.add(e.block_hash);
          }
          break;
        case 'miner_disconnected':
          this.stats.staleHoldDisconnects++;
          burst.push(e.conn_id);
          break;
        default:
          break;
      }
    }
    for (let i = 1; i < burst.length; i++) {
      if (!(burst[i - 1]! < burst[i]!)) throw new _Violation('disconnect-order', `stale hold disconnects in order [${burst.join(', ')}]`);
    }
    if (burst.length > 0) this.note(`stale hold expired: disconnected conns [${burst.join(', ')}]`);
    void proc;
  }

  #checkProcess(proc: Process): void {
    const unsettled = proc.forwarder.unsettled;
    if (unsettled > proc.queueBound) throw new _Violation('queue-unbounded', `${unsettled} unsettled > bound ${proc.queueBound}`);
  }

  #checkRelease(proc: Process, t: BlockTemplate, nowMs: number): void {
    if (this.mode !== 'inline') return;
    const id = t.templateId;
    const v = proc.verifier;
    if (v.accepted(id)) return;
    if (this.policy === 'permit_all') {
      // The verdict budget belongs to the prevhash switch, not to each template on it
      // (verdict-gate.ts "verdict t_new + verdictTimeoutMs").
      const first = v.firstRequestByPrevMs.get(_prevDisplay(t));
      if (v.rejected(id)) throw new _Violation('unverified-job', `permit_all released template ${id} after its rejection`);
      // permit_all (verdict-gate.ts header): no verdict by the timeout, or the verifier
      // answered 'unavailable', releases the unverified template; anything earlier is a violation.
      if (v.unavailable.has(id) || (first !== undefined && nowMs >= first + VERDICT_TIMEOUT_MS)) return;
      throw new _Violation('unverified-job', `permit_all released template ${id} at ${nowMs - START_MS} ms, no verdict, requested at ${first === undefined ? 'never' : first - START_MS}`);
    }
    throw new _Violation('unverified-job', `inline fail_closed released template ${id} without an accepted verdict`);
  }

  // ---- the node and the backend ------------------------------------------------------------

  #later(proc: Process, from: PendingAnswer['from'], latencyMs: number, apply: () => void): void {
    this.#pending.push({ atMs: this.now + latencyMs, seq: this.#pendingSeq++, incarnation: proc.incarnation, from, apply });
  }

  #submitBlock(proc: Process, c: SubmitBlockCommand): void {
    this.#blocksCommanded.add(c.block_id);
    const fate = this.rng.nextInt(10);
    const reached = this.#nodeReliable || fate >= 2; // 2 in 10: the RPC never reached the node
    let hash = '';
    if (reached) {
      hash = _blockHash(c.hex);
      if (!this.#blocksAtNode.has(hash)) this.stats.blocksAtNode++;
      this.#blocksAtNode.add(hash);
    }
    const outcome: BlockSubmitOutcome = !reached
      ? { kind: 'transport_error', code: 'ECONNREFUSED', message: 'simulated node unreachable' }
      : fate < 8
        ? { kind: 'accepted' }
        : { kind: 'duplicate', reason: 'duplicate' };
    this.note(`node: submitblock ${c.block_id} attempt ${c.attempt}: ${outcome.kind}`);
    this.#later(proc, 'node', 1 + this.rng.nextInt(200), () => {
      if (this.#process === proc && !proc.gateway.stopped) proc.gateway.blockSubmitResult(c.block_id, outcome, this.now);
    });
  }

  #post(proc: Process, c: ForwardCommand): void {
    this.stats.posts++;
    const answer = (latencyMs: number, outcome: PostOutcome): void => {
      this.#later(proc, 'backend', latencyMs, () => {
        if (this.#process === proc) proc.forwarder.postResult(c.request_id, outcome, this.now);
      });
    };
    if (this.now < this.#backendDownUntilMs) {
      this.note(`backend: post ${c.batch_id}#${c.attempt} refused (down)`);
      return answer(1 + this.rng.nextInt(20), { kind: 'transport_error', message: 'ECONNREFUSED' });
    }
    const store = (): { status: number; body: string } => {
      const a = this.#sink.handle({ timestamp: c.headers[HEADER_TIMESTAMP], signature: c.headers[HEADER_SIGNATURE], body: c.body }, this.clock.wallMs());
      if (a.status !== 200) throw new _Violation('bad-request', `backend refused ${c.batch_id}: ${a.status} ${a.body}`);
      for (const id of a.batch!.newIds) {
        if (this.#atBackend.has(id)) throw new _Violation('backend-double-count', `share ${id} counted new twice`);
        this.#atBackend.add(id);
      }
      return a;
    };
    const fate = this.rng.nextInt(100);
    let note: string;
    if (fate < 55) {
      const a = store();
      answer(1 + this.rng.nextInt(250), { kind: 'response', status: a.status, body: a.body });
      note = 'stored, 200';
    } else if (fate < 63) {
      answer(1 + this.rng.nextInt(100), { kind: 'response', status: 503, body: 'overloaded' });
      note = '503';
    } else if (fate < 71) {
      store();
      answer(1 + this.rng.nextInt(100), { kind: 'response', status: 500, body: 'error after commit' });
      note = 'stored, 500';
    } else if (fate < 78) {
      store();
      if (this.rng.nextInt(2) === 0) answer(FORWARD_TIMEOUT_MS + 1 + this.rng.nextInt(500), { kind: 'response', status: 200, body: '' });
      note = 'stored, stalls';
    } else if (fate < 84) {
      note = 'dropped';
    } else if (fate < 90) {
      answer(1 + this.rng.nextInt(50), { kind: 'transport_error', message: 'ECONNRESET' });
      note = 'reset';
    } else if (fate < 95) {
      // The network delivers the request twice: the second is a replay, refused, unanswered.
      const a = store();
      const again = this.#sink.handle({ timestamp: c.headers[HEADER_TIMESTAMP], signature: c.headers[HEADER_SIGNATURE], body: c.body }, this.clock.wallMs());
      if (again.status !== 401) throw new _Violation('backend-double-count', `a replayed request was answered ${again.status}`);
      answer(1 + this.rng.nextInt(100), { kind: 'response', status: a.status, body: a.body });
      note = 'delivered twice, stored once, 200';
    } else {
      answer(1 + this.rng.nextInt(100), { kind: 'response', status: 429, body: 'slow down' });
      note = '429';
    }
    this.note(`backend: post ${c.batch_id}#${c.attempt} (${c.shares} shares): ${note}`);
  }

  // ---- the end -----------------------------------------------------------------------------

  /** Faults off, drain until quiet, graceful shutdown, then the "eventually" invariants. */
  #finish(): void {
    this.#crashArmed = undefined;
    this.#backendDownUntilMs = -1;
    this.verifierDown = false;
    this.#nodeReliable = true;
    this.note('finish: faults off, drain');
    const proc = this.#process!;
    for (let i = 0; i < 200 && (proc.forwarder.unsettled > 0 || proc.gateway.stats.blocksPending > 0); i++) this.#advance(500);
    this.#shutdown(proc);
    this.#process = undefined;
    const view = readJournal(this.#journalLines);
    if (view.unsettled.length > 0) throw new _Violation('lost-in-journal', `${view.unsettled.length} shares unsettled in the journal after a graceful shutdown (${view.unsettled[0]!.share_id}, ...)`);
    const settlement = (id: string): boolean => this.#loggedResult.has(id) || this.#settledUnlogged.has(id);
    for (const id of this.#loggedAccepted) if (!settlement(id)) throw new _Violation('result-missing', `share_accepted ${id} has no share_forward_result`);
    for (const id of this.#acked) if (!settlement(id)) throw new _Violation('result-missing', `acknowledged share ${id} has no share_forward_result`);
    // Every found block reached the node, unless the process that found it was killed while the
    // node was unreachable: then the block_found line (with the whole block's hex) is all that is
    // left, as docs/events.md promises; counted, not hidden.
    for (const [hash, incarnation] of this.#loggedBlocks) {
      if (this.#blocksAtNode.has(hash)) continue;
      if (!this.#crashedProcesses.has(incarnation) && !this.#blocksGivenUp.has(hash)) throw new _Violation('block-not-submitted', `block ${hash} found by process ${incarnation} never reached the node`);
      this.stats.blocksLeftToLog++;
    }
    this.note(`done: ${JSON.stringify(this.stats)}`);
  }
}

function _hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  return h;
}

/** Block hash (display hex) of a serialized block: SHA256d of its 80-byte header, reversed. */
function _blockHash(hex: string): string {
  const header = hexToBytes(hex.slice(0, 160));
  const h = sha256(sha256(header));
  return bytesToHex(Uint8Array.from(h).reverse());
}

function _prevDisplay(t: BlockTemplate): string {
  return bytesToHex(Uint8Array.from(t.prevHash).reverse());
}

/** One seed, start to finish. */
export function runSeed(options: SimOptions): SimReport {
  return new SimWorld(options).run();
}
