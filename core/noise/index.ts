// Public surface of the Noise layer (SV2.md §3): EllSwift keys, the BIP324 ECDH, BIP340
// certificates and authority keys, the NX handshake states, the transport and the sans-IO
// connections. Callers import from here; the files behind it are implementation detail.
export * from './ellswift.ts';
export * from './ecdh.ts';
export * from './schnorr.ts';
export * from './certificate.ts';
export * from './keys.ts';
export * from './symmetric-state.ts';
export * from './handshake.ts';
export * from './transport.ts';
export * from './connection.ts';
export * from './transmit-arena.ts';
// The provider interface the whole layer is parameterised by (core/crypto/provider.ts).
export { nobleProvider, type CryptoProvider } from '../crypto/provider.ts';
