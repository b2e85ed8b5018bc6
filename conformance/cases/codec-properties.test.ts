// Seeded properties of the codec (fast-check, seed printed by the runner; RG_SEED reproduces):
//  1. decode(encode(m)) deep-equals m for EVERY message type (one arbitrary per message, written
//     here from SV2.md's tables, independent of the codec's field lists);
//  2. arbitrary bytes fed to the PlainDeframer and to decodeMessage for every catalogued
//     (extension, msg_type) never throw, only return errors;
//  3. truncating a valid payload gives `truncated` whose `field` names the cut field.
import fc from 'fast-check';
import { describe, propertyParams, test } from '../../test/harness.ts';
import { assert } from '../../test/assert.ts';
import { fromUtf8, utf8 } from '../../core/bytes.ts';
import {
  CATALOG,
  catalogEntry,
  decodeFrameBytes,
  decodeMessage,
  encodeMessage,
  encodePayload,
  encodeValue,
  PlainDeframer,
  type MessageOfType,
  type MessageType,
  type Sv2Message,
  type Tlv,
} from '../../core/codec/index.ts';

// fast-check 4 builds null-prototype records by default; decoded messages are plain objects and
// deepStrictEqual compares prototypes.
const rec: typeof fc.record = ((model: never, constraints?: object) => fc.record(model, { ...constraints, noNullPrototype: true } as never)) as never;
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff));
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const f32 = fc.float(); // 32-bit floats incl. NaN, ±0, ±Infinity, subnormals
const bool = fc.boolean();
const bytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength });
const u256 = bytes(32, 32);
const b032 = bytes(32);
const b0255 = fc.oneof(bytes(40), bytes(255, 255));
const b064k = fc.oneof(bytes(300), bytes(2000, 1000));
const b016m = bytes(300);
// Valid UTF-8 text of at most 255 bytes (lone surrogates cannot round-trip through UTF-8).
const str0255 = fc
  .oneof(fc.string({ unit: 'binary', maxLength: 63 }), fc.string({ unit: 'binary-ascii', minLength: 255, maxLength: 255 }))
  .filter((s) => utf8(s).length <= 255 && fromUtf8(utf8(s)) === s);
const option = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
const seq0255 = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { maxLength: 12 });
const seq064k = <T>(arb: fc.Arbitrary<T>) => fc.oneof(fc.array(arb, { maxLength: 12 }), fc.array(arb, { minLength: 256, maxLength: 300 }));
const tlvs: fc.Arbitrary<Tlv[]> = fc
  .array(
    fc.oneof(
      rec({ extensionType: fc.constant(2), fieldType: fc.constant(1), value: bytes(32) }),
      rec({ extensionType: fc.integer({ min: 3, max: 0xffff }), fieldType: u8, value: bytes(40) }),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((list) => list.sort((a, b) => a.extensionType - b.extensionType));

type Arbitraries = { readonly [T in MessageType]: fc.Arbitrary<MessageOfType<T>> };
const t = <T extends string>(type: T) => fc.constant(type);

// Typed as a record over every MessageType: a message missing here fails to compile.
const ARBITRARIES: Arbitraries = {
  SetupConnection: rec({
    type: t('SetupConnection'), protocol: u8, minVersion: u16, maxVersion: u16, flags: u32, endpointHost: str0255,
    endpointPort: u16, vendor: str0255, hardwareVersion: str0255, firmware: str0255, deviceId: str0255,
  }),
  SetupConnectionSuccess: rec({ type: t('SetupConnectionSuccess'), usedVersion: u16, flags: u32 }),
  SetupConnectionError: rec({ type: t('SetupConnectionError'), flags: u32, errorCode: str0255 }),
  ChannelEndpointChanged: rec({ type: t('ChannelEndpointChanged'), channelId: u32 }),
  Reconnect: rec({ type: t('Reconnect'), newHost: str0255, newPort: u16 }),
  OpenStandardMiningChannel: rec({ type: t('OpenStandardMiningChannel'), requestId: u32, userIdentity: str0255, nominalHashRate: f32, maxTarget: u256 }),
  OpenStandardMiningChannelSuccess: rec({
    type: t('OpenStandardMiningChannelSuccess'), requestId: u32, channelId: u32, target: u256, extranoncePrefix: b032, groupChannelId: u32,
  }),
  OpenMiningChannelError: rec({ type: t('OpenMiningChannelError'), requestId: u32, errorCode: str0255 }),
  OpenExtendedMiningChannel: rec({
    type: t('OpenExtendedMiningChannel'), requestId: u32, userIdentity: str0255, nominalHashRate: f32, maxTarget: u256, minExtranonceSize: u16,
  }),
  OpenExtendedMiningChannelSuccess: rec({
    type: t('OpenExtendedMiningChannelSuccess'), requestId: u32, channelId: u32, target: u256, extranonceSize: u16, extranoncePrefix: b032, groupChannelId: u32,
  }),
  NewMiningJob: rec({ type: t('NewMiningJob'), channelId: u32, jobId: u32, minNtime: option(u32), version: u32, merkleRoot: u256 }),
  UpdateChannel: rec({ type: t('UpdateChannel'), channelId: u32, nominalHashRate: f32, maximumTarget: u256 }),
  UpdateChannelError: rec({ type: t('UpdateChannelError'), channelId: u32, errorCode: str0255 }),
  CloseChannel: rec({ type: t('CloseChannel'), channelId: u32, reasonCode: str0255 }),
  SetExtranoncePrefix: rec({ type: t('SetExtranoncePrefix'), channelId: u32, extranoncePrefix: b032 }),
  SubmitSharesStandard: rec({ type: t('SubmitSharesStandard'), channelId: u32, sequenceNumber: u32, jobId: u32, nonce: u32, ntime: u32, version: u32 }),
  SubmitSharesExtended: rec(
    { type: t('SubmitSharesExtended'), channelId: u32, sequenceNumber: u32, jobId: u32, nonce: u32, ntime: u32, version: u32, extranonce: b032, tlvs },
    { requiredKeys: ['type', 'channelId', 'sequenceNumber', 'jobId', 'nonce', 'ntime', 'version', 'extranonce'] },
  ),
  SubmitSharesSuccess: rec({ type: t('SubmitSharesSuccess'), channelId: u32, lastSequenceNumber: u32, newSubmitsAcceptedCount: u32, newSharesSum: u64 }),
  SubmitSharesError: rec({ type: t('SubmitSharesError'), channelId: u32, sequenceNumber: u32, errorCode: str0255 }),
  NewExtendedMiningJob: rec({
    type: t('NewExtendedMiningJob'), channelId: u32, jobId: u32, minNtime: option(u32), version: u32, versionRollingAllowed: bool,
    merklePath: seq0255(u256), coinbaseTxPrefix: b064k, coinbaseTxSuffix: b064k,
  }),
  SetNewPrevHash: rec({ type: t('SetNewPrevHash'), channelId: u32, jobId: u32, prevHash: u256, minNtime: u32, nbits: u32 }),
  SetTarget: rec({ type: t('SetTarget'), channelId: u32, maximumTarget: u256 }),
  SetCustomMiningJob: rec({
    type: t('SetCustomMiningJob'), channelId: u32, requestId: u32, miningJobToken: b0255, version: u32, prevHash: u256, minNtime: u32, nbits: u32,
    coinbaseTxVersion: u32, coinbasePrefix: b0255, coinbaseTxInputNSequence: u32, coinbaseTxOutputs: b064k, coinbaseTxLocktime: u32, merklePath: seq0255(u256),
  }),
  SetCustomMiningJobSuccess: rec({ type: t('SetCustomMiningJobSuccess'), channelId: u32, requestId: u32, jobId: u32 }),
  SetCustomMiningJobError: rec({ type: t('SetCustomMiningJobError'), channelId: u32, requestId: u32, errorCode: str0255 }),
  SetGroupChannel: rec({ type: t('SetGroupChannel'), groupChannelId: u32, channelIds: seq064k(u32) }),
  AllocateMiningJobToken: rec({ type: t('AllocateMiningJobToken'), userIdentifier: str0255, requestId: u32 }),
  AllocateMiningJobTokenSuccess: rec({ type: t('AllocateMiningJobTokenSuccess'), requestId: u32, miningJobToken: b0255, coinbaseTxOutputs: b064k }),
  ProvideMissingTransactions: rec({ type: t('ProvideMissingTransactions'), requestId: u32, unknownTxPositionList: seq064k(u16) }),
  ProvideMissingTransactionsSuccess: rec({ type: t('ProvideMissingTransactionsSuccess'), requestId: u32, transactionList: seq0255(b016m) }),
  DeclareMiningJob: rec({
    type: t('DeclareMiningJob'), requestId: u32, miningJobToken: b0255, version: u32, coinbaseTxPrefix: b064k, coinbaseTxSuffix: b064k,
    wtxidList: seq064k(u256), excessData: b064k,
  }),
  DeclareMiningJobSuccess: rec({ type: t('DeclareMiningJobSuccess'), requestId: u32, newMiningJobToken: b0255 }),
  DeclareMiningJobError: rec({ type: t('DeclareMiningJobError'), requestId: u32, errorCode: str0255, errorDetails: b064k }),
  PushSolution: rec({ type: t('PushSolution'), extranonce: b032, prevHash: u256, nonce: u32, ntime: u32, nbits: u32, version: u32 }),
  CoinbaseOutputConstraints: rec({ type: t('CoinbaseOutputConstraints'), coinbaseOutputMaxAdditionalSize: u32, coinbaseOutputMaxAdditionalSigops: u16 }),
  NewTemplate: rec({
    type: t('NewTemplate'), templateId: u64, futureTemplate: bool, version: u32, coinbaseTxVersion: u32, coinbasePrefix: b0255,
    coinbaseTxInputSequence: u32, coinbaseTxValueRemaining: u64, coinbaseTxOutputsCount: u32, coinbaseTxOutputs: b064k,
    coinbaseTxLocktime: u32, merklePath: seq0255(u256),
  }),
  SetNewPrevHashTdp: rec({ type: t('SetNewPrevHashTdp'), templateId: u64, prevHash: u256, headerTimestamp: u32, nBits: u32, target: u256 }),
  RequestTransactionData: rec({ type: t('RequestTransactionData'), templateId: u64 }),
  RequestTransactionDataSuccess: rec({ type: t('RequestTransactionDataSuccess'), templateId: u64, excessData: b064k, transactionList: seq0255(b016m) }),
  RequestTransactionDataError: rec({ type: t('RequestTransactionDataError'), templateId: u64, errorCode: str0255 }),
  SubmitSolution: rec({ type: t('SubmitSolution'), templateId: u64, version: u32, headerTimestamp: u32, headerNonce: u32, coinbaseTx: b064k }),
  RequestExtensions: rec({ type: t('RequestExtensions'), requestId: u16, requestedExtensions: seq064k(u16) }),
  RequestExtensionsSuccess: rec({ type: t('RequestExtensionsSuccess'), requestId: u16, supportedExtensions: seq064k(u16) }),
  RequestExtensionsError: rec({ type: t('RequestExtensionsError'), requestId: u16, unsupportedExtensions: seq064k(u16), requiredExtensions: seq064k(u16) }),
};

const anyMessage: fc.Arbitrary<Sv2Message> = fc.oneof(...(Object.values(ARBITRARIES) as fc.Arbitrary<Sv2Message>[]));

/** Extensions to declare negotiated so that a message's TLVs are decoded back. */
function negotiatedFor(m: Sv2Message): number[] {
  return m.type === 'SubmitSharesExtended' && m.tlvs ? [...new Set(m.tlvs.map((x) => x.extensionType))] : [];
}

const KNOWN_DECODE_ERRORS = new Set(['truncated', 'invalid-length', 'invalid-option', 'unknown-message']);

describe('codec properties (fast-check)', () => {
  test('every catalogued message type has an arbitrary and vice versa', () => {
    assert.deepEqual(Object.keys(ARBITRARIES).sort(), CATALOG.map((e) => e.type).sort());
  });

  for (const entry of CATALOG) {
    const type = entry.type;
    test(`decode(encode(m)) deep-equals m: ${type}`, () => {
      fc.assert(
        fc.property(ARBITRARIES[type] as fc.Arbitrary<Sv2Message>, (m) => {
          const frame = encodeMessage(m);
          const decoded = decodeFrameBytes(frame, { negotiatedExtensions: negotiatedFor(m) });
          assert.ok(decoded.ok, decoded.ok ? '' : `${decoded.error.code} ${decoded.error.field}`);
          assert.deepStrictEqual(decoded.value, m);
          // The header carries the catalog's numbers and channel bit.
          assert.equal(frame[2], entry.msgType);
          assert.equal((frame[0]! | (frame[1]! << 8)) & 0x7fff, entry.extensionType);
          assert.equal((frame[1]! & 0x80) !== 0, entry.channelMsg);
        }),
        propertyParams(100),
      );
    });
  }

  test('arbitrary payloads for every catalogued (extension, msg_type) never throw, only return errors', () => {
    const entryArb = fc.constantFrom(...CATALOG);
    fc.assert(
      fc.property(entryArb, bytes(400), fc.boolean(), fc.array(u16, { maxLength: 3 }), (entry, payload, channelMsg, negotiated) => {
        const header = { extensionType: entry.extensionType, channelMsg, msgType: entry.msgType, msgLength: payload.length };
        const r = decodeMessage({ header, payload }, { negotiatedExtensions: negotiated });
        if (!r.ok) {
          assert.ok(KNOWN_DECODE_ERRORS.has(r.error.code), r.error.code);
          assert.equal(r.error.origin, 'remote');
          assert.ok(r.error.field?.startsWith(`${entry.type}.`), `field ${r.error.field}`);
        } else {
          assert.equal(r.value.type, entry.type);
        }
      }),
      propertyParams(2000),
    );
  });

  test('arbitrary (extension, msg_type, payload) never throws; unknown ones are unknown-message', () => {
    fc.assert(
      fc.property(u16, u8, bytes(200), (ext, msgType, payload) => {
        const header = { extensionType: ext & 0x7fff, channelMsg: (ext & 0x8000) !== 0, msgType, msgLength: payload.length };
        const r = decodeMessage({ header, payload });
        const known = CATALOG.some((e) => e.extensionType === (ext & 0x7fff) && e.msgType === msgType);
        if (!known) assert.equal(!r.ok && r.error.code, 'unknown-message');
      }),
      propertyParams(2000),
    );
  });

  test('arbitrary bytes through PlainDeframer then decodeMessage never throw', () => {
    fc.assert(
      fc.property(fc.array(bytes(64), { maxLength: 20 }), fc.integer({ min: 0, max: 300 }), (chunks, payloadBytesMax) => {
        const deframer = new PlainDeframer({ payloadBytesMax });
        for (const chunk of chunks) {
          deframer.push(chunk);
          for (;;) {
            const r = deframer.next();
            if (r.kind === 'need') break;
            if (r.kind === 'error') return;
            decodeMessage(r.frame, { negotiatedExtensions: [2] });
            decodeFrameBytes(r.frame.payload);
          }
        }
      }),
      propertyParams(1000),
    );
  });

  test('valid frames split at random points come out of PlainDeframer intact', () => {
    fc.assert(
      fc.property(fc.array(anyMessage, { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (messages, cuts) => {
        const stream = messages.map(encodeMessage);
        const all = new Uint8Array(stream.reduce((n, f) => n + f.length, 0));
        let at = 0;
        for (const f of stream) {
          all.set(f, at);
          at += f.length;
        }
        const deframer = new PlainDeframer();
        const out: Sv2Message[] = [];
        let offset = 0;
        let i = 0;
        while (offset < all.length) {
          const n = cuts[i++ % cuts.length]!;
          deframer.push(all.subarray(offset, offset + n));
          offset += n;
          for (let r = deframer.next(); r.kind === 'frame'; r = deframer.next()) {
            const m = messages[out.length]!;
            const d = decodeMessage(r.frame, { negotiatedExtensions: negotiatedFor(m) });
            assert.ok(d.ok);
            out.push(d.value);
          }
        }
        assert.deepStrictEqual(out, messages);
      }),
      propertyParams(200),
    );
  });

  test('truncating a valid payload gives `truncated` naming the cut field', () => {
    const withoutTlvs = anyMessage.map((m) => (m.type === 'SubmitSharesExtended' ? { ...m, tlvs: undefined } : m)).map((m) => {
      if ('tlvs' in m && m.tlvs === undefined) {
        const { tlvs: _drop, ...rest } = m;
        return rest as Sv2Message;
      }
      return m;
    });
    fc.assert(
      fc.property(withoutTlvs, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (m, fraction) => {
        const payload = encodePayload(m);
        const cut = Math.floor(fraction * payload.length);
        // Where each field starts and ends, from the catalog's field list.
        const entry = catalogEntry(m.type);
        let start = 0;
        let expected = '';
        for (let i = 0; i < entry.codec.fields.length; i++) {
          const [key, , type] = entry.codec.fields[i]!;
          const end = start + encodeValue(type, (m as unknown as Record<string, unknown>)[key]).length;
          if (cut >= start && cut < end) {
            expected = entry.codec.fieldNames[i]!;
            break;
          }
          start = end;
        }
        const r = decodeMessage({ header: { ...entry, msgLength: cut }, payload: payload.slice(0, cut) });
        assert.ok(!r.ok, `${m.type} cut at ${cut}/${payload.length} decoded`);
        assert.equal(r.error.code, 'truncated');
        assert.equal(r.error.field, expected);
        assert.ok(expected.startsWith(`${m.type}.`));
      }),
      propertyParams(1000),
    );
  });
});
