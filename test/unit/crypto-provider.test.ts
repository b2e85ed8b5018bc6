// The CryptoProvider contract (core/crypto/provider.ts), once per provider this runtime has:
// published known answers (FIPS 180-2, RFC 4231, RFC 8439), the "null, never throw" decrypt
// rule, and agreement with noble on random inputs.
import fc from 'fast-check';
import { describe, propertyParams, test } from '../harness.ts';
import { assert, assertHex } from '../assert.ts';
import { availableProviders, nativeProvider, selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { schnorr } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes, utf8 } from '../../core/bytes.ts';

// RFC 8439 §2.8.2, "Example and Test Vector for AEAD_CHACHA20_POLY1305".
const RFC8439 = {
  key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
  nonce: '070000004041424344454647',
  ad: '50515253c0c1c2c3c4c5c6c7',
  plaintext: "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ciphertext:
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
    '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116',
  tag: '1ae10b594f09e26a7e902ecbd0600691',
};
const EMPTY = new Uint8Array(0);

const providers = availableProviders();

describe('crypto providers', () => {
  test('noble always, plus a native one, with distinct names', () => {
    assert.equal(providers[0], nobleProvider);
    assert.equal(providers.length, 2);
    assert.equal(new Set(providers.map((p) => p.name)).size, 2);
    assert.match(providers[1]!.name, /^native\(/);
  });
  test('selectCryptoProvider', () => {
    assert.equal(selectCryptoProvider('noble'), nobleProvider);
    assert.equal(selectCryptoProvider('native'), nativeProvider());
    const auto = selectCryptoProvider();
    assert.equal(auto, nativeProvider().nativePrimitives.length > 0 ? nativeProvider() : nobleProvider);
    assert.throws(() => selectCryptoProvider('fast' as 'auto'), RangeError);
  });
  test('what is native on each runtime (probed at construction)', () => {
    const native = nativeProvider().nativePrimitives;
    // SHA-256 through node:crypto or Bun.SHA256 exists on all three runtimes.
    assert.ok(native.includes('sha256'), `native: ${native.join(',')}`);
  });
});

for (const provider of providers) {
  describe(`crypto provider [${provider.name}]`, () => {
    test('SHA-256 known answers (FIPS 180-2 "abc", empty string)', () => {
      assertHex(provider.sha256(utf8('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      assertHex(provider.sha256(EMPTY), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    });
    test('HMAC-SHA256 RFC 4231 test cases 1 and 2', () => {
      assertHex(provider.hmacSha256(new Uint8Array(20).fill(0x0b), utf8('Hi There')), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
      assertHex(provider.hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?')), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    });
    test('AEAD RFC 8439 §2.8.2: encrypt gives ciphertext ‖ tag, decrypt gives the plaintext', () => {
      const key = hexToBytes(RFC8439.key);
      const nonce = hexToBytes(RFC8439.nonce);
      const ad = hexToBytes(RFC8439.ad);
      const sealed = provider.aeadEncrypt(key, nonce, ad, utf8(RFC8439.plaintext));
      assertHex(sealed, RFC8439.ciphertext + RFC8439.tag, 'sealed');
      const opened = provider.aeadDecrypt(key, nonce, ad, hexToBytes(RFC8439.ciphertext + RFC8439.tag));
      assert.ok(opened !== null);
      assert.equal(bytesToHex(opened), bytesToHex(utf8(RFC8439.plaintext)));
    });
    test('AEAD: tampered tag, ciphertext, AD or nonce → null (never throws)', () => {
      const key = hexToBytes(RFC8439.key);
      const nonce = hexToBytes(RFC8439.nonce);
      const ad = hexToBytes(RFC8439.ad);
      const sealed = hexToBytes(RFC8439.ciphertext + RFC8439.tag);
      const badTag = Uint8Array.from(sealed);
      badTag[badTag.length - 1]! ^= 0x01;
      assert.equal(provider.aeadDecrypt(key, nonce, ad, badTag), null);
      const badBody = Uint8Array.from(sealed);
      badBody[0]! ^= 0x80;
      assert.equal(provider.aeadDecrypt(key, nonce, ad, badBody), null);
      assert.equal(provider.aeadDecrypt(key, nonce, EMPTY, sealed), null);
      const otherNonce = Uint8Array.from(nonce);
      otherNonce[11]! ^= 1;
      assert.equal(provider.aeadDecrypt(key, otherNonce, ad, sealed), null);
      for (const length of [0, 1, 15]) assert.equal(provider.aeadDecrypt(key, nonce, ad, new Uint8Array(length)), null);
    });
    test('AEAD: empty plaintext is a bare 16-byte tag (Noise handshake MACs)', () => {
      const key = new Uint8Array(32).fill(7);
      const nonce = new Uint8Array(12);
      const sealed = provider.aeadEncrypt(key, nonce, EMPTY, EMPTY);
      assert.equal(sealed.length, 16);
      assert.equal(provider.aeadDecrypt(key, nonce, EMPTY, sealed)?.length, 0);
    });
    test('AEAD: a wrong key or nonce length is misuse (RangeError naming it)', () => {
      assert.throws(() => provider.aeadEncrypt(new Uint8Array(31), new Uint8Array(12), EMPTY, EMPTY), /key/);
      assert.throws(() => provider.aeadDecrypt(new Uint8Array(32), new Uint8Array(8), EMPTY, new Uint8Array(16)), /nonce/);
    });
    test('ecdhXOnly: x(2·G) (SEC 2 generator doubled)', () => {
      const two = new Uint8Array(32);
      two[31] = 2;
      assertHex(
        provider.ecdhXOnly(two, hexToBytes('79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798')),
        'c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5',
      );
    });
    test('ecdhXOnly: invalid secret key or off-curve x is misuse (RangeError)', () => {
      const gx = hexToBytes('79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798');
      assert.throws(() => provider.ecdhXOnly(new Uint8Array(32), gx), RangeError);
      const offCurve = hexToBytes('eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34'); // BIP340 vector 5
      assert.throws(() => provider.ecdhXOnly(new Uint8Array(32).fill(1), offCurve), RangeError);
    });
    test('every result is a plain Uint8Array (no Buffer leaks into deepEqual comparisons)', () => {
      const key = new Uint8Array(32).fill(1);
      const nonce = new Uint8Array(12);
      const sealed = provider.aeadEncrypt(key, nonce, EMPTY, utf8('x'));
      const results = [
        provider.sha256(EMPTY),
        provider.hmacSha256(key, EMPTY),
        sealed,
        provider.aeadDecrypt(key, nonce, EMPTY, sealed)!,
        provider.ecdhXOnly(key, hexToBytes('79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798')),
      ];
      for (const r of results) assert.equal(Object.getPrototypeOf(r), Uint8Array.prototype);
    });
    if (provider !== nobleProvider) {
      test('agrees with noble on random inputs (seeded)', () => {
        fc.assert(
          fc.property(
            fc.uint8Array({ minLength: 32, maxLength: 32 }),
            fc.uint8Array({ minLength: 12, maxLength: 12 }),
            fc.uint8Array({ maxLength: 64 }),
            fc.uint8Array({ maxLength: 300 }),
            (key, nonce, ad, plaintext) => {
              assert.equal(bytesToHex(provider.sha256(plaintext)), bytesToHex(nobleProvider.sha256(plaintext)));
              assert.equal(bytesToHex(provider.hmacSha256(key, plaintext)), bytesToHex(nobleProvider.hmacSha256(key, plaintext)));
              const sealed = provider.aeadEncrypt(key, nonce, ad, plaintext);
              assert.equal(bytesToHex(sealed), bytesToHex(nobleProvider.aeadEncrypt(key, nonce, ad, plaintext)));
              assert.equal(bytesToHex(provider.aeadDecrypt(key, nonce, ad, sealed)!), bytesToHex(plaintext));
            },
          ),
          propertyParams(100),
        );
      });
      test('ecdhXOnly agrees with noble on random keys and points (seeded)', () => {
        fc.assert(
          fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b) => {
            a[0] = a[0]! & 0x7f; // below n, nonzero
            a[31] = a[31]! | 1;
            b[0] = b[0]! & 0x7f;
            b[31] = b[31]! | 1;
            const x = nobleProvider.ecdhXOnly(b, hexToBytes('79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798')); // x(b·G)
            assert.equal(bytesToHex(provider.ecdhXOnly(a, x)), bytesToHex(nobleProvider.ecdhXOnly(a, x)));
          }),
          propertyParams(20),
        );
      });
      test('publicKeyX (when native) agrees with BIP340 x-only keys, across the context cache (seeded)', () => {
        if (provider.publicKeyX === undefined) return; // no native ECDH on this runtime: noble path only
        const publicKeyX = provider.publicKeyX;
        fc.assert(
          fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (a) => {
            a[0] = a[0]! & 0x7f;
            a[31] = a[31]! | 1;
            const expected = bytesToHex(schnorr.getPublicKey(a));
            assert.equal(bytesToHex(publicKeyX(a)), expected);
            // Second call hits the cached context; a changed key must not reuse it.
            assert.equal(bytesToHex(publicKeyX(a)), expected);
            const b = Uint8Array.from(a);
            b[31] = b[31]! ^ 2;
            assert.equal(bytesToHex(publicKeyX(b)), bytesToHex(schnorr.getPublicKey(b)));
          }),
          propertyParams(40),
        );
      });
      test('agrees with noble on a maximal SV2 chunk (65,519 bytes, SV2.md §3.7)', () => {
        const key = new Uint8Array(32).fill(9);
        const nonce = new Uint8Array(12);
        nonce[4] = 1;
        const chunk = new Uint8Array(65_519).map((_, i) => (i * 7) & 0xff);
        const sealed = provider.aeadEncrypt(key, nonce, EMPTY, chunk);
        assert.equal(sealed.length, 65_535);
        assert.equal(bytesToHex(sealed), bytesToHex(nobleProvider.aeadEncrypt(key, nonce, EMPTY, chunk)));
        assert.equal(bytesToHex(nobleProvider.aeadDecrypt(key, nonce, EMPTY, sealed)!), bytesToHex(chunk));
      });
    }
  });
}
