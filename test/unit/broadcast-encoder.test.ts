// The prevhash fan-out's shortcuts (docs/performance.md): BroadcastEncoder stamps channel_id and
// job_id into a once-encoded frame, FrameEncryptor.encryptFrameInto seals into a caller's buffer.
// Both must be byte-identical to the plain paths (encodeMessage, encryptFrame), which the codec
// and Noise conformance cases pin to SRI vectors.
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import { decodeHeader, FRAME_HEADER_BYTES } from '../../core/codec/frame.ts';
import { BroadcastEncoder } from '../../core/gateway/broadcast-encoder.ts';
import { FrameEncryptor, encryptedFrameBytes } from '../../core/noise/transport.ts';
import { availableProviders } from '../../adapters/crypto-native.ts';

const prefixA = new Uint8Array(40).fill(0xa1);
const prefixB = new Uint8Array(44).fill(0xb2); // another extranonce length: other coinbase parts
const suffix = new Uint8Array(90).fill(0x5e);
const path = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
const prevHash = new Uint8Array(32).fill(0xcc);

function job(channelId: number, jobId: number, prefix: Uint8Array, minNtime: number | null = null): Sv2Message {
  return { type: 'NewExtendedMiningJob', channelId, jobId, minNtime, version: 0x20000000, versionRollingAllowed: true, merklePath: path, coinbaseTxPrefix: prefix, coinbaseTxSuffix: suffix };
}
function snph(channelId: number, jobId: number, minNtime = 1_700_000_000): Sv2Message {
  return { type: 'SetNewPrevHash', channelId, jobId, prevHash, minNtime, nbits: 0x1d00ffff };
}

describe('BroadcastEncoder', () => {
  test('every frame equals encodeMessage, across channels, job ids, extranonce lengths and min_ntime', () => {
    const encoder = new BroadcastEncoder();
    const messages: Sv2Message[] = [];
    for (let ch = 1; ch <= 6; ch++) {
      const id = (ch * 0x01020304) >>> 0; // all four bytes of both fields vary
      messages.push(job(ch, id, ch % 2 === 0 ? prefixA : prefixB), snph(ch, id), job(0xffffffff - ch, id + 1, prefixA, 1_700_000_123), snph(ch, id, 5));
    }
    messages.push({ type: 'SetTarget', channelId: 3, maximumTarget: new Uint8Array(32).fill(0xff) });
    for (const message of messages) assert.equal(bytesToHex(encoder.encode(message)), bytesToHex(encodeMessage(message)), `${message.type} ${JSON.stringify((message as { channelId: number }).channelId)}`);
  });
  test('a stamped frame decodes to the message it was asked for', () => {
    const encoder = new BroadcastEncoder();
    encoder.encode(job(1, 1, prefixA));
    const frame = encoder.encode(job(77, 0xdeadbeef, prefixA));
    const decoded = decodeMessage({ header: decodeHeader(frame), payload: frame.subarray(FRAME_HEADER_BYTES) });
    assert.ok(decoded.ok);
    assert.equal((decoded.value as { channelId: number }).channelId, 77);
    assert.equal((decoded.value as { jobId: number }).jobId, 0xdeadbeef);
  });
});

describe('FrameEncryptor.encryptFrameInto', () => {
  for (const provider of availableProviders()) {
    test(`${provider.name}: same bytes as encryptFrame, at an offset, nonces advance alike`, () => {
      const key = new Uint8Array(32).fill(9);
      const a = new FrameEncryptor(provider, key);
      const b = new FrameEncryptor(provider, key);
      for (const message of [job(1, 2, prefixA), snph(1, 2), { type: 'SetTarget', channelId: 1, maximumTarget: new Uint8Array(32) } as Sv2Message]) {
        const frame = encodeMessage(message);
        const expected = a.encryptFrame(frame);
        assert.ok(expected.ok);
        const out = new Uint8Array(encryptedFrameBytes(frame.length - FRAME_HEADER_BYTES) + 5);
        const written = b.encryptFrameInto(frame, out, 5);
        assert.ok(written.ok);
        assert.equal(written.value, expected.value.length);
        assert.equal(bytesToHex(out.subarray(5)), bytesToHex(expected.value));
        assert.equal(bytesToHex(out.subarray(0, 5)), '0000000000');
      }
      assert.equal(a.nonce, b.nonce);
    });
    test(`${provider.name}: too small an output buffer is a RangeError`, () => {
      const e = new FrameEncryptor(provider, new Uint8Array(32));
      const frame = encodeMessage(snph(1, 1));
      assert.throws(() => e.encryptFrameInto(frame, new Uint8Array(encryptedFrameBytes(frame.length - FRAME_HEADER_BYTES) - 1), 0), RangeError);
    });
  }
});
