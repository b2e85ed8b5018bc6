// The one place the typed configuration (core/config/schema.ts) becomes GatewayOptions, so the
// `reservegrid run` wiring on every runtime is: load config → createGateway → pump.
import type { Config } from '../config/schema.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import type { RandomSource } from '../random.ts';
import { channelsSettingsFromConfig, payoutFromConfig, type ChannelsSettings } from '../channels/index.ts';
import { policySettingsFromConfig, PolicyEngine } from '../policy/engine.ts';
import { MiningJobTokens } from '../job-declaration/tokens.ts';
import type { DeclaredJob } from '../job-declaration/jds-session.ts';
import { Gateway, type GatewayOptions } from './gateway.ts';
import { PolicyWorkSelection, type RemoteCustomJobTokens } from './work-selection.ts';

export interface GatewayDeps {
  readonly provider: CryptoProvider;
  readonly random: RandomSource;
  /** Responder static key + certificates (core/noise ResponderIdentity built from noise.*). */
  readonly identity: GatewayOptions['identity'];
  /** Monotonic time of construction. */
  readonly nowMs: number;
  /** Optional overrides of channel limits that have no config key (tests, benchmarks). */
  readonly channels?: Partial<ChannelsSettings>;
  readonly workSelection?: GatewayOptions['workSelection'];
  readonly eventQueueMax?: number;
  /** Issue 4: the verifier (embedded engine or TCP client) built from gateway.verifier_addr;
   * required in inline mode. */
  readonly verifier?: GatewayOptions['verifier'];
  /** Issue 11: the JD token table ([job_declaration]); createGateway builds it from config. */
  readonly jobDeclarationTokens?: MiningJobTokens<DeclaredJob>;
  /**
   * Issue 13 item 1: a socket worker of a gateway with [job_declaration]: SetCustomMiningJob
   * tokens are checked by the leader (work-selection.ts). Needs mining.allow_work_selection.
   */
  readonly remoteCustomJobTokens?: RemoteCustomJobTokens;
  /** Issue 13 item 1: this gateway is a socket worker (GatewayOptions.worker). */
  readonly worker?: GatewayOptions['worker'];
  /** Issue 13 item 1: every released template (the leader forwards it to its workers). */
  readonly onRelease?: GatewayOptions['onRelease'];
}

/** Map config keys to gateway options (each mapping is named in docs/events.md "Configuration"). */
export function gatewayOptionsFromConfig(config: Config, deps: Omit<GatewayDeps, 'nowMs'>): GatewayOptions {
  return {
    gatewayId: config.gateway.id,
    mode: config.gateway.mode,
    provider: deps.provider,
    random: deps.random,
    identity: deps.identity,
    auth: {
      mode: config.auth.mode,
      allowlist: config.auth.allowlist,
      prefixMap: config.auth.prefix_map,
      maxWorkerIdBytes: config.auth.max_worker_id_bytes,
      maxWorkersPerChannel: config.auth.max_workers_per_channel,
    },
    channels: channelsSettingsFromConfig(config, { channelsPerConnectionMax: config.limits.max_channels_per_connection, ...deps.channels }),
    payout: payoutFromConfig(config),
    poolTag: config.mining.pool_tag,
    maxConnections: config.gateway.max_connections,
    maxFramePayloadBytes: config.gateway.max_frame_payload_bytes,
    admission: {
      connectionsPerIpMax: config.limits.max_connections_per_ip,
      handshakingMax: config.limits.max_handshaking,
      handshakingPerIpMax: config.limits.max_handshaking_per_ip,
      connectionRatePerIpPerSec: config.limits.connection_rate_per_ip,
      connectionBurstPerIp: config.limits.connection_burst_per_ip,
    },
    invalidSharesPerMinuteMax: config.limits.max_invalid_shares_per_minute,
    handshakeTimeoutMs: config.timing.handshake_timeout_ms,
    idleTimeoutMs: config.timing.channel_idle_timeout_ms,
    jobBroadcastIntervalMs: config.timing.job_broadcast_interval_ms,
    blockRetryInitialMs: config.upstream.retry_backoff_initial_ms,
    blockRetryMaxMs: Math.max(config.upstream.retry_backoff_initial_ms, config.timing.reconnect_backoff_max_ms),
    shutdownDrainTimeoutMs: config.timing.shutdown_drain_timeout_ms,
    ...(deps.eventQueueMax === undefined ? {} : { eventQueueMax: deps.eventQueueMax }),
    ...(deps.workSelection === undefined ? {} : { workSelection: deps.workSelection }),
    ...(deps.verifier === undefined ? {} : { verifier: deps.verifier }),
    ...(deps.worker === undefined ? {} : { worker: deps.worker }),
    ...(deps.onRelease === undefined ? {} : { onRelease: deps.onRelease }),
    ...(config.template_provider.listen_addr === undefined ? {} : { templateProvider: templateProviderOptionsFromConfig(config) }),
    ...(config.job_declaration.listen_addr === undefined || deps.jobDeclarationTokens === undefined
      ? {}
      : { jobDeclaration: jobDeclarationOptionsFromConfig(config, deps.jobDeclarationTokens) }),
    prevhash: {
      verdictTimeoutMs: config.timing.prevhash_verdict_timeout_ms,
      staleHoldMs: config.timing.prevhash_stale_hold_ms,
      upstreamFailurePolicy: config.gateway.upstream_failure_policy,
      requestTimeoutMs: config.timing.verifier_request_timeout_ms,
    },
  };
}

/** [template_provider] → the gateway's Template Provider options (issue 10). */
export function templateProviderOptionsFromConfig(config: Config): NonNullable<GatewayOptions['templateProvider']> {
  const tp = config.template_provider;
  return {
    maxClients: tp.max_clients,
    settings: {
      feeUpdateIntervalMs: tp.fee_update_interval_ms,
      minFeeDeltaSats: BigInt(tp.min_fee_delta_sats),
      retainedTemplates: tp.retained_templates,
      requestsPerSecondMax: tp.max_requests_per_second,
    },
  };
}

/** [job_declaration] → the token table shared by the JD port and SetCustomMiningJob (issue 11). */
export function jobDeclarationTokensFromConfig(config: Config, random: RandomSource): MiningJobTokens<DeclaredJob> {
  const jd = config.job_declaration;
  return new MiningJobTokens<DeclaredJob>(
    // Tombstones: spent/expired tokens are remembered as long again as an allocated token lives,
    // so a late use is told `jd_token_expired` / `jd_token_reused` rather than `jd_token_unknown`.
    { allocatedExpiryMs: jd.allocated_token_expiry_ms, declaredExpiryMs: jd.declared_token_expiry_ms, capacity: jd.tokens_max, tombstoneMs: jd.allocated_token_expiry_ms },
    random,
  );
}

/** [job_declaration] → the gateway's Job Declaration Server options (issue 11). */
export function jobDeclarationOptionsFromConfig(config: Config, tokens: MiningJobTokens<DeclaredJob>): NonNullable<GatewayOptions['jobDeclaration']> {
  const jd = config.job_declaration;
  return {
    maxClients: jd.max_clients,
    settings: {
      declaredTransactionsMax: Math.min(jd.max_declared_transactions, 65_535),
      requestsPerSecondMax: jd.max_requests_per_second,
      pendingDeclarationsMax: jd.max_pending_declarations,
      // PushSolution names no job: the newest few declared jobs per connection are matched.
      retainedJobs: 16,
    },
    tokens,
    providedTransactionsMax: jd.provided_transactions_max,
    policy: policySettingsFromConfig(config),
    // job_declaration.block_proposals: consensus through the node after the policy (BIP23).
    ...(jd.block_proposals ? { proposal: { timeoutMs: jd.proposal_timeout_ms, failurePolicy: jd.proposal_failure_policy } } : {}),
  };
}

export function createGateway(config: Config, deps: GatewayDeps): Gateway {
  // mining.allow_work_selection: SetCustomMiningJob judged by the same policy (issue 4 item 6),
  // against the template the gateway has released (work-selection.ts). A dep wins over config.
  // [job_declaration]: one token table for the JD port and SetCustomMiningJob (issue 11 item 4).
  let gateway: Gateway | undefined;
  const tokens = deps.jobDeclarationTokens ?? (config.job_declaration.listen_addr === undefined ? undefined : jobDeclarationTokensFromConfig(config, deps.random));
  const workSelection =
    deps.workSelection ??
    (config.mining.allow_work_selection
      ? new PolicyWorkSelection({
          engine: new PolicyEngine(policySettingsFromConfig(config)),
          currentJob: () => gateway?.currentJob ?? null,
          ...(tokens === undefined ? {} : { tokens, templates: () => gateway?.templateCache.templates() ?? [] }),
          ...(deps.remoteCustomJobTokens === undefined ? {} : { remoteTokens: deps.remoteCustomJobTokens, templates: () => gateway?.templateCache.templates() ?? [] }),
        })
      : undefined);
  const withDeps = { ...deps, ...(workSelection === undefined ? {} : { workSelection }), ...(tokens === undefined ? {} : { jobDeclarationTokens: tokens }) };
  gateway = new Gateway(gatewayOptionsFromConfig(config, withDeps), deps.nowMs);
  return gateway;
}
