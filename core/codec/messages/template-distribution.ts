// Template Distribution Protocol messages, extension_type 0, msg_type 0x70–0x76, channel bit
// always 0 (SV2.md §6). Numbers live in the catalog (core/codec/catalog.ts).
import { B0_16M, B0_64K, B0_255, BOOL, defineMessage, SEQ0_64K, SEQ0_255, STR0_255, U16, U256, U32, U64 } from '../types.ts';

/** 0x70. Replaced CoinbaseOutputDataSize (which lacked the U16 sigops field) in SRI v1.3.0. */
export const CoinbaseOutputConstraints = defineMessage('CoinbaseOutputConstraints', [
  ['coinbaseOutputMaxAdditionalSize', 'coinbase_output_max_additional_size', U32],
  ['coinbaseOutputMaxAdditionalSigops', 'coinbase_output_max_additional_sigops', U16],
]);

/** `coinbaseTxOutputs` is the outputs concatenated with NO CompactSize count; the count is
 * `coinbaseTxOutputsCount` (SV2.md §5.4, §6). */
export const NewTemplate = defineMessage('NewTemplate', [
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
  ['merklePath', 'merkle_path', SEQ0_255(U256)],
]);

/** TDP SetNewPrevHash (0x72); named `SetNewPrevHashTdp` to keep it apart from the mining 0x20. */
export const SetNewPrevHashTdp = defineMessage('SetNewPrevHashTdp', [
  ['templateId', 'template_id', U64],
  ['prevHash', 'prev_hash', U256],
  ['headerTimestamp', 'header_timestamp', U32],
  ['nBits', 'n_bits', U32],
  ['target', 'target', U256],
]);

export const RequestTransactionData = defineMessage('RequestTransactionData', [['templateId', 'template_id', U64]]);

export const RequestTransactionDataSuccess = defineMessage('RequestTransactionDataSuccess', [
  ['templateId', 'template_id', U64],
  ['excessData', 'excess_data', B0_64K],
  ['transactionList', 'transaction_list', SEQ0_64K(B0_16M)],
]);

export const RequestTransactionDataError = defineMessage('RequestTransactionDataError', [
  ['templateId', 'template_id', U64],
  ['errorCode', 'error_code', STR0_255],
]);

/** `coinbaseTx` is the full serialization WITH witness (SV2.md §5.4, §9.10). */
export const SubmitSolution = defineMessage('SubmitSolution', [
  ['templateId', 'template_id', U64],
  ['version', 'version', U32],
  ['headerTimestamp', 'header_timestamp', U32],
  ['headerNonce', 'header_nonce', U32],
  ['coinbaseTx', 'coinbase_tx', B0_64K],
]);

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
