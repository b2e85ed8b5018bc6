// Share forwarding (SPEC §8): the sans-IO forwarder, request signing, the wire format, the
// reference receiver's logic and an in-memory journal. docs/share-forwarding.md.
export * from './types.ts';
export * from './signing.ts';
export * from './wire.ts';
export * from './forwarder.ts';
export * from './sink.ts';
export * from './memory-journal.ts';
