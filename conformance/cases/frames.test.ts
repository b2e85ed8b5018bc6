// Every frame in vectors/frames/plaintext-frames.json decodes, re-encodes byte-exact, and decodes
// to the values its description states (SV2.md §11). Values are typed in from the descriptions
// and SV2.md, never computed by our code.
import { describe, test } from '../../test/harness.ts';
import { assert, assertHex } from '../../test/assert.ts';
import { vectorJson } from '../vectors.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import {
  catalogEntry,
  decodeFrameBytes,
  decodeHeader,
  decodeMessage,
  encodeMessage,
  encodePayload,
  messageHeader,
  type Sv2Message,
} from '../../core/codec/index.ts';

interface FrameVector {
  readonly description: string;
  readonly hex: string;
}
const { frames } = vectorJson<{ frames: FrameVector[] }>('frames/plaintext-frames.json');

const SHARE_TARGET_LE = '058215af34444e5887d6f718a4a3ee04fcc407c311dddaff61a761989d170100';
const MERKLE_00_1F = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

/** Expected decoded values per vector, in file order (from each description). */
const EXPECTED: readonly Sv2Message[] = [
  {
    type: 'SetupConnection', protocol: 0, minVersion: 2, maxVersion: 2, flags: 1, endpointHost: '127.0.0.1',
    endpointPort: 34254, vendor: 'bitaxe', hardwareVersion: 'BM1370', firmware: 'v2.0', deviceId: '',
  },
  { type: 'SetupConnectionSuccess', usedVersion: 2, flags: 0 },
  { type: 'SetupConnectionError', flags: 0, errorCode: 'unsupported-protocol' },
  // 1e12 is not an f32; the wire holds the nearest f32, 999999995904.
  { type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'user.worker', nominalHashRate: 999999995904, maxTarget: new Uint8Array(32).fill(0xff) },
  { type: 'OpenStandardMiningChannelSuccess', requestId: 1, channelId: 1, target: hexToBytes(SHARE_TARGET_LE), extranoncePrefix: hexToBytes('00000001'), groupChannelId: 0 },
  {
    type: 'OpenExtendedMiningChannelSuccess', requestId: 1, channelId: 2, target: hexToBytes(SHARE_TARGET_LE), extranonceSize: 8,
    extranoncePrefix: hexToBytes('000000000000000000000000000000000000000000000001'), groupChannelId: 0,
  },
  { type: 'OpenMiningChannelError', requestId: 1, errorCode: 'unknown-user' },
  { type: 'NewMiningJob', channelId: 1, jobId: 1, minNtime: null, version: 0x20000000, merkleRoot: hexToBytes(MERKLE_00_1F) },
  { type: 'NewMiningJob', channelId: 1, jobId: 2, minNtime: 1745611105, version: 0x20000000, merkleRoot: hexToBytes(MERKLE_00_1F) },
  {
    type: 'SetNewPrevHash', channelId: 1, jobId: 1, prevHash: hexToBytes('17cd48869956dc99e01cd892e478e39dd563a0a3803b8bbe9e3e000000000000'),
    minNtime: 1745611105, nbits: 0x1b00d7c0,
  },
  { type: 'SetTarget', channelId: 1, maximumTarget: hexToBytes(SHARE_TARGET_LE) },
  { type: 'SubmitSharesStandard', channelId: 1, sequenceNumber: 1, jobId: 1, nonce: 16647, ntime: 1745611105, version: 0x20000000 },
  {
    type: 'SubmitSharesExtended', channelId: 1, sequenceNumber: 1, jobId: 1, nonce: 16647, ntime: 1745611105, version: 0x20000000,
    extranonce: hexToBytes('0100000000000000'),
  },
  { type: 'SubmitSharesSuccess', channelId: 1, lastSequenceNumber: 10, newSubmitsAcceptedCount: 10, newSharesSum: 1000n },
  { type: 'SubmitSharesError', channelId: 1, sequenceNumber: 11, errorCode: 'difficulty-too-low' },
  { type: 'CloseChannel', channelId: 1, reasonCode: 'shutdown' },
  { type: 'SetExtranoncePrefix', channelId: 1, extranoncePrefix: hexToBytes('00000002') },
  { type: 'SetGroupChannel', groupChannelId: 100, channelIds: [1, 2] },
  { type: 'Reconnect', newHost: '', newPort: 0 },
];

describe('plaintext frames (vectors/frames/plaintext-frames.json)', () => {
  test('the file has one expectation per frame', () => {
    assert.equal(frames.length, EXPECTED.length);
    assert.ok(frames.length >= 19);
  });

  frames.forEach((vector, i) => {
    test(`${i}: ${vector.description}`, () => {
      const bytes = hexToBytes(vector.hex);
      const decoded = decodeFrameBytes(bytes);
      assert.ok(decoded.ok, decoded.ok ? '' : `decode failed: ${decoded.error.code} ${decoded.error.field} ${decoded.error.message}`);
      assert.deepStrictEqual(decoded.value, EXPECTED[i]);
      // Byte-exact re-encoding, from the decoded value and from the expected value.
      assertHex(encodeMessage(decoded.value), vector.hex, 'frame');
      assertHex(encodeMessage(EXPECTED[i]!), vector.hex, 'frame from expected value');
      // Header = catalog: extension, type, channel bit (the vectors follow SV2.md's tables).
      const header = decodeHeader(bytes);
      const entry = catalogEntry(decoded.value.type);
      assert.deepEqual(messageHeader(decoded.value), { extensionType: header.extensionType, channelMsg: header.channelMsg, msgType: header.msgType });
      assert.equal(entry.msgType, header.msgType);
      assertHex(encodePayload(decoded.value), vector.hex.slice(12), 'payload');
      assert.equal(header.msgLength, bytes.length - 6);
    });
  });

  test('receive leniently: the channel bit is ignored and trailing payload bytes are ignored', () => {
    for (const vector of frames) {
      const bytes = hexToBytes(vector.hex);
      const header = decodeHeader(bytes);
      const payload = bytes.subarray(6);
      const expected = decodeFrameBytes(bytes);
      assert.ok(expected.ok);
      const flipped = decodeMessage({ header: { ...header, channelMsg: !header.channelMsg }, payload });
      assert.ok(flipped.ok, vector.description);
      assert.deepStrictEqual(flipped.value, expected.value);
      const padded = new Uint8Array(payload.length + 3);
      padded.set(payload);
      padded.set([0xde, 0xad, 0xbe], payload.length);
      const trailing = decodeMessage({ header: { ...header, msgLength: padded.length }, payload: padded });
      assert.ok(trailing.ok, vector.description);
      assert.deepStrictEqual(trailing.value, expected.value);
    }
  });

  test('sanity anchors (SV2.md §11): payload sizes', () => {
    const sizes = new Map(frames.map((f) => {
      const r = decodeFrameBytes(hexToBytes(f.hex));
      assert.ok(r.ok);
      return [`${r.value.type}${r.value.type === 'NewMiningJob' && r.value.minNtime !== null ? '+ntime' : ''}`, hexToBytes(f.hex).length - 6];
    }));
    assert.equal(sizes.get('SubmitSharesStandard'), 24);
    assert.equal(sizes.get('SubmitSharesSuccess'), 20);
    assert.equal(sizes.get('SetNewPrevHash'), 48);
    assert.equal(sizes.get('NewMiningJob'), 45);
    assert.equal(sizes.get('NewMiningJob+ntime'), 49);
    assert.equal(sizes.get('OpenStandardMiningChannelSuccess'), 45 + 4);
  });

  test('decoded byte fields are copies: mutating the input does not change them', () => {
    const bytes = hexToBytes(frames.find((f) => f.description.startsWith('SetTarget'))!.hex);
    const r = decodeFrameBytes(bytes);
    assert.ok(r.ok && r.value.type === 'SetTarget');
    bytes.fill(0);
    assert.equal(bytesToHex(r.value.maximumTarget), SHARE_TARGET_LE);
  });
});
