// Fuzzing at every boundary a peer reaches (issue 12 build item 3; STYLE.md #5–#6): the codec
// (every catalogued message type), the plaintext deframer, the Noise responder and the gateway's
// session state machine, fed with
//   1. SRI's fuzzing corpus (test/fixtures/sri-fuzz-corpus, README there: source, commit,
//      licence): every file, as raw bytes, at each boundary;
//   2. fast-check structure-aware inputs: valid frames of every message type with one mutation
//      each (a flipped byte, a truncation, a length that lies, a huge length, another msg_type,
//      bytes spliced in or appended), alone and inside streams of valid frames.
// Properties: nothing throws past the boundary; every refusal is a returned error whose code is
// a registry reason code (core/reason-codes.ts) or a kebab code documented in docs/codec.md or
// docs/noise.md; a connection that failed is terminal: the same error from then on, one closed
// event, one connection_closed, nothing more from it, and the gateway still serves a new miner.
// Seeds: fast-check uses the harness seed (printed; RG_SEED reproduces).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, propertyParams, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { CATALOG, decodeFrameBytes, decodeMessage, encodeMessage, FRAME_HEADER_BYTES, PlainDeframer, type Sv2Message } from '../../core/codec/index.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { CipherState, EncryptedDeframer, NoiseResponderConnection, ResponderIdentity, generateAuthorityKeyPair, generateEllswiftKeyPair } from '../../core/noise/index.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { SeededRandom } from '../../core/random.ts';
import { REASON_CODES } from '../../core/reason-codes.ts';
import { Miner, PrevhashWorld, template } from '../../conformance/prevhash-world.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CORPUS_DIR = join(root, 'test/fixtures/sri-fuzz-corpus');

// ---- the corpus ---------------------------------------------------------------------------------

interface CorpusInput {
  readonly target: string;
  readonly name: string;
  readonly bytes: Uint8Array;
}

function loadCorpus(): CorpusInput[] {
  const inputs: CorpusInput[] = [];
  for (const target of readdirSync(CORPUS_DIR).sort()) {
    const dir = join(CORPUS_DIR, target);
    if (!statSync(dir).isDirectory()) continue;
    for (const name of readdirSync(dir).sort()) inputs.push({ target, name, bytes: new Uint8Array(readFileSync(join(dir, name))) });
  }
  return inputs;
}

const CORPUS = loadCorpus();

// ---- what a refusal may say -------------------------------------------------------------------

/** Backticked kebab or single-word codes in the docs that define the codec's and Noise's errors. */
function documentedCodes(): Set<string> {
  const codes = new Set<string>();
  for (const doc of ['docs/codec.md', 'docs/noise.md']) {
    for (const m of readFileSync(join(root, doc), 'utf8').matchAll(/`([a-z][a-z0-9]*(?:-[a-z0-9]+)*)`/g)) codes.add(m[1]!);
  }
  return codes;
}

const DOCUMENTED = documentedCodes();
const REGISTRY = new Set(Object.keys(REASON_CODES));

function assertDocumented(code: string, where: string): void {
  assert.ok(DOCUMENTED.has(code) || REGISTRY.has(code), `${where}: error code ${JSON.stringify(code)} is neither a registry reason code nor documented in docs/codec.md / docs/noise.md`);
}

// ---- valid frames of every type, and mutations of them ------------------------------------------

/**
 * One valid frame per catalogued message type, found by decoding seeded random payloads and
 * re-encoding what decodes (so the sample comes from the decoder's view of the wire, not from
 * our own field lists), plus the frames our client really sends.
 */
function validFrames(): Uint8Array[] {
  const random = new SeededRandom(0xf022);
  const frames: Uint8Array[] = [];
  for (const entry of CATALOG) {
    for (let attempt = 0; attempt <= 400; attempt++) {
      const length = attempt < 200 ? random.nextInt(64) : random.nextInt(600);
      // The last try: all zeros (every length prefix 0, every option absent) decodes as any type.
      const payload = new Uint8Array(attempt === 400 ? 1024 : length);
      if (attempt < 400) random.fill(payload);
      // Small length prefixes make strings and sequences fit more often.
      for (let i = 0; i < payload.length; i += 7) payload[i] = payload[i]! & 0x0f;
      const header = { extensionType: entry.extensionType, channelMsg: entry.channelMsg, msgType: entry.msgType, msgLength: payload.length };
      const decoded = decodeMessage({ header, payload });
      if (!decoded.ok) continue;
      try {
        frames.push(encodeMessage(decoded.value));
        break;
      } catch {
        // Lenient decoding (e.g. U+FFFD for bad UTF-8) can yield text strict encoding refuses.
      }
    }
  }
  return frames;
}

const VALID = validFrames();

type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly xor: number }
  | { readonly kind: 'truncate'; readonly keep: number }
  | { readonly kind: 'length-lie'; readonly length: number }
  | { readonly kind: 'huge-length' }
  | { readonly kind: 'retype'; readonly msgType: number; readonly extensionType: number }
  | { readonly kind: 'splice'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'append'; readonly bytes: Uint8Array };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('length-lie' as const), length: fc.integer({ min: 0, max: 0xffffff }) }),
  fc.record({ kind: fc.constant('huge-length' as const) }),
  fc.record({ kind: fc.constant('retype' as const), msgType: fc.integer({ min: 0, max: 255 }), extensionType: fc.constantFrom(0, 1, 2, 0x7fff) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
);

function mutate(frame: Uint8Array, m: Mutation): Uint8Array {
  const out = Uint8Array.from(frame);
  const setLength = (bytes: Uint8Array, n: number): void => {
    bytes[3] = n & 0xff;
    bytes[4] = (n >>> 8) & 0xff;
    bytes[5] = (n >>> 16) & 0xff;
  };
  switch (m.kind) {
    case 'flip':
      out[m.at % out.length] ^= m.xor;
      return out;
    case 'truncate':
      return out.subarray(0, m.keep % out.length);
    case 'length-lie':
      setLength(out, m.length);
      return out;
    case 'huge-length':
      setLength(out, 0xffffff);
      return out;
    case 'retype':
      out[0] = m.extensionType & 0xff;
      out[1] = (out[1]! & 0x80) | ((m.extensionType >>> 8) & 0x7f);
      out[2] = m.msgType;
      return out;
    case 'splice': {
      const at = m.at % (out.length + 1);
      const spliced = new Uint8Array(out.length + m.bytes.length);
      spliced.set(out.subarray(0, at), 0);
      spliced.set(m.bytes, at);
      spliced.set(out.subarray(at), at + m.bytes.length);
      return spliced;
    }
    case 'append': {
      const appended = new Uint8Array(out.length + m.bytes.length);
      appended.set(out, 0);
      appended.set(m.bytes, out.length);
      return appended;
    }
  }
}

/** A mutated frame whose header still tells the truth about its length (the session receives it whole). */
function withTrueLength(frame: Uint8Array): Uint8Array | undefined {
  if (frame.length < FRAME_HEADER_BYTES) return undefined;
  const out = Uint8Array.from(frame);
  const n = out.length - FRAME_HEADER_BYTES;
  out[3] = n & 0xff;
  out[4] = (n >>> 8) & 0xff;
  out[5] = (n >>> 16) & 0xff;
  return out;
}

// ---- the boundaries ------------------------------------------------------------------------

function checkCodec(bytes: Uint8Array, where: string): void {
  for (const entry of CATALOG) {
    for (const negotiatedExtensions of [[], [2]]) {
      const header = { extensionType: entry.extensionType, channelMsg: entry.channelMsg, msgType: entry.msgType, msgLength: bytes.length };
      const r = decodeMessage({ header, payload: bytes }, { negotiatedExtensions });
      if (r.ok) assert.equal(r.value.type, entry.type, where);
      else {
        assertDocumented(r.error.code, `${where} as ${entry.type}`);
        assert.equal(r.error.origin, 'remote', where);
      }
    }
  }
  const whole = decodeFrameBytes(bytes);
  if (!whole.ok) assertDocumented(whole.error.code, `${where} as a whole frame`);
}

/** Bytes through a PlainDeframer in chunks; frames decoded; the first error is terminal. */
function checkDeframer(chunks: readonly Uint8Array[], payloadBytesMax: number, where: string): void {
  const deframer = new PlainDeframer({ payloadBytesMax });
  let first: string | undefined;
  for (const chunk of chunks) {
    deframer.push(chunk);
    for (let i = 0; i < 10_000; i++) {
      const r = deframer.next();
      if (r.kind === 'need') {
        assert.ok(r.bytes > 0, `${where}: need must ask for at least one byte`);
        break;
      }
      if (r.kind === 'error') {
        assertDocumented(r.error.code, where);
        if (first === undefined) first = r.error.code;
        assert.equal(r.error.code, first, `${where}: a deframer error is terminal and repeats`);
        break;
      }
      assert.equal(first, undefined, `${where}: a frame after a terminal error`);
      const m = decodeMessage(r.frame);
      if (!m.ok) assertDocumented(m.error.code, where);
    }
  }
}

const authority = generateAuthorityKeyPair(new SeededRandom(0xa07));
const responderIdentity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random: new SeededRandom(0x1d) });

// The responder's cost is its ECDH on every act 1 (the fuzzed logic is the parsing around it):
// the runtime's native ECDH where there is one, and one fixed ephemeral key.
const responderProvider = selectCryptoProvider('auto');
const responderEphemeral = generateEllswiftKeyPair(new SeededRandom(0xe9), responderProvider);

/** Bytes to a fresh Noise responder, in two pieces; then more garbage: terminal and consistent. */
function checkResponder(bytes: Uint8Array, split: number, where: string): void {
  const random = new SeededRandom(split + bytes.length);
  const responder = new NoiseResponderConnection(
    {
      provider: responderProvider, random, staticKey: responderIdentity.staticKey, certificate: responderIdentity.certificateAt(1_700_000_000),
      ephemeralKey: responderEphemeral, payloadBytesMax: 65_536,
    },
    0,
  );
  const cut = split % (bytes.length + 1);
  responder.receive(bytes.subarray(0, cut), 1);
  responder.receive(bytes.subarray(cut), 2);
  let closed = 0;
  const drain = (): void => {
    for (let e = responder.pollEvent(); e !== undefined; e = responder.pollEvent()) {
      if (e.type === 'closed') closed++;
      if (e.type === 'frame') {
        const m = decodeMessage(e.frame);
        if (!m.ok) assertDocumented(m.error.code, where);
      }
    }
    while (responder.pollTransmit() !== undefined);
  };
  drain();
  const error = responder.error;
  if (error !== undefined) {
    assertDocumented(error.code, where);
    assert.equal(responder.state, 'closed', where);
  }
  // More bytes after the input (garbage transport frames, or after the error): never a throw,
  // and an error, once there, never changes. 100 bytes complete any act 1 still missing and
  // leave at least one encrypted header (22 bytes) of garbage: its MAC must fail.
  responder.receive(bytes, 3);
  responder.receive(new Uint8Array(100).fill(0xff), 4);
  responder.onTimeout(20_000);
  drain();
  assert.ok(responder.error !== undefined, `${where}: 100 garbage bytes after the input must close the connection`);
  assertDocumented(responder.error!.code, where);
  if (error !== undefined) assert.deepEqual(responder.error, error, `${where}: the terminal error changed`);
  assert.equal(closed, 1, `${where}: exactly one closed event`);
}

// ---- the session state machine, over the real gateway -------------------------------------------

class SessionRig {
  world = new PrevhashWorld({ mode: 'observe', seed: 0x5e55 });
  inputs = 0;
  constructor() {
    this.world.template(template());
  }

  /** A miner, handshake done: `setup` = SetupConnection and a standard channel too. */
  miner(setup: boolean): Miner {
    if (this.inputs++ % 50 === 0 && this.inputs > 1) {
      // A fresh gateway now and then keeps the connection table and event list small.
      this.world = new PrevhashWorld({ mode: 'observe', seed: 0x5e55 + this.inputs });
      this.world.template(template());
    }
    if (setup) return this.world.miner();
    const miner = new Miner(this.world);
    this.world.pump();
    return miner;
  }

  /** Send one plaintext frame (encrypted for real) and check the gateway's reaction. */
  check(frame: Uint8Array, setup: boolean, where: string): void {
    const miner = this.miner(setup);
    const before = this.world.events.length;
    const sent = miner.noise.send(frame);
    assert.ok(sent.ok, `${where}: the miner could not send`);
    this.world.pump();
    this.#checkReaction(miner, before, where);
  }

  /** Raw bytes to the gateway on an established connection (ciphertext the miner never sealed). */
  checkRaw(bytes: Uint8Array, where: string): void {
    const miner = this.miner(false);
    const before = this.world.events.length;
    this.world.gateway.receive(miner.connId, bytes, this.world.now);
    this.world.pump();
    this.#checkReaction(miner, before, where);
  }

  #checkReaction(miner: Miner, before: number, where: string): void {
    const w = this.world;
    const closes = () => w.events.slice(before).filter((e) => e.event.type === 'connection_closed' && e.event.conn_id === miner.connId);
    const closed = closes();
    assert.ok(closed.length <= 1, `${where}: ${closed.length} connection_closed events for one connection`);
    if (closed.length === 1) {
      const e = closed[0]!.event as Extract<typeof closed[0]['event'], { type: 'connection_closed' }>;
      assert.ok(REGISTRY.has(e.reason_code), `${where}: connection_closed reason ${e.reason_code} not in the registry`);
      assert.ok(miner.closedByServer, `${where}: connection_closed without closing the transport`);
      // Terminal: more bytes on the dead connection change nothing and never throw.
      const after = w.events.length;
      w.gateway.receive(miner.connId, new Uint8Array(100).fill(7), w.now);
      w.pump();
      assert.equal(w.events.length, after, `${where}: events after the connection closed`);
    } else {
      assert.ok(!miner.closedByServer, `${where}: transport closed without a connection_closed event`);
    }
    assert.equal(closes().length, closed.length, where);
  }

  /** The gateway still admits and serves a legitimate miner. */
  checkStillServes(where: string): void {
    const miner = this.world.miner();
    assert.ok(miner.channelId !== null && !miner.closedByServer, `${where}: a legitimate miner was not served`);
  }
}

function sample<T>(items: readonly T[], every: number): T[] {
  return items.filter((_, i) => i % every === 0);
}

describe('fuzzing: SRI corpus', () => {
  test(`the corpus is there: ${CORPUS.length} inputs in ${new Set(CORPUS.map((c) => c.target)).size} targets`, () => {
    assert.ok(CORPUS.length > 1000, `expected the whole committed corpus, found ${CORPUS.length}`);
    assert.equal(VALID.length, CATALOG.length, `valid samples for ${VALID.length} of ${CATALOG.length} message types`);
  });

  test('every corpus input as the payload of every message type, and as a whole frame', () => {
    for (const input of CORPUS) checkCodec(input.bytes, `${input.target}/${input.name}`);
  });

  test('every corpus input through the deframer, whole, byte by byte, and with a small payload limit', () => {
    for (const input of CORPUS) {
      const where = `${input.target}/${input.name}`;
      checkDeframer([input.bytes], 0xffffff, where);
      checkDeframer(Array.from(input.bytes, (b) => Uint8Array.of(b)), 256, where);
    }
  });

  test('every corpus input to a Noise responder (as act 1 and onwards), split in two', () => {
    for (const input of CORPUS) checkResponder(input.bytes, input.bytes.length >>> 1, `${input.target}/${input.name}`);
  }, { timeoutMs: 300_000 });

  test('corpus frames to the gateway session, before and after SetupConnection; raw ciphertext too', () => {
    const rig = new SessionRig();
    // Every frame-shaped target whole, a sample of the message targets (handshakes are the cost).
    const chosen = CORPUS.filter((c) => c.target.startsWith('deserialize_sv2frame') || c.target.startsWith('deserialize_stdframe'));
    chosen.push(...sample(CORPUS.filter((c) => c.target.startsWith('end_to_end')), 8));
    let n = 0;
    for (const input of chosen) {
      const where = `${input.target}/${input.name}`;
      const frame = withTrueLength(input.bytes);
      if (frame !== undefined) rig.check(frame, n % 2 === 1, where);
      if (n % 4 === 0) rig.checkRaw(input.bytes, where);
      n++;
    }
    rig.checkStillServes('after the corpus');
  }, { timeoutMs: 600_000 });
});

describe('fuzzing: structure-aware (fast-check)', () => {
  const frameArb = fc.constantFrom(...VALID);

  test('mutated valid frames: codec and whole-frame decode return documented errors, never throw', () => {
    fc.assert(
      fc.property(frameArb, mutationArb, (frame, m) => {
        const bytes = mutate(frame, m);
        const whole = decodeFrameBytes(bytes);
        if (!whole.ok) assertDocumented(whole.error.code, m.kind);
        if (bytes.length >= FRAME_HEADER_BYTES) checkCodec(bytes.subarray(FRAME_HEADER_BYTES), m.kind);
      }),
      propertyParams(1500),
    );
  });

  test('streams of valid frames with one mutated frame, split at random: the deframer stays terminal', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 6 }),
        frameArb,
        mutationArb,
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(64, 1024, 0xffffff),
        (before, victim, m, cuts, payloadBytesMax) => {
          const parts = [...before, mutate(victim, m), ...before];
          const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let at = 0;
          for (const p of parts) {
            all.set(p, at);
            at += p.length;
          }
          const chunks: Uint8Array[] = [];
          for (let i = 0, c = 0; i < all.length; c++) {
            const n = cuts[c % cuts.length]!;
            chunks.push(all.subarray(i, i + n));
            i += n;
          }
          checkDeframer(chunks, payloadBytesMax, m.kind);
        },
      ),
      propertyParams(800),
    );
  });

  test('mutated frames and raw bytes to a Noise responder: documented, terminal, one closed event', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(frameArb, mutationArb).map(([f, m]) => mutate(f, m)),
          fc.uint8Array({ maxLength: 300 }),
          fc.uint8Array({ minLength: 64, maxLength: 64 }),
        ),
        fc.nat(400),
        (bytes, split) => checkResponder(bytes, split, 'generated'),
      ),
      propertyParams(150),
    );
  }, { timeoutMs: 300_000 });

  // A hostile peer that completed the handshake can seal any header it likes, lies included
  // (our own FrameEncryptor refuses to: that is misuse). Sealed here with the Noise cipher
  // directly: the responder side's EncryptedDeframer must refuse huge lengths before buffering
  // (frame-too-large) and turn every other lie into a failed MAC, never a throw or a bad frame.
  test('sealed frames with lying headers to the encrypted deframer: frame-too-large or decrypt-failed, terminal', () => {
    const key = new Uint8Array(32).fill(0x42);
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 3 }), frameArb, mutationArb, fc.constantFrom(256, 65_536), fc.integer({ min: 1, max: 200 }), (before, victim, m, payloadBytesMax, chunkBytes) => {
        const sender = new CipherState(nobleProvider, key);
        const sealed: Uint8Array[] = [];
        const seal = (frame: Uint8Array): void => {
          if (frame.length < FRAME_HEADER_BYTES) return;
          sealed.push(sender.encryptWithAd(new Uint8Array(0), frame.subarray(0, FRAME_HEADER_BYTES)));
          if (frame.length > FRAME_HEADER_BYTES) sealed.push(sender.encryptWithAd(new Uint8Array(0), frame.subarray(FRAME_HEADER_BYTES)));
        };
        const honest = before.filter((f) => f.length - FRAME_HEADER_BYTES <= Math.min(payloadBytesMax, 65_519));
        for (const f of honest) seal(f);
        seal(mutate(victim, m));
        const deframer = new EncryptedDeframer(nobleProvider, key, { payloadBytesMax });
        let frames = 0;
        let error: string | undefined;
        for (const piece of sealed) {
          for (let i = 0; i < piece.length; i += chunkBytes) {
            deframer.push(piece.subarray(i, i + chunkBytes));
            for (let k = 0; k < 100; k++) {
              const r = deframer.next();
              if (r.kind === 'need') break;
              if (r.kind === 'error') {
                assertDocumented(r.error.code, m.kind);
                assert.ok(error === undefined || error === r.error.code, 'terminal error repeats');
                error = r.error.code;
                break;
              }
              assert.equal(error, undefined, 'no frame after the terminal error');
              frames++;
            }
          }
        }
        assert.ok(frames >= honest.length || error !== undefined, 'honest frames before the victim come out');
      }),
      propertyParams(600),
    );
  });

  test('mutated frames (sealed by a real miner) to the gateway session: registry reasons, terminal, gateway still serves', () => {
    const rig = new SessionRig();
    fc.assert(
      fc.property(frameArb, mutationArb, fc.boolean(), (frame, m, setup) => {
        const bytes = mutate(frame, m);
        const whole = withTrueLength(bytes);
        if (whole === undefined) return;
        rig.check(whole, setup, m.kind);
      }),
      propertyParams(120),
    );
    rig.checkStillServes('after the generated frames');
  }, { timeoutMs: 600_000 });

  test('a message before SetupConnection, a second SetupConnection, and oversized lengths close with registry reasons', () => {
    const rig = new SessionRig();
    const channel: Sv2Message = { type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'early', nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) };
    rig.check(encodeMessage(channel), false, 'channel before setup');
    const setup: Sv2Message = {
      type: 'SetupConnection', protocol: 0, minVersion: 2, maxVersion: 2, flags: 0,
      endpointHost: 'h', endpointPort: 1, vendor: 'v', hardwareVersion: 'h', firmware: 'f', deviceId: 'd',
    };
    rig.check(encodeMessage(setup), true, 'second SetupConnection');
    rig.checkStillServes('after the targeted cases');
  }, { timeoutMs: 120_000 });
});
