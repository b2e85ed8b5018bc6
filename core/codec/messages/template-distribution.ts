// Template Distribution Protocol messages, extension_type 0, msg_type 0x70–0x76, channel bit
// always 0 (SV2.md §6). Numbers live in the catalog (core/codec/catalog.ts).
import { type DataType, B0_16M, B0_64K, B0_255, BOOL, defineMessage, type MessageCodec, type MessageOf, SEQ0_64K, SEQ0_255, STR0_255, U16, U256, U32, U64 } from '../types.ts';

// Composite field types as named constants, so that each field list below is a plain literal
// whose type JSR can read without inference (deno publish: no slow types).
const SEQ0_255_U256: DataType<readonly Uint8Array[]> = SEQ0_255(U256);
const SEQ0_64K_B0_16M: DataType<readonly Uint8Array[]> = SEQ0_64K(B0_16M);

/** 0x70. Replaced CoinbaseOutputDataSize (which lacked the U16 sigops field) in SRI v1.3.0. */
const COINBASE_OUTPUT_CONSTRAINTS_FIELDS = [
  ['coinbaseOutputMaxAdditionalSize', 'coinbase_output_max_additional_size', U32],
  ['coinbaseOutputMaxAdditionalSigops', 'coinbase_output_max_additional_sigops', U16],
] as const;
export const CoinbaseOutputConstraints: MessageCodec<MessageOf<'CoinbaseOutputConstraints', typeof COINBASE_OUTPUT_CONSTRAINTS_FIELDS>> = defineMessage('CoinbaseOutputConstraints', COINBASE_OUTPUT_CONSTRAINTS_FIELDS);

/** `coinbaseTxOutputs` is the outputs concatenated with NO CompactSize count; the count is
 * `coinbaseTxOutputsCount` (SV2.md §5.4, §6). */
const NEW_TEMPLATE_FIELDS = [
  ['templateId', 'template_id', U64],
  ['futureTemplate', 'future_template', BOOL],
  ['version', 'version', U32],
  ['coinbaseTxVersion', 'coinbase_tx_version', U32],
  ['coinbasePrefix', 'coinbase_prefix', B0_255],
  ['coinbaseTxInputSequence', 'coinbase_tx_input_sequence', U32],
  ['coinbaseTxValueRemaining', 'coinbase_tx_value_remaining', U64],
  ['coinbaseTxOutputsCount', 'coinbase_tx_outputs_count', U32],
  ['coinbaseTxOutputs', 'coinbase_tx_outputs', B0_64K],
  ['coinbaseTxLocktime', 'coinbase_tx_locktime', U32],
  ['merklePath', 'merkle_path', SEQ0_255_U256],
] as const;
export const NewTemplate: MessageCodec<MessageOf<'NewTemplate', typeof NEW_TEMPLATE_FIELDS>> = defineMessage('NewTemplate', NEW_TEMPLATE_FIELDS);

/** TDP SetNewPrevHash (0x72); named `SetNewPrevHashTdp` to keep it apart from the mining 0x20. */
const SET_NEW_PREV_HASH_TDP_FIELDS = [
  ['templateId', 'template_id', U64],
  ['prevHash', 'prev_hash', U256],
  ['headerTimestamp', 'header_timestamp', U32],
  ['nBits', 'n_bits', U32],
  ['target', 'target', U256],
] as const;
export const SetNewPrevHashTdp: MessageCodec<MessageOf<'SetNewPrevHashTdp', typeof SET_NEW_PREV_HASH_TDP_FIELDS>> = defineMessage('SetNewPrevHashTdp', SET_NEW_PREV_HASH_TDP_FIELDS);

const REQUEST_TRANSACTION_DATA_FIELDS = [['templateId', 'template_id', U64]] as const;
export const RequestTransactionData: MessageCodec<MessageOf<'RequestTransactionData', typeof REQUEST_TRANSACTION_DATA_FIELDS>> = defineMessage('RequestTransactionData', REQUEST_TRANSACTION_DATA_FIELDS);

const REQUEST_TRANSACTION_DATA_SUCCESS_FIELDS = [
  ['templateId', 'template_id', U64],
  ['excessData', 'excess_data', B0_64K],
  ['transactionList', 'transaction_list', SEQ0_64K_B0_16M],
] as const;
export const RequestTransactionDataSuccess: MessageCodec<MessageOf<'RequestTransactionDataSuccess', typeof REQUEST_TRANSACTION_DATA_SUCCESS_FIELDS>> = defineMessage('RequestTransactionDataSuccess', REQUEST_TRANSACTION_DATA_SUCCESS_FIELDS);

const REQUEST_TRANSACTION_DATA_ERROR_FIELDS = [
  ['templateId', 'template_id', U64],
  ['errorCode', 'error_code', STR0_255],
] as const;
export const RequestTransactionDataError: MessageCodec<MessageOf<'RequestTransactionDataError', typeof REQUEST_TRANSACTION_DATA_ERROR_FIELDS>> = defineMessage('RequestTransactionDataError', REQUEST_TRANSACTION_DATA_ERROR_FIELDS);

/** `coinbaseTx` is the full serialization WITH witness (SV2.md §5.4, §9.10). */
const SUBMIT_SOLUTION_FIELDS = [
  ['templateId', 'template_id', U64],
  ['version', 'version', U32],
  ['headerTimestamp', 'header_timestamp', U32],
  ['headerNonce', 'header_nonce', U32],
  ['coinbaseTx', 'coinbase_tx', B0_64K],
] as const;
export const SubmitSolution: MessageCodec<MessageOf<'SubmitSolution', typeof SUBMIT_SOLUTION_FIELDS>> = defineMessage('SubmitSolution', SUBMIT_SOLUTION_FIELDS);

export type CoinbaseOutputConstraints = ReturnType<typeof CoinbaseOutputConstraints.decode>;
export type NewTemplate = ReturnType<typeof NewTemplate.decode>;
export type SetNewPrevHashTdp = ReturnType<typeof SetNewPrevHashTdp.decode>;
export type RequestTransactionData = ReturnType<typeof RequestTransactionData.decode>;
export type RequestTransactionDataSuccess = ReturnType<typeof RequestTransactionDataSuccess.decode>;
export type RequestTransactionDataError = ReturnType<typeof RequestTransactionDataError.decode>;
export type SubmitSolution = ReturnType<typeof SubmitSolution.decode>;

export type TemplateDistributionMessage =
  | CoinbaseOutputConstraints
  | NewTemplate
  | SetNewPrevHashTdp
  | RequestTransactionData
  | RequestTransactionDataSuccess
  | RequestTransactionDataError
  | SubmitSolution;
