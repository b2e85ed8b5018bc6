// Job Declaration Server events (issue 11; docs/job-declaration.md "Events"). Same rules as
// core/gateway/events.ts: snake_case, bigint ids as decimal strings, hashes in display hex, no
// secrets (a token is a capability: events carry the first 8 hex digits only). Every type starts
// with `jd_`. `jd_declaration_verdict` is the verdict event: it carries the Verdict exactly as
// the policy engine shapes it (reason_code, reason_detail, policy_context), plus whether the mode
// enforced it, so `reservegrid replay` can rebuild every declaration decision from the log.
import type { PolicyContextValue } from '../policy/types.ts';
import type { ReasonCode } from '../reason-codes.ts';

export type JdsEvent =
  | {
      readonly type: 'jd_connection_opened';
      readonly conn_id: number;
      readonly remote_address: string | null;
      readonly open_clients: number;
    }
  | {
      readonly type: 'jd_connection_refused';
      readonly reason_code: Extract<ReasonCode, 'connection_limit_reached' | 'shutdown' | 'shadow_mode' | 'stale_hold_expired'>;
      readonly remote_address: string | null;
      readonly open_clients: number;
      readonly max_clients: number;
    }
  | {
      readonly type: 'jd_connection_setup';
      readonly conn_id: number;
      /** No DECLARE_TX_DATA flag: tokens go straight to SetCustomMiningJob, coinbase checks only. */
      readonly coinbase_only: boolean;
      readonly vendor: string;
      readonly hardware_version: string;
      readonly firmware: string;
      readonly device_id: string;
    }
  | {
      readonly type: 'jd_token_allocated';
      readonly conn_id: number;
      readonly request_id: number;
      /** The authenticated identity (credential removed). */
      readonly user: string;
      readonly token_prefix: string;
      readonly expires_at_ms: number;
      readonly coinbase_only: boolean;
    }
  | {
      readonly type: 'jd_missing_transactions';
      readonly conn_id: number;
      readonly request_id: number;
      readonly tx_count: number;
      readonly missing_count: number;
    }
  | {
      readonly type: 'jd_declaration_verdict';
      readonly conn_id: number;
      readonly request_id: number;
      readonly declaration_id: string;
      readonly user: string;
      readonly mode: 'observe' | 'inline';
      /** What the client was told: DeclareMiningJob.Success (true) or .Error (false). */
      readonly answered_success: boolean;
      /** The verdict decided the answer (inline, or a protocol failure no mode overrides). */
      readonly enforced: boolean;
      readonly accepted: boolean;
      readonly reason_code: ReasonCode;
      readonly reason_detail: string;
      readonly policy_context: Readonly<Record<string, PolicyContextValue>>;
      /** DeclareMiningJob.Error.error_code when answered with an error, else null. */
      readonly wire: string | null;
      readonly tx_count: number;
      readonly missing_count: number;
      readonly total_fees_sats: string | null;
      readonly height: number | null;
      readonly prev_hash: string | null;
      readonly token_prefix: string | null;
    }
  | {
      /** A proposal answer for a declaration no longer waiting (its proposal_timeout_ms passed, or
       * its connection closed): ignored, counted (proposal.ts). */
      readonly type: 'jd_proposal_late';
      readonly conn_id: number;
      readonly declaration_id: string;
      readonly answer_kind: string;
    }
  | {
      readonly type: 'jd_unexpected_response';
      readonly conn_id: number;
      readonly request_id: number;
      readonly reason_code: 'jd_unknown_request';
    }
  | {
      readonly type: 'jd_connection_closed';
      readonly conn_id: number;
      readonly reason_code: ReasonCode;
      readonly detail: string;
      readonly wire?: string;
      readonly field?: string;
      readonly tokens_allocated: number;
      readonly declarations: number;
      readonly duration_ms: number;
    };

export type JdsEventSink = (event: JdsEvent) => void;
