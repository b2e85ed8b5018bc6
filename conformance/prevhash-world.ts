// The world of the prevhash conformance cases (conformance/cases/prevhash-*.test.ts): a Gateway
// on a FakeClock with in-memory Noise miners (as test/unit/gateway.test.ts does), and a
// SCRIPTED verifier. The scripted verifier is the seam under test, not a policy: each request is
// answered the way the test says (a verdict after some latency, "unavailable" at once because
// the verifier is down, or never, in which case the request's own deadline answers
// verdict_timeout, as the TemplateVerifier contract in core/policy/types.ts requires).
import { readFileSync } from 'node:fs';
import { assert } from '../test/assert.ts';
import { pumpGateway } from '../test/support/memory-pump.ts';
import { FakeClock } from '../core/clock.ts';
import { SeededRandom } from '../core/random.ts';
import { bytesToHex, hexToBytes } from '../core/bytes.ts';
import { nobleProvider } from '../core/crypto/provider.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../core/codec/index.ts';
import { MiningSetupFlags } from '../core/codec/messages/common.ts';
import { NoiseInitiatorConnection, ResponderIdentity, generateAuthorityKeyPair } from '../core/noise/index.ts';
import { parseGetBlockTemplate } from '../core/template/gbt.ts';
import type { BlockTemplate } from '../core/template/template.ts';
import { Gateway, type GatewayEvent, type GatewayMode, type JobDeclarationOptions, type TemplateProviderOptions } from '../core/gateway/index.ts';
import type { UpstreamFailurePolicy } from '../core/gateway/verdict-gate.ts';
import {
  acceptedVerdict,
  rejectedVerdict,
  unavailableOutcome,
  type TemplateVerifier,
  type Verdict,
  type VerdictOutcome,
  type VerdictRequest,
} from '../core/policy/types.ts';
import type { ReasonCode } from '../core/reason-codes.ts';

export type Msg<T extends Sv2Message['type']> = Extract<Sv2Message, { type: T }>;

// ---- templates -------------------------------------------------------------------------------

const GBT = JSON.parse(readFileSync(new URL('../test/fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** The recorded btcd template's previous block (display hex). */
export const PREV_A = GBT['previousblockhash'] as string;

/** A distinct previous block for block number `n` (display hex). */
export function prevFor(n: number): string {
  return n === 0 ? PREV_A : n.toString(16).padStart(8, '0').padStart(64, 'b');
}

let templateCounter = 1000n;

/** Restart template ids (a scenario that must repeat exactly starts here). */
export function resetTemplateIds(): void {
  templateCounter = 1000n;
}

/** The recorded template on previous block `prev` (display hex), with a fresh template id. */
export function template(prev: string = PREV_A, curtime?: number): BlockTemplate {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = '1e00ffff'; // hard: shares, never blocks
  json['previousblockhash'] = prev;
  if (curtime !== undefined) json['curtime'] = curtime;
  templateCounter += 1n;
  const parsed = parseGetBlockTemplate(json, { templateId: templateCounter });
  if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
  return parsed.value;
}

/** SetNewPrevHash.prev_hash (internal order) → display hex, to compare with `prevFor`. */
export function displayPrev(prevHash: Uint8Array): string {
  return bytesToHex(Uint8Array.from(prevHash).reverse());
}

// ---- the scripted verifier -------------------------------------------------------------------

export type Script =
  | { readonly kind: 'accept'; readonly latencyMs: number }
  | { readonly kind: 'reject'; readonly latencyMs: number; readonly code?: ReasonCode }
  | { readonly kind: 'never' };

/** The shape of SPEC §7's seed rejection (the seed verdict itself is reproduced by the policy tests). */
export function seedLikeRejection(code: ReasonCode = 'avg_fee_below_minimum'): Verdict {
  return rejectedVerdict(code, 'avg_fee=141 < min_avg_fee_used=200', { fee_tier: 'mid', min_avg_fee_used: 200 });
}

interface _Scheduled {
  readonly atMs: number;
  readonly outcome: VerdictOutcome;
}

export class ScriptedVerifier implements TemplateVerifier {
  readonly kind = 'remote' as const;
  /** Every request, in order (tests inspect timeouts and chain views). */
  readonly requests: { readonly id: number; readonly templateId: bigint; readonly atMs: number; readonly request: VerdictRequest }[] = [];
  /** Verdicts delivered, by template id (what the gateway was TOLD, and when). */
  readonly delivered = new Map<bigint, { readonly atMs: number; readonly accepted: boolean; readonly kind: VerdictOutcome['kind'] }[]>();
  /** While true, requests fail at once with verifier_unavailable (an outage). */
  down = false;
  #nextId = 1;
  #scheduled: _Scheduled[] = [];
  #ready: VerdictOutcome[] = [];
  #nowMs = 0;

  /** How each template id is answered; default: accepted at once. */
  constructor(public script: (template: BlockTemplate, attempt: number) => Script = () => ({ kind: 'accept', latencyMs: 0 })) {}

  request(req: VerdictRequest, nowMs: number): number {
    const id = this.#nextId++;
    this.#nowMs = nowMs;
    const templateId = req.template.templateId;
    const attempt = this.requests.filter((r) => r.templateId === templateId).length;
    this.requests.push({ id, templateId, atMs: nowMs, request: req });
    if (this.down) {
      this.#ready.push(unavailableOutcome(id, templateId, 'verifier_unavailable', 'scripted outage', 0));
      return id;
    }
    const s = this.script(req.template, attempt);
    if (s.kind === 'never') {
      this.#scheduled.push({ atMs: nowMs + req.timeoutMs, outcome: unavailableOutcome(id, templateId, 'verdict_timeout', `no answer in ${req.timeoutMs} ms`, req.timeoutMs) });
    } else {
      const verdict = s.kind === 'accept' ? acceptedVerdict({ fee_tier: 'mid' }) : s.code === undefined ? seedLikeRejection() : rejectedVerdict(s.code, 'scripted rejection');
      const outcome: VerdictOutcome = { kind: 'verdict', requestId: id, templateId, verdict, latencyMs: s.latencyMs };
      if (s.latencyMs === 0) this.#ready.push(outcome);
      else this.#scheduled.push({ atMs: nowMs + s.latencyMs, outcome });
    }
    return id;
  }

  pollOutcome(): VerdictOutcome | null {
    const o = this.#ready.shift();
    if (o === undefined) return null;
    const list = this.delivered.get(o.templateId) ?? [];
    list.push({ atMs: this.#nowMs, accepted: o.kind === 'verdict' && o.verdict.accepted, kind: o.kind });
    this.delivered.set(o.templateId, list);
    return o;
  }

  nextDeadlineMs(): number | null {
    let min: number | null = null;
    for (const s of this.#scheduled) if (min === null || s.atMs < min) min = s.atMs;
    return min;
  }

  onTimeout(nowMs: number): void {
    this.#nowMs = nowMs;
    const due = this.#scheduled.filter((s) => s.atMs <= nowMs).sort((a, b) => a.atMs - b.atMs);
    this.#scheduled = this.#scheduled.filter((s) => s.atMs > nowMs);
    for (const s of due) this.#ready.push(s.outcome);
  }

  /** A rejection was delivered for this template (at any time so far). */
  rejected(templateId: bigint): boolean {
    return (this.delivered.get(templateId) ?? []).some((d) => d.kind === 'verdict' && !d.accepted);
  }
}

// ---- miners and the world --------------------------------------------------------------------

export class Miner {
  readonly noise: NoiseInitiatorConnection;
  readonly connId: number;
  readonly inbox: Sv2Message[] = [];
  closedByServer = false;
  /** display hex of the last SetNewPrevHash, and when it arrived. */
  prev: string | null = null;
  prevAtMs = 0;
  channelId: number | null = null;
  lastJob: Msg<'NewMiningJob'> | null = null;
  lastPrevMsg: Msg<'SetNewPrevHash'> | null = null;
  target: Uint8Array | null = null;

  constructor(readonly world: PrevhashWorld) {
    const { clock, random, authority, gateway } = world;
    this.noise = new NoiseInitiatorConnection(
      { provider: nobleProvider, random, certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly }, wallClock: clock },
      clock.monotonicMs(),
    );
    const id = gateway.acceptConnection(clock.monotonicMs(), { wallMs: clock.wallMs(), remoteAddress: '127.0.0.1:5000' });
    assert.notEqual(id, null, 'connection accepted');
    this.connId = id!;
    world.miners.set(this.connId, this);
  }

  send(message: Sv2Message): void {
    assert.ok(this.noise.send(encodeMessage(message)).ok, 'client send');
  }

  types(): string[] {
    return this.inbox.map((m) => m.type);
  }

  take<T extends Sv2Message['type']>(type: T): Msg<T> {
    const i = this.inbox.findIndex((m) => m.type === type);
    assert.ok(i >= 0, `expected a ${type}, inbox has [${this.types().join(', ')}]`);
    return this.inbox.splice(i, 1)[0] as Msg<T>;
  }

  drain(): void {
    for (let e = this.noise.pollEvent(); e !== undefined; e = this.noise.pollEvent()) {
      if (e.type !== 'frame') continue;
      const m = decodeMessage(e.frame);
      assert.ok(m.ok, 'server frame decodes');
      if (m.value.type === 'SetNewPrevHash') {
        this.prev = displayPrev(m.value.prevHash);
        this.prevAtMs = this.world.now;
        this.lastPrevMsg = m.value;
      }
      if (m.value.type === 'NewMiningJob') this.lastJob = m.value;
      this.inbox.push(m.value);
    }
  }
}

export interface WorldOptions {
  readonly mode?: GatewayMode;
  readonly policy?: UpstreamFailurePolicy;
  readonly verdictTimeoutMs?: number;
  readonly staleHoldMs?: number;
  readonly requestTimeoutMs?: number;
  /** false = no verifier at all. */
  readonly verifier?: boolean;
  readonly seed?: number;
  readonly startMs?: number;
  /** Issue 10: serve Template Distribution clients too (conformance/tdp-world.ts). */
  readonly templateProvider?: TemplateProviderOptions;
  /** Issue 11: serve Job Declaration clients too. */
  readonly jobDeclaration?: JobDeclarationOptions;
}

export class PrevhashWorld {
  readonly clock: FakeClock;
  readonly random: SeededRandom;
  readonly authority: ReturnType<typeof generateAuthorityKeyPair>;
  readonly verifier = new ScriptedVerifier();
  readonly gateway: Gateway;
  readonly miners = new Map<number, Miner>();
  readonly events: { readonly atMs: number; readonly event: GatewayEvent }[] = [];
  /** submit_block commands, in order. */
  readonly commands: NonNullable<ReturnType<Gateway['pollCommand']>>[] = [];
  /** Every template handed to Gateway.releaseTemplate (the only path to miners), with its time. */
  readonly released: { readonly atMs: number; readonly template: BlockTemplate }[] = [];
  readonly verdictTimeoutMs: number;
  readonly staleHoldMs: number;

  constructor(options: WorldOptions = {}) {
    this.clock = new FakeClock({ startMs: options.startMs ?? 10_000 });
    this.random = new SeededRandom(options.seed ?? 0x5eed);
    this.authority = generateAuthorityKeyPair(this.random);
    this.verdictTimeoutMs = options.verdictTimeoutMs ?? 50;
    this.staleHoldMs = options.staleHoldMs ?? 5000;
    const identity = new ResponderIdentity({ authoritySecretKey: this.authority.secretKey, validitySecs: 3600, backdateSecs: 300, random: this.random });
    this.gateway = new Gateway(
      {
        gatewayId: 3,
        mode: options.mode ?? 'inline',
        provider: nobleProvider,
        random: this.random,
        identity,
        auth: { mode: 'open', maxWorkerIdBytes: 32, maxWorkersPerChannel: 2 },
        channels: {
          sharesPerMinute: 6, minDifficulty: 0, maxDifficulty: 1e12, vardiffEnabled: false, vardiffRetargetIntervalSecs: 60,
          shareAckBatchSize: 1, shareAckDelayMs: 100, nonceExpireSecs: 60, extranonceRollableBytesDefault: 8,
          channelsPerConnectionMax: 8, ntimeFutureSecsMax: 7000, seenSharesMax: 1000,
        },
        payout: [{ scriptPubKey: hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6'), weight: 1 }],
        poolTag: 'Test',
        maxConnections: 100,
        maxFramePayloadBytes: 65_536,
        handshakeTimeoutMs: 600_000,
        idleTimeoutMs: 3_600_000,
        jobBroadcastIntervalMs: 0,
        blockRetryInitialMs: 500,
        blockRetryMaxMs: 2_000,
        shutdownDrainTimeoutMs: 1_000,
        ...(options.verifier === false ? {} : { verifier: this.verifier }),
        ...(options.templateProvider === undefined ? {} : { templateProvider: options.templateProvider }),
        ...(options.jobDeclaration === undefined ? {} : { jobDeclaration: options.jobDeclaration }),
        prevhash: {
          verdictTimeoutMs: this.verdictTimeoutMs,
          staleHoldMs: this.staleHoldMs,
          upstreamFailurePolicy: options.policy ?? 'fail_closed',
          requestTimeoutMs: options.requestTimeoutMs ?? 2000,
        },
      },
      this.clock.monotonicMs(),
    );
    // Spy on the one path from a template to the miners (the gate calls it through `this`).
    const release = this.gateway.releaseTemplate.bind(this.gateway);
    this.gateway.releaseTemplate = (t: BlockTemplate, nowMs: number): void => {
      this.released.push({ atMs: nowMs, template: t });
      release(t, nowMs);
    };
  }

  get now(): number {
    return this.clock.monotonicMs();
  }

  pump(): void {
    pumpGateway(this.gateway, this.miners, this.now, {
      skipClosedMiners: true,
      command: (c) => this.commands.push(c), // blocks only in the TDP worlds (the others use hard bits)
      event: (e) => this.events.push({ atMs: this.now, event: e }),
    });
  }

  /** Advance to `now + deltaMs`, firing every gateway deadline on the way at its exact time. */
  advance(deltaMs: number): void {
    this.advanceTo(this.now + deltaMs);
  }

  advanceTo(target: number): void {
    for (let i = 0; i < 100_000; i++) {
      const at = this.gateway.nextDeadlineMs();
      if (at === undefined || at > target) break;
      this.clock.advanceTo(Math.max(at, this.now));
      this.gateway.onTimeout(this.now);
      this.pump();
    }
    this.clock.advanceTo(target);
    this.pump();
  }

  template(t: BlockTemplate): BlockTemplate {
    this.gateway.templateUpdated(t, this.now);
    this.pump();
    return t;
  }

  /**
   * A miner with SetupConnection done and one standard channel open (its work, if any, taken).
   * An end device: REQUIRES_STANDARD_JOBS, so its jobs are NewMiningJob addressed to its channel
   * (no group channel jobs, core/channels/channels.ts).
   */
  miner(): Miner {
    const miner = new Miner(this);
    this.pump();
    miner.send({
      type: 'SetupConnection', protocol: 0, minVersion: 2, maxVersion: 2, flags: MiningSetupFlags.requiresStandardJobs,
      endpointHost: '127.0.0.1', endpointPort: 34255, vendor: 'test', hardwareVersion: 'hw', firmware: 'fw', deviceId: 'dev',
    });
    this.pump();
    miner.take('SetupConnectionSuccess');
    miner.send({ type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: `alice.m${miner.connId}`, nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) });
    this.pump();
    const success = miner.take('OpenStandardMiningChannelSuccess');
    miner.channelId = success.channelId;
    miner.target = success.target;
    miner.inbox.length = 0;
    return miner;
  }

  eventsOf<T extends GatewayEvent['type']>(type: T): Extract<GatewayEvent, { type: T }>[] {
    return this.events.filter((e) => e.event.type === type).map((e) => e.event) as Extract<GatewayEvent, { type: T }>[];
  }

  /** Events of a type with the time they were polled. */
  timed<T extends GatewayEvent['type']>(type: T): { atMs: number; event: Extract<GatewayEvent, { type: T }> }[] {
    return this.events.filter((e) => e.event.type === type) as { atMs: number; event: Extract<GatewayEvent, { type: T }> }[];
  }

  openMiners(): Miner[] {
    return [...this.miners.values()].filter((m) => !m.closedByServer);
  }
}
