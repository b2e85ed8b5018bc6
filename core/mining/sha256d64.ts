// Allocation-free double SHA-256 of exactly 64 bytes: the merkle node SHA256d(left ‖ right)
// (SV2.md §5.4). It is the hot path of extended-channel share validation (one per merkle level
// per share), where a generic hash pays for an input buffer, a padding buffer, two hasher
// objects and two output arrays per level.
//
// FIPS 180-4 SHA-256, specialised to the fixed shape of the input:
//  - first hash: 64-byte message = block 1 (the data) + block 2 (padding only: 0x80, zeros,
//    bit length 512). Block 2 is the same for every input, so its message schedule W[0..63] is
//    expanded once at load time and pre-added to the round constants (K[t] + W[t]);
//  - second hash: 32-byte message = one block: the first hash's eight state words, 0x80000000,
//    zeros, bit length 256. The state words ARE the big-endian words of that digest, so they go
//    into the schedule without a round trip through bytes;
//  - the merkle fold keeps the running root as eight words between levels for the same reason.
// State and schedule live in module-level typed arrays; nothing is allocated per call except
// the output array when the caller does not pass one. Pure, no host APIs (core/ rule).

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// Initial hash value H(0) (FIPS 180-4 §5.3.3).
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

const W = new Int32Array(64); // message schedule scratch
const S = new Int32Array(8); // running state scratch
const KW = new Int32Array(64); // K[t] + W[t] scratch
const KW_PAD64 = new Int32Array(64); // K[t] + W[t] of the constant second block of a 64-byte message

/** Expand W[0..15] into W[16..63] (FIPS 180-4 §6.2.2 step 1). */
function _expand(w: Int32Array): void {
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15]!;
    const y = w[t - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = (s1 + w[t - 7]! + s0 + w[t - 16]!) | 0;
  }
}

/** KW ← K + w (the per-round constant the rounds add), for a schedule that is not precomputed. */
function _addK(w: Int32Array): Int32Array {
  for (let t = 0; t < 64; t++) KW[t] = (K[t]! + w[t]!) | 0;
  return KW;
}

/** 64 rounds over `state` with pre-added K[t] + W[t] from `kw`; then the feed-forward add. */
function _compress(state: Int32Array, kw: Int32Array): void {
  let a = state[0]!, b = state[1]!, c = state[2]!, d = state[3]!;
  let e = state[4]!, f = state[5]!, g = state[6]!, h = state[7]!;
  for (let t = 0; t < 64; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + s1 + ch + kw[t]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (s0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

// Second block of any 64-byte message: 0x80 then zeros, then the length 512 bits (§5.1.1).
{
  const pad = new Int32Array(64);
  pad[0] = 0x80000000 | 0;
  pad[15] = 512;
  _expand(pad);
  for (let t = 0; t < 64; t++) KW_PAD64[t] = (K[t]! + pad[t]!) | 0;
}

function _readWords(bytes: Uint8Array, offset: number, into: Int32Array, at: number): void {
  for (let i = 0; i < 8; i++) {
    const p = offset + 4 * i;
    into[at + i] = (bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!;
  }
}

/** S ← SHA256 of the first digest in S (32 bytes = one padded block of 256 bits). */
function _secondHash(): void {
  for (let i = 0; i < 8; i++) W[i] = S[i]!;
  W[8] = 0x80000000 | 0;
  W.fill(0, 9, 15);
  W[15] = 256;
  _expand(W);
  S.set(IV);
  _compress(S, _addK(W));
}

/**
 * S ← SHA256d of the 64 bytes whose big-endian words are already in W[0..15].
 * First hash: block 1 = W, block 2 = the constant padding; second hash: one block of the
 * first digest's words + padding for 256 bits.
 */
function _sha256d64Words(): void {
  _expand(W);
  S.set(IV);
  _compress(S, _addK(W));
  _compress(S, KW_PAD64);
  _secondHash();
}

function _writeState(out: Uint8Array, offset: number): void {
  for (let i = 0; i < 8; i++) {
    const v = S[i]!;
    const p = offset + 4 * i;
    out[p] = v >>> 24;
    out[p + 1] = v >>> 16;
    out[p + 2] = v >>> 8;
    out[p + 3] = v;
  }
}

function _checkOut(where: string, out: Uint8Array): void {
  if (!(out instanceof Uint8Array) || out.length < 32) {
    throw new RangeError(`${where}: out must be a Uint8Array of at least 32 bytes, got ${out instanceof Uint8Array ? `${out.length} bytes` : typeof out}`);
  }
}

/**
 * SHA256(SHA256(data)) of exactly 64 bytes, written into `out` (32 bytes, a new array when
 * omitted) and returned. `out` may alias `data`.
 */
export function sha256d64(data: Uint8Array, out: Uint8Array = new Uint8Array(32)): Uint8Array {
  if (!(data instanceof Uint8Array) || data.length !== 64) {
    throw new RangeError(`sha256d64: data must be 64 bytes, got ${data instanceof Uint8Array ? `${data.length} bytes` : typeof data}`);
  }
  _checkOut('sha256d64', out);
  _readWords(data, 0, W, 0);
  _readWords(data, 32, W, 8);
  _sha256d64Words();
  _writeState(out, 0);
  return out;
}

/** The merkle node SHA256d(left ‖ right) of two 32-byte hashes, without concatenating them. */
export function sha256dPair(left: Uint8Array, right: Uint8Array, out: Uint8Array = new Uint8Array(32)): Uint8Array {
  if (!(left instanceof Uint8Array) || left.length !== 32) throw new RangeError(`sha256dPair: left must be 32 bytes, got ${left instanceof Uint8Array ? `${left.length} bytes` : typeof left}`);
  if (!(right instanceof Uint8Array) || right.length !== 32) throw new RangeError(`sha256dPair: right must be 32 bytes, got ${right instanceof Uint8Array ? `${right.length} bytes` : typeof right}`);
  _checkOut('sha256dPair', out);
  _readWords(left, 0, W, 0);
  _readWords(right, 0, W, 8);
  _sha256d64Words();
  _writeState(out, 0);
  return out;
}

/**
 * Merkle root from a leaf hash and its path (root = SHA256d(root ‖ node) per level, SV2.md
 * §5.4), with one output allocation for the whole fold: between levels the running root stays
 * as state words. Lengths are checked (32 bytes each) with RangeErrors naming the index.
 */
export function merkleFold64(leaf: Uint8Array, path: readonly Uint8Array[], out: Uint8Array = new Uint8Array(32)): Uint8Array {
  if (!(leaf instanceof Uint8Array) || leaf.length !== 32) throw new RangeError(`merkleFold64: leaf must be 32 bytes, got ${leaf instanceof Uint8Array ? `${leaf.length} bytes` : typeof leaf}`);
  _checkOut('merkleFold64', out);
  for (let i = 0; i < path.length; i++) {
    const node = path[i];
    if (!(node instanceof Uint8Array) || node.length !== 32) {
      throw new RangeError(`merkleFold64: path[${i}] must be 32 bytes, got ${node instanceof Uint8Array ? `${node.length} bytes` : typeof node}`);
    }
  }
  if (path.length === 0) {
    out.set(leaf.subarray(0, 32));
    return out;
  }
  _readWords(leaf, 0, W, 0);
  for (let i = 0; i < path.length; i++) {
    if (i > 0) for (let j = 0; j < 8; j++) W[j] = S[j]!; // previous root, already big-endian words
    _readWords(path[i]!, 0, W, 8);
    _sha256d64Words();
  }
  _writeState(out, 0);
  return out;
}

/**
 * SHA256(SHA256(header)) of an 80-byte block header (the share and block hash, SV2.md §5.5),
 * written into `out` (a new 32-byte array when omitted). Same technique as sha256d64: block 1 is
 * bytes 0..63, block 2 is bytes 64..79 + padding for 640 bits, then the one-block second hash.
 */
export function sha256d80(header: Uint8Array, out: Uint8Array = new Uint8Array(32)): Uint8Array {
  if (!(header instanceof Uint8Array) || header.length !== 80) {
    throw new RangeError(`sha256d80: header must be 80 bytes, got ${header instanceof Uint8Array ? `${header.length} bytes` : typeof header}`);
  }
  _checkOut('sha256d80', out);
  _readWords(header, 0, W, 0);
  _readWords(header, 32, W, 8);
  _expand(W);
  S.set(IV);
  _compress(S, _addK(W));
  for (let i = 0; i < 4; i++) {
    const p = 64 + 4 * i;
    W[i] = (header[p]! << 24) | (header[p + 1]! << 16) | (header[p + 2]! << 8) | header[p + 3]!;
  }
  W[4] = 0x80000000 | 0;
  W.fill(0, 5, 15);
  W[15] = 640;
  _expand(W);
  _compress(S, _addK(W));
  _secondHash();
  _writeState(out, 0);
  return out;
}

// Tail scratch for sha256dAny: the last partial block plus padding spans at most two blocks.
const TAIL = new Uint8Array(128);

/** One 64-byte block of `bytes` at `offset` through the compression function into S. */
function _block(bytes: Uint8Array, offset: number): void {
  _readWords(bytes, offset, W, 0);
  _readWords(bytes, offset + 32, W, 8);
  _expand(W);
  _compress(S, _addK(W));
}

/**
 * SHA256(SHA256(data)) of any length (< 2^53 bits), written into `out` (a new 32-byte array when
 * omitted); `out` may alias `data`. 64 and 80 bytes take the specialised paths above; other
 * lengths (the coinbase txid, SV2.md §5.4) stream the whole blocks straight from `data`, pad the
 * tail in a module scratch buffer (FIPS 180-4 §5.1.1), and hash the 32-byte digest from its state
 * words. Allocation-free apart from `out`.
 */
export function sha256dAny(data: Uint8Array, out: Uint8Array = new Uint8Array(32)): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new RangeError(`sha256dAny: data must be a Uint8Array, got ${typeof data}`);
  if (data.length === 64) return sha256d64(data, out);
  if (data.length === 80) return sha256d80(data, out);
  _checkOut('sha256dAny', out);
  const n = data.length;
  const rem = n % 64;
  const whole = n - rem;
  S.set(IV);
  for (let offset = 0; offset < whole; offset += 64) _block(data, offset);
  for (let i = 0; i < rem; i++) TAIL[i] = data[whole + i]!;
  TAIL[rem] = 0x80;
  const tailBytes = rem + 9 <= 64 ? 64 : 128;
  TAIL.fill(0, rem + 1, tailBytes - 8);
  // Message length in bits, big-endian 64-bit (n < 2^50 here, so the high word is small).
  const bitsHigh = Math.floor(n / 0x20000000);
  const bitsLow = (n * 8) >>> 0;
  TAIL[tailBytes - 8] = bitsHigh >>> 24;
  TAIL[tailBytes - 7] = bitsHigh >>> 16;
  TAIL[tailBytes - 6] = bitsHigh >>> 8;
  TAIL[tailBytes - 5] = bitsHigh;
  TAIL[tailBytes - 4] = bitsLow >>> 24;
  TAIL[tailBytes - 3] = bitsLow >>> 16;
  TAIL[tailBytes - 2] = bitsLow >>> 8;
  TAIL[tailBytes - 1] = bitsLow;
  _block(TAIL, 0);
  if (tailBytes === 128) _block(TAIL, 64);
  _secondHash();
  _writeState(out, 0);
  return out;
}

/**
 * SHA256d of the 64 bytes `data[offset .. offset + 64)` written to `out[outOffset .. outOffset +
 * 32)`: a merkle node computed inside flat level buffers (core/mining/merkle-tree.ts) with no
 * subarray, input or output allocation. `out` may alias `data` (the words are read first).
 */
export function sha256d64At(data: Uint8Array, offset: number, out: Uint8Array, outOffset: number): void {
  if (!(offset >= 0 && offset + 64 <= data.length) || !(outOffset >= 0 && outOffset + 32 <= out.length)) {
    throw new RangeError(`sha256d64At: [${offset}, +64) of ${data.length} bytes into [${outOffset}, +32) of ${out.length} bytes is out of range`);
  }
  _readWords(data, offset, W, 0);
  _readWords(data, offset + 32, W, 8);
  _sha256d64Words();
  _writeState(out, outOffset);
}
