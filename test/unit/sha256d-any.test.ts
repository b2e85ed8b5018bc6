// The double SHA-256 of any length (core/mining/sha256d64.ts sha256dAny), the one rule that picks
// a hot path's double hash (core/mining/hash.ts resolveSha256d / doubleHashOf), and the native
// provider's optional sha256d (adapters/crypto-native.ts: Bun only). References: @noble/hashes
// (an independent implementation) and the published double SHA-256 of "hello" (Bitcoin wiki).
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, propertyParams, test } from '../harness.ts';
import { assert, assertHex } from '../assert.ts';
import { bytesToHex, utf8 } from '../../core/bytes.ts';
import { sha256dAny } from '../../core/mining/sha256d64.ts';
import { doubleHashOf, fastSha256d, resolveSha256d, sha256d, sha256dFrom } from '../../core/mining/hash.ts';
import { merkleRootFromPath, merkleRootWith } from '../../core/mining/merkle.ts';
import { nativeProvider } from '../../adapters/crypto-native.ts';

const HELLO_SHA256D = '9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50';
const nobleD = (data: Uint8Array): string => bytesToHex(sha256(sha256(data)));

describe('sha256dAny against @noble/hashes', () => {
  test('published vector: SHA256d("hello")', () => {
    assertHex(sha256dAny(utf8('hello')), HELLO_SHA256D);
    assertHex(fastSha256d(utf8('hello')), HELLO_SHA256D);
  });
  test('every length 0..300 (each padding case: 1 or 2 tail blocks, 64 and 80 fast paths)', () => {
    for (let n = 0; n <= 300; n++) {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = (i * 131 + n * 7) & 0xff;
      assert.equal(bytesToHex(sha256dAny(data)), nobleD(data), `length ${n}`);
    }
  });
  test('random inputs up to 2 KiB (seeded), into a caller buffer that may alias the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (data) => {
        const expected = nobleD(data);
        const out = new Uint8Array(32);
        assert.equal(sha256dAny(data, out), out);
        assert.equal(bytesToHex(out), expected);
        if (data.length >= 32) {
          const copy = data.slice();
          sha256dAny(copy, copy);
          assert.equal(bytesToHex(copy.subarray(0, 32)), expected);
        }
      }),
      propertyParams(300),
    );
  });
  test('misuse throws RangeError', () => {
    assert.throws(() => sha256dAny('x' as unknown as Uint8Array), RangeError);
    assert.throws(() => sha256dAny(new Uint8Array(10), new Uint8Array(31)), RangeError);
  });
});

describe('double hash selection rule (core/mining/hash.ts)', () => {
  const counting = (): { calls: number; sha256: (d: Uint8Array) => Uint8Array } => {
    const c = { calls: 0, sha256: (d: Uint8Array): Uint8Array => (c.calls++, sha256(d)) };
    return c;
  };
  test('explicit sha256d, then explicit sha256 (honoured), then the fallback', () => {
    const mine = (d: Uint8Array, out?: Uint8Array): Uint8Array => fastSha256d(d, out);
    assert.equal(resolveSha256d({ sha256d: mine, sha256: counting().sha256 }), mine);
    const c = counting();
    const viaSingle = resolveSha256d({ sha256: c.sha256 });
    assertHex(viaSingle(utf8('hello')), HELLO_SHA256D);
    assert.equal(c.calls, 2);
    assert.equal(resolveSha256d({}), fastSha256d);
    assert.equal(resolveSha256d({}, mine), mine);
  });
  test('sha256dFrom writes into out; sha256d() default and injected agree', () => {
    const out = new Uint8Array(32);
    assert.equal(sha256dFrom(counting().sha256)(utf8('hello'), out), out);
    assertHex(out, HELLO_SHA256D);
    assertHex(sha256d(utf8('hello')), HELLO_SHA256D);
    assertHex(sha256d(utf8('hello'), (d) => sha256(d)), HELLO_SHA256D);
  });
  test('doubleHashOf: a provider without sha256d gets the pure-TS one', () => {
    assert.equal(doubleHashOf(undefined), fastSha256d);
    assert.equal(doubleHashOf({}), fastSha256d);
  });
  test('merkleRootWith agrees with merkleRootFromPath for the pure-TS and a generic double hash', () => {
    const txid = new Uint8Array(32).fill(1);
    const path = [new Uint8Array(32).fill(2), new Uint8Array(32).fill(3), new Uint8Array(32).fill(4)];
    const expected = bytesToHex(merkleRootFromPath(txid, path, (d) => sha256(d)));
    assert.equal(bytesToHex(merkleRootWith(txid, path, fastSha256d)), expected);
    assert.equal(bytesToHex(merkleRootWith(txid, path, sha256dFrom((d) => sha256(d)))), expected);
    assert.equal(bytesToHex(merkleRootWith(txid, [], sha256dFrom((d) => sha256(d)))), bytesToHex(txid));
  });
});

describe('native provider sha256d (Bun only)', () => {
  test('present exactly when Bun.SHA256 is, and correct', () => {
    const provider = nativeProvider();
    const onBun = (globalThis as { Bun?: unknown }).Bun !== undefined;
    assert.equal(provider.sha256d !== undefined, onBun, provider.name);
    assert.equal(provider.nativePrimitives.includes('sha256d'), onBun);
    const hash = doubleHashOf(provider);
    assertHex(hash(utf8('hello')), HELLO_SHA256D);
    const data = new Uint8Array(150).fill(9);
    const out = new Uint8Array(32);
    assert.equal(hash(data, out), out);
    assert.equal(bytesToHex(out), nobleD(data));
  });
});
