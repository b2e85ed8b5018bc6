// Noise transport phase (SV2.md §3.7): chunked frame encryption, the encrypted deframer, nonce
// handling and the terminal errors. Every case runs once per available crypto provider.
import fc from 'fast-check';
import { describe, propertyParams, test } from '../../test/harness.ts';
import { assert } from '../../test/assert.ts';
import { availableProviders } from '../../adapters/crypto-native.ts';
import { SeededRandom } from '../../core/random.ts';
import { encodeFrame } from '../../core/codec/frame.ts';
import {
  EncryptedDeframer,
  FrameEncryptor,
  createTransport,
  encryptedFrameBytes,
  nonceBytes,
} from '../../core/noise/index.ts';
import { bytesToHex } from '../../core/bytes.ts';
import type { DeframeResult } from '../../core/codec/frame.ts';

const providers = await availableProviders();
const EMPTY = new Uint8Array(0);

/** Independent statement of the size rule (SV2.md §3.7), not a call into our code. */
function expectedWireBytes(payloadBytes: number): number {
  return 22 + payloadBytes + 16 * Math.ceil(payloadBytes / 65519);
}

function patternPayload(length: number, salt: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + salt) & 0xff;
  return out;
}

function frameOf(payload: Uint8Array, msgType = 0x15): Uint8Array {
  return encodeFrame({ extensionType: 0, channelMsg: true, msgType }, payload);
}

function keyPair(seed: number): Uint8Array {
  return new SeededRandom(seed).fill(new Uint8Array(32));
}

function sealed(encryptor: FrameEncryptor, frame: Uint8Array): Uint8Array {
  const result = encryptor.encryptFrame(frame);
  assert.ok(result.ok, 'encryptFrame failed');
  return result.value;
}

/** Push `wire` in pieces whose sizes cycle through `sizes`; collect every non-need result. */
function deliver(deframer: EncryptedDeframer, wire: Uint8Array, sizes: readonly number[]): DeframeResult[] {
  const results: DeframeResult[] = [];
  let offset = 0;
  let i = 0;
  while (offset < wire.length) {
    const size = Math.max(1, sizes.length === 0 ? wire.length : sizes[i++ % sizes.length]!);
    deframer.push(wire.subarray(offset, offset + size));
    offset += size;
    for (;;) {
      const r = deframer.next();
      if (r.kind === 'need') {
        assert.ok(r.bytes > 0, 'need must ask for at least one byte');
        break;
      }
      results.push(r);
      if (r.kind === 'error') return results;
    }
  }
  return results;
}

const BOUNDARY_LENGTHS = [0, 1, 65_518, 65_519, 65_520, 131_038, 131_039];

for (const provider of providers) {
  describe(`noise transport [${provider.name}]`, () => {
    test('nonce is 00000000 ‖ LE64(n) (SV2.md §3.2)', () => {
      assert.equal(bytesToHex(nonceBytes(0n)), '000000000000000000000000');
      assert.equal(bytesToHex(nonceBytes(1n)), '000000000100000000000000');
      assert.equal(bytesToHex(nonceBytes(0x0102030405060708n)), '000000000807060504030201');
      assert.equal(bytesToHex(nonceBytes(2n ** 64n - 1n)), '00000000ffffffffffffffff');
      assert.throws(() => nonceBytes(2n ** 64n), RangeError);
    });

    test('encrypted sizes are 22 + L + 16·ceil(L/65519) at every chunk boundary', () => {
      const encryptor = new FrameEncryptor(provider, keyPair(1));
      for (const length of BOUNDARY_LENGTHS) {
        const wire = sealed(encryptor, frameOf(patternPayload(length, 7)));
        assert.equal(wire.length, expectedWireBytes(length), `L=${length}`);
        assert.equal(encryptedFrameBytes(length), expectedWireBytes(length), `encryptedFrameBytes(${length})`);
      }
    });

    test('chunk layout: header at n, then ≤65,535-byte chunks at n+1… (decrypted with the raw AEAD)', () => {
      const key = keyPair(2);
      const payload = patternPayload(131_039, 3);
      const frame = frameOf(payload);
      const wire = sealed(new FrameEncryptor(provider, key), frame);
      // Expected split per SV2.md §3.7: 22 | 65,535 | 65,535 | 1 + 16.
      const pieces = [22, 65_535, 65_535, 17];
      assert.equal(pieces.reduce((a, b) => a + b, 0), wire.length);
      let offset = 0;
      const plain: Uint8Array[] = [];
      pieces.forEach((size, n) => {
        const opened = provider.aeadDecrypt(key, nonceBytes(BigInt(n)), EMPTY, wire.subarray(offset, offset + size));
        assert.ok(opened !== null, `piece ${n} must open with nonce ${n} and empty AD`);
        plain.push(opened);
        offset += size;
      });
      assert.deepEqual(plain.map((p) => p.length), [6, 65_519, 65_519, 1]);
      const joined = new Uint8Array(frame.length);
      let at = 0;
      for (const p of plain) {
        joined.set(p, at);
        at += p.length;
      }
      assert.deepEqual(joined, frame);
    });

    test('L = 0: header only, no empty payload block; one nonce per frame', () => {
      const encryptor = new FrameEncryptor(provider, keyPair(4));
      const wire = sealed(encryptor, frameOf(EMPTY));
      assert.equal(wire.length, 22);
      assert.equal(encryptor.nonce, 1n);
      const deframer = new EncryptedDeframer(provider, keyPair(4));
      deframer.push(wire);
      const r = deframer.next();
      assert.equal(r.kind, 'frame');
      if (r.kind === 'frame') assert.equal(r.frame.payload.length, 0);
      assert.equal(deframer.nonce, 1n);
    });

    test('round trip at chunk boundaries, delivered in random-sized pieces (fast-check)', () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...BOUNDARY_LENGTHS),
          fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 12 }),
          fc.integer({ min: 0, max: 255 }),
          (length, sizes, salt) => {
            const key = keyPair(5);
            const encryptor = new FrameEncryptor(provider, key);
            const deframer = new EncryptedDeframer(provider, key);
            const frame = frameOf(patternPayload(length, salt), salt);
            const wire = sealed(encryptor, frame);
            assert.equal(wire.length, expectedWireBytes(length));
            const results = deliver(deframer, wire, sizes);
            assert.equal(results.length, 1);
            const r = results[0]!;
            assert.equal(r.kind, 'frame');
            if (r.kind !== 'frame') return;
            assert.equal(r.frame.header.msgType, salt);
            assert.equal(r.frame.header.channelMsg, true);
            assert.equal(r.frame.header.msgLength, length);
            assert.deepEqual(r.frame.payload, frame.subarray(6));
            assert.equal(deframer.nonce, encryptor.nonce, 'both sides used the same number of nonces');
            assert.equal(deframer.buffered, 0);
          },
        ),
        propertyParams(25),
      );
    });

    test('many frames back to back in one stream, random pieces (fast-check)', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 0, max: 140_000 }), { minLength: 1, maxLength: 5 }),
          fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 8 }),
          (lengths, sizes) => {
            const key = keyPair(6);
            const encryptor = new FrameEncryptor(provider, key);
            const frames = lengths.map((l, i) => frameOf(patternPayload(l, i), i));
            const wires = frames.map((f) => sealed(encryptor, f));
            const stream = new Uint8Array(wires.reduce((a, w) => a + w.length, 0));
            let at = 0;
            for (const w of wires) {
              stream.set(w, at);
              at += w.length;
            }
            const deframer = new EncryptedDeframer(provider, key);
            const results = deliver(deframer, stream, sizes);
            assert.equal(results.length, frames.length);
            results.forEach((r, i) => {
              assert.equal(r.kind, 'frame');
              if (r.kind === 'frame') assert.deepEqual(r.frame.payload, frames[i]!.subarray(6));
            });
            const expectedNonces = lengths.reduce((a, l) => a + 1 + Math.ceil(l / 65519), 0);
            assert.equal(encryptor.nonce, BigInt(expectedNonces));
          },
        ),
        propertyParams(15),
      );
    });

    test('createTransport: initiator sends with k1 and reads k2; the responder mirrors it', () => {
      const keys = { initiatorToResponderKey: keyPair(7), responderToInitiatorKey: keyPair(8) };
      const initiator = createTransport(provider, 'initiator', keys);
      const responder = createTransport(provider, 'responder', keys);
      const up = frameOf(patternPayload(10, 1));
      responder.deframer.push(sealed(initiator.encryptor, up));
      const r1 = responder.deframer.next();
      assert.ok(r1.kind === 'frame');
      const down = frameOf(patternPayload(11, 2));
      const wire = sealed(responder.encryptor, down);
      // k2 really is the responder→initiator key.
      assert.ok(provider.aeadDecrypt(keys.responderToInitiatorKey, nonceBytes(0n), EMPTY, wire.subarray(0, 22)) !== null);
      initiator.deframer.push(wire);
      const r2 = initiator.deframer.next();
      assert.ok(r2.kind === 'frame' && r2.frame.payload.length === 11);
    });

    test('bad MAC: one flipped bit anywhere → decrypt-failed, terminal, nonce not advanced (fast-check)', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 70_000 }),
          fc.nat(),
          fc.integer({ min: 0, max: 7 }),
          (length, position, bit) => {
            const key = keyPair(9);
            const encryptor = new FrameEncryptor(provider, key);
            const wire = sealed(encryptor, frameOf(patternPayload(length, 1)));
            const index = position % wire.length;
            const tampered = Uint8Array.from(wire);
            tampered[index]! ^= 1 << bit;
            const deframer = new EncryptedDeframer(provider, key);
            deframer.push(tampered);
            const r = deframer.next();
            assert.equal(r.kind, 'error');
            if (r.kind !== 'error') return;
            assert.equal(r.error.code, 'decrypt-failed');
            assert.equal(r.error.origin, 'remote');
            // A failed header leaves n at 0; a failed payload chunk leaves n after the header and
            // any earlier chunks (each failed decrypt itself does not advance n).
            const chunkIndex = index < 22 ? -1 : Math.floor((index - 22) / 65_535);
            assert.equal(deframer.nonce, BigInt(chunkIndex + 1));
            const nonceAfterError = deframer.nonce;
            // Later valid bytes are not processed: the error repeats and nothing is buffered.
            const fresh = new EncryptedDeframer(provider, key);
            fresh.push(wire);
            assert.equal(fresh.next().kind, 'frame');
            deframer.push(sealed(encryptor, frameOf(EMPTY)));
            deframer.push(wire);
            assert.deepEqual(deframer.next(), r);
            assert.equal(deframer.buffered, 0);
            assert.equal(deframer.nonce, nonceAfterError);
            assert.equal(deframer.error, r.error);
          },
        ),
        propertyParams(40),
      );
    });

    test('frame over payloadBytesMax is refused from the 22-byte header, before buffering', () => {
      const key = keyPair(10);
      const encryptor = new FrameEncryptor(provider, key);
      const atMax = sealed(encryptor, frameOf(patternPayload(100, 1)));
      const overMax = sealed(encryptor, frameOf(patternPayload(101, 2)));
      const deframer = new EncryptedDeframer(provider, key, { payloadBytesMax: 100 });
      deframer.push(atMax);
      assert.equal(deframer.next().kind, 'frame');
      deframer.push(overMax.subarray(0, 22)); // only the header: refusal must not wait for payload
      const r = deframer.next();
      assert.equal(r.kind, 'error');
      if (r.kind === 'error') assert.equal(r.error.code, 'frame-too-large');
      deframer.push(overMax.subarray(22));
      deframer.push(new Uint8Array(100_000));
      assert.equal(deframer.buffered, 0);
      assert.deepEqual(deframer.next(), r);
    });

    test('frame-too-large also for a 16 MiB announcement with payloadBytesMax 65,536', () => {
      const key = keyPair(11);
      // Header only: encrypt a valid header that announces 2^24−1 bytes, never send the payload.
      const header = encodeFrame({ extensionType: 0, channelMsg: false, msgType: 0x71 }, EMPTY);
      header[3] = 0xff;
      header[4] = 0xff;
      header[5] = 0xff;
      const encHeader = provider.aeadEncrypt(key, nonceBytes(0n), EMPTY, header);
      const deframer = new EncryptedDeframer(provider, key, { payloadBytesMax: 65_536 });
      deframer.push(encHeader);
      const r = deframer.next();
      assert.ok(r.kind === 'error' && r.error.code === 'frame-too-large');
    });

    test('nonce 2^64−1 is never used: encrypt and decrypt refuse with nonce-exhausted', () => {
      const key = keyPair(12);
      const encryptor = new FrameEncryptor(provider, key);
      const deframer = new EncryptedDeframer(provider, key);
      encryptor.setNonce(2n ** 64n - 4n);
      deframer.setNonce(2n ** 64n - 4n);
      // One payload chunk: nonces 2^64−4 and 2^64−3.
      deframer.push(sealed(encryptor, frameOf(patternPayload(5, 1))));
      assert.equal(deframer.next().kind, 'frame');
      // Needs 2^64−2 and 2^64−1: refused up front, counter unchanged, nothing emitted.
      const refused = encryptor.encryptFrame(frameOf(patternPayload(5, 1)));
      assert.ok(!refused.ok && refused.error.code === 'nonce-exhausted' && refused.error.origin === 'local');
      assert.equal(encryptor.nonce, 2n ** 64n - 2n);
      // L = 0 needs one nonce, 2^64−2: still allowed.
      deframer.push(sealed(encryptor, frameOf(EMPTY)));
      assert.equal(deframer.next().kind, 'frame');
      const last = encryptor.encryptFrame(frameOf(EMPTY));
      assert.ok(!last.ok && last.error.code === 'nonce-exhausted');
      // The receiver refuses too, whatever arrives.
      deframer.push(new Uint8Array(22));
      const r = deframer.next();
      assert.ok(r.kind === 'error' && r.error.code === 'nonce-exhausted');
    });

    test('encryptFrame rejects a header that disagrees with the payload (misuse → RangeError)', () => {
      const encryptor = new FrameEncryptor(provider, keyPair(13));
      const frame = frameOf(patternPayload(10, 1));
      assert.throws(() => encryptor.encryptFrame(frame.subarray(0, 12)), /msg_length/);
      assert.throws(() => encryptor.encryptFrame(new Uint8Array(5)), /plaintextFrame/);
      assert.equal(encryptor.nonce, 0n);
    });

    test('arbitrary bytes into the deframer never throw; only need or a terminal error (fast-check)', () => {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 10 }),
          fc.integer({ min: 0, max: 1_000 }),
          (chunks, payloadBytesMax) => {
            const deframer = new EncryptedDeframer(provider, keyPair(14), { payloadBytesMax });
            let total = 0;
            let error: string | undefined;
            for (const chunk of chunks) {
              deframer.push(chunk);
              total += chunk.length;
              const r = deframer.next();
              assert.notEqual(r.kind, 'frame', 'random bytes must not authenticate');
              if (r.kind === 'error') {
                assert.ok(error === undefined || error === r.error.code);
                error = r.error.code;
              }
            }
            if (total >= 22) assert.equal(error, 'decrypt-failed');
            else assert.equal(error, undefined);
          },
        ),
        propertyParams(200),
      );
    });
  });
}
