// BIP324 ElligatorSwift (SV2.md §3.3) against the bitcoin/bips bip-0324 vector files: every
// decode row, every XSwiftECInv (u, x, case) cell including "no solution", and a seeded
// encode→decode round trip.
import fc from 'fast-check';
import { describe, propertyParams, test } from '../../test/harness.ts';
import { assert, assertHex } from '../../test/assert.ts';
import { vectorCsv } from '../vectors.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { SeededRandom, type RandomSource } from '../../core/random.ts';
import {
  ellswiftCreate,
  ellswiftDecode,
  ellswiftEncode,
  ellswiftPublicKeyX,
  xswiftecInv,
} from '../../core/noise/ellswift.ts';

const decodeRows = vectorCsv('bip324/ellswift_decode_test_vectors.csv');
const invRows = vectorCsv('bip324/xswiftec_inv_test_vectors.csv');

describe('ellswift decode (bip324/ellswift_decode_test_vectors.csv)', () => {
  test('the file has the 76 BIP324 rows', () => {
    assert.equal(decodeRows.length, 76);
  });
  decodeRows.forEach((row, i) => {
    test(`row ${i}: ${row.comment}`, () => {
      assertHex(ellswiftDecode(hexToBytes(row.ellswift!)), row.x!, 'decoded x');
    });
  });
  test('a wrong length is misuse (RangeError naming the argument)', () => {
    assert.throws(() => ellswiftDecode(new Uint8Array(63)), (e) => e instanceof RangeError && /encoding64/.test(e.message));
  });
});

describe('ellswift XSwiftECInv (bip324/xswiftec_inv_test_vectors.csv)', () => {
  test('the file has rows with both solutions and empty (no-solution) cells', () => {
    const cells = invRows.flatMap((row) => [0, 1, 2, 3, 4, 5, 6, 7].map((c) => row[`case${c}_t`]!));
    assert.ok(invRows.length >= 30, `expected ≥ 30 rows, got ${invRows.length}`);
    assert.ok(cells.some((t) => t === ''), 'some cells are empty');
    assert.ok(cells.some((t) => t !== ''), 'some cells have a t');
  });
  invRows.forEach((row, i) => {
    test(`row ${i}: ${row.comment}`, () => {
      for (let c = 0; c < 8; c++) {
        const expected = row[`case${c}_t`]!;
        const t = xswiftecInv(hexToBytes(row.u!), hexToBytes(row.x!), c);
        if (expected === '') {
          assert.equal(t, null, `case ${c}: expected no solution, got ${t && bytesToHex(t)}`);
        } else {
          assert.ok(t !== null, `case ${c}: expected ${expected}, got no solution`);
          assertHex(t, expected, `case ${c} t`);
          // And the defining property: decoding (u, t) gives x back, unless u ≡ 0 (XSwiftEC
          // remaps u = 0 to 1, so such a t is a preimage only of the unremapped formula).
          if (!/^0+$/.test(row.u!)) {
            assertHex(ellswiftDecode(hexToBytes(row.u! + expected)), row.x!, `case ${c} round trip`);
          }
        }
      }
    });
  });
  test('caseIndex outside 0..7 is misuse', () => {
    assert.throws(() => xswiftecInv(new Uint8Array(32), new Uint8Array(32), 8), RangeError);
  });
});

describe('ellswift XElligatorSwift encode', () => {
  test('decode(encode(x)) == x for random secret keys (seeded)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer(), (seedBytes, rngSeed) => {
        // Map arbitrary bytes into a valid secret key range by forcing the top byte below 0xff.
        const secretKey = Uint8Array.from(seedBytes);
        secretKey[0] = secretKey[0]! & 0x7f;
        secretKey[31] = secretKey[31]! | 1;
        const encoding = ellswiftCreate(secretKey, new SeededRandom(rngSeed));
        assert.equal(encoding.length, 64);
        assert.equal(bytesToHex(ellswiftDecode(encoding)), bytesToHex(ellswiftPublicKeyX(secretKey)));
      }),
      propertyParams(64),
    );
  });
  test('different random draws give different encodings of the same x', () => {
    const x = ellswiftPublicKeyX(hexToBytes('0000000000000000000000000000000000000000000000000000000000000003'));
    const a = ellswiftEncode(x, new SeededRandom(1));
    const b = ellswiftEncode(x, new SeededRandom(2));
    assert.notEqual(bytesToHex(a), bytesToHex(b));
    assert.equal(bytesToHex(ellswiftDecode(a)), bytesToHex(x));
    assert.equal(bytesToHex(ellswiftDecode(b)), bytesToHex(x));
  });
  test('a RandomSource that never yields a usable u is reported, not looped on forever', () => {
    const zeros: RandomSource = { fill: (out) => out.fill(0) };
    const x = ellswiftPublicKeyX(hexToBytes('0000000000000000000000000000000000000000000000000000000000000003'));
    assert.throws(() => ellswiftEncode(x, zeros), (e) => e instanceof RangeError && /RandomSource/.test(e.message));
  });
  test('an x that is not on the curve is misuse', () => {
    // BIP340 test vector 5: "public key not on the curve".
    const row = vectorCsv('bip340/test-vectors.csv').find((r) => r.index === '5')!;
    assert.match(row.comment!, /not on the curve/);
    const x = hexToBytes(row['public key']!);
    assert.throws(() => ellswiftEncode(x, new SeededRandom(1)), RangeError);
  });
  test('secret key 0 is misuse', () => {
    assert.throws(() => ellswiftCreate(new Uint8Array(32), new SeededRandom(1)), RangeError);
  });
});
