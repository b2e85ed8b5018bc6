// Mining core public API (issue 3 part 1). See README.md in this folder for the contract.
export { DIFFICULTY_1_TARGET, difficultyFromHash, difficultyFromTarget, targetFromDifficulty } from './difficulty.ts';
export { EXTRANONCE_PREFIX_BYTES, ExtranonceAllocator } from './extranonce.ts';
export { JobFactory, JobTemplate, payoutFromConfig, splitReward, type CoinbaseOverrides, type JobCoinbase, type PayoutScript } from './job-factory.ts';
export { CustomJobSource, customCoinbaseParts, type CustomJobFields } from './custom-job.ts';
export { CHANNELS_DEFAULTS, channelsSettingsFromConfig, checkChannelsSettings, type ChannelsSettings } from './settings.ts';
export { SeenShares } from './seen-shares.ts';
export { ShareAckBatcher } from './share-acks.ts';
export {
  ACTIVE_JOBS_MAX,
  MiningChannels,
  VERSION_ROLLING_MASK,
  type BlockCandidate,
  type ChannelKind,
  type ExtranonceSource,
  type JobSource,
  type OpenOutcome,
  type ShareOutcome,
  type UpdateOutcome,
} from './channels.ts';
