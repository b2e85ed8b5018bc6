// Job Declaration Server metrics (issue 11, docs/metrics.md "Job Declaration"), fed from the jd_
// events like every other metric (core/metrics/gateway-metrics.ts explains why events). Every
// refusal has a code and a counter: `reservegrid_jd_declarations_total{reason_code}` counts each
// declaration by its verdict code (token, list, coinbase, missing-transaction and policy codes),
// `reservegrid_jd_connections_closed_total{reason_code}` the floods, malformed frames and auth
// failures. Label values are closed sets; no label carries a connection id, user or token.
import { REASON_CODES } from '../reason-codes.ts';
import type { Counter, Gauge, Histogram, MetricsRegistry } from './registry.ts';

/** BIP23 proposal results as policy_context.proposal_result carries them (core/job-declaration/proposal.ts). */
const PROPOSAL_RESULTS = ['valid', 'invalid', 'timeout', 'node_error', 'malformed'] as const;
/** A proposal is a node round trip: milliseconds to the 60 s ceiling of proposal_timeout_ms. */
const PROPOSAL_LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 60];

export class JdsMetrics {
  readonly #opened: Counter;
  readonly #refused: Counter;
  readonly #closed: Counter;
  readonly #open: Gauge;
  readonly #tokens: Counter;
  readonly #missing: Counter;
  readonly #declarations: Counter;
  readonly #unknownResponses: Counter;
  readonly #proposals: Counter;
  readonly #proposalLatency: Histogram;
  readonly #lateProposals: Counter;
  #openNow = 0;

  constructor(r: MetricsRegistry) {
    this.#opened = r.counter({ name: 'reservegrid_jd_connections_opened_total', help: 'Job Declaration connections accepted.' });
    this.#refused = r.counter({ name: 'reservegrid_jd_connections_refused_total', help: 'Job Declaration connections refused at accept, by reason code.', labels: ['reason_code'], seriesMax: 8 });
    this.#closed = r.counter({ name: 'reservegrid_jd_connections_closed_total', help: 'Job Declaration connections closed, by reason code.', labels: ['reason_code'], seriesMax: 32 });
    this.#open = r.gauge({ name: 'reservegrid_jd_connections_open', help: 'Job Declaration clients connected now.' });
    this.#tokens = r.counter({ name: 'reservegrid_jd_tokens_allocated_total', help: 'AllocateMiningJobToken.Success sent, by mode (full_template, coinbase_only).', labels: ['mode'], seriesMax: 2 });
    this.#missing = r.counter({ name: 'reservegrid_jd_missing_transactions_total', help: 'Transactions asked for with ProvideMissingTransactions.' });
    this.#declarations = r.counter({
      name: 'reservegrid_jd_declarations_total',
      help: 'DeclareMiningJob answered, by mode, whether it was answered with Success, and the verdict reason code.',
      labels: ['mode', 'answered', 'reason_code'],
      seriesMax: 96,
    });
    this.#unknownResponses = r.counter({ name: 'reservegrid_jd_unexpected_responses_total', help: 'ProvideMissingTransactions.Success for no waiting declaration (ignored).' });
    this.#proposals = r.counter({ name: 'reservegrid_jd_proposals_total', help: 'BIP23 block proposals of declared jobs answered or given up, by result (valid, invalid, timeout, node_error, malformed).', labels: ['result'], seriesMax: 8 });
    this.#proposalLatency = r.histogram({ name: 'reservegrid_jd_proposal_latency_seconds', help: 'BIP23 proposal of a declared job: sent to the node → answer (or the timeout).', buckets: PROPOSAL_LATENCY_BUCKETS_SECONDS });
    this.#lateProposals = r.counter({ name: 'reservegrid_jd_proposal_late_answers_total', help: 'Proposal answers for declarations no longer waiting (after job_declaration.proposal_timeout_ms, or the connection closed): ignored.' });
    for (const result of PROPOSAL_RESULTS) this.#proposals.touch({ result });
    for (const mode of ['full_template', 'coinbase_only']) this.#tokens.touch({ mode });
    this.#open.set(undefined, 0);
  }

  /** Feed one jd_ event (fields read defensively, as in GatewayMetrics). */
  observe(e: Readonly<Record<string, unknown>>): void {
    switch (e.type) {
      case 'jd_connection_opened':
        this.#opened.inc();
        this.#openNow = typeof e.open_clients === 'number' ? e.open_clients : this.#openNow + 1;
        this.#open.set(undefined, this.#openNow);
        break;
      case 'jd_connection_refused':
        this.#refused.inc({ reason_code: _reason(e.reason_code) });
        break;
      case 'jd_connection_closed':
        this.#closed.inc({ reason_code: _reason(e.reason_code) });
        this.#openNow = Math.max(0, this.#openNow - 1);
        this.#open.set(undefined, this.#openNow);
        break;
      case 'jd_token_allocated':
        this.#tokens.inc({ mode: e.coinbase_only === true ? 'coinbase_only' : 'full_template' });
        break;
      case 'jd_missing_transactions':
        if (typeof e.missing_count === 'number' && e.missing_count > 0) this.#missing.inc(undefined, e.missing_count);
        break;
      case 'jd_declaration_verdict':
        this.#declarations.inc({
          mode: e.mode === 'inline' || e.mode === 'observe' ? e.mode : 'unknown',
          answered: e.answered_success === true ? 'success' : 'error',
          reason_code: _reason(e.reason_code),
        });
        this.#observeProposal(e.policy_context);
        break;
      case 'jd_proposal_late':
        this.#lateProposals.inc();
        break;
      case 'jd_unexpected_response':
        this.#unknownResponses.inc();
        break;
      default:
        break;
    }
  }

  /** A verdict the node took part in carries proposal_result and proposal_latency_ms (proposal.ts). */
  #observeProposal(context: unknown): void {
    if (context === null || typeof context !== 'object') return;
    const c = context as Record<string, unknown>;
    const result = _proposalResult(c.proposal_result);
    if (result === null) return;
    this.#proposals.inc({ result });
    if (typeof c.proposal_latency_ms === 'number' && Number.isFinite(c.proposal_latency_ms) && c.proposal_latency_ms >= 0) this.#proposalLatency.observe(undefined, c.proposal_latency_ms / 1000);
  }
}

function _proposalResult(value: unknown): (typeof PROPOSAL_RESULTS)[number] | null {
  return typeof value === 'string' && (PROPOSAL_RESULTS as readonly string[]).includes(value) ? (value as (typeof PROPOSAL_RESULTS)[number]) : null;
}

function _reason(value: unknown): string {
  return typeof value === 'string' && Object.hasOwn(REASON_CODES, value) ? value : 'unknown';
}
