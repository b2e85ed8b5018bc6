// The verdict gate (issue 4 items 4–5; SPEC §5 modes, §6 prevhash switching): between the
// template source and the JobFactory, it decides WHEN a template reaches the miners. Sans-IO
// (STYLE.md #1): templates and verifier outcomes go in with `nowMs`; out come verdict requests,
// releases, disconnects and events through the hooks, plus one next deadline. It never reads a
// clock; the conformance suite drives it on a FakeClock through the Gateway.
//
// Modes (SPEC §5):
//   shadow   templates are audited (one verdict request each, `template_verdict` with
//            enforced: false) and never released: there are no miners.
//   observe  every template is released at once, whatever its verdict; verdicts are only logged
//            (enforced: false). Observe never withholds a job.
//   inline   verdicts are enforced: a template reaches the miners only with an accepted verdict,
//            or, with upstream_failure_policy = "permit_all", when no verdict came (verifier
//            slow or down). A rejected template is never distributed.
//
// Prevhash switch (inline, SPEC §6). A template whose prevhash differs from the released work
// starts a switch at t0 (its arrival). Named deadlines, all on the injected clock:
//   verdict  t_new + verdictTimeoutMs, t_new = arrival of the NEWEST template with a new upstream
//            prevhash (each new prevhash gets its own verdict budget, SPEC §6 "when a template
//            with a new prevhash arrives at t0"). No verdict by then: permit_all switches to the
//            unverified template; fail_closed enters the stale hold.
//   hold     t0 + verdictTimeoutMs + staleHoldMs, fixed when the switch starts and NOT moved by
//            later blocks: whatever happens upstream, every affected miner has switched or been
//            disconnected by then (the scenario runner's invariant). At it, with nothing
//            acceptable released, every open connection is closed in ascending connection id
//            order with `stale_hold_expired` (stable across runs: ids are assigned in accept
//            order), and new connections are refused with that code until acceptable work is
//            released — a miner that came back would otherwise mine stale work.
//   retry    after an 'unavailable' outcome for the newest candidate during a switch, ask again
//            (verdictTimeoutMs, doubling to retryMaxMs): a verifier that comes back can still
//            end the hold. Same-prevhash updates are not retried (miners hold valid work).
// Boundaries: "by t0 + 50" is inclusive. Input before timers: the Gateway drains verifier
// outcomes before it fires gate deadlines in the same onTimeout call, so a verdict delivered at
// exactly t0 + 50 switches without a hold; a verdict the driver delivers after the timeout fired
// at the same instant ends the just-started hold at once (same jobs, extra hold events). The
// hold expires at exactly t0 + timeout + hold; a verdict 1 ms earlier switches.
//
// Candidates: the newest template on the upstream prevhash is THE candidate; the verdict
// deadline, permit_all and retries apply to it. An accepted verdict for ANY template on the
// upstream prevhash that is newer than the released one is released at once ("switch as soon as
// an acceptable verdict or template arrives"); verdicts for superseded templates (older than the
// released one, or on a prevhash upstream has left) are logged and change nothing. A rejection of
// the candidate while the switch waits for its verdict enters the hold at once (miners keep the
// previous job either way; the hold's events say why). Outside a switch (same prevhash as the
// released work) a template is released when accepted; an unavailable verdict releases it only
// under permit_all.
//
// permit_all, then a rejection (issue 12 defect 3; docs/policy.md "permit_all and a late
// rejection"). permit_all releases the unverified template when the verifier is silent; the
// request stays open until the hold expiry, so the verdict may still come. An ACCEPT then
// changes nothing. A REJECTION withdraws the template: SPEC §6's "verdict rejected: do not
// switch; enter the stale hold" is applied as of now. The miners go back to the work they held
// before (`prevhash_switch` with cause `withdrawn`, template_verdict action `withdrawn`), the
// stale hold starts with the rejection's code and keeps the switch's original expiry
// (t0 + timeout + hold), and an accepted template ends it as usual. With no earlier work to go
// back to (the very first template), or with the expiry already reached, the expiry runs at once:
// every affected miner is disconnected (`stale_hold_expired`) and new miners are refused until
// acceptable work is released. Never: mining on after the verifier said no. Only while upstream
// is still on the permitted template's prevhash and no newer switch began (otherwise the miners
// leave that template anyway, and the verdict is `superseded`).
//
// Shares acknowledged while the hold is on are on held work: `holding` is what the Gateway
// stamps as `stale_hold: true` in share_accepted.
import { bytesToHex, reversed } from '../bytes.ts';
import type { ChainView, VerdictOutcome, VerdictRequest } from '../policy/types.ts';
import type { ReasonCode } from '../reason-codes.ts';
import type { BlockTemplate } from '../template/template.ts';
import type { GatewayEvent } from './events.ts';

export type GateMode = 'shadow' | 'observe' | 'inline';

export type UpstreamFailurePolicy = 'fail_closed' | 'permit_all';

export interface VerdictGateSettings {
  /** timing.prevhash_verdict_timeout_ms (SPEC §6: 50). */
  readonly verdictTimeoutMs: number;
  /** timing.prevhash_stale_hold_ms (SPEC §6: 5000); 0 = disconnect at the verdict timeout. */
  readonly staleHoldMs: number;
  /** gateway.upstream_failure_policy: what "no verdict" means in inline mode. */
  readonly upstreamFailurePolicy: UpstreamFailurePolicy;
  /** timing.verifier_request_timeout_ms: deadline of requests outside a prevhash switch. */
  readonly requestTimeoutMs: number;
  /** Ceiling of the retry backoff during a switch. Default 1000. */
  readonly retryMaxMs?: number;
}

/** What the gate drives; the Gateway implements it (tests may record it). */
export interface VerdictGateHooks {
  /** Ask the verifier; the request id, or null when there is no verifier (nothing to wait for). */
  requestVerdict(request: VerdictRequest, nowMs: number): number | null;
  /** Make `template` the miners' work (Gateway.releaseTemplate). */
  release(template: BlockTemplate, nowMs: number): void;
  /** Open connections, ascending id: the miners on the affected channels. */
  affectedConnections(): readonly number[];
  /** Close one connection with `stale_hold_expired`; `order` counts from 1. */
  disconnect(connId: number, order: number, nowMs: number): void;
  emit(event: GatewayEvent): void;
}

export type GatePhase = 'idle' | 'awaiting_verdict' | 'holding' | 'expired';

type _Status = 'pending' | 'accepted' | 'rejected' | 'unavailable';

interface _Candidate {
  readonly template: BlockTemplate;
  readonly seq: number;
  readonly prevKey: string;
  status: _Status;
  /** Code of the last outcome (for hold reasons). */
  code: ReasonCode | null;
}

interface _Request {
  readonly template: BlockTemplate;
  readonly seq: number;
  readonly prevKey: string;
  readonly newPrevhash: boolean;
}

interface _Switch {
  /** Arrival of the first template of this switch. */
  readonly t0Ms: number;
  /** t0 + verdictTimeoutMs + staleHoldMs: everything is resolved by then. */
  readonly expiresAtMs: number;
  phase: 'awaiting_verdict' | 'holding' | 'expired';
  holdStartedMs: number;
}

const RECENT_TIPS_MAX = 8;

/** What permit_all released, the switch it ended (null: none) and the work before it. */
interface _Permitted {
  readonly seq: number;
  readonly sw: _Switch | null;
  readonly held: { readonly template: BlockTemplate; readonly seq: number; readonly key: string; readonly verified: boolean } | null;
}

function _display(prevHash: Uint8Array): string {
  return bytesToHex(reversed(prevHash));
}

function _nonNegInt(name: string, value: number, min = 0): void {
  if (!(Number.isInteger(value) && value >= min)) throw new RangeError(`VerdictGate: ${name} must be an integer >= ${min}, got ${value}`);
}

export class VerdictGate {
  readonly mode: GateMode;
  readonly #settings: Required<VerdictGateSettings>;
  readonly #hooks: VerdictGateHooks;

  #seq = 0;
  #stopped = false;
  /** Newest upstream prevhash (hex, internal order) and the tips before it, newest first. */
  #upstreamKey: string | null = null;
  #upstreamPrev: Uint8Array | null = null;
  readonly #recentTips: Uint8Array[] = [];
  /** What the miners have. */
  #released: BlockTemplate | null = null;
  #releasedSeq = 0;
  #releasedKey: string | null = null;
  /** Newest template not (yet) released on the upstream prevhash (inline). */
  #candidate: _Candidate | null = null;
  readonly #requests = new Map<number, _Request>();
  #switch: _Switch | null = null;
  /** After an expiry, until acceptable work is released: refuse miners. */
  #refusing = false;
  /** The released template had an accepted verdict (or was the held work of one). */
  #releasedVerified = false;
  /**
   * The verifier rejected the released template after it went out (permit_all released it
   * unverified). It stays what the miners have until something else is released, but it is never
   * work to go back to: a later withdrawal must not re-release it (found by the fault simulation,
   * seed 24: a rejected first template came back when the next permitted tip was rejected too).
   */
  #releasedRejected = false;
  /**
   * permit_all released template `seq` unverified: the switch it ended and the work the miners
   * had before, so that a later rejection can withdraw it (header). Cleared by any other release.
   */
  #permitted: _Permitted | null = null;
  // Named deadlines (STYLE.md #3); checked in this order at one instant: verdict, hold, retry.
  #verdictAtMs: number | undefined;
  #retryAtMs: number | undefined;
  #retryDelayMs = 0;

  constructor(mode: GateMode, settings: VerdictGateSettings, hooks: VerdictGateHooks) {
    if (mode !== 'shadow' && mode !== 'observe' && mode !== 'inline') throw new RangeError(`VerdictGate: mode must be shadow | observe | inline, got ${JSON.stringify(mode)}`);
    if (settings === null || typeof settings !== 'object') throw new TypeError(`VerdictGate: settings must be an object, got ${String(settings)}`);
    _nonNegInt('verdictTimeoutMs', settings.verdictTimeoutMs, 1);
    _nonNegInt('staleHoldMs', settings.staleHoldMs, 0);
    _nonNegInt('requestTimeoutMs', settings.requestTimeoutMs, 1);
    if (settings.upstreamFailurePolicy !== 'fail_closed' && settings.upstreamFailurePolicy !== 'permit_all') {
      throw new RangeError(`VerdictGate: upstreamFailurePolicy must be fail_closed | permit_all, got ${JSON.stringify(settings.upstreamFailurePolicy)}`);
    }
    const retryMaxMs = settings.retryMaxMs ?? 1000;
    _nonNegInt('retryMaxMs', retryMaxMs, 1);
    this.mode = mode;
    this.#settings = { ...settings, retryMaxMs };
    this.#hooks = hooks;
  }

  get enforced(): boolean {
    return this.mode === 'inline';
  }

  get phase(): GatePhase {
    return this.#switch?.phase ?? 'idle';
  }

  /** A stale hold is on: shares acknowledged now are on held work (`stale_hold: true`). */
  get holding(): boolean {
    return this.#switch?.phase === 'holding';
  }

  /** The hold expired and nothing acceptable has been released since: refuse new miners. */
  get refusingMiners(): boolean {
    return this.#refusing;
  }

  /** The template the miners have (null before the first release). */
  get released(): BlockTemplate | null {
    return this.#released;
  }

  /** Verdict requests in flight. */
  get pendingRequests(): number {
    return this.#requests.size;
  }

  /** The deadlines of the current switch (tests, /status). */
  get deadlines(): { readonly verdictAtMs?: number; readonly holdExpiresAtMs?: number; readonly retryAtMs?: number } {
    const sw = this.#switch;
    return {
      ...(this.#verdictAtMs === undefined ? {} : { verdictAtMs: this.#verdictAtMs }),
      ...(sw === null || sw.phase === 'expired' ? {} : { holdExpiresAtMs: sw.expiresAtMs }),
      ...(this.#retryAtMs === undefined ? {} : { retryAtMs: this.#retryAtMs }),
    };
  }

  // ---- inputs ----------------------------------------------------------------------------------

  /** A template from the source. */
  templateArrived(template: BlockTemplate, nowMs: number): void {
    if (this.#stopped) return;
    const seq = ++this.#seq;
    const prevKey = bytesToHex(template.prevHash);
    const newUpstream = prevKey !== this.#upstreamKey;
    if (newUpstream) {
      if (this.#upstreamPrev !== null) {
        this.#recentTips.unshift(this.#upstreamPrev);
        if (this.#recentTips.length > RECENT_TIPS_MAX) this.#recentTips.length = RECENT_TIPS_MAX;
      }
      this.#upstreamKey = prevKey;
      this.#upstreamPrev = Uint8Array.from(template.prevHash);
    }
    const newPrevhash = prevKey !== this.#releasedKey;

    if (this.mode !== 'inline') {
      // Observe: the job goes out first, whatever the verdict will be. Shadow: audit only.
      if (this.mode === 'observe') this.#release(template, seq, prevKey, nowMs, { cause: 'not_enforced' });
      this.#request(template, seq, prevKey, newPrevhash, this.#settings.requestTimeoutMs, nowMs);
      return;
    }

    this.#candidate = { template, seq, prevKey, status: 'pending', code: null };
    if (!newPrevhash) {
      // Same prevhash as the miners' work. Upstream may have come BACK to it (a reorg back, or
      // a template on a prevhash we had left): the work they hold is current again.
      if (this.#switch !== null) this.#endSwitch('reverted', null, nowMs);
      this.#request(template, seq, prevKey, false, this.#settings.requestTimeoutMs, nowMs);
      return;
    }
    let sw = this.#switch;
    if (sw === null || (sw.phase === 'expired' && newUpstream)) {
      // A new switch: t0 now. After an expiry, a new block starts a fresh budget (refusal stays
      // until something is released).
      sw = {
        t0Ms: nowMs,
        expiresAtMs: nowMs + this.#settings.verdictTimeoutMs + this.#settings.staleHoldMs,
        phase: 'awaiting_verdict',
        holdStartedMs: nowMs,
      };
      this.#switch = sw;
      this.#verdictAtMs = nowMs + this.#settings.verdictTimeoutMs;
    } else if (newUpstream && sw.phase !== 'expired') {
      // Another block during the switch: its own verdict budget, the expiry stays.
      this.#verdictAtMs = nowMs + this.#settings.verdictTimeoutMs;
    }
    this.#retryAtMs = undefined;
    this.#retryDelayMs = 0;
    this.#request(template, seq, prevKey, true, this.#switchRequestTimeoutMs(nowMs), nowMs);
  }

  /** One outcome from the verifier (Gateway drains TemplateVerifier.pollOutcome into this). */
  outcome(outcome: VerdictOutcome, nowMs: number): void {
    if (this.#stopped) return;
    const req = this.#requests.get(outcome.requestId);
    if (req === undefined) return; // not ours (or answered twice): nothing to decide
    this.#requests.delete(outcome.requestId);
    const accepted = outcome.kind === 'verdict' && outcome.verdict.accepted;
    const unavailable = outcome.kind === 'unavailable';

    if (this.mode !== 'inline') {
      this.#emitVerdict(outcome, req, 'logged');
      return;
    }
    if (outcome.kind === 'verdict' && !accepted && req.seq === this.#releasedSeq) this.#releasedRejected = true;
    const permitted = this.#permitted;
    if (permitted !== null && permitted.seq === req.seq && this.#releasedSeq === req.seq && outcome.kind === 'verdict') {
      if (accepted) {
        // Confirmed after the fact: what the miners have is now verified.
        this.#permitted = null;
        this.#releasedVerified = true;
      } else if (req.prevKey === this.#upstreamKey && this.#switch === null) {
        this.#withdraw(outcome, req, permitted, nowMs);
        return;
      }
    }
    const candidate = this.#candidate !== null && this.#candidate.seq === req.seq ? this.#candidate : null;
    const live = req.prevKey === this.#upstreamKey && req.seq > this.#releasedSeq;
    if (!live) {
      this.#emitVerdict(outcome, req, 'superseded');
      return;
    }
    if (candidate !== null) {
      candidate.status = accepted ? 'accepted' : unavailable ? 'unavailable' : 'rejected';
      candidate.code = outcome.verdict.reason_code;
    }
    const sw = this.#switch;
    if (accepted) {
      this.#emitVerdict(outcome, req, 'released');
      this.#release(req.template, req.seq, req.prevKey, nowMs, { cause: 'verdict_accepted', reason_code: outcome.verdict.reason_code });
      return;
    }
    if (!unavailable) {
      // Rejected: never distributed. The candidate's rejection while waiting starts the hold.
      const holds = candidate !== null && sw !== null && sw.phase === 'awaiting_verdict';
      this.#emitVerdict(outcome, req, holds ? 'hold' : 'withheld');
      if (holds) this.#enterHold(outcome.verdict.reason_code, nowMs);
      return;
    }
    // No verdict (verifier down or too slow).
    if (candidate === null) {
      this.#emitVerdict(outcome, req, 'withheld');
      return;
    }
    if (this.#settings.upstreamFailurePolicy === 'permit_all') {
      this.#emitVerdict(outcome, req, 'permitted');
      this.#release(req.template, req.seq, req.prevKey, nowMs, { cause: 'permit_all', reason_code: outcome.verdict.reason_code });
      return;
    }
    if (sw === null) {
      this.#emitVerdict(outcome, req, 'withheld');
      return;
    }
    const holds = sw.phase === 'awaiting_verdict';
    this.#emitVerdict(outcome, req, holds ? 'hold' : 'withheld');
    if (holds) this.#enterHold(outcome.verdict.reason_code, nowMs);
    this.#scheduleRetry(nowMs);
  }

  nextDeadlineMs(): number | undefined {
    if (this.#stopped) return undefined;
    let min = this.#verdictAtMs;
    const sw = this.#switch;
    if (sw !== null && sw.phase !== 'expired' && (min === undefined || sw.expiresAtMs < min)) min = sw.expiresAtMs;
    if (this.#retryAtMs !== undefined && (min === undefined || this.#retryAtMs < min)) min = this.#retryAtMs;
    return min;
  }

  /** Fire due deadlines in a fixed order (verdict, hold, retry). Harmless early or twice. */
  onTimeout(nowMs: number): void {
    if (this.#stopped) return;
    if (this.#verdictAtMs !== undefined && this.#verdictAtMs <= nowMs) {
      this.#verdictAtMs = undefined;
      this.#onVerdictTimeout(nowMs);
    }
    const sw = this.#switch;
    if (sw !== null && sw.phase !== 'expired' && sw.expiresAtMs <= nowMs) this.#onHoldExpiry(sw, nowMs);
    if (this.#retryAtMs !== undefined && this.#retryAtMs <= nowMs) {
      this.#retryAtMs = undefined;
      const c = this.#candidate;
      if (this.#switch !== null && c !== null && c.status === 'unavailable') {
        c.status = 'pending';
        const timeoutMs = this.#switch.phase === 'expired' ? this.#settings.requestTimeoutMs : this.#switchRequestTimeoutMs(nowMs);
        this.#request(c.template, c.seq, c.prevKey, true, timeoutMs, nowMs);
      }
    }
  }

  /** Gateway shutdown: end a hold (`outcome: shutdown`), drop deadlines; later input is ignored. */
  shutdown(nowMs: number): void {
    if (this.#stopped) return;
    if (this.#switch !== null) this.#endSwitch('shutdown', null, nowMs);
    this.#stopped = true;
    this.#verdictAtMs = undefined;
    this.#retryAtMs = undefined;
  }

  // ---- internals -------------------------------------------------------------------------------

  #switchRequestTimeoutMs(nowMs: number): number {
    // A late verdict can still end the hold (SPEC §6), so ask for one until the hold expires.
    const sw = this.#switch;
    if (sw === null || sw.phase === 'expired') return this.#settings.requestTimeoutMs;
    return Math.max(this.#settings.verdictTimeoutMs, sw.expiresAtMs - nowMs);
  }

  #chainView(template: BlockTemplate): ChainView {
    // The gateway's view of the chain is its template source's: the newest template's prevhash
    // is the tip, the tips before it are "recent" (prevhash_stale), anything else unknown.
    return {
      tipHash: this.#upstreamPrev ?? template.prevHash,
      tipHeight: template.height - 1,
      recentHashes: [...this.#recentTips],
      expectedNbits: null,
    };
  }

  #request(template: BlockTemplate, seq: number, prevKey: string, newPrevhash: boolean, timeoutMs: number, nowMs: number): void {
    const id = this.#hooks.requestVerdict({ template, chain: this.#chainView(template), timeoutMs }, nowMs);
    if (id === null) {
      // No verifier. Only observe/shadow run without one (the Gateway refuses inline without).
      return;
    }
    this.#requests.set(id, { template, seq, prevKey, newPrevhash });
  }

  /** A rejection of the template permit_all released (header "permit_all, then a rejection"). */
  #withdraw(outcome: VerdictOutcome, req: _Request, permitted: _Permitted, nowMs: number): void {
    this.#permitted = null;
    const code = outcome.verdict.reason_code;
    this.#emitVerdict(outcome, req, 'withdrawn');
    // The rejected template stays the candidate (it is upstream's newest unless a newer one came).
    if (this.#candidate === null || this.#candidate.seq < req.seq) this.#candidate = { template: req.template, seq: req.seq, prevKey: req.prevKey, status: 'rejected', code };
    const held = permitted.held;
    const original = permitted.sw;
    if (held === null || (original !== null && nowMs >= original.expiresAtMs)) {
      // Nothing verified to go back to, or no hold time left: the expiry, now.
      const sw: _Switch = { t0Ms: original?.t0Ms ?? nowMs, expiresAtMs: nowMs, phase: 'awaiting_verdict', holdStartedMs: nowMs };
      this.#switch = sw;
      this.#enterHold(code, nowMs);
      this.#onHoldExpiry(sw, nowMs);
      return;
    }
    // Back across a prevhash: the hold of the original switch. Same prevhash: just the held job.
    const switchBack = held.key !== req.prevKey && original !== null;
    if (switchBack) this.#switch = { t0Ms: original.t0Ms, expiresAtMs: original.expiresAtMs, phase: 'awaiting_verdict', holdStartedMs: nowMs };
    this.#release(held.template, held.seq, held.key, nowMs, { cause: 'withdrawn', reason_code: code, verified: held.verified });
    if (switchBack) this.#enterHold(code, nowMs);
  }

  #scheduleRetry(nowMs: number): void {
    this.#retryDelayMs = this.#retryDelayMs === 0 ? this.#settings.verdictTimeoutMs : Math.min(this.#retryDelayMs * 2, this.#settings.retryMaxMs);
    this.#retryAtMs = nowMs + this.#retryDelayMs;
  }

  #onVerdictTimeout(nowMs: number): void {
    const sw = this.#switch;
    const c = this.#candidate;
    if (sw === null || sw.phase === 'expired' || c === null || c.status !== 'pending') return;
    if (this.#settings.upstreamFailurePolicy === 'permit_all') {
      this.#release(c.template, c.seq, c.prevKey, nowMs, { cause: 'permit_all', reason_code: 'verdict_timeout' });
      return;
    }
    if (sw.phase === 'awaiting_verdict') this.#enterHold('verdict_timeout', nowMs);
  }

  #onHoldExpiry(sw: _Switch, nowMs: number): void {
    const c = this.#candidate;
    if (sw.phase === 'awaiting_verdict') {
      // Reached only when later blocks kept moving the verdict deadline past the expiry: the
      // expiry still holds (every affected miner is resolved by t0 + timeout + hold).
      if (this.#settings.upstreamFailurePolicy === 'permit_all' && c !== null && (c.status === 'pending' || c.status === 'unavailable')) {
        this.#release(c.template, c.seq, c.prevKey, nowMs, { cause: 'permit_all', reason_code: 'verdict_timeout' });
        return;
      }
      this.#enterHold(c?.code ?? 'verdict_timeout', nowMs);
    }
    sw.phase = 'expired';
    this.#refusing = true;
    this.#verdictAtMs = undefined;
    const ids = [...this.#hooks.affectedConnections()].sort((a, b) => a - b);
    this.#hooks.emit({
      type: 'stale_hold_ended',
      outcome: 'expired',
      reason_code: 'stale_hold_expired',
      template_id: c === null ? null : c.template.templateId.toString(),
      held_template_id: this.#released === null ? null : this.#released.templateId.toString(),
      duration_ms: nowMs - sw.holdStartedMs,
      switch_latency_ms: nowMs - sw.t0Ms,
      disconnected: ids.length,
    });
    ids.forEach((id, i) => this.#hooks.disconnect(id, i + 1, nowMs));
  }

  #enterHold(reason: ReasonCode, nowMs: number): void {
    const sw = this.#switch;
    if (sw === null || sw.phase !== 'awaiting_verdict') return;
    sw.phase = 'holding';
    sw.holdStartedMs = nowMs;
    const c = this.#candidate;
    this.#hooks.emit({
      type: 'stale_hold_started',
      reason_code: reason,
      template_id: c === null ? null : c.template.templateId.toString(),
      prev_hash: c === null ? null : _display(c.template.prevHash),
      held_template_id: this.#released === null ? null : this.#released.templateId.toString(),
      hold_ms: Math.max(0, sw.expiresAtMs - nowMs),
      connections: this.#hooks.affectedConnections().length,
    });
  }

  /** The switch is over without a release (reverted upstream, shutdown). */
  #endSwitch(outcome: 'reverted' | 'shutdown', template: BlockTemplate | null, nowMs: number): void {
    const sw = this.#switch!;
    if (sw.phase === 'holding') {
      this.#hooks.emit({
        type: 'stale_hold_ended',
        outcome,
        template_id: template === null ? null : template.templateId.toString(),
        held_template_id: this.#released === null ? null : this.#released.templateId.toString(),
        duration_ms: nowMs - sw.holdStartedMs,
        switch_latency_ms: nowMs - sw.t0Ms,
        disconnected: 0,
      });
    }
    this.#switch = null;
    this.#verdictAtMs = undefined;
    this.#retryAtMs = undefined;
    this.#retryDelayMs = 0;
    if (outcome === 'reverted') this.#refusing = false;
  }

  #release(
    template: BlockTemplate,
    seq: number,
    prevKey: string,
    nowMs: number,
    why: { readonly cause: 'verdict_accepted' | 'permit_all' | 'not_enforced' | 'withdrawn'; readonly reason_code?: ReasonCode; readonly verified?: boolean },
  ): void {
    const switchesPrevhash = prevKey !== this.#releasedKey;
    const sw = this.#switch;
    const wasHolding = sw !== null && sw.phase === 'holding';
    const heldTemplateId = this.#released === null ? null : this.#released.templateId.toString();
    const verified = why.verified ?? why.cause === 'verdict_accepted';
    // permit_all: remember what to go back to if the verdict turns out to be a rejection.
    this.#permitted =
      why.cause === 'permit_all'
        ? {
            seq,
            sw: sw === null ? null : { ...sw },
            held:
              this.#released === null || this.#releasedKey === null || this.#releasedRejected
                ? null
                : { template: this.#released, seq: this.#releasedSeq, key: this.#releasedKey, verified: this.#releasedVerified },
          }
        : null;
    this.#releasedVerified = verified;
    this.#releasedRejected = false;
    this.#released = template;
    this.#releasedSeq = seq;
    this.#releasedKey = prevKey;
    if (this.#candidate !== null && this.#candidate.seq <= seq) this.#candidate = null;
    if (switchesPrevhash) {
      this.#hooks.emit({
        type: 'prevhash_switch',
        template_id: template.templateId.toString(),
        height: template.height,
        prev_hash: _display(template.prevHash),
        mode: this.mode,
        enforced: this.enforced,
        verified,
        cause: why.cause,
        ...(why.reason_code === undefined ? {} : { reason_code: why.reason_code }),
        latency_ms: sw === null ? 0 : nowMs - sw.t0Ms,
        from_hold: wasHolding,
        held_template_id: heldTemplateId,
      });
    }
    if (sw !== null && prevKey === this.#upstreamKey) {
      if (wasHolding) {
        this.#hooks.emit({
          type: 'stale_hold_ended',
          outcome: 'switched',
          template_id: template.templateId.toString(),
          held_template_id: heldTemplateId,
          duration_ms: nowMs - sw.holdStartedMs,
          switch_latency_ms: nowMs - sw.t0Ms,
          disconnected: 0,
        });
      }
      this.#switch = null;
      this.#verdictAtMs = undefined;
      this.#retryAtMs = undefined;
      this.#retryDelayMs = 0;
      this.#refusing = false;
    }
    this.#hooks.release(template, nowMs);
  }

  #emitVerdict(outcome: VerdictOutcome, req: _Request, action: TemplateVerdictAction): void {
    this.#hooks.emit({
      type: 'template_verdict',
      template_id: req.template.templateId.toString(),
      request_id: outcome.requestId,
      mode: this.mode,
      enforced: this.enforced,
      new_prevhash: req.newPrevhash,
      outcome: outcome.kind,
      reason_code: outcome.verdict.reason_code,
      latency_ms: outcome.latencyMs,
      action,
      verdict: outcome.verdict,
    });
  }
}

/**
 * What a verdict made the gate do (template_verdict.action): `logged` (shadow/observe: recorded
 * only), `released` (accepted: the template went to the miners), `permitted` (no verdict,
 * permit_all: released unverified), `hold` (this outcome started the stale hold), `withheld`
 * (not distributed; miners keep their work), `superseded` (a newer template or prevhash was
 * already served or upstream moved on: nothing to do), `withdrawn` (a rejection of the template
 * permit_all had released: the miners go back to their held work, or are disconnected).
 */
export type TemplateVerdictAction = 'logged' | 'released' | 'permitted' | 'hold' | 'withheld' | 'superseded' | 'withdrawn';
