// Unit tests of the SV2 codec pieces: data types (SV2.md §2), TLVs (§10), catalog numbers and
// channel bits (§4, §5.1, §6, §7, §10), lenient decode / strict encode (§1.1, §9), and the
// bitcoin helpers under core/mining. Expected bytes come from SV2.md / SRI, typed in here.
import { describe, test } from '../harness.ts';
import { assert, assertHex } from '../assert.ts';
import { bytesToHex, concatBytes, hexToBytes, utf8 } from '../../core/bytes.ts';
import {
  B0_16M,
  B0_32,
  B0_64K,
  BOOL,
  CATALOG,
  catalogEntry,
  decodeFrameBytes,
  decodeMessage,
  decodeTlvs,
  encodeMessage,
  encodeValue,
  F32,
  lookupWire,
  OPTION,
  readValue,
  SEQ0_64K,
  SEQ0_255,
  STR0_255,
  U16,
  U24,
  U256,
  U32,
  U64,
  workerIdentityOf,
  workerIdentityTlv,
  Writer,
  writeTlvs,
  type Sv2Message,
} from '../../core/codec/index.ts';
import { targetFromHashRate, targetFromNbits, meetsTarget, targetToU256, U256_MAX } from '../../core/mining/target.ts';
import { coinbaseMerklePath, merkleRootFromPath } from '../../core/mining/merkle.ts';
import { sha256d } from '../../core/mining/hash.ts';
import { buildCoinbase, compactSize } from '../../core/mining/coinbase.ts';
import { header80 } from '../../core/mining/header.ts';

const submitExtended = {
  type: 'SubmitSharesExtended', channelId: 1, sequenceNumber: 1, jobId: 1, nonce: 16647, ntime: 1745611105, version: 0x20000000,
  extranonce: hexToBytes('0100000000000000'),
} as const;
// SV2.md §11 SubmitSharesExtended frame.
const SUBMIT_EXTENDED_HEX = '00801b2100000100000001000000010000000741000061e90b6800000020080100000000000000';
const WORKER_TLV_HEX = `0200010a00${bytesToHex(utf8('Worker_001'))}`;

function withTrailing(frameHex: string, tailHex: string): Uint8Array {
  const frame = hexToBytes(frameHex);
  const payload = concatBytes(frame.subarray(6), hexToBytes(tailHex));
  const header = { extensionType: 0, channelMsg: true, msgType: frame[2]!, msgLength: payload.length };
  return concatBytes(encodeHeaderBytes(header), payload);
}
function encodeHeaderBytes(h: { extensionType: number; channelMsg: boolean; msgType: number; msgLength: number }): Uint8Array {
  const ext = h.extensionType | (h.channelMsg ? 0x8000 : 0);
  return new Uint8Array([ext & 0xff, ext >> 8, h.msgType, h.msgLength & 0xff, (h.msgLength >> 8) & 0xff, h.msgLength >> 16]);
}

describe('binary_sv2 data types', () => {
  test('F32: 1e12 → a5 d4 68 53 (SV2.md §2) and back to the nearest f32', () => {
    assertHex(encodeValue(F32, 1e12), 'a5d46853', 'F32');
    const r = readValue(F32, hexToBytes('a5d46853'));
    assert.ok(r.ok);
    assert.equal(r.value, Math.fround(1e12));
  });

  test('OPTION[U32]: None = 00, Some(x) = 01 ‖ LE32(x), count 2 = invalid-option', () => {
    assertHex(encodeValue(OPTION(U32), null), '00', 'None');
    assertHex(encodeValue(OPTION(U32), 1745611105), '0161e90b68', 'Some');
    assert.deepEqual(readValue(OPTION(U32), hexToBytes('00')), { ok: true, value: null });
    assert.deepEqual(readValue(OPTION(U32), hexToBytes('0161e90b68')), { ok: true, value: 1745611105 });
    const bad = readValue(OPTION(U32), hexToBytes('0261e90b68'), 'NewMiningJob.min_ntime');
    assert.ok(!bad.ok);
    assert.equal(bad.error.code, 'invalid-option');
    assert.equal(bad.error.field, 'NewMiningJob.min_ntime');
    const short = readValue(OPTION(U32), hexToBytes('0161e9'), 'NewMiningJob.min_ntime');
    assert.ok(!short.ok && short.error.code === 'truncated' && short.error.field === 'NewMiningJob.min_ntime');
  });

  test('BOOL is read leniently (LSB only) and written as 00/01', () => {
    for (const [hex, value] of [['00', false], ['01', true], ['02', false], ['03', true], ['fe', false], ['ff', true]] as const) {
      assert.deepEqual(readValue(BOOL, hexToBytes(hex)), { ok: true, value }, hex);
    }
    assertHex(encodeValue(BOOL, true), '01');
    assertHex(encodeValue(BOOL, false), '00');
    assert.throws(() => encodeValue(BOOL, 1 as unknown as boolean, 'x.flag'), /x\.flag/);
  });

  test('integers are little-endian; U64 is a bigint; U24 is 3 bytes', () => {
    assertHex(encodeValue(U16, 0x0102), '0201');
    assertHex(encodeValue(U24, 0x010203), '030201');
    assertHex(encodeValue(U32, 0xdeadbeef), 'efbeadde');
    assertHex(encodeValue(U64, 0x0102030405060708n), '0807060504030201');
    assert.deepEqual(readValue(U64, hexToBytes('ffffffffffffffff')), { ok: true, value: 0xffff_ffff_ffff_ffffn });
    assert.deepEqual(readValue(U32, hexToBytes('ffffffff')), { ok: true, value: 0xffffffff });
  });

  test('length-prefixed types and sequences (SV2.md §2 examples)', () => {
    assertHex(encodeValue(B0_64K, hexToBytes('aabb')), '0200aabb');
    assertHex(encodeValue(B0_16M, hexToBytes('aa')), '010000aa');
    assertHex(encodeValue(SEQ0_255(U256), [new Uint8Array(32)]), `01${'00'.repeat(32)}`);
    assertHex(encodeValue(SEQ0_64K(B0_16M), [hexToBytes('aa'), new Uint8Array(0)]), '0200010000aa000000');
    assertHex(encodeValue(STR0_255, 'é'), '02c3a9');
  });

  test('B0_32 with a length over 32 is invalid-length naming the field', () => {
    const r = readValue(B0_32, concatBytes(new Uint8Array([33]), new Uint8Array(33)), 'SetExtranoncePrefix.extranonce_prefix');
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'invalid-length');
    assert.equal(r.error.field, 'SetExtranoncePrefix.extranonce_prefix');
  });

  test('STR0_255 decodes invalid UTF-8 leniently (U+FFFD) like SRI, which does not validate', () => {
    assert.deepEqual(readValue(STR0_255, hexToBytes('02ff41')), { ok: true, value: '\ufffdA' });
  });

  test('a SEQ count that cannot fit is truncated before allocating', () => {
    const r = readValue(SEQ0_64K(U32), hexToBytes('ffff01000000'), 'SetGroupChannel.channel_ids');
    assert.ok(!r.ok && r.error.code === 'truncated' && r.error.field === 'SetGroupChannel.channel_ids');
  });

  test('send strictly: out-of-range values throw RangeError/TypeError naming field and value', () => {
    assert.throws(() => encodeValue(STR0_255, 'x'.repeat(256), 'OpenStandardMiningChannel.user_identity'), (e: unknown) =>
      e instanceof RangeError && /OpenStandardMiningChannel\.user_identity/.test(e.message) && /256/.test(e.message));
    assert.throws(() => encodeValue(B0_32, new Uint8Array(33), 'SetExtranoncePrefix.extranonce_prefix'), (e: unknown) =>
      e instanceof RangeError && /extranonce_prefix/.test(e.message) && /33/.test(e.message));
    assert.throws(() => encodeValue(U16, 70000, 'f'), (e: unknown) => e instanceof RangeError && /70000/.test(e.message));
    assert.throws(() => encodeValue(U32, -1, 'f'), RangeError);
    assert.throws(() => encodeValue(U32, 1.5, 'f'), RangeError);
    assert.throws(() => encodeValue(U64, 1n << 64n, 'f'), RangeError);
    assert.throws(() => encodeValue(U64, 5 as unknown as bigint, 'f'), TypeError);
    assert.throws(() => encodeValue(U256, new Uint8Array(31), 'SetTarget.maximum_target'), /SetTarget\.maximum_target.*32/);
    assert.throws(() => encodeValue(SEQ0_255(U32), new Array(256).fill(0), 'f'), RangeError);
  });

  test('encodeMessage is strict: a field out of range throws naming the message field', () => {
    assert.throws(
      () => encodeMessage({ type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'u'.repeat(300), nominalHashRate: 1, maxTarget: new Uint8Array(32) }),
      /OpenStandardMiningChannel\.user_identity/,
    );
    assert.throws(() => encodeMessage({ type: 'SetupConnectionSuccess', usedVersion: 2 } as unknown as Sv2Message), /SetupConnectionSuccess\.flags/);
    assert.throws(() => encodeMessage({ type: 'NoSuchMessage' } as unknown as Sv2Message), TypeError);
  });

  test('Writer grows past its initial capacity', () => {
    const w = new Writer(1);
    for (let i = 0; i < 100; i++) w.u32(i, 'i');
    assert.equal(w.finish().length, 400);
    // Every single-byte write must land in the grown buffer, not the one it replaced.
    const bytesWriter = new Writer(1);
    for (let i = 0; i < 100; i++) bytesWriter.u8(i, 'i');
    for (let i = 0; i < 10; i++) bytesWriter.bool(true, 'b');
    assert.deepEqual([...bytesWriter.finish()], [...Array.from({ length: 100 }, (_, i) => i), ...new Array(10).fill(1)]);
  });
});

describe('message decoding errors', () => {
  test('a truncated field names the field: OpenStandardMiningChannel.user_identity', () => {
    // request_id, then user_identity announcing 11 bytes with only 4 present.
    const frame = hexToBytes('000010340000010000000b75736572');
    const r = decodeMessage({ header: { extensionType: 0, channelMsg: false, msgType: 0x10, msgLength: 9 }, payload: frame.subarray(6) });
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'truncated');
    assert.equal(r.error.field, 'OpenStandardMiningChannel.user_identity');
    assert.equal(r.error.origin, 'remote');
  });

  test('unknown (extension, msg_type) is unknown-message; 0x1e is reserved', () => {
    const r = decodeMessage({ header: { extensionType: 0, channelMsg: true, msgType: 0x1e, msgLength: 0 }, payload: new Uint8Array(0) });
    assert.ok(!r.ok && r.error.code === 'unknown-message');
    const r2 = decodeMessage({ header: { extensionType: 0x4000, channelMsg: false, msgType: 0, msgLength: 0 }, payload: new Uint8Array(0) });
    assert.ok(!r2.ok && r2.error.code === 'unknown-message');
  });

  test('msg_type 0x00 is SetupConnection under ext 0 and RequestExtensions under ext 0x0001 (SV2.md §1.1)', () => {
    const frame = encodeMessage({ type: 'RequestExtensions', requestId: 7, requestedExtensions: [2] });
    assertHex(frame, '010000060000070001000200', 'RequestExtensions frame');
    const r = decodeFrameBytes(frame);
    assert.ok(r.ok);
    assert.deepStrictEqual(r.value, { type: 'RequestExtensions', requestId: 7, requestedExtensions: [2] });
    // With the channel bit set on the extension id, lookup still finds ext 0x0001.
    assert.equal(lookupWire(0x8001 & 0x7fff, 0)?.type, 'RequestExtensions');
  });

  test('decodeFrameBytes: short header, short payload, extra bytes', () => {
    const short = decodeFrameBytes(hexToBytes('0000'));
    assert.ok(!short.ok && short.error.code === 'truncated' && short.error.field === 'header');
    const shortPayload = decodeFrameBytes(hexToBytes('000001060000020000'));
    assert.ok(!shortPayload.ok && shortPayload.error.code === 'truncated');
    const extra = decodeFrameBytes(hexToBytes('00000106000002000000000000'));
    assert.ok(!extra.ok && extra.error.code === 'frame-length-mismatch');
  });
});

describe('catalog (SV2.md §4, §5.1, §6, §7, §10)', () => {
  test('numbers and channel bits of the messages whose values changed over time', () => {
    const expect = (type: Parameters<typeof catalogEntry>[0], ext: number, msgType: number, channelMsg: boolean) => {
      const e = catalogEntry(type);
      assert.deepEqual([e.extensionType, e.msgType, e.channelMsg], [ext, msgType, channelMsg], type);
    };
    expect('Reconnect', 0, 0x04, false);
    expect('ChannelEndpointChanged', 0, 0x03, true);
    expect('SetGroupChannel', 0, 0x25, false);
    expect('NewMiningJob', 0, 0x15, true);
    expect('SetCustomMiningJob', 0, 0x22, true);
    expect('SetCustomMiningJobSuccess', 0, 0x23, true);
    expect('SetCustomMiningJobError', 0, 0x24, true);
    expect('PushSolution', 0, 0x60, false);
    expect('CoinbaseOutputConstraints', 0, 0x70, false);
    expect('SetNewPrevHash', 0, 0x20, true);
    expect('SetNewPrevHashTdp', 0, 0x72, false);
    expect('RequestExtensionsError', 1, 0x02, false);
    expect('OpenExtendedMiningChannelSuccess', 0, 0x14, false);
  });

  test('every mining message with the channel bit has channel_id as its first field', () => {
    for (const e of CATALOG) {
      if (e.channelMsg) assert.equal(e.codec.fields[0]![1], 'channel_id', e.type);
    }
    // TDP and JD never set the bit.
    for (const e of CATALOG) if (e.subprotocol === 'template-distribution' || e.subprotocol === 'job-declaration') assert.equal(e.channelMsg, false, e.type);
  });

  test('field keys are the camelCase of the spec names (coinbase_tx_input_nSequence → coinbaseTxInputNSequence)', () => {
    const camel = (s: string) => s.replace(/_([a-zA-Z])/g, (_, c: string) => c.toUpperCase());
    for (const e of CATALOG) for (const [key, wire] of e.codec.fields) assert.equal(key, camel(wire), `${e.type}.${wire}`);
    assert.ok(catalogEntry('SetCustomMiningJob').codec.fields.some(([k]) => k === 'coinbaseTxInputNSequence'));
  });

  test('the catalog has 44 messages (5 common, 21 mining, 8 JD, 7 TDP, 3 negotiation)', () => {
    const count = (s: string) => CATALOG.filter((e) => e.subprotocol === s).length;
    assert.deepEqual(
      [count('common'), count('mining'), count('job-declaration'), count('template-distribution'), count('extensions-negotiation')],
      [5, 21, 8, 7, 3],
    );
  });
});

describe('TLV (SV2.md §10)', () => {
  test("SRI's worker TLV bytes: 02 00 01 0a 00 + 'Worker_001' (little-endian)", () => {
    const w = new Writer();
    writeTlvs(w, [workerIdentityTlv('Worker_001')]);
    assertHex(w.finish(), WORKER_TLV_HEX, 'TLV');
    const tlvs = decodeTlvs(hexToBytes(WORKER_TLV_HEX), [2]);
    assert.equal(tlvs.length, 1);
    assert.deepEqual(workerIdentityOf(tlvs), { ok: true, value: 'Worker_001' });
  });

  test('SubmitSharesExtended + worker TLV: decoded only when 0x0002 is negotiated', () => {
    const bytes = withTrailing(SUBMIT_EXTENDED_HEX, WORKER_TLV_HEX);
    const plain = decodeFrameBytes(bytes);
    assert.ok(plain.ok);
    assert.deepStrictEqual(plain.value, submitExtended);
    const other = decodeFrameBytes(bytes, { negotiatedExtensions: [3] });
    assert.ok(other.ok);
    assert.deepStrictEqual(other.value, submitExtended);
    const negotiated = decodeFrameBytes(bytes, { negotiatedExtensions: [2] });
    assert.ok(negotiated.ok && negotiated.value.type === 'SubmitSharesExtended');
    assert.deepEqual(workerIdentityOf(negotiated.value.tlvs), { ok: true, value: 'Worker_001' });
    // Encoding appends the TLV only when given: byte-exact both ways.
    assertHex(encodeMessage(negotiated.value), bytesToHex(bytes), 'with TLV');
    assertHex(encodeMessage(submitExtended), SUBMIT_EXTENDED_HEX, 'without TLV');
  });

  test("the spec's big-endian example is not read as a worker TLV; unknown TLVs and a malformed tail are ignored", () => {
    const bigEndian = `0002010a00${bytesToHex(utf8('Worker_001'))}`;
    const r = decodeFrameBytes(withTrailing(SUBMIT_EXTENDED_HEX, bigEndian), { negotiatedExtensions: [2] });
    assert.ok(r.ok);
    assert.deepStrictEqual(r.value, submitExtended);
    const tail = `${bytesToHex(utf8('xx'))}`; // < 5 bytes: not a TLV
    const r2 = decodeFrameBytes(withTrailing(SUBMIT_EXTENDED_HEX, `0300010100ff${WORKER_TLV_HEX}${tail}`), { negotiatedExtensions: [2] });
    assert.ok(r2.ok && r2.value.type === 'SubmitSharesExtended');
    assert.equal(r2.value.tlvs?.length, 1);
    const overrun = decodeTlvs(hexToBytes('0200010a00aabb'), [2]);
    assert.deepEqual(overrun, []);
  });

  test('strict TLV encoding: worker identity ≤ 32 bytes, ordered by extension_type', () => {
    assert.throws(() => workerIdentityTlv('w'.repeat(33)), RangeError);
    assert.doesNotThrow(() => workerIdentityTlv('w'.repeat(32)));
    assert.throws(() => writeTlvs(new Writer(), [{ extensionType: 2, fieldType: 1, value: new Uint8Array(33) }]), RangeError);
    assert.throws(
      () => writeTlvs(new Writer(), [{ extensionType: 3, fieldType: 1, value: new Uint8Array(1) }, workerIdentityTlv('a')]),
      /ordered by extension_type/,
    );
    const tooLong = workerIdentityOf([{ extensionType: 2, fieldType: 1, value: new Uint8Array(33) }]);
    assert.ok(!tooLong.ok && tooLong.error.code === 'invalid-length');
  });
});

describe('mining helpers', () => {
  test('targetFromNbits: genesis 0x1d00ffff = 0xffff << 208; invalid compacts are null', () => {
    assert.equal(targetFromNbits(0x1d00ffff), 0xffffn << 208n);
    assert.equal(targetFromNbits(0x1b00d7c0), 0xd7c0n << 192n);
    assert.equal(targetFromNbits(0x03123456), 0x123456n);
    assert.equal(targetFromNbits(0x01003456), null); // mantissa shifted to zero
    assert.equal(targetFromNbits(0x04923456), null); // negative
    assert.equal(targetFromNbits(0xff123456), null); // overflow
  });

  test('targetFromHashRate: hash rate 0 gives the maximum target; bad inputs throw', () => {
    assert.equal(targetFromHashRate(0, 1), U256_MAX);
    assert.throws(() => targetFromHashRate(1, 0), RangeError);
    assert.throws(() => targetFromHashRate(-1, 1), RangeError);
    assert.throws(() => targetFromHashRate(NaN, 1), RangeError);
    assert.ok(targetFromHashRate(Infinity, 1) >= 0n);
  });

  test('meetsTarget: equality meets, one more does not (int_LE comparison)', () => {
    const target = targetToU256(0x1234n << 200n);
    assert.equal(meetsTarget(target, target), true);
    assert.equal(meetsTarget(targetToU256((0x1234n << 200n) + 1n), target), false);
    assert.equal(meetsTarget(targetToU256((0x1234n << 200n) - 1n), target), true);
    assert.equal(meetsTarget(targetToU256(1n << 255n), 1n << 254n), false);
  });

  test('coinbaseMerklePath agrees with a naive merkle tree for 1..9 transactions', () => {
    const naiveRoot = (leaves: Uint8Array[]): Uint8Array => {
      let level = leaves;
      while (level.length > 1) {
        const next: Uint8Array[] = [];
        for (let i = 0; i < level.length; i += 2) next.push(sha256d(concatBytes(level[i]!, level[i + 1] ?? level[i]!)));
        level = next;
      }
      return level[0]!;
    };
    for (let n = 0; n <= 9; n++) {
      const coinbase = sha256d(new Uint8Array([0xcb]));
      const txids = Array.from({ length: n }, (_, i) => sha256d(new Uint8Array([i])));
      const path = coinbaseMerklePath(txids);
      assert.equal(bytesToHex(merkleRootFromPath(coinbase, path)), bytesToHex(naiveRoot([coinbase, ...txids])), `n=${n}`);
    }
  });

  test('compactSize and coinbase limits', () => {
    assertHex(compactSize(252), 'fc');
    assertHex(compactSize(253), 'fdfd00');
    assertHex(compactSize(0x10000), 'fe00000100');
    const base = {
      version: 2, scriptSigPrefix: hexToBytes('5200'), extranonceBytes: 32, inputSequence: 0xffffffff, poolOutputs: [],
      templateOutputs: new Uint8Array(0), templateOutputsCount: 0, locktime: 0,
    };
    assert.throws(() => buildCoinbase({ ...base, extranonceBytes: 33 }), /extranonceBytes/);
    assert.throws(() => buildCoinbase({ ...base, poolTag: 'p'.repeat(60) }), /tag/);
    assert.throws(() => buildCoinbase({ ...base, poolTag: 'p'.repeat(30), minerTag: 'm'.repeat(30) }), /tag|scriptSig/);
    assert.throws(() => header80({ version: 1, prevHash: new Uint8Array(31), merkleRoot: new Uint8Array(32), ntime: 0, nbits: 0, nonce: 0 }), /prevHash/);
  });
});
