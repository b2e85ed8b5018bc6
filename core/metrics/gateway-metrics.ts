// The gateway's metrics, fed from its event stream (SPEC §11, docs/metrics.md).
//
// WHY events and not counters sprinkled through the core: the events are already the product's
// record of every decision (docs/events.md); deriving the metrics from them keeps one source of
// truth, lets `reservegrid replay --summary` compute the same numbers offline from a log, and
// means a new event type only needs a `case` here. `observe(event)` takes any `{type, ...}`
// object: unknown types are only counted in `reservegrid_events_total{type}`, and fields are
// read defensively (a log line written by an older or newer build must not throw).
//
// Cardinality is bounded by construction: label values come from closed sets (reason codes from
// core/reason-codes.ts — anything else becomes `unknown` —, channel kinds, modes, statuses); no
// label ever carries a connection id, identity, share id or hash.
//
// Names follow Prometheus conventions (base units: seconds; counters end in `_total`) under one
// `reservegrid_` prefix, with SRI's monitoring (stratum-apps: `stratum_connections`,
// `stratum_channels{channel_type}`, `stratum_shares_total{channel_type}`,
// `stratum_shares_rejected_total{reason}`, `pool_templates_received_total`,
// `pool_blocks_found_total`) as the guide for subjects and labels: `channel_type` is
// `standard`/`extended` as there; our rejection label is `reason_code` because its values are
// our registry's codes, not SRI's seven reasons (docs/metrics.md has the mapping).
//
// Gauges that live in adapter objects (forwarding queue, poller counters) are pushed in with
// `setForwardQueue` / `setUpstreamPolls` (the stack calls them from a registry collector).
import { CONNECTION_REFUSED_REASON_CODES } from '../gateway/events.ts';
import { REASON_CODES, type ReasonCodeInfo } from '../reason-codes.ts';
import { MetricsRegistry, type Counter, type Gauge, type Histogram } from './registry.ts';
import { TdpMetrics } from './tdp-metrics.ts';
import { JdsMetrics } from './jds-metrics.ts';

/** Any event: the gateway's, the forwarder's, or a parsed log line. */
export type ObservableEvent = { readonly type: string } & Readonly<Record<string, unknown>>;

/** Latency buckets (seconds) for verdicts: the verdict budget is tens of ms (SPEC §6). */
export const VERDICT_LATENCY_BUCKETS_SECONDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Prevhash switch latency (seconds): from ms (no verdict wait) to a whole stale hold. */
export const SWITCH_LATENCY_BUCKETS_SECONDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Share forwarding accept → settle (seconds); mirrors core/forwarding FORWARD_LATENCY_BUCKETS_MS. */
export const FORWARD_LATENCY_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Stale hold duration (seconds). */
export const HOLD_DURATION_BUCKETS_SECONDS: readonly number[] = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Registry codes whose `emittedBy` passes `pick`. */
function _codes(pick: (code: string, info: ReasonCodeInfo) => boolean): readonly string[] {
  return Object.entries(REASON_CODES as Record<string, ReasonCodeInfo>)
    .filter(([code, info]) => pick(code, info))
    .map(([code]) => code);
}

/**
 * Label sets exported at 0 from the start, per reason-code family, read from the registry:
 * - closed: every `connection` code (the session closes with them, SetupConnection.Error ones
 *   included: docs/events.md `connection_closed.wire`) and `stale_hold_expired` (the verdict gate
 *   closes every miner with it, SPEC §6);
 * - rejected shares: the codes the registry says a `share_rejected` event carries;
 * - stale holds: the codes a `template_verdict` carries, but `template_accepted` (an accepted
 *   candidate never starts a hold).
 */
export const CONNECTION_CLOSED_REASON_CODES: readonly string[] = _codes((code, info) => info.category === 'connection' || code === 'stale_hold_expired');
export const SHARE_REJECTED_REASON_CODES: readonly string[] = _codes((_code, info) => /\bshare_rejected\b/.test(info.emittedBy));
export const STALE_HOLD_REASON_CODES: readonly string[] = _codes((code, info) => /\btemplate_verdict\b/.test(info.emittedBy) && code !== 'template_accepted');
const STALE_HOLD_OUTCOMES = ['switched', 'expired', 'reverted', 'shutdown'] as const;
const FORWARD_RETRY_ERRORS = ['http_error', 'timeout', 'transport_error'] as const;

/** Connections / channels tracked for handshake and channel gauges (bounded; STYLE.md #8). */
const TRACKED_CONNECTIONS_MAX = 1_000_000;

/** Snapshot of what the events say now, for `/status` (docs/http-api.md). */
export interface ObservedState {
  readonly mode: string | null;
  readonly connections_open: number;
  readonly channels_open: { readonly standard: number; readonly extended: number };
  readonly upstream: {
    readonly up: boolean | null;
    readonly consecutive_failures: number;
    readonly last_error: string | null;
    readonly last_template_id: string | null;
    readonly last_template_at: string | null;
    readonly height: number | null;
  };
  readonly verifier: {
    readonly verdicts: number;
    readonly unavailable: number;
    readonly last: {
      readonly template_id: string;
      readonly reason_code: string;
      readonly outcome: string;
      readonly action: string;
      readonly latency_ms: number;
      readonly at: string | null;
    } | null;
  };
  readonly prevhash: {
    readonly prev_hash: string | null;
    readonly height: number | null;
    readonly template_id: string | null;
    readonly switched_at: string | null;
    readonly last_switch_latency_ms: number | null;
    readonly last_switch_cause: string | null;
    readonly switches: number;
  };
  readonly hold: {
    readonly active: boolean;
    readonly reason_code: string | null;
    readonly template_id: string | null;
    readonly held_template_id: string | null;
    readonly hold_ms: number | null;
    readonly started_at: string | null;
    readonly last_outcome: string | null;
    readonly holds: number;
  };
  readonly shares: { readonly accepted: number; readonly rejected: number };
  readonly blocks: { readonly found: number; readonly pending: number; readonly last_result: string | null; readonly last_hash: string | null };
  readonly forwarding: { readonly results: number; readonly retries: number };
  readonly events: number;
  readonly last_event_at: string | null;
}

export class GatewayMetrics {
  readonly registry: MetricsRegistry;

  readonly #events: Counter;
  /** Template Provider metrics (issue 10): the tdp_ events. */
  readonly #tdp: TdpMetrics;
  readonly #jds: JdsMetrics;
  readonly #mode: Gauge;
  readonly #connOpened: Counter;
  readonly #connRefused: Counter;
  readonly #connClosed: Counter;
  readonly #connOpen: Gauge;
  readonly #connHandshaking: Gauge;
  readonly #handshakes: Counter;
  readonly #channelsOpened: Counter;
  readonly #channelsOpen: Gauge;
  readonly #channelRejected: Counter;
  readonly #channelsClosed: Counter;
  readonly #sharesAccepted: Counter;
  readonly #sharesAcceptedHold: Counter;
  readonly #shareDifficulty: Counter;
  readonly #sharesRejected: Counter;
  readonly #verdicts: Counter;
  readonly #verifierProtocolErrors: Counter;
  readonly #verdictLatency: Histogram;
  readonly #switches: Counter;
  readonly #switchLatency: Histogram;
  readonly #holdActive: Gauge;
  readonly #holdsStarted: Counter;
  readonly #holdsEnded: Counter;
  readonly #holdDuration: Histogram;
  readonly #holdDisconnects: Counter;
  readonly #forwardResults: Counter;
  readonly #forwardRetries: Counter;
  readonly #forwardLatency: Histogram;
  readonly #forwardQueueDepth: Gauge;
  readonly #forwardQueueCapacity: Gauge;
  readonly #forwardInFlight: Gauge;
  readonly #blocksFound: Counter;
  readonly #blockResults: Counter;
  readonly #blockRetries: Counter;
  readonly #blocksPending: Gauge;
  readonly #templates: Counter;
  readonly #jobBroadcasts: Counter;
  readonly #upstreamPolls: Counter;
  readonly #upstreamUp: Gauge;
  readonly #upstreamFailures: Gauge;
  readonly #chainHeight: Gauge;

  /** conn_id → set up? (false until connection_setup): handshake results. */
  readonly #connections = new Map<number, boolean>();
  /** conn_id → channel_id → kind: channel gauges close with their connection. */
  readonly #channels = new Map<number, Map<number, 'standard' | 'extended'>>();
  #polls = { ok: 0, error: 0 };
  #state: _MutableState = _initialState();

  constructor(options: { readonly mode?: string } = {}) {
    const r = (this.registry = new MetricsRegistry());
    this.#events = r.counter({ name: 'reservegrid_events_total', help: 'Events observed, by event type (docs/events.md).', labels: ['type'], seriesMax: 96 });
    this.#tdp = new TdpMetrics(r);
    this.#jds = new JdsMetrics(r);
    this.#mode = r.gauge({ name: 'reservegrid_gateway_mode', help: 'gateway.mode: 1 for the configured mode (shadow, observe, inline).', labels: ['mode'], seriesMax: 3 });

    this.#connOpened = r.counter({ name: 'reservegrid_connections_opened_total', help: 'Miner TCP connections accepted.' });
    this.#connRefused = r.counter({ name: 'reservegrid_connections_refused_total', help: 'Miner connections refused at accept, by reason code.', labels: ['reason_code'], seriesMax: 16 });
    this.#connClosed = r.counter({ name: 'reservegrid_connections_closed_total', help: 'Miner connections closed, by reason code.', labels: ['reason_code'], seriesMax: 64 });
    this.#connOpen = r.gauge({ name: 'reservegrid_connections_open', help: 'Miner connections open now.' });
    // Issue 12 item 4: the half-open connections the [limits] admission bounds.
    this.#connHandshaking = r.gauge({ name: 'reservegrid_connections_handshaking', help: 'Miner connections accepted and not yet past SetupConnection.Success (bounded by limits.max_handshaking).' });
    this.#handshakes = r.counter({
      name: 'reservegrid_handshakes_total',
      help: 'Connection handshakes (Noise NX + SetupConnection) by result: success, or the reason code that ended the connection before SetupConnection.Success.',
      labels: ['result'],
      seriesMax: 32,
    });

    this.#channelsOpened = r.counter({ name: 'reservegrid_channels_opened_total', help: 'Mining channels opened, by channel type (standard, extended).', labels: ['channel_type'], seriesMax: 2 });
    this.#channelsOpen = r.gauge({ name: 'reservegrid_channels_open', help: 'Mining channels open now, by channel type.', labels: ['channel_type'], seriesMax: 2 });
    this.#channelRejected = r.counter({ name: 'reservegrid_channel_open_rejected_total', help: 'OpenMiningChannel requests refused, by channel type and reason code.', labels: ['channel_type', 'reason_code'], seriesMax: 64 });
    this.#channelsClosed = r.counter({ name: 'reservegrid_channels_closed_total', help: 'Mining channels closed (CloseChannel, or their connection ended), by reason code.', labels: ['reason_code'], seriesMax: 64 });

    this.#sharesAccepted = r.counter({ name: 'reservegrid_shares_accepted_total', help: 'Shares accepted (SubmitShares.Success), by channel type.', labels: ['channel_type'], seriesMax: 3 });
    this.#sharesAcceptedHold = r.counter({ name: 'reservegrid_shares_accepted_stale_hold_total', help: 'Shares accepted during a stale hold, on held work (SPEC §6).' });
    this.#shareDifficulty = r.counter({ name: 'reservegrid_share_difficulty_accepted_total', help: 'Sum of the difficulty credited to accepted shares (hash rate ≈ rate × 2^32 H/s).' });
    this.#sharesRejected = r.counter({ name: 'reservegrid_shares_rejected_total', help: 'Shares rejected (SubmitShares.Error), by reason code.', labels: ['reason_code'], seriesMax: 64 });

    this.#verdicts = r.counter({
      name: 'reservegrid_template_verdicts_total',
      help: 'Template verdicts, by gateway mode, reason code (template_accepted, a rejection code, verdict_timeout, verifier_unavailable) and the action taken.',
      labels: ['mode', 'reason_code', 'action'],
      seriesMax: 512,
    });
    this.#verifierProtocolErrors = r.counter({
      name: 'reservegrid_verifier_protocol_errors_total',
      help: 'Verifier answers refused as protocol errors (never applied; the connection is dropped), by reason code.',
      labels: ['reason_code'],
      seriesMax: 8,
    });
    this.#verdictLatency = r.histogram({ name: 'reservegrid_template_verdict_latency_seconds', help: 'Template verdict latency (request to verdict, or to giving up), by mode.', labels: ['mode'], seriesMax: 3, buckets: VERDICT_LATENCY_BUCKETS_SECONDS });
    this.#switches = r.counter({ name: 'reservegrid_prevhash_switches_total', help: 'Miners moved to a new prevhash, by mode, cause (verdict_accepted, permit_all, not_enforced, withdrawn) and whether it ended a stale hold.', labels: ['mode', 'cause', 'from_hold'], seriesMax: 32 });
    this.#switchLatency = r.histogram({ name: 'reservegrid_prevhash_switch_latency_seconds', help: 'From the first new-prevhash template to SetNewPrevHash on the miners, by mode.', labels: ['mode'], seriesMax: 3, buckets: SWITCH_LATENCY_BUCKETS_SECONDS });

    this.#holdActive = r.gauge({ name: 'reservegrid_stale_hold_active', help: '1 while a stale hold is on (miners kept on the old prevhash), else 0.' });
    this.#holdsStarted = r.counter({ name: 'reservegrid_stale_holds_started_total', help: 'Stale holds started, by reason code (the candidate\'s rejection, verdict_timeout, verifier_unavailable).', labels: ['reason_code'], seriesMax: 64 });
    this.#holdsEnded = r.counter({ name: 'reservegrid_stale_holds_ended_total', help: 'Stale holds ended, by outcome (switched, expired, reverted, shutdown).', labels: ['outcome'], seriesMax: 8 });
    this.#holdDuration = r.histogram({ name: 'reservegrid_stale_hold_duration_seconds', help: 'How long stale holds lasted.', buckets: HOLD_DURATION_BUCKETS_SECONDS });
    this.#holdDisconnects = r.counter({ name: 'reservegrid_stale_hold_disconnects_total', help: 'Miner connections closed because a stale hold expired.' });

    this.#forwardResults = r.counter({ name: 'reservegrid_share_forward_results_total', help: 'Accepted shares settled by the forwarder, by status (ok, rejected, http_error, timeout, transport_error, dropped_queue_full, dropped_shutdown).', labels: ['status'], seriesMax: 16 });
    this.#forwardRetries = r.counter({ name: 'reservegrid_share_forward_retries_total', help: 'Share batch POSTs that failed and will be retried, by error.', labels: ['error'], seriesMax: 8 });
    this.#forwardLatency = r.histogram({ name: 'reservegrid_share_forward_latency_seconds', help: 'Share accept → settled by the pool backend (shares that were sent).', buckets: FORWARD_LATENCY_BUCKETS_SECONDS });
    this.#forwardQueueDepth = r.gauge({ name: 'reservegrid_share_forward_queue_depth', help: 'Accepted shares waiting to be sent (fresh, backing off, or ready to resend).' });
    this.#forwardQueueCapacity = r.gauge({ name: 'reservegrid_share_forward_queue_capacity', help: 'share.share_forward_queue_size: unsettled shares held at most.' });
    this.#forwardInFlight = r.gauge({ name: 'reservegrid_share_forward_in_flight_shares', help: 'Shares in POSTs awaiting an answer.' });

    this.#blocksFound = r.counter({ name: 'reservegrid_blocks_found_total', help: 'Shares that met the network target (blocks found).' });
    this.#blockResults = r.counter({ name: 'reservegrid_block_submit_results_total', help: 'Found blocks settled, by result (accepted, duplicate, inconclusive, rejected, failed).', labels: ['result'], seriesMax: 8 });
    this.#blockRetries = r.counter({ name: 'reservegrid_block_submit_retries_total', help: 'submitblock attempts that got no answer and were retried.' });
    this.#blocksPending = r.gauge({ name: 'reservegrid_blocks_pending', help: 'Found blocks awaiting the node\'s answer.' });

    this.#templates = r.counter({ name: 'reservegrid_templates_received_total', help: 'Block templates received from the upstream source, by whether the prevhash was new.', labels: ['new_prevhash'], seriesMax: 2 });
    this.#jobBroadcasts = r.counter({ name: 'reservegrid_job_broadcasts_total', help: 'Work broadcasts to the miners, by kind (future_prevhash, update).', labels: ['kind'], seriesMax: 2 });
    this.#upstreamPolls = r.counter({ name: 'reservegrid_upstream_polls_total', help: 'Template source polls (getblocktemplate), by result (ok, error).', labels: ['result'], seriesMax: 2 });
    this.#upstreamUp = r.gauge({ name: 'reservegrid_upstream_up', help: '1 when the last template source poll succeeded, 0 after a failure (and before the first template).' });
    this.#upstreamFailures = r.gauge({ name: 'reservegrid_upstream_consecutive_failures', help: 'Template source failures since the last success.' });
    this.#chainHeight = r.gauge({ name: 'reservegrid_chain_height', help: 'Height of the block the newest template builds.' });

    // Expose the closed label sets at 0 so dashboards and alerts see them before the first event.
    for (const channel_type of ['standard', 'extended']) {
      this.#channelsOpened.touch({ channel_type });
      this.#channelsOpen.touch({ channel_type });
      this.#sharesAccepted.touch({ channel_type });
    }
    this.#handshakes.touch({ result: 'success' });
    for (const result of ['ok', 'error']) this.#upstreamPolls.touch({ result });
    for (const status of ['ok', 'rejected', 'http_error', 'timeout', 'transport_error', 'dropped_queue_full', 'dropped_shutdown']) this.#forwardResults.touch({ status });
    for (const result of ['accepted', 'duplicate', 'inconclusive', 'rejected', 'failed']) this.#blockResults.touch({ result });
    for (const v of ['true', 'false']) this.#templates.touch({ new_prevhash: v });
    for (const kind of ['future_prevhash', 'update']) this.#jobBroadcasts.touch({ kind });
    // The reason-code families too (issue 14: "Connections closed / s" read "No data" on a healthy
    // gateway until its first close). Which codes each can carry comes from the registry.
    for (const reason_code of CONNECTION_REFUSED_REASON_CODES) this.#connRefused.touch({ reason_code });
    for (const reason_code of CONNECTION_CLOSED_REASON_CODES) this.#connClosed.touch({ reason_code });
    for (const reason_code of SHARE_REJECTED_REASON_CODES) this.#sharesRejected.touch({ reason_code });
    for (const reason_code of STALE_HOLD_REASON_CODES) this.#holdsStarted.touch({ reason_code });
    for (const outcome of STALE_HOLD_OUTCOMES) this.#holdsEnded.touch({ outcome });
    for (const error of FORWARD_RETRY_ERRORS) this.#forwardRetries.touch({ error });
    if (options.mode !== undefined) this.setMode(options.mode);
  }

  /** The configured gateway.mode (status and `reservegrid_gateway_mode`). */
  setMode(mode: string): void {
    const m = _oneOf(mode, ['shadow', 'observe', 'inline']);
    for (const known of ['shadow', 'observe', 'inline']) this.#mode.set({ mode: known }, known === m ? 1 : 0);
    this.#state.mode = m;
    for (const labels of [{ mode: m }]) {
      this.#verdictLatency.touch(labels);
      this.#switchLatency.touch(labels);
    }
  }

  /** The forwarder's queue (adapters/share-forwarding.ts `metrics`). */
  setForwardQueue(queue: { readonly queueDepth: number; readonly queueCapacity: number; readonly inFlightShares: number }): void {
    this.#forwardQueueDepth.set(undefined, _num(queue.queueDepth) ?? 0);
    this.#forwardQueueCapacity.set(undefined, _num(queue.queueCapacity) ?? 0);
    this.#forwardInFlight.set(undefined, _num(queue.inFlightShares) ?? 0);
  }

  /** The template poller's running totals (adapters/template-poller.ts `stats`): counters advance by the difference. */
  setUpstreamPolls(stats: { readonly polls: number; readonly failures: number }): void {
    const polls = _num(stats.polls) ?? 0;
    const failures = _num(stats.failures) ?? 0;
    const ok = Math.max(0, polls - failures);
    if (ok > this.#polls.ok) this.#upstreamPolls.inc({ result: 'ok' }, ok - this.#polls.ok);
    if (failures > this.#polls.error) this.#upstreamPolls.inc({ result: 'error' }, failures - this.#polls.error);
    this.#polls = { ok: Math.max(ok, this.#polls.ok), error: Math.max(failures, this.#polls.error) };
  }

  /** Feed one event. Never throws on odd content (fields are checked, not trusted). */
  observe(event: ObservableEvent): void {
    if (event === null || typeof event !== 'object' || typeof event.type !== 'string') return;
    const s = this.#state;
    s.events += 1;
    const at = typeof event.ts === 'string' ? event.ts : null;
    if (at !== null) s.last_event_at = at;
    this.#events.inc({ type: /^[a-z][a-z0-9_]{0,63}$/.test(event.type) ? event.type : 'invalid' });
    const e = event as Readonly<Record<string, unknown>>;
    if (event.type.startsWith('tdp_')) {
      this.#tdp.observe(e);
      return;
    }
    if (event.type.startsWith('jd_')) {
      this.#jds.observe(e);
      return;
    }
    switch (event.type) {
      case 'connection_opened': {
        this.#connOpened.inc();
        const conn = _num(e.conn_id);
        if (conn !== undefined && this.#connections.size < TRACKED_CONNECTIONS_MAX) {
          this.#connections.set(conn, false);
          this.#connHandshaking.inc();
        }
        const open = _num(e.open_connections);
        s.connections_open = open ?? s.connections_open + 1;
        this.#connOpen.set(undefined, s.connections_open);
        break;
      }
      case 'connection_refused':
        this.#connRefused.inc({ reason_code: _reason(e.reason_code) });
        break;
      case 'connection_setup': {
        const conn = _num(e.conn_id);
        if (conn !== undefined && this.#connections.get(conn) === false) {
          this.#connections.set(conn, true);
          this.#connHandshaking.dec();
        }
        this.#handshakes.inc({ result: 'success' });
        break;
      }
      case 'connection_closed': {
        const reason = _reason(e.reason_code);
        this.#connClosed.inc({ reason_code: reason });
        const conn = _num(e.conn_id);
        if (conn !== undefined) {
          if (this.#connections.get(conn) === false) {
            this.#handshakes.inc({ result: reason });
            this.#connHandshaking.dec();
          }
          this.#connections.delete(conn);
          const channels = this.#channels.get(conn);
          if (channels !== undefined) {
            for (const kind of channels.values()) this.#channelClosed(kind, reason);
            this.#channels.delete(conn);
          }
        }
        s.connections_open = Math.max(0, s.connections_open - 1);
        this.#connOpen.set(undefined, s.connections_open);
        break;
      }
      case 'channel_opened': {
        const kind = e.kind === 'extended' ? 'extended' : 'standard';
        this.#channelsOpened.inc({ channel_type: kind });
        this.#channelsOpen.inc({ channel_type: kind });
        s.channels_open[kind] += 1;
        const conn = _num(e.conn_id);
        const channel = _num(e.channel_id);
        if (conn !== undefined && channel !== undefined) {
          let m = this.#channels.get(conn);
          if (m === undefined && this.#channels.size < TRACKED_CONNECTIONS_MAX) this.#channels.set(conn, (m = new Map()));
          m?.set(channel, kind);
        }
        break;
      }
      case 'channel_open_rejected':
        this.#channelRejected.inc({ channel_type: e.kind === 'extended' ? 'extended' : 'standard', reason_code: _reason(e.reason_code) });
        break;
      case 'channel_closed': {
        const conn = _num(e.conn_id);
        const channel = _num(e.channel_id);
        const m = conn === undefined ? undefined : this.#channels.get(conn);
        const kind = channel === undefined ? undefined : m?.get(channel);
        if (kind !== undefined) {
          m!.delete(channel!);
          this.#channelClosed(kind, _reason(e.reason_code));
        }
        break;
      }
      case 'share_accepted':
        this.#sharesAccepted.inc({ channel_type: this.#channelKind(e.conn_id, e.channel_id) ?? 'unknown' });
        s.shares.accepted += 1;
        if (e.stale_hold === true) this.#sharesAcceptedHold.inc();
        {
          const d = _num(e.difficulty);
          if (d !== undefined && d >= 0) this.#shareDifficulty.inc(undefined, d);
        }
        break;
      case 'share_rejected':
        this.#sharesRejected.inc({ reason_code: _reason(e.reason_code) });
        s.shares.rejected += 1;
        break;
      case 'verifier_protocol_error':
        this.#verifierProtocolErrors.inc({ reason_code: _reason(e.reason_code) });
        break;
      case 'template_verdict': {
        const mode = _oneOf(e.mode, ['shadow', 'observe', 'inline']);
        const reason = _reason(e.reason_code);
        const action = _oneOf(e.action, ['logged', 'released', 'permitted', 'hold', 'withheld', 'superseded', 'withdrawn']);
        this.#verdicts.inc({ mode, reason_code: reason, action });
        const latency = _num(e.latency_ms);
        if (latency !== undefined && latency >= 0) this.#verdictLatency.observe({ mode }, latency / 1000);
        s.verifier.verdicts += 1;
        if (e.outcome === 'unavailable') s.verifier.unavailable += 1;
        s.verifier.last = {
          template_id: _str(e.template_id) ?? '',
          reason_code: reason,
          outcome: _str(e.outcome) ?? 'unknown',
          action,
          latency_ms: latency ?? 0,
          at,
        };
        break;
      }
      case 'prevhash_switch': {
        const mode = _oneOf(e.mode, ['shadow', 'observe', 'inline']);
        const cause = _oneOf(e.cause, ['verdict_accepted', 'permit_all', 'not_enforced', 'withdrawn']);
        this.#switches.inc({ mode, cause, from_hold: e.from_hold === true ? 'true' : 'false' });
        const latency = _num(e.latency_ms);
        if (latency !== undefined && latency >= 0) this.#switchLatency.observe({ mode }, latency / 1000);
        const p = s.prevhash;
        p.prev_hash = _str(e.prev_hash) ?? p.prev_hash;
        p.height = _num(e.height) ?? p.height;
        p.template_id = _str(e.template_id) ?? p.template_id;
        p.switched_at = at;
        p.last_switch_latency_ms = latency ?? null;
        p.last_switch_cause = cause;
        p.switches += 1;
        break;
      }
      case 'stale_hold_started':
        this.#holdActive.set(undefined, 1);
        this.#holdsStarted.inc({ reason_code: _reason(e.reason_code) });
        s.hold = {
          ...s.hold,
          active: true,
          reason_code: _reason(e.reason_code),
          template_id: _str(e.template_id) ?? null,
          held_template_id: _str(e.held_template_id) ?? null,
          hold_ms: _num(e.hold_ms) ?? null,
          started_at: at,
          holds: s.hold.holds + 1,
        };
        break;
      case 'stale_hold_ended': {
        this.#holdActive.set(undefined, 0);
        const outcome = _oneOf(e.outcome, STALE_HOLD_OUTCOMES);
        this.#holdsEnded.inc({ outcome });
        const d = _num(e.duration_ms);
        if (d !== undefined && d >= 0) this.#holdDuration.observe(undefined, d / 1000);
        s.hold = { ...s.hold, active: false, last_outcome: outcome };
        break;
      }
      case 'miner_disconnected':
        this.#holdDisconnects.inc();
        break;
      case 'share_forward_result': {
        this.#forwardResults.inc({ status: _oneOf(e.status, ['ok', 'rejected', 'http_error', 'timeout', 'transport_error', 'dropped_queue_full', 'dropped_shutdown']) });
        const attempts = _num(e.attempts);
        const latency = _num(e.latency_ms);
        if (attempts !== undefined && attempts > 0 && latency !== undefined && latency >= 0) this.#forwardLatency.observe(undefined, latency / 1000);
        s.forwarding.results += 1;
        break;
      }
      case 'share_forward_retry':
        this.#forwardRetries.inc({ error: _oneOf(e.error, FORWARD_RETRY_ERRORS) });
        s.forwarding.retries += 1;
        break;
      case 'block_found':
        this.#blocksFound.inc();
        s.blocks.found += 1;
        s.blocks.pending += 1;
        this.#blocksPending.set(undefined, s.blocks.pending);
        break;
      case 'block_submit_retry':
        this.#blockRetries.inc();
        break;
      case 'block_submit_result':
        this.#blockResults.inc({ result: _oneOf(e.result, ['accepted', 'duplicate', 'inconclusive', 'rejected', 'failed']) });
        s.blocks.pending = Math.max(0, s.blocks.pending - 1);
        s.blocks.last_result = _str(e.result) ?? null;
        s.blocks.last_hash = _str(e.block_hash) ?? null;
        this.#blocksPending.set(undefined, s.blocks.pending);
        break;
      case 'template_received': {
        const newPrevhash = e.new_prevhash === true;
        this.#templates.inc({ new_prevhash: newPrevhash ? 'true' : 'false' });
        const height = _num(e.height);
        if (height !== undefined) this.#chainHeight.set(undefined, height);
        this.#upstreamUp.set(undefined, 1);
        this.#upstreamFailures.set(undefined, 0);
        const u = s.upstream;
        u.up = true;
        u.consecutive_failures = 0;
        u.last_template_id = _str(e.template_id) ?? null;
        u.last_template_at = at;
        u.height = height ?? u.height;
        // Before the modes helper's prevhash_switch events (or in a mode without them), the
        // newest new-prevhash template is the best view of the prevhash.
        if (newPrevhash && s.prevhash.switches === 0) {
          s.prevhash.prev_hash = _str(e.prev_hash) ?? s.prevhash.prev_hash;
          s.prevhash.height = height ?? s.prevhash.height;
          s.prevhash.template_id = u.last_template_id;
        }
        break;
      }
      case 'job_broadcast':
        this.#jobBroadcasts.inc({ kind: _oneOf(e.kind, ['future_prevhash', 'update']) });
        break;
      case 'upstream_unavailable': {
        const n = _num(e.consecutive_failures) ?? s.upstream.consecutive_failures + 1;
        this.#upstreamUp.set(undefined, 0);
        this.#upstreamFailures.set(undefined, n);
        s.upstream.up = false;
        s.upstream.consecutive_failures = n;
        s.upstream.last_error = `${_str(e.error_code) ?? 'error'}: ${_str(e.message) ?? ''}`;
        break;
      }
      case 'upstream_recovered':
        this.#upstreamUp.set(undefined, 1);
        this.#upstreamFailures.set(undefined, 0);
        s.upstream.up = true;
        s.upstream.consecutive_failures = 0;
        break;
      default:
        break;
    }
  }

  /** What the events say now (a copy). */
  get state(): ObservedState {
    return structuredCloneState(this.#state);
  }

  #channelKind(conn: unknown, channel: unknown): 'standard' | 'extended' | undefined {
    const c = _num(conn);
    const ch = _num(channel);
    return c === undefined || ch === undefined ? undefined : this.#channels.get(c)?.get(ch);
  }

  #channelClosed(kind: 'standard' | 'extended', reason: string): void {
    this.#channelsClosed.inc({ reason_code: reason });
    this.#channelsOpen.dec({ channel_type: kind });
    this.#state.channels_open[kind] = Math.max(0, this.#state.channels_open[kind] - 1);
  }
}

type _Mutable<T> = { -readonly [K in keyof T]: T[K] extends object | null ? (T[K] extends null ? T[K] : _Mutable<T[K]>) : T[K] };
type _MutableState = _Mutable<ObservedState> & { verifier: { last: ObservedState['verifier']['last'] } };

function _initialState(): _MutableState {
  return {
    mode: null,
    connections_open: 0,
    channels_open: { standard: 0, extended: 0 },
    upstream: { up: null, consecutive_failures: 0, last_error: null, last_template_id: null, last_template_at: null, height: null },
    verifier: { verdicts: 0, unavailable: 0, last: null },
    prevhash: { prev_hash: null, height: null, template_id: null, switched_at: null, last_switch_latency_ms: null, last_switch_cause: null, switches: 0 },
    hold: { active: false, reason_code: null, template_id: null, held_template_id: null, hold_ms: null, started_at: null, last_outcome: null, holds: 0 },
    shares: { accepted: 0, rejected: 0 },
    blocks: { found: 0, pending: 0, last_result: null, last_hash: null },
    forwarding: { results: 0, retries: 0 },
    events: 0,
    last_event_at: null,
  };
}

function structuredCloneState(s: _MutableState): ObservedState {
  // Plain data only (strings, numbers, booleans, null): JSON round trip is an exact deep copy.
  return JSON.parse(JSON.stringify(s)) as ObservedState;
}

/** A reason code from the registry, else `unknown` (bounds the label's values). */
function _reason(value: unknown): string {
  return typeof value === 'string' && Object.hasOwn(REASON_CODES, value) ? value : 'unknown';
}

function _oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | 'unknown' {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : 'unknown';
}

function _num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function _str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
