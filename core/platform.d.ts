// The only host globals core/ may use. They exist, with identical behaviour, on Node, Deno and
// Bun (WHATWG Encoding Standard), and carry no I/O, time or randomness.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: Uint8Array): string;
}
