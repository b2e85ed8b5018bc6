// ReserveGrid OS core: the runtime-agnostic public API (SPEC §2). Everything here is pure:
// bytes and time go in; bytes, events and deadlines come out. Embedders bring a Clock, a
// RandomSource and optionally a faster CryptoProvider (see adapters/ for ours).
export * from './bytes.ts';
export * from './errors.ts';
export * from './clock.ts';
export * from './random.ts';
export * from './byte-queue.ts';
export * from './codec/index.ts';
export * from './noise/index.ts';
export * as bitcoin from './mining/index.ts';
export * from './config/index.ts';
export * from './reason-codes.ts';
