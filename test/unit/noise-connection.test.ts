// Sans-IO Noise connections driven in memory (STYLE.md #1): initiator ⇄ responder handshakes with
// random keys, frames both ways, the handshake timeout on a FakeClock, certificate failures,
// terminal errors, and arbitrary bytes. Every case runs once per available crypto provider.
import fc from 'fast-check';
import { describe, propertyParams, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { availableProviders } from '../../adapters/crypto-native.ts';
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { encodeFrame } from '../../core/codec/frame.ts';
import { protocolError } from '../../core/errors.ts';
import {
  HANDSHAKE_TIMEOUT_MS_DEFAULT,
  NoiseInitiatorConnection,
  NoiseResponderConnection,
  ResponderIdentity,
  generateAuthorityKeyPair,
  verifyCertificate,
  type CertificatePolicy,
  type NoiseEvent,
} from '../../core/noise/index.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';

const providers = await availableProviders();

type Connection = NoiseInitiatorConnection | NoiseResponderConnection;

interface World {
  readonly clock: FakeClock;
  readonly random: SeededRandom;
  readonly authority: ReturnType<typeof generateAuthorityKeyPair>;
  readonly identity: ResponderIdentity;
}

function world(salt: number, options: { validitySecs?: number; backdateSecs?: number } = {}): World {
  const clock = new FakeClock({ startMs: 5_000 });
  const random = new SeededRandom(seed + salt);
  const authority = generateAuthorityKeyPair(random);
  const identity = new ResponderIdentity({
    authoritySecretKey: authority.secretKey,
    validitySecs: options.validitySecs ?? 3600,
    backdateSecs: options.backdateSecs ?? 300,
    random,
  });
  return { clock, random, authority, identity };
}

function nowS(clock: FakeClock): number {
  return Math.floor(clock.wallMs() / 1000);
}

function makeResponder(provider: CryptoProvider, w: World, extra: { payloadBytesMax?: number; handshakeTimeoutMs?: number } = {}) {
  return new NoiseResponderConnection(
    {
      provider,
      random: w.random,
      staticKey: w.identity.staticKey,
      certificate: w.identity.certificateAt(nowS(w.clock)),
      ...extra,
    },
    w.clock.monotonicMs(),
  );
}

function makeInitiator(
  provider: CryptoProvider,
  w: World,
  extra: { payloadBytesMax?: number; handshakeTimeoutMs?: number; certificatePolicy?: CertificatePolicy } = {},
) {
  return new NoiseInitiatorConnection(
    {
      provider,
      random: w.random,
      certificatePolicy: extra.certificatePolicy ?? { kind: 'pinned', authorityXOnly: w.authority.publicKeyXOnly },
      wallClock: w.clock,
      ...(extra.payloadBytesMax === undefined ? {} : { payloadBytesMax: extra.payloadBytesMax }),
      ...(extra.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: extra.handshakeTimeoutMs }),
    },
    w.clock.monotonicMs(),
  );
}

/** Move every pending byte both ways, optionally in pieces, until both sides are quiet. */
function pump(a: Connection, b: Connection, nowMs: number, pieces?: () => number): void {
  for (let round = 0; round < 100; round++) {
    let moved = false;
    for (const [from, to] of [[a, b], [b, a]] as const) {
      for (let bytes = from.pollTransmit(); bytes !== undefined; bytes = from.pollTransmit()) {
        moved = true;
        if (pieces === undefined) {
          to.receive(bytes, nowMs);
        } else {
          for (let offset = 0; offset < bytes.length; ) {
            const size = Math.max(1, pieces());
            to.receive(bytes.subarray(offset, offset + size), nowMs);
            offset += size;
          }
        }
      }
    }
    if (!moved) return;
  }
  throw new Error('pump did not settle');
}

function drain(connection: Connection): NoiseEvent[] {
  const events: NoiseEvent[] = [];
  for (let e = connection.pollEvent(); e !== undefined; e = connection.pollEvent()) events.push(e);
  return events;
}

function frameOf(msgType: number, payload: Uint8Array): Uint8Array {
  return encodeFrame({ extensionType: 0, channelMsg: false, msgType }, payload);
}

function patternPayload(length: number, salt: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + salt) & 0xff;
  return out;
}

function handshaken(provider: CryptoProvider, w: World, extra: { payloadBytesMax?: number } = {}) {
  const responder = makeResponder(provider, w, extra);
  const initiator = makeInitiator(provider, w, extra);
  pump(initiator, responder, w.clock.monotonicMs());
  const r = drain(responder);
  const i = drain(initiator);
  assert.equal(r[0]?.type, 'handshake-complete');
  assert.equal(i[0]?.type, 'handshake-complete');
  return { responder, initiator };
}

function assertClosed(connection: Connection, code: string, origin?: 'local' | 'remote'): void {
  assert.equal(connection.state, 'closed');
  assert.equal(connection.error?.code, code);
  if (origin !== undefined) assert.equal(connection.error?.origin, origin);
  assert.equal(connection.nextDeadlineMs(), undefined);
}

for (const provider of providers) {
  describe(`noise connection [${provider.name}]`, () => {
    test('handshake both ways with random keys, then frames in both directions', () => {
      const w = world(1);
      const responder = makeResponder(provider, w);
      const initiator = makeInitiator(provider, w);
      assert.equal(responder.state, 'handshake');
      assert.equal(initiator.state, 'handshake');
      assert.equal(responder.pollTransmit(), undefined, 'the responder never speaks first');
      const act1 = initiator.pollTransmit()!;
      assert.equal(act1.length, 64);
      responder.receive(act1, w.clock.monotonicMs());
      const act2 = responder.pollTransmit()!;
      assert.equal(act2.length, 234);
      initiator.receive(act2, w.clock.monotonicMs());
      const [rDone] = drain(responder);
      const [iDone] = drain(initiator);
      assert.ok(rDone?.type === 'handshake-complete' && iDone?.type === 'handshake-complete');
      assert.deepEqual(rDone.handshakeHash, iDone.handshakeHash);
      assert.equal(iDone.certificateVerified, true);
      assert.deepEqual(iDone.responderStaticXOnly, w.identity.staticXOnly);
      assert.equal(responder.state, 'transport');
      assert.equal(initiator.state, 'transport');
      assert.equal(responder.nextDeadlineMs(), undefined);
      assert.equal(initiator.nextDeadlineMs(), undefined);

      const up = [frameOf(0x00, patternPayload(40, 1)), frameOf(0x10, patternPayload(0, 0)), frameOf(0x11, patternPayload(70_000, 2))];
      const down = [frameOf(0x01, patternPayload(12, 3)), frameOf(0x12, patternPayload(131_039, 4))];
      for (const f of up) assert.ok(initiator.send(f).ok);
      for (const f of down) assert.ok(responder.send(f).ok);
      pump(initiator, responder, w.clock.monotonicMs());
      const received = (events: NoiseEvent[]) => events.map((e) => (e.type === 'frame' ? encodeFrame(e.frame.header, e.frame.payload) : e.type));
      assert.deepEqual(received(drain(responder)), up);
      assert.deepEqual(received(drain(initiator)), down);
    });

    test('handshake and frames survive random-sized delivery (fast-check)', () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 10 }), fc.nat(), (sizes, salt) => {
          const w = world(2 + (salt % 3));
          const responder = makeResponder(provider, w);
          const initiator = makeInitiator(provider, w);
          let i = 0;
          const pieces = () => sizes[i++ % sizes.length]!;
          pump(initiator, responder, w.clock.monotonicMs(), pieces);
          assert.equal(drain(responder)[0]?.type, 'handshake-complete');
          assert.equal(drain(initiator)[0]?.type, 'handshake-complete');
          const frame = frameOf(0x1a, patternPayload(salt % 2000, salt));
          assert.ok(initiator.send(frame).ok);
          assert.ok(responder.send(frame).ok);
          pump(initiator, responder, w.clock.monotonicMs(), pieces);
          for (const side of [responder, initiator]) {
            const events = drain(side);
            assert.equal(events.length, 1);
            assert.ok(events[0]!.type === 'frame');
            assert.deepEqual(encodeFrame(events[0]!.frame.header, events[0]!.frame.payload), frame);
          }
        }),
        propertyParams(15),
      );
    });

    test('handshake timeout on FakeClock: nothing at timeout−1, handshake-timeout at timeout', () => {
      for (const make of [makeResponder, makeInitiator] as const) {
        const w = world(3);
        const timeoutMs = 7_000;
        const start = w.clock.monotonicMs();
        const connection = make(provider, w, { handshakeTimeoutMs: timeoutMs });
        assert.equal(connection.nextDeadlineMs(), start + timeoutMs);
        // Drive it the way an adapter does: one timer at the reported deadline.
        let fired = 0;
        w.clock.setTimer(connection.nextDeadlineMs()! - w.clock.monotonicMs(), () => {
          fired++;
          connection.onTimeout(w.clock.monotonicMs());
        });
        connection.onTimeout(start); // early: harmless
        w.clock.advance(timeoutMs - 1);
        connection.onTimeout(w.clock.monotonicMs());
        assert.equal(fired, 0);
        assert.equal(connection.state, 'handshake');
        assert.equal(connection.error, undefined);
        w.clock.advance(1);
        assert.equal(fired, 1);
        assertClosed(connection, 'handshake-timeout', 'local');
        const error = connection.error;
        connection.onTimeout(w.clock.monotonicMs()); // twice: harmless
        connection.onTimeout(w.clock.monotonicMs() + 1e6);
        assert.equal(connection.error, error, 'same error object');
        const events = drain(connection);
        assert.deepEqual(events, [{ type: 'closed', error }]);
      }
    });

    test('default handshake timeout is 10 s; a completed handshake has no deadline', () => {
      const w = world(4);
      const responder = makeResponder(provider, w);
      assert.equal(HANDSHAKE_TIMEOUT_MS_DEFAULT, 10_000);
      assert.equal(responder.nextDeadlineMs(), w.clock.monotonicMs() + 10_000);
      const { responder: done } = handshaken(provider, w);
      done.onTimeout(w.clock.monotonicMs() + 1e9);
      assert.equal(done.state, 'transport');
    });

    test('bytes arriving after the deadline (driver late with onTimeout) do not finish the handshake', () => {
      const w = world(5);
      const responder = makeResponder(provider, w, { handshakeTimeoutMs: 100 });
      const initiator = makeInitiator(provider, w);
      responder.receive(initiator.pollTransmit()!, w.clock.monotonicMs() + 100);
      assertClosed(responder, 'handshake-timeout', 'local');
      assert.equal(responder.pollTransmit(), undefined, 'no act 2 after the deadline');
    });

    test('wrong authority key pinned → invalid-certificate; the initiator closes', () => {
      const w = world(6);
      const other = generateAuthorityKeyPair(w.random);
      const responder = makeResponder(provider, w);
      const initiator = makeInitiator(provider, w, { certificatePolicy: { kind: 'pinned', authorityXOnly: other.publicKeyXOnly } });
      pump(initiator, responder, w.clock.monotonicMs());
      // The code is the one verifyCertificate gives for a signature by another key.
      const direct = verifyCertificate(w.identity.certificateAt(nowS(w.clock)), w.identity.staticXOnly, other.publicKeyXOnly, nowS(w.clock));
      assert.ok(!direct.ok);
      assertClosed(initiator, direct.error.code, 'remote');
      assert.equal(direct.error.code, 'invalid-certificate');
      assert.deepEqual(drain(initiator), [{ type: 'closed', error: initiator.error }]);
      // send on a closed connection returns the terminal error instead of throwing.
      const sent = initiator.send(frameOf(0, new Uint8Array(0)));
      assert.ok(!sent.ok && sent.error === initiator.error);
    });

    test('expired certificate → certificate-expired; not yet valid → certificate-not-yet-valid', () => {
      const w = world(7, { validitySecs: 60, backdateSecs: 0 });
      const certificate = w.identity.certificateAt(nowS(w.clock)); // valid [now, now + 60]
      w.clock.advance(71_000); // beyond not_valid_after + 10 s leeway
      const responder = new NoiseResponderConnection(
        { provider, random: w.random, staticKey: w.identity.staticKey, certificate },
        w.clock.monotonicMs(),
      );
      const initiator = makeInitiator(provider, w);
      pump(initiator, responder, w.clock.monotonicMs());
      assertClosed(initiator, 'certificate-expired', 'remote');

      const w2 = world(8, { validitySecs: 60, backdateSecs: 0 });
      const late = new FakeClock({ startMs: 5_000, wallOriginMs: w2.clock.wallMs() - 5_000 - 11_000 });
      const responder2 = makeResponder(provider, w2);
      const initiator2 = new NoiseInitiatorConnection(
        { provider, random: w2.random, certificatePolicy: { kind: 'pinned', authorityXOnly: w2.authority.publicKeyXOnly }, wallClock: late },
        late.monotonicMs(),
      );
      pump(initiator2, responder2, late.monotonicMs());
      assertClosed(initiator2, 'certificate-not-yet-valid', 'remote');
    });

    test('explicit unverified policy (SRI without an authority key) completes and says so', () => {
      const w = world(9);
      const responder = makeResponder(provider, w);
      const initiator = makeInitiator(provider, w, { certificatePolicy: { kind: 'unverified' } });
      pump(initiator, responder, w.clock.monotonicMs());
      const [done] = drain(initiator);
      assert.ok(done?.type === 'handshake-complete');
      assert.equal(done.certificateVerified, false);
      assert.equal(done.certificate?.version, 0);
      assert.throws(
        () => new NoiseInitiatorConnection({ provider, random: w.random, certificatePolicy: { kind: 'pinned', authorityXOnly: w.authority.publicKeyXOnly } }, 0),
        /wallClock/,
      );
    });

    test('bad MAC after the handshake → decrypt-failed; later valid bytes are not processed', () => {
      const w = world(10);
      const { responder, initiator } = handshaken(provider, w);
      assert.ok(initiator.send(frameOf(0x1a, patternPayload(30, 1))).ok);
      assert.ok(initiator.send(frameOf(0x1a, patternPayload(30, 2))).ok);
      const wire = initiator.pollTransmit()!;
      const firstFrameBytes = 22 + 30 + 16;
      const tampered = Uint8Array.from(wire.subarray(0, firstFrameBytes));
      tampered[30]! ^= 0x80; // inside the first payload chunk
      responder.receive(tampered, w.clock.monotonicMs());
      assertClosed(responder, 'decrypt-failed', 'remote');
      const error = responder.error;
      responder.receive(wire.subarray(firstFrameBytes), w.clock.monotonicMs());
      responder.receive(wire, w.clock.monotonicMs());
      assert.deepEqual(drain(responder), [{ type: 'closed', error }]);
      assert.equal(responder.error, error);
      const sent = responder.send(frameOf(0x1b, new Uint8Array(0)));
      assert.ok(!sent.ok && sent.error === error, 'send after close returns the terminal error');
    });

    test('frame over the configured payloadBytesMax → frame-too-large from the header alone', () => {
      const w = world(11);
      const { responder, initiator } = handshaken(provider, w, { payloadBytesMax: 1_000 });
      assert.ok(initiator.send(frameOf(0x1a, patternPayload(1_000, 1))).ok);
      assert.ok(initiator.send(frameOf(0x1a, patternPayload(1_001, 1))).ok);
      const wire = initiator.pollTransmit()!;
      const first = 22 + 1_000 + 16;
      responder.receive(wire.subarray(0, first + 22), w.clock.monotonicMs());
      const events = drain(responder);
      assert.equal(events[0]?.type, 'frame');
      assert.ok(events[1]?.type === 'closed' && events[1].error.code === 'frame-too-large');
      assertClosed(responder, 'frame-too-large', 'remote');
    });

    test('local close is terminal and consistent; queued bytes stay pollable', () => {
      const w = world(12);
      const { responder } = handshaken(provider, w);
      assert.ok(responder.send(frameOf(0x03, patternPayload(5, 1))).ok);
      const reason = protocolError('setup-connection-error', 'local', 'sent SetupConnection.Error');
      responder.close(reason);
      responder.close(); // second close keeps the first error
      assert.equal(responder.error, reason);
      assert.equal(responder.pollTransmit()?.length, 22 + 5 + 16);
      assert.deepEqual(drain(responder), [{ type: 'closed', error: reason }]);
    });

    test('send before the handshake is misuse (TypeError)', () => {
      const w = world(13);
      assert.throws(() => makeResponder(provider, w).send(frameOf(0, new Uint8Array(0))), TypeError);
      assert.throws(() => makeInitiator(provider, w).send(frameOf(0, new Uint8Array(0))), TypeError);
    });

    test('arbitrary bytes into a fresh responder never throw (fast-check)', () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 120 }), { maxLength: 6 }), (chunks) => {
          const w = world(14);
          const responder = makeResponder(provider, w);
          let total = 0;
          for (const chunk of chunks) {
            responder.receive(chunk, w.clock.monotonicMs());
            total += chunk.length;
          }
          // Every 64-byte act 1 is valid (SV2.md §3.3): the handshake completes; anything after it
          // is a transport frame whose MAC cannot verify.
          if (total < 64) assert.equal(responder.state, 'handshake');
          else if (total < 64 + 22) assert.equal(responder.state, 'transport');
          else assertClosed(responder, 'decrypt-failed', 'remote');
          const events = drain(responder);
          assert.ok(events.every((e) => e.type !== 'frame'));
        }),
        propertyParams(60),
      );
    });

    test('arbitrary bytes into responder and initiator after the handshake never throw (fast-check)', () => {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ minLength: 1, maxLength: 100 }), { minLength: 1, maxLength: 5 }),
          fc.boolean(),
          (chunks, toResponder) => {
            const w = world(15);
            const { responder, initiator } = handshaken(provider, w);
            const target = toResponder ? responder : initiator;
            let total = 0;
            for (const chunk of chunks) {
              target.receive(chunk, w.clock.monotonicMs());
              total += chunk.length;
            }
            if (total >= 22) assertClosed(target, 'decrypt-failed', 'remote');
            else assert.equal(target.state, 'transport');
            assert.ok(drain(target).every((e) => e.type !== 'frame'));
          },
        ),
        propertyParams(40),
      );
    });

    test('arbitrary bytes into a fresh initiator never throw; 234 of them fail the handshake (fast-check)', () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { maxLength: 5 }), fc.boolean(), (chunks, pinned) => {
          const w = world(16);
          const initiator = makeInitiator(provider, w, pinned ? {} : { certificatePolicy: { kind: 'unverified' } });
          let total = 0;
          for (const chunk of chunks) {
            initiator.receive(chunk, w.clock.monotonicMs());
            total += chunk.length;
          }
          if (total < 234) assert.equal(initiator.state, 'handshake');
          else assertClosed(initiator, 'handshake-decrypt-failed', 'remote');
        }),
        propertyParams(60),
      );
    });

    test('ResponderIdentity re-signs only when the certificate nears expiry', () => {
      const w = world(17);
      const identity = new ResponderIdentity({
        authoritySecretKey: w.authority.secretKey,
        validitySecs: 3600,
        backdateSecs: 300,
        renewBeforeSecs: 600,
        random: w.random,
      });
      const t0 = 1_700_000_000;
      const first = identity.certificateAt(t0);
      assert.equal(identity.certificateAt(t0 + 2_999), first, 'cached while > 600 s remain');
      const renewed = identity.certificateAt(t0 + 3_000);
      assert.notEqual(renewed, first);
      for (const [cert, at] of [[first, t0], [renewed, t0 + 3_000]] as const) {
        const checked = verifyCertificate(cert, identity.staticXOnly, w.authority.publicKeyXOnly, at, 0);
        assert.ok(checked.ok);
        assert.deepEqual(checked.value, { version: 0, validFromS: at - 300, notValidAfterS: at + 3600 });
      }
      // A wall clock stepping back before valid_from also re-signs.
      assert.notEqual(identity.certificateAt(t0 + 3_000 - 301), renewed);
    });
  });
}
