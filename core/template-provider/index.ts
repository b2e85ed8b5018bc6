// The Template Provider role (issue 10, SPEC §14, SV2.md §6): see tdp-session.ts for the protocol,
// tailor.ts for the coinbase-constraints arithmetic, template-cache.ts for retained templates.
export * from './events.ts';
export * from './tailor.ts';
export * from './template-cache.ts';
export * from './tdp-session.ts';
export * from './transaction.ts';
