// Template Provider events (issue 10; docs/events.md "Template Provider", docs/template-provider.md).
// Same rules as core/gateway/events.ts: snake_case, bigint ids as decimal strings, hashes in
// display hex. Every type starts with `tdp_` (the contract with the interop runner). A found
// block additionally goes through the gateway's block path: `block_found`, `block_submit_result`.
import type { ReasonCode } from '../reason-codes.ts';

export type TdpEvent =
  | {
      readonly type: 'tdp_connection_opened';
      readonly conn_id: number;
      readonly remote_address: string | null;
      readonly open_clients: number;
    }
  | {
      readonly type: 'tdp_connection_refused';
      readonly reason_code: Extract<ReasonCode, 'connection_limit_reached' | 'shutdown' | 'shadow_mode' | 'stale_hold_expired'>;
      readonly remote_address: string | null;
      readonly open_clients: number;
      readonly max_clients: number;
    }
  | {
      readonly type: 'tdp_connection_setup';
      readonly conn_id: number;
      readonly used_version: number;
      readonly vendor: string;
      readonly hardware_version: string;
      readonly firmware: string;
      readonly device_id: string;
    }
  | {
      readonly type: 'tdp_constraints';
      readonly conn_id: number;
      readonly additional_size_bytes: number;
      readonly additional_sigops: number;
      /** The connection's first CoinbaseOutputConstraints (false: a change mid-connection). */
      readonly first: boolean;
      readonly accepted: boolean;
      /** Only when refused. */
      readonly reason_code?: 'tdp_constraints_too_large';
      readonly detail: string;
    }
  | {
      readonly type: 'tdp_template_sent';
      readonly conn_id: number;
      /** NewTemplate.template_id on this connection. */
      readonly template_id: string;
      /** The gateway's template it was tailored from (template_received.template_id). */
      readonly source_template_id: string;
      readonly future: boolean;
      /** tip = future + SetNewPrevHash; fee_update / constraints_changed = non-future. */
      readonly cause: 'tip' | 'fee_update' | 'constraints_changed';
      readonly height: number;
      readonly prev_hash: string;
      readonly tx_count: number;
      readonly dropped_tx_count: number;
      readonly fees_sats: string;
      readonly coinbase_value_sats: string;
      readonly transactions_weight: number;
      readonly reserved_weight: number;
    }
  | {
      readonly type: 'tdp_transaction_data';
      readonly conn_id: number;
      readonly template_id: string;
      readonly result: 'success' | 'error';
      readonly reason_code: 'tdp_transaction_data_sent' | 'tdp_template_id_not_found' | 'tdp_stale_template_id';
      /** RequestTransactionData.Error.error_code, or null on success. */
      readonly wire: string | null;
      readonly tx_count: number;
      readonly bytes: number;
    }
  | {
      readonly type: 'tdp_solution';
      readonly conn_id: number;
      readonly template_id: string;
      readonly source_template_id: string | null;
      readonly result: 'submitted' | 'rejected';
      readonly reason_code: 'tdp_solution_submitted' | 'tdp_template_id_not_found' | 'tdp_solution_malformed' | 'tdp_solution_high_hash' | 'tdp_solution_duplicate';
      readonly detail: string;
      readonly block_hash: string | null;
      /** The block_found / block_submit_result id when submitted. */
      readonly block_id: string | null;
      /** The template's prevhash was no longer the tip sent to this client. */
      readonly stale: boolean;
    }
  | {
      readonly type: 'tdp_connection_closed';
      readonly conn_id: number;
      readonly reason_code: ReasonCode;
      readonly detail: string;
      readonly field?: string;
      readonly wire?: string;
      readonly templates_sent: number;
      readonly solutions_submitted: number;
      readonly duration_ms: number;
    };

export type TdpEventType = TdpEvent['type'];
