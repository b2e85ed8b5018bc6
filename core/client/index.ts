// Our SV2 mining client (initiator) and the CPU share finder. See client.ts and finder.ts.
export * from './client.ts';
export * from './finder.ts';
