// The prevhash fan-out's shortcuts (docs/performance.md): BroadcastEncoder stamps channel_id and
// job_id into a once-encoded frame, FrameEncryptor.encryptFrameInto seals into a caller's buffer.
// Both must be byte-identical to the plain paths (encodeMessage, encryptFrame), which the codec
// and Noise conformance cases pin to SRI vectors; so must Noise sends into a TransmitArena.
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import { decodeHeader, FRAME_HEADER_BYTES } from '../../core/codec/frame.ts';
import { BroadcastEncoder } from '../../core/gateway/broadcast-encoder.ts';
import { FrameEncryptor, encryptedFrameBytes } from '../../core/noise/transport.ts';
import { nonceBytes } from '../../core/noise/symmetric-state.ts';
import { generateAuthorityKeyPair, NoiseInitiatorConnection, NoiseResponderConnection, ResponderIdentity, TransmitArena } from '../../core/noise/index.ts';
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
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
    test(`${provider.name}: one frame object patched between seals (the broadcast) seals its current bytes every time`, () => {
      // encryptFrameInto keeps the views of the frame it sealed last (transport.ts _frameViews);
      // the encoder patches that same object for the next connection, so each seal must read the
      // patch, and another frame (same length or not, empty or multi-chunk) must not reuse them.
      const encoder = new BroadcastEncoder();
      encoder.encode(job(1, 1, prefixA));
      const big = new Uint8Array(FRAME_HEADER_BYTES + 70_000);
      big.set([0, 0, 0x15, 70_000 & 0xff, (70_000 >>> 8) & 0xff, 70_000 >>> 16], 0);
      big.fill(0x42, FRAME_HEADER_BYTES);
      const empty = Uint8Array.of(0, 0, 0x15, 0, 0, 0);
      for (let ch = 2; ch <= 6; ch++) {
        const frame = encoder.encode(job(ch, 100 + ch, prefixA)); // the shared, patched object
        const sameLength = encodeMessage(job(ch + 50, 7, prefixA));
        for (const f of [frame, sameLength, frame, empty, big, frame]) {
          const key = new Uint8Array(32).fill(ch);
          // Expected from the AEAD itself (SV2.md §3.7: header at nonce 0, chunks of ≤ 65,519
          // at 1, 2, …), not through FrameEncryptor, which would share the views under test.
          const copy = f.slice();
          const pieces = [copy.subarray(0, FRAME_HEADER_BYTES)];
          for (let at = FRAME_HEADER_BYTES; at < copy.length; at += 65_519) pieces.push(copy.subarray(at, Math.min(at + 65_519, copy.length)));
          const expected = pieces.map((piece, n) => bytesToHex(provider.aeadEncrypt(key, nonceBytes(BigInt(n)), new Uint8Array(0), piece))).join('');
          const out = new Uint8Array(encryptedFrameBytes(f.length - FRAME_HEADER_BYTES));
          const written = new FrameEncryptor(provider, key).encryptFrameInto(f, out, 0);
          assert.ok(written.ok);
          assert.equal(bytesToHex(out), expected, `channel ${ch}, frame of ${f.length} bytes`);
        }
      }
    });
    test(`${provider.name}: too small an output buffer is a RangeError`, () => {
      const e = new FrameEncryptor(provider, new Uint8Array(32));
      const frame = encodeMessage(snph(1, 1));
      assert.throws(() => e.encryptFrameInto(frame, new Uint8Array(encryptedFrameBytes(frame.length - FRAME_HEADER_BYTES) - 1), 0), RangeError);
    });
  }
});

describe('TransmitArena (the broadcast\'s shared transmit chunks)', () => {
  test('a region grows in place while it is the last one; otherwise a new region with the bytes copied; a new chunk when full', () => {
    const arena = new TransmitArena(1024);
    const a1 = arena.grow(undefined, 0, 100);
    a1.fill(0xaa);
    const a2 = arena.grow(a1, 100, 300); // still the last region: same memory, longer view
    assert.equal(a2.length, 300);
    assert.equal(a2.buffer, a1.buffer);
    assert.equal(a2.byteOffset, a1.byteOffset);
    assert.ok(a2.subarray(0, 100).every((b) => b === 0xaa));
    const b1 = arena.grow(undefined, 0, 200);
    b1.fill(0xbb);
    assert.equal(b1.byteOffset, a2.byteOffset + 300, 'regions follow each other');
    const a3 = arena.grow(a2, 300, 400); // no longer the last: copied into a fresh region
    assert.notEqual(a3.byteOffset, a2.byteOffset);
    assert.ok(a3.subarray(0, 100).every((b) => b === 0xaa));
    assert.ok(b1.every((b) => b === 0xbb), 'the other region is untouched');
    assert.equal(arena.chunks, 1);
    const c = arena.grow(undefined, 0, 600); // 300 + 200 + 400 + 600 > 1024: next chunk
    assert.equal(arena.chunks, 2);
    assert.equal(c.length, 600);
    const big = arena.grow(undefined, 0, 5000); // larger than a chunk: a chunk of its own size
    assert.equal(big.length, 5000);
    assert.throws(() => new TransmitArena(10), RangeError);
  });

  for (const provider of availableProviders()) {
    test(`${provider.name}: Noise send into an arena gives the same bytes as without, for many connections in turn`, () => {
      // Two identical sets of handshaked pairs (same seed): one seals into an arena, one not.
      const pairs = (salt: number) => {
        const random = new SeededRandom(4242 + salt);
        const clock = new FakeClock({ startMs: 1_000 });
        const authority = generateAuthorityKeyPair(random);
        const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random });
        return Array.from({ length: 3 }, () => {
          const responder = new NoiseResponderConnection({ provider, random, staticKey: identity.staticKey, certificate: identity.certificateAt(Math.floor(clock.wallMs() / 1000)) }, clock.monotonicMs());
          const initiator = new NoiseInitiatorConnection({ provider, random, certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly }, wallClock: clock }, clock.monotonicMs());
          for (let round = 0; round < 4; round++) {
            for (let b = initiator.pollTransmit(); b !== undefined; b = initiator.pollTransmit()) responder.receive(b, clock.monotonicMs());
            for (let b = responder.pollTransmit(); b !== undefined; b = responder.pollTransmit()) initiator.receive(b, clock.monotonicMs());
          }
          assert.equal(responder.state, 'transport');
          return { responder, initiator };
        });
      };
      const plain = pairs(0);
      const arenaPairs = pairs(0);
      const arena = new TransmitArena(1024); // small: the regions cross chunks
      // One pending frame sent before the broadcast (not in the arena), then the broadcast's.
      const before = encodeMessage(snph(9, 9));
      plain[0]!.responder.send(before);
      arenaPairs[0]!.responder.send(before);
      for (let i = 0; i < 3; i++) {
        for (const message of [job(i + 2, 7, prefixA), snph(i + 2, 7), job(i + 2, 8, prefixB, 1_700_000_100)]) {
          plain[i]!.responder.send(encodeMessage(message));
          assert.ok(arenaPairs[i]!.responder.send(encodeMessage(message), arena).ok);
        }
      }
      for (let i = 0; i < 3; i++) {
        const expected = plain[i]!.responder.pollTransmit()!;
        const got = arenaPairs[i]!.responder.pollTransmit()!;
        assert.equal(bytesToHex(got), bytesToHex(expected), `connection ${i}`);
        // And the peer reads it: 3 or 4 frames.
        arenaPairs[i]!.initiator.receive(got, 1_000);
        let frames = 0;
        for (let e = arenaPairs[i]!.initiator.pollEvent(); e !== undefined; e = arenaPairs[i]!.initiator.pollEvent()) if (e.type === 'frame') frames++;
        assert.equal(frames, i === 0 ? 4 : 3);
      }
      assert.ok(arena.chunks >= 2, `regions crossed chunks (${arena.chunks})`);
    });
  }
});
