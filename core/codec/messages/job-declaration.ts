// Job Declaration Protocol messages, extension_type 0, channel bit always 0 (SV2.md §7), with
// the current field layouts: AllocateMiningJobToken.Success lost its max_additional_size,
// sigops and async_mining_allowed fields in 2025, IdentifyTransactions (0x53/0x54) was removed,
// and PushSolution's channel bit went 1 → 0 (SV2.md §5.1, §9.8). Numbers live in the catalog.
import { B0_16M, B0_32, B0_64K, B0_255, defineMessage, SEQ0_64K, STR0_255, U16, U256, U32 } from '../types.ts';

export const AllocateMiningJobToken = defineMessage('AllocateMiningJobToken', [
  ['userIdentifier', 'user_identifier', STR0_255],
  ['requestId', 'request_id', U32],
]);

/** `coinbaseTxOutputs` (SRI: `coinbase_outputs`) is a CompactSize-prefixed `Vec<TxOut>`; the
 * first output is the pool payout script. */
export const AllocateMiningJobTokenSuccess = defineMessage('AllocateMiningJobTokenSuccess', [
  ['requestId', 'request_id', U32],
  ['miningJobToken', 'mining_job_token', B0_255],
  ['coinbaseTxOutputs', 'coinbase_tx_outputs', B0_64K],
]);

export const ProvideMissingTransactions = defineMessage('ProvideMissingTransactions', [
  ['requestId', 'request_id', U32],
  ['unknownTxPositionList', 'unknown_tx_position_list', SEQ0_64K(U16)],
]);

export const ProvideMissingTransactionsSuccess = defineMessage('ProvideMissingTransactionsSuccess', [
  ['requestId', 'request_id', U32],
  ['transactionList', 'transaction_list', SEQ0_64K(B0_16M)],
]);

/** Coinbase prefix/suffix here keep the BIP141 fields (SV2.md §7, §9.10). */
export const DeclareMiningJob = defineMessage('DeclareMiningJob', [
  ['requestId', 'request_id', U32],
  ['miningJobToken', 'mining_job_token', B0_255],
  ['version', 'version', U32],
  ['coinbaseTxPrefix', 'coinbase_tx_prefix', B0_64K],
  ['coinbaseTxSuffix', 'coinbase_tx_suffix', B0_64K],
  ['wtxidList', 'wtxid_list', SEQ0_64K(U256)],
  ['excessData', 'excess_data', B0_64K],
]);

export const DeclareMiningJobSuccess = defineMessage('DeclareMiningJobSuccess', [
  ['requestId', 'request_id', U32],
  ['newMiningJobToken', 'new_mining_job_token', B0_255],
]);

export const DeclareMiningJobError = defineMessage('DeclareMiningJobError', [
  ['requestId', 'request_id', U32],
  ['errorCode', 'error_code', STR0_255],
  ['errorDetails', 'error_details', B0_64K],
]);

/** `extranonce` is the FULL extranonce (prefix ‖ rollable part). */
export const PushSolution = defineMessage('PushSolution', [
  ['extranonce', 'extranonce', B0_32],
  ['prevHash', 'prev_hash', U256],
  ['nonce', 'nonce', U32],
  ['ntime', 'ntime', U32],
  ['nbits', 'nbits', U32],
  ['version', 'version', U32],
]);

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
