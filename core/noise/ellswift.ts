// BIP324 ElligatorSwift encoding of secp256k1 x coordinates (SV2.md §3.3). Every SV2 handshake
// key (client ephemeral, server ephemeral, server static) travels as the 64-byte encoding
// `u(32 BE) ‖ t(32 BE)`, and the NX transcript hashes those exact 64 bytes (SV2.md §3.5, §9.3).
//
// @noble/curves 2.x has no ElligatorSwift, so this file implements the BIP324 formulas
// ("ElligatorSwift encoding of curve X coordinates") on noble's secp256k1 field. Names follow
// BIP324: XSwiftEC (decode), XSwiftECInv (one preimage), XElligatorSwift (random encoding).
// Nothing here is constant time, as in BIP324 itself: decoding handles public data, and encoding
// leaks at most timing about a *public* key (the encoding is sent in the clear anyway).
//
// Pure core: randomness only through the RandomSource argument.
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import type { RandomSource } from '../random.ts';

const Fp = secp256k1.Point.Fp;
const P = Fp.ORDER;

/** BIP324 constant c = √-3 mod p, the root that is itself a square (BIP324 note "sqrt_minus3"). */
const C = 0xa2d2ba93507f1df233770c2a797962cc61f6d15da14ecd47d8d27ae1cd5f852n;
/** Curve constant b of y² = x³ + 7. */
const B = 7n;
/** (1 - c)/2 and (1 + c)/2, the two constants XSwiftECInv multiplies u by. */
const HALF_ONE_MINUS_C = Fp.div(Fp.sub(1n, C), 2n);
const HALF_ONE_PLUS_C = Fp.div(Fp.add(1n, C), 2n);

/** Size of an encoding on the wire (noise_sv2 ELLSWIFT_ENCODING_SIZE, SV2.md §3.1). */
export const ELLSWIFT_ENCODING_BYTES = 64;

/**
 * Upper bound on XElligatorSwift attempts. Each (u, case) draw succeeds with probability about
 * 1/4 (2 preimages t per u on average, out of 8 cases), so 1024 failures in a row happen with
 * probability ~2^-425: hitting the bound means the RandomSource is broken (e.g. all zeros).
 */
export const ELLSWIFT_ENCODE_ATTEMPTS_MAX = 1024;

// ---- field helpers ------------------------------------------------------------------------

function _bytesToField(bytes: Uint8Array, offset: number): bigint {
  let value = 0n;
  for (let i = offset; i < offset + 32; i++) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

function _fieldToBytes(value: bigint, out: Uint8Array, offset: number): void {
  for (let i = offset + 31; i >= offset; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
}

/**
 * "The" square root of BIP324 (note "modsqrt"): a^((p+1)/4), or null when a is not a square.
 * noble's Fp.sqrt computes exactly that power (an addition chain) and throws for non-squares.
 */
function _sqrt(a: bigint): bigint | null {
  try {
    return Fp.sqrt(a);
  } catch {
    return null;
  }
}

/** BIP340 lift_x succeeds ⇔ x³ + 7 is a square mod p. */
function _isValidX(x: bigint): boolean {
  return _sqrt(Fp.add(Fp.mul(Fp.sqr(x), x), B)) !== null;
}

// ---- XSwiftEC (decode) --------------------------------------------------------------------

/** BIP324 XSwiftEC(u, t) for u, t already reduced mod p. Always returns a valid x. */
export function xswiftecField(u: bigint, t: bigint): bigint {
  // Remap the ~3/2^256 inputs the SwiftEC paper sends to infinity (BIP324 note
  // "ellswift_deviation"), so that a peer cannot craft an undecodable key.
  if (u === 0n) u = 1n;
  if (t === 0n) t = 1n;
  const u3b = Fp.add(Fp.mul(Fp.sqr(u), u), B);
  let t2 = Fp.sqr(t);
  if (Fp.is0(Fp.add(u3b, t2))) {
    t = Fp.add(t, t);
    t2 = Fp.sqr(t);
  }
  // X = (u³ + 7 - t²)/(2t);  Y = (X + t)/(c·u). X + t = (u³+t²+7)/(2t) ≠ 0 after the remap,
  // so Y ≠ 0 and the divisions by Y below are defined.
  const X = Fp.div(Fp.sub(u3b, t2), Fp.add(t, t));
  const Y = Fp.div(Fp.add(X, t), Fp.mul(C, u));
  // Candidates in BIP324's order (the order matters: it decides which x wins).
  const x3 = Fp.add(u, Fp.mul(4n, Fp.sqr(Y)));
  if (_isValidX(x3)) return x3;
  const XdivY = Fp.div(X, Y);
  const x2 = Fp.div(Fp.sub(Fp.neg(XdivY), u), 2n);
  if (_isValidX(x2)) return x2;
  // BIP324: "There is at least one such x", so x1 needs no check (it is valid when x2, x3 aren't).
  return Fp.div(Fp.sub(XdivY, u), 2n);
}

/**
 * Decode a 64-byte ElligatorSwift encoding to the 32-byte big-endian x it represents.
 * Never fails on content: u and t are reduced mod p and every pair maps to a curve x
 * (SV2.md §3.3), so peer bytes need no validation. A wrong length is our own misuse.
 */
export function ellswiftDecode(encoding64: Uint8Array): Uint8Array {
  if (!(encoding64 instanceof Uint8Array) || encoding64.length !== ELLSWIFT_ENCODING_BYTES) {
    throw new RangeError(`ellswiftDecode: encoding64 must be 64 bytes, got ${_describe(encoding64)}`);
  }
  const u = Fp.create(_bytesToField(encoding64, 0));
  const t = Fp.create(_bytesToField(encoding64, 32));
  const out = new Uint8Array(32);
  _fieldToBytes(xswiftecField(u, t), out, 0);
  return out;
}

// ---- XSwiftECInv --------------------------------------------------------------------------

/**
 * BIP324 XSwiftECInv(x, u, case) on field elements: t with XSwiftEC(u, t) = x, or null.
 * `caseIndex` in 0..7 picks one of up to 8 preimages.
 */
export function xswiftecInvField(x: bigint, u: bigint, caseIndex: number): bigint | null {
  let s: bigint;
  let v: bigint;
  const u2 = Fp.sqr(u);
  const u3b = Fp.add(Fp.mul(u2, u), B);
  if ((caseIndex & 2) === 0) {
    // Cases 0,1,4,5 target x1/x2. If -x-u is a valid x, decoding would pick x3 = -x-u first
    // (it has priority), so no t of this family round-trips.
    if (_isValidX(Fp.sub(Fp.neg(x), u))) return null;
    v = x;
    // s = -(u³ + 7)/(u² + uv + v²). The denominator cannot vanish once -x-u is invalid
    // (u²+ux+x² = 0 forces x³ = u³, making -x-u valid); guard anyway rather than divide by 0.
    const denominator = Fp.add(Fp.add(u2, Fp.mul(u, v)), Fp.sqr(v));
    if (Fp.is0(denominator)) return null;
    s = Fp.div(Fp.neg(u3b), denominator);
  } else {
    // Cases 2,3,6,7 target x3.
    s = Fp.sub(x, u);
    if (Fp.is0(s)) return null;
    // r = √(-s(4(u³ + 7) + 3u²s))
    const r = _sqrt(Fp.mul(Fp.neg(s), Fp.add(Fp.mul(4n, u3b), Fp.mul(Fp.mul(3n, u2), s))));
    if (r === null) return null;
    if ((caseIndex & 1) === 1 && Fp.is0(r)) return null;
    // v = (r/s - u)/2
    v = Fp.div(Fp.sub(Fp.div(r, s), u), 2n);
  }
  const w = _sqrt(s);
  if (w === null) return null;
  switch (caseIndex & 5) {
    case 0:
      return Fp.neg(Fp.mul(w, Fp.add(Fp.mul(u, HALF_ONE_MINUS_C), v)));
    case 1:
      return Fp.mul(w, Fp.add(Fp.mul(u, HALF_ONE_PLUS_C), v));
    case 4:
      return Fp.mul(w, Fp.add(Fp.mul(u, HALF_ONE_MINUS_C), v));
    default: // 5
      return Fp.neg(Fp.mul(w, Fp.add(Fp.mul(u, HALF_ONE_PLUS_C), v)));
  }
}

/**
 * BIP324 XSwiftECInv on 32-byte big-endian values: t (32 bytes) or null when this (u, case)
 * has no preimage. u and x are reduced mod p.
 */
export function xswiftecInv(u: Uint8Array, x: Uint8Array, caseIndex: number): Uint8Array | null {
  _check32('xswiftecInv', 'u', u);
  _check32('xswiftecInv', 'x', x);
  if (!Number.isInteger(caseIndex) || caseIndex < 0 || caseIndex > 7) {
    throw new RangeError(`xswiftecInv: caseIndex must be an integer in 0..7, got ${caseIndex}`);
  }
  const t = xswiftecInvField(Fp.create(_bytesToField(x, 0)), Fp.create(_bytesToField(u, 0)), caseIndex);
  if (t === null) return null;
  const out = new Uint8Array(32);
  _fieldToBytes(t, out, 0);
  return out;
}

// ---- XElligatorSwift (encode) -------------------------------------------------------------

/**
 * BIP324 XElligatorSwift(x): a uniformly sampled 64-byte encoding of the curve x coordinate
 * `x` (32 bytes BE). Loop: random u in 1..p-1, random case in 0..7, t = XSwiftECInv(x, u, case),
 * until t exists. Any valid encoding interoperates (SV2.md §3.3: SRI uses a deterministic one,
 * Core and Bitaxe random ones); random keeps the handshake bytes indistinguishable from noise.
 */
export function ellswiftEncode(x: Uint8Array, random: RandomSource): Uint8Array {
  _check32('ellswiftEncode', 'x', x);
  const xValue = _bytesToField(x, 0);
  if (xValue >= P || !_isValidX(xValue)) {
    throw new RangeError('ellswiftEncode: x is not the x coordinate of a secp256k1 point');
  }
  return _encodeValidX(xValue, random);
}

/** XElligatorSwift for an x already known to be on the curve (saves one square root). */
function _encodeValidX(xValue: bigint, random: RandomSource): Uint8Array {
  // 32 bytes for u plus one byte whose low 3 bits are the case.
  const draw = new Uint8Array(33);
  for (let attempt = 0; attempt < ELLSWIFT_ENCODE_ATTEMPTS_MAX; attempt++) {
    random.fill(draw);
    const u = _bytesToField(draw, 0);
    // Rejection sampling keeps u uniform in 1..p-1 (values ≥ p occur with probability ~2^-224).
    if (u === 0n || u >= P) continue;
    const t = xswiftecInvField(xValue, u, draw[32]! & 7);
    if (t === null) continue;
    const out = new Uint8Array(ELLSWIFT_ENCODING_BYTES);
    out.set(draw.subarray(0, 32), 0);
    _fieldToBytes(t, out, 32);
    draw.fill(0);
    return out;
  }
  throw new RangeError(
    `ellswiftEncode: no encoding found in ${ELLSWIFT_ENCODE_ATTEMPTS_MAX} attempts; the RandomSource is not random`,
  );
}

/** 32-byte x-only public key (BIP340 form) of a secret key; RangeError if not in 1..n-1. */
export function ellswiftPublicKeyX(secretKey: Uint8Array): Uint8Array {
  _check32('ellswiftPublicKeyX', 'secretKey', secretKey);
  try {
    return schnorr.getPublicKey(secretKey);
  } catch (error) {
    throw new RangeError(`ellswiftPublicKeyX: invalid secretKey (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** BIP324 ellswift_create for a given secret: a random 64-byte encoding of its public key. */
export function ellswiftCreate(
  secretKey: Uint8Array,
  random: RandomSource,
  publicKeyX: (secretKey: Uint8Array) => Uint8Array = ellswiftPublicKeyX,
): Uint8Array {
  // A public key's x is on the curve by construction, so the encoder skips that check.
  return _encodeValidX(_bytesToField(publicKeyX(secretKey), 0), random);
}

function _check32(where: string, name: string, value: Uint8Array): void {
  if (!(value instanceof Uint8Array) || value.length !== 32) {
    throw new RangeError(`${where}: ${name} must be 32 bytes, got ${_describe(value)}`);
  }
}

function _describe(value: unknown): string {
  return value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
}
