// Our SV2 mining client (initiator) and the CPU share finder. See client.ts and finder.ts.
export * from './client.ts';
export * from './finder.ts';
// Our Template Distribution client (what an SV2 pool or JD client does towards a TP): tdp-client.ts.
export * from './tdp-client.ts';
