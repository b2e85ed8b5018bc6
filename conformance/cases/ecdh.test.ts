// The SV2 Noise DH = BIP324 v2_ecdh (SV2.md §3.4), checked against every row of
// bitcoin/bips bip-0324/packet_encoding_test_vectors.csv (columns in_priv_ours,
// in_ellswift_ours, in_ellswift_theirs, in_initiating → mid_x_shared, mid_shared_secret).
// Runs once per crypto provider available on this runtime.
import fc from 'fast-check';
import { describe, propertyParams, test } from '../../test/harness.ts';
import { assert, assertHex } from '../../test/assert.ts';
import { vectorCsv } from '../vectors.ts';
import { availableProviders } from '../../adapters/crypto-native.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { SeededRandom } from '../../core/random.ts';
import { ellswiftCreate, ellswiftDecode } from '../../core/noise/ellswift.ts';
import { v2Ecdh } from '../../core/noise/ecdh.ts';

const rows = vectorCsv('bip324/packet_encoding_test_vectors.csv');

for (const provider of availableProviders()) {
  describe(`ecdh [${provider.name}]`, () => {
    test('the vector file has rows for both roles', () => {
      assert.ok(rows.length >= 7, `expected ≥ 7 rows, got ${rows.length}`);
      assert.ok(rows.some((r) => r.in_initiating === '1') && rows.some((r) => r.in_initiating === '0'));
    });
    for (const row of rows) {
      const priv = hexToBytes(row.in_priv_ours!);
      const ours = hexToBytes(row.in_ellswift_ours!);
      const theirs = hexToBytes(row.in_ellswift_theirs!);
      const initiating = row.in_initiating === '1';
      test(`packet vector idx ${row.in_idx}: mid_x_shared = x(priv · decode(theirs))`, () => {
        assertHex(provider.ecdhXOnly(priv, ellswiftDecode(theirs)), row.mid_x_shared!, 'mid_x_shared');
      });
      test(`packet vector idx ${row.in_idx}: mid_shared_secret (initiating=${initiating})`, () => {
        assertHex(v2Ecdh(provider, priv, ours, theirs, initiating), row.mid_shared_secret!, 'mid_shared_secret');
      });
      test(`packet vector idx ${row.in_idx}: the role flag matters (SV2.md §9.2)`, () => {
        assert.notEqual(bytesToHex(v2Ecdh(provider, priv, ours, theirs, !initiating)), row.mid_shared_secret!.toLowerCase());
      });
    }
    test('both sides of a handshake agree (initiator first on both, seeded)', () => {
      fc.assert(
        fc.property(fc.integer(), (seed) => {
          const random = new SeededRandom(seed);
          const skI = random.fill(new Uint8Array(32));
          const skR = random.fill(new Uint8Array(32));
          skI[0] = skI[0]! & 0x7f; // keep below n
          skR[0] = skR[0]! & 0x7f;
          const ellI = ellswiftCreate(skI, random);
          const ellR = ellswiftCreate(skR, random);
          const atInitiator = v2Ecdh(provider, skI, ellI, ellR, true);
          const atResponder = v2Ecdh(provider, skR, ellR, ellI, false);
          assert.equal(bytesToHex(atInitiator), bytesToHex(atResponder));
        }),
        propertyParams(16),
      );
    });
    test('wrong-length encodings are misuse', () => {
      const sk = hexToBytes(rows[0]!.in_priv_ours!);
      assert.throws(() => v2Ecdh(provider, sk, new Uint8Array(63), new Uint8Array(64), true), RangeError);
      assert.throws(() => v2Ecdh(provider, sk, new Uint8Array(64), new Uint8Array(65), true), RangeError);
    });
  });
}
