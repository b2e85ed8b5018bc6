// Small consensus helpers the policy engine needs and nothing else in core had yet: the block
// subsidy, legacy sigop counting of a script, output-script extraction from a serialized
// transaction, and a parser for SetCustomMiningJob's `Vec<TxOut>`. All decoders return null on
// malformed input instead of throwing (house rule: decoders never throw on bytes).

/** 50 BTC in sats (validation.cpp GetBlockSubsidy). */
export const INITIAL_SUBSIDY_SATS = 5_000_000_000n;

/** Block subsidy at `height` (GetBlockSubsidy: halve every `halvingInterval`, 0 after 64 halvings). */
export function blockSubsidy(height: number, halvingInterval: number): bigint {
  if (!Number.isSafeInteger(height) || height < 0) throw new RangeError(`blockSubsidy: height must be a non-negative integer, got ${height}`);
  if (!Number.isSafeInteger(halvingInterval) || halvingInterval < 1) throw new RangeError(`blockSubsidy: halvingInterval must be >= 1, got ${halvingInterval}`);
  const halvings = Math.floor(height / halvingInterval);
  return halvings >= 64 ? 0n : INITIAL_SUBSIDY_SATS >> BigInt(halvings);
}

/**
 * Legacy sigops of a script (Bitcoin Core GetSigOpCount(fAccurate=false)): CHECKSIG(VERIFY) = 1,
 * CHECKMULTISIG(VERIFY) = 20. Push data is skipped; a truncated push ends the count (Core does
 * the same: GetOp fails and the loop stops). Multiply by 4 (WITNESS_SCALE_FACTOR) for the
 * sigop COST of an output script.
 */
export function legacySigops(script: Uint8Array): number {
  let n = 0;
  let i = 0;
  while (i < script.length) {
    const op = script[i++]!;
    if (op >= 0x01 && op <= 0x4b) i += op;
    else if (op === 0x4c) i += 1 + (script[i] ?? 0);
    else if (op === 0x4d) i += 2 + ((script[i] ?? 0) | ((script[i + 1] ?? 0) << 8));
    else if (op === 0x4e) i += 4 + ((script[i] ?? 0) | ((script[i + 1] ?? 0) << 8) | ((script[i + 2] ?? 0) << 16)) + (script[i + 3] ?? 0) * 0x1000000;
    else if (op === 0xac || op === 0xad) n += 1;
    else if (op === 0xae || op === 0xaf) n += 20;
  }
  return n;
}

/** CompactSize at `offset`: [value, next offset] or null when truncated. */
function _compactSize(data: Uint8Array, offset: number): [number, number] | null {
  const first = data[offset];
  if (first === undefined) return null;
  if (first < 0xfd) return [first, offset + 1];
  const width = first === 0xfd ? 2 : first === 0xfe ? 4 : 8;
  if (offset + 1 + width > data.length) return null;
  let value = 0;
  for (let k = width - 1; k >= 0; k--) value = value * 256 + data[offset + 1 + k]!;
  return Number.isSafeInteger(value) ? [value, offset + 1 + width] : null;
}

// Allocation-free CompactSize reader for the output scan: returns the value (or -1 when
// truncated / not a safe integer) and leaves the offset after it in `_next`.
let _next = 0;
function _readSize(data: Uint8Array, offset: number): number {
  const first = data[offset];
  if (first === undefined) return -1;
  if (first < 0xfd) {
    _next = offset + 1;
    return first;
  }
  const width = first === 0xfd ? 2 : first === 0xfe ? 4 : 8;
  if (offset + 1 + width > data.length) return -1;
  let value = 0;
  for (let k = width - 1; k >= 0; k--) value = value * 256 + data[offset + 1 + k]!;
  if (!Number.isSafeInteger(value)) return -1;
  _next = offset + 1 + width;
  return value;
}

/**
 * Call `visit(scriptStart, scriptEnd)` for every output of a serialized transaction (with or
 * without BIP144 witness marker); a visitor returning true stops the scan. Returns false when
 * the bytes do not parse as far as the outputs; true otherwise. No copies and no allocation:
 * the visitor gets offsets into `data`, so scanning 4,000 transactions for blocklisted scripts
 * stays well under a millisecond.
 */
export function forEachOutputScript(data: Uint8Array, visit: (start: number, end: number) => boolean | void): boolean {
  if (data.length < 10) return false;
  let at = 4; // version
  // BIP144: marker 0x00 + flag 0x01 where a legacy tx has its input count (never 0 for a
  // valid non-coinbase transaction).
  if (data[at] === 0x00 && data[at + 1] === 0x01) at += 2;
  const inputs = _readSize(data, at);
  if (inputs < 0) return false;
  at = _next;
  for (let k = 0; k < inputs; k++) {
    const scriptSig = _readSize(data, at + 36); // after the outpoint
    if (scriptSig < 0) return false;
    at = _next + scriptSig + 4; // scriptSig + sequence
    if (at > data.length) return false;
  }
  const outputs = _readSize(data, at);
  if (outputs < 0) return false;
  at = _next;
  for (let k = 0; k < outputs; k++) {
    const len = _readSize(data, at + 8); // after the value
    if (len < 0) return false;
    const start = _next;
    const end = start + len;
    if (end > data.length) return false;
    if (visit(start, end) === true) return true;
    at = end;
  }
  return true;
}

export interface ParsedTxOut {
  readonly valueSats: bigint;
  readonly scriptPubKey: Uint8Array;
}

/** `Vec<TxOut>` = CompactSize count ‖ outputs, exactly (SV2.md §5.4); null if malformed or trailing bytes. */
export function parseTxOutVec(bytes: Uint8Array): ParsedTxOut[] | null {
  const r = _compactSize(bytes, 0);
  if (r === null) return null;
  const [count, first] = r;
  // Each output is at least 9 bytes: bound the count before allocating.
  if (count > bytes.length / 9) return null;
  const outs: ParsedTxOut[] = [];
  let at = first;
  for (let k = 0; k < count; k++) {
    if (at + 8 > bytes.length) return null;
    let value = 0n;
    for (let b = 7; b >= 0; b--) value = (value << 8n) | BigInt(bytes[at + b]!);
    const s = _compactSize(bytes, at + 8);
    if (s === null) return null;
    const end = s[1] + s[0];
    if (end > bytes.length) return null;
    outs.push({ valueSats: value, scriptPubKey: bytes.subarray(s[1], end) });
    at = end;
  }
  return at === bytes.length ? outs : null;
}
