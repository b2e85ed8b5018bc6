// Authority keys in SRI's text forms (SV2.md §3.3). The literals are the documented examples in
// SV2.md §3.3 / §3.10 (spec vector, SRI's public dev pairs, the transcript's authority key).
import { createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, test } from '../../test/harness.ts';
import { assert, assertHex } from '../../test/assert.ts';
import { vectorJson } from '../vectors.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { SeededRandom } from '../../core/random.ts';
import {
  authorityPublicKeyFromSecret,
  decodeAuthorityPublicKey,
  decodeAuthoritySecretKey,
  encodeAuthorityPublicKey,
  encodeAuthoritySecretKey,
  generateAuthorityKeyPair,
} from '../../core/noise/keys.ts';

const b58c = createBase58check(sha256); // test-side encoder for crafted bad inputs

const SPEC_XONLY = '76637000979c1c11af0c300bcd8c7fe48610fce9b9c11e3daee35ae0b08a7455';
const SPEC_PUBLIC = '9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh';
const SRI_DEV_PAIRS = [
  { pub: '9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72', sec: 'mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n' },
  { pub: '9bDuixKmZqAJnrmP746n8zU1wyAQRrus7th9dxnkPg6RzQvCnan', sec: 'zmBEmPhqo3A92FkiLVvyCz6htc3e53ph3ZbD4ASqGaLjwnFLi' },
];

function expectError(result: { ok: boolean; error?: { code: string } }, code: string, what: string): void {
  assert.equal(result.ok, false, `${what} was accepted`);
  assert.equal(result.error?.code, code, `${what}: wrong code`);
}

describe('authority keys (SV2.md §3.3)', () => {
  test('spec vector: x-only 76637000… ↔ 9bXiEd8b…', () => {
    assert.equal(encodeAuthorityPublicKey(hexToBytes(SPEC_XONLY)), SPEC_PUBLIC);
    const decoded = decodeAuthorityPublicKey(SPEC_PUBLIC);
    assert.ok(decoded.ok);
    if (decoded.ok) assertHex(decoded.value, SPEC_XONLY, 'x-only key');
  });
  test('SRI dev pair 1 decodes to x = 24ee3c38…2b6ce7 and the secret derives the public key', () => {
    const pub = decodeAuthorityPublicKey(SRI_DEV_PAIRS[0]!.pub);
    assert.ok(pub.ok);
    if (pub.ok) {
      assert.ok(bytesToHex(pub.value).startsWith('24ee3c38'));
      assert.ok(bytesToHex(pub.value).endsWith('2b6ce7'));
    }
  });
  for (const [i, pair] of SRI_DEV_PAIRS.entries()) {
    test(`SRI dev pair ${i + 1}: secret → public, and both re-encode to themselves`, () => {
      const sk = decodeAuthoritySecretKey(pair.sec);
      assert.ok(sk.ok);
      if (!sk.ok) return;
      assert.equal(encodeAuthorityPublicKey(authorityPublicKeyFromSecret(sk.value)), pair.pub);
      assert.equal(encodeAuthoritySecretKey(sk.value), pair.sec);
    });
  }
  test('transcript authority: secret key 00..03 → 9cXKNmu… (SV2.md §3.10)', () => {
    const nx = vectorJson<Record<string, string>>('noise/nx-transcript.json');
    const xonly = authorityPublicKeyFromSecret(hexToBytes(nx.authority_sk!));
    assertHex(xonly, nx.authority_xonly!, 'authority x-only');
    assert.equal(encodeAuthorityPublicKey(xonly), nx.authority_b58check);
    assert.equal(encodeAuthorityPublicKey(xonly), '9cXKNmuV9HaH3L6bvFC5KXMVZgbUUgXrETfkiw58DFXw45JDDvr');
  });
  test('bad checksum, bad characters, empty → invalid-authority-key', () => {
    const last = SPEC_PUBLIC.at(-1) === 'h' ? 'i' : 'h';
    expectError(decodeAuthorityPublicKey(SPEC_PUBLIC.slice(0, -1) + last), 'invalid-authority-key', 'bad checksum');
    expectError(decodeAuthorityPublicKey('0OIl' + SPEC_PUBLIC.slice(4)), 'invalid-authority-key', 'non-base58 characters');
    expectError(decodeAuthorityPublicKey(''), 'invalid-authority-key', 'empty');
    expectError(decodeAuthorityPublicKey(42 as unknown as string), 'invalid-authority-key', 'not a string');
  });
  test('version ≠ 1 → unsupported-authority-key-version (SRI key-utils rejects it)', () => {
    const payload = Uint8Array.from([2, 0, ...hexToBytes(SPEC_XONLY)]);
    expectError(decodeAuthorityPublicKey(b58c.encode(payload)), 'unsupported-authority-key-version', 'version 2');
    const zero = Uint8Array.from([0, 0, ...hexToBytes(SPEC_XONLY)]);
    expectError(decodeAuthorityPublicKey(b58c.encode(zero)), 'unsupported-authority-key-version', 'version 0');
  });
  test('short or long payloads → invalid-authority-key with the length in the message', () => {
    const short = Uint8Array.from([1, 0, ...hexToBytes(SPEC_XONLY).subarray(0, 31)]);
    const r = decodeAuthorityPublicKey(b58c.encode(short));
    expectError(r, 'invalid-authority-key', '33-byte payload');
    assert.match(!r.ok ? r.error.message : '', /33 bytes/);
    // A bare 32-byte x-only key (no version prefix) is a common paste mistake.
    expectError(decodeAuthorityPublicKey(b58c.encode(hexToBytes(SPEC_XONLY))), 'invalid-authority-key', 'no prefix');
    expectError(decodeAuthorityPublicKey(b58c.encode(Uint8Array.from([1, 0, ...hexToBytes(SPEC_XONLY), 0]))), 'invalid-authority-key', '35 bytes');
  });
  test('an x that is not on the curve → invalid-authority-key', () => {
    // x = EEFDEA4C…, BIP340 test vector 5 ("public key not on the curve").
    const notOnCurve = hexToBytes('eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34');
    expectError(decodeAuthorityPublicKey(b58c.encode(Uint8Array.from([1, 0, ...notOnCurve]))), 'invalid-authority-key', 'off-curve x');
  });
  test('secret keys: wrong length, zero and ≥ n are rejected', () => {
    expectError(decodeAuthoritySecretKey(b58c.encode(new Uint8Array(31).fill(1))), 'invalid-authority-key', '31-byte secret');
    expectError(decodeAuthoritySecretKey(b58c.encode(new Uint8Array(32))), 'invalid-authority-key', 'zero secret');
    expectError(decodeAuthoritySecretKey(b58c.encode(new Uint8Array(32).fill(0xff))), 'invalid-authority-key', 'secret ≥ n');
    // A public key pasted where the secret belongs.
    expectError(decodeAuthoritySecretKey(SPEC_PUBLIC), 'invalid-authority-key', 'public key as secret');
  });
  test('generateAuthorityKeyPair: consistent fields, reproducible from a seed', () => {
    const a = generateAuthorityKeyPair(new SeededRandom(99));
    const b = generateAuthorityKeyPair(new SeededRandom(99));
    const c = generateAuthorityKeyPair(new SeededRandom(100));
    assert.equal(a.publicKey, b.publicKey);
    assert.notEqual(a.publicKey, c.publicKey);
    const pub = decodeAuthorityPublicKey(a.publicKey);
    const sec = decodeAuthoritySecretKey(a.secretKeyText);
    assert.ok(pub.ok && sec.ok);
    if (pub.ok && sec.ok) {
      assert.equal(bytesToHex(pub.value), bytesToHex(a.publicKeyXOnly));
      assert.equal(bytesToHex(sec.value), bytesToHex(a.secretKey));
      assert.equal(bytesToHex(authorityPublicKeyFromSecret(sec.value)), bytesToHex(pub.value));
    }
  });
});
