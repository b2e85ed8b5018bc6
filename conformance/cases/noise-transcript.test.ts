// The SV2 Noise NX handshake against the fixed-key transcript (conformance/vectors/noise/
// nx-transcript.json, SV2.md §3.10): act 2, final h and ck, the split keys and one encrypted
// SetupConnection frame must match byte for byte, on every crypto provider, through the bare
// handshake states and through the sans-IO connections.
import { describe, test } from '../../test/harness.ts';
import { assert, assertHex } from '../../test/assert.ts';
import { vectorJson } from '../vectors.ts';
import { availableProviders } from '../../adapters/crypto-native.ts';
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { bytesToHex, hexToBytes, utf8 } from '../../core/bytes.ts';
import {
  ExpectInitiatorHello,
  ExpectResponderHello,
  FrameEncryptor,
  EncryptedDeframer,
  NOISE_PROTOCOL_NAME,
  NoiseInitiatorConnection,
  NoiseResponderConnection,
  RESPONDER_HELLO_BYTES,
  SymmetricState,
  ellswiftDecode,
  hkdf2,
  initialChainingKeyAndHash,
  signCertificate,
  type EllswiftKeyPair,
} from '../../core/noise/index.ts';

interface NxTranscript {
  initiator_ephemeral_sk: string;
  initiator_ephemeral_ellswift: string;
  responder_ephemeral_sk: string;
  responder_ephemeral_ellswift: string;
  responder_static_sk: string;
  responder_static_ellswift: string;
  responder_static_xonly: string;
  authority_sk: string;
  authority_xonly: string;
  act1: string;
  act2: string;
  final_h: string;
  final_ck: string;
  plain_SetupConnection_frame: string;
  certificate: { version: number; valid_from: number; not_valid_after: number; bip340_aux_rand: string };
  protocol_name: string;
  k_initiator_to_responder: string;
  k_responder_to_initiator: string;
  encrypted_setup_connection_frame: string;
}

const v = vectorJson<NxTranscript>('noise/nx-transcript.json');
const providers = await availableProviders();

const initiatorEphemeral: EllswiftKeyPair = {
  secretKey: hexToBytes(v.initiator_ephemeral_sk),
  ellswift: hexToBytes(v.initiator_ephemeral_ellswift),
};
const responderEphemeral: EllswiftKeyPair = {
  secretKey: hexToBytes(v.responder_ephemeral_sk),
  ellswift: hexToBytes(v.responder_ephemeral_ellswift),
};
const responderStatic: EllswiftKeyPair = {
  secretKey: hexToBytes(v.responder_static_sk),
  ellswift: hexToBytes(v.responder_static_ellswift),
};
/** Wall time inside [valid_from, not_valid_after] of the file's certificate. */
const insideValidityS = v.certificate.valid_from + 1800;

function fileCertificate(): Uint8Array {
  return signCertificate(
    { version: v.certificate.version as 0, validFromS: v.certificate.valid_from, notValidAfterS: v.certificate.not_valid_after },
    hexToBytes(v.responder_static_xonly),
    hexToBytes(v.authority_sk),
    hexToBytes(v.certificate.bip340_aux_rand),
  );
}

/** A RandomSource that must not be used: explicit keys and a pre-signed certificate are given. */
const noRandom = {
  fill(): Uint8Array {
    throw new Error('randomness used although every key was given explicitly');
  },
};

for (const provider of providers) {
  describe(`noise NX transcript [${provider.name}]`, () => {
    test('protocol name and ck0/h0 constants (SV2.md §3.1, SRI NOISE_HASHED_PROTOCOL_NAME_CHACHA)', () => {
      assert.equal(NOISE_PROTOCOL_NAME, v.protocol_name);
      assert.equal(utf8(NOISE_PROTOCOL_NAME).length, 45);
      const { ck, h } = initialChainingKeyAndHash(provider);
      // Upstream constants: SRI noise_sv2 NOISE_HASHED_PROTOCOL_NAME_CHACHA (also checked by
      // Bitaxe at start-up), and h0 = SHA256(ck0) as quoted in SV2.md §3.1.
      assertHex(ck, '2eb47881208e9eee1f669f67c66ee70ea9ea88090d503fe830dc4bc83e29bf10', 'ck0');
      assertHex(h, '922fa32e4f487c0d59caa3bed7899ce3d98db7e13dbd3b7cf2d23dd433dc6104', 'h0');
      const state = new SymmetricState(provider);
      assertHex(state.ck, '2eb47881208e9eee1f669f67c66ee70ea9ea88090d503fe830dc4bc83e29bf10', 'SymmetricState ck');
      assertHex(state.h, '922fa32e4f487c0d59caa3bed7899ce3d98db7e13dbd3b7cf2d23dd433dc6104', 'SymmetricState h');
    });

    test('HKDF2 is RFC 5869 with salt = ck and empty info (RFC 5869 A.3)', () => {
      // RFC 5869 test case 3: SHA-256, IKM = 0x0b × 22, salt = "" (HMAC pads it to the same
      // block as 32 zero bytes), info = "", L = 42.
      const [o1, o2] = hkdf2(provider, new Uint8Array(32), new Uint8Array(22).fill(0x0b));
      assertHex(
        new Uint8Array([...o1, ...o2.subarray(0, 10)]),
        '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
        'OKM',
      );
    });

    test('the file certificate covers x(decode(responder static ellswift))', () => {
      assertHex(ellswiftDecode(responderStatic.ellswift), v.responder_static_xonly, 'static x-only');
    });

    test('responder state: act 2, final h and ck, k1 and k2 byte-exact', () => {
      const responder = new ExpectInitiatorHello({
        provider,
        random: noRandom,
        staticKey: responderStatic,
        certificate: fileCertificate(),
        ephemeralKey: responderEphemeral,
      });
      const out = responder.readInitiatorHello(hexToBytes(v.act1));
      assert.equal(out.responderHello.length, RESPONDER_HELLO_BYTES);
      assert.equal(RESPONDER_HELLO_BYTES, 234);
      assertHex(out.responderHello, v.act2, 'act2');
      assertHex(out.handshakeHash, v.final_h, 'final h');
      assertHex(out.chainingKey, v.final_ck, 'final ck');
      assertHex(out.keys.initiatorToResponderKey, v.k_initiator_to_responder, 'k1');
      assertHex(out.keys.responderToInitiatorKey, v.k_responder_to_initiator, 'k2');
      assert.throws(() => responder.readInitiatorHello(hexToBytes(v.act1)), TypeError, 'single use');
    });

    test('initiator state: act 1 is the ephemeral encoding; accepts act 2 with the authority pinned', () => {
      const initiator = new ExpectResponderHello({
        provider,
        random: noRandom,
        certificatePolicy: { kind: 'pinned', authorityXOnly: hexToBytes(v.authority_xonly) },
        ephemeralKey: initiatorEphemeral,
      });
      assertHex(initiator.initiatorHello, v.act1, 'act1');
      const result = initiator.readResponderHello(hexToBytes(v.act2), insideValidityS);
      assert.ok(result.ok, result.ok ? '' : `${result.error.code}: ${result.error.message}`);
      const done = result.value;
      assertHex(done.handshakeHash, v.final_h, 'final h');
      assertHex(done.chainingKey, v.final_ck, 'final ck');
      assertHex(done.keys.initiatorToResponderKey, v.k_initiator_to_responder, 'k1');
      assertHex(done.keys.responderToInitiatorKey, v.k_responder_to_initiator, 'k2');
      assertHex(done.responderStaticXOnly, v.responder_static_xonly, 'responder static');
      assert.deepEqual(done.certificate, {
        version: v.certificate.version,
        validFromS: v.certificate.valid_from,
        notValidAfterS: v.certificate.not_valid_after,
      });
      assert.equal(done.certificateVerified, true);
    });

    test('initiator state refuses the file act 2 outside the validity window and under another authority', () => {
      const make = (authorityXOnly: Uint8Array) =>
        new ExpectResponderHello({
          provider,
          random: noRandom,
          certificatePolicy: { kind: 'pinned', authorityXOnly },
          ephemeralKey: initiatorEphemeral,
        });
      const expired = make(hexToBytes(v.authority_xonly)).readResponderHello(hexToBytes(v.act2), v.certificate.not_valid_after + 11);
      assert.ok(!expired.ok && expired.error.code === 'certificate-expired');
      const early = make(hexToBytes(v.authority_xonly)).readResponderHello(hexToBytes(v.act2), v.certificate.valid_from - 11);
      assert.ok(!early.ok && early.error.code === 'certificate-not-yet-valid');
      // Leeway 10 s both ends (SRI ≥ 1.4.1).
      assert.ok(make(hexToBytes(v.authority_xonly)).readResponderHello(hexToBytes(v.act2), v.certificate.not_valid_after + 10).ok);
      // The responder static x-only is a valid key that did not sign anything.
      const wrong = make(hexToBytes(v.responder_static_xonly)).readResponderHello(hexToBytes(v.act2), insideValidityS);
      assert.ok(!wrong.ok && wrong.error.code === 'invalid-certificate' && wrong.error.origin === 'remote');
    });

    test('initiator state: any flipped bit in act 2 fails the handshake', () => {
      const act2 = hexToBytes(v.act2);
      for (const index of [0, 63, 64, 127, 128, 143, 144, 217, 218, 233]) {
        const tampered = Uint8Array.from(act2);
        tampered[index]! ^= 0x01;
        const initiator = new ExpectResponderHello({
          provider,
          random: noRandom,
          certificatePolicy: { kind: 'pinned', authorityXOnly: hexToBytes(v.authority_xonly) },
          ephemeralKey: initiatorEphemeral,
        });
        const result = initiator.readResponderHello(tampered, insideValidityS);
        assert.ok(!result.ok, `flip at ${index} accepted`);
        assert.equal(result.error.code, 'handshake-decrypt-failed', `flip at ${index}`);
      }
    });

    test('encrypted SetupConnection frame under k1 (header nonce 0, payload nonce 1) byte-exact', () => {
      const encryptor = new FrameEncryptor(provider, hexToBytes(v.k_initiator_to_responder));
      const sealed = encryptor.encryptFrame(hexToBytes(v.plain_SetupConnection_frame));
      assert.ok(sealed.ok);
      assertHex(sealed.value, v.encrypted_setup_connection_frame, 'encrypted frame');
      const deframer = new EncryptedDeframer(provider, hexToBytes(v.k_initiator_to_responder));
      deframer.push(hexToBytes(v.encrypted_setup_connection_frame));
      const r = deframer.next();
      assert.equal(r.kind, 'frame');
      if (r.kind === 'frame') assertHex(r.frame.payload, v.plain_SetupConnection_frame.slice(12), 'payload');
    });

    test('connections: responder emits the file act 2 and reads the file frame; initiator sends it', () => {
      const clock = new FakeClock({ wallOriginMs: insideValidityS * 1000 });
      const responder = new NoiseResponderConnection(
        { provider, random: noRandom, staticKey: responderStatic, certificate: fileCertificate(), ephemeralKey: responderEphemeral },
        clock.monotonicMs(),
      );
      const initiator = new NoiseInitiatorConnection(
        {
          provider,
          random: noRandom,
          certificatePolicy: { kind: 'pinned', authorityXOnly: hexToBytes(v.authority_xonly) },
          wallClock: clock,
          ephemeralKey: initiatorEphemeral,
        },
        clock.monotonicMs(),
      );
      const act1 = initiator.pollTransmit()!;
      assertHex(act1, v.act1, 'act1 on the wire');
      responder.receive(act1, clock.monotonicMs());
      const act2 = responder.pollTransmit()!;
      assertHex(act2, v.act2, 'act2 on the wire');
      assert.equal(responder.pollEvent()?.type, 'handshake-complete');
      initiator.receive(act2, clock.monotonicMs());
      const complete = initiator.pollEvent();
      assert.ok(complete?.type === 'handshake-complete');
      assert.equal(bytesToHex(complete.handshakeHash), v.final_h);
      assert.equal(initiator.state, 'transport');
      assert.ok(initiator.send(hexToBytes(v.plain_SetupConnection_frame)).ok);
      const wire = initiator.pollTransmit()!;
      assertHex(wire, v.encrypted_setup_connection_frame, 'encrypted frame on the wire');
      responder.receive(wire, clock.monotonicMs());
      const frame = responder.pollEvent();
      assert.ok(frame?.type === 'frame');
      assertHex(frame.frame.payload, v.plain_SetupConnection_frame.slice(12), 'received payload');
      assert.equal(frame.frame.header.msgType, 0x00);
      assert.equal(responder.pollEvent(), undefined);
    });

    test('random ephemeral keys give a different act 2 that the pinned initiator still accepts', () => {
      const responder = new ExpectInitiatorHello({
        provider,
        random: new SeededRandom(1),
        staticKey: responderStatic,
        certificate: fileCertificate(),
      });
      const out = responder.readInitiatorHello(hexToBytes(v.act1));
      assert.notEqual(bytesToHex(out.responderHello), v.act2);
      const initiator = new ExpectResponderHello({
        provider,
        random: noRandom,
        certificatePolicy: { kind: 'pinned', authorityXOnly: hexToBytes(v.authority_xonly) },
        ephemeralKey: initiatorEphemeral,
      });
      const result = initiator.readResponderHello(out.responderHello, insideValidityS);
      assert.ok(result.ok);
      assert.deepEqual(result.value.keys, out.keys);
    });
  });
}
