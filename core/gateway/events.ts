// Gateway events (SPEC §11, docs/events.md): plain objects with a snake_case `type` and
// snake_case fields, one JSON line each once the adapter stamps wall time `ts` and a `seq`.
// Rules: bigint values (template ids) are decimal strings so JSON.stringify works; hashes are
// display hex; targets are display hex (64 digits); NO secrets ever (user_identity is reported
// with its credential removed, core/gateway/auth.ts). docs/events.md lists every type and field;
// test/unit/gateway-events.test.ts checks the two agree.
import type { ShareForwardResultEvent, ShareForwardRetryEvent } from '../forwarding/types.ts';
import type { Verdict } from '../policy/types.ts';
import type { ReasonCode } from '../reason-codes.ts';
import type { TdpEvent } from '../template-provider/events.ts';
import type { JdsEvent } from '../job-declaration/events.ts';

export type ChannelKind = 'standard' | 'extended';

/** Why a connection is refused at accept (docs/events.md `connection_refused`); also the label set of reservegrid_connections_refused_total. */
export const CONNECTION_REFUSED_REASON_CODES = [
  'connection_limit_reached',
  'shutdown',
  'shadow_mode',
  'stale_hold_expired',
  'connection_limit_per_ip',
  'handshake_limit_reached',
  'handshake_limit_per_ip',
  'connection_rate_limited',
  // Emitted by the listener (adapters/gateway-server.ts, PROXY protocol v2) before the gateway sees the socket.
  'proxy_header_invalid',
  'proxy_header_incomplete',
  'proxy_header_too_large',
  'proxy_header_v1',
  'proxy_untrusted_source',
] as const satisfies readonly ReasonCode[];
export type ConnectionRefusedReasonCode = (typeof CONNECTION_REFUSED_REASON_CODES)[number];

export type GatewayEvent =
  | {
      readonly type: 'connection_opened';
      readonly conn_id: number;
      readonly remote_address: string | null;
      readonly open_connections: number;
    }
  | {
      readonly type: 'connection_refused';
      readonly reason_code: ConnectionRefusedReasonCode;
      readonly remote_address: string | null;
      readonly open_connections: number;
      readonly max_connections: number;
      /** proxy_* refusals only: what was wrong with the header (core/gateway/proxy-protocol.ts). */
      readonly detail?: string;
    }
  | {
      /** SetupConnection answered with .Success. */
      readonly type: 'connection_setup';
      readonly conn_id: number;
      readonly used_version: number;
      /** The client's requested flags (Success flags are always 0, never an echo). */
      readonly requested_flags: number;
      readonly vendor: string;
      readonly hardware_version: string;
      readonly firmware: string;
      readonly device_id: string;
    }
  | {
      readonly type: 'extensions_negotiated';
      readonly conn_id: number;
      readonly requested: readonly number[];
      readonly supported: readonly number[];
    }
  | {
      readonly type: 'connection_closed';
      readonly conn_id: number;
      readonly reason_code: ReasonCode;
      /** Human-readable cause (decode error text, SetupConnection values, ...). */
      readonly detail: string;
      /** The offending field for malformed_message (the decoder's error field). */
      readonly field?: string;
      /** Wire string sent in SetupConnection.Error, when one was sent. */
      readonly wire?: string;
      readonly channels: number;
      readonly shares_accepted: number;
      readonly shares_rejected: number;
      readonly duration_ms: number;
    }
  | {
      readonly type: 'channel_opened';
      readonly conn_id: number;
      readonly channel_id: number;
      readonly kind: ChannelKind;
      /** user_identity with the credential removed. */
      readonly identity: string;
      readonly worker: string | null;
      readonly nominal_hash_rate: number;
      readonly target: string;
      readonly difficulty: number;
      readonly extranonce_prefix: string;
      readonly extranonce_size: number;
    }
  | {
      readonly type: 'channel_open_rejected';
      readonly conn_id: number;
      readonly request_id: number;
      readonly kind: ChannelKind;
      readonly identity: string;
      readonly reason_code: ReasonCode;
      readonly wire: string;
    }
  | {
      readonly type: 'channel_closed';
      readonly conn_id: number;
      readonly channel_id: number;
      readonly reason_code: ReasonCode;
    }
  | {
      readonly type: 'share_accepted';
      readonly share_id: string;
      readonly conn_id: number;
      readonly channel_id: number;
      readonly sequence_number: number;
      readonly job_id: number;
      readonly template_id: string;
      readonly identity: string;
      /** 0x0002 TLV worker when present, else the worker part of the identity, else null. */
      readonly worker: string | null;
      readonly difficulty: number;
      readonly hash: string;
      readonly block: boolean;
      /** Acknowledged during a stale hold, on held work (SPEC §6). */
      readonly stale_hold: boolean;
      /** The header fields the miner submitted (U32 each), so a backend can re-check the share. */
      readonly nonce: number;
      readonly ntime: number;
      readonly version: number;
      /** Hex. Extended: the full extranonce (channel prefix ‖ the miner's part); standard: the
       * channel's extranonce prefix (a standard channel has no miner part, SV2.md §5.2). */
      readonly extranonce: string;
      /** gateway.mode when the share was acknowledged (SPEC §5). */
      readonly mode: 'shadow' | 'observe' | 'inline';
    }
  | {
      readonly type: 'share_rejected';
      readonly conn_id: number;
      readonly channel_id: number;
      readonly sequence_number: number;
      readonly job_id: number;
      readonly identity: string | null;
      readonly worker: string | null;
      readonly reason_code: ReasonCode;
      /** The SubmitShares.Error string sent to the miner (SRI's). */
      readonly wire: string;
    }
  | {
      /** SetCustomMiningJob verified and installed (core/gateway/work-selection.ts, issue 4 item 6). */
      readonly type: 'custom_job_accepted';
      readonly conn_id: number;
      readonly channel_id: number;
      readonly request_id: number;
      /** The job id answered in SetCustomMiningJob.Success. */
      readonly job_id: number;
      readonly prev_hash: string;
      readonly height: number;
      /** Sats the coinbase pays to the pool's payout scripts. */
      readonly pool_paid_sats: string;
      /** A block on this job can be assembled and submitted (its transactions are known). */
      readonly transactions_known: boolean;
      /** The DeclareMiningJob this job was declared by (issue 11), when its token was a declared one. */
      readonly declaration_id?: string;
    }
  | {
      /** SetCustomMiningJob refused with SetCustomMiningJob.Error. */
      readonly type: 'custom_job_rejected';
      readonly conn_id: number;
      readonly channel_id: number;
      readonly request_id: number;
      readonly reason_code: ReasonCode;
      /** The SetCustomMiningJob.Error string sent (SRI's, SV2.md §5.8). */
      readonly wire: string;
      readonly detail: string;
    }
  | {
      readonly type: 'block_found';
      readonly block_id: string;
      readonly share_id: string;
      readonly conn_id: number;
      readonly channel_id: number;
      readonly identity: string;
      readonly height: number;
      readonly template_id: string;
      readonly block_hash: string;
      /** The whole serialized block: the event log alone is enough to resubmit it. */
      readonly hex: string;
    }
  | {
      readonly type: 'block_submit_retry';
      readonly block_id: string;
      readonly block_hash: string;
      readonly attempt: number;
      readonly error_code: string;
      readonly message: string;
      readonly retry_in_ms: number;
    }
  | {
      readonly type: 'block_submit_result';
      readonly block_id: string;
      readonly block_hash: string;
      readonly attempts: number;
      readonly result: 'accepted' | 'duplicate' | 'inconclusive' | 'rejected' | 'failed';
      /** The node's BIP22 reason (duplicate/inconclusive/rejected) or why we gave up (failed). */
      readonly reason?: string;
      readonly reason_code?: Extract<ReasonCode, 'block_submit_failed' | 'block_rejected'>;
      /** Only when failed: the block, so it can be submitted by hand. */
      readonly hex?: string;
    }
  | {
      readonly type: 'template_received';
      readonly template_id: string;
      readonly height: number;
      readonly prev_hash: string;
      readonly new_prevhash: boolean;
      readonly tx_count: number;
      readonly coinbase_value: string;
    }
  | {
      readonly type: 'job_broadcast';
      readonly template_id: string;
      /** future_prevhash = future job + SetNewPrevHash on every channel; update = same prevhash. */
      readonly kind: 'future_prevhash' | 'update';
      readonly connections: number;
      readonly messages: number;
      /** Same-prevhash templates folded into this broadcast (1 = no aggregation). */
      readonly templates_aggregated: number;
    }
  | {
      /**
       * A remote verifier's answer refused as a protocol error (issue 12 defect 3,
       * core/policy/verifier-protocol.ts): never applied; the connection is dropped and the
       * requests in flight end without a verdict (their template_verdict says verifier_unavailable).
       */
      readonly type: 'verifier_protocol_error';
      readonly reason_code: 'verifier_verdict_template_mismatch' | 'verifier_verdict_inconsistent' | 'verifier_answer_malformed' | 'verifier_answer_unknown_request';
      /** As the refused frame carried it. */
      readonly request_id: number;
      /** The template the request was about; null when the id matched no request. */
      readonly template_id: string | null;
      readonly detail: string;
    }
  | {
      /** One per verifier outcome (core/gateway/verdict-gate.ts). */
      readonly type: 'template_verdict';
      readonly template_id: string;
      readonly request_id: number;
      readonly mode: 'shadow' | 'observe' | 'inline';
      /** true only in inline mode. */
      readonly enforced: boolean;
      /** The template's prevhash differed from the released work's when it arrived. */
      readonly new_prevhash: boolean;
      /** `unavailable` = no verdict (verifier_unavailable / verdict_timeout). */
      readonly outcome: 'verdict' | 'unavailable';
      /** = verdict.reason_code. */
      readonly reason_code: ReasonCode;
      readonly latency_ms: number;
      readonly action: 'logged' | 'released' | 'permitted' | 'hold' | 'withheld' | 'superseded' | 'withdrawn';
      /** Exactly the verifier's verdict (SPEC §7 shape). */
      readonly verdict: Verdict;
    }
  | {
      /** Miners' work moved to a new prevhash (issue 4 item 5). */
      readonly type: 'prevhash_switch';
      readonly template_id: string;
      readonly height: number;
      readonly prev_hash: string;
      readonly mode: 'shadow' | 'observe' | 'inline';
      readonly enforced: boolean;
      /** An accepted verdict was in hand. */
      readonly verified: boolean;
      /** withdrawn: back to the held work because the template permit_all released was rejected later. */
      readonly cause: 'verdict_accepted' | 'permit_all' | 'not_enforced' | 'withdrawn';
      /** template_accepted, why there was no verdict (verdict_timeout, verifier_unavailable), or (withdrawn) the late rejection's code. */
      readonly reason_code?: ReasonCode;
      /** From the arrival of the switch's first new-prevhash template. */
      readonly latency_ms: number;
      readonly from_hold: boolean;
      readonly held_template_id: string | null;
    }
  | {
      readonly type: 'stale_hold_started';
      /** Why: the candidate's rejection code, verdict_timeout or verifier_unavailable. */
      readonly reason_code: ReasonCode;
      /** The template held back (the newest on the new prevhash). */
      readonly template_id: string | null;
      readonly prev_hash: string | null;
      /** What the miners keep working on. */
      readonly held_template_id: string | null;
      /** Until the expiry (t0 + verdict timeout + stale hold). */
      readonly hold_ms: number;
      readonly connections: number;
    }
  | {
      readonly type: 'stale_hold_ended';
      readonly outcome: 'switched' | 'expired' | 'reverted' | 'shutdown';
      /** Only when expired. */
      readonly reason_code?: 'stale_hold_expired';
      /** switched: the template switched to; expired: the candidate; else null. */
      readonly template_id: string | null;
      readonly held_template_id: string | null;
      readonly duration_ms: number;
      readonly switch_latency_ms: number;
      readonly disconnected: number;
    }
  | {
      /** One per connection closed at a stale hold expiry, in `order` (ascending conn_id). */
      readonly type: 'miner_disconnected';
      readonly conn_id: number;
      readonly reason_code: 'stale_hold_expired';
      readonly order: number;
      readonly channels: number;
      readonly held_template_id: string | null;
    }
  | {
      readonly type: 'upstream_unavailable';
      readonly reason_code: 'upstream_unavailable';
      readonly error_code: string;
      readonly message: string;
      readonly consecutive_failures: number;
    }
  | {
      readonly type: 'upstream_recovered';
      readonly consecutive_failures: number;
    }
  | ({
      /** Share forwarding (core/forwarding, adapters/share-forwarding.ts), exactly one per
       * share_accepted; the stack stamps it like the gateway's own events. */
      readonly type: 'share_forward_result';
    } & Omit<ShareForwardResultEvent, 'type'>)
  | ({
      /** A batch POST failed and will be retried (core/forwarding). */
      readonly type: 'share_forward_retry';
    } & Omit<ShareForwardRetryEvent, 'type'>)
  | {
      readonly type: 'gateway_shutdown';
      readonly phase: 'started' | 'completed';
      readonly connections: number;
      readonly blocks_pending: number;
    }
  | {
      /** gateway.workers ≥ 2: a socket worker process said HELLO on its control channel (the leader emits it). */
      readonly type: 'worker_started';
      readonly worker: number;
      readonly pid: number;
      readonly port: number;
      /** Its connections' ids are conn_id_base + 1, + 2, ... (unique across workers and respawns). */
      readonly conn_id_base: number;
      /** 0 for the first start, then one more per respawn of this worker index. */
      readonly restarts: number;
    }
  | {
      /** A socket worker process exited or its control channel closed; the leader respawns it. */
      readonly type: 'worker_exited';
      readonly worker: number;
      readonly pid: number;
      readonly reason_code: 'worker_exited' | 'worker_control_invalid';
      /** Exit code or signal as the runtime reported it, or the control channel's error. */
      readonly detail: string;
      /** Its miner connections the leader closed in the aggregated view (their miners reconnect). */
      readonly connections: number;
      /** Milliseconds until the respawn (bounded backoff), or null while the leader stops. */
      readonly respawn_in_ms: number | null;
    }
  // Template Provider connections (issue 10, core/template-provider/events.ts).
  | TdpEvent
  | JdsEvent;

export type GatewayEventType = GatewayEvent['type'];

/** Where core components push events (the gateway's bounded queue). */
export type GatewayEventSink = (event: GatewayEvent) => void;

/**
 * Every event type, as data (docs/events.md): `/events?type=` and `/events/history?type=` refuse
 * a type outside this list (a typo would otherwise be an empty stream that looks healthy). The
 * two checks below make the list and the `GatewayEvent` union fail to compile when they drift.
 */
export const GATEWAY_EVENT_TYPES = [
  'connection_opened',
  'connection_refused',
  'connection_setup',
  'extensions_negotiated',
  'connection_closed',
  'channel_opened',
  'channel_open_rejected',
  'channel_closed',
  'share_accepted',
  'share_rejected',
  'custom_job_accepted',
  'custom_job_rejected',
  'block_found',
  'block_submit_retry',
  'block_submit_result',
  'template_received',
  'job_broadcast',
  'template_verdict',
  'prevhash_switch',
  'stale_hold_started',
  'stale_hold_ended',
  'miner_disconnected',
  'upstream_unavailable',
  'upstream_recovered',
  'verifier_protocol_error',
  'share_forward_result',
  'share_forward_retry',
  'gateway_shutdown',
  'worker_started',
  'worker_exited',
  // Template Provider (core/template-provider/events.ts, docs/template-provider.md).
  'tdp_connection_opened',
  'tdp_connection_refused',
  'tdp_connection_setup',
  'tdp_connection_closed',
  'tdp_constraints',
  'tdp_template_sent',
  'tdp_transaction_data',
  'tdp_solution',
  // Job Declaration (core/job-declaration/events.ts, docs/job-declaration.md).
  'jd_connection_opened',
  'jd_connection_refused',
  'jd_connection_setup',
  'jd_token_allocated',
  'jd_missing_transactions',
  'jd_declaration_verdict',
  'jd_unexpected_response',
  'jd_connection_closed',
] as const satisfies readonly GatewayEventType[];

type _EveryEventTypeListed = Exclude<GatewayEventType, (typeof GATEWAY_EVENT_TYPES)[number]> extends never ? true : never;
const _everyEventTypeListed: _EveryEventTypeListed = true;
void _everyEventTypeListed;
