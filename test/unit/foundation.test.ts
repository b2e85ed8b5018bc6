import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { ByteQueue } from '../../core/byte-queue.ts';
import { Deadlines, FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { PlainDeframer, decodeHeader, encodeFrame, encodeHeader } from '../../core/codec/frame.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';

describe('frame header', () => {
  test('SRI header.rs test_header_from_bytes: 01 02 03 04 05 06', () => {
    const h = decodeHeader(hexToBytes('010203040506'));
    // ext 0x0201 has no channel bit; msg_type 3; length 0x060504.
    assert.deepEqual(h, { extensionType: 0x0201, channelMsg: false, msgType: 3, msgLength: 0x060504 });
    assert.equal(bytesToHex(encodeHeader(h)), '010203040506');
  });
  test('channel bit is bit 7 of byte 1 (SV2.md §1.1): SubmitSharesStandard 00 80 1a 18 00 00', () => {
    const h = decodeHeader(hexToBytes('00801a180000'));
    assert.deepEqual(h, { extensionType: 0, channelMsg: true, msgType: 0x1a, msgLength: 24 });
  });
  test('SRI framing.rs test_size_hint: 00 80 1e 2e 00 00 announces 46 bytes', () => {
    const d = new PlainDeframer();
    d.push(hexToBytes('00801e2e0000'));
    assert.deepEqual(d.next(), { kind: 'need', bytes: 46 });
  });
  test('encodeHeader refuses out-of-range fields with a RangeError naming them', () => {
    assert.throws(() => encodeHeader({ extensionType: 0x8000, channelMsg: false, msgType: 0, msgLength: 0 }), /extensionType/);
    assert.throws(() => encodeHeader({ extensionType: 0, channelMsg: false, msgType: 256, msgLength: 0 }), /msgType/);
    assert.throws(() => encodeHeader({ extensionType: 0, channelMsg: false, msgType: 0, msgLength: 2 ** 24 }), /msgLength/);
  });
});

describe('plain deframer', () => {
  test('byte-by-byte delivery yields the frame only when complete', () => {
    const frame = encodeFrame({ extensionType: 0, channelMsg: false, msgType: 1, }, hexToBytes('020000000000'));
    const d = new PlainDeframer();
    for (let i = 0; i < frame.length - 1; i++) {
      d.push(frame.subarray(i, i + 1));
      assert.equal(d.next().kind, 'need');
    }
    d.push(frame.subarray(frame.length - 1));
    const r = d.next();
    assert.equal(r.kind, 'frame');
    if (r.kind === 'frame') assert.equal(bytesToHex(r.frame.payload), '020000000000');
  });
  test('a length over the maximum is refused before buffering and stays terminal', () => {
    const d = new PlainDeframer({ payloadBytesMax: 100 });
    d.push(hexToBytes('000010650000')); // announces 101 bytes
    const r = d.next();
    assert.equal(r.kind, 'error');
    if (r.kind === 'error') assert.equal(r.error.code, 'frame-too-large');
    d.push(new Uint8Array(1000));
    assert.equal(d.buffered, 0);
    assert.equal(d.next().kind, 'error');
  });
});

describe('byte queue', () => {
  test('take across chunk boundaries', () => {
    const q = new ByteQueue();
    q.push(hexToBytes('0102'));
    q.push(hexToBytes('030405'));
    q.push(hexToBytes('06'));
    assert.equal(bytesToHex(q.peek(4)), '01020304');
    assert.equal(bytesToHex(q.take(3)), '010203');
    assert.equal(bytesToHex(q.take(3)), '040506');
    assert.equal(q.length, 0);
    assert.throws(() => q.take(1), RangeError);
  });
});

describe('fake clock and deadlines', () => {
  test('timers fire in deadline order at exactly their deadline', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    clock.setTimer(50, () => fired.push(`b@${clock.monotonicMs()}`));
    clock.setTimer(49, () => fired.push(`a@${clock.monotonicMs()}`));
    const c = clock.setTimer(51, () => fired.push('cancelled'));
    clock.clearTimer(c);
    clock.advance(49);
    assert.deepEqual(fired, ['a@49']);
    clock.advance(1);
    assert.deepEqual(fired, ['a@49', 'b@50']);
    clock.advance(10);
    assert.deepEqual(fired, ['a@49', 'b@50']);
    assert.throws(() => clock.advanceTo(0), /cannot go back/);
  });
  test('deadline table: re-arming replaces, takeDue is idempotent', () => {
    const d = new Deadlines<'hs' | 'idle'>();
    d.set('hs', 100);
    d.set('idle', 50);
    d.set('idle', 150);
    assert.equal(d.next(), 100);
    assert.deepEqual(d.takeDue(99), []);
    assert.deepEqual(d.takeDue(100), ['hs']);
    assert.deepEqual(d.takeDue(100), []);
    assert.equal(d.next(), 150);
  });
  test('seeded random is reproducible', () => {
    const a = new SeededRandom(42).fill(new Uint8Array(16));
    const b = new SeededRandom(42).fill(new Uint8Array(16));
    const c = new SeededRandom(43).fill(new Uint8Array(16));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });
});
