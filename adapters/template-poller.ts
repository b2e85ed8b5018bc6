// Polls the template source every `timing.upstream_poll_interval_ms` and hands CHANGED templates
// to the gateway (SPEC §4, issue 3 item 1). One request at a time, on the injected Clock.
//
// What "changed" means (so miners are not re-sent identical work every second): a different
// prevhash, or on the same prevhash a different transaction set (txids in order), coinbase value
// (fees), version, nbits or height. `curtime` alone is not a change: miners roll ntime themselves.
// Exception: the first template after one or more failures is always handed over, changed or
// not, because that is how the gateway learns the node is back (it then emits
// `upstream_recovered`; without it a node restarted on the same tip would stay "unavailable").
//
// Failures (a returned UpstreamError, or a source that throws anyway): `gateway.upstreamFailed`
// with the error's code and message (one `upstream_unavailable` event per failed attempt, with
// the consecutive count), miners keep their last job, and the next attempt waits
// `backoffInitialMs × 2^(failures−1)` capped at `backoffMaxMs` (upstream.retry_backoff_initial_ms,
// timing.reconnect_backoff_max_ms). The first success returns to the normal interval.
import type { Clock, TimerId } from '../core/clock.ts';
import { equalBytes } from '../core/bytes.ts';
import type { BlockTemplate } from '../core/template/template.ts';
import type { TemplateSource } from './template-source.ts';

/** The part of the core Gateway the poller feeds. */
export interface TemplateSink {
  templateUpdated(template: BlockTemplate, nowMs: number): void;
  upstreamFailed(error: { readonly code: string; readonly message: string }, nowMs: number): void;
}

export interface TemplatePollerOptions {
  readonly source: TemplateSource;
  readonly gateway: TemplateSink;
  readonly clock: Clock;
  /** timing.upstream_poll_interval_ms */
  readonly pollIntervalMs: number;
  /** upstream.retry_backoff_initial_ms */
  readonly backoffInitialMs: number;
  /** timing.reconnect_backoff_max_ms */
  readonly backoffMaxMs: number;
  /** Called after every input to the gateway (the pump's `service()`), so its output is sent. */
  readonly onGatewayInput?: () => void;
  /** First template id handed to the source (NewTemplate.template_id). Default 1. */
  readonly firstTemplateId?: bigint;
}

export interface TemplatePollerStats {
  readonly polls: number;
  readonly failures: number;
  readonly consecutiveFailures: number;
  /** Templates handed to the gateway. */
  readonly templatesForwarded: number;
  /** Templates equal to the previous one, not forwarded. */
  readonly templatesUnchanged: number;
  /** Delay chosen for the next poll. */
  readonly nextDelayMs: number;
}

export class TemplatePoller {
  readonly #options: TemplatePollerOptions;
  #timer: TimerId | undefined;
  #running = false;
  #stopped = false;
  #inFlight: Promise<void> | undefined;
  #last: BlockTemplate | undefined;
  #nextTemplateId: bigint;
  #polls = 0;
  #failures = 0;
  #consecutiveFailures = 0;
  #forwarded = 0;
  #unchanged = 0;
  #nextDelayMs = 0;

  constructor(options: TemplatePollerOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`TemplatePoller: options must be an object, got ${String(options)}`);
    const positive = (name: keyof TemplatePollerOptions, value: unknown): void => {
      if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw new RangeError(`TemplatePoller: ${name} must be > 0, got ${String(value)}`);
    };
    positive('pollIntervalMs', options.pollIntervalMs);
    positive('backoffInitialMs', options.backoffInitialMs);
    positive('backoffMaxMs', options.backoffMaxMs);
    if (options.backoffMaxMs < options.backoffInitialMs) {
      throw new RangeError(`TemplatePoller: backoffMaxMs (${options.backoffMaxMs}) must be >= backoffInitialMs (${options.backoffInitialMs})`);
    }
    const first = options.firstTemplateId ?? 1n;
    if (typeof first !== 'bigint' || first < 0n || first > 0xffff_ffff_ffff_ffffn) throw new RangeError(`TemplatePoller: firstTemplateId must be a U64 bigint, got ${String(first)}`);
    this.#options = options;
    this.#nextTemplateId = first;
  }

  get running(): boolean {
    return this.#running;
  }

  /** The last template handed to the gateway. */
  get lastTemplate(): BlockTemplate | undefined {
    return this.#last;
  }

  get stats(): TemplatePollerStats {
    return {
      polls: this.#polls,
      failures: this.#failures,
      consecutiveFailures: this.#consecutiveFailures,
      templatesForwarded: this.#forwarded,
      templatesUnchanged: this.#unchanged,
      nextDelayMs: this.#nextDelayMs,
    };
  }

  /** Poll at once, then on the interval. Idempotent; a stopped poller stays stopped. */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#schedule(0);
  }

  /**
   * Stop polling. A request in flight is not awaited (it is bounded by the source's own
   * timeout); its answer is ignored, and so is every later poll. Idempotent.
   */
  stop(): void {
    this.#running = false;
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  /**
   * One poll now (tests, and a hint after a found block). Joins a poll already in flight rather
   * than starting a second one; the regular schedule continues from its end.
   */
  pollNow(): Promise<void> {
    if (this.#inFlight !== undefined) return this.#inFlight;
    if (this.#timer !== undefined) this.#options.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#inFlight = this.#pollOnce().finally(() => {
      this.#inFlight = undefined;
      if (this.#running) this.#schedule(this.#nextDelayMs);
    });
    return this.#inFlight;
  }

  #schedule(delayMs: number): void {
    if (!this.#running || this.#timer !== undefined) return;
    this.#timer = this.#options.clock.setTimer(delayMs, () => {
      this.#timer = undefined;
      void this.pollNow();
    });
  }

  async #pollOnce(): Promise<void> {
    const { source, gateway, clock } = this.#options;
    this.#polls += 1;
    const templateId = this.#nextTemplateId;
    let failure: { code: string; message: string } | undefined;
    let template: BlockTemplate | undefined;
    try {
      const result = await source.getBlockTemplate(templateId);
      if (result.ok) template = result.value;
      else failure = { code: result.error.code, message: result.error.message };
    } catch (error) {
      // The TemplateSource contract says failures are values; a throwing source is still not
      // allowed to stop polling or crash the gateway.
      failure = { code: 'upstream-unreachable', message: `getblocktemplate threw: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (this.#stopped) return;
    const nowMs = clock.monotonicMs();
    if (failure !== undefined) {
      this.#failures += 1;
      this.#consecutiveFailures += 1;
      const exponent = Math.min(this.#consecutiveFailures - 1, 30);
      this.#nextDelayMs = Math.min(this.#options.backoffInitialMs * 2 ** exponent, this.#options.backoffMaxMs);
      gateway.upstreamFailed(failure, nowMs);
      this.#options.onGatewayInput?.();
      return;
    }
    const recovering = this.#consecutiveFailures > 0;
    this.#consecutiveFailures = 0;
    this.#nextDelayMs = this.#options.pollIntervalMs;
    if (template === undefined) return;
    if (!recovering && this.#last !== undefined && !templateChanged(this.#last, template)) {
      this.#unchanged += 1;
      return;
    }
    // Ids are spent only on templates the gateway sees, so they stay dense and never repeat.
    this.#nextTemplateId = templateId === 0xffff_ffff_ffff_ffffn ? 0n : templateId + 1n;
    this.#last = template;
    this.#forwarded += 1;
    gateway.templateUpdated(template, nowMs);
    this.#options.onGatewayInput?.();
  }
}

/** True when `next` would give miners different work than `previous` (see the header). */
export function templateChanged(previous: BlockTemplate, next: BlockTemplate): boolean {
  if (!equalBytes(previous.prevHash, next.prevHash)) return true;
  if (previous.height !== next.height || previous.nbits !== next.nbits || previous.version !== next.version) return true;
  if (previous.coinbaseValue !== next.coinbaseValue) return true;
  const a = previous.transactions;
  const b = next.transactions;
  if (a.length !== b.length) return true;
  for (let i = 0; i < a.length; i++) if (!equalBytes(a[i]!.txid, b[i]!.txid)) return true;
  return false;
}
