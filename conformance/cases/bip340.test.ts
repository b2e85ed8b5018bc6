// BIP340 Schnorr (bitcoin/bips bip-0340/test-vectors.csv, every row) and the SV2 certificate
// built on it (SIGNATURE_NOISE_MESSAGE, SV2.md §3.6).
import { describe, test } from '../../test/harness.ts';
import { assert, assertHex } from '../../test/assert.ts';
import { vectorCsv, vectorJson } from '../vectors.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { schnorrPublicKey, schnorrSign, schnorrVerify } from '../../core/noise/schnorr.ts';
import {
  certificateMessage,
  certificateValidity,
  decodeCertificate,
  encodeCertificate,
  signCertificate,
  verifyCertificate,
} from '../../core/noise/certificate.ts';
import { sha256 } from '@noble/hashes/sha2.js';

const rows = vectorCsv('bip340/test-vectors.csv');

describe('bip340 vectors (bip340/test-vectors.csv)', () => {
  test('the file has 19 rows, valid and invalid', () => {
    assert.equal(rows.length, 19);
    assert.ok(rows.some((r) => r['verification result'] === 'FALSE'));
  });
  for (const row of rows) {
    const label = `row ${row.index}${row.comment ? ` (${row.comment})` : ''}`;
    const message = hexToBytes(row.message!);
    const publicKey = hexToBytes(row['public key']!);
    const signature = hexToBytes(row.signature!);
    if (row['secret key'] !== '') {
      test(`${label}: sign with aux_rand gives the signature`, () => {
        const secretKey = hexToBytes(row['secret key']!);
        assertHex(schnorrPublicKey(secretKey), row['public key']!, 'public key');
        assertHex(schnorrSign(message, secretKey, hexToBytes(row.aux_rand!)), row.signature!, 'signature');
      });
    }
    test(`${label}: verify → ${row['verification result']}`, () => {
      assert.equal(schnorrVerify(signature, message, publicKey), row['verification result'] === 'TRUE');
    });
  }
  test('verify is total: malformed lengths are false, never exceptions', () => {
    const row = rows[0]!;
    assert.equal(schnorrVerify(new Uint8Array(63), hexToBytes(row.message!), hexToBytes(row['public key']!)), false);
    assert.equal(schnorrVerify(hexToBytes(row.signature!), hexToBytes(row.message!), new Uint8Array(31)), false);
  });
  test('signing misuse throws RangeError naming the argument', () => {
    assert.throws(() => schnorrSign(new Uint8Array(32), new Uint8Array(32), new Uint8Array(32)), RangeError);
    assert.throws(() => schnorrSign(new Uint8Array(32), hexToBytes(rows[0]!['secret key']!), new Uint8Array(31)), /auxRand32/);
  });
});

// Keys of the SV2.md §3.10 transcript (conformance/vectors/noise/nx-transcript.json).
const nx = vectorJson<Record<string, string> & { certificate: { version: number; valid_from: number; not_valid_after: number; bip340_aux_rand: string } }>(
  'noise/nx-transcript.json',
);
const authoritySk = hexToBytes(nx.authority_sk);
const authorityXOnly = hexToBytes(nx.authority_xonly);
const staticXOnly = hexToBytes(nx.responder_static_xonly);
const cert = nx.certificate;
const fields = { validFromS: cert.valid_from, notValidAfterS: cert.not_valid_after };
const aux = hexToBytes(cert.bip340_aux_rand);

describe('certificate (SIGNATURE_NOISE_MESSAGE, SV2.md §3.6)', () => {
  test('layout: version U16 LE ‖ valid_from U32 LE ‖ not_valid_after U32 LE ‖ sig64', () => {
    const bytes = signCertificate(fields, staticXOnly, authoritySk, aux);
    assert.equal(bytes.length, 74);
    // Independent byte-level statement of the header: 0000 | 00f15365 | 10ff5365 (1700000000, 1700003600 LE).
    assert.equal(bytesToHex(bytes.subarray(0, 10)), '0000' + '00f15365' + '10ff5365');
    const decoded = decodeCertificate(bytes);
    assert.ok(decoded.ok);
    if (decoded.ok) {
      assert.deepEqual({ ...decoded.value, signature: bytesToHex(decoded.value.signature) }, {
        version: 0,
        validFromS: cert.valid_from,
        notValidAfterS: cert.not_valid_after,
        signature: bytesToHex(bytes.subarray(10)),
      });
      assert.equal(bytesToHex(encodeCertificate(decoded.value)), bytesToHex(bytes));
    }
  });
  test('the signature is plain BIP340 over SHA256(header10 ‖ static_xonly32)', () => {
    const bytes = signCertificate(fields, staticXOnly, authoritySk, aux);
    const m = sha256(Uint8Array.from([...bytes.subarray(0, 10), ...staticXOnly]));
    assert.equal(bytesToHex(certificateMessage({ version: 0, ...fields }, staticXOnly)), bytesToHex(m));
    assert.ok(schnorrVerify(bytes.subarray(10), m, authorityXOnly));
  });
  test('verify accepts inside the window and reports the fields', () => {
    const bytes = signCertificate(fields, staticXOnly, authoritySk, aux);
    assert.deepEqual(verifyCertificate(bytes, staticXOnly, authorityXOnly, cert.valid_from + 60), {
      ok: true,
      value: { version: 0, validFromS: cert.valid_from, notValidAfterS: cert.not_valid_after },
    });
  });
  test('SRI 1.4.1 leeway: exactly 10 s either side passes, 11 s fails with the right code', () => {
    const bytes = signCertificate(fields, staticXOnly, authoritySk, aux);
    assert.ok(verifyCertificate(bytes, staticXOnly, authorityXOnly, cert.valid_from - 10).ok);
    assert.ok(verifyCertificate(bytes, staticXOnly, authorityXOnly, cert.not_valid_after + 10).ok);
    const early = verifyCertificate(bytes, staticXOnly, authorityXOnly, cert.valid_from - 11);
    const late = verifyCertificate(bytes, staticXOnly, authorityXOnly, cert.not_valid_after + 11);
    assert.ok(!early.ok && early.error.code === 'certificate-not-yet-valid' && early.error.origin === 'remote');
    assert.ok(!late.ok && late.error.code === 'certificate-expired' && late.error.origin === 'remote');
    // Core-style strict check is leeway 0.
    assert.ok(!verifyCertificate(bytes, staticXOnly, authorityXOnly, cert.valid_from - 1, 0).ok);
  });
  test('any flipped bit, another static key or another authority → invalid-certificate', () => {
    const bytes = signCertificate(fields, staticXOnly, authoritySk, aux);
    const now = cert.valid_from + 1;
    for (let i = 0; i < bytes.length; i++) {
      const tampered = Uint8Array.from(bytes);
      tampered[i]! ^= 0x01;
      const r = verifyCertificate(tampered, staticXOnly, authorityXOnly, now);
      assert.ok(!r.ok && r.error.code === 'invalid-certificate', `byte ${i} flipped was accepted or misreported`);
    }
    const otherStatic = Uint8Array.from(staticXOnly);
    otherStatic[31]! ^= 1;
    const r1 = verifyCertificate(bytes, otherStatic, authorityXOnly, now);
    assert.ok(!r1.ok && r1.error.code === 'invalid-certificate');
    const r2 = verifyCertificate(bytes, staticXOnly, hexToBytes(rows[1]!['public key']!), now);
    assert.ok(!r2.ok && r2.error.code === 'invalid-certificate');
  });
  test('a forged certificate is invalid even when also expired (signature checked first)', () => {
    const bytes = signCertificate(fields, staticXOnly, authoritySk, aux);
    bytes[20]! ^= 0x80;
    const r = verifyCertificate(bytes, staticXOnly, authorityXOnly, cert.not_valid_after + 10_000);
    assert.ok(!r.ok && r.error.code === 'invalid-certificate');
  });
  test('version ≠ 0 is rejected like Bitcoin Core does, even when correctly signed', () => {
    const header = Uint8Array.from([1, 0, ...signCertificate(fields, staticXOnly, authoritySk, aux).subarray(2, 10)]);
    const m = sha256(Uint8Array.from([...header, ...staticXOnly]));
    const v1 = Uint8Array.from([...header, ...schnorrSign(m, authoritySk, aux)]);
    const r = verifyCertificate(v1, staticXOnly, authorityXOnly, cert.valid_from + 1);
    assert.ok(!r.ok && r.error.code === 'invalid-certificate' && r.error.field === 'version');
  });
  test('decode never throws; wrong length → invalid-certificate', () => {
    for (const length of [0, 73, 75, 90]) {
      const r = decodeCertificate(new Uint8Array(length));
      assert.ok(!r.ok && r.error.code === 'invalid-certificate' && r.error.origin === 'remote');
    }
  });
  test('certificateValidity backdates valid_from (default 300 s) and lasts 3600 s', () => {
    assert.deepEqual(certificateValidity(1_700_000_000), { validFromS: 1_699_999_700, notValidAfterS: 1_700_003_600 });
    assert.deepEqual(certificateValidity(100, { validitySecs: 60, backdateSecs: 500 }), { validFromS: 0, notValidAfterS: 160 });
    assert.throws(() => certificateValidity(-1), RangeError);
    assert.throws(() => certificateValidity(1, { validitySecs: 0 }), RangeError);
  });
  test('a client whose clock is 4 minutes behind still accepts a fresh backdated certificate', () => {
    const serverNowS = 1_700_000_000;
    const bytes = signCertificate(certificateValidity(serverNowS), staticXOnly, authoritySk, aux);
    assert.ok(verifyCertificate(bytes, staticXOnly, authorityXOnly, serverNowS - 240, 0).ok);
  });
  test('signCertificate refuses an inverted window', () => {
    assert.throws(() => signCertificate({ validFromS: 10, notValidAfterS: 9 }, staticXOnly, authoritySk, aux), RangeError);
  });
});
