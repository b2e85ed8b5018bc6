// Template Provider metrics (issue 10, docs/metrics.md "Template Provider"), fed from the tdp_
// events like every other metric (core/metrics/gateway-metrics.ts explains why events). Label
// values are closed sets: registry reason codes (anything else becomes `unknown`), causes,
// results. No label carries a connection id or template id.
import { REASON_CODES } from '../reason-codes.ts';
import type { Counter, Gauge, MetricsRegistry } from './registry.ts';

export class TdpMetrics {
  readonly #opened: Counter;
  readonly #refused: Counter;
  readonly #closed: Counter;
  readonly #open: Gauge;
  readonly #constraints: Counter;
  readonly #templates: Counter;
  readonly #droppedTxs: Counter;
  readonly #txData: Counter;
  readonly #solutions: Counter;
  #openNow = 0;

  constructor(r: MetricsRegistry) {
    this.#opened = r.counter({ name: 'reservegrid_tdp_connections_opened_total', help: 'Template Distribution connections accepted.' });
    this.#refused = r.counter({ name: 'reservegrid_tdp_connections_refused_total', help: 'Template Distribution connections refused at accept, by reason code.', labels: ['reason_code'], seriesMax: 8 });
    this.#closed = r.counter({ name: 'reservegrid_tdp_connections_closed_total', help: 'Template Distribution connections closed, by reason code.', labels: ['reason_code'], seriesMax: 32 });
    this.#open = r.gauge({ name: 'reservegrid_tdp_connections_open', help: 'Template Distribution clients connected now.' });
    this.#constraints = r.counter({ name: 'reservegrid_tdp_constraints_total', help: 'CoinbaseOutputConstraints received, by whether it was the first on its connection and accepted.', labels: ['first', 'accepted'], seriesMax: 4 });
    this.#templates = r.counter({ name: 'reservegrid_tdp_templates_sent_total', help: 'NewTemplate messages sent to TDP clients, by cause (tip = future + SetNewPrevHash, fee_update, constraints_changed).', labels: ['cause'], seriesMax: 4 });
    this.#droppedTxs = r.counter({ name: 'reservegrid_tdp_transactions_trimmed_total', help: 'Transactions left out of templates sent to TDP clients to honour their coinbase constraints.' });
    this.#txData = r.counter({ name: 'reservegrid_tdp_transaction_data_total', help: 'RequestTransactionData answers, by result and reason code.', labels: ['result', 'reason_code'], seriesMax: 8 });
    this.#solutions = r.counter({ name: 'reservegrid_tdp_solutions_total', help: 'SubmitSolution messages, by result (submitted, rejected) and reason code.', labels: ['result', 'reason_code'], seriesMax: 16 });
    for (const cause of ['tip', 'fee_update', 'constraints_changed']) this.#templates.touch({ cause });
    this.#txData.touch({ result: 'success', reason_code: 'tdp_transaction_data_sent' });
    this.#solutions.touch({ result: 'submitted', reason_code: 'tdp_solution_submitted' });
    this.#open.set(undefined, 0);
  }

  /** Feed one tdp_ event (fields read defensively, as in GatewayMetrics). */
  observe(e: Readonly<Record<string, unknown>>): void {
    switch (e.type) {
      case 'tdp_connection_opened':
        this.#opened.inc();
        this.#openNow = typeof e.open_clients === 'number' ? e.open_clients : this.#openNow + 1;
        this.#open.set(undefined, this.#openNow);
        break;
      case 'tdp_connection_refused':
        this.#refused.inc({ reason_code: _reason(e.reason_code) });
        break;
      case 'tdp_connection_closed':
        this.#closed.inc({ reason_code: _reason(e.reason_code) });
        this.#openNow = Math.max(0, this.#openNow - 1);
        this.#open.set(undefined, this.#openNow);
        break;
      case 'tdp_constraints':
        this.#constraints.inc({ first: e.first === true ? 'true' : 'false', accepted: e.accepted === true ? 'true' : 'false' });
        break;
      case 'tdp_template_sent':
        this.#templates.inc({ cause: _oneOf(e.cause, ['tip', 'fee_update', 'constraints_changed']) });
        if (typeof e.dropped_tx_count === 'number' && e.dropped_tx_count > 0) this.#droppedTxs.inc(undefined, e.dropped_tx_count);
        break;
      case 'tdp_transaction_data':
        this.#txData.inc({ result: _oneOf(e.result, ['success', 'error']), reason_code: _reason(e.reason_code) });
        break;
      case 'tdp_solution':
        this.#solutions.inc({ result: _oneOf(e.result, ['submitted', 'rejected']), reason_code: _reason(e.reason_code) });
        break;
      default:
        break;
    }
  }
}

function _reason(value: unknown): string {
  return typeof value === 'string' && Object.hasOwn(REASON_CODES, value) ? value : 'unknown';
}

function _oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | 'unknown' {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : 'unknown';
}
