// Policy and verifier (SPEC §5–§7, issue 4): the verdict contract, the engine, the embedded
// verifier and the TCP wire protocol's sans-IO endpoints. docs/policy.md, docs/verifier-protocol.md.
export * from './types.ts';
export * from './engine.ts';
export * from './embedded-verifier.ts';
export * from './verifier-protocol.ts';
export { blockSubsidy, legacySigops, forEachOutputScript, parseTxOutVec, INITIAL_SUBSIDY_SATS } from './bitcoin.ts';
