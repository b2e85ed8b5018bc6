// Channel settings: the [mining] and [timing] config keys the mining core reads, plus the few
// limits that have no config key (documented defaults, overridable by the caller).
import type { Config } from '../config/schema.ts';

export interface ChannelsSettings {
  /** mining.shares_per_minute: initial target (SRI formula) and vardiff goal. */
  readonly sharesPerMinute: number;
  /** mining.min_difficulty (0 = no lower bound). */
  readonly minDifficulty: number;
  /** mining.max_difficulty. */
  readonly maxDifficulty: number;
  readonly vardiffEnabled: boolean;
  readonly vardiffRetargetIntervalSecs: number;
  /** mining.share_ack_batch_size. */
  readonly shareAckBatchSize: number;
  /** Deadline of a partial SubmitShares.Success batch (no config key; default 100 ms). */
  readonly shareAckDelayMs: number;
  /** timing.nonce_expire_secs: duplicate window. */
  readonly nonceExpireSecs: number;
  /** Rollable bytes an extended channel gets when it asks for fewer (default 8). */
  readonly extranonceRollableBytesDefault: number;
  /** Channels one connection may open (default 64) → `channel-limit-reached`. */
  readonly channelsPerConnectionMax: number;
  /** ntime may run at most this far past min_ntime + seconds since the job was sent (default
   * 7000 s: consensus refuses blocks more than 2 h ahead; SRI checks no upper bound). */
  readonly ntimeFutureSecsMax: number;
  /** Duplicate-set capacity per connection (default 200,000 header hashes). */
  readonly seenSharesMax: number;
}

export const CHANNELS_DEFAULTS = {
  shareAckDelayMs: 100,
  extranonceRollableBytesDefault: 8,
  channelsPerConnectionMax: 64,
  ntimeFutureSecsMax: 7000,
  seenSharesMax: 200_000,
} as const;

export function channelsSettingsFromConfig(config: Pick<Config, 'mining' | 'timing'>, overrides: Partial<ChannelsSettings> = {}): ChannelsSettings {
  const settings: ChannelsSettings = {
    sharesPerMinute: config.mining.shares_per_minute,
    minDifficulty: config.mining.min_difficulty,
    maxDifficulty: config.mining.max_difficulty,
    vardiffEnabled: config.mining.vardiff_enabled,
    vardiffRetargetIntervalSecs: config.mining.vardiff_retarget_interval_secs,
    shareAckBatchSize: config.mining.share_ack_batch_size,
    nonceExpireSecs: config.timing.nonce_expire_secs,
    ...CHANNELS_DEFAULTS,
    ...overrides,
  };
  checkChannelsSettings(settings);
  return settings;
}

/** Throws RangeError naming the first setting out of range. */
export function checkChannelsSettings(s: ChannelsSettings): void {
  const positive = (name: keyof ChannelsSettings, value: number) => {
    if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw new RangeError(`ChannelsSettings.${name} must be > 0, got ${value}`);
  };
  const integer = (name: keyof ChannelsSettings, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`ChannelsSettings.${name} must be an integer ${min}..${max}, got ${value}`);
  };
  positive('sharesPerMinute', s.sharesPerMinute);
  if (!(s.minDifficulty >= 0) || !Number.isFinite(s.minDifficulty)) throw new RangeError(`ChannelsSettings.minDifficulty must be >= 0, got ${s.minDifficulty}`);
  positive('maxDifficulty', s.maxDifficulty);
  if (s.minDifficulty > s.maxDifficulty) throw new RangeError(`ChannelsSettings.minDifficulty (${s.minDifficulty}) must be <= maxDifficulty (${s.maxDifficulty})`);
  integer('vardiffRetargetIntervalSecs', s.vardiffRetargetIntervalSecs, 1, 86_400);
  integer('shareAckBatchSize', s.shareAckBatchSize, 1, 1_000_000);
  integer('shareAckDelayMs', s.shareAckDelayMs, 0, 3_600_000);
  integer('nonceExpireSecs', s.nonceExpireSecs, 1, 86_400);
  integer('extranonceRollableBytesDefault', s.extranonceRollableBytesDefault, 0, 32);
  integer('channelsPerConnectionMax', s.channelsPerConnectionMax, 1, 1_000_000);
  integer('ntimeFutureSecsMax', s.ntimeFutureSecsMax, 0, 0xffffffff);
  integer('seenSharesMax', s.seenSharesMax, 2, 100_000_000);
}
