// Job Declaration Server (issue 11; docs/job-declaration.md).
export * from './declaration.ts';
export * from './declared-coinbase.ts';
export * from './events.ts';
export * from './jds-session.ts';
export * from './proposal.ts';
export * from './tokens.ts';
export * from './transactions.ts';
