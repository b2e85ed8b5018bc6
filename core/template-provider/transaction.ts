// A strict, never-throwing reader of one serialized Bitcoin transaction (BIP144 serialization:
// `version ‖ [00 01] ‖ inputs ‖ outputs ‖ [witness per input] ‖ locktime`), used for the coinbase
// a TDP client submits in SubmitSolution (SV2.md §6: the full serialization WITH witness). It
// returns the stripped (no-witness) serialization, whose SHA256d is the txid that goes into the
// merkle root, and the facts the Template Provider checks before it builds a block: exactly one
// input with the null outpoint (a coinbase), a scriptSig of 2..100 bytes (consensus), the whole
// buffer consumed.
import { concatBytes } from '../bytes.ts';

export interface ParsedCoinbase {
  /** version ‖ inputs ‖ outputs ‖ locktime: SHA256d of this is the txid. */
  readonly stripped: Uint8Array;
  readonly hasWitness: boolean;
  /** Bytes of marker, flag and witness data (0 without witness). */
  readonly witnessBytes: number;
  readonly scriptSig: Uint8Array;
  readonly outputCount: number;
}

export type ParseCoinbaseResult = { readonly ok: true; readonly value: ParsedCoinbase } | { readonly ok: false; readonly error: string };

/** Counts above this cannot fit a B0_64K coinbase anyway; a larger CompactSize is rejected early. */
const COUNT_MAX = 65_535;

class _Reader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}
  get left(): number {
    return this.bytes.length - this.offset;
  }
  take(n: number): Uint8Array | null {
    if (n < 0 || n > this.left) return null;
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  compact(): number | null {
    if (this.left < 1) return null;
    const first = this.bytes[this.offset]!;
    if (first < 0xfd) {
      this.offset += 1;
      return first;
    }
    const width = first === 0xfd ? 2 : first === 0xfe ? 4 : 8;
    if (this.left < 1 + width) return null;
    let value = 0;
    for (let i = width; i >= 1; i--) value = value * 256 + this.bytes[this.offset + i]!;
    this.offset += 1 + width;
    // Non-canonical encodings are invalid in consensus serialization.
    if ((width === 2 && value < 0xfd) || (width === 4 && value <= 0xffff) || (width === 8 && value <= 0xffffffff)) return null;
    return value;
  }
}

/** Parse a coinbase as sent in SubmitSolution.coinbase_tx. Never throws. */
export function parseCoinbase(bytes: Uint8Array): ParseCoinbaseResult {
  const fail = (error: string): ParseCoinbaseResult => ({ ok: false, error });
  const r = new _Reader(bytes);
  const version = r.take(4);
  if (version === null) return fail('truncated version');
  let hasWitness = false;
  if (r.left >= 2 && bytes[r.offset] === 0x00) {
    if (bytes[r.offset + 1] !== 0x01) return fail('witness marker 00 not followed by flag 01');
    hasWitness = true;
    r.offset += 2;
  }
  const inputsStart = r.offset;
  const inputCount = r.compact();
  if (inputCount === null) return fail('truncated input count');
  if (inputCount !== 1) return fail(`a coinbase has exactly one input, got ${inputCount}`);
  const prevout = r.take(36);
  if (prevout === null) return fail('truncated outpoint');
  for (let i = 0; i < 32; i++) if (prevout[i] !== 0) return fail('input outpoint is not null (txid must be 32×00)');
  for (let i = 32; i < 36; i++) if (prevout[i] !== 0xff) return fail('input outpoint is not null (index must be 0xffffffff)');
  const scriptLength = r.compact();
  if (scriptLength === null) return fail('truncated scriptSig length');
  if (scriptLength < 2 || scriptLength > 100) return fail(`coinbase scriptSig must be 2..100 bytes, got ${scriptLength}`);
  const scriptSig = r.take(scriptLength);
  if (scriptSig === null) return fail('truncated scriptSig');
  if (r.take(4) === null) return fail('truncated sequence');
  const outputCount = r.compact();
  if (outputCount === null || outputCount > COUNT_MAX) return fail('bad output count');
  if (outputCount === 0) return fail('a coinbase needs at least one output');
  for (let i = 0; i < outputCount; i++) {
    if (r.take(8) === null) return fail(`truncated value of output ${i}`);
    const len = r.compact();
    if (len === null || r.take(len) === null) return fail(`truncated script of output ${i}`);
  }
  const inputsEnd = r.offset;
  const witnessStart = r.offset;
  if (hasWitness) {
    const items = r.compact();
    if (items === null || items > COUNT_MAX) return fail('bad witness item count');
    for (let i = 0; i < items; i++) {
      const len = r.compact();
      if (len === null || r.take(len) === null) return fail(`truncated witness item ${i}`);
    }
  }
  const witnessEnd = r.offset;
  const locktime = r.take(4);
  if (locktime === null) return fail('truncated locktime');
  if (r.left !== 0) return fail(`${r.left} bytes after the locktime`);
  return {
    ok: true,
    value: {
      stripped: concatBytes(version, bytes.subarray(inputsStart, inputsEnd), locktime),
      hasWitness,
      witnessBytes: hasWitness ? 2 + (witnessEnd - witnessStart) : 0,
      scriptSig: Uint8Array.from(scriptSig),
      outputCount,
    },
  };
}
