// Native crypto provider: the runtime's own (OpenSSL / BoringSSL) primitives where they exist AND
// pass a known-answer self-test at construction; noble for the rest, per primitive. The Noise
// layer never knows the difference (core/crypto/provider.ts contract).
//
// What each runtime has (probed, Node 20 / Deno 2.9 / Bun 1.4; numbers from the measurements in
// this helper's report, ops/s, one call each):
//   sha256    node:crypto everywhere; on Bun, Bun.SHA256.hash is ~2× createHash.
//   hmac      node:crypto createHmac; on Bun Bun.CryptoHasher(key) is a bit faster. On Deno
//             createHmac is SLOWER than noble for handshake-sized inputs (~170k vs ~230k ops/s
//             at 64 B), so Deno keeps noble's HMAC.
//   aead      createCipheriv('chacha20-poly1305') on Node and Deno; Bun has no such cipher.
//   ecdh      createECDH('secp256k1') on Node and Deno; Bun's BoringSSL lacks the curve.
//   sha256d   (double SHA-256 for merkle roots and header hashes) ONLY on Bun: Bun.SHA256 is ~5×
//             core's pure-TS sha256d64.ts there, while createHash on Node/Deno is slower than the
//             pure TS (per-call object cost at 32–200 B; docs/performance.md, merkle.bench.ts).
//             Without it, doubleHashOf(provider) falls back to the pure TS (core/mining/hash.ts).
/// <reference types="../types/bun.d.ts" />
// (The reference makes the Bun shim part of this file's types for `deno check` and JSR, which
// do not read tsconfig.json's include list.)
import * as nodeCrypto from 'node:crypto';
import {
  AEAD_TAG_BYTES,
  type CryptoProvider,
  checkAeadArgs,
  checkEcdhArgs,
  nobleProvider,
} from '../core/crypto/provider.ts';
import { bytesToHex, hexToBytes, utf8 } from '../core/bytes.ts';

export type CryptoPreference = 'auto' | 'noble' | 'native';
type Primitive = 'sha256' | 'hmac' | 'aead' | 'ecdh' | 'sha256d';

const runtimeName: 'node' | 'deno' | 'bun' =
  'Deno' in globalThis ? 'deno' : globalThis.Bun !== undefined ? 'bun' : 'node';

/** Buffer → plain Uint8Array view (no copy), so results compare equal to noble's everywhere. */
function _plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---- candidate implementations --------------------------------------------------------------

function _sha256Candidates(): ((data: Uint8Array) => Uint8Array)[] {
  const out: ((data: Uint8Array) => Uint8Array)[] = [];
  const bun = globalThis.Bun;
  if (bun?.SHA256 !== undefined) out.push((data) => _plain(bun.SHA256.hash(data)));
  out.push((data) => _plain(nodeCrypto.createHash('sha256').update(data).digest()));
  return out;
}

type Sha256dFn = (data: Uint8Array, out?: Uint8Array) => Uint8Array;

/** Bun only (header): two Bun.SHA256 calls, hashing into a reused buffer and then into `out`. */
function _sha256dCandidates(): Sha256dFn[] {
  const bunSha256 = globalThis.Bun?.SHA256 as { hash(data: Uint8Array, into?: Uint8Array): Uint8Array } | undefined;
  if (bunSha256 === undefined) return [];
  const first = new Uint8Array(32);
  return [
    (data, out = new Uint8Array(32)) => {
      bunSha256.hash(data, first);
      bunSha256.hash(first, out.length === 32 ? out : out.subarray(0, 32));
      return out;
    },
  ];
}

function _hmacCandidates(): ((key: Uint8Array, data: Uint8Array) => Uint8Array)[] {
  if (runtimeName === 'deno') return []; // slower than noble there (header comment)
  const out: ((key: Uint8Array, data: Uint8Array) => Uint8Array)[] = [];
  const bun = globalThis.Bun;
  if (bun?.CryptoHasher !== undefined) {
    out.push((key, data) => _plain(new bun.CryptoHasher('sha256', key).update(data).digest()));
  }
  out.push((key, data) => _plain(nodeCrypto.createHmac('sha256', key).update(data).digest()));
  return out;
}

const AEAD_OPTIONS = { authTagLength: AEAD_TAG_BYTES } as const;

function _aeadEncrypt(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  checkAeadArgs('aeadEncrypt', key, nonce);
  const cipher = nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce, AEAD_OPTIONS);
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  // One output buffer: ciphertext then tag. update() returns a fresh Buffer we must copy once
  // into place anyway, since the contract returns a single ciphertext ‖ tag array.
  const out = new Uint8Array(plaintext.length + AEAD_TAG_BYTES);
  out.set(cipher.update(plaintext), 0);
  cipher.final();
  out.set(cipher.getAuthTag(), plaintext.length);
  return out;
}

/** _aeadEncrypt written into `out` at `offset` (CryptoProvider.aeadEncryptInto): no result array. */
function _aeadEncryptInto(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void {
  checkAeadArgs('aeadEncryptInto', key, nonce);
  if (!(Number.isInteger(offset) && offset >= 0 && offset + plaintext.length + AEAD_TAG_BYTES <= out.length)) {
    throw new RangeError(`aeadEncryptInto: out needs ${plaintext.length + AEAD_TAG_BYTES} bytes at offset ${offset}, has ${out.length}`);
  }
  const cipher = nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce, AEAD_OPTIONS);
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  // node:crypto has no update-into-buffer; the one copy of each piece goes straight into place.
  out.set(cipher.update(plaintext), offset);
  cipher.final();
  out.set(cipher.getAuthTag(), offset + plaintext.length);
}

function _aeadDecrypt(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ciphertextAndTag: Uint8Array): Uint8Array | null {
  checkAeadArgs('aeadDecrypt', key, nonce);
  if (!(ciphertextAndTag instanceof Uint8Array) || ciphertextAndTag.length < AEAD_TAG_BYTES) return null;
  const bodyLength = ciphertextAndTag.length - AEAD_TAG_BYTES;
  try {
    const decipher = nodeCrypto.createDecipheriv('chacha20-poly1305', key, nonce, AEAD_OPTIONS);
    decipher.setAuthTag(ciphertextAndTag.subarray(bodyLength));
    if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: bodyLength });
    const plaintext = decipher.update(ciphertextAndTag.subarray(0, bodyLength));
    decipher.final(); // throws when the tag does not verify; plaintext is then discarded
    return _plain(plaintext);
  } catch {
    return null;
  }
}

// OpenSSL's setPrivateKey also computes the public key (a full scalar multiplication), so a
// context is kept per secret key: the gateway's long-lived static key pays it once, and a
// handshake's ephemeral key pays it once for both its public key and its `ee` ECDH.
// Keyed by the secret's hex (never by array identity, which a caller could mutate), LRU-bounded.
const ECDH_CONTEXTS_MAX = 16;
const _ecdhContexts = new Map<string, ReturnType<typeof nodeCrypto.createECDH>>();

function _ecdhContext(secretKey: Uint8Array): ReturnType<typeof nodeCrypto.createECDH> {
  const id = bytesToHex(secretKey);
  let ecdh = _ecdhContexts.get(id);
  if (ecdh !== undefined) {
    _ecdhContexts.delete(id); // re-insert: most recently used last
  } else {
    ecdh = nodeCrypto.createECDH('secp256k1');
    ecdh.setPrivateKey(secretKey);
    if (_ecdhContexts.size >= ECDH_CONTEXTS_MAX) _ecdhContexts.delete(_ecdhContexts.keys().next().value!);
  }
  _ecdhContexts.set(id, ecdh);
  return ecdh;
}

function _ecdhXOnly(secretKey: Uint8Array, x: Uint8Array): Uint8Array {
  checkEcdhArgs('ecdhXOnly', secretKey, x);
  const point = new Uint8Array(33);
  point[0] = 0x02; // SEC1 compressed, even y = BIP340 lift_x(x)
  point.set(x, 1);
  try {
    // OpenSSL's ECDH derive returns exactly the 32-byte big-endian x of secretKey·P.
    return _plain(_ecdhContext(secretKey).computeSecret(point));
  } catch (error) {
    throw new RangeError(`ecdhXOnly: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function _publicKeyX(secretKey: Uint8Array): Uint8Array {
  try {
    // Compressed SEC1: 02/03 ‖ x. The x-only key is the x whatever the parity (BIP340).
    return _plain(_ecdhContext(secretKey).getPublicKey(undefined, 'compressed')).slice(1);
  } catch (error) {
    throw new RangeError(`publicKeyX: invalid secretKey (${error instanceof Error ? error.message : String(error)})`);
  }
}

// ---- known-answer self-tests (published vectors, not our own output) -------------------------

// FIPS 180-2 / NIST example: SHA-256("abc").
const KAT_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
// Double SHA-256 of "hello" (Bitcoin wiki, Protocol documentation: Hashes).
const KAT_SHA256D = '9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50';
// RFC 4231 §4.3 test case 2: key "Jefe", data "what do ya want for nothing?".
const KAT_HMAC = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843';
// RFC 8439 §2.8.2 AEAD_CHACHA20_POLY1305 example.
const RFC8439_AEAD_VECTOR = {
  key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
  nonce: '070000004041424344454647',
  ad: '50515253c0c1c2c3c4c5c6c7',
  plaintext:
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ciphertext:
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
    '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116',
  tag: '1ae10b594f09e26a7e902ecbd0600691',
} as const;
// secp256k1 2·G (SEC 2 / widely published): x(2·lift_x(Gx)).
const KAT_ECDH = {
  secretKey: '0000000000000000000000000000000000000000000000000000000000000002',
  x: '79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798',
  expected: 'c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5',
} as const;

function _passes(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}

function _advertised(list: () => string[], name: string): boolean {
  try {
    return list().includes(name);
  } catch {
    return false;
  }
}

function _firstPassing<F>(candidates: F[], check: (f: F) => boolean): F | undefined {
  return candidates.find((f) => _passes(() => check(f)));
}

function _aeadSelfTest(): boolean {
  const v = RFC8439_AEAD_VECTOR;
  const key = hexToBytes(v.key);
  const nonce = hexToBytes(v.nonce);
  const ad = hexToBytes(v.ad);
  const sealed = _aeadEncrypt(key, nonce, ad, utf8(v.plaintext));
  if (bytesToHex(sealed) !== v.ciphertext + v.tag) return false;
  const placed = new Uint8Array(sealed.length + 3);
  _aeadEncryptInto(key, nonce, ad, utf8(v.plaintext), placed, 3);
  if (bytesToHex(placed.subarray(3)) !== v.ciphertext + v.tag) return false;
  const opened = _aeadDecrypt(key, nonce, ad, sealed);
  if (opened === null || bytesToHex(opened) !== bytesToHex(utf8(v.plaintext))) return false;
  sealed[sealed.length - 1]! ^= 1;
  if (_aeadDecrypt(key, nonce, ad, sealed) !== null) return false;
  // Empty plaintext and empty AD: the shape of Noise's handshake MACs and SV2 transport chunks.
  return _aeadDecrypt(key, nonce, new Uint8Array(0), _aeadEncrypt(key, nonce, new Uint8Array(0), new Uint8Array(0)))?.length === 0;
}

function _ecdhSelfTest(): boolean {
  return bytesToHex(_ecdhXOnly(hexToBytes(KAT_ECDH.secretKey), hexToBytes(KAT_ECDH.x))) === KAT_ECDH.expected;
}

// ---- assembly ---------------------------------------------------------------------------------

function _buildNative(): CryptoProvider & { readonly nativePrimitives: readonly Primitive[] } {
  const native: Primitive[] = [];
  const abc = utf8('abc');
  const sha256 = _firstPassing(_sha256Candidates(), (f) => bytesToHex(f(abc)) === KAT_SHA256);
  if (sha256) native.push('sha256');
  const hmac = _firstPassing(_hmacCandidates(), (f) => bytesToHex(f(utf8('Jefe'), utf8('what do ya want for nothing?'))) === KAT_HMAC);
  if (hmac) native.push('hmac');
  // Gate the AEAD and ECDH probes on the advertised cipher/curve lists: Bun's BoringSSL leaves
  // the error of a failed createECDH('secp256k1') in its error queue, and a LATER unrelated call
  // (an HMAC update) then throws "UNKNOWN_GROUP". Never calling what is not advertised keeps the
  // queue clean; the known-answer test still decides for what is advertised.
  const aead = _advertised(() => nodeCrypto.getCiphers(), 'chacha20-poly1305') && _passes(_aeadSelfTest);
  if (aead) native.push('aead');
  const ecdh = _advertised(() => nodeCrypto.getCurves(), 'secp256k1') && _passes(_ecdhSelfTest);
  if (ecdh) native.push('ecdh');
  const sha256d = _firstPassing(_sha256dCandidates(), (f) => {
    const out = new Uint8Array(32);
    return f(utf8('hello'), out) === out && bytesToHex(out) === KAT_SHA256D && bytesToHex(f(utf8('hello'))) === KAT_SHA256D;
  });
  if (sha256d) native.push('sha256d');
  return {
    name: `native(${native.join(',')})`,
    nativePrimitives: native,
    sha256: sha256 ?? nobleProvider.sha256,
    hmacSha256: hmac ?? nobleProvider.hmacSha256,
    aeadEncrypt: aead ? _aeadEncrypt : nobleProvider.aeadEncrypt,
    ...(aead ? { aeadEncryptInto: _aeadEncryptInto } : {}),
    aeadDecrypt: aead ? _aeadDecrypt : nobleProvider.aeadDecrypt,
    ecdhXOnly: ecdh ? _ecdhXOnly : nobleProvider.ecdhXOnly,
    ...(ecdh ? { publicKeyX: _publicKeyX } : {}),
    ...(sha256d ? { sha256d } : {}),
  };
}

let _native: ReturnType<typeof _buildNative> | undefined;

/**
 * The native provider for this runtime (built and self-tested once, then cached). Its name
 * lists the primitives that are native, e.g. 'native(sha256,hmac,aead,ecdh)' on Node and
 * 'native(sha256,hmac)' on Bun; the others are noble's.
 */
export function nativeProvider(): CryptoProvider & { readonly nativePrimitives: readonly Primitive[] } {
  _native ??= _buildNative();
  return _native;
}

/**
 * Pick the provider for a gateway. 'auto' (default) = native where it passed its self-test,
 * noble otherwise (and plain noble when nothing native is available); 'noble' forces pure TS,
 * e.g. to rule out a runtime crypto bug; 'native' = the native provider even when it is
 * entirely noble underneath.
 */
export function selectCryptoProvider(preference: CryptoPreference = 'auto'): CryptoProvider {
  switch (preference) {
    case 'noble':
      return nobleProvider;
    case 'native':
      return nativeProvider();
    case 'auto': {
      const native = nativeProvider();
      return native.nativePrimitives.length > 0 ? native : nobleProvider;
    }
    default: {
      const never: never = preference;
      throw new RangeError(`selectCryptoProvider: preference must be 'auto', 'noble' or 'native', got ${String(never)}`);
    }
  }
}

/** Every provider this runtime can run, with distinct names: the test matrix for crypto tests. */
export function availableProviders(): CryptoProvider[] {
  return [nobleProvider, nativeProvider()];
}
