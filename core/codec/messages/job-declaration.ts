// Job Declaration Protocol messages, extension_type 0, channel bit always 0 (SV2.md §7), with
// the current field layouts: AllocateMiningJobToken.Success lost its max_additional_size,
// sigops and async_mining_allowed fields in 2025, IdentifyTransactions (0x53/0x54) was removed,
// and PushSolution's channel bit went 1 → 0 (SV2.md §5.1, §9.8). Numbers live in the catalog.
import { type DataType, B0_16M, B0_32, B0_64K, B0_255, defineMessage, type MessageCodec, type MessageOf, SEQ0_64K, STR0_255, U16, U256, U32 } from '../types.ts';

// Composite field types as named constants, so that each field list below is a plain literal
// whose type JSR can read without inference (deno publish: no slow types).
const SEQ0_64K_B0_16M: DataType<readonly Uint8Array[]> = SEQ0_64K(B0_16M);
const SEQ0_64K_U16: DataType<readonly number[]> = SEQ0_64K(U16);
const SEQ0_64K_U256: DataType<readonly Uint8Array[]> = SEQ0_64K(U256);

const ALLOCATE_MINING_JOB_TOKEN_FIELDS = [
  ['userIdentifier', 'user_identifier', STR0_255],
  ['requestId', 'request_id', U32],
] as const;
export const AllocateMiningJobToken: MessageCodec<MessageOf<'AllocateMiningJobToken', typeof ALLOCATE_MINING_JOB_TOKEN_FIELDS>> = defineMessage('AllocateMiningJobToken', ALLOCATE_MINING_JOB_TOKEN_FIELDS);

/** `coinbaseTxOutputs` (SRI: `coinbase_outputs`) is a CompactSize-prefixed `Vec<TxOut>`; the
 * first output is the pool payout script. */
const ALLOCATE_MINING_JOB_TOKEN_SUCCESS_FIELDS = [
  ['requestId', 'request_id', U32],
  ['miningJobToken', 'mining_job_token', B0_255],
  ['coinbaseTxOutputs', 'coinbase_tx_outputs', B0_64K],
] as const;
export const AllocateMiningJobTokenSuccess: MessageCodec<MessageOf<'AllocateMiningJobTokenSuccess', typeof ALLOCATE_MINING_JOB_TOKEN_SUCCESS_FIELDS>> = defineMessage('AllocateMiningJobTokenSuccess', ALLOCATE_MINING_JOB_TOKEN_SUCCESS_FIELDS);

const PROVIDE_MISSING_TRANSACTIONS_FIELDS = [
  ['requestId', 'request_id', U32],
  ['unknownTxPositionList', 'unknown_tx_position_list', SEQ0_64K_U16],
] as const;
export const ProvideMissingTransactions: MessageCodec<MessageOf<'ProvideMissingTransactions', typeof PROVIDE_MISSING_TRANSACTIONS_FIELDS>> = defineMessage('ProvideMissingTransactions', PROVIDE_MISSING_TRANSACTIONS_FIELDS);

const PROVIDE_MISSING_TRANSACTIONS_SUCCESS_FIELDS = [
  ['requestId', 'request_id', U32],
  ['transactionList', 'transaction_list', SEQ0_64K_B0_16M],
] as const;
export const ProvideMissingTransactionsSuccess: MessageCodec<MessageOf<'ProvideMissingTransactionsSuccess', typeof PROVIDE_MISSING_TRANSACTIONS_SUCCESS_FIELDS>> = defineMessage('ProvideMissingTransactionsSuccess', PROVIDE_MISSING_TRANSACTIONS_SUCCESS_FIELDS);

/** Coinbase prefix/suffix here keep the BIP141 fields (SV2.md §7, §9.10). */
const DECLARE_MINING_JOB_FIELDS = [
  ['requestId', 'request_id', U32],
  ['miningJobToken', 'mining_job_token', B0_255],
  ['version', 'version', U32],
  ['coinbaseTxPrefix', 'coinbase_tx_prefix', B0_64K],
  ['coinbaseTxSuffix', 'coinbase_tx_suffix', B0_64K],
  ['wtxidList', 'wtxid_list', SEQ0_64K_U256],
  ['excessData', 'excess_data', B0_64K],
] as const;
export const DeclareMiningJob: MessageCodec<MessageOf<'DeclareMiningJob', typeof DECLARE_MINING_JOB_FIELDS>> = defineMessage('DeclareMiningJob', DECLARE_MINING_JOB_FIELDS);

const DECLARE_MINING_JOB_SUCCESS_FIELDS = [
  ['requestId', 'request_id', U32],
  ['newMiningJobToken', 'new_mining_job_token', B0_255],
] as const;
export const DeclareMiningJobSuccess: MessageCodec<MessageOf<'DeclareMiningJobSuccess', typeof DECLARE_MINING_JOB_SUCCESS_FIELDS>> = defineMessage('DeclareMiningJobSuccess', DECLARE_MINING_JOB_SUCCESS_FIELDS);

const DECLARE_MINING_JOB_ERROR_FIELDS = [
  ['requestId', 'request_id', U32],
  ['errorCode', 'error_code', STR0_255],
  ['errorDetails', 'error_details', B0_64K],
] as const;
export const DeclareMiningJobError: MessageCodec<MessageOf<'DeclareMiningJobError', typeof DECLARE_MINING_JOB_ERROR_FIELDS>> = defineMessage('DeclareMiningJobError', DECLARE_MINING_JOB_ERROR_FIELDS);

/** `extranonce` is the FULL extranonce (prefix ‖ rollable part). */
const PUSH_SOLUTION_FIELDS = [
  ['extranonce', 'extranonce', B0_32],
  ['prevHash', 'prev_hash', U256],
  ['nonce', 'nonce', U32],
  ['ntime', 'ntime', U32],
  ['nbits', 'nbits', U32],
  ['version', 'version', U32],
] as const;
export const PushSolution: MessageCodec<MessageOf<'PushSolution', typeof PUSH_SOLUTION_FIELDS>> = defineMessage('PushSolution', PUSH_SOLUTION_FIELDS);

export type AllocateMiningJobToken = ReturnType<typeof AllocateMiningJobToken.decode>;
export type AllocateMiningJobTokenSuccess = ReturnType<typeof AllocateMiningJobTokenSuccess.decode>;
export type ProvideMissingTransactions = ReturnType<typeof ProvideMissingTransactions.decode>;
export type ProvideMissingTransactionsSuccess = ReturnType<typeof ProvideMissingTransactionsSuccess.decode>;
export type DeclareMiningJob = ReturnType<typeof DeclareMiningJob.decode>;
export type DeclareMiningJobSuccess = ReturnType<typeof DeclareMiningJobSuccess.decode>;
export type DeclareMiningJobError = ReturnType<typeof DeclareMiningJobError.decode>;
export type PushSolution = ReturnType<typeof PushSolution.decode>;

export type JobDeclarationMessage =
  | AllocateMiningJobToken
  | AllocateMiningJobTokenSuccess
  | ProvideMissingTransactions
  | ProvideMissingTransactionsSuccess
  | DeclareMiningJob
  | DeclareMiningJobSuccess
  | DeclareMiningJobError
  | PushSolution;
