// The one registry of machine-readable reason codes (SPEC §7). Every decision the product
// emits — a rejected share, a refused connection, a closed channel, a template verdict, a hold,
// a disconnect — carries one of these codes. Where SV2 puts a string on the wire (SubmitShares.Error,
// OpenMiningChannel.Error, SetupConnection.Error, UpdateChannel.Error, CloseChannel), `wire` is the
// string SRI uses (SV2.md §5.8), so real miners and proxies see what they expect.
//
// Codes are snake_case and stable: dashboards, alerts and `reservegrid replay` key on them.
// docs/reason-codes.md is generated from this table (scripts/gen-reason-codes-doc.ts) and a test
// fails if it drifts. Later issues add the template-policy and timing codes here, nowhere else.

export type ReasonCategory = 'connection' | 'auth' | 'channel' | 'share' | 'template' | 'timing' | 'availability';

export interface ReasonCodeInfo {
  readonly category: ReasonCategory;
  /** What happened, for operators. */
  readonly meaning: string;
  /** Which component emits it, and in which event or message. */
  readonly emittedBy: string;
  /** The SV2 wire string (SRI's), where the code reaches the miner in a message. */
  readonly wire?: string;
}

export const REASON_CODES = {
  // ── connection ────────────────────────────────────────────────────────────
  handshake_timeout: {
    category: 'connection',
    meaning: 'The client did not complete the Noise handshake within the handshake timeout.',
    emittedBy: 'gateway session; connection_closed event',
  },
  decrypt_failed: {
    category: 'connection',
    meaning: 'A transport frame failed its Poly1305 MAC; the connection is dropped (Noise gives no recovery).',
    emittedBy: 'gateway session; connection_closed event',
  },
  frame_too_large: {
    category: 'connection',
    meaning: 'A frame announced a payload over gateway.max_frame_payload_bytes; refused before buffering.',
    emittedBy: 'gateway session; connection_closed event',
  },
  malformed_message: {
    category: 'connection',
    meaning: 'A frame could not be decoded as the message its header names (truncated or invalid field).',
    emittedBy: 'gateway session; connection_closed event',
  },
  unexpected_message: {
    category: 'connection',
    meaning: 'A message arrived that is not valid in the connection state (e.g. anything before SetupConnection, or a server-to-client message).',
    emittedBy: 'gateway session; connection_closed event',
  },
  unsupported_protocol: {
    category: 'connection',
    meaning: 'SetupConnection asked for a protocol other than the one the port serves (Mining on the miner port, Template Distribution on the Template Provider port).',
    emittedBy: 'gateway session; SetupConnection.Error',
    wire: 'unsupported-protocol',
  },
  protocol_version_mismatch: {
    category: 'connection',
    meaning: "SetupConnection's version range does not include version 2.",
    emittedBy: 'gateway session; SetupConnection.Error',
    wire: 'protocol-version-mismatch',
  },
  unsupported_feature_flags: {
    category: 'connection',
    meaning: 'SetupConnection required features the gateway does not offer (flags in the error).',
    emittedBy: 'gateway session; SetupConnection.Error',
    wire: 'unsupported-feature-flags',
  },
  connection_limit_reached: {
    category: 'connection',
    meaning: 'gateway.max_connections connections are open; the new one is closed at once.',
    emittedBy: 'listener; connection_refused event',
  },
  idle_timeout: {
    category: 'connection',
    meaning: 'Nothing was received on the connection for timing.channel_idle_timeout_ms.',
    emittedBy: 'gateway session; connection_closed event',
  },
  slow_consumer: {
    category: 'connection',
    meaning: "The miner did not read what the gateway sent; its outbound buffer exceeded the per-connection limit.",
    emittedBy: 'listener; connection_closed event',
  },
  peer_closed: {
    category: 'connection',
    meaning: 'The miner closed the TCP connection.',
    emittedBy: 'listener; connection_closed event',
  },
  internal_error: {
    category: 'connection',
    meaning: 'The connection hit a local fault (crypto provider failure, Noise nonce exhausted); only this connection is closed.',
    emittedBy: 'gateway session; connection_closed event',
  },
  shutdown: {
    category: 'connection',
    meaning: 'The gateway is shutting down; channels are closed with this reason.',
    emittedBy: 'gateway; CloseChannel, connection_closed event',
    wire: 'shutdown',
  },
  // Issue 12 item 4: admission limits against hostile clients (core/gateway/admission.ts).
  connection_limit_per_ip: {
    category: 'connection',
    meaning: 'limits.max_connections_per_ip connections from this IP are open; the new one is closed at once, unread.',
    emittedBy: 'gateway admission; connection_refused event',
  },
  handshake_limit_reached: {
    category: 'connection',
    meaning: 'limits.max_handshaking connections (all IPs) have not finished SetupConnection yet; the new one is closed at once, unread.',
    emittedBy: 'gateway admission; connection_refused event',
  },
  handshake_limit_per_ip: {
    category: 'connection',
    meaning: 'limits.max_handshaking_per_ip connections from this IP have not finished SetupConnection yet; the new one is closed at once, unread.',
    emittedBy: 'gateway admission; connection_refused event',
  },
  connection_rate_limited: {
    category: 'connection',
    meaning: 'This IP connected faster than limits.connection_rate_per_ip per second beyond a burst of limits.connection_burst_per_ip; the new connection is closed at once, unread.',
    emittedBy: 'gateway admission; connection_refused event',
  },
  invalid_share_budget_exceeded: {
    category: 'connection',
    meaning: 'The connection sent more than limits.max_invalid_shares_per_minute rejected shares per minute; it is closed after the SubmitShares.Error of the share over budget.',
    emittedBy: 'gateway session; connection_closed event',
  },
  // PROXY protocol v2 on the miner port (issue 13 item 3, core/gateway/proxy-protocol.ts): a
  // connection refused before the gateway sees it, with gateway.proxy_protocol = "v2".
  proxy_header_invalid: {
    category: 'connection',
    meaning: 'A trusted load balancer\'s connection did not start with a valid PROXY protocol v2 header (wrong signature, version, command, family or transport, an address block or TLV past the announced length); closed unread.',
    emittedBy: 'listener (gateway.proxy_protocol = "v2"); connection_refused event',
  },
  proxy_header_incomplete: {
    category: 'connection',
    meaning: 'The PROXY protocol v2 header did not arrive whole within timing.handshake_timeout_ms (truncated, or the peer stalled).',
    emittedBy: 'listener (gateway.proxy_protocol = "v2"); connection_refused event',
  },
  proxy_header_too_large: {
    category: 'connection',
    meaning: 'The PROXY protocol v2 header announced a length over the 2048-byte bound; refused before buffering it.',
    emittedBy: 'listener (gateway.proxy_protocol = "v2"); connection_refused event',
  },
  proxy_header_v1: {
    category: 'connection',
    meaning: 'A PROXY protocol v1 (text, "PROXY ...") header arrived where v2 is configured (HAProxy: use send-proxy-v2).',
    emittedBy: 'listener (gateway.proxy_protocol = "v2"); connection_refused event',
  },
  proxy_untrusted_source: {
    category: 'connection',
    meaning: 'A peer outside gateway.proxy_trusted_sources sent a PROXY protocol header; only trusted load balancers may name the client address.',
    emittedBy: 'listener (gateway.proxy_protocol = "v2"); connection_refused event',
  },
  // ── auth ──────────────────────────────────────────────────────────────────
  unknown_user: {
    category: 'auth',
    meaning: 'The identity in OpenMiningChannel is not allowed (unknown user, wrong credential or no matching prefix). The wire string does not say which, on purpose.',
    emittedBy: 'auth; OpenMiningChannel.Error',
    wire: 'unknown-user',
  },
  invalid_user_identity: {
    category: 'auth',
    meaning: 'user_identity is empty, too long, or not printable ASCII/UTF-8.',
    emittedBy: 'auth; OpenMiningChannel.Error',
    wire: 'invalid-user-identity',
  },
  worker_id_too_long: {
    category: 'auth',
    meaning: 'A worker name (0x0002 TLV or the identity suffix) exceeds auth.max_worker_id_bytes.',
    emittedBy: 'channel open (OpenMiningChannel.Error) and share validation (SubmitShares.Error, share_rejected event)',
    wire: 'invalid-user-identity',
  },
  too_many_workers: {
    category: 'auth',
    meaning: 'A channel reported more distinct worker names than auth.max_workers_per_channel.',
    emittedBy: 'share validation; SubmitShares.Error, share_rejected event',
    wire: 'invalid-user-identity',
  },
  // ── channel ───────────────────────────────────────────────────────────────
  invalid_nominal_hashrate: {
    category: 'channel',
    meaning: 'nominal_hash_rate is negative, NaN or infinite.',
    emittedBy: 'channel open / UpdateChannel; OpenMiningChannel.Error, UpdateChannel.Error',
    wire: 'invalid-nominal-hashrate',
  },
  max_target_out_of_range: {
    category: 'channel',
    meaning: "The client's max_target is below the hardest target the gateway will assign.",
    emittedBy: 'channel open / UpdateChannel; OpenMiningChannel.Error, UpdateChannel.Error',
    wire: 'max-target-out-of-range',
  },
  min_extranonce_size_too_large: {
    category: 'channel',
    meaning: 'OpenExtendedMiningChannel asked for more rollable extranonce bytes than the gateway can give.',
    emittedBy: 'channel open; OpenMiningChannel.Error',
    wire: 'min-extranonce-size-too-large',
  },
  standard_channels_not_supported: {
    category: 'channel',
    meaning: 'A standard channel was requested on a connection that may only open extended channels (e.g. work selection).',
    emittedBy: 'channel open; OpenMiningChannel.Error',
    wire: 'standard-channels-not-supported-for-custom-work',
  },
  channel_limit_reached: {
    category: 'channel',
    meaning: 'The connection already has the maximum number of channels.',
    emittedBy: 'channel open; OpenMiningChannel.Error',
    wire: 'channel-limit-reached',
  },
  invalid_channel_id: {
    category: 'channel',
    meaning: 'A message named a channel id that is not open on this connection.',
    emittedBy: 'session; SubmitShares.Error, UpdateChannel.Error',
    wire: 'invalid-channel-id',
  },
  channel_closed_by_client: {
    category: 'channel',
    meaning: 'The client sent CloseChannel.',
    emittedBy: 'session; channel_closed event',
  },
  // ── share ─────────────────────────────────────────────────────────────────
  stale_share: {
    category: 'share',
    meaning: 'The share is for a job from a previous prevhash.',
    emittedBy: 'share validation; SubmitShares.Error, share_rejected event',
    wire: 'stale-share',
  },
  invalid_job_id: {
    category: 'share',
    meaning: 'The share names a job id the channel never had.',
    emittedBy: 'share validation; SubmitShares.Error, share_rejected event',
    wire: 'invalid-job-id',
  },
  bad_extranonce_size: {
    category: 'share',
    meaning: "An extended share's extranonce length differs from the channel's rollable size.",
    emittedBy: 'share validation; SubmitShares.Error, share_rejected event',
    wire: 'bad-extranonce-size',
  },
  ntime_out_of_range: {
    category: 'share',
    meaning: 'ntime is below the job min_ntime or too far in the future.',
    emittedBy: 'share validation; SubmitShares.Error, share_rejected event',
    wire: 'invalid-share',
  },
  version_rolling_not_allowed: {
    category: 'share',
    meaning: 'The job forbids version rolling and the share changed the version.',
    emittedBy: 'share validation; SubmitShares.Error, share_rejected event',
    wire: 'version-rolling-not-allowed',
  },
  invalid_non_rollable_version_bit: {
    category: 'share',
    meaning: 'The share changed version bits outside the rolling mask 0x1FFFFFE0.',
    emittedBy: 'share validation; SubmitShares.Error, share_rejected event',
    wire: 'invalid-non-rollable-version-bit',
  },
  difficulty_too_low: {
    category: 'share',
    meaning: "The share's hash does not meet the channel target.",
    emittedBy: 'share validation; SubmitShares.Error, share_rejected event',
    wire: 'difficulty-too-low',
  },
  duplicate_share: {
    category: 'share',
    meaning: 'The same header was already submitted within timing.nonce_expire_secs.',
    emittedBy: 'share validation; SubmitShares.Error, share_rejected event',
    wire: 'duplicate-share',
  },
  block_rejected: {
    category: 'share',
    meaning: 'The node refused a found block: submitblock returned a BIP22 reason (in the event) other than duplicate/inconclusive.',
    emittedBy: 'block submitter; block_submit_result event',
  },
  // ── template (policy verdicts, SPEC §7; docs/policy.md) ──────────────────
  template_accepted: {
    category: 'template',
    meaning: 'The template passed every policy check (accepted verdicts carry a code too, so verdict metrics and replay never see a null).',
    emittedBy: 'policy engine; template_verdict event',
  },
  template_malformed: {
    category: 'template',
    meaning: 'The template is structurally invalid (bad hash length, height, duplicate txid, negative fee, a dependency on a later transaction, merkle path of the wrong depth, target not matching nbits, ...).',
    emittedBy: 'policy engine; template_verdict event',
  },
  prevhash_stale: {
    category: 'template',
    meaning: "The template builds on a block that is no longer the chain tip (one of the verifier's recent tips). For a declared job: it is on an old tip, or the node's BIP23 proposal answer says its tip moved (docs/job-declaration.md); answered stale-chain-tip.",
    emittedBy: 'policy engine; template_verdict event; job declaration server: DeclareMiningJob.Error stale-chain-tip, jd_declaration_verdict event',
  },
  prevhash_unknown: {
    category: 'template',
    meaning: 'The template builds on a block that is neither the chain tip nor a recent tip.',
    emittedBy: 'policy engine; template_verdict event',
  },
  nbits_mismatch: {
    category: 'template',
    meaning: 'The template nbits differs from the difficulty the chain requires next, or does not decode to a valid target.',
    emittedBy: 'policy engine; template_verdict event',
  },
  bip34_height_mismatch: {
    category: 'template',
    meaning: 'The template height is not the chain tip height + 1, so the BIP34 height in the coinbase would be wrong.',
    emittedBy: 'policy engine; template_verdict event',
  },
  coinbase_payout_missing: {
    category: 'template',
    meaning: 'The coinbase the gateway would build has no pool payout output (no mining.payout configured for the verifier).',
    emittedBy: 'policy engine; template_verdict event',
  },
  coinbase_payout_unpaid: {
    category: 'template',
    meaning: 'A pool payout output would receive 0 sats (coinbase value too small for the configured split).',
    emittedBy: 'policy engine; template_verdict event',
  },
  coinbase_value_too_high: {
    category: 'template',
    meaning: 'The template coinbase value exceeds block subsidy + total fees; the block would be invalid (bad-cb-amount).',
    emittedBy: 'policy engine; template_verdict event',
  },
  witness_commitment_invalid: {
    category: 'template',
    meaning: 'The witness commitment output is not a BIP141 commitment (6a24aa21a9ed ‖ 32 bytes) or does not commit to the template wtxids.',
    emittedBy: 'policy engine; template_verdict event',
  },
  template_weight_exceeded: {
    category: 'template',
    meaning: 'Block weight with the gateway coinbase exceeds policy.max_template_weight.',
    emittedBy: 'policy engine; template_verdict event',
  },
  template_sigops_exceeded: {
    category: 'template',
    meaning: 'Signature-operation cost with the gateway coinbase exceeds policy.max_template_sigops.',
    emittedBy: 'policy engine; template_verdict event',
  },
  blocklisted_txid: {
    category: 'template',
    meaning: 'The template contains a transaction listed in policy.blocklist_txids.',
    emittedBy: 'policy engine; template_verdict event',
  },
  blocklisted_script: {
    category: 'template',
    meaning: 'A template transaction pays to an output script listed in policy.blocklist_scripts_hex.',
    emittedBy: 'policy engine; template_verdict event',
  },
  avg_fee_below_minimum: {
    category: 'template',
    meaning: 'Average fee per transaction (floor of total fees / count, sats) is below the selected fee tier minimum.',
    emittedBy: 'policy engine; template_verdict event',
  },
  total_fees_below_minimum: {
    category: 'template',
    meaning: 'Total template fees (sats) are below the selected fee tier minimum.',
    emittedBy: 'policy engine; template_verdict event',
  },
  tx_count_below_minimum: {
    category: 'template',
    meaning: 'The template has fewer transactions than the selected fee tier minimum.',
    emittedBy: 'policy engine; template_verdict event',
  },
  // ── template: miner-proposed work (SetCustomMiningJob, issue 4 item 6) ─────
  custom_job_stale_chain_tip: {
    category: 'template',
    meaning: 'SetCustomMiningJob.prev_hash is not the current chain tip.',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'stale-chain-tip',
  },
  custom_job_invalid_nbits: {
    category: 'template',
    meaning: 'SetCustomMiningJob.nbits differs from the nbits the chain requires.',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-nbits',
  },
  custom_job_invalid_min_ntime: {
    category: 'template',
    meaning: 'SetCustomMiningJob.min_ntime is below the median time past + 1 or too far in the future.',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-min-ntime',
  },
  custom_job_invalid_version: {
    category: 'template',
    meaning: 'SetCustomMiningJob.version is not a BIP9 version (top bits 001) or lacks a bit the template requires.',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-version',
  },
  custom_job_invalid_coinbase_prefix: {
    category: 'template',
    meaning: 'SetCustomMiningJob.coinbase_prefix does not start with the BIP34 push of the next height, or the scriptSig would exceed 100 bytes.',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-coinbase-prefix',
  },
  custom_job_invalid_coinbase_outputs: {
    category: 'template',
    meaning: 'SetCustomMiningJob.coinbase_tx_outputs does not parse as a Vec<TxOut>, or pays a blocklisted script.',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-coinbase-tx-outputs',
  },
  custom_job_pool_not_paid: {
    category: 'template',
    meaning: 'The miner-proposed coinbase does not pay the pool: the payout scripts receive less than the block subsidy, or value goes to a non-pool output.',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-coinbase-tx-outputs',
  },
  custom_job_invalid_merkle_path: {
    category: 'template',
    meaning: 'SetCustomMiningJob.merkle_path is deeper than a block can be (more than 22 levels under the weight limit).',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-merkle-path',
  },
  custom_job_invalid_coinbase_tx_version: {
    category: 'template',
    meaning: 'SetCustomMiningJob.coinbase_tx_version differs from the version of the coinbase declared with its token (DeclareMiningJob).',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-coinbase-tx-version',
  },
  custom_job_invalid_input_sequence: {
    category: 'template',
    meaning: 'SetCustomMiningJob.coinbase_tx_input_nSequence differs from the declared coinbase input\'s nSequence.',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-coinbase-tx-input-n-sequence',
  },
  custom_job_invalid_locktime: {
    category: 'template',
    meaning: 'SetCustomMiningJob.coinbase_tx_locktime differs from the declared coinbase\'s locktime.',
    emittedBy: 'custom job verification; SetCustomMiningJob.Error',
    wire: 'invalid-coinbase-tx-locktime',
  },
  // ── timing (prevhash switching, SPEC §6; core/gateway/verdict-gate.ts) ──────
  stale_hold_expired: {
    category: 'timing',
    meaning: 'Inline mode: nothing acceptable (accepted verdict, or permit_all) arrived within timing.prevhash_stale_hold_ms after the verdict timeout of a new prevhash; every miner connection is closed in ascending connection id order so firmware fails over, and new connections are refused until an acceptable template is released.',
    emittedBy: 'verdict gate; stale_hold_ended, miner_disconnected, connection_closed and connection_refused events',
  },
  shadow_mode: {
    category: 'connection',
    meaning: 'gateway.mode = "shadow" serves no miners (templates are only audited); a miner connection that reaches the gateway is closed at once.',
    emittedBy: 'gateway; connection_refused event',
  },
  // ── template provider (issue 10, docs/template-provider.md) ─────────────────
  tdp_constraints_too_large: {
    category: 'template',
    meaning: 'CoinbaseOutputConstraints asked for more coinbase space or sigops than any block can hold (reservation over the block weight or sigop limit, or a coinbase over SubmitSolution\'s 64 KiB); the TDP connection is closed.',
    emittedBy: 'template provider session; tdp_constraints and tdp_connection_closed events',
  },
  tdp_template_id_not_found: {
    category: 'template',
    meaning: 'RequestTransactionData or SubmitSolution named a template id this connection was never sent, or one no longer retained (template_provider.retained_templates).',
    emittedBy: 'template provider session; RequestTransactionData.Error, tdp_transaction_data and tdp_solution events',
    wire: 'template-id-not-found',
  },
  tdp_stale_template_id: {
    category: 'template',
    meaning: 'RequestTransactionData named a retained template whose prevhash is no longer the tip sent to the client.',
    emittedBy: 'template provider session; RequestTransactionData.Error and tdp_transaction_data event',
    wire: 'stale-template-id',
  },
  tdp_transaction_data_sent: {
    category: 'template',
    meaning: 'RequestTransactionData answered with .Success: the transactions of the template as served (trimmed to the client\'s constraints), in the order its merkle_path commits to.',
    emittedBy: 'template provider session; tdp_transaction_data event',
  },
  tdp_solution_submitted: {
    category: 'template',
    meaning: 'A SubmitSolution rebuilt into a block that meets the network target; it went to the node on the block path (block_found, block_submit_result).',
    emittedBy: 'template provider session; tdp_solution event',
  },
  tdp_solution_malformed: {
    category: 'template',
    meaning: 'SubmitSolution.coinbase_tx is not a serialized coinbase (truncated, trailing bytes, not exactly one null-outpoint input, scriptSig outside 2..100 bytes).',
    emittedBy: 'template provider session; tdp_solution event',
  },
  tdp_solution_high_hash: {
    category: 'template',
    meaning: 'The header rebuilt from SubmitSolution and the served template does not meet the network target, so it is no block; nothing is submitted.',
    emittedBy: 'template provider session; tdp_solution event',
  },
  tdp_solution_duplicate: {
    category: 'template',
    meaning: 'SubmitSolution for a block already submitted (same block hash); the first submission is the one on the block path.',
    emittedBy: 'template provider session; tdp_solution event',
  },
  tdp_request_flood: {
    category: 'connection',
    meaning: 'A TDP client sent more CoinbaseOutputConstraints and RequestTransactionData messages than template_provider.max_requests_per_second in one second; the connection is closed (SubmitSolution is never rate limited).',
    emittedBy: 'template provider session; tdp_connection_closed event',
  },
  // ── job declaration server (issue 11, docs/job-declaration.md) ──────────────
  jd_token_unknown: {
    category: 'auth',
    meaning: 'DeclareMiningJob (or SetCustomMiningJob) named a mining_job_token this server never issued, or one already evicted.',
    emittedBy: 'job declaration server; DeclareMiningJob.Error, jd_declaration event',
    wire: 'invalid-mining-job-token',
  },
  jd_token_expired: {
    category: 'auth',
    meaning: 'The token was issued but its lifetime is over: an allocated token after job_declaration.allocated_token_expiry_ms, a declared token after job_declaration.declared_token_expiry_ms (10 s) from DeclareMiningJob.Success.',
    emittedBy: 'job declaration server; DeclareMiningJob.Error, jd_declaration event',
    wire: 'invalid-mining-job-token',
  },
  jd_token_foreign: {
    category: 'auth',
    meaning: 'The token belongs to another user (or, for an allocated token, another JD connection); tokens are bound to the user authenticated at AllocateMiningJobToken.',
    emittedBy: 'job declaration server; DeclareMiningJob.Error, jd_declaration event',
    wire: 'invalid-mining-job-token',
  },
  jd_token_reused: {
    category: 'auth',
    meaning: 'The token was already used: an allocated token declares one job, a declared token starts one custom job (single use).',
    emittedBy: 'job declaration server; DeclareMiningJob.Error, jd_declaration event',
    wire: 'invalid-mining-job-token',
  },
  jd_wtxid_list_too_long: {
    category: 'template',
    meaning: 'DeclareMiningJob.wtxid_list has more entries than job_declaration.max_declared_transactions (a block holds at most 16,666 non-coinbase transactions).',
    emittedBy: 'job declaration server; DeclareMiningJob.Error, jd_declaration event',
    wire: 'invalid-job',
  },
  jd_coinbase_invalid: {
    category: 'template',
    meaning: 'The coinbase rebuilt from coinbase_tx_prefix ‖ extranonce ‖ coinbase_tx_suffix is not a serialized segwit coinbase (truncated, trailing bytes, not one null-outpoint input, no 32-byte witness reserved value, no witness commitment output).',
    emittedBy: 'job declaration server; DeclareMiningJob.Error, jd_declaration event',
    wire: 'invalid-coinbase-tx',
  },
  jd_coinbase_pool_not_paid: {
    category: 'template',
    meaning: 'The declared coinbase does not pay the pool in full: a configured payout script is missing, value goes to a non-pool output, or the payout scripts receive less than subsidy + the declared transactions\' fees.',
    emittedBy: 'job declaration server; DeclareMiningJob.Error (inline), jd_declaration event',
    wire: 'invalid-coinbase-tx',
  },
  jd_missing_txs: {
    category: 'template',
    meaning: 'ProvideMissingTransactions.Success did not supply every requested transaction (wrong count); the declaration is refused and its token released.',
    emittedBy: 'job declaration server; DeclareMiningJob.Error, jd_declaration event',
    wire: 'missing-txs',
  },
  jd_provided_tx_invalid: {
    category: 'template',
    meaning: 'A transaction in ProvideMissingTransactions.Success does not decode as one whole transaction, or its wtxid is not the one declared at that position.',
    emittedBy: 'job declaration server; DeclareMiningJob.Error, jd_declaration event',
    wire: 'missing-txs',
  },
  jd_tx_fee_unknown: {
    category: 'template',
    meaning: 'The fee of a declared transaction cannot be known: it is in no template or mempool entry, and not every input spends an output the server knows, so the fee policy cannot be applied.',
    emittedBy: 'job declaration server; DeclareMiningJob.Error (inline), jd_declaration event',
    wire: 'invalid-job',
  },
  jd_unknown_request: {
    category: 'connection',
    meaning: 'ProvideMissingTransactions.Success answered a request_id with no declaration waiting for transactions on this connection; it is ignored and counted.',
    emittedBy: 'job declaration server; jd_unexpected_response event',
  },
  jd_request_flood: {
    category: 'connection',
    meaning: 'A Job Declaration client sent more AllocateMiningJobToken + DeclareMiningJob messages than job_declaration.max_requests_per_second in one second, or more declarations awaiting transactions than job_declaration.max_pending_declarations; the connection is closed.',
    emittedBy: 'job declaration server; jd_connection_closed event',
  },
  jd_proposal_rejected: {
    category: 'template',
    meaning: 'The node refused the declared block in its BIP23 block proposal (getblocktemplate mode "proposal"): it is not consensus-valid on the tip; reason_detail is the node\'s reject string.',
    emittedBy: 'job declaration server; DeclareMiningJob.Error (inline), jd_declaration_verdict event',
    wire: 'invalid-job',
  },
  jd_proposal_unavailable: {
    category: 'availability',
    meaning: 'The node gave no usable answer to the declared block\'s BIP23 proposal within job_declaration.proposal_timeout_ms (unreachable, RPC error, timeout, or an answer that is no BIP23 shape); with job_declaration.proposal_failure_policy = fail_closed the declaration is refused.',
    emittedBy: 'job declaration server; DeclareMiningJob.Error (inline, fail_closed), jd_declaration_verdict event',
    wire: 'invalid-job',
  },
  // ── availability ─────────────────────────────────────────────────────────
  upstream_unavailable: {
    category: 'availability',
    meaning: 'The Bitcoin node did not answer getblocktemplate (unreachable, timeout, HTTP or RPC error); miners keep their last job.',
    emittedBy: 'template poller; upstream_unavailable event',
  },
  block_submit_failed: {
    category: 'availability',
    meaning: 'submitblock failed at the transport level after all retries; the block stays in the event log with its hex.',
    emittedBy: 'block submitter; block_submit_result event',
  },
  verifier_unavailable: {
    category: 'availability',
    meaning: 'The verifier could not be asked: not connected (down, reconnecting with backoff), the connection dropped with the request in flight, or it answered with an error. No verdict; the mode and timing.upstream_failure_policy decide.',
    emittedBy: 'verifier client; template_verdict event (unavailable outcome)',
  },
  verdict_timeout: {
    category: 'availability',
    meaning: 'The verifier is connected but gave no verdict by the request deadline.',
    emittedBy: 'verifier client; template_verdict event (unavailable outcome)',
  },
  // Verifier answers the gateway can check and refuses (issue 12 defect 3,
  // docs/verifier-protocol.md "What the gateway checks"): each is a protocol error that drops the
  // connection; every request in flight on it gets `verifier_unavailable` (no verdict).
  verifier_verdict_template_mismatch: {
    category: 'availability',
    meaning: "A VERDICT's template_id differs from the template of the request it answers. Never applied: the verifier connection is dropped and the request counts as no verdict (verifier_unavailable).",
    emittedBy: 'verifier client; verifier_protocol_error event',
  },
  verifier_verdict_inconsistent: {
    category: 'availability',
    meaning: 'A VERDICT contradicts itself: accepted true with a reason_code other than template_accepted, or accepted false with template_accepted or an availability code. Never applied; the connection is dropped, the request counts as no verdict.',
    emittedBy: 'verifier client; verifier_protocol_error event',
  },
  verifier_answer_malformed: {
    category: 'availability',
    meaning: 'A VERDICT or ERROR body that is not the documented shape: not JSON, missing or extra keys, wrong types, a reason_code outside the registry, a field longer than its bound. The connection is dropped, requests in flight count as no verdict.',
    emittedBy: 'verifier client; verifier_protocol_error event',
  },
  verifier_answer_unknown_request: {
    category: 'availability',
    meaning: 'An answer for a request_id the gateway never sent on this connection (or already answered). A late answer for a request that timed out on this connection is not this: it is dropped and counted. The connection is dropped.',
    emittedBy: 'verifier client; verifier_protocol_error event',
  },
  // ── workers (issue 13 item 1, docs/scaling.md "One machine, many cores") ────
  worker_control_invalid: {
    category: 'availability',
    meaning: 'A malformed frame on the leader/worker control channel (core/gateway/worker-control.ts): unknown type, wrong body size, bad JSON, over the frame bound. The channel is dropped; the leader treats it as the worker\'s exit and respawns it.',
    emittedBy: 'leader or worker control channel; worker_exited event',
  },
  worker_exited: {
    category: 'availability',
    meaning: 'A socket worker process exited or its control channel closed (crash, kill -9, out of memory). Its miners lose their connections and reconnect to the surviving workers through the shared port; the leader respawns it after a bounded backoff.',
    emittedBy: 'leader; worker_exited event, connection_closed events of the worker\'s connections, reservegrid_worker_restarts_total',
  },
  custom_job_token_check_timeout: {
    category: 'availability',
    meaning: 'gateway.workers ≥ 2 with [job_declaration]: a socket worker asked the leader, which holds the Job Declaration tokens, to check a SetCustomMiningJob\'s mining_job_token, and no answer came within 2,000 ms; the job is refused (fail closed). The leader may have spent the token by then: the JD client declares again (docs/scaling.md "Job Declaration with workers").',
    emittedBy: 'socket worker; SetCustomMiningJob.Error, custom_job_rejected event',
    wire: 'invalid-mining-job-token',
  },
  custom_job_held_input_exceeded: {
    category: 'connection',
    meaning: 'gateway.workers ≥ 2: while a SetCustomMiningJob waited for the leader\'s token check, the connection sent more than 1 MiB of further messages (they are held, in order, until the answer); it is closed.',
    emittedBy: 'socket worker session; connection_closed event',
  },
} as const satisfies Record<string, ReasonCodeInfo>;

export type ReasonCode = keyof typeof REASON_CODES;

export function reasonInfo(code: ReasonCode): ReasonCodeInfo {
  return REASON_CODES[code];
}

/** The SV2 wire string for a code; throws for codes that never go on the wire (programming error). */
export function wireString(code: ReasonCode): string {
  const info: ReasonCodeInfo = REASON_CODES[code];
  if (info.wire === undefined) throw new RangeError(`wireString: reason code '${code}' has no SV2 wire string`);
  return info.wire;
}

export function isReasonCode(value: string): value is ReasonCode {
  return Object.prototype.hasOwnProperty.call(REASON_CODES, value);
}
