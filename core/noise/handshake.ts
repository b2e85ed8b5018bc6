// The SV2 Noise NX handshake (SV2.md §3.5), `-> e` / `<- e, ee, s, es` + certificate payload,
// as two single-use state objects named for what they wait for (STYLE.md #7):
//
//   responder: ExpectInitiatorHello  --64-byte act 1-->  234-byte act 2 + transport keys
//   initiator: ExpectResponderHello  (created together with act 1)  --234-byte act 2-->  keys
//
// Neither message has SV2 framing or a length prefix (SV2.md §1.2). Comments number the steps
// after the spec's 04-Protocol-Security §4.5.
//
// Determinism: ephemeral keys come from the injected RandomSource (or are passed explicitly, for
// the fixed-key transcript); the responder static key and its certificate are inputs, so a
// gateway can keep one long-lived static key with a pre-signed certificate (SV2.md §3.6: both
// designs are wire-identical) and skip a Schnorr signature per connection. `ResponderIdentity`
// re-signs that certificate when it approaches expiry.
import { describeBytes, type CryptoProvider } from '../crypto/provider.ts';
import type { RandomSource } from '../random.ts';
import { err, ok, protocolError, type Result } from '../errors.ts';
import { SymmetricState, MAC_BYTES } from './symmetric-state.ts';
import type { TransportKeys } from './transport.ts';
import { ELLSWIFT_ENCODING_BYTES, ellswiftCreate, ellswiftDecode } from './ellswift.ts';
import { v2Ecdh } from './ecdh.ts';
import {
  CERTIFICATE_LEEWAY_S_DEFAULT,
  SIGNATURE_NOISE_MESSAGE_BYTES,
  certificateValidity,
  decodeCertificate,
  signCertificate,
  verifyCertificate,
  type CertificateFields,
} from './certificate.ts';

/** Act 1: the initiator's ephemeral EllSwift encoding, nothing else (SV2.md §3.5). */
export const INITIATOR_HELLO_BYTES = ELLSWIFT_ENCODING_BYTES;
/** noise_sv2 ENCRYPTED_ELLSWIFT_ENCODING_SIZE. */
export const ENCRYPTED_ELLSWIFT_BYTES = ELLSWIFT_ENCODING_BYTES + MAC_BYTES;
/** noise_sv2 ENCRYPTED_SIGNATURE_NOISE_MESSAGE_SIZE. */
export const ENCRYPTED_SIGNATURE_NOISE_MESSAGE_BYTES = SIGNATURE_NOISE_MESSAGE_BYTES + MAC_BYTES;
/** Act 2: 64 + 80 + 90 = 234, not the spec's stale 170 (SV2.md §3.5, §9.1). */
export const RESPONDER_HELLO_BYTES = ELLSWIFT_ENCODING_BYTES + ENCRYPTED_ELLSWIFT_BYTES + ENCRYPTED_SIGNATURE_NOISE_MESSAGE_BYTES;

/** secp256k1 group order n: secret keys must lie in 1..n-1. */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const EMPTY = new Uint8Array(0);

/** A handshake key: its secret and the exact 64-byte EllSwift encoding sent on the wire. */
export interface EllswiftKeyPair {
  readonly secretKey: Uint8Array;
  /** The encoding as transmitted; MixHash and the BIP324 ECDH hash these exact bytes. */
  readonly ellswift: Uint8Array;
}

/** A uniformly random secret key in 1..n-1, by rejection sampling (fails with prob. ~2^-128). */
export function generateSecretKey(random: RandomSource): Uint8Array {
  const candidate = new Uint8Array(32);
  for (let attempt = 0; attempt < 64; attempt++) {
    random.fill(candidate);
    let value = 0n;
    for (const byte of candidate) value = (value << 8n) | BigInt(byte);
    if (value !== 0n && value < CURVE_ORDER) return candidate;
  }
  throw new RangeError('generateSecretKey: 64 draws out of range; the RandomSource is not random');
}

/** A fresh key pair with a random EllSwift encoding (BIP324 ellswift_create). */
export function generateEllswiftKeyPair(random: RandomSource, provider?: CryptoProvider): EllswiftKeyPair {
  const secretKey = generateSecretKey(random);
  // A native provider derives the public key with one native scalar multiplication.
  return { secretKey, ellswift: ellswiftCreate(secretKey, random, provider?.publicKeyX) };
}

/** What both sides know once the handshake is done. */
export interface HandshakeResult {
  /** Split output: k1 (initiator→responder) and k2 (responder→initiator). */
  readonly keys: TransportKeys;
  /** Final handshake hash h (channel binding; the transcript vector checks it). */
  readonly handshakeHash: Uint8Array;
  /** Final chaining key ck (the transcript vector checks it). */
  readonly chainingKey: Uint8Array;
}

function checkKeyPair(where: string, name: string, pair: EllswiftKeyPair): void {
  if (pair === null || typeof pair !== 'object') throw new TypeError(`${where}: ${name} must be {secretKey, ellswift}, got ${String(pair)}`);
  if (!(pair.secretKey instanceof Uint8Array) || pair.secretKey.length !== 32) {
    throw new RangeError(`${where}: ${name}.secretKey must be 32 bytes, got ${describeBytes(pair.secretKey)}`);
  }
  if (!(pair.ellswift instanceof Uint8Array) || pair.ellswift.length !== ELLSWIFT_ENCODING_BYTES) {
    throw new RangeError(`${where}: ${name}.ellswift must be ${ELLSWIFT_ENCODING_BYTES} bytes, got ${describeBytes(pair.ellswift)}`);
  }
}

function checkProvider(where: string, provider: CryptoProvider): void {
  if (provider === null || typeof provider !== 'object' || typeof provider.sha256 !== 'function') {
    throw new TypeError(`${where}: provider must be a CryptoProvider, got ${String(provider)}`);
  }
}

// ---- responder ------------------------------------------------------------------------------

export interface ResponderHandshakeOptions {
  readonly provider: CryptoProvider;
  /** Source of the ephemeral key when `ephemeralKey` is not given. */
  readonly random: RandomSource;
  /** The responder static key (long-lived or per connection); its encoding is sent encrypted. */
  readonly staticKey: EllswiftKeyPair;
  /** 74-byte SIGNATURE_NOISE_MESSAGE certifying `staticKey` (see ResponderIdentity). */
  readonly certificate: Uint8Array;
  /** Explicit ephemeral key, for fixed-key transcripts only. */
  readonly ephemeralKey?: EllswiftKeyPair;
}

/** Output of the responder: act 2 to send, then the transport keys. */
export interface ResponderHandshakeOutput extends HandshakeResult {
  /** The 234-byte act 2. */
  readonly responderHello: Uint8Array;
}

/** Responder waiting for the 64-byte act 1. Single use. */
export class ExpectInitiatorHello {
  readonly #provider: CryptoProvider;
  readonly #random: RandomSource;
  readonly #staticKey: EllswiftKeyPair;
  readonly #certificate: Uint8Array;
  readonly #ephemeralKey: EllswiftKeyPair | undefined;
  #used = false;

  constructor(options: ResponderHandshakeOptions) {
    checkProvider('ExpectInitiatorHello', options.provider);
    checkKeyPair('ExpectInitiatorHello', 'staticKey', options.staticKey);
    if (options.ephemeralKey !== undefined) checkKeyPair('ExpectInitiatorHello', 'ephemeralKey', options.ephemeralKey);
    if (!(options.certificate instanceof Uint8Array) || options.certificate.length !== SIGNATURE_NOISE_MESSAGE_BYTES) {
      throw new RangeError(
        `ExpectInitiatorHello: certificate must be ${SIGNATURE_NOISE_MESSAGE_BYTES} bytes, got ${describeBytes(options.certificate)}`,
      );
    }
    this.#provider = options.provider;
    this.#random = options.random;
    this.#staticKey = options.staticKey;
    this.#certificate = options.certificate;
    this.#ephemeralKey = options.ephemeralKey;
  }

  /**
   * Consume act 1 and produce act 2. Every 64-byte string is a valid EllSwift encoding
   * (SV2.md §3.3), so this cannot fail on peer input; a wrong length is misuse (the caller
   * reads exactly 64 bytes, SV2.md §1.2).
   */
  readInitiatorHello(initiatorHello: Uint8Array): ResponderHandshakeOutput {
    if (this.#used) throw new TypeError('ExpectInitiatorHello.readInitiatorHello: state already used');
    if (!(initiatorHello instanceof Uint8Array) || initiatorHello.length !== INITIATOR_HELLO_BYTES) {
      throw new RangeError(`readInitiatorHello: initiatorHello must be ${INITIATOR_HELLO_BYTES} bytes, got ${describeBytes(initiatorHello)}`);
    }
    this.#used = true;
    const provider = this.#provider;
    const symmetric = new SymmetricState(provider);
    const initiatorEphemeral = Uint8Array.from(initiatorHello);
    // Act 1 as received: MixHash(E_i); DecryptAndHash("") with no key = MixHash("").
    symmetric.mixHash(initiatorEphemeral);
    symmetric.decryptAndHash(EMPTY);

    const ephemeral = this.#ephemeralKey ?? generateEllswiftKeyPair(this.#random, provider);
    // E_i takes part in both ee and es: decode it once (SV2.md §3.3: every encoding decodes).
    const initiatorEphemeralX = ellswiftDecode(initiatorEphemeral);
    const out = new Uint8Array(RESPONDER_HELLO_BYTES);
    // 1. e: send and MixHash our ephemeral encoding.
    out.set(ephemeral.ellswift, 0);
    symmetric.mixHash(ephemeral.ellswift);
    // 2. ee: MixKey(ECDH(e_r, E_r, E_i)); the initiator's encoding goes first in the hash.
    symmetric.mixKey(v2Ecdh(provider, ephemeral.secretKey, ephemeral.ellswift, initiatorEphemeral, false, initiatorEphemeralX));
    // 3. s: EncryptAndHash(S_r) — 64 + 16 bytes.
    out.set(symmetric.encryptAndHash(this.#staticKey.ellswift), ELLSWIFT_ENCODING_BYTES);
    // 4. es: MixKey(ECDH(s_r, S_r, E_i)) — responder STATIC × initiator ephemeral.
    symmetric.mixKey(v2Ecdh(provider, this.#staticKey.secretKey, this.#staticKey.ellswift, initiatorEphemeral, false, initiatorEphemeralX));
    // 5. payload: EncryptAndHash(SIGNATURE_NOISE_MESSAGE) — 74 + 16 bytes.
    out.set(symmetric.encryptAndHash(this.#certificate), ELLSWIFT_ENCODING_BYTES + ENCRYPTED_ELLSWIFT_BYTES);
    // 6. Split.
    return { responderHello: out, keys: symmetric.split(), handshakeHash: symmetric.h, chainingKey: symmetric.ck };
  }
}

// ---- initiator ------------------------------------------------------------------------------

/**
 * How the initiator treats the responder's certificate. Pinning is the secure choice; skipping
 * reproduces SRI and Bitaxe when no authority key is configured (SV2.md §3.6) and must be
 * asked for explicitly.
 */
export type CertificatePolicy =
  | {
      readonly kind: 'pinned';
      /** 32-byte BIP340 x-only authority public key. */
      readonly authorityXOnly: Uint8Array;
      /** Clock-skew allowance on both ends of the validity window (SRI ≥ 1.4.1: 10 s). */
      readonly leewayS?: number;
    }
  | { readonly kind: 'unverified' };

export interface InitiatorHandshakeOptions {
  readonly provider: CryptoProvider;
  readonly random: RandomSource;
  readonly certificatePolicy: CertificatePolicy;
  /** Explicit ephemeral key, for fixed-key transcripts only. */
  readonly ephemeralKey?: EllswiftKeyPair;
}

export interface InitiatorHandshakeResult extends HandshakeResult {
  /** x(decode(S_r)): the key the certificate is about. */
  readonly responderStaticXOnly: Uint8Array;
  readonly certificate: CertificateFields;
  /** False only under the explicit `unverified` policy. */
  readonly certificateVerified: boolean;
}

/** Initiator that has produced act 1 (`initiatorHello`) and waits for the 234-byte act 2. */
export class ExpectResponderHello {
  /** The 64-byte act 1 to send. */
  readonly initiatorHello: Uint8Array;
  readonly #provider: CryptoProvider;
  readonly #policy: CertificatePolicy;
  readonly #ephemeral: EllswiftKeyPair;
  readonly #symmetric: SymmetricState;
  #used = false;

  constructor(options: InitiatorHandshakeOptions) {
    checkProvider('ExpectResponderHello', options.provider);
    const policy = options.certificatePolicy;
    if (policy?.kind === 'pinned') {
      if (!(policy.authorityXOnly instanceof Uint8Array) || policy.authorityXOnly.length !== 32) {
        throw new RangeError(`ExpectResponderHello: authorityXOnly must be 32 bytes, got ${describeBytes(policy.authorityXOnly)}`);
      }
      if (policy.leewayS !== undefined && !(Number.isInteger(policy.leewayS) && policy.leewayS >= 0)) {
        throw new RangeError(`ExpectResponderHello: leewayS must be a non-negative integer, got ${policy.leewayS}`);
      }
    } else if (policy?.kind !== 'unverified') {
      throw new TypeError(`ExpectResponderHello: certificatePolicy must be {kind:'pinned',…} or {kind:'unverified'}, got ${JSON.stringify(policy)}`);
    }
    if (options.ephemeralKey !== undefined) checkKeyPair('ExpectResponderHello', 'ephemeralKey', options.ephemeralKey);
    this.#provider = options.provider;
    this.#policy = policy;
    this.#ephemeral = options.ephemeralKey ?? generateEllswiftKeyPair(options.random, options.provider);
    this.#symmetric = new SymmetricState(options.provider);
    // Act 1, step 1-2: e = new keypair; MixHash(E); EncryptAndHash("") with no key = MixHash("").
    this.#symmetric.mixHash(this.#ephemeral.ellswift);
    this.#symmetric.encryptAndHash(EMPTY);
    this.initiatorHello = Uint8Array.from(this.#ephemeral.ellswift);
  }

  /**
   * Consume act 2 and check the certificate against the pinned authority at wall time `nowS`
   * (unix seconds). Peer failures are values: `handshake-decrypt-failed` (MAC of the static key
   * or of the certificate), or verifyCertificate's `invalid-certificate` (bad signature, wrong
   * authority, version ≠ 0), `certificate-not-yet-valid`, `certificate-expired`.
   */
  readResponderHello(responderHello: Uint8Array, nowS: number): Result<InitiatorHandshakeResult> {
    if (this.#used) throw new TypeError('ExpectResponderHello.readResponderHello: state already used');
    if (!(responderHello instanceof Uint8Array) || responderHello.length !== RESPONDER_HELLO_BYTES) {
      throw new RangeError(`readResponderHello: responderHello must be ${RESPONDER_HELLO_BYTES} bytes, got ${describeBytes(responderHello)}`);
    }
    if (!Number.isFinite(nowS)) throw new RangeError(`readResponderHello: nowS must be finite, got ${nowS}`);
    this.#used = true;
    const provider = this.#provider;
    const symmetric = this.#symmetric;
    const ephemeral = this.#ephemeral;
    const responderEphemeral = responderHello.slice(0, ELLSWIFT_ENCODING_BYTES);
    // 1. e: MixHash(E_r).
    symmetric.mixHash(responderEphemeral);
    // 2. ee: MixKey(ECDH(e_i, E_i, E_r)), we are the initiator so our encoding goes first.
    symmetric.mixKey(v2Ecdh(provider, ephemeral.secretKey, ephemeral.ellswift, responderEphemeral, true));
    // 3. s: DecryptAndHash the responder static encoding.
    const staticStart = ELLSWIFT_ENCODING_BYTES;
    const certificateStart = staticStart + ENCRYPTED_ELLSWIFT_BYTES;
    const responderStatic = symmetric.decryptAndHash(responderHello.subarray(staticStart, certificateStart));
    if (responderStatic === null) {
      // A wrong ECDH (order, plain x-only) shows up exactly here (SV2.md §9.2).
      return err(protocolError('handshake-decrypt-failed', 'remote', 'act 2: encrypted responder static key does not verify', 'responder_static'));
    }
    // 4. es: MixKey(ECDH(e_i, E_i, S_r)) — before certificate verification, as SRI does.
    symmetric.mixKey(v2Ecdh(provider, ephemeral.secretKey, ephemeral.ellswift, responderStatic, true));
    // 5. payload: DecryptAndHash(SIGNATURE_NOISE_MESSAGE).
    const certificate = symmetric.decryptAndHash(responderHello.subarray(certificateStart));
    if (certificate === null) {
      return err(protocolError('handshake-decrypt-failed', 'remote', 'act 2: encrypted certificate does not verify', 'signature_noise_message'));
    }
    // The certificate is about x(decode(S_r)) (SV2.md §3.3, §3.6).
    const responderStaticXOnly = ellswiftDecode(responderStatic);
    let fields: CertificateFields;
    let verified = false;
    if (this.#policy.kind === 'pinned') {
      const leewayS = this.#policy.leewayS ?? CERTIFICATE_LEEWAY_S_DEFAULT;
      const checked = verifyCertificate(certificate, responderStaticXOnly, this.#policy.authorityXOnly, nowS, leewayS);
      if (!checked.ok) return checked;
      fields = checked.value;
      verified = true;
    } else {
      // Unverified: still report the fields (a 74-byte plaintext always decodes).
      const decoded = decodeCertificate(certificate);
      if (!decoded.ok) return decoded;
      const { version, validFromS, notValidAfterS } = decoded.value;
      fields = { version, validFromS, notValidAfterS };
    }
    // 6. Split, only after the certificate passed.
    return ok({
      keys: symmetric.split(),
      handshakeHash: symmetric.h,
      chainingKey: symmetric.ck,
      responderStaticXOnly,
      certificate: fields,
      certificateVerified: verified,
    });
  }
}

// ---- responder identity ---------------------------------------------------------------------

export interface ResponderIdentityOptions {
  /** Pool authority secret key (32 bytes) that signs the static key's certificate. */
  readonly authoritySecretKey: Uint8Array;
  /** Certificate lifetime counted from `nowS` (SRI logs show 3600). */
  readonly validitySecs: number;
  /** Move valid_from this far into the past for clients whose clocks run behind (SV2.md §3.6). */
  readonly backdateSecs: number;
  /** Re-sign once fewer than this many seconds of validity remain; default validitySecs / 4. */
  readonly renewBeforeSecs?: number;
  /** Long-lived static key; generated from `random` when omitted. */
  readonly staticKey?: EllswiftKeyPair;
  /** Source of the static key (if generated) and of BIP340 aux randomness. */
  readonly random: RandomSource;
}

/**
 * A responder static key with a pre-signed certificate, re-signed when it nears expiry. One
 * identity serves every connection, so the per-handshake cost is two ECDHs and one EllSwift
 * encoding, no Schnorr signature (the ≥300 handshakes/s target).
 */
export class ResponderIdentity {
  readonly staticKey: EllswiftKeyPair;
  /** x(static key), the message the authority signs over (SV2.md §3.6). */
  readonly staticXOnly: Uint8Array;
  readonly #authoritySecretKey: Uint8Array;
  readonly #random: RandomSource;
  readonly #validitySecs: number;
  readonly #backdateSecs: number;
  readonly #renewBeforeSecs: number;
  #certificate: Uint8Array | undefined;
  #validFromS = 0;
  #notValidAfterS = 0;

  constructor(options: ResponderIdentityOptions) {
    const { authoritySecretKey, validitySecs, backdateSecs } = options;
    if (!(authoritySecretKey instanceof Uint8Array) || authoritySecretKey.length !== 32) {
      throw new RangeError(`ResponderIdentity: authoritySecretKey must be 32 bytes, got ${describeBytes(authoritySecretKey)}`);
    }
    if (!(Number.isInteger(validitySecs) && validitySecs > 0)) {
      throw new RangeError(`ResponderIdentity: validitySecs must be a positive integer, got ${validitySecs}`);
    }
    if (!(Number.isInteger(backdateSecs) && backdateSecs >= 0)) {
      throw new RangeError(`ResponderIdentity: backdateSecs must be a non-negative integer, got ${backdateSecs}`);
    }
    const renewBeforeSecs = options.renewBeforeSecs ?? Math.floor(validitySecs / 4);
    if (!(Number.isInteger(renewBeforeSecs) && renewBeforeSecs >= 0 && renewBeforeSecs < validitySecs)) {
      throw new RangeError(`ResponderIdentity: renewBeforeSecs must be an integer in 0..validitySecs-1, got ${renewBeforeSecs}`);
    }
    if (options.staticKey !== undefined) checkKeyPair('ResponderIdentity', 'staticKey', options.staticKey);
    this.#authoritySecretKey = Uint8Array.from(authoritySecretKey);
    this.#random = options.random;
    this.#validitySecs = validitySecs;
    this.#backdateSecs = backdateSecs;
    this.#renewBeforeSecs = renewBeforeSecs;
    this.staticKey = options.staticKey ?? generateEllswiftKeyPair(options.random);
    this.staticXOnly = ellswiftDecode(this.staticKey.ellswift);
  }

  /**
   * The certificate to send at wall time `nowS`: the cached one while it is valid for more than
   * `renewBeforeSecs`, else a freshly signed one. Also re-signs if the clock moved before
   * valid_from (wall clocks can step backwards).
   */
  certificateAt(nowS: number): Uint8Array {
    if (!Number.isFinite(nowS)) throw new RangeError(`certificateAt: nowS must be finite, got ${nowS}`);
    if (this.#certificate === undefined || nowS < this.#validFromS || nowS + this.#renewBeforeSecs >= this.#notValidAfterS) {
      const validity = certificateValidity(Math.floor(nowS), { validitySecs: this.#validitySecs, backdateSecs: this.#backdateSecs });
      const aux = new Uint8Array(32);
      this.#random.fill(aux);
      this.#certificate = signCertificate(validity, this.staticXOnly, this.#authoritySecretKey, aux);
      this.#validFromS = validity.validFromS;
      this.#notValidAfterS = validity.notValidAfterS;
    }
    return this.#certificate;
  }
}
